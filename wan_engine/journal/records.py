"""What the journal stores about a job, as plain typed records.

Everything here is data a store can round-trip through JSON columns: no
live objects, no credentials. A sink is journaled as its plugin name and
options, with secrets *referenced* by environment variable name, so a
journal file can be copied, inspected or attached to a bug report without
leaking a key, and a resumed process rebuilds the same sink from it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from wan_engine.sinks.config import SinkConfig
from wan_engine.states import JobState


class JournalState(enum.StrEnum):
    """Where a job stands, from the journal's point of view.

    Wider than :class:`~wan_engine.states.JobState` because the journal also
    knows about the moments before the provider has a job at all.
    """

    SUBMITTING = "submitting"
    """The intent is journaled; the request may or may not have been sent."""
    SUBMIT_UNKNOWN = "submit_unknown"
    """The submit may have created a (paid) job whose id we do not have. Never re-sent: a person decides."""
    REFUSED = "refused"
    """The provider certainly did not create a job (4xx, connection refused, no key)."""
    SUBMITTED = "submitted"
    """The provider gave an id; no status read yet."""
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def of(cls, state: JobState) -> JournalState:
        return cls(state.value)

    @property
    def on_provider(self) -> bool:
        """The provider has the job and it is not finished: resume polls it."""
        return self in (JournalState.SUBMITTED, JournalState.QUEUED, JournalState.RUNNING)


class DeliveryState(enum.StrEnum):
    """One sink's progress with one job's result."""

    PENDING = "pending"
    STARTED = "started"
    """Bytes are moving (a data sink) or nothing is known yet; a crash here leaves nothing committed."""
    COMMITTING = "committing"
    """The sink was asked to commit (or a notice was sent): it may have taken effect. Resume reconciles."""
    DELIVERED = "delivered"
    FAILED = "failed"

    @property
    def done(self) -> bool:
        return self is DeliveryState.DELIVERED


@attrs.frozen
class SinkRecord:
    """One sink of one job and how far its delivery got."""

    name: str
    config: SinkConfig
    state: DeliveryState
    location: str | None = None
    """Where it landed (a path, an s3:// URL, a webhook receipt); while committing, where it will land."""
    sha256: str | None = None
    size: int | None = None
    error: str | None = None
    attempts: int = 0
    updated_at: datetime | None = None


@attrs.frozen
class ResultRecord:
    """The parts of a :class:`~wan_engine.client.result.Result` worth keeping (not the raw response)."""

    video_urls: tuple[str, ...]
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    completed_at: datetime | None = None
    polls: int = 0
    finished_between_s: tuple[float, float] | None = None
    """Seconds after submission: the job finished after the first figure and by the second (see
    ``Timings.finished_between_s``); what a learning polling strategy reads back from the journal."""


@attrs.frozen
class HistoryEntry:
    """One thing that happened to a job, at a wall-clock time."""

    at: datetime
    event: str
    """submit_intent, submitted, submit_unknown, refused, status, result, error, delivery, resumed..."""
    state: str | None = None
    detail: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class JobRecord:
    """Everything the journal knows about one job."""

    key: str
    """Local key, assigned before the submit is sent (the provider id does not exist yet)."""
    model: str
    spec_version: str
    params: Mapping[str, Any]
    state: JournalState
    created_at: datetime
    updated_at: datetime
    provider_id: str | None = None
    provider_status: Any = None
    result: ResultRecord | None = None
    error: str | None = None
    sinks: tuple[SinkRecord, ...] = ()

    @property
    def deliveries_pending(self) -> tuple[SinkRecord, ...]:
        return tuple(s for s in self.sinks if not s.state.done)

    @property
    def delivered(self) -> bool:
        """Succeeded and every sink has its copy (vacuously true for a job with no sinks)."""
        return self.state is JournalState.SUCCEEDED and not self.deliveries_pending

    @property
    def unfinished(self) -> bool:
        """Resume has something to do: a submit to settle, a job to poll, or a result to deliver."""
        if self.state is JournalState.SUBMITTING or self.state.on_provider:
            return True
        # Succeeded without a journaled result: the process died between the two writes; poll once more.
        return self.state is JournalState.SUCCEEDED and (self.result is None or bool(self.deliveries_pending))

    @property
    def summary_state(self) -> str:
        """The state a person wants to see first: 'delivered' / 'delivering' beat 'succeeded'."""
        if self.state is JournalState.SUCCEEDED and self.sinks:
            if self.delivered:
                return "delivered"
            if any(s.state is DeliveryState.FAILED for s in self.sinks):
                return "delivery_failed"
            return "delivering"
        return self.state.value


@attrs.frozen
class Claim:
    """The answer to a lease request: taken, or held by someone else until a time."""

    taken: bool
    owner: str
    expires_at: float


@attrs.frozen
class ChargeRecord:
    """One job's line in the spend ledger: what the provider reported, what the spec estimated, and its state.

    Every job has one (a job journaled before the ledger existed has no figures).
    """

    key: str
    model: str
    state: JournalState
    created_at: datetime
    provider_id: str | None = None
    tags: tuple[str, ...] = ()
    estimate_usd: float | None = None
    estimate_basis: str | None = None
    usd: float | None = None
    """Reported by the provider, in dollars; None if it reported no money (or nothing yet)."""
    figures: Mapping[str, float | int] = attrs.field(factory=dict)
