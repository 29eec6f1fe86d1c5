"""Delivery end to end: one job from the sandbox, downloaded once, teed into file + S3 + webhook.

The sandbox serves the result (with Range support and faults on demand) and
SeaweedFS stores the S3 copy; a real aiohttp receiver verifies the webhook.
The point of each test is a promise of delivery.py: same bytes everywhere,
resumed downloads, and all-or-nothing outputs when a sink fails.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from support.seaweed import BUCKET, keys_under, pending_uploads_under, s3_client, seaweed, unique_prefix
from support.webhook_receiver import SECRET, Receiver, receiver
from wan_engine_s3.seaweed import SeaweedFS

from wan_engine.client.engine import Engine
from wan_engine.client.polling import FixedInterval
from wan_engine.client.result import Result
from wan_engine.clock import SystemClock
from wan_engine.delivery.download import DownloadPolicy
from wan_engine.delivery.tee import DeliveryReport, deliver, deliver_job
from wan_engine.errors import DeliveryError, ResultExpiredError
from wan_engine.sandbox import FaultPlan, Sandbox, SandboxConfig
from wan_engine.sinks import DeliverySummary, SinkContext, sink_from_name
from wan_engine.sinks.file import FileSink
from wan_engine.spec.registry import SpecRegistry

__all__ = ["receiver", "s3_client", "seaweed"]  # fixtures, imported to be found by pytest

MODEL = "alibaba/wan-2-7-r2v"
PARAMS = {"prompt": "Video 1 dances.", "video_urls": ["https://example.com/a.mp4"]}
MiB = 1024 * 1024


@contextlib.asynccontextmanager
async def finished_job(
    registry: SpecRegistry, *, media_size: int | None = 7 * MiB + 11, faults: tuple[str, ...] = ()
) -> AsyncIterator[tuple[Sandbox, Engine, Any, Result]]:
    config = SandboxConfig(duration_s=0.05, media_size=media_size, faults=FaultPlan.parse(faults))
    async with Sandbox(registry, config) as sb:
        engine = Engine(registry, base_urls={"aimlapi": sb.base_url("aimlapi")}, env={"AIMLAPI_KEY": "test-key"})
        async with engine:
            job = await engine.submit(MODEL, PARAMS)
            result = await job.wait(strategy=FixedInterval(0.02))
            yield sb, engine, job, result


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_one_job_delivered_to_file_s3_and_webhook_together(
    registry: SpecRegistry, tmp_path: Path, seaweed: SeaweedFS, s3_client: Any, receiver: Receiver
) -> None:
    prefix = unique_prefix()
    async with finished_job(registry) as (sb, engine, job, _result):
        sinks = [
            sink_from_name("file", root=tmp_path),
            sink_from_name("s3", **seaweed.options(), prefix=prefix, part_size=5 * MiB),
            sink_from_name("webhook", url=receiver.url, secret=SECRET),
        ]
        progress: list[tuple[int, int | None]] = []
        report = await deliver_job(engine, job, sinks, on_progress=lambda done, total: progress.append((done, total)))
        served = sb.media_sha256(job.id)
        size = sb.media_bytes_expected(job.id)

    assert report.ok, report.failures
    assert report.sha256 == served and report.size == size
    assert progress[-1] == (size, size)
    file_path = Path(report.locations["file"])
    assert sha256_of(file_path) == served
    key = report.locations["s3"].removeprefix(f"s3://{BUCKET}/")
    answer = await s3_client.get_object(Bucket=BUCKET, Key=key)
    async with answer["Body"] as body:
        assert hashlib.sha256(await body.read()).hexdigest() == served
    assert answer["Metadata"]["sha256"] == served
    assert answer["Metadata"]["job-id"] == job.id
    [notice] = receiver.verified
    event = notice["event"]
    assert event["data"]["sha256"] == served
    assert event["data"]["job_id"] == job.id
    assert event["data"]["locations"] == {"file": str(file_path), "s3": report.locations["s3"]}
    sidecar = json.loads(file_path.with_name(file_path.name + ".json").read_text())
    assert sidecar["parameters"]["prompt"] == PARAMS["prompt"], "a Job's parameters reach the provenance"
    assert "?" not in sidecar["source_url"]


async def test_a_download_cut_in_the_middle_resumes_with_range(registry: SpecRegistry, tmp_path: Path) -> None:
    async with finished_job(registry, faults=("media:truncate:times=2",)) as (sb, engine, job, _result):
        report = await deliver_job(engine, job, [FileSink(tmp_path)], policy=DownloadPolicy(base_delay_s=0.01))
        served = sb.media_sha256(job.id)
        media_answers = [r.status for r in sb.request_log if "/_media/" in r.path]
    assert report.resumes == 2
    assert media_answers == [200, 206, 206], "resumed with Range requests, answered partially"
    assert report.sha256 == served
    assert sha256_of(Path(report.locations["file"])) == served


async def test_an_expired_result_url_is_a_typed_error_and_leaves_nothing(
    registry: SpecRegistry, tmp_path: Path
) -> None:
    async with finished_job(registry, faults=("media:expired",)) as (_sb, engine, job, _result):
        with pytest.raises(ResultExpiredError):
            await deliver_job(engine, job, [FileSink(tmp_path)])
    assert files_under(tmp_path) == []


@attrs.frozen
class FailingSink:
    """A third-party data sink that breaks after ``after`` bytes (or at commit)."""

    after: int
    at_commit: bool = False
    name: str = "boom"

    async def open(self, ctx: SinkContext) -> FailingWriter:
        return FailingWriter(self)


@attrs.define
class FailingWriter:
    sink: FailingSink
    seen: int = 0
    aborted: bool = False

    async def write(self, chunk: bytes) -> None:
        self.seen += len(chunk)
        if not self.sink.at_commit and self.seen > self.sink.after:
            raise RuntimeError("disk on fire")

    async def commit(self, summary: DeliverySummary) -> str:
        if self.sink.at_commit:
            raise RuntimeError("commit refused")
        return "nowhere"

    async def abort(self) -> None:
        self.aborted = True


@pytest.mark.parametrize("at_commit", [False, True], ids=["mid-stream", "at-commit"])
async def test_a_sink_failure_leaves_no_partial_file_and_no_partial_object(
    registry: SpecRegistry, tmp_path: Path, seaweed: SeaweedFS, s3_client: Any, receiver: Receiver, at_commit: bool
) -> None:
    prefix = unique_prefix()
    async with finished_job(registry, media_size=13 * MiB) as (_sb, engine, job, _result):
        sinks = [
            FileSink(tmp_path),
            sink_from_name("s3", **seaweed.options(), prefix=prefix, part_size=5 * MiB),
            FailingSink(after=11 * MiB, at_commit=at_commit),
            sink_from_name("webhook", url=receiver.url, secret=SECRET),
        ]
        with pytest.raises(DeliveryError, match="boom") as caught:
            await deliver_job(engine, job, sinks)
    assert caught.value.sink == "boom" and caught.value.job_id == job.id
    assert files_under(tmp_path) == [], "no partial (or committed-then-undone) file, no temp file"
    assert await keys_under(s3_client, prefix) == []
    assert await pending_uploads_under(s3_client, prefix) == []
    assert receiver.verified == [], "nobody is told about a delivery that did not happen"


async def test_a_disk_error_mid_stream_rolls_back_the_s3_upload(
    registry: SpecRegistry,
    tmp_path: Path,
    seaweed: SeaweedFS,
    s3_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix = unique_prefix()
    real_write = os.write
    written = 0

    def filling_disk(fd: int, data: Any) -> int:
        nonlocal written
        written += len(data)
        if written > 9 * MiB:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    async with finished_job(registry, media_size=12 * MiB) as (_sb, engine, job, _result):
        monkeypatch.setattr(os, "write", filling_disk)
        sinks = [FileSink(tmp_path), sink_from_name("s3", **seaweed.options(), prefix=prefix, part_size=5 * MiB)]
        with pytest.raises(DeliveryError, match="No space left") as caught:
            await deliver_job(engine, job, sinks)
        monkeypatch.undo()
    assert caught.value.sink == "file"
    assert files_under(tmp_path) == []
    assert await keys_under(s3_client, prefix) == []
    assert await pending_uploads_under(s3_client, prefix) == []


async def test_a_missing_bucket_fails_before_the_file_is_written(
    registry: SpecRegistry, tmp_path: Path, seaweed: SeaweedFS
) -> None:
    async with finished_job(registry) as (_sb, engine, job, _result):
        sinks = [FileSink(tmp_path), sink_from_name("s3", **{**seaweed.options(), "bucket": "missing-bucket"})]
        with pytest.raises(DeliveryError) as caught:
            await deliver_job(engine, job, sinks)
    assert caught.value.sink == "s3"
    assert files_under(tmp_path) == []


async def test_a_failed_notification_is_reported_not_raised(
    registry: SpecRegistry, tmp_path: Path, receiver: Receiver
) -> None:
    async with finished_job(registry) as (sb, engine, job, _result):
        webhook = sink_from_name("webhook", url=receiver.url + "-missing", secret=SECRET, attempts=1)
        report = await deliver_job(engine, job, [FileSink(tmp_path), webhook])
        served = sb.media_sha256(job.id)
    assert not report.ok
    assert "answered 404" in report.failures["webhook"]
    assert sha256_of(Path(report.locations["file"])) == served, "the video itself is delivered"


async def test_the_example_plugin_is_found_through_the_registry(
    registry: SpecRegistry, tmp_path: Path
) -> None:
    manifest_path = tmp_path / "manifest.jsonl"
    (tmp_path / "videos").mkdir()
    async with finished_job(registry, media_size=1000) as (sb, engine, job, _result):
        manifest = sink_from_name("manifest", path=manifest_path)
        report = await deliver_job(engine, job, [FileSink(tmp_path / "videos", template="{id}.{ext}"), manifest])
        await deliver_job(engine, job, [manifest])
        served = sb.media_sha256(job.id)
    assert report.ok
    lines = [json.loads(line) for line in manifest_path.read_text().splitlines()]
    assert [line["sha256"] for line in lines] == [served, served]
    assert lines[0]["locations"] == {"file": report.locations["file"]}


async def test_memory_stays_bounded_whatever_the_size(registry: SpecRegistry, tmp_path: Path) -> None:
    """Python allocations during a 48 MiB delivery stay a few chunks, not the video."""
    async with finished_job(registry, media_size=48 * MiB) as (sb, engine, job, result):
        tracemalloc.start()
        try:
            report = await deliver(result, [FileSink(tmp_path)], session=engine.client.session, clock=SystemClock())
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert report.sha256 == sb.media_sha256(job.id)
    assert peak < 12 * MiB, f"peak {peak / MiB:.1f} MiB of Python allocations"


async def test_sink_names_must_be_unique(registry: SpecRegistry, tmp_path: Path) -> None:
    async with finished_job(registry, media_size=10) as (_sb, engine, job, _result):
        with pytest.raises(ValueError, match="unique"):
            await deliver_job(engine, job, [FileSink(tmp_path), FileSink(tmp_path / "b")])


def test_the_report_is_plain_data() -> None:
    report = DeliveryReport("j", "https://x/v.mp4", 3, "ab", "video/mp4", 0, 1.0, ())
    assert report.ok and report.as_dict()["ok"] is True
