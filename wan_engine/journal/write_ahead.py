"""Write-ahead submission: the journal's :class:`~wan_engine.client.hooks.SubmitInterceptor`.

The order is the whole point:

1. ``begin_submit`` journals the intent (model, parameters, sinks) and takes
   this engine's lease, *before* a byte is sent: a process that dies from here
   on leaves a trace, so the job can never be silently forgotten or re-sent;
2. the request goes out;
3. ``submitted`` journals the provider id as the very next step after the id
   is read, before the Job object exists or any event fires: the window in
   which a crash loses a paid job's id is one JSON lookup and one SQLite commit;
4. on failure, ``failed`` sorts the error: certainly refused (the provider
   said 4xx, or no connection was ever made) or unknown (anything else,
   including being cancelled mid-request) — an unknown submit is surfaced,
   never retried;
5. ``started`` subscribes the journal to the job's events (listener.py).

The spend ledger rides along (journal/ledger.py): the job's ledger line (tags,
the spec's estimate) is written right after the id or the unknown outcome, so
a submit whose outcome is unknown is counted as possibly billed; the
provider's reported cost arrives as a ``CostReported`` event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wan_engine.client.hooks import SubmitOptions
from wan_engine.client.job import Job
from wan_engine.clock import Clock
from wan_engine.crashpoints import crashpoint
from wan_engine.errors import (
    ApiError,
    BudgetExceededError,
    IdempotencyKeyMismatchError,
    NetworkError,
    UsageError,
)
from wan_engine.journal.ledger import record_charge_quietly
from wan_engine.journal.listener import JobKeys, attach
from wan_engine.journal.store import JournalStore
from wan_engine.sinks.config import SinkConfig
from wan_engine.spec.model import ModelSpec


class WriteAhead:
    """Journals every submit of the engine it is installed in (see the module doc)."""

    delivers = True

    def __init__(self, journal: JournalStore, clock: Clock, owner: str, lease_s: float, keys: JobKeys) -> None:
        self.journal, self.clock, self.owner, self.lease_s, self.keys = journal, clock, owner, lease_s, keys

    def begin_submit(self, spec: ModelSpec, params: Mapping[str, Any], deliver_to: Sequence[Any]) -> WriteAheadAttempt:
        return self.begin_submit_with(spec, params, deliver_to, SubmitOptions())

    def begin_submit_with(
        self, spec: ModelSpec, params: Mapping[str, Any], deliver_to: Sequence[Any], options: SubmitOptions
    ) -> WriteAheadAttempt:
        sinks = list(deliver_to)
        for sink in sinks:
            if not isinstance(sink, SinkConfig):
                raise UsageError(f"deliver_to takes SinkConfig records, not {type(sink).__name__}")
            sink.check()  # a misspelt sink or option is refused now, before the paid submit, not at delivery
        key = self.journal.intend(
            model=spec.id,
            spec_version=spec.spec_version,
            params=params,
            sinks=sinks,
            at=self.clock.wall(),
            owner=self.owner,
            lease_s=self.lease_s,
        )
        crashpoint("submit.before_send")
        return WriteAheadAttempt(self, key, options)


class WriteAheadAttempt:
    """One submit's journal key, from intent to the job's event subscription."""

    def __init__(self, log: WriteAhead, key: str, options: SubmitOptions) -> None:
        self.log, self.key, self.options = log, key, options

    def _ledger(self) -> None:
        """The job's ledger line (tags, the spec's estimate), after the write that protects the money."""
        priced = self.options.estimate
        record_charge_quietly(
            self.log.journal,
            self.key,
            self.log.clock.wall(),
            tags=self.options.tags,
            estimate_usd=priced.usd if priced is not None else None,
            estimate_basis=priced.basis if priced is not None else None,
        )

    def submitted(self, provider_id: str) -> None:
        self.log.journal.mark_submitted(self.key, provider_id, self.log.clock.wall())
        crashpoint("submit.after_journal")
        self._ledger()

    def failed(self, error: BaseException) -> None:
        journal, wall = self.log.journal, self.log.clock.wall()
        # ApiError from submit means the provider answered 4xx (or 429/503 after the retries): no job.
        # NetworkError from submit means no connection was ever made. Everything else may have created one.
        # A refusal raised before the request (a later interceptor's budget, a reused key) sent nothing either.
        if isinstance(error, (ApiError, NetworkError, UsageError, BudgetExceededError, IdempotencyKeyMismatchError)):
            journal.mark_refused(self.key, str(error), wall)
        else:
            journal.mark_submit_unknown(self.key, str(error) or type(error).__name__, wall)
            self._ledger()  # possibly billed: counted at its estimate

    def started(self, job: Job) -> None:
        attach(job, self.log.journal, self.key, self.log.keys)
