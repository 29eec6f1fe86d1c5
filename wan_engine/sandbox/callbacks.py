"""The sandbox's push: for providers whose spec declares callbacks, it calls back when a job ends.

It signs as the spec says (Standard Webhooks with the sandbox's secret; unsigned for
providers that do not sign or whose scheme the sandbox cannot produce), builds the
body from the spec (its callback template and pointers, or a status answer), and can
misbehave on demand (:class:`CallbackFaults`): late, twice, out of order, never, with
a bad signature, or to a receiver that is down (then it retries a few times and gives
up, as Luma documents). Every attempt is logged in ``log`` for tests to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import random
from typing import Any, NamedTuple

import aiohttp
import attrs

from wan_engine.sandbox.jobs import SandboxJob
from wan_engine.sandbox.responses import first_pointer, status_document
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec import webhook_signature
from wan_engine.spec.model import CallbackSpec
from wan_engine.states import JobState

log = logging.getLogger("wan_engine.sandbox.callbacks")

DEFAULT_SECRET = "whsec_c2FuZGJveC1jYWxsYmFjay1zZWNyZXQtbm90LWZvci1wcm9kdWN0aW9u"
"""The sandbox's signing secret unless configured ('sandbox-callback-secret-not-for-production')."""


@attrs.frozen
class CallbackFaults:
    """How the sandbox's callbacks misbehave; probabilities are drawn per job from the sandbox seed."""

    drop: float = 0.0
    """Never sent."""
    duplicate: float = 0.0
    """Sent twice, with the same event id."""
    late_s: float = 0.0
    """Real seconds between the job ending and the callback leaving."""
    out_of_order: float = 0.0
    """After the terminal callback, a stale 'running' one (a newer event id) follows."""
    bad_signature: float = 0.0
    """Signed with the wrong secret (or the signature mangled)."""
    attempts: int = 3
    """Tries per callback when the receiver is down or answers an error."""
    retry_delay_s: float = 0.1


class CallbackAttempt(NamedTuple):
    job_id: str
    event_id: str
    status: int | None
    """The receiver's HTTP status; None when it could not be reached."""
    note: str


@attrs.define
class _Due:
    job: SandboxJob
    url: str
    media_url: str
    media_size: int
    sent: bool = False


def take_callback_url(callbacks: CallbackSpec, body: Any, query: Any) -> str | None:
    """The callback URL a submit carries, removed from the body (with the events filter) so the
    parameters are checked as if it were not there."""
    where = callbacks.url
    if where.place == "query":
        value = query.get(where.name) if where.name else None
    else:
        value = _pop(body, where.pointer) if where.pointer else None
    if callbacks.events is not None:
        _pop(body, callbacks.events.pointer)
    return value if isinstance(value, str) and value else None


def _pop(document: Any, pointer: str) -> Any:
    *parents, last = pointer.lstrip("/").split("/")
    node = document
    for token in parents:
        node = node.get(token) if isinstance(node, dict) else None
    return node.pop(last, None) if isinstance(node, dict) else None


def callback_document(job: SandboxJob, state: JobState, media_url: str, media_size: int) -> Any:
    """A callback body: the spec's callback template filled at its pointers, or a status answer."""
    provider = job.model.provider
    callbacks = provider.callbacks
    assert callbacks is not None
    if callbacks.template is None:
        return status_document(job, state, media_url, media_size)
    document: dict[str, Any] = copy.deepcopy(callbacks.template)
    id_pointer = first_pointer(callbacks.id_pointer) or provider.first_id_pointer
    json_pointer.assign(document, id_pointer, job.id)
    statuses = callbacks.statuses or provider.statuses
    word = next((w for w, s in statuses.items() if s is state), state.value)
    json_pointer.assign(document, callbacks.status_pointer or provider.status_pointer, word)
    result = callbacks.result or provider.result
    if state is JobState.SUCCEEDED and (pointer := first_pointer(result.video_url)):
        json_pointer.assign(document, pointer, media_url)
    if state is JobState.FAILED and job.failure is not None and (pointer := first_pointer(result.error_message)):
        json_pointer.assign(document, pointer, job.failure.message)
    return document


