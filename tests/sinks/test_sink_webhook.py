"""The webhook sink against a real receiver that verifies Standard Webhooks signatures."""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import attrs
import pytest
from support.webhook_receiver import RAW_SECRET, SECRET, Receiver, receiver

from wan_engine.clock import SystemClock, VirtualClock
from wan_engine.errors import WebhookFailedError
from wan_engine.sinks import DeliverySummary, Provenance, SinkContext, sink_from_name
from wan_engine.sinks.webhook import SecretStr, WebhookSink

__all__ = ["receiver"]  # the fixture, imported to be found by pytest


def summary() -> DeliverySummary:
    prov = Provenance("job-9", "alibaba/wan-2-7-r2v", "1", "https://cdn.example/v.mp4?sig=x", datetime.now(UTC))
    return DeliverySummary(prov, 1234, "ab" * 32, "video/mp4", {"file": "/videos/job-9.mp4", "s3": "s3://b/k.mp4"})


def ctx(http: aiohttp.ClientSession, clock: Any = None) -> SinkContext:
    return SinkContext(summary().provenance, "mp4", "video/mp4", 1234, clock or SystemClock(), http)


class RealWallVirtualClock(VirtualClock):
    """Sleeps cost nothing, but signatures carry today's time so the receiver accepts them."""

    def __init__(self, wall_offset: timedelta = timedelta()) -> None:
        super().__init__(wall_start=datetime.now(UTC) + wall_offset)


async def test_a_signed_event_is_verified_by_the_receiver(receiver: Receiver, http: aiohttp.ClientSession) -> None:
    sink = sink_from_name("webhook", url=receiver.url, secret=SECRET)
    assert isinstance(sink, WebhookSink)
    receipt = await sink.notify(summary(), ctx(http))
    assert receipt.startswith(receiver.url) and "204" in receipt
    [got] = receiver.verified
    assert got["id"].startswith("msg_")
    assert got["event"]["type"] == "video.delivered"
    data = got["event"]["data"]
    assert data["job_id"] == "job-9" and data["model"] == "alibaba/wan-2-7-r2v"
    assert data["sha256"] == "ab" * 32 and data["size"] == 1234
    assert data["locations"] == {"file": "/videos/job-9.mp4", "s3": "s3://b/k.mp4"}
    assert data["source_url"] == "https://cdn.example/v.mp4"


async def test_the_receiver_rejects_a_tampered_body(receiver: Receiver, http: aiohttp.ClientSession) -> None:
    await WebhookSink(receiver.url, SECRET).notify(summary(), ctx(http))
    body, headers = receiver.raw[0]
    tampered = body.replace(b'"size":1234', b'"size":9999')
    assert tampered != body
    forwarded = {k: v for k, v in headers.items() if k.lower().startswith("webhook-")}
    async with http.post(receiver.url, data=tampered, headers=forwarded) as response:
        assert response.status == 400
    assert receiver.rejected == ["No matching signature found"]


async def test_a_stale_timestamp_is_rejected_and_reported(receiver: Receiver, http: aiohttp.ClientSession) -> None:
    clock = RealWallVirtualClock(wall_offset=timedelta(minutes=-10))
    sink = WebhookSink(receiver.url, SECRET, attempts=3, rng=random.Random(1))
    with pytest.raises(WebhookFailedError, match="answered 400") as caught:
        await sink.notify(summary(), ctx(http, clock))
    assert receiver.rejected == ["Message timestamp too old"]
    assert clock.sleeps == [], "a 400 is final: no retry"
    assert caught.value.sink == "webhook"


async def test_retries_with_jittered_backoff_on_the_injected_clock(
    receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    receiver.script = [503, 500, 429]
    clock = RealWallVirtualClock()
    sink = WebhookSink(receiver.url, SECRET, attempts=5, base_delay_s=1.0, rng=random.Random(7))
    receipt = await sink.notify(summary(), ctx(http, clock))
    assert "attempt 4" in receipt
    assert len(receiver.verified) == 1
    assert len({headers["webhook-id"] for _, headers in receiver.raw}) == 1, "one id across retries (dedup)"
    for attempt, slept in enumerate(clock.sleeps, start=1):
        ceiling = 1.0 * 2 ** (attempt - 1)
        assert ceiling / 2 <= slept <= ceiling
    assert len(set(clock.sleeps)) == 3


async def test_a_timeout_counts_as_a_failed_attempt(receiver: Receiver, http: aiohttp.ClientSession) -> None:
    receiver.delay_s = 0.5
    clock = RealWallVirtualClock()
    sink = WebhookSink(receiver.url, SECRET, attempts=2, timeout_s=0.1)
    with pytest.raises(WebhookFailedError, match="timed out"):
        await sink.notify(summary(), ctx(http, clock))
    assert len(clock.sleeps) == 1


async def test_the_secret_never_shows(
    receiver: Receiver, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.script = [500, 500]
    sink = WebhookSink(receiver.url, SECRET, attempts=2, rng=random.Random(3))
    with pytest.raises(WebhookFailedError) as caught:
        await sink.notify(summary(), ctx(http, RealWallVirtualClock()))
    texts = [repr(sink), str(sink), repr(sink.secret), str(sink.secret), str(caught.value), repr(caught.value)]
    texts += [record.getMessage() for record in caplog.records]
    texts += [json.dumps(headers) + body.decode() for body, headers in receiver.raw]
    for text in texts:
        assert SECRET not in text and RAW_SECRET not in text
    assert any("webhook" in record.getMessage() for record in caplog.records), "the retries were logged"


def test_a_bad_secret_is_refused_without_quoting_it() -> None:
    for bad in ("whsec_", "whsec_Qx7Zk"):
        with pytest.raises(ValueError, match="not a Standard Webhooks secret") as caught:
            WebhookSink("http://127.0.0.1:9/hooks", bad)
        assert "Qx7Zk" not in str(caught.value)
    with pytest.raises(ValueError, match="http"):
        WebhookSink("file:///etc/hooks", SECRET)
    assert SecretStr(SECRET) == SecretStr(SecretStr(SECRET))


async def test_a_notice_sent_again_carries_the_same_id(receiver: Receiver, http: aiohttp.ClientSession) -> None:
    """After a crash the notice is sent again: receivers drop ids they have seen, so the id must not change."""
    sink = WebhookSink(url=receiver.url, secret=SECRET)
    await sink.notify(summary(), ctx(http))
    await WebhookSink(url=receiver.url, secret=SECRET).notify(summary(), ctx(http))
    first, second = receiver.verified
    assert first["id"] == second["id"]
    other_job = attrs.evolve(summary(), provenance=attrs.evolve(summary().provenance, job_id="job-10"))
    await sink.notify(other_job, ctx(http))
    assert receiver.verified[2]["id"] != first["id"]
