"""Sinks wrapped so each one's delivery state reaches the journal the moment it changes.

The delivery module (delivery.py) tees one download into every data sink and
then notifies; these wrappers sit between it and the real sinks, so the
journal learns per sink: started, committing (with the SHA-256, size and the
planned location), delivered (with the location), failed. That per-sink
record is what lets a resumed process skip the sinks already served.

The dangerous instant is between a sink's commit taking effect and the
journal hearing of it. For that, a sink is journaled ``committing`` *before*
its commit, with where the output will land and its checksum; a resume that
finds ``committing`` calls :func:`reconcile`, which adopts an output that is
already there complete (same SHA-256) instead of writing it again. Local
files are checked here; a notice (webhook) cannot be looked up, so it is
sent again, under the sink's own duplicate-suppression (see the report).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from pathlib import Path

import attrs

from wan_engine.clock import Clock
from wan_engine.crashpoints import crashpoint
from wan_engine.journal.records import DeliveryState, SinkRecord
from wan_engine.journal.store import JournalStore
from wan_engine.sinks.file import remove_stale_parts
from wan_engine.sinks.protocols import DataSink, DeliverySummary, NotifySink, SinkContext, SinkWriter


@attrs.frozen
class DeliveryLog:
    """Where one job's delivery states are written."""

    journal: JournalStore
    key: str
    clock: Clock

    def write(
        self,
        sink: str,
        state: DeliveryState,
        *,
        location: str | None = None,
        sha256: str | None = None,
        size: int | None = None,
        error: str | None = None,
    ) -> None:
        self.journal.record_delivery(
            self.key, sink, state, self.clock.wall(), location=location, sha256=sha256, size=size, error=error
        )


def planned_location(writer: object) -> str | None:
    """Where a writer will commit, when it says so (``location``, or the file sink's ``final`` path)."""
    for attribute in ("location", "final"):
        value = getattr(writer, attribute, None)
        if isinstance(value, (str, Path)):
            return str(value)
    return None


@attrs.define
class JournaledWriter:
    inner: SinkWriter
    name: str
    log: DeliveryLog
    delivered: bool = False

    async def write(self, chunk: bytes) -> None:
        crashpoint("download.chunk")
        await self.inner.write(chunk)

    async def commit(self, summary: DeliverySummary) -> str:
        sha256, size = summary.sha256, summary.size
        self.log.write(
            self.name, DeliveryState.COMMITTING, location=planned_location(self.inner), sha256=sha256, size=size
        )
        crashpoint("sink.before_commit")
        location = await self.inner.commit(summary)
        crashpoint("sink.after_commit")
        self.log.write(self.name, DeliveryState.DELIVERED, location=location, sha256=sha256, size=size)
        self.delivered = True
        crashpoint("sink.delivered")
        return location

    async def abort(self) -> None:
        await self.inner.abort()
        if self.delivered:  # a later sink failed and delivery.py undid this one: all or nothing
            self.log.write(self.name, DeliveryState.FAILED, error="rolled back: another part of the delivery failed")
            self.delivered = False


@attrs.frozen
class JournaledDataSink:
    inner: DataSink
    log: DeliveryLog

    @property
    def name(self) -> str:
        return self.inner.name

    async def open(self, ctx: SinkContext) -> SinkWriter:
        self.log.write(self.name, DeliveryState.STARTED)
        return JournaledWriter(await self.inner.open(ctx), self.name, self.log)


@attrs.frozen
class JournaledNotifySink:
    inner: NotifySink
    log: DeliveryLog
    earlier_locations: Mapping[str, str] = attrs.field(factory=dict)
    """Locations of data sinks delivered before a crash, so the notice names every copy, not just this run's."""

    @property
    def name(self) -> str:
        return self.inner.name

    async def notify(self, summary: DeliverySummary, ctx: SinkContext) -> str:
        summary = attrs.evolve(summary, locations={**self.earlier_locations, **summary.locations})
        crashpoint("notify.before")
        self.log.write(self.name, DeliveryState.COMMITTING)  # no checksum: only data sinks hold the bytes
        try:
            receipt = await self.inner.notify(summary, ctx)
        except Exception as exc:
            self.log.write(self.name, DeliveryState.FAILED, error=str(exc))
            raise
        self.log.write(self.name, DeliveryState.DELIVERED, location=receipt)
        crashpoint("sink.delivered")
        return receipt


def _sha256_of(path: Path) -> str | None:
    """The file's SHA-256, or None if it is not a regular file at an absolute path."""
    if not path.is_absolute() or not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


async def reconcile(record: SinkRecord) -> str | None:
    """For a sink found ``committing`` after a crash: its location if the output is there, complete.

    Only a local file can be checked here (same path, same SHA-256 as the
    journal recorded before the commit). ``None`` means "not known to be
    there": the caller delivers again.
    """
    if record.state is not DeliveryState.COMMITTING or not record.location or not record.sha256:
        return None
    digest = await asyncio.to_thread(_sha256_of, Path(record.location))
    if digest != record.sha256:
        return None
    # Adopted: the temporary files the killed delivery left next to it are orphans now.
    await asyncio.to_thread(remove_stale_parts, Path(record.location))
    return record.location
