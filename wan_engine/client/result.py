"""What a finished job hands back."""

from __future__ import annotations

from typing import Any

import attrs

from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.model import ModelSpec


@attrs.frozen
class Timings:
    submitted_at: float | None
    completed_at: float
    waited_s: float
    polls: int


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


def video_urls(spec: ModelSpec, document: Any) -> list[str]:
    """Every location the spec names that holds a URL (a list value counts as several)."""
    locations = spec.provider.result.video_url
    pointers = [locations] if isinstance(locations, str) else list(locations or [])
    urls: list[str] = []
    for pointer in pointers:
        value = json_pointer.resolve(document, pointer)
        if isinstance(value, str) and value:
            urls.append(value)
        elif isinstance(value, list):
            urls.extend(v for v in value if isinstance(v, str) and v)
    return urls


def metadata(spec: ModelSpec, document: Any) -> dict[str, Any]:
    values = {name: json_pointer.resolve(document, p) for name, p in spec.provider.result.metadata.items()}
    return {k: v for k, v in values.items() if v is not None}
