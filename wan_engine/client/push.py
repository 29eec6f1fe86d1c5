"""Push with polling as the safety net: callbacks wake a job's wait at once; polls only catch what is lost.

A :class:`PushHub` is the in-process meeting point between a callback receiver (which
verifies callbacks and hands them over as :class:`Callback`) and the jobs waiting in
this engine. It knows which jobs are waiting, drops duplicates by event id, and wakes
the one a callback names. It can only ever *wake* a job the engine already holds: it
has no way to create, re-submit or pay for anything, by construction (it holds no
client and no spec of its own).

What a job does when woken depends on trust. A verified callback (a signature the
receiver checked) carries the provider's own status document, which the job folds in
like a status answer, with zero status reads. An unverified one (unsigned providers,
or signatures this install cannot check) is a *hint*: the job reads its status from
the provider's authenticated API at once, and the hint's body is never believed.

:class:`SafetyNet` is the polling strategy used alongside push: one read around the
end of the expected duration and then sparse ones, so a lost callback costs delay,
never a job.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

import attrs

from wan_engine.client.polling import PollContext
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.model import CallbackSpec, ModelSpec, SafetyPolling
from wan_engine.states import JobState

if TYPE_CHECKING:
    from wan_engine.clock import Clock

log = logging.getLogger("wan_engine.push")

Outcome = Literal["woke", "duplicate", "unknown", "finished"]
"""What the hub did with a callback: woke its job; dropped it as seen before; no such job here;
the job has already ended (acknowledged, not acted on)."""

_RANK = {JobState.QUEUED: 0, JobState.RUNNING: 1}


def rank(state: JobState | None) -> int:
    """Order of states, so a callback that arrives out of order never moves a job backwards."""
    if state is None:
        return -1
    return 2 if state.terminal else _RANK[state]


@attrs.frozen
class Callback:
    """One verified-as-far-as-possible callback, as the receiver hands it to the hub."""

    provider_id: str
    job_id: str
    event_id: str
    trusted: bool
    """True only when the receiver checked a signature: only then is ``document`` believed."""
    state: JobState | None = None
    provider_status: Any = None
    document: Any = attrs.field(default=None, repr=False)


class Mailbox:
    """One waiting job's inbox: callbacks queue here and an event wakes the wait."""

    def __init__(self) -> None:
        self.pending: list[Callback] = []
        self.event = asyncio.Event()

    def put(self, callback: Callback) -> None:
        self.pending.append(callback)
        self.event.set()

    def take(self) -> list[Callback]:
        taken, self.pending = self.pending, []
        self.event.clear()
        return taken


class PushHub:
    """Jobs waiting in this process, by (provider id, job id); see the module docstring.

    ``public_url`` is where the provider reaches the receiver (the receiver's routes are
    ``{public_url}/{provider_id}``). Events seen are remembered up to ``remember`` of them.
    """

    def __init__(self, public_url: str, *, remember: int = 100_000) -> None:
        self.public_url = public_url.rstrip("/")
        self._mailboxes: dict[tuple[str, str], Mailbox] = {}
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._finished: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._remember = remember
        self.counts: dict[Outcome, int] = {"woke": 0, "duplicate": 0, "unknown": 0, "finished": 0}

    def callback_url(self, provider_id: str) -> str:
        """``{public_url}/{provider_id}``, any query string of the public URL kept after the path."""
        parts = urlsplit(self.public_url)
        return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + provider_id))

    # -- the engine's side ----------------------------------------------------------------

    def mailbox(self, provider_id: str, job_id: str) -> Mailbox:
        """Register a job (idempotent): from now on callbacks naming it wake it."""
        key = (provider_id, job_id)
        box = self._mailboxes.get(key)
        if box is None:
            box = self._mailboxes[key] = Mailbox()
        return box

    def finished(self, provider_id: str, job_id: str) -> None:
        """The job ended: later callbacks for it are acknowledged and ignored."""
        key = (provider_id, job_id)
        self._mailboxes.pop(key, None)
        self._remember_key(self._finished, key)

    def waiting(self, provider_id: str, job_id: str) -> bool:
        return (provider_id, job_id) in self._mailboxes

    def waiting_jobs(self) -> list[tuple[str, str]]:
        """(provider id, job id) of every job waiting here."""
        return list(self._mailboxes)

    # -- the receiver's side --------------------------------------------------------------

    def deliver(self, callback: Callback) -> Outcome:
        key = (callback.provider_id, callback.job_id)
        if key in self._finished:
            outcome: Outcome = "finished"
        elif key not in self._mailboxes:
            outcome = "unknown"
        elif (callback.provider_id, callback.event_id) in self._seen:
            outcome = "duplicate"
        else:
            self._remember_key(self._seen, (callback.provider_id, callback.event_id))
            self._mailboxes[key].put(callback)
            outcome = "woke"
        self.counts[outcome] += 1
        log.info("callback %r for %s job %r: %s", callback.event_id, callback.provider_id, callback.job_id, outcome)
        return outcome

    def _remember_key(self, store: OrderedDict[tuple[str, str], None], key: tuple[str, str]) -> None:
        store[key] = None
        while len(store) > self._remember:
            store.popitem(last=False)


