"""One video job as a Temporal workflow: submit, wait (on durable timers), deliver; cancel on request.

The workflow holds no engine state and makes no decision about money: every
step is an activity (activities.py) that reads and writes the journal, whose
key is this workflow's id. What the workflow adds is durable orchestration:
a long wait (a big Retry-After, a two-hour model) is a durable timer that
costs no worker anything, and a dead worker's activity is retried on another
host after its heartbeat stops.

This module runs inside Temporal's workflow sandbox, so it imports only the
standard library and ``temporalio``: activities are called by name, and the
types they exchange are plain dataclasses.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

WORKFLOW_NAME = "wan-engine.video-job"

SUBMIT_UNKNOWN = "SubmitUnknown"
"""The submit may have created a paid job we have no id for: never retried, a person decides."""
SUBMIT_REFUSED = "SubmitRefused"
"""The provider refused the submit (or it was never sent): no job exists, nothing was paid."""
INVALID = "InvalidJob"
"""The job cannot run as given (unknown model, invalid parameters or sinks): found before any send."""
NON_RETRYABLE = [SUBMIT_UNKNOWN, SUBMIT_REFUSED, INVALID]


@dataclass
class JobInput:
    """What ``enqueue`` starts a workflow with: the job, its sinks, and how to pace it."""

    model: str
    params: dict[str, Any]
    sinks: list[dict[str, Any]] = field(default_factory=list)
    """Sink configurations as the journal keeps them (plugin, options, secret env var *names*, name)."""
    strategy: str | None = None
    """Polling strategy name (default: the worker's)."""
    long_wait_s: float = 60.0
    """A poll delay longer than this is slept on a durable timer in the workflow, not in a worker."""
    poll_window_s: float = 600.0
    """The longest one wait activity polls before handing back to the workflow."""
    heartbeat_timeout_s: float = 30.0
    """How soon a silent (dead) worker's activity is retried on another."""
    retry_max_interval_s: float = 10.0
    deliver_attempts: int = 5
    """Delivery tries before the workflow gives up (the journal keeps the failure; ``wan-engine resume`` retries)."""


@dataclass
class StepRequest:
    key: str
    job: JobInput


@dataclass
class Submitted:
    provider_id: str
    reused: bool
    """True when a retried submit found the id in the journal and sent nothing."""


@dataclass
class Waited:
    state: str
    """The journal state after this wait."""
    done: bool
    sleep_s: float = 0.0
    """When not done: how long the workflow sleeps (durably) before the next wait."""


@dataclass
class Delivered:
    state: str
    """The job's summary state (``delivered`` when every sink has it)."""
    delivered: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass
class VideoJobOutcome:
    key: str
    provider_id: str
    state: str
    delivered: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    timers: int = 0
    """Durable timers slept on (long waits handed back to the workflow)."""


@workflow.defn(name=WORKFLOW_NAME)
class VideoJobWorkflow:
    """Submit once, wait (sleeping durably through long waits), deliver; cancel if the workflow is cancelled."""

    def __init__(self) -> None:
        self._state = "submitting"

    @workflow.query
    def state(self) -> str:
        return self._state

    def _options(self, job: JobInput, *, run_s: float, attempts: int = 0) -> dict[str, Any]:
        return {
            "start_to_close_timeout": timedelta(seconds=run_s),
            "heartbeat_timeout": timedelta(seconds=job.heartbeat_timeout_s),
            "retry_policy": RetryPolicy(
                initial_interval=timedelta(seconds=min(1.0, job.retry_max_interval_s)),
                maximum_interval=timedelta(seconds=job.retry_max_interval_s),
                non_retryable_error_types=NON_RETRYABLE,
                maximum_attempts=attempts,
            ),
        }

    @workflow.run
    async def run(self, job: JobInput) -> VideoJobOutcome:
        key = workflow.info().workflow_id
        request = StepRequest(key, job)
        submitted = await workflow.execute_activity(
            "submit", request, result_type=Submitted, **self._options(job, run_s=300)
        )
        self._state = "submitted"
        timers = 0
        try:
            while True:
                # On cancellation, wait until the poller has really stopped (and released the job's lease)
                # before the cancel activity runs, so the two never contend for the job.
                waited = await workflow.execute_activity(
                    "wait", request, result_type=Waited, **self._options(job, run_s=job.poll_window_s + 120),
                    cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                )  # fmt: skip
                self._state = waited.state
                if waited.done:
                    break
                timers += 1
                await workflow.sleep(timedelta(seconds=waited.sleep_s))
        except asyncio.CancelledError:
            # Cancelling the workflow cancels the job on the provider (where the spec can) and journals it.
            await workflow.execute_activity("cancel", request, result_type=Waited, **self._options(job, run_s=120))
            raise
        outcome = VideoJobOutcome(key, submitted.provider_id, waited.state, timers=timers)
        if waited.state != "succeeded":
            return outcome
        try:
            delivered = await workflow.execute_activity(
                "deliver", request, result_type=Delivered,
                **self._options(job, run_s=3600, attempts=job.deliver_attempts),
            )  # fmt: skip
        except ActivityError as exc:
            outcome.state, outcome.failed = "delivery_failed", {"deliver": str(exc.cause or exc)}
            return outcome
        self._state = delivered.state
        outcome.state, outcome.delivered, outcome.failed = delivered.state, delivered.delivered, delivered.failed
        return outcome


__all__ = [
    "INVALID",
    "SUBMIT_REFUSED",
    "SUBMIT_UNKNOWN",
    "WORKFLOW_NAME",
    "ActivityError",
    "ApplicationError",
    "Delivered",
    "JobInput",
    "StepRequest",
    "Submitted",
    "VideoJobOutcome",
    "VideoJobWorkflow",
    "Waited",
]
