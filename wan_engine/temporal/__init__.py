"""Video jobs as Temporal workflows, for work beyond one machine (extra ``wan-engine[temporal]``).

The embedded engine (one process, SQLite, ``wan-engine resume``) needs none of
this and never imports it. Here each job is a workflow (workflow.py) whose
steps are activities wrapping the journaled engine (activities.py), run by any
number of worker processes on any number of hosts (worker.py, ``wan-engine
worker``), fed by apps through ``enqueue()`` (enqueuing.py). The journal, on
Postgres, stays the record of the money facts: write-ahead intent, the provider
id before anything else, fenced leases; Temporal adds durable timers, retries on
another host when a worker dies, and workflow ids that refuse duplicate starts.
"""

from __future__ import annotations

from wan_engine.temporal.activities import JobActivities, TemporalEngine
from wan_engine.temporal.enqueuing import enqueue
from wan_engine.temporal.worker import build_worker, connect, run_worker
from wan_engine.temporal.workflow import JobInput, VideoJobOutcome, VideoJobWorkflow

__all__ = [
    "JobActivities",
    "JobInput",
    "TemporalEngine",
    "VideoJobOutcome",
    "VideoJobWorkflow",
    "build_worker",
    "connect",
    "enqueue",
    "run_worker",
]