async def sleep_or_wake(clock: Clock, delay: float, box: Mailbox) -> list[Callback]:
    """Sleep ``delay`` on the engine's clock unless a callback arrives first; the callbacks that came."""
    if box.pending:
        return box.take()
    sleeper = asyncio.ensure_future(clock.sleep(delay))
    waker = asyncio.ensure_future(box.event.wait())
    try:
        await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, waker):
            if not task.done():
                task.cancel()
        await asyncio.gather(sleeper, waker, return_exceptions=True)
    return box.take()


@attrs.frozen
class SafetyNet:
    """The polling schedule beside push: once at ``first_after_typical`` x the typical duration,
    then every ``interval_s`` (default half the typical duration). Without a typical duration,
    ``fallback_typical_s`` stands in."""

    policy: SafetyPolling = attrs.field(factory=SafetyPolling)
    fallback_typical_s: float = 300.0

    @classmethod
    def for_callbacks(cls, callbacks: CallbackSpec) -> SafetyNet:
        return cls(callbacks.safety_polling)

    def next_delay(self, ctx: PollContext) -> float:
        typical = ctx.hints.typical_duration_s or self.fallback_typical_s
        first = typical * self.policy.first_after_typical
        if ctx.elapsed_s < first:
            return first - ctx.elapsed_s
        return self.policy.interval_s or typical / 2


def callback_placement(callbacks: CallbackSpec, body: Any, url: str) -> tuple[Any, dict[str, str]]:
    """The submit body and extra query parameters that ask the provider to call ``url`` back."""
    placed = copy.deepcopy(body) if body is not None else {}
    query: dict[str, str] = {}
    where = callbacks.url
    if where.place == "query":
        assert where.name is not None  # the meta-schema requires it
        query[where.name] = url
    else:
        assert where.pointer is not None
        json_pointer.assign(placed, where.pointer, url)
    if callbacks.events is not None:
        json_pointer.assign(placed, callbacks.events.pointer, copy.deepcopy(callbacks.events.value))
    return placed, query


class PushedJob(Protocol):
    """What the mailbox lookup needs of a job (a Protocol, so this module need not import job.py)."""

    @property
    def engine(self) -> object: ...

    @property
    def spec(self) -> ModelSpec: ...

    @property
    def id(self) -> str: ...


def job_mailbox(job: PushedJob) -> Mailbox | None:
    """The job's mailbox when its engine has a hub and its provider declares callbacks."""
    hub: PushHub | None = getattr(job.engine, "push", None)
    if hub is None or job.spec.provider.callbacks is None:
        return None
    return hub.mailbox(job.spec.provider.id, job.id)
