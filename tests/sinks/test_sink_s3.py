"""The S3 sink (plugin wan-engine-s3) against a real SeaweedFS: multipart, metadata, no partial object."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from support.seaweed import BUCKET, keys_under, pending_uploads_under, s3_client, seaweed, unique_prefix
from wan_engine_s3 import S3Sink
from wan_engine_s3.seaweed import SeaweedFS

from wan_engine.clock import VirtualClock
from wan_engine.errors import SinkError
from wan_engine.sinks import DeliverySummary, Provenance, SinkContext, sink_from_name

__all__ = ["s3_client", "seaweed"]  # fixtures, imported to be found by pytest

MiB = 1024 * 1024
PROVENANCE = Provenance("job-s3", "alibaba/wan-2-7-r2v", "1", "https://cdn.example/v.mp4?sig=secret", datetime(
    2026, 5, 6, tzinfo=UTC))


def make_sink(seaweed: SeaweedFS, prefix: str, **options: Any) -> S3Sink:
    sink = sink_from_name("s3", **seaweed.options(), prefix=prefix, part_size=5 * MiB, **options)
    assert isinstance(sink, S3Sink)
    return sink


async def upload(sink: S3Sink, http: aiohttp.ClientSession, data: bytes, chunk: int = MiB) -> str:
    ctx = SinkContext(PROVENANCE, "mp4", "video/mp4", len(data), VirtualClock(), http)
    writer = await sink.open(ctx)
    for start in range(0, len(data), chunk):
        await writer.write(data[start : start + chunk])
    digest = hashlib.sha256(data).hexdigest()
    return await writer.commit(DeliverySummary(PROVENANCE, len(data), digest, "video/mp4"))


async def object_bytes(client: Any, key: str) -> tuple[bytes, dict[str, Any]]:
    answer = await client.get_object(Bucket=BUCKET, Key=key)
    async with answer["Body"] as body:
        return await body.read(), answer


@pytest.mark.parametrize("size", [12 * MiB + 3, 300_000], ids=["multipart", "single-put"])
async def test_uploads_with_provenance_metadata(
    seaweed: SeaweedFS, s3_client: Any, http: aiohttp.ClientSession, size: int
) -> None:
    prefix = unique_prefix()
    data = os.urandom(size)
    location = await upload(make_sink(seaweed, prefix), http, data)
    key = f"{prefix}/alibaba_wan-2-7-r2v/2026-05-06/job-s3.mp4"
    assert location == f"s3://{BUCKET}/{key}"
    stored, answer = await object_bytes(s3_client, key)
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()
    assert answer["ContentType"] == "video/mp4"
    assert answer["Metadata"] == {
        "job-id": "job-s3",
        "model": "alibaba/wan-2-7-r2v",
        "spec-version": "1",
        "sha256": hashlib.sha256(data).hexdigest(),
        "source-url": "https://cdn.example/v.mp4",
        "delivered-at": "2026-05-06T00:00:00+00:00",
    }
    assert await pending_uploads_under(s3_client, prefix) == []


async def test_an_abort_mid_stream_leaves_no_object_and_no_pending_upload(
    seaweed: SeaweedFS, s3_client: Any, http: aiohttp.ClientSession
) -> None:
    prefix = unique_prefix()
    sink = make_sink(seaweed, prefix)
    writer = await sink.open(SinkContext(PROVENANCE, "mp4", "video/mp4", None, VirtualClock(), http))
    await writer.write(os.urandom(11 * MiB))  # two parts uploaded, one part's worth buffered
    assert len(await pending_uploads_under(s3_client, prefix)) == 1
    await writer.abort()
    assert await pending_uploads_under(s3_client, prefix) == []
    assert await keys_under(s3_client, prefix) == []


async def test_abort_after_commit_deletes_the_object(
    seaweed: SeaweedFS, s3_client: Any, http: aiohttp.ClientSession
) -> None:
    prefix = unique_prefix()
    sink = make_sink(seaweed, prefix)
    writer = await sink.open(SinkContext(PROVENANCE, "mp4", "video/mp4", None, VirtualClock(), http))
    await writer.write(os.urandom(6 * MiB))
    await writer.commit(DeliverySummary(PROVENANCE, 6 * MiB, "0" * 64, "video/mp4"))
    assert len(await keys_under(s3_client, prefix)) == 1
    await writer.abort()
    assert await keys_under(s3_client, prefix) == []


async def test_a_missing_bucket_fails_before_any_byte(seaweed: SeaweedFS, http: aiohttp.ClientSession) -> None:
    options = {**seaweed.options(), "bucket": "no-such-bucket-here"}
    sink = sink_from_name("s3", **options)
    with pytest.raises(SinkError, match="no-such-bucket-here"):
        await sink.open(SinkContext(PROVENANCE, "mp4", "video/mp4", None, VirtualClock(), http))  # type: ignore[union-attr]


async def test_an_existing_key_is_not_overwritten_without_overwrite(
    seaweed: SeaweedFS, s3_client: Any, http: aiohttp.ClientSession
) -> None:
    prefix = unique_prefix()
    await upload(make_sink(seaweed, prefix), http, b"first")
    with pytest.raises(SinkError, match="exists"):
        await upload(make_sink(seaweed, prefix), http, b"second")
    await upload(make_sink(seaweed, prefix, overwrite=True), http, b"third")
    [key] = await keys_under(s3_client, prefix)
    assert (await object_bytes(s3_client, key))[0] == b"third"


async def test_credentials_come_from_the_standard_environment(
    seaweed: SeaweedFS, s3_client: Any, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweed.endpoint_url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    prefix = unique_prefix()
    sink = sink_from_name("s3", bucket=BUCKET, prefix=prefix)
    assert seaweed.secret_key not in repr(sink)
    await upload(sink, http, b"from the environment")  # type: ignore[arg-type]
    assert len(await keys_under(s3_client, prefix)) == 1


def test_parts_below_the_s3_minimum_are_refused() -> None:
    with pytest.raises(ValueError, match="5 MiB"):
        S3Sink(bucket="b", part_size=MiB)


class CountingParts:
    """Wraps a writer's client: counts the parts travelling at once, can fail one part."""

    def __init__(self, client: Any, fail_part: int | None = None) -> None:
        self.client, self.fail_part = client, fail_part
        self.travelling = self.most = 0
        self.bodies: list[object] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    async def upload_part(self, **kwargs: Any) -> Any:
        self.travelling += 1
        self.most = max(self.most, self.travelling)
        self.bodies.append(kwargs["Body"])
        try:
            if kwargs["PartNumber"] == self.fail_part:
                raise OSError("connection reset by peer")
            return await self.client.upload_part(**kwargs)
        finally:
            self.travelling -= 1


