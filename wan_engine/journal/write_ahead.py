"""Write-ahead submission: the journal side of ``Engine.submit``.

The order is the whole point:

1. ``begin`` journals the intent (model, parameters, sinks) and takes this
   engine's lease, *before* a byte is sent: a process that dies from here on
   leaves a trace, so the job can never be silently forgotten or re-sent;
2. the request goes out;
3. ``submitted`` journals the provider id as the very next step after the id
   is read, before the Job object exists or any event fires: the window in
   which a crash loses a paid job's id is one JSON lookup and one SQLite commit;
4. on failure, ``failed`` sorts the error: certainly refused (the provider
   said 4xx, or no connection was ever made) or unknown (anything else,
   including being cancelled mid-request) — an unknown submit is surfaced,
   never retried.

Without a journal every method is a no-op, so the engine code reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wan_engine.crashpoints import crashpoint
from wan_engine.errors import ApiError, NetworkError
from wan_engine.journal.listener import attach
from wan_engine.journal.records import SinkConfig
from wan_engine.spec.model import ModelSpec

if TYPE_CHECKING:
    from wan_engine.client.engine import Engine
    from wan_engine.client.job import Job


class SubmitLog:
    def __init__(self, engine: Engine, key: str | None) -> None:
        self.engine, self.key = engine, key

    @classmethod
    def begin(
        cls, engine: Engine, spec: ModelSpec, params: Mapping[str, Any], deliver_to: Sequence[SinkConfig]
    ) -> SubmitLog:
        journal = engine.journal
        if journal is None:
            if deliver_to:
                raise ValueError("deliver_to needs a journal: Engine(journal=...)")
            return cls(engine, None)
        key = journal.intend(
            model=spec.id,
            spec_version=spec.spec_version,
            params=params,
            sinks=deliver_to,
            at=engine.clock.wall(),
            owner=engine.owner,
            lease_s=engine.lease_s,
        )
        crashpoint("submit.before_send")
        return cls(engine, key)

    def submitted(self, provider_id: str) -> None:
        if self.engine.journal is None or self.key is None:
            return
        self.engine.journal.mark_submitted(self.key, provider_id, self.engine.clock.wall())
        crashpoint("submit.after_journal")

    def failed(self, error: BaseException) -> None:
        journal = self.engine.journal
        if journal is None or self.key is None:
            return
        wall = self.engine.clock.wall()
        # ApiError from submit means the provider answered 4xx (or 429/503 after the retries): no job.
        # NetworkError from submit means no connection was ever made. Everything else may have created one.
        if isinstance(error, (ApiError, NetworkError)):
            journal.mark_refused(self.key, str(error), wall)
        else:
            journal.mark_submit_unknown(self.key, str(error) or type(error).__name__, wall)

    def attach(self, job: Job) -> None:
        if self.engine.journal is not None and self.key is not None:
            attach(job, self.engine.journal, self.key)
