"""Job events into the journal, as they happen: a ``Job.on`` callback.

Hooking the existing event stream (rather than the polling loop) means the
journal sees exactly what a progress UI sees, in the same order, and the
job code needs no journal knowledge. The callback runs synchronously inside
the event's emission, so a status is durable before the job polls again.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from wan_engine.client.events import Completed, CostReported, Event, Failed, Progress, StatusChanged
from wan_engine.crashpoints import crashpoint
from wan_engine.errors import JobCancelledError
from wan_engine.journal.ledger import record_charge_quietly
from wan_engine.journal.records import JournalState, ResultRecord
from wan_engine.journal.store import JournalStore

if TYPE_CHECKING:
    from wan_engine.client.job import Job


class JournalRecorder:
    """Writes one job's status changes, result and error to the journal under its local key."""

    def __init__(self, job: Job, journal: JournalStore, key: str) -> None:
        self.job, self.journal, self.key = job, journal, key

    def __call__(self, event: Event) -> None:
        wall = self.job.engine.clock.wall()
        if isinstance(event, Progress):
            crashpoint("poll.progress")
        elif isinstance(event, StatusChanged):
            if event.state.terminal:
                crashpoint("poll.before_terminal_journal")
            self.journal.record_status(self.key, event.state, event.provider_status, wall)
        elif isinstance(event, Completed):
            result = event.result
            timings = result.timings
            record = ResultRecord(
                tuple(result.video_urls), dict(result.metadata), wall, timings.polls, timings.finished_between_s
            )
            self.journal.record_result(self.key, record, wall)
            crashpoint("poll.after_terminal_journal")
        elif isinstance(event, CostReported):
            record_charge_quietly(self.journal, self.key, wall, usd=event.usd, figures=event.figures)
        elif isinstance(event, Failed):
            error = event.error
            state = JournalState.CANCELLED if isinstance(error, JobCancelledError) else JournalState.FAILED
            self.journal.record_error(self.key, state, str(error), wall)
            crashpoint("poll.after_terminal_journal")


class JobKeys:
    """Which journal key each live Job has: the Job itself carries no journal knowledge.

    Weak, so a finished job the app dropped is not kept alive by its engine.
    """

    def __init__(self) -> None:
        self._keys: weakref.WeakKeyDictionary[Job, str] = weakref.WeakKeyDictionary()

    def __setitem__(self, job: Job, key: str) -> None:
        self._keys[job] = key

    def get(self, job: Job) -> str | None:
        return self._keys.get(job)


def attach(job: Job, journal: JournalStore, key: str, keys: JobKeys) -> None:
    """Journal ``job``'s events under ``key`` from now on (past events are replayed first)."""
    keys[job] = key
    job.on(JournalRecorder(job, journal, key))
