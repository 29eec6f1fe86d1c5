"""``enqueue()``: how an app (a web request handler, a batch script) hands a job to the workers.

The parameters and sinks are checked here, before anything is enqueued, exactly as
``Engine.submit`` checks them before sending: a bad job is refused to the caller,
not discovered by a worker later. The workflow id is the job's journal key, so an
app's own idempotency key (an order id) can be it: enqueueing the same key twice
returns the first workflow, and the journal refuses a second submit under it anyway.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from wan_engine.errors import UsageError
from wan_engine.sinks.config import SinkConfig
from wan_engine.spec.params import prepare
from wan_engine.spec.registry import SpecRegistry
from wan_engine.temporal.workflow import JobInput, VideoJobOutcome, VideoJobWorkflow


async def enqueue(
    client: Client,
    model: str,
    params: Mapping[str, Any],
    *,
    task_queue: str,
    key: str | None = None,
    deliver_to: Sequence[SinkConfig] = (),
    registry: SpecRegistry | None = None,
    strategy: str | None = None,
    long_wait_s: float = 60.0,
    heartbeat_timeout_s: float = 30.0,
    retry_max_interval_s: float = 10.0,
) -> WorkflowHandle[VideoJobWorkflow, VideoJobOutcome]:
    """Start the job's workflow (id ``key``, else a new one); returns its handle (``await handle.result()``).

    Raises ``ParameterValidationError``, ``UnknownModelError`` or ``UnknownPluginError``
    before enqueuing anything. An existing workflow id returns that workflow's handle.
    """
    spec = (registry or SpecRegistry.discover()).model(model)
    filled = prepare(spec, dict(params))
    sinks = list(deliver_to)
    names = [s.sink_name for s in sinks]
    if len(set(names)) != len(names):
        raise UsageError(f"sink names must be unique in one job: {names}")
    for sink in sinks:
        sink.check()
    job = JobInput(
        model=spec.id,
        params=filled,
        sinks=[{**s.as_dict(), "name": s.sink_name} for s in sinks],
        strategy=strategy,
        long_wait_s=long_wait_s,
        heartbeat_timeout_s=heartbeat_timeout_s,
        retry_max_interval_s=retry_max_interval_s,
    )
    workflow_id = key or uuid.uuid4().hex[:12]
    try:
        return await client.start_workflow(
            VideoJobWorkflow.run,
            job,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle_for(VideoJobWorkflow.run, workflow_id)