@pytest.mark.parametrize("in_flight", [1, 3])
async def test_parts_travel_concurrently_up_to_the_bound(
    seaweed: SeaweedFS, s3_client: Any, http: aiohttp.ClientSession, in_flight: int
) -> None:
    prefix = unique_prefix()
    data = os.urandom(31 * MiB + 5)  # six full 5 MiB parts and a short seventh, in 1 MiB chunks
    sink = make_sink(seaweed, prefix, parts_in_flight=in_flight)
    writer = await sink.open(SinkContext(PROVENANCE, "mp4", "video/mp4", len(data), VirtualClock(), http))
    counting = writer.client = CountingParts(writer.client)
    for start in range(0, len(data), MiB):
        await writer.write(data[start : start + MiB])
    location = await writer.commit(DeliverySummary(PROVENANCE, len(data), hashlib.sha256(data).hexdigest(), None))
    assert counting.most == in_flight
    assert len(counting.bodies) == 7
    assert all(isinstance(body, bytearray) for body in counting.bodies), "each part buffer is sent as it is"
    stored, _ = await object_bytes(s3_client, location.split("/", 3)[3])
    assert stored == data, "parts completed out of order are assembled in order"


async def test_a_failed_part_aborts_the_upload(
    seaweed: SeaweedFS, s3_client: Any, http: aiohttp.ClientSession
) -> None:
    prefix = unique_prefix()
    sink = make_sink(seaweed, prefix, parts_in_flight=2)
    writer = await sink.open(SinkContext(PROVENANCE, "mp4", "video/mp4", None, VirtualClock(), http))
    writer.client = CountingParts(writer.client, fail_part=2)
    with pytest.raises(SinkError, match="OSError"):
        for _ in range(30):
            await writer.write(os.urandom(MiB))
        await writer.commit(DeliverySummary(PROVENANCE, 30 * MiB, "0" * 64, None))
    await writer.abort()
    assert await pending_uploads_under(s3_client, prefix) == []
    assert await keys_under(s3_client, prefix) == []


