"""Delivering a result: one download, teed chunk by chunk into every sink the caller names.

Order of a delivery, and why:

1. the download starts; after the first answer's headers every data sink is
   opened (so "that file already exists" fails before a byte is moved);
2. each chunk is written to all data sinks together and the next chunk is
   read only when all have taken it: memory is bounded by one chunk per
   sink's own buffer, and the slowest sink sets the pace (backpressure);
3. at the end every data sink commits; if any write or commit fails, every
   data sink is aborted (a committed one is undone), so a delivery leaves
   complete outputs everywhere or nowhere;
4. notify sinks (webhook, manifest) then hear about the delivery with the
   locations; a notice that finally fails is recorded in the report, not
   raised, because the video itself is safely delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import aiohttp
import attrs

from wan_engine.client.result import Result
from wan_engine.clock import Clock
from wan_engine.delivery.download import (
    CONTAINER_SIGNATURES,
    DownloadOutcome,
    DownloadPolicy,
    ResponseInfo,
    download,
)
from wan_engine.errors import DeliveryError, SinkError
from wan_engine.sinks.protocols import DataSink, DeliverySummary, NotifySink, Provenance, Sink, SinkContext, SinkWriter

if TYPE_CHECKING:
    from wan_engine.client.engine import Engine
    from wan_engine.client.job import Job

log = logging.getLogger("wan_engine.delivery.tee")

ProgressCallback = Callable[[int, int | None], object]
"""Called with (bytes delivered so far, expected total or None) after each chunk reached every sink."""

_EXTENSIONS = {"video/mp4": "mp4", "video/webm": "webm", "video/quicktime": "mov", "video/x-matroska": "mkv"}


@attrs.frozen
class SinkOutcome:
    sink: str
    kind: Literal["data", "notify"]
    location: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@attrs.frozen
class DeliveryReport:
    """What a delivery did: the bytes' size and SHA-256 and, per sink, a location or an error."""

    job_id: str
    source_url: str
    size: int
    sha256: str
    content_type: str | None
    resumes: int
    elapsed_s: float
    outcomes: tuple[SinkOutcome, ...]

    @property
    def ok(self) -> bool:
        return all(outcome.ok for outcome in self.outcomes)

    @property
    def locations(self) -> dict[str, str]:
        return {o.sink: o.location for o in self.outcomes if o.location is not None}

    @property
    def failures(self) -> dict[str, str]:
        return {o.sink: o.error for o in self.outcomes if o.error is not None}

    def as_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self, recurse=True), "ok": self.ok}


def extension_for(url: str, content_type: str | None) -> str:
    """The file extension for the result: from the URL path if it has a short one, else the media type."""
    path = urlsplit(url).path
    last = path.rsplit("/", 1)[-1]
    if "." in last:
        ext = last.rsplit(".", 1)[-1].lower()
        if ext.isalnum() and 0 < len(ext) <= 5:
            return ext
    return _EXTENSIONS.get((content_type or "").lower(), "mp4")


def _split(sinks: Sequence[Sink]) -> tuple[list[DataSink], list[NotifySink]]:
    names = [sink.name for sink in sinks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"sink names must be unique in one delivery (give each a name=): {', '.join(duplicates)}")
    data = [s for s in sinks if isinstance(s, DataSink)]
    notify = [s for s in sinks if not isinstance(s, DataSink) and isinstance(s, NotifySink)]
    return data, notify


class _Tee:
    """Opens the data sinks, feeds each chunk to all of them in step, then commits or rolls back."""

    def __init__(self, sinks: list[DataSink], make_context: Any) -> None:
        self.sinks = sinks
        self.make_context = make_context
        self.writers: list[tuple[DataSink, SinkWriter]] = []
        self.context: SinkContext | None = None

    async def open(self, info: ResponseInfo) -> None:
        self.context = self.make_context(info)
        for sink in self.sinks:
            try:
                writer = await sink.open(self.context)
            except Exception as exc:
                raise _as_sink_error(sink.name, exc) from exc
            self.writers.append((sink, writer))

    async def write(self, chunk: bytes) -> None:
        if len(self.writers) == 1:
            sink, writer = self.writers[0]
            try:
                await writer.write(chunk)
            except Exception as exc:
                raise _as_sink_error(sink.name, exc) from exc
            return
        results = await asyncio.gather(*(w.write(chunk) for _, w in self.writers), return_exceptions=True)
        for (sink, _), outcome in zip(self.writers, results, strict=True):
            if isinstance(outcome, BaseException):
                raise _as_sink_error(sink.name, outcome) from outcome

    async def commit(self, summary: DeliverySummary) -> dict[str, str]:
        locations: dict[str, str] = {}
        for sink, writer in self.writers:
            try:
                locations[sink.name] = await writer.commit(summary)
            except Exception as exc:
                raise _as_sink_error(sink.name, exc) from exc
        return locations

    async def abort(self) -> None:
        """Roll every writer back, even if one abort fails (each is logged, none hides the cause)."""
        results = await asyncio.gather(*(w.abort() for _, w in self.writers), return_exceptions=True)
        for (sink, _), outcome in zip(self.writers, results, strict=True):
            if isinstance(outcome, BaseException):
                log.error("sink %s could not clean up after a failed delivery: %r", sink.name, outcome)


