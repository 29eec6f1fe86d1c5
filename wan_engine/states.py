"""The engine's own job states, which every provider's statuses are mapped onto.

Keeping one small vocabulary lets strategies, sinks, the journal and UIs reason
about any provider without knowing its words for "done".
"""

from __future__ import annotations

import enum


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

# Which moves a job may make. A provider that reports, say, running after
# succeeded has broken its contract; the contract checker flags it.
ALLOWED_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.QUEUED, JobState.RUNNING, *TERMINAL_STATES}),
    JobState.RUNNING: frozenset({JobState.RUNNING, *TERMINAL_STATES}),
    JobState.SUCCEEDED: frozenset({JobState.SUCCEEDED}),
    JobState.FAILED: frozenset({JobState.FAILED}),
    JobState.CANCELLED: frozenset({JobState.CANCELLED}),
}
