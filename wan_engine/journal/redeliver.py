"""Delivering a journaled job's result to the sinks that do not have it yet.

Used right after a job finishes and again by every resume, so it must be
idempotent: sinks already ``delivered`` are skipped, sinks caught mid-commit
by a crash are reconciled first, and only the rest are built (from the
journaled plugin name and options, secrets from the environment) and
delivered in one download. When only notices are left, the video is not
downloaded again: the summary is rebuilt from what the data sinks recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from wan_engine.client.result import Result, Timings
from wan_engine.delivery.download import DownloadPolicy
from wan_engine.delivery.tee import DeliveryReport, ProgressCallback, deliver, extension_for
from wan_engine.errors import ResultExpiredError
from wan_engine.journal.context import JournaledEngine
from wan_engine.journal.journaled_sinks import DeliveryLog, JournaledDataSink, JournaledNotifySink, reconcile
from wan_engine.journal.listener import attach
from wan_engine.journal.records import DeliveryState, JobRecord, SinkRecord
from wan_engine.sinks.protocols import (
    DataSink,
    DeliverySummary,
    NotifySink,
    Provenance,
    Sink,
    SinkContext,
    sink_from_name,
)

log = logging.getLogger("wan_engine.journal")


def result_of(record: JobRecord) -> Result:
    """A Result rebuilt from the journal (no raw response: it was never stored)."""
    assert record.result is not None and record.provider_id is not None
    timings = Timings(None, 0.0, 0.0, record.result.polls, record.created_at, record.result.completed_at)
    return Result(
        record.provider_id,
        record.model,
        record.spec_version,
        list(record.result.video_urls),
        dict(record.result.metadata),
        timings,
        None,
    )


def _build(record: SinkRecord, env: Mapping[str, str]) -> Sink:
    return sink_from_name(record.config.plugin, **record.config.build_options(env))


async def deliver_pending(
    engine: JournaledEngine,
    record: JobRecord,
    *,
    env: Mapping[str, str],
    policy: DownloadPolicy | None = None,
    on_progress: ProgressCallback | None = None,
) -> JobRecord:
    """Bring every sink of a succeeded job to ``delivered`` (or ``failed``); returns the journal's new record."""
    journal = engine.journal
    assert record.result is not None
    dlog = DeliveryLog(journal, record.key, engine.clock)
    pending: list[SinkRecord] = []
    for sink in record.deliveries_pending:
        adopted = await reconcile(sink)
        if adopted is not None:
            dlog.write(sink.name, DeliveryState.DELIVERED, location=adopted, sha256=sink.sha256, size=sink.size)
            journal.record_event(record.key, "reconciled", engine.clock.wall(), {"sink": sink.name})
        else:
            pending.append(sink)
    if not pending:
        return _reload(engine, record)
    built: list[Sink] = []
    for sink in pending:
        try:
            instance = _build(sink, env)
        except Exception as exc:  # noqa: BLE001 - a sink that cannot be built fails alone, named
            dlog.write(sink.name, DeliveryState.FAILED, error=f"cannot build sink: {exc}")
            continue
        if await _adopted(instance, sink):
            dlog.write(sink.name, DeliveryState.DELIVERED, location=sink.location, sha256=sink.sha256, size=sink.size)
            journal.record_event(record.key, "reconciled", engine.clock.wall(), {"sink": sink.name})
            continue
        built.append(instance)
    if not built:
        return _reload(engine, record)
    data = [s for s in built if isinstance(s, DataSink)]
    notify = [s for s in built if not isinstance(s, DataSink) and isinstance(s, NotifySink)]
    done = _reload(engine, record)
    earlier = {s.name: s.location for s in done.sinks if s.state.done and s.location and s.sha256}
    wrapped: list[Sink] = [JournaledDataSink(s, dlog) for s in data]
    wrapped += [JournaledNotifySink(s, dlog, earlier) for s in notify]
    if not wrapped:
        return done
    try:
        if data or not _summary_known(done):
            await _deliver_with_fresh_url(engine, record, wrapped, policy, on_progress)
        else:
            await _notify_only(engine, done, [s for s in wrapped if isinstance(s, JournaledNotifySink)])
    except Exception as exc:  # noqa: BLE001 - recorded per sink; the next resume tries again
        log.warning("delivery of job %s failed: %s", record.key, exc)
        now = _reload(engine, record)
        for sink in now.sinks:
            if sink.name in {s.name for s in wrapped} and not sink.state.done:
                dlog.write(sink.name, DeliveryState.FAILED, error=str(exc))
    return _reload(engine, record)


async def _adopted(sink: Sink, record: SinkRecord) -> bool:
    """A sink caught mid-commit whose plugin can tell its own output (same SHA-256) where it was going."""
    adopt = getattr(sink, "adopt", None)
    if record.state is not DeliveryState.COMMITTING or not record.location or not record.sha256 or adopt is None:
        return False
    try:
        return bool(await adopt(record.location, record.sha256))
    except Exception as exc:  # noqa: BLE001 - unknown means deliver again (the sink refuses to overwrite)
        log.warning("could not check %s for sink %s: %s", record.location, record.name, exc)
        return False


def _reload(engine: JournaledEngine, record: JobRecord) -> JobRecord:
    fresh = engine.journal.get(record.key)
    assert fresh is not None
    return fresh


def _summary_known(record: JobRecord) -> bool:
    return any(s.state.done and s.sha256 and s.size is not None for s in record.sinks)


async def _deliver_with_fresh_url(
    engine: JournaledEngine,
    record: JobRecord,
    sinks: list[Sink],
    policy: DownloadPolicy | None,
    on_progress: ProgressCallback | None = None,
) -> DeliveryReport:
    """Deliver; if the result URL has expired meanwhile, ask the provider for a fresh one, once."""
    try:
        return await deliver(
            result_of(record), sinks, session=engine.client.session, clock=engine.clock,
            parameters=record.params, policy=policy, on_progress=on_progress,
        )  # fmt: skip
    except ResultExpiredError:
        if record.provider_id is None:
            raise
        job = engine.job(record.model, record.provider_id)
        attach(job, engine.journal, record.key, engine.keys)
        result = await job.wait()  # one status read: the job is terminal; journals the fresh URLs
        return await deliver(
            result, sinks, session=engine.client.session, clock=engine.clock, parameters=record.params,
            policy=policy, on_progress=on_progress,
        )  # fmt: skip


async def _notify_only(engine: JournaledEngine, record: JobRecord, sinks: list[JournaledNotifySink]) -> None:
    """Every data sink has the video already: notify from the journaled facts, without downloading again."""
    source = next(s for s in record.sinks if s.state.done and s.sha256 and s.size is not None)
    assert source.sha256 is not None and source.size is not None
    result = result_of(record)
    provenance = Provenance.from_result(result, delivered_at=engine.clock.wall(), parameters=record.params)
    summary = DeliverySummary(provenance, source.size, source.sha256, None)
    ctx = SinkContext(
        provenance, extension_for(result.video_url, None), None, source.size, engine.clock, engine.client.session
    )
    errors: list[Any] = []
    for sink in sinks:
        try:
            await sink.notify(summary, ctx)
        except Exception as exc:  # noqa: BLE001 - journaled by the wrapper; other notices still go out
            errors.append(exc)
    if errors:
        log.warning("job %s: %d notice(s) failed", record.key, len(errors))
