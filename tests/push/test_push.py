"""Push with polling as the safety net, end to end on real sockets: the sandbox calls back, the
receiver verifies and wakes, the engine reads as little as it can; faults prove nothing breaks.

Time is scaled (ScaledClock, x1000): a model's typical duration of minutes runs in a fraction of
a second, the sandbox ages its jobs on the same clock, and the safety polls come at their
scaled times, so a lost callback really is caught by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import standardwebhooks

from wan_engine.client.engine import Engine
from wan_engine.client.push import PushHub, SafetyNet
from wan_engine.clock import ScaledClock
from wan_engine.receiver.app import CallbackReceiver, ReceiverServer
from wan_engine.sandbox.callbacks import DEFAULT_SECRET, CallbackFaults
from wan_engine.sandbox.config import SandboxConfig
from wan_engine.sandbox.server import Sandbox
from wan_engine.spec import webhook_signature
from wan_engine.spec.model import SafetyPolling
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState

FACTOR = 1000.0
MODELS = {
    "replicate": ("replicate/minimax/video-01", {"prompt": "A harbour at dawn."}),
    "lumalabs": ("lumalabs/ray-2", {"prompt": "A teddy bear playing guitar.", "duration": "5s"}),
    "fal": ("fal-ai/minimax/hailuo-02/standard/text-to-video", {"prompt": "A fox in snow.", "duration": "6"}),
}
ENV = {
    "REPLICATE_API_TOKEN": "r8_test-key",
    "LUMAAI_API_KEY": "luma-test-key",
    "FAL_KEY": "fal-test-key",
    "REPLICATE_WEBHOOK_SECRET": DEFAULT_SECRET,
}


@pytest.fixture(scope="module")
def registry() -> SpecRegistry:
    return SpecRegistry.discover()


@pytest.fixture
def no_safety_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """Push the safety poll out of reach, so a job that ends proves a callback ended it."""
    far = SafetyNet(SafetyPolling(first_after_typical=1000.0))
    monkeypatch.setattr(SafetyNet, "for_callbacks", classmethod(lambda cls, callbacks: far))


@contextlib.asynccontextmanager
async def stack(
    registry: SpecRegistry, faults: CallbackFaults | None = None, *, receiver_up: bool = True
) -> AsyncIterator[tuple[Sandbox, Engine, CallbackReceiver, PushHub]]:
    clock = ScaledClock(FACTOR)
    config = SandboxConfig(realistic=True, clock=clock.now, callback_faults=faults or CallbackFaults())
    async with Sandbox(registry, config) as sandbox:
        hub = PushHub("http://127.0.0.1:9/callbacks")  # replaced below once the receiver has a port
        receiver = CallbackReceiver(registry, hub, env=ENV)
        async with ReceiverServer(receiver) as server:
            assert server.url is not None
            hub.public_url = server.url if receiver_up else "http://127.0.0.1:9"  # port 9: nobody listens
            async with Engine(registry, base_urls=sandbox.base_urls(), env=ENV, clock=clock, push=hub) as engine:
                yield sandbox, engine, receiver, hub


def status_reads(sandbox: Sandbox, job_id: str) -> int:
    return sum(1 for r in sandbox.request_log if r.method == "GET" and job_id in r.path and "_media" not in r.path)


@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_a_callback_ends_the_wait_with_at_most_two_reads(
    registry: SpecRegistry, provider: str, no_safety_poll: None
) -> None:
    model, params = MODELS[provider]
    async with stack(registry) as (sandbox, engine, _receiver, hub):
        job = await engine.submit(model, params)
        result = await asyncio.wait_for(job.wait(), timeout=30)
        sandbox_job = sandbox.jobs[job.id]
        delay = (engine.clock.now() - sandbox_job.completes_at) / FACTOR  # real seconds after completion
    assert result.video_url.endswith(".mp4")
    assert delay < 1.0
    assert hub.counts["woke"] >= 1
    reads = status_reads(sandbox, job.id)
    # Replicate's callbacks are signed and believed: no read at all. Luma's are unsigned hints: one
    # status read. fal's are hints too, and its result is a second request: two.
    assert reads == {"replicate": 0, "lumalabs": 1, "fal": 2}[provider]
    assert sandbox.submission_count == 1


@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_with_every_callback_dropped_the_job_completes_by_polling(registry: SpecRegistry, provider: str) -> None:
    model, params = MODELS[provider]
    async with stack(registry, CallbackFaults(drop=1.0)) as (sandbox, engine, receiver, hub):
        job = await engine.submit(model, params)
        result = await job.wait()
    assert result.video_url.endswith(".mp4")
    assert hub.counts["woke"] == 0 and receiver.verdicts == []
    assert 1 <= job.polls <= 3
    assert sandbox.submission_count == 1


async def test_a_receiver_that_is_down_costs_delay_not_the_job(registry: SpecRegistry) -> None:
    model, params = MODELS["replicate"]
    async with stack(registry, receiver_up=False) as (sandbox, engine, _receiver, _hub):
        job = await engine.submit(model, params)
        result = await job.wait()
    assert result.video_url.endswith(".mp4")
    attempts = [a for a in sandbox.callback_log if a.job_id == job.id]
    assert attempts and all(a.status is None for a in attempts)  # every try found nobody listening
    assert job.polls >= 1


async def test_duplicate_and_out_of_order_callbacks_change_nothing(
    registry: SpecRegistry, no_safety_poll: None
) -> None:
    model, params = MODELS["replicate"]
    faults = CallbackFaults(duplicate=1.0, out_of_order=1.0)
    async with stack(registry, faults) as (sandbox, engine, receiver, _hub):
        job = await engine.submit(model, params)
        result = await asyncio.wait_for(job.wait(), timeout=30)
        await sandbox.send_due_callbacks()
        for _ in range(50):  # let the stale ones land
            if len(receiver.verdicts) >= 3:
                break
            await engine.clock.sleep(10)
    outcomes = [v.outcome for _, v in receiver.verdicts]
    assert outcomes.count("woke") == 1
    assert set(outcomes[1:]) <= {"duplicate", "finished"}
    assert job.state is JobState.SUCCEEDED and result.video_url.endswith(".mp4")
    assert job.callbacks_applied == 1
    assert status_reads(sandbox, job.id) == 0
    assert sandbox.submission_count == 1


async def test_forged_callbacks_are_refused_and_the_job_ends_by_polling(registry: SpecRegistry) -> None:
    model, params = MODELS["replicate"]
    async with stack(registry, CallbackFaults(bad_signature=1.0)) as (_sandbox, engine, receiver, hub):
        job = await engine.submit(model, params)
        result = await job.wait()
        for _ in range(500):  # on a loaded machine the forged callback may land after the safety poll
            if receiver.verdicts:
                break
            await engine.clock.sleep(10)
    assert result.video_url.endswith(".mp4")
    assert receiver.verdicts and all(v.status == 401 for _, v in receiver.verdicts)
    assert hub.counts["woke"] == 0 and job.callbacks_applied == 0
    assert job.polls >= 1


def _signed(
    body: bytes, *, secret: str = DEFAULT_SECRET, at: float | None = None, msg: str = "msg_1"
) -> dict[str, str]:
    return webhook_signature.sign(secret, msg, int(at if at is not None else time.time()), body)


async def test_stale_forged_and_unknown_job_callbacks_change_nothing_and_never_submit(registry: SpecRegistry) -> None:
    model, params = MODELS["replicate"]
    async with stack(registry, CallbackFaults(drop=1.0)) as (sandbox, engine, receiver, _hub):
        job = await engine.submit(model, params)
        submits_before = sandbox.submit_requests
        done = b'{"id": "%s", "status": "succeeded", "output": "https://evil.example/x.mp4"}' % job.id.encode()
        stale = receiver.receive("replicate", _signed(done, at=time.time() - 3600), done)
        forged = receiver.receive("replicate", _signed(done, secret="whsec_Zm9yZ2Vk"), done)
        unsigned = receiver.receive("replicate", {}, done)
        unknown_body = b'{"id": "no-such-job", "status": "succeeded", "output": "https://evil.example/x.mp4"}'
        unknown = receiver.receive("replicate", _signed(unknown_body), unknown_body)
        other = receiver.receive("aimlapi", {}, done)  # a provider without callbacks
        assert [v.status for v in (stale, forged, unsigned, unknown, other)] == [401, 401, 401, 404, 404]
        assert job.state in (None, JobState.QUEUED) and job.callbacks_applied == 0
        result = await job.wait()
    assert "evil" not in result.video_url
    assert sandbox.submit_requests == submits_before == 1  # no callback ever caused a submit
    assert sandbox.submission_count == 1


async def test_a_valid_duplicate_of_a_finished_job_is_acknowledged_not_acted_on(registry: SpecRegistry) -> None:
    model, params = MODELS["replicate"]
    async with stack(registry) as (sandbox, engine, receiver, _hub):
        job = await engine.submit(model, params)
        result = await job.wait()
        body = b'{"id": "%s", "status": "failed", "error": "late news"}' % job.id.encode()
        verdict = receiver.receive("replicate", _signed(body, msg="msg_other"), body)
    assert verdict.status == 200 and verdict.outcome == "finished"
    assert job.state is JobState.SUCCEEDED and result.video_url.endswith(".mp4")
    assert sandbox.submit_requests == 1


async def test_standard_webhooks_library_signatures_verify(registry: SpecRegistry) -> None:
    """Interop: what the reference Standard Webhooks library signs, the receiver accepts, and the reverse."""
    body = b'{"id": "x", "status": "succeeded"}'
    ours = _signed(body)
    standardwebhooks.Webhook(DEFAULT_SECRET).verify(body, ours)
    from datetime import UTC, datetime

    theirs = standardwebhooks.Webhook(DEFAULT_SECRET).sign("msg_2", datetime.now(UTC), body.decode())
    headers = {"webhook-id": "msg_2", "webhook-timestamp": str(int(time.time())), "webhook-signature": theirs}
    assert webhook_signature.verify(DEFAULT_SECRET, headers, body, time.time(), 300).message_id == "msg_2"
    stale = webhook_signature.verify(DEFAULT_SECRET, headers, body, time.time() + 301, 300)
    assert stale.message_id is None and stale.problem is not None and "tolerance" in stale.problem


async def test_the_asgi_handler_wakes_a_job(registry: SpecRegistry) -> None:
    model, params = MODELS["replicate"]
    async with stack(registry, CallbackFaults(drop=1.0)) as (_sandbox, engine, receiver, _hub):
        job = await engine.submit(model, params)
        body = b'{"id": "%s", "status": "processing"}' % job.id.encode()
        sent: list[dict[str, Any]] = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        headers = [(k.encode(), v.encode()) for k, v in _signed(body).items()]
        scope = {"type": "http", "method": "POST", "path": "/hooks/replicate", "headers": headers}
        await receiver(scope, receive, send)
        assert sent[0]["status"] == 200 and b"woke" in sent[1]["body"]
        await job.wait()
    assert job.callbacks_applied >= 1


async def test_secrets_never_reach_logs_or_verdicts(registry: SpecRegistry, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    model, params = MODELS["replicate"]
    async with stack(registry, CallbackFaults(bad_signature=0.5, duplicate=0.5)) as (sandbox, engine, receiver, hub):
        job = await engine.submit(model, params)
        await job.wait()
        body = b'{"id": "%s"}' % job.id.encode()
        receiver.receive("replicate", _signed(body, secret="whsec_Zm9yZ2Vk"), body)
    secret_part = DEFAULT_SECRET.removeprefix("whsec_")
    text = caplog.text + repr(receiver.verdicts) + repr(sandbox.callback_log) + repr(hub.counts)
    for secret in (DEFAULT_SECRET, secret_part, ENV["REPLICATE_API_TOKEN"]):
        assert secret not in text


async def test_a_receiver_without_its_secret_refuses_and_says_which_variable(registry: SpecRegistry) -> None:
    hub = PushHub("http://x")
    receiver = CallbackReceiver(registry, hub, env={})
    body = b'{"id": "x", "status": "succeeded"}'
    verdict = receiver.receive("replicate", _signed(body), body)
    assert verdict.status == 503 and "REPLICATE_WEBHOOK_SECRET" in verdict.outcome


@pytest.mark.parametrize("push", [False, True], ids=["polling", "push"])
@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_a_failed_job_fails_with_the_providers_message(registry: SpecRegistry, provider: str, push: bool) -> None:
    """fal has no failed status: a failed request is COMPLETED and its result request answers the error."""
    from wan_engine.errors import JobFailedError
    from wan_engine.sandbox.faults import FaultPlan, FaultRule

    model, params = MODELS[provider]
    rule = FaultRule(request="submit", kind="job_fails", message="content policy")
    clock = ScaledClock(FACTOR)
    config = SandboxConfig(realistic=True, clock=clock.now, faults=FaultPlan((rule,)))
    async with Sandbox(registry, config) as sandbox:
        hub = PushHub("http://unset")
        receiver = CallbackReceiver(registry, hub, env=ENV)
        async with ReceiverServer(receiver) as server:
            hub.public_url = str(server.url)
            async with Engine(
                registry, base_urls=sandbox.base_urls(), env=ENV, clock=clock, push=hub if push else None
            ) as engine:
                job = await engine.submit(model, params)
                with pytest.raises(JobFailedError, match="content policy"):
                    await job.wait()
    assert job.state is JobState.FAILED
    assert sandbox.submission_count == 1


async def test_a_callback_that_arrives_before_anyone_waits_is_kept(
    registry: SpecRegistry, no_safety_poll: None
) -> None:
    model, params = MODELS["replicate"]
    async with stack(registry) as (sandbox, engine, _receiver, hub):
        job = await engine.submit(model, params)
        for _ in range(200):  # nobody waits yet: the job ends and its callback lands
            if hub.counts["woke"]:
                break
            await engine.clock.sleep(10)
        assert hub.counts["woke"] == 1
        result = await asyncio.wait_for(job.wait(), timeout=30)
    assert result.video_url.endswith(".mp4")
    assert status_reads(sandbox, job.id) == 0


def test_a_crafted_job_id_cannot_forge_log_lines(registry: SpecRegistry, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    receiver = CallbackReceiver(registry, PushHub("http://x"), env=ENV)
    body = b'{"id": "x\\nCRITICAL all your jobs are done", "state": "completed"}'
    verdict = receiver.receive("lumalabs", {}, body)
    assert verdict.status == 404
    assert all("\n" not in record.getMessage() for record in caplog.records)


async def test_a_believed_callback_that_echoes_the_key_keeps_it_out_of_the_job(registry: SpecRegistry) -> None:
    model, params = MODELS["replicate"]
    async with stack(registry, CallbackFaults(drop=1.0)) as (_sandbox, engine, receiver, hub):
        job = await engine.submit(model, params)
        key = ENV["REPLICATE_API_TOKEN"]
        body = b'{"id": "%s", "status": "processing", "logs": "auth %s"}' % (job.id.encode(), key.encode())
        assert receiver.receive("replicate", _signed(body, msg="msg_echo"), body).outcome == "woke"
        believed = hub.mailbox("replicate", job.id).pending[-1].document
        await job.wait()
    assert "auth" in believed["logs"] and key not in repr(believed)
    assert key not in repr(receiver.verdicts)


async def test_prefer_wait_answers_a_short_job_at_submit_with_no_status_read(registry: SpecRegistry) -> None:
    """Replicate's ``Prefer: wait`` (spec ``sync_wait``): the submit answer holds until the job ends."""
    model, params = MODELS["replicate"]
    clock = ScaledClock(FACTOR)
    async with (
        Sandbox(registry, SandboxConfig(duration_s=20, clock=clock.now)) as sandbox,
        Engine(registry, base_urls=sandbox.base_urls(), env=ENV, clock=clock, sync_wait=True) as engine,
    ):
        job = await engine.submit(model, params)
        assert job.state is JobState.SUCCEEDED  # the submit's own answer said so
        result = await job.wait()
    assert result.video_url.endswith(".mp4") and job.polls == 0
    assert status_reads(sandbox, job.id) == 0 and sandbox.submission_count == 1


