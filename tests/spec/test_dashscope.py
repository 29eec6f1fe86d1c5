"""DashScope (Alibaba Model Studio) end to end against the sandbox: a second protocol from spec files alone.

Nested bodies (input/parameters), the async header, ids and statuses under /output, a remote
cancel that only queued tasks accept and that answers with just a request id, failed tasks,
unknown task ids answered with status UNKNOWN, and HTTP errors in DashScope's {request_id,
code, message} shape: all of it comes from specs/providers/dashscope.json and the model specs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from wan_engine.client.engine import Engine
from wan_engine.client.events import StatusChanged
from wan_engine.client.polling import FixedInterval
from wan_engine.clock import VirtualClock
from wan_engine.errors import (
    AuthenticationError,
    JobCancelledError,
    JobFailedError,
    RateLimitedError,
    RequestRejectedError,
)
from wan_engine.sandbox import FaultPlan, FaultRule, Sandbox, SandboxConfig
from wan_engine.spec.params import build_body, prepare
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState

R2V = "dashscope/wan2.7-r2v"
EDIT = "dashscope/wan2.7-videoedit"
KEY = "sk-dashscope-test"
PARAMS: dict[str, Any] = {
    "prompt": "Image 1 dances on a rooftop.",
    "media": [{"type": "reference_image", "url": "https://example.com/a.png"}],
    "duration": 5,
}


@asynccontextmanager
async def dashscope(
    registry: SpecRegistry, *faults: str, duration_s: float = 200.0, key: str = KEY
) -> AsyncIterator[tuple[Engine, Sandbox, VirtualClock]]:
    clock = VirtualClock()
    config = SandboxConfig(
        duration_s=duration_s,
        clock=clock.now,
        wall_clock=lambda: clock.wall().timestamp(),
        api_key=KEY,
        faults=FaultPlan(tuple(FaultRule.parse(f) for f in faults)),
    )
    async with Sandbox(registry, config) as sandbox:
        engine = Engine(
            registry, base_urls=sandbox.base_urls(), env={"DASHSCOPE_API_KEY": key}, clock=clock, strategy="fixed"
        )
        async with engine:
            yield engine, sandbox, clock


def test_the_body_is_nested_as_dashscope_expects(registry: SpecRegistry) -> None:
    spec = registry.model(R2V)
    body = build_body(spec, prepare(spec, PARAMS))
    assert body == {
        "model": "wan2.7-r2v",
        "input": {"prompt": PARAMS["prompt"], "media": PARAMS["media"]},
        "parameters": {
            "resolution": "1080P",
            "ratio": "16:9",
            "duration": 5,
            "prompt_extend": True,
            "watermark": False,
        },
    }
    assert spec.submit_endpoint.headers == {"X-DashScope-Async": "enable"}
    edit = registry.model(EDIT)
    edit_body = build_body(edit, prepare(edit, {"media": [{"type": "video", "url": "https://example.com/v.mp4"}]}))
    assert edit_body["input"] == {"media": [{"type": "video", "url": "https://example.com/v.mp4"}]}
    assert edit_body["parameters"]["duration"] == 0 and edit_body["parameters"]["audio_setting"] == "auto"


async def test_submit_poll_result(registry: SpecRegistry) -> None:
    async with dashscope(registry) as (engine, sandbox, _clock):
        job = await engine.submit(R2V, PARAMS)
        seen: list[str] = []
        job.on(lambda e: seen.append(e.provider_status) if isinstance(e, StatusChanged) else None)
        assert job.state is JobState.QUEUED and job.provider_status == "PENDING"
        result = await job.wait(strategy=FixedInterval(15))
        assert seen[0] == "PENDING" and "RUNNING" in seen and seen[-1] == "SUCCEEDED"
        assert result.video_url.startswith(sandbox.url)
        assert result.response["output"]["task_id"] == job.id
        assert sandbox.submissions == {R2V: 1}
        paths = [entry.path for entry in sandbox.request_log]
        assert paths[0] == "/dashscope/api/v1/services/aigc/video-generation/video-synthesis"
        assert all(p == f"/dashscope/api/v1/tasks/{job.id}" for p in paths[1:])


async def test_cancel_a_pending_task_remotely(registry: SpecRegistry) -> None:
    async with dashscope(registry, duration_s=600) as (engine, sandbox, _clock):
        job = await engine.submit(R2V, PARAMS)
        waiter = asyncio.ensure_future(job.wait(strategy=FixedInterval(15)))
        await asyncio.sleep(0)
        assert await job.cancel() is True
        with pytest.raises(JobCancelledError) as caught:
            await waiter
        assert caught.value.remote is True
        assert sandbox.jobs[job.id].cancelled
        assert ("POST", f"/dashscope/api/v1/tasks/{job.id}/cancel", 200) in sandbox.request_log
        # A later look at the task says CANCELED, which the spec maps to cancelled.
        assert await job.refresh() is JobState.CANCELLED and job.provider_status == "CANCELED"


async def test_the_state_right_after_a_remote_cancel_is_cancelled(registry: SpecRegistry) -> None:
    async with dashscope(registry, duration_s=600) as (engine, _sandbox, _clock):
        job = await engine.submit(R2V, PARAMS)
        await job.cancel()
        assert job.state is JobState.CANCELLED


async def test_a_running_task_cannot_be_cancelled(registry: SpecRegistry) -> None:
    async with dashscope(registry, duration_s=100) as (engine, sandbox, clock):
        job = await engine.submit(R2V, PARAMS)
        await clock.sleep(30)
        assert await job.refresh() is JobState.RUNNING
        with pytest.raises(RequestRejectedError) as caught:
            await job.cancel()
        assert caught.value.status == 409 and "RUNNING" in (caught.value.provider_message or "")
        assert not sandbox.jobs[job.id].cancelled


async def test_a_failed_task_reports_its_code_and_message(registry: SpecRegistry) -> None:
    fault = "submit:job_fails:message=The input media could not be downloaded.:code=InvalidParameter.DataInspection"
    async with dashscope(registry, fault) as (engine, _sandbox, _clock):
        job = await engine.submit(R2V, PARAMS)
        with pytest.raises(JobFailedError) as caught:
            await job.wait(strategy=FixedInterval(15))
        assert caught.value.code == "InvalidParameter.DataInspection"
        assert caught.value.provider_message == "The input media could not be downloaded."
        assert job.provider_status == "FAILED"
        assert job.last_response["output"]["code"] == "InvalidParameter.DataInspection"


async def test_an_unknown_task_id_answers_unknown_and_fails(registry: SpecRegistry) -> None:
    async with dashscope(registry) as (engine, sandbox, _clock):
        with pytest.raises(JobFailedError):
            await engine.job(R2V, "no-such-task").wait(strategy=FixedInterval(15))
        assert sandbox.request_log[-1].status == 200


async def test_a_bad_key_is_refused_in_dashscope_words(registry: SpecRegistry) -> None:
    async with dashscope(registry, key="sk-wrong") as (engine, sandbox, _clock):
        with pytest.raises(AuthenticationError) as caught:
            await engine.submit(R2V, PARAMS)
        assert caught.value.status == 401 and caught.value.provider_message == "Invalid API key"
        assert sandbox.submission_count == 0


async def test_http_errors_have_dashscope_shape(registry: SpecRegistry) -> None:
    async with dashscope(registry) as (_engine, sandbox, _clock), aiohttp.ClientSession() as session:
        url = sandbox.base_url("dashscope") + "/api/v1/tasks/anything"
        async with session.get(url) as response:
            assert response.status == 401
            document = json.loads(await response.text())
    assert set(document) == {"request_id", "code", "message"} and document["code"] == "InvalidApiKey"


async def test_rate_limited_status_reads_are_retried(registry: SpecRegistry) -> None:
    async with dashscope(registry, "status:rate_limit:times=2:retry_after=1") as (engine, sandbox, _clock):
        result = await engine.run(R2V, PARAMS, strategy=FixedInterval(15))
        assert result.video_url
        assert [e.status for e in sandbox.request_log].count(429) == 2
        assert sandbox.submission_count == 1


async def test_a_rate_limited_submit_says_throttling(registry: SpecRegistry) -> None:
    async with dashscope(registry, "submit:rate_limit:retry_after=1") as (engine, sandbox, _clock):
        with pytest.raises(RateLimitedError) as caught:
            await engine.submit(R2V, PARAMS)
        assert caught.value.status == 429 and sandbox.submission_count == 0


async def test_the_async_header_is_required(registry: SpecRegistry) -> None:
    spec = registry.model(R2V)
    async with dashscope(registry) as (_engine, sandbox, _clock), aiohttp.ClientSession() as session:
        url = sandbox.base_url("dashscope") + "/api/v1/services/aigc/video-generation/video-synthesis"
        body = build_body(spec, prepare(spec, PARAMS))
        async with session.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"}) as response:
            assert response.status == 400
            document = await response.json()
        assert document["code"] == "InvalidParameter" and "X-DashScope-Async" in document["message"]
        assert sandbox.submission_count == 0


async def test_a_cancel_refused_for_now_is_retried_and_one_that_keeps_failing_is_a_typed_error(
    registry: SpecRegistry,
) -> None:
    from wan_engine.client.provider_client import RetryPolicy
    from wan_engine.errors import ServerError

    async with dashscope(registry, "cancel:rate_limit:times=1:retry_after=2", duration_s=600) as (engine, _sb, clock):
        job = await engine.submit(R2V, PARAMS)
        assert await job.cancel() is True
        assert job.state is JobState.CANCELLED and 2 in clock.sleeps
    async with dashscope(registry, "cancel:server_error:status=500", duration_s=600) as (engine, _sb, _clock):
        engine.client.retry = RetryPolicy(attempts=2)
        job = await engine.submit(R2V, PARAMS)
        with pytest.raises(ServerError) as caught:
            await job.cancel()
        assert caught.value.job_id == job.id
