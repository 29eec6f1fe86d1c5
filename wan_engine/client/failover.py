"""Failover that can never charge twice: move to the next model only after a *verified* failure.

``engine.run(model_a, params, fallback=[model_b, ...])`` tries each model in
turn, and moves on only when the previous one certainly produced nothing that
is still running or billable later:

* its submit was refused before a job existed (an HTTP error answer, or no
  connection was ever made: ``ApiError`` / ``NetworkError`` from submit), or
* its job reached the provider's ``failed`` state (``JobFailedError``).

Everything else stops the run and is raised as it is, because the previous job
may still exist and complete (and bill): a submit whose outcome is unknown
(timeout, reset, garbled answer), a deadline, status reads that keep failing,
a cancel, a budget refusal, parameters the next model rejects. Starting a
second job then would be the double charge this module exists to prevent.

Because of that rule no hop ever happens while an earlier job may still be
running, so a "primary that finishes late" cannot arise here: there is
nothing to reconcile after a hop.

Each hop is reported to ``on_hop`` and to the engine's ``record_hop`` (a
``DurableEngine`` journals it on both jobs). With an idempotency key, the
primary uses the key and the n-th fallback ``KEY/fallback-n``: a re-run of the
same script finds every job it already paid for instead of paying again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from wan_engine.client.submitter import Hop, Submitter
from wan_engine.errors import ApiError, JobFailedError, NetworkError

if TYPE_CHECKING:
    from wan_engine.client.job import Job
    from wan_engine.client.polling import PollingStrategy
    from wan_engine.client.result import Result

Fallback = str | tuple[str, Mapping[str, Any]]
"""A model id (same parameters), or a model id and its own parameters."""


def _steps(model: str, params: Mapping[str, Any] | None, fallback: Sequence[Fallback]) -> list[tuple[str, Any]]:
    steps: list[tuple[str, Any]] = [(model, params)]
    for item in fallback:
        steps.append((item, params) if isinstance(item, str) else (item[0], item[1]))
    return steps


async def run_with_fallback(
    engine: Submitter,
    model: str,
    params: Mapping[str, Any] | None,
    fallback: Sequence[Fallback],
    *,
    strategy: PollingStrategy | str | None = None,
    deadline: float | None = None,
    on_hop: Callable[[Hop], object] | None = None,
    idempotency_key: str | None = None,
    **submit_options: Any,
) -> Result:
    """The first result among ``model`` and its fallbacks; see the module doc for when it moves on."""
    chosen = engine.strategy_for(strategy)
    started = engine.clock.now()
    steps = _steps(model, params, fallback)
    previous: tuple[str, str | None, Literal["refused", "failed"], str] | None = None
    for index, (step_model, step_params) in enumerate(steps):
        key = idempotency_key if index == 0 or idempotency_key is None else f"{idempotency_key}/fallback-{index}"
        remaining = None if deadline is None else deadline - (engine.clock.now() - started)
        last = index == len(steps) - 1
        job: Job | None = None
        try:
            job = await engine.submit(step_model, step_params, idempotency_key=key, **submit_options)
            if previous is not None:
                _hop(engine, on_hop, previous, step_model, job)
                previous = None
            return await job.wait(strategy=chosen, deadline=remaining)
        except (ApiError, NetworkError) as exc:
            if job is not None or last:
                raise  # a status read failed (the job may still run), or nothing is left to try
            if previous is not None:
                _hop(engine, on_hop, previous, step_model, None)
            previous = (step_model, None, "refused", str(exc))
        except JobFailedError as exc:
            if last:
                raise
            previous = (step_model, job.id if job is not None else None, "failed", exc.provider_message)
    raise AssertionError("unreachable: the last step returns or raises")  # pragma: no cover


def _hop(
    engine: Submitter,
    on_hop: Callable[[Hop], object] | None,
    previous: tuple[str, str | None, Literal["refused", "failed"], str],
    to_model: str,
    job: Job | None,
) -> None:
    from_model, from_job, reason, detail = previous
    hop = Hop(from_model, to_model, reason, detail, from_job)
    engine.record_hop(hop, job)
    if on_hop is not None:
        on_hop(hop)
