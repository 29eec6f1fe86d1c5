"""A worker process: one engine, one journal, the workflow and its activities on one task queue.

Run N of these a host, on as many hosts as the load needs (``wan-engine worker``);
they share the journal (Postgres) and the Temporal service, and nothing else.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Mapping
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from wan_engine.client.polling import PollingStrategy
from wan_engine.journal.store import JournalStore
from wan_engine.spec.registry import SpecRegistry
from wan_engine.temporal.activities import JobActivities, TemporalEngine
from wan_engine.temporal.workflow import VideoJobWorkflow


async def connect(target: str, namespace: str = "default") -> Client:
    """A Temporal client for ``HOST:PORT`` (the dev server, a Temporal Service, or Temporal Cloud)."""
    return await Client.connect(target, namespace=namespace)


def workflow_runner() -> SandboxedWorkflowRunner:
    """Temporal's workflow sandbox, with wan_engine's modules passed through rather than re-imported.

    The sandbox re-imports every non-passthrough module for each workflow run, and importing
    ``wan_engine.temporal`` imports the engine (aiohttp, jsonschema, the spec registry): that
    made each new workflow's first task take seconds. The workflow code (workflow.py) uses no
    wan_engine module and keeps no global state, so passing them through changes no determinism.
    """
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("wan_engine"))


def build_worker(
    client: Client,
    task_queue: str,
    engine: TemporalEngine,
    *,
    env: Mapping[str, str] | None = None,
    lease_s: float = 30.0,
    max_concurrent_activities: int = 1000,
    **worker_options: Any,
) -> Worker:
    """The Temporal ``Worker`` running video-job workflows and their activities on ``engine``.

    Activities are async (the engine is asyncio): thousands of waiting jobs share one event
    loop, each holding a small state and a journal lease, as they do in the embedded engine.
    """
    activities = JobActivities(engine, env=env, lease_s=lease_s)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[VideoJobWorkflow],
        activities=activities.all(),
        max_concurrent_activities=max_concurrent_activities,
        workflow_runner=worker_options.pop("workflow_runner", None) or workflow_runner(),
        **worker_options,
    )


async def run_worker(
    target: str,
    task_queue: str,
    *,
    journal: JournalStore | str,
    registry: SpecRegistry | None = None,
    namespace: str = "default",
    base_urls: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    strategy: PollingStrategy | str = "adaptive",
    lease_s: float = 30.0,
    max_concurrent_activities: int = 1000,
    on_ready: Callable[[TemporalEngine], object] | None = None,
) -> None:
    """Serve ``task_queue`` until SIGINT or SIGTERM, then finish in-flight tasks briefly and stop."""
    client = await connect(target, namespace)
    async with TemporalEngine(
        registry, journal=journal, base_urls=base_urls, env=env, strategy=strategy, lease_s=lease_s
    ) as engine:
        worker = build_worker(
            client, task_queue, engine, env=env, lease_s=lease_s, max_concurrent_activities=max_concurrent_activities
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with worker:
            if on_ready is not None:
                on_ready(engine)
            await stop.wait()
