"""Many jobs at once, within the provider's limits, with one progress view for the whole batch.

``run_batch(engine, items)`` submits every item and waits for all of them, with:

* a cap on jobs in flight (submitted and not finished) per provider and model:
  the spec's ``rate_limits.concurrent_jobs`` when it documents one, else
  ``concurrency``; an item waits for a slot before its submit is sent;
* the provider's request rates, kept by the engine's client for every submit and
  poll (client/pacing.py: e.g. DashScope's 20 task queries a second);
* one :class:`BatchProgress` snapshot to ``on_progress`` at every change.

Money rules are the engine's own: each submit goes through the budget and the
idempotency keys (an item's ``idempotency_key``), a submit whose outcome is
unknown is reported as such and never sent again, and one item's failure does
not stop the others.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

from wan_engine.client.submitter import Submitter
from wan_engine.errors import (
    ApiError,
    BudgetExceededError,
    DeadlineExceededError,
    IdempotencyKeyMismatchError,
    JobCancelledError,
    JobFailedError,
    NetworkError,
    SubmitOutcomeUnknownError,
    UsageError,
)

if TYPE_CHECKING:
    from wan_engine.client.job import Job
    from wan_engine.client.polling import PollingStrategy
    from wan_engine.client.result import Result

DEFAULT_CONCURRENCY = 4
Outcome = Literal["succeeded", "failed", "refused", "unknown", "unfinished"]


@attrs.frozen
class BatchItem:
    model: str
    params: Mapping[str, Any] = attrs.field(factory=dict)
    idempotency_key: str | None = None
    tags: tuple[str, ...] = ()


@attrs.frozen
class BatchOutcome:
    """How one item ended.

    ``refused``: nothing was created (bad parameters, budget, a provider's 4xx);
    ``unknown``: the submit may have created a paid job (never re-sent);
    ``unfinished``: the job exists and was still running when polling stopped (deadline, status errors).
    """

    index: int
    item: BatchItem
    outcome: Outcome
    job_id: str | None = None
    result: Result | None = None
    error: str | None = None
    replayed: bool = False
    """Found under its idempotency key: an earlier run paid for it."""


@attrs.frozen
class BatchProgress:
    """The whole batch at one moment; ``in_flight`` by model (submitting or running)."""

    total: int
    waiting: int
    in_flight: Mapping[str, int]
    done: Mapping[str, int]
    """Outcome -> how many items ended so."""

    @property
    def finished(self) -> int:
        return sum(self.done.values())

    def line(self) -> str:
        """One line for a terminal: counts that matter, in the order they happen."""
        parts = [f"{self.finished}/{self.total} done"]
        running = sum(self.in_flight.values())
        if running:
            parts.append(f"{running} in flight")
        if self.waiting:
            parts.append(f"{self.waiting} waiting")
        parts += [f"{count} {name}" for name, count in sorted(self.done.items()) if count]
        return ", ".join(parts)


class _Tracker:
    def __init__(self, total: int, on_progress: Callable[[BatchProgress], object] | None) -> None:
        self.total, self.on_progress = total, on_progress
        self.waiting = total
        self.in_flight: Counter[str] = Counter()
        self.done: Counter[str] = Counter()

    def emit(self) -> None:
        if self.on_progress is not None:
            in_flight = {model: n for model, n in self.in_flight.items() if n}
            self.on_progress(BatchProgress(self.total, self.waiting, in_flight, dict(self.done)))


def _cap(engine: Submitter, model: str, concurrency: int) -> int:
    documented = engine.spec(model).provider.rate_limits.concurrent_jobs
    return min(concurrency, documented) if documented else concurrency


async def run_batch(
    engine: Submitter,
    items: Sequence[BatchItem],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    strategy: PollingStrategy | str | None = None,
    deadline: float | None = None,
    on_progress: Callable[[BatchProgress], object] | None = None,
    on_job: Callable[[int, Job], object] | None = None,
) -> list[BatchOutcome]:
    """Run every item (see the module doc); outcomes in the order of ``items``.

    ``concurrency`` caps jobs in flight per provider and model (the spec's
    documented limit wins when lower); ``deadline`` is seconds from now for the
    whole batch; ``on_job`` hears of each job as soon as it exists (to follow its events).
    """
    if concurrency < 1:
        raise UsageError(f"concurrency must be at least 1 (got {concurrency})")
    chosen = engine.strategy_for(strategy)
    for item in items:
        engine.spec(item.model)  # an unknown model fails the batch before anything is sent
    slots = {
        (engine.spec(m).provider.id, m): asyncio.Semaphore(_cap(engine, m, concurrency))
        for m in {item.model for item in items}
    }
    tracker = _Tracker(len(items), on_progress)
    started = engine.clock.now()

    async def one(index: int, item: BatchItem) -> BatchOutcome:
        async with slots[(engine.spec(item.model).provider.id, item.model)]:
            tracker.waiting -= 1
            tracker.in_flight[item.model] += 1
            tracker.emit()
            try:
                outcome = await _run_one(engine, index, item, chosen, deadline, started, on_job)
            finally:
                tracker.in_flight[item.model] -= 1
        tracker.done[outcome.outcome] += 1
        tracker.emit()
        return outcome

    tracker.emit()
    return list(await asyncio.gather(*(one(index, item) for index, item in enumerate(items))))


async def _run_one(
    engine: Submitter,
    index: int,
    item: BatchItem,
    strategy: PollingStrategy,
    deadline: float | None,
    started: float,
    on_job: Callable[[int, Job], object] | None,
) -> BatchOutcome:
    try:
        job = await engine.submit(item.model, item.params, idempotency_key=item.idempotency_key, tags=item.tags)
    except SubmitOutcomeUnknownError as exc:
        return BatchOutcome(index, item, "unknown", error=str(exc))
    except (ApiError, NetworkError, UsageError, BudgetExceededError, IdempotencyKeyMismatchError) as exc:
        return BatchOutcome(index, item, "refused", error=str(exc))
    if on_job is not None:
        on_job(index, job)
    remaining = None if deadline is None else max(0.0, deadline - (engine.clock.now() - started))
    try:
        result = await job.wait(strategy=strategy, deadline=remaining)
    except (JobFailedError, JobCancelledError) as exc:
        return BatchOutcome(index, item, "failed", job.id, error=str(exc), replayed=job.idempotent_replay)
    except (DeadlineExceededError, ApiError, NetworkError) as exc:
        return BatchOutcome(index, item, "unfinished", job.id, error=str(exc), replayed=job.idempotent_replay)
    return BatchOutcome(index, item, "succeeded", job.id, result, replayed=job.idempotent_replay)
