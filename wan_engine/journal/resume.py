"""Finishing journaled jobs: after a crash (``resume``), or right after submitting (``finish``).

What resume does with each unfinished job, and what it never does:

* ``submitting`` (intent journaled, no id: the process died mid-submit):
  marked ``submit_unknown`` and reported. Never re-sent — the provider may
  have created (and will bill) the job; a person must check before paying again;
* on the provider (``submitted``/``queued``/``running``): polled by id with
  ``engine.job(model, id)`` until it ends, its statuses journaled;
* ``succeeded``: delivered to every journaled sink not yet ``delivered``;
  sinks caught mid-commit are reconciled first (see journal/journaled_sinks.py).

Each job is worked on under a lease (journal ``claim``), renewed while the
work lasts and released after, so two processes resuming one journal never
both poll and deliver the same job; a lease held by a dead process on this
host is taken over at once, elsewhere when it expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any

import attrs

from wan_engine.client.job import Job
from wan_engine.client.polling import PollingStrategy
from wan_engine.crashpoints import crashpoint
from wan_engine.delivery.download import DownloadPolicy
from wan_engine.delivery.tee import ProgressCallback
from wan_engine.errors import JobCancelledError, JobFailedError, UsageError, WanEngineError
from wan_engine.journal.context import JournaledEngine
from wan_engine.journal.listener import attach
from wan_engine.journal.records import JobRecord, JournalState
from wan_engine.journal.redeliver import deliver_pending
from wan_engine.journal.store import JournalStore

log = logging.getLogger("wan_engine.journal.resume")

DIED_WHILE_SUBMITTING = (
    "the process stopped while submitting: the request may have reached the provider and created a paid job; "
    "it was not re-sent. Check the provider's dashboard before submitting again"
)


@attrs.frozen
class JobOutcome:
    """What one resume did for one job."""

    key: str
    model: str
    provider_id: str | None
    before: str
    after: str
    delivered: tuple[str, ...] = ()
    """Sinks that reached ``delivered`` during this run."""
    failed: Mapping[str, str] = attrs.field(factory=dict)
    """Sink name to error, for sinks left ``failed``."""
    note: str | None = None


@attrs.frozen
class ResumeReport:
    owner: str
    jobs: tuple[JobOutcome, ...]
    """Jobs this process worked on."""
    busy: tuple[str, ...] = ()
    """Jobs another live process holds; left to it."""
    submit_unknown: tuple[str, ...] = ()
    """Every job in the journal whose submit may have created a job we have no id for: a person decides."""

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, recurse=True)


def lease_kept(engine: JournaledEngine, key: str, lease_s: float) -> contextlib.AbstractAsyncContextManager[None]:
    """Renew a lease already claimed on ``key`` while the body runs; release it after.

    Losing it to another process cancels the body. For callers outside this module
    (the Temporal activities), which claim a job the same way resume does.
    """
    return _lease_kept(engine, key, lease_s)


def _journal(engine: JournaledEngine) -> JournalStore:
    return engine.journal


@contextlib.asynccontextmanager
async def _lease_kept(engine: JournaledEngine, key: str, lease_s: float) -> AsyncIterator[None]:
    """Renew the lease on ``key`` while the body runs (real time: leases are between processes)."""
    journal = _journal(engine)
    worker = asyncio.current_task()

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease_s / 3)
            if not journal.claim(key, engine.owner, lease_s).taken:
                log.error("lost the lease on job %s to another process; stopping work on it", key)
                if worker is not None:
                    worker.cancel()
                return

    renewer = asyncio.ensure_future(renew())
    try:
        yield
    finally:
        renewer.cancel()
        journal.release(key, engine.owner)


async def _work(
    engine: JournaledEngine,
    record: JobRecord,
    job: Job | None,
    *,
    strategy: PollingStrategy | str | None,
    deadline: float | None,
    env: Mapping[str, str],
    policy: DownloadPolicy | None,
    on_progress: ProgressCallback | None = None,
) -> JobOutcome:
    """Take one job as far as it goes now; the caller holds its lease."""
    journal = _journal(engine)
    before = record.summary_state
    note: str | None = None
    if record.state is JournalState.SUBMITTING:
        journal.mark_submit_unknown(record.key, DIED_WHILE_SUBMITTING, engine.clock.wall())
        note = DIED_WHILE_SUBMITTING
    elif record.provider_id is not None and (
        record.state.on_provider or (record.state is JournalState.SUCCEEDED and record.result is None)
    ):
        if job is None:
            # Elapsed time counts from the original submit (journaled in wall time), so a strategy
            # that polls by the job's age (adaptive) picks up where it was, not from zero.
            age_s = max(0.0, (engine.clock.wall() - record.created_at).total_seconds())
            job = engine.job(
                record.model,
                record.provider_id,
                submitted_at=engine.clock.now() - age_s,
                submitted_wall=record.created_at,
            )
            attach(job, journal, record.key, engine.keys)
        try:
            await job.wait(strategy=strategy, deadline=deadline)
        except (JobFailedError, JobCancelledError):
            pass  # journaled by the recorder; nothing to deliver
        except WanEngineError as exc:  # deadline, network: the job stays unfinished for the next resume
            note = str(exc)
    current = journal.get(record.key)
    assert current is not None
    if current.state is JournalState.SUCCEEDED and current.result is not None and current.deliveries_pending:
        current = await deliver_pending(engine, current, env=env, policy=policy, on_progress=on_progress)
    if current.delivered:
        crashpoint("job.delivered")
    was = {s.name: s.state for s in record.sinks}
    return JobOutcome(
        key=record.key,
        model=record.model,
        provider_id=current.provider_id,
        before=before,
        after=current.summary_state,
        delivered=tuple(s.name for s in current.sinks if s.state.done and not was[s.name].done),
        failed={s.name: s.error or "failed" for s in current.sinks if s.state.value == "failed"},
        note=note,
    )


async def finish(
    engine: JournaledEngine,
    job: Job,
    *,
    strategy: PollingStrategy | str | None = None,
    deadline: float | None = None,
    env: Mapping[str, str] | None = None,
    policy: DownloadPolicy | None = None,
    on_progress: ProgressCallback | None = None,
) -> JobOutcome:
    """Wait for a job this engine submitted with a journal, then deliver it to its journaled sinks.

    The same steps a resume would take, so a crash anywhere in here is
    followed by a resume that continues where this stopped.
    """
    journal = _journal(engine)
    key = engine.keys.get(job)
    if key is None:
        raise UsageError(f"job {job.id} is not journaled (submit it with DurableEngine(journal=...))")
    record = journal.get(key)
    assert record is not None
    async with _lease_kept(engine, record.key, engine.lease_s):
        return await _work(
            engine, record, job, strategy=strategy, deadline=deadline, env=env or os.environ, policy=policy,
            on_progress=on_progress,
        )  # fmt: skip


async def resume(
    engine: JournaledEngine,
    *,
    strategy: PollingStrategy | str | None = None,
    deadline: float | None = None,
    env: Mapping[str, str] | None = None,
    policy: DownloadPolicy | None = None,
    concurrency: int = 32,
    lease_s: float | None = None,
    keys: Collection[str] | None = None,
) -> ResumeReport:
    """Finish every unfinished job in the engine's journal (see the module doc); never re-submits.

    ``deadline`` bounds the polling of each job (seconds); a job still running
    then stays unfinished for a later resume. ``keys`` limits the resume to
    those journal keys (``wan-engine resume KEY``: one job, leaving the rest).
    """
    journal = _journal(engine)
    lease = lease_s if lease_s is not None else engine.lease_s
    gate = asyncio.Semaphore(concurrency)
    busy: list[str] = []

    async def one(record: JobRecord) -> JobOutcome | None:
        async with gate:
            claim = journal.claim(record.key, engine.owner, lease)
            if not claim.taken:
                busy.append(record.key)
                return None
            async with _lease_kept(engine, record.key, lease):
                fresh = journal.get(record.key)  # another process may have finished it before our claim
                if fresh is None or not fresh.unfinished:
                    return None
                journal.record_event(fresh.key, "resumed", engine.clock.wall(), {"owner": engine.owner})
                return await _work(
                    engine, fresh, None, strategy=strategy, deadline=deadline, env=env or os.environ, policy=policy
                )

    chosen = [r for r in journal.unfinished() if keys is None or r.key in keys]
    outcomes = await asyncio.gather(*(one(record) for record in chosen))
    unknown = tuple(r.key for r in journal.jobs(states=[JournalState.SUBMIT_UNKNOWN.value]))
    return ResumeReport(engine.owner, tuple(o for o in outcomes if o is not None), tuple(busy), unknown)