def test_at_least_one_part_travels() -> None:
    with pytest.raises(ValueError, match="parts_in_flight"):
        S3Sink(bucket="b", parts_in_flight=0)


async def test_adopt_recognises_only_its_own_object(
    seaweed: SeaweedFS, http: aiohttp.ClientSession
) -> None:
    prefix = unique_prefix()
    sink = make_sink(seaweed, prefix)
    data = os.urandom(300_000)
    location = await upload(sink, http, data)
    assert await sink.adopt(location, hashlib.sha256(data).hexdigest())
    assert not await sink.adopt(location, hashlib.sha256(b"another video").hexdigest())
    assert not await sink.adopt(location + "-missing", hashlib.sha256(data).hexdigest())
    assert not await sink.adopt(f"s3://another-bucket/{prefix}/x.mp4", hashlib.sha256(data).hexdigest())


async def test_resume_adopts_the_object_committed_just_before_a_crash(
    seaweed: SeaweedFS, s3_client: Any, http: aiohttp.ClientSession, tmp_path: Any
) -> None:
    """Journal: the S3 sink was 'committing' when the process died, and the object had landed."""
    from wan_engine.journal import DeliveryState, SqliteJournal
    from wan_engine.journal.durable import DurableEngine
    from wan_engine.journal.records import ResultRecord
    from wan_engine.sinks.config import SinkConfig
    from wan_engine.states import JobState

    prefix, data = unique_prefix(), os.urandom(300_000)
    location = await upload(make_sink(seaweed, prefix), http, data)  # the commit the crash interrupted
    key_in_bucket = location.removeprefix(f"s3://{BUCKET}/")
    before = (await s3_client.head_object(Bucket=BUCKET, Key=key_in_bucket))["LastModified"]
    options = seaweed.options()
    env = {"S3_ID": options.pop("access_key_id"), "S3_SECRET": options.pop("secret_access_key")}
    config = SinkConfig(
        "s3", {**options, "prefix": prefix, "name": "s3"},
        secret_env={"access_key_id": "S3_ID", "secret_access_key": "S3_SECRET"},
    )  # fmt: skip
    at = datetime(2026, 5, 6, tzinfo=UTC)
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    job = journal.intend(model="alibaba/wan-2-7-r2v", spec_version="1", params={"prompt": "x"}, sinks=[config], at=at)
    journal.mark_submitted(job, "job-s3", at)
    journal.record_status(job, JobState.SUCCEEDED, "completed", at)
    # A result URL nobody answers: adopting must not download the video again.
    journal.record_result(job, ResultRecord(("http://127.0.0.1:9/never-fetched.mp4",), {}, at, 3), at)
    digest = hashlib.sha256(data).hexdigest()
    journal.record_delivery(job, "s3", DeliveryState.COMMITTING, at, location=location, sha256=digest, size=len(data))
    async with DurableEngine(journal=journal, env={"AIMLAPI_KEY": "k", **env}) as engine:
        report = await engine.resume(env=env)
    [outcome] = report.jobs
    assert outcome.after == "delivered" and outcome.delivered == ("s3",)
    record = journal.get(job)
    assert record is not None and record.sinks[0].location == location
    assert "reconciled" in [h.event for h in journal.history(job)]
    after = (await s3_client.head_object(Bucket=BUCKET, Key=key_in_bucket))["LastModified"]
    assert after == before, "the object was adopted, not uploaded again"
    journal.close()
