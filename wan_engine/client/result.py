"""What a finished job hands back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.model import ModelSpec, ResultLocations


@attrs.frozen
class Timings:
    """When a job ran. ``submitted_at``/``completed_at`` are the engine clock's monotonic seconds
    (for arithmetic in one process); the ``*_wall`` times are what a person or another process reads."""

    submitted_at: float | None
    completed_at: float
    waited_s: float
    polls: int
    submitted_wall: datetime | None = None
    completed_wall: datetime | None = None
    finished_between_s: tuple[float, float] | None = None
    """Seconds after submission of the last read that saw the job unfinished and of the read that saw it
    done: all a poller knows of how long the job took (what polling strategies learn from)."""

    def as_record(self, delivered_at: datetime | None = None) -> dict[str, Any]:
        """Wall-clock ISO 8601 times, durations and the poll count: what sidecars and notices carry."""

        def iso(at: datetime | None) -> str | None:
            return at.isoformat() if at is not None else None

        def between(start: datetime | None, end: datetime | None) -> float | None:
            return round((end - start).total_seconds(), 3) if start is not None and end is not None else None

        return {
            "submitted_at": iso(self.submitted_wall),
            "completed_at": iso(self.completed_wall),
            "delivered_at": iso(delivered_at),
            "generation_s": between(self.submitted_wall, self.completed_wall),
            "delivery_s": between(self.completed_wall, delivered_at),
            "polls": self.polls,
        }


@attrs.frozen
class Result:
    job_id: str
    model: str
    spec_version: str
    video_urls: list[str]
    metadata: dict[str, Any]
    timings: Timings
    response: Any = attrs.field(repr=False)

    @property
    def video_url(self) -> str:
        return self.video_urls[0]


def video_urls(spec: ModelSpec, document: Any, where: ResultLocations | None = None) -> list[str]:
    """Every location the spec names that holds a URL (a list value counts as several).

    ``where``: other result locations (a callback body's), instead of the provider's.
    """
    locations = (where or spec.provider.result).video_url
    pointers = [locations] if isinstance(locations, str) else list(locations or [])
    urls: list[str] = []
    for pointer in pointers:
        value = json_pointer.resolve(document, pointer)
        if isinstance(value, str) and value:
            urls.append(value)
        elif isinstance(value, list):
            urls.extend(v for v in value if isinstance(v, str) and v)
    return urls


def metadata(spec: ModelSpec, document: Any, where: ResultLocations | None = None) -> dict[str, Any]:
    values = {name: json_pointer.resolve(document, p) for name, p in (where or spec.provider.result).metadata.items()}
    return {k: v for k, v in values.items() if v is not None}
