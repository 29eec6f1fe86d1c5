"""One whole job, start to end, the same way when recording and when replaying.

Recording and replay both call ``run_session``, so a replay that gets the same
``SessionOutcome`` as its recording proves the cassette holds the whole
session and the engine reads it the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

from wan_engine.client.engine import Engine
from wan_engine.client.events import Event, StatusChanged
from wan_engine.client.job import Job
from wan_engine.client.polling import PollingStrategy
from wan_engine.errors import (
    ApiError,
    AuthenticationError,
    CassetteMismatchError,
    JobCancelledError,
    JobFailedError,
    ParameterValidationError,
    RateLimitedError,
    WanEngineError,
)

OutcomeKind = Literal["succeeded", "failed", "cancelled", "rejected", "error"]


@attrs.frozen
class SessionOutcome:
    """How a session ended, in terms that survive a round trip through a cassette."""

    kind: OutcomeKind
    job_id: str | None = None
    video_url: str | None = None
    statuses: tuple[str, ...] = ()
    """The provider's statuses, each time the job's status changed."""
    polls: int = 0
    error_type: str | None = None
    message: str | None = None
    code: str | None = None
    http_status: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["statuses"] = list(self.statuses)
        return {k: v for k, v in data.items() if v not in (None, [])}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionOutcome:
        fields = {f.name for f in attrs.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["statuses"] = tuple(values.get("statuses") or ())
        return cls(**values)


async def run_session(
    engine: Engine,
    model: str,
    params: Mapping[str, Any],
    *,
    validate: bool = True,
    strategy: PollingStrategy | str | None = None,
    deadline: float | None = None,
) -> SessionOutcome:
    """Submit, wait to the end, and say how it ended.

    Errors that mean nothing was exchanged (invalid parameters, no key) and
    replay mismatches propagate; everything the provider answered becomes an
    outcome.
    """
    statuses: list[str] = []
    job: Job | None = None

    def seen(event: Event) -> None:
        if isinstance(event, StatusChanged):
            statuses.append(str(event.provider_status))

    try:
        job = await engine.submit(model, params, validate=validate)
        job.on(seen)
        result = await job.wait(strategy=strategy, deadline=deadline)
        return SessionOutcome("succeeded", job.id, result.video_url, tuple(statuses), job.polls)
    except (ParameterValidationError, CassetteMismatchError):
        raise
    except AuthenticationError as exc:
        if exc.status is None:
            raise  # no key: nothing was sent
        return _error_outcome(exc, job, statuses)
    except JobFailedError as exc:
        return SessionOutcome(
            "failed", exc.job_id, None, tuple(statuses), job.polls if job else 0, type(exc).__name__,
            exc.provider_message, exc.code,
        )
    except JobCancelledError as exc:
        return SessionOutcome("cancelled", exc.job_id, None, tuple(statuses), job.polls if job else 0)
    except WanEngineError as exc:
        return _error_outcome(exc, job, statuses)


def _error_outcome(exc: WanEngineError, job: Job | None, statuses: list[str]) -> SessionOutcome:
    status = getattr(exc, "status", None)
    rejected = (
        job is None
        and isinstance(exc, ApiError)
        and not isinstance(exc, RateLimitedError)
        and status is not None
        and 400 <= status < 500
    )
    message = exc.provider_message if isinstance(exc, ApiError) and exc.provider_message else str(exc)
    return SessionOutcome(
        "rejected" if rejected else "error",
        job.id if job else exc.job_id,
        None,
        tuple(statuses),
        job.polls if job else 0,
        type(exc).__name__,
        message,
        None,
        status,
    )