async def test_an_oversized_or_malformed_callback_is_refused(registry: SpecRegistry) -> None:
    import aiohttp

    hub = PushHub("http://x")
    receiver = CallbackReceiver(registry, hub, env=ENV, max_body=1000)
    async with ReceiverServer(receiver) as server, aiohttp.ClientSession() as session:
        async with session.post(f"{server.url}/lumalabs", data=b"{" + b" " * 5000 + b"}") as big:
            assert big.status == 413
        async with session.post(f"{server.url}/lumalabs", data=b"not json") as bad:
            assert bad.status == 400
        async with session.post(f"{server.url}/nobody", data=b"{}") as nobody:
            assert nobody.status == 404
    assert hub.counts == {"woke": 0, "duplicate": 0, "unknown": 0, "finished": 0}


async def test_the_receiver_mounts_in_an_apps_own_aiohttp_server(registry: SpecRegistry) -> None:
    import aiohttp
    from aiohttp import web

    hub = PushHub("http://x")
    receiver = CallbackReceiver(registry, hub, env=ENV)
    box = hub.mailbox("replicate", "job-1")
    app = web.Application()
    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/health", health)  # the app's own route
    app.add_subapp("/hooks/wan", receiver.application())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        body = b'{"id": "job-1", "status": "succeeded", "output": "https://cdn.example/v.mp4"}'
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://{host}:{port}/hooks/wan/replicate", data=body, headers=_signed(body)) as r:
                assert r.status == 200
            async with session.get(f"http://{host}:{port}/health") as health:
                assert await health.text() == "ok"
    finally:
        await runner.cleanup()
    (callback,) = box.take()
    assert callback.trusted and callback.state is JobState.SUCCEEDED
