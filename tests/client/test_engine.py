"""The engine against the sandbox: results, events, resume, cancel and deadlines."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap

import pytest
from support.engine import KEY, MODEL, VIDEO_PARAMS, sandbox_engine

from wan_engine.client.engine import Engine
from wan_engine.client.events import Completed, CostReported, Progress, StatusChanged, Submitted
from wan_engine.client.polling import FixedInterval
from wan_engine.client.sync import SyncEngine
from wan_engine.errors import (
    AuthenticationError,
    DeadlineExceededError,
    JobCancelledError,
    JobFailedError,
    ParameterValidationError,
)
from wan_engine.sandbox import SandboxConfig, running_in_thread
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState


async def test_a_job_runs_from_submit_to_a_video_url(registry: SpecRegistry) -> None:
    async with sandbox_engine(registry, duration_s=522) as (engine, sandbox, clock):
        job = await engine.submit(MODEL, VIDEO_PARAMS)
        assert job.id in sandbox.jobs
        assert job.state is JobState.QUEUED
        result = await job.wait(strategy=FixedInterval(15))
        assert result.job_id == job.id
        assert result.video_url.startswith(sandbox.url)
        assert result.timings.polls == len([s for s in clock.sleeps if s == 15])
        assert 522 <= clock.now() < 522 + 15 + 1e-6
        assert sandbox.submission_count == 1
        assert result.spec_version == registry.model(MODEL).spec_version


async def test_events_tell_every_step_in_order(registry: SpecRegistry) -> None:
    async with sandbox_engine(registry, duration_s=60) as (engine, _sandbox, _clock):
        job = await engine.submit(MODEL, VIDEO_PARAMS)
        seen_by_callback: list[object] = []
        job.on(seen_by_callback.append)
        events = [event async for event in job.events(strategy=FixedInterval(5))]
    kinds = [type(e) for e in events if not isinstance(e, Progress)]
    # The AI/ML API reports the cost on the submit answer: the event follows Submitted.
    assert kinds == [Submitted, CostReported, StatusChanged, StatusChanged, StatusChanged, Completed]
    states = [e.state for e in events if isinstance(e, StatusChanged)]
    assert states == [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress and all(0 <= (p.fraction or 0) <= 0.99 for p in progress)
    assert [type(e) for e in seen_by_callback if not isinstance(e, Progress)] == kinds


async def test_invalid_parameters_are_refused_before_any_request(registry: SpecRegistry) -> None:
    async with sandbox_engine(registry) as (engine, sandbox, _clock):
        with pytest.raises(ParameterValidationError) as caught:
            await engine.submit(MODEL, prompt="x", image_urls=["https://e.com/i.png"] * 6, aspect_ratio="2:1")
        assert {v.path for v in caught.value.violations} == {"$.image_urls", "$.aspect_ratio"}
        assert sandbox.submit_requests == 0


async def test_a_missing_key_is_reported_without_a_request(registry: SpecRegistry) -> None:
    async with sandbox_engine(registry) as (_engine, sandbox, clock):
        engine = Engine(registry, base_urls=sandbox.base_urls(), env={}, clock=clock)
        async with engine:
            with pytest.raises(AuthenticationError, match="AIMLAPI_KEY"):
                await engine.submit(MODEL, VIDEO_PARAMS)
        assert sandbox.submit_requests == 0


async def test_a_wrong_key_fails_and_no_error_shows_a_key(registry: SpecRegistry) -> None:
    wrong = "sk-wrong-key-that-must-not-leak"
    async with sandbox_engine(registry) as (_engine, sandbox, clock):
        engine = Engine(registry, base_urls=sandbox.base_urls(), env={"AIMLAPI_KEY": wrong}, clock=clock)
        async with engine:
            with pytest.raises(AuthenticationError) as caught:
                await engine.submit(MODEL, VIDEO_PARAMS)
    assert caught.value.status == 401
    rendered = f"{caught.value!s} {caught.value!r} {caught.value.__dict__!r} {caught.value.__cause__!r}"
    assert wrong not in rendered and KEY not in rendered


async def test_a_failed_job_raises_with_the_providers_message(registry: SpecRegistry) -> None:
    faults = ["submit:job_fails:message=content moderation:code=ModerationError"]
    async with sandbox_engine(registry, faults, duration_s=30) as (engine, _sandbox, _clock):
        job = await engine.submit(MODEL, VIDEO_PARAMS)
        with pytest.raises(JobFailedError) as caught:
            await job.wait()
    assert caught.value.job_id == job.id
    assert "content moderation" in str(caught.value)
    assert caught.value.code == "ModerationError"


async def test_a_deadline_stops_waiting_and_the_job_can_be_waited_again(registry: SpecRegistry) -> None:
    async with sandbox_engine(registry, duration_s=600) as (engine, sandbox, clock):
        job = await engine.submit(MODEL, VIDEO_PARAMS)
        with pytest.raises(DeadlineExceededError) as caught:
            await job.wait(strategy=FixedInterval(15), deadline=100)
        assert caught.value.job_id == job.id
        assert clock.now() == pytest.approx(100)
        result = await job.wait(strategy=FixedInterval(15))
        assert result.job_id == job.id
        assert sandbox.submission_count == 1


async def test_cancel_without_a_remote_endpoint_stops_polling_locally(registry: SpecRegistry) -> None:
    async with sandbox_engine(registry, duration_s=600) as (engine, _sandbox, _clock):
        job = await engine.submit(MODEL, VIDEO_PARAMS)
        waiter = asyncio.ensure_future(job.wait(strategy=FixedInterval(15)))
        await asyncio.sleep(0)
        assert await job.cancel() is False
        with pytest.raises(JobCancelledError) as caught:
            await waiter
    assert caught.value.remote is False and caught.value.job_id == job.id


async def test_a_job_is_resumed_by_id_by_another_engine(registry: SpecRegistry) -> None:
    async with sandbox_engine(registry, duration_s=300) as (engine, sandbox, clock):
        job_id = (await engine.submit(MODEL, VIDEO_PARAMS)).id
        other = Engine(registry, base_urls=sandbox.base_urls(), env={"AIMLAPI_KEY": KEY}, clock=clock)
        async with other:
            result = await other.job(MODEL, job_id).wait(strategy="adaptive")
        assert result.job_id == job_id
        assert sandbox.submission_count == 1


@pytest.mark.e2e
def test_a_job_is_resumed_by_id_from_a_second_process(registry: SpecRegistry) -> None:
    config = SandboxConfig(duration_s=1.0)
    with running_in_thread(registry, config) as sandbox, SyncEngine(
        registry=registry, base_urls=sandbox.base_urls(), env={"AIMLAPI_KEY": KEY}
    ) as engine:
        job = engine.submit(MODEL, VIDEO_PARAMS)
        script = textwrap.dedent(
            f"""
            import json, sys
            from wan_engine.client.sync import SyncEngine
            from wan_engine.client.polling import FixedInterval
            with SyncEngine(base_urls={sandbox.base_urls()!r}) as engine:
                result = engine.job({MODEL!r}, {job.id!r}).wait(strategy=FixedInterval(0.1))
            print(json.dumps({{"id": result.job_id, "url": result.video_url}}))
            """
        )
        env = {**os.environ, "AIMLAPI_KEY": KEY}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        printed = json.loads(done.stdout)
        assert printed["id"] == job.id and printed["url"].startswith(sandbox.url)
        assert sandbox.submission_count == 1


async def test_many_concurrent_jobs_share_one_engine(registry: SpecRegistry) -> None:
    config = SandboxConfig(duration_s=0.2)
    from wan_engine.sandbox import Sandbox

    async with Sandbox(registry, config) as sandbox, Engine(
        registry, base_urls=sandbox.base_urls(), env={"AIMLAPI_KEY": KEY}
    ) as engine:
        jobs = await asyncio.gather(*(engine.submit(MODEL, prompt=f"job {i}") for i in range(300)))
        results = await asyncio.gather(*(job.wait(strategy=FixedInterval(0.05)) for job in jobs))
    assert len({r.job_id for r in results}) == 300
    assert sandbox.submission_count == 300