class CallbackSender:
    """Watches the jobs that asked for callbacks and calls back when each ends (see module doc)."""

    def __init__(
        self, faults: CallbackFaults, secret: str, seed: int, clock: Any, wall_clock: Any, tick_s: float = 0.01
    ) -> None:
        self.faults = faults
        self._secret = secret
        self._rng = random.Random(f"{seed}:callbacks")
        self._clock = clock
        self._wall = wall_clock
        self._tick_s = tick_s
        self._due: list[_Due] = []
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._running = False
        self.log: list[CallbackAttempt] = []

    def expect(self, job: SandboxJob, url: str, media_url: str, media_size: int) -> None:
        self._due.append(_Due(job, url, media_url, media_size))
        if self._task is None and self._running:
            # Watch only once some job asked for a callback: sandboxes that never see one pay nothing.
            self._task = asyncio.ensure_future(self._watch())

    async def start(self) -> None:
        self._running = True

    async def stop(self) -> None:
        self._running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._sending):
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        self._task = self._session = None

    async def _watch(self) -> None:
        while True:
            self._start_due()
            await asyncio.sleep(self._tick_s)

    def _start_due(self) -> list[asyncio.Task[None]]:
        now = self._clock()
        started = []
        for due in self._due:
            if not due.sent and due.job.state_at(now).terminal:
                due.sent = True
                task = asyncio.ensure_future(self._call_back(due, due.job.state_at(now)))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
                started.append(task)
        return started

    async def send_due(self) -> int:
        """Send every callback now due and wait for them (tests that move a fake clock use this)."""
        tasks = self._start_due()
        await asyncio.gather(*tasks, return_exceptions=True)
        return len(tasks)

    async def _call_back(self, due: _Due, state: JobState) -> None:
        faults, rng = self.faults, self._rng
        dropped = rng.random() < faults.drop
        twice = rng.random() < faults.duplicate
        stale_after = rng.random() < faults.out_of_order
        forged = rng.random() < faults.bad_signature
        if dropped:
            self.log.append(CallbackAttempt(due.job.id, "-", None, "dropped (fault)"))
            return
        if faults.late_s:
            await asyncio.sleep(faults.late_s)
        event_id = f"msg_{due.job.id}_{state.value}"
        body = callback_document(due.job, state, due.media_url, due.media_size)
        for _ in range(2 if twice else 1):
            await self._post(due, event_id, body, forged)
        if stale_after:
            stale = callback_document(due.job, JobState.RUNNING, due.media_url, due.media_size)
            await self._post(due, f"msg_{due.job.id}_running_late", stale, forged)

    async def _post(self, due: _Due, event_id: str, document: Any, forged: bool) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        callbacks = due.job.model.provider.callbacks
        assert callbacks is not None
        body = json.dumps(document).encode()
        for attempt in range(1, self.faults.attempts + 1):
            headers = {"Content-Type": "application/json"}
            if callbacks.signature.scheme == "standard-webhooks":
                secret = "whsec_Zm9yZ2VkLXNlY3JldA==" if forged else self._secret
                headers.update(webhook_signature.sign(secret, event_id, int(self._wall()), body))
            try:
                async with self._session.post(due.url, data=body, headers=headers) as response:
                    status: int | None = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = None
                note = f"receiver unreachable ({type(exc).__name__})"
            else:
                note = "forged signature" if forged else "sent"
            self.log.append(CallbackAttempt(due.job.id, event_id, status, note))
            if status is not None and status < 500 and status != 429:
                return
            if attempt < self.faults.attempts:
                await asyncio.sleep(self.faults.retry_delay_s)
        log.info("callback %s for job %s not delivered after %d attempts", event_id, due.job.id, self.faults.attempts)
