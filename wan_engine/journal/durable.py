"""The engine with a journal: submits that survive a crash, resume, and delivery to journaled sinks.

``DurableEngine(journal="jobs.sqlite3")`` is the core :class:`~wan_engine.client.engine.Engine`
plus the journal's write-ahead interceptor (write_ahead.py), installed through
the client's seam (client/hooks.py): the core never imports the journal. It
owns the lease identity (``owner``) and the lease length its resumes use, and
closes a journal it opened itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wan_engine.client.budget import Budget, BudgetGuard
from wan_engine.client.engine import Engine
from wan_engine.client.hooks import SubmitInterceptor
from wan_engine.client.job import Job
from wan_engine.client.submitter import Hop
from wan_engine.journal.durations import learned_from
from wan_engine.journal.listener import JobKeys
from wan_engine.journal.owner import new_owner
from wan_engine.journal.resume import JobOutcome, ResumeReport, finish, resume
from wan_engine.journal.spend import summarize
from wan_engine.journal.store import JournalStore
from wan_engine.journal.write_ahead import WriteAhead
from wan_engine.spec.registry import SpecRegistry


class DurableEngine(Engine):
    """An :class:`Engine` whose every submit, status, result and delivery is journaled.

    ``journal`` is a store, or a path to an SQLite journal or a ``postgresql://`` URL (opened here, closed
    by :meth:`close`). ``lease_s`` is how long this engine's claim on a job lasts
    without renewal: a resume elsewhere may take the job over after that, or at
    once on this host if this process is dead. Other options are the Engine's.

    Polling learns across runs: unless ``strategy`` is given, jobs poll with the
    ``learned`` strategy taught by the journal's finished jobs (journal/durations.py)
    once there are any, else with ``adaptive``; either way the jobs this engine
    sees finish teach the learned one further.
    """

    keeps_journal = True

    def __init__(
        self,
        registry: SpecRegistry | None = None,
        *,
        journal: JournalStore | str | os.PathLike[str],
        lease_s: float = 600.0,
        interceptors: Sequence[SubmitInterceptor] = (),
        **options: Any,
    ) -> None:
        chosen = options.pop("strategy", None)
        super().__init__(registry, strategy=chosen or "adaptive", **options)
        self._owns_journal = isinstance(journal, (str, os.PathLike))
        if isinstance(journal, (str, os.PathLike)):
            from wan_engine.journal import open_journal

            journal = open_journal(journal if isinstance(journal, str) else Path(journal))
        self.journal: JournalStore = journal
        if self.budget_guard is not None and self.budget_guard.budget.since is not None:
            self.budget_guard = BudgetGuard(self.budget_guard.budget, journal_spend(journal, self.budget_guard.budget))
        self.owner = new_owner()
        self.lease_s = lease_s
        self.keys = JobKeys()
        # The budget first (a refused submit is not journaled), then the write-ahead log.
        self.interceptors = [
            *self._money_guards(),
            WriteAhead(journal, self.clock, self.owner, lease_s, self.keys),
            *interceptors,
        ]
        if options.get("idempotency_keys") is None:
            self.idempotency_keys = journal  # shared by every process on this journal
        learned = learned_from(journal)
        if learned is not None:
            self._strategies["learned"] = learned  # "learned" by name is the journal-taught one too
            if chosen is None:
                self.default_strategy = learned

    def record_hop(self, hop: Hop, job: Job | None) -> None:
        """Journal a failover hop on the failed job (where there was one) and on the job that replaced it."""
        detail = {"from_model": hop.from_model, "to_model": hop.to_model, "reason": hop.reason,
                  "detail": hop.detail, "from_job": hop.from_job, "to_job": job.id if job else None}  # fmt: skip
        wall = self.clock.wall()
        earlier = self.journal.get(hop.from_job) if hop.from_job else None
        if earlier is not None:
            self.journal.record_event(earlier.key, "failover_from", wall, detail)
        key = self.keys.get(job) if job is not None else None
        if key is None and job is not None:  # a job found under an idempotency key: journaled by its submitter
            found = self.journal.get(job.id)
            key = found.key if found is not None else None
        if key is not None:
            self.journal.record_event(key, "failover_to", wall, detail)

    def journal_key(self, job: Job) -> str | None:
        """The job's key in this engine's journal (None for a job the journal does not follow)."""
        return self.keys.get(job)

    async def resume(self, **options: Any) -> ResumeReport:
        """Finish every unfinished job in the journal: poll, deliver to sinks not yet done.

        Never re-sends a submit; see journal/resume.py for the options and the report.
        """
        return await resume(self, **options)

    async def finish(self, job: Job, **options: Any) -> JobOutcome:
        """Wait for a job this engine submitted, then deliver it to the sinks given in ``deliver_to``.

        The steps a resume takes, so a crash in here is picked up by the next resume.
        """
        return await finish(self, job, **options)

    async def close(self) -> None:
        await super().close()
        if self._owns_journal:
            self.journal.close()


def journal_spend(journal: JournalStore, budget: Budget) -> float:
    """What the journal's ledger counts from ``budget.since`` on: reported, else estimated or possibly billed."""
    lines = summarize(journal.charges(), "total", since=budget.since)
    return lines[0].total_usd if lines else 0.0
