"""Typed events a job emits, for progress displays, logs and journals."""

from __future__ import annotations

from typing import Any

import attrs

from wan_engine.states import JobState


@attrs.frozen
class Submitted:
    job_id: str
    model: str
    at: float


@attrs.frozen
class StatusChanged:
    job_id: str
    previous: JobState | None
    state: JobState
    provider_status: Any
    at: float


@attrs.frozen
class Progress:
    """After each status read. Providers report no progress field, so the
    fraction is an estimate from elapsed time and the spec's typical duration
    (None when the spec gives no hint)."""

    job_id: str
    elapsed_s: float
    polls: int
    expected_total_s: float | None
    fraction: float | None
    at: float


@attrs.frozen
class Completed:
    job_id: str
    result: Any  # wan_engine.client.result.Result; Any here avoids an import cycle in annotations
    at: float


@attrs.frozen
class Failed:
    job_id: str
    error: Exception
    at: float


@attrs.frozen
class CostReported:
    """The provider said what the job cost, on its submit or status answer (where the spec's ``cost`` block says).

    ``figures`` are every figure read (e.g. credits_used, usd_spent); ``usd`` is the
    one the spec names as US dollars, or None when the provider reports no money.
    """

    job_id: str
    figures: dict[str, float | int]
    usd: float | None
    answer: str
    at: float


Event = Submitted | StatusChanged | Progress | Completed | Failed | CostReported
TERMINAL_EVENTS = (Completed, Failed)
