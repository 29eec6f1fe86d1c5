"""The engine: one object an app keeps, running any spec'd model from submit to result."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from wan_engine.client.events import Submitted
from wan_engine.client.job import Job
from wan_engine.client.polling import PollingStrategy, from_name
from wan_engine.client.provider_client import RetryPolicy, Timeouts, Transport
from wan_engine.client.result import Result
from wan_engine.clock import Clock, SystemClock
from wan_engine.crashpoints import crashpoint  # journal hook: kill points for crash tests (no-op unless armed)
from wan_engine.errors import SubmitOutcomeUnknownError
from wan_engine.journal.owner import new_owner  # journal hook
from wan_engine.journal.records import SinkConfig  # journal hook
from wan_engine.journal.store import JournalStore  # journal hook
from wan_engine.journal.write_ahead import SubmitLog  # journal hook: write-ahead submission
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.model import ModelSpec
from wan_engine.spec.params import build_body, prepare
from wan_engine.spec.registry import SpecRegistry

if TYPE_CHECKING:
    from wan_engine.journal.resume import ResumeReport  # journal hook


class Engine:
    """Submits, polls and resumes jobs for every model the registry knows.

    One engine shares one HTTP session across all its jobs; thousands of jobs
    can wait concurrently on one event loop, each holding only its own small
    state. Use it as an async context manager so the session is closed.
    """

    def __init__(
        self,
        registry: SpecRegistry | None = None,
        *,
        base_urls: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        strategy: PollingStrategy | str = "adaptive",
        transport: Transport | None = None,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        journal: JournalStore | str | Path | None = None,
        lease_s: float = 600.0,
    ) -> None:
        self.registry = registry or SpecRegistry.discover()
        self.clock = clock or (transport.clock if transport else SystemClock())
        self.transport = transport or Transport(
            base_urls=base_urls,
            env=env if env is not None else os.environ,
            clock=self.clock,
            retry=retry,
            timeouts=timeouts,
        )
        self.default_strategy = strategy
        self._strategies: dict[str, PollingStrategy] = {}
        # -- journal hook (durable jobs, wan_engine/journal/): a store, or a path to an SQLite journal.
        # ``owner`` names this engine in journal leases; ``lease_s`` is how long its claim on a job
        # lasts without renewal (a resume elsewhere may take the job over after that, or at once on
        # this host if this process is dead).
        self._owns_journal = isinstance(journal, (str, Path))
        if isinstance(journal, (str, Path)):
            from wan_engine.journal.sqlite_store import SqliteJournal

            journal = SqliteJournal(journal)
        self.journal: JournalStore | None = journal
        self.owner = new_owner()
        self.lease_s = lease_s

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.transport.close()
        if self._owns_journal and self.journal is not None:  # journal hook: close a journal we opened
            self.journal.close()
            self.journal = None

    def strategy_for(self, strategy: PollingStrategy | str | None) -> PollingStrategy:
        chosen = strategy if strategy is not None else self.default_strategy
        if not isinstance(chosen, str):
            return chosen
        if chosen not in self._strategies:
            self._strategies[chosen] = from_name(chosen)
        return self._strategies[chosen]

    def spec(self, model: str) -> ModelSpec:
        return self.registry.model(model)

    async def submit(
        self,
        model: str,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        deliver_to: Sequence[SinkConfig] = (),
        validate: bool = True,
        **kwargs: Any,
    ) -> Job:
        """Validate, then create the job; returns as soon as the provider has given an id.

        Validation errors are raised before anything is sent. See transport.py
        for when a submit may be re-sent (only when no job can have been created).
        With a journal, the intent (and the sinks in ``deliver_to``) is journaled
        before the request and the id before this returns; see journal/submit_log.py.
        ``validate=False`` sends the parameters exactly as given (no check, no defaults):
        only for recording what a provider does with a request it should reject.
        """
        spec = self.spec(model)
        given = {**(params or {}), **kwargs}
        filled = prepare(spec, given) if validate else given
        body = build_body(spec, filled)
        log = SubmitLog.begin(self, spec, filled, deliver_to)  # journal hook: write-ahead intent
        try:
            response = await self.transport.submit(spec, body)
            crashpoint("submit.after_response")  # journal hook: the window a crash test aims at
            job_id = json_pointer.resolve(response.document, spec.provider.id_pointer)
            if not isinstance(job_id, (str, int)) or job_id == "":
                raise SubmitOutcomeUnknownError(
                    spec.id, f"the response has no job id at {spec.provider.id_pointer}", status=response.status
                )
        except BaseException as exc:
            log.failed(exc)  # journal hook: refused, or submit_unknown (never retried)
            raise
        log.submitted(str(job_id))  # journal hook: the provider id is durable before anything else happens
        job = Job(self, spec, str(job_id), params=filled, submitted_at=self.clock.now())
        log.attach(job)  # journal hook: status events are journaled as they happen
        job._emit(Submitted(job.id, spec.id, self.clock.now()))
        if json_pointer.resolve(response.document, spec.provider.status_pointer) is not None:
            job.observe(response.document, response.headers)
        return job

    def job(self, model: str, job_id: str, *, submitted_at: float | None = None) -> Job:
        """A handle on a job submitted earlier (by this process or another): wait on it to resume."""
        return Job(self, self.spec(model), job_id, submitted_at=submitted_at)

    async def resume(self, **options: Any) -> ResumeReport:
        """Finish every unfinished job in the journal: poll, deliver to sinks not yet done (journal hook).

        See wan_engine/resume.py for the options and what is (never) re-sent.
        """
        from wan_engine.journal.resume import resume

        return await resume(self, **options)

    async def run(
        self,
        model: str,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        strategy: PollingStrategy | str | None = None,
        deadline: float | None = None,
        **kwargs: Any,
    ) -> Result:
        job = await self.submit(model, params, **kwargs)
        return await job.wait(strategy=strategy, deadline=deadline)
