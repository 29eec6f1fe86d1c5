"""The sink interface: what a destination for result videos implements, built-in or third party.

A delivery downloads the result once and feeds every chunk to every *data
sink* (file, S3, ...) in step, so a video is never held in memory and a slow
sink slows the download rather than filling a buffer. Only when every data
sink has committed do *notify sinks* (webhook, manifest) hear about it, with
the locations the data sinks reported. Sinks are found by name through the
``wan_engine.sinks`` entry point group (see :func:`sink_from_name`), so a
third-party package adds a sink by declaring an entry point to a class (or any
callable) that takes keyword options and returns an object matching
:class:`DataSink` or :class:`NotifySink`.

Contract of a data sink's writer, which is what makes "no partial output"
hold across sinks:

* ``write`` is awaited for each chunk in order; it may apply backpressure by
  simply taking its time;
* ``commit`` makes the output visible at once (rename, multipart complete) and
  returns its location;
* ``abort`` before ``commit`` removes everything written so far; ``abort``
  after ``commit`` undoes the commit where it can (a later sink failed, and
  the delivery is all or nothing). ``abort`` must not raise for a writer that
  has nothing to clean up.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from wan_engine.errors import UsageError
from wan_engine.redaction import scrub_url

if TYPE_CHECKING:
    import aiohttp

    from wan_engine.client.result import Result
    from wan_engine.clock import Clock


@attrs.frozen
class Provenance:
    """Where a delivered video came from: written next to it (sidecar, object metadata, webhook)."""

    job_id: str
    model: str
    spec_version: str
    source_url: str = attrs.field(converter=scrub_url)
    delivered_at: datetime
    parameters: Mapping[str, Any] | None = None
    timings: Mapping[str, Any] = attrs.field(factory=dict)
    metadata: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def from_result(
        cls, result: Result, *, delivered_at: datetime, parameters: Mapping[str, Any] | None = None
    ) -> Provenance:
        return cls(
            job_id=result.job_id,
            model=result.model,
            spec_version=result.spec_version,
            source_url=result.video_url,
            delivered_at=delivered_at,
            parameters=dict(parameters) if parameters is not None else None,
            timings=result.timings.as_record(delivered_at),
            metadata=dict(result.metadata),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "model": self.model,
            "spec_version": self.spec_version,
            "source_url": self.source_url,
            "delivered_at": self.delivered_at.isoformat(),
            "parameters": None if self.parameters is None else dict(self.parameters),
            "timings": dict(self.timings),
            "metadata": dict(self.metadata),
        }


@attrs.frozen
class SinkContext:
    """What a sink learns before the first byte: who the video is, and the tools to reach out with."""

    provenance: Provenance
    ext: str
    """File extension without the dot, from the URL path or the Content-Type (``mp4`` by default)."""
    content_type: str | None
    expected_size: int | None
    """Content-Length of the result, when the server sent one."""
    clock: Clock
    session: aiohttp.ClientSession = attrs.field(repr=False)


@attrs.frozen
class DeliverySummary:
    """The facts of a finished download, handed to commits and notifications."""

    provenance: Provenance
    size: int
    sha256: str
    content_type: str | None
    locations: Mapping[str, str] = attrs.field(factory=dict)
    """Sink name to location, filled for notify sinks once the data sinks have committed."""

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.provenance.as_dict(),
            "size": self.size,
            "sha256": self.sha256,
            "content_type": self.content_type,
            "locations": dict(self.locations),
        }


class SinkWriter(Protocol):
    """One delivery's output in progress on one data sink (see the module doc for the contract)."""

    async def write(self, chunk: bytes) -> None: ...

    async def commit(self, summary: DeliverySummary) -> str:
        """Make the output visible; returns its location (a path, an s3:// URL)."""
        ...

    async def abort(self) -> None: ...


@runtime_checkable
class DataSink(Protocol):
    """A sink that stores the bytes."""

    @property
    def name(self) -> str: ...

    async def open(self, ctx: SinkContext) -> SinkWriter:
        """Prepare one output; fail here (before any byte) when it cannot be written, e.g. it exists."""
        ...


@runtime_checkable
class NotifySink(Protocol):
    """A sink that only tells someone, after every data sink has committed."""

    @property
    def name(self) -> str: ...

    async def notify(self, summary: DeliverySummary, ctx: SinkContext) -> str:
        """Deliver the notice; returns a short receipt, raises when it finally could not."""
        ...


Sink = DataSink | NotifySink


def sink_from_name(name: str, /, **options: Any) -> Sink:
    """Build a sink from its plugin name and options: ``sink_from_name("file", root="out")``.

    Built-ins are found through the same ``wan_engine.sinks`` entry points as
    third-party sinks, so a missing or broken plugin is reported the same way.
    """
    from wan_engine import plugins

    factory = plugins.load("sink").get(name)
    try:
        sink = factory(**options)
    except TypeError as exc:  # a misspelt or missing option: say which sink, not a constructor traceback
        raise UsageError(f"sink {name!r}: {exc}; see `wan-engine plugins` for its options") from None
    if not isinstance(sink, (DataSink, NotifySink)):
        raise UsageError(f"sink plugin {name!r} built {type(sink).__name__}, which has neither open() nor notify()")
    return sink
