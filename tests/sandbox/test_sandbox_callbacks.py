"""The sandbox's callbacks on their own: what it sends, how it signs, and each fault, against a
real local server that records what arrives (and can answer errors, or not be there at all)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import standardwebhooks
from aiohttp import web

from wan_engine.sandbox.callbacks import DEFAULT_SECRET, CallbackFaults
from wan_engine.sandbox.config import SandboxConfig
from wan_engine.sandbox.server import Sandbox
from wan_engine.spec.registry import SpecRegistry


class Recorder:
    """A callback endpoint: keeps (path, headers, body) of every POST; answers ``statuses`` in order, then 200."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((request.path, dict(request.headers), await request.read()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    app = web.Application()
    app.router.add_post("/{provider}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    rec.url = f"http://{host}:{port}"
    yield rec
    await runner.cleanup()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def submit(sandbox: Sandbox, provider: str, path: str, body: dict[str, Any], **query: str) -> str:
    async with aiohttp.ClientSession() as session:
        auth = {"fal": "Key k"}.get(provider, "Bearer k")
        async with session.post(
            f"{sandbox.base_url(provider)}{path}", json=body, params=query, headers={"Authorization": auth}
        ) as response:
            assert response.status == 200, await response.text()
            document = await response.json()
    return str(document.get("id") or document.get("request_id"))


REPLICATE = ("replicate", "/v1/models/minimax/video-01/predictions")


async def start(faults: CallbackFaults | None = None) -> tuple[Sandbox, Clock]:
    clock = Clock()
    config = SandboxConfig(duration_s=10, clock=clock, callback_faults=faults or CallbackFaults(retry_delay_s=0.01))
    sandbox = Sandbox(SpecRegistry.discover(), config)
    await sandbox.start()
    return sandbox, clock


async def test_replicate_callbacks_are_standard_webhooks_signed_predictions(recorder: Recorder) -> None:
    sandbox, clock = await start()
    try:
        webhook = f"{recorder.url}/replicate"
        body = {"input": {"prompt": "x"}, "webhook": webhook, "webhook_events_filter": ["completed"]}
        job_id = await submit(sandbox, *REPLICATE, body)
        assert await sandbox.send_due_callbacks() == 0  # not done yet: nothing sent
        clock.now = 11
        assert await sandbox.send_due_callbacks() == 1
    finally:
        await sandbox.stop()
    (path, headers, raw), = recorder.calls
    assert path == "/replicate"
    verified = standardwebhooks.Webhook(DEFAULT_SECRET).verify(raw, headers)  # the reference library agrees
    assert verified["id"] == job_id and verified["status"] == "succeeded" and verified["output"].endswith(".mp4")
    assert sandbox.jobs[job_id].params == {"prompt": "x"}  # the webhook fields were not taken as parameters


async def test_fal_callbacks_use_fals_envelope_and_the_query_url(recorder: Recorder) -> None:
    sandbox, clock = await start()
    try:
        path = "/fal-ai/minimax/hailuo-02/standard/text-to-video"
        job_id = await submit(sandbox, "fal", path, {"prompt": "x"}, fal_webhook=f"{recorder.url}/fal")
        clock.now = 11
        await sandbox.send_due_callbacks()
    finally:
        await sandbox.stop()
    (_, headers, raw), = recorder.calls
    document = json.loads(raw)
    assert document["request_id"] == job_id and document["status"] == "OK"
    assert document["payload"]["video"]["url"].endswith(".mp4")
    assert "webhook-signature" not in headers  # fal's ED25519 scheme is not produced: its callbacks are hints


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        (CallbackFaults(drop=1.0), 0),
        (CallbackFaults(duplicate=1.0), 2),
        (CallbackFaults(out_of_order=1.0), 2),
    ],
    ids=["dropped", "twice", "out-of-order"],
)
async def test_callback_faults(recorder: Recorder, faults: CallbackFaults, expected: int) -> None:
    sandbox, clock = await start(faults)
    try:
        await submit(sandbox, *REPLICATE, {"input": {"prompt": "x"}, "webhook": f"{recorder.url}/replicate"})
        clock.now = 11
        await sandbox.send_due_callbacks()
    finally:
        await sandbox.stop()
    assert len(recorder.calls) == expected
    statuses = [json.loads(raw)["status"] for _, _, raw in recorder.calls]
    if faults.duplicate:
        assert recorder.calls[0][1]["webhook-id"] == recorder.calls[1][1]["webhook-id"]
    if faults.out_of_order:
        assert statuses == ["succeeded", "starting"] or statuses == ["succeeded", "processing"]


async def test_a_bad_signature_fails_verification(recorder: Recorder) -> None:
    sandbox, clock = await start(CallbackFaults(bad_signature=1.0))
    try:
        await submit(sandbox, *REPLICATE, {"input": {"prompt": "x"}, "webhook": f"{recorder.url}/replicate"})
        clock.now = 11
        await sandbox.send_due_callbacks()
    finally:
        await sandbox.stop()
    (_, headers, raw), = recorder.calls
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(DEFAULT_SECRET).verify(raw, headers)


async def test_late_callbacks_leave_late(recorder: Recorder) -> None:
    sandbox, clock = await start(CallbackFaults(late_s=0.3))
    try:
        await submit(sandbox, *REPLICATE, {"input": {"prompt": "x"}, "webhook": f"{recorder.url}/replicate"})
        clock.now = 11
        started = time.monotonic()
        await sandbox.send_due_callbacks()
        took = time.monotonic() - started
    finally:
        await sandbox.stop()
    assert took >= 0.3 and len(recorder.calls) == 1


async def test_errors_are_retried_then_given_up_and_a_down_receiver_is_logged(recorder: Recorder) -> None:
    sandbox, clock = await start(CallbackFaults(attempts=3, retry_delay_s=0.01))
    try:
        recorder.statuses = [500, 503]
        await submit(sandbox, *REPLICATE, {"input": {"prompt": "x"}, "webhook": f"{recorder.url}/replicate"})
        await submit(sandbox, *REPLICATE, {"input": {"prompt": "y"}, "webhook": "http://127.0.0.1:9/replicate"})
        clock.now = 11
        await sandbox.send_due_callbacks()
    finally:
        await sandbox.stop()
    assert len(recorder.calls) == 3  # 500, 503, then 200
    log = sandbox.callback_log
    assert [a.status for a in log if a.status is not None] == [500, 503, 200]
    assert [a.status for a in log if a.status is None] == [None, None, None]  # nobody on port 9: three tries


async def test_jobs_that_asked_for_no_callback_get_none(recorder: Recorder) -> None:
    sandbox, clock = await start()
    try:
        await submit(sandbox, *REPLICATE, {"input": {"prompt": "x"}})
        clock.now = 11
        assert await sandbox.send_due_callbacks() == 0
    finally:
        await sandbox.stop()
    assert recorder.calls == []