def _as_sink_error(name: str, exc: BaseException) -> SinkError:
    if isinstance(exc, SinkError):
        return exc
    return SinkError(name, f"{type(exc).__name__}: {exc}")


def _announced_size(result: Result) -> int | None:
    """The size the provider announced for the video (the spec's ``file_size`` metadata), if it did."""
    value = result.metadata.get("file_size")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value) or None
    return None


def _checked_policy(policy: DownloadPolicy | None, url: str) -> DownloadPolicy:
    """The policy, with the container the URL names (``.mp4``) to check the first bytes against."""
    chosen = policy or DownloadPolicy()
    if chosen.container is None:
        ext = extension_for(url, None)
        if ext in CONTAINER_SIGNATURES:
            chosen = attrs.evolve(chosen, container=ext)
    return chosen


async def deliver(
    result: Result,
    sinks: Sequence[Sink],
    *,
    session: aiohttp.ClientSession,
    clock: Clock,
    provenance: Provenance | None = None,
    parameters: Mapping[str, Any] | None = None,
    policy: DownloadPolicy | None = None,
    on_progress: ProgressCallback | None = None,
) -> DeliveryReport:
    """Download ``result.video_url`` once and hand it to every sink; see the module doc for the order.

    ``on_progress(done, total)`` is called after each chunk has reached every
    data sink (``total`` is None when the server sent no length).

    Raises :class:`DeliveryError` (with ``sink`` set when a sink failed)
    after rolling back every data sink; :class:`~wan_engine.delivery.download.ResultExpiredError`
    and other download errors are raised as they are, after the same roll-back.
    """
    data_sinks, notify_sinks = _split(sinks)
    provenance = provenance or Provenance.from_result(result, delivered_at=clock.wall(), parameters=parameters)
    url = result.video_url
    started = clock.now()

    def make_context(info: ResponseInfo) -> SinkContext:
        ext = extension_for(url, info.content_type)
        return SinkContext(provenance, ext, info.content_type, info.size, clock, session)

    tee = _Tee(data_sinks, make_context)
    done = 0

    async def consume(chunk: bytes) -> None:
        nonlocal done
        await tee.write(chunk)
        done += len(chunk)
        if on_progress is not None:
            on_progress(done, tee.context.expected_size if tee.context is not None else None)

    async def restart() -> None:
        """The file changed between attempts: drop what the sinks hold and take it again from byte 0."""
        nonlocal done
        await tee.abort()
        tee.writers.clear()
        tee.context, done = None, 0

    try:
        outcome: DownloadOutcome = await download(
            url,
            consume,
            session=session,
            clock=clock,
            policy=_checked_policy(policy, url),
            on_start=tee.open,
            job_id=result.job_id,
            expected_size=_announced_size(result),
            on_restart=restart,
        )
        summary = DeliverySummary(provenance, outcome.size, outcome.sha256, outcome.content_type)
        locations = await tee.commit(summary)
    except BaseException as exc:
        await asyncio.shield(tee.abort())
        if isinstance(exc, SinkError):
            raise DeliveryError(
                f"delivery of job {result.job_id} failed in {exc}; every sink was rolled back",
                job_id=result.job_id,
                sink=exc.sink,
            ) from exc
        raise
    outcomes = [SinkOutcome(name, "data", location=location) for name, location in locations.items()]
    summary = attrs.evolve(summary, locations=locations)
    assert tee.context is not None
    outcomes.extend(await _notify_all(notify_sinks, summary, tee.context))
    return DeliveryReport(
        result.job_id,
        outcome.url,
        outcome.size,
        outcome.sha256,
        outcome.content_type,
        outcome.resumes,
        clock.now() - started,
        tuple(outcomes),
    )


async def _notify_all(sinks: list[NotifySink], summary: DeliverySummary, ctx: SinkContext) -> list[SinkOutcome]:
    async def one(sink: NotifySink) -> SinkOutcome:
        try:
            receipt = await sink.notify(summary, ctx)
        except Exception as exc:  # noqa: BLE001 - a failed notice is reported, the video is delivered
            log.warning("sink %s: notification for job %s failed: %s", sink.name, summary.provenance.job_id, exc)
            return SinkOutcome(sink.name, "notify", error=str(_as_sink_error(sink.name, exc)))
        return SinkOutcome(sink.name, "notify", location=receipt)

    return list(await asyncio.gather(*(one(sink) for sink in sinks)))


async def deliver_job(
    engine: Engine,
    job_or_result: Job | Result,
    sinks: Sequence[Sink],
    *,
    policy: DownloadPolicy | None = None,
    session: aiohttp.ClientSession | None = None,
    on_progress: ProgressCallback | None = None,
) -> DeliveryReport:
    """Deliver a job's result with the engine's clock and HTTP session (waiting for the job if needed).

    Given a Job, its parameters go into the provenance; given only a Result, they are unknown.
    """
    from wan_engine.client.job import Job

    parameters: Mapping[str, Any] | None = None
    if isinstance(job_or_result, Job):
        parameters = job_or_result.params
        result = await job_or_result.wait()
    else:
        result = job_or_result
    return await deliver(
        result,
        sinks,
        session=session or engine.client.session,
        clock=engine.clock,
        parameters=parameters,
        policy=policy,
        on_progress=on_progress,
    )
