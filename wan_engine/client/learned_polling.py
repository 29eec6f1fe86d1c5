"""Polling that learns: the schedule that minimises expected detection delay for a request budget.

For a job whose completion time T has hazard rate h(t) (the chance per second
of finishing now, given it has not yet), polling with gaps Δ(t) costs on
average ``∫ f(t) Δ(t)/2 dt`` seconds of detection delay and ``∫ S(t)/Δ(t) dt``
status reads (a read happens only while the job is unfinished). Minimising
delay + λ·reads pointwise gives

    Δ(t) = sqrt(2 λ / h(t))

so reads concentrate where completion is likely *given what has not happened
yet*: sparse early, dense around the typical duration, thinning again in a
late tail. λ (seconds of delay one read is worth) is either given
(``seconds_per_request``) or solved for so the expected reads per job equal
``requests_per_job``; the expected reads and delay of a schedule are computed
exactly from the distribution (:func:`expected_cost`).

The distribution is the :class:`~wan_engine.client.duration_model.DurationModel`'s
log-normal for the job's model and parameters, starting from the spec's hint
and learning from every completed job someone reports with :meth:`observe`
(the journal or the app; this layer does not read the journal). The
provider's minimum interval and Retry-After still bound every delay (the
engine applies :func:`~wan_engine.client.polling.bounded_delay`), and no gap
exceeds ``max_interval_fraction`` of the typical duration, so an early
failure is still seen. Without a typical-duration hint it falls back to
exponential backoff, like ``adaptive``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from wan_engine.client.duration_model import DurationModel, LogNormal
from wan_engine.client.polling import ExponentialBackoff, PollContext


@attrs.frozen
class ScheduleCost:
    requests: float
    """Expected status reads per job, the one that sees completion included."""
    delay_s: float
    """Expected seconds from completion to the read that sees it."""


def _ideal(distribution: LogNormal, t: float, lam: float) -> float:
    rate = distribution.hazard(max(t, 1e-9))
    return math.sqrt(2 * lam / rate) if rate > 0 else math.inf


def gap(distribution: LogNormal, t: float, lam: float, *, min_gap: float, max_gap: float) -> float:
    """The next gap g from time t: the longest with g <= Δ(s) for every s it spans, within the bounds.

    Taking Δ at the gap's start alone would let a long early gap leap over
    the dense window around the typical duration (the hazard rises steeply
    there): checking its end as well lands the read before the window.
    """
    longest = min(max_gap, _ideal(distribution, t, lam))
    if longest <= min_gap:
        return min_gap
    if longest <= _ideal(distribution, t + longest, lam):
        return longest
    low, high = min_gap, longest  # g - Δ(t + g) changes sign between them
    for _ in range(24):
        middle = (low + high) / 2
        if middle <= _ideal(distribution, t + middle, lam):
            low = middle
        else:
            high = middle
    return low


def expected_cost(
    distribution: LogNormal, lam: float, *, min_gap: float, max_gap: float, horizon_q: float = 1e-4
) -> ScheduleCost:
    """Exact expected reads and delay of the Δ(t) schedule, polling from 0 until S(t) < horizon_q."""
    t_prev, requests, delay = 0.0, 0.0, 0.0
    cdf_prev = 0.0
    for _ in range(100_000):
        t = t_prev + gap(distribution, t_prev, lam, min_gap=min_gap, max_gap=max_gap)
        survival_prev = 1.0 - cdf_prev
        requests += survival_prev  # this read happens if the job was not seen finished before it
        cdf = distribution.cdf(t)
        delay += t * (cdf - cdf_prev) - distribution.partial_mean(t_prev, t)
        if 1.0 - cdf < horizon_q:
            break
        t_prev, cdf_prev = t, cdf
    return ScheduleCost(requests, delay)


def solve_lambda(
    distribution: LogNormal, requests_per_job: float, *, min_gap: float, max_gap: float
) -> float:
    """The λ whose schedule spends ``requests_per_job`` reads on average (bisection in log λ)."""
    low, high = 1e-3, 1e4
    for _ in range(30):
        middle = math.sqrt(low * high)
        if expected_cost(distribution, middle, min_gap=min_gap, max_gap=max_gap).requests > requests_per_job:
            low = middle
        else:
            high = middle
    return math.sqrt(low * high)


@attrs.define
class Learned:
    """Strategy ``learned``: the request-budgeted optimal schedule for the learned duration distribution."""

    requests_per_job: float = 10.0
    """The budget: expected status reads per job (ignored if ``seconds_per_request`` is set)."""
    seconds_per_request: float | None = None
    """Alternatively, the price of one status read in seconds of detection delay (λ)."""
    max_interval_fraction: float = 1 / 3
    model: str | None = None
    """The model to learn for when the wait loop does not say (``PollContext.model`` is None)."""
    known: LogNormal | None = None
    """A known distribution instead of a learned one (the benchmark's oracle)."""
    durations: DurationModel = attrs.field(factory=DurationModel)
    fallback: ExponentialBackoff = attrs.field(factory=ExponentialBackoff)
    _lambdas: dict[tuple[LogNormal, float, float], float] = attrs.field(factory=dict, repr=False)

    def observe(self, model: str, params: Mapping[str, Any] | None, seconds: float) -> None:
        """Feed one completed job's duration (submission to completion, in seconds), e.g. from the journal."""
        self.durations.observe(model, params, seconds)

    def observe_between(self, model: str, params: Mapping[str, Any] | None, after_s: float, by_s: float) -> None:
        """Feed a job known only to have finished between two status reads (seconds since submission)."""
        self.durations.observe_between(model, params, after_s, by_s)

    def distribution(self, ctx: PollContext) -> LogNormal | None:
        if self.known is not None:
            return self.known
        typical = ctx.hints.typical_duration_s
        if not typical:
            return None
        model = ctx.model or self.model
        estimate = self.durations.estimate(model, ctx.params, typical_s=typical, spread=ctx.hints.duration_spread)
        # Rounded (the median to a twentieth of the spread, the spread to 3 %) so the schedule is
        # re-solved only when the estimate really moves, not after every job.
        sigma = math.exp(round(math.log(estimate.sigma) / 0.03) * 0.03)
        step = sigma / 20
        return LogNormal(round(estimate.mu / step) * step, sigma)

    def _bounds(self, ctx: PollContext, distribution: LogNormal) -> tuple[float, float]:
        min_gap = max(ctx.hints.min_interval_s or 0.0, 1.0)
        return min_gap, max(min_gap, distribution.median_s * self.max_interval_fraction)

    def price(self, distribution: LogNormal, min_gap: float, max_gap: float) -> float:
        if self.seconds_per_request is not None:
            return self.seconds_per_request
        key = (distribution, min_gap, max_gap)
        lam = self._lambdas.get(key)
        if lam is None:
            if len(self._lambdas) > 1024:
                self._lambdas.clear()
            lam = self._lambdas[key] = solve_lambda(
                distribution, self.requests_per_job, min_gap=min_gap, max_gap=max_gap
            )
        return lam

    def next_delay(self, ctx: PollContext) -> float:
        distribution = self.distribution(ctx)
        if distribution is None:
            return self.fallback.next_delay(ctx)
        min_gap, max_gap = self._bounds(ctx, distribution)
        lam = self.price(distribution, min_gap, max_gap)
        return gap(distribution, ctx.elapsed_s, lam, min_gap=min_gap, max_gap=max_gap)

    def expected_total_s(self, ctx: PollContext) -> float | None:
        """``E[T | T > elapsed]``: the expected duration of a job not finished after ``ctx.elapsed_s``."""
        distribution = self.distribution(ctx)
        if distribution is None:
            return None
        t = max(0.0, ctx.elapsed_s)
        survival = distribution.survival(t) if t > 0 else 1.0
        if survival < 1e-9:
            return t  # far beyond anything seen: no better guess than "about now"
        return distribution.partial_mean(t, math.inf) / survival

    def expected(self, ctx: PollContext) -> ScheduleCost | None:
        """Expected reads and delay for a job like this one (for a progress display or a report)."""
        distribution = self.distribution(ctx)
        if distribution is None:
            return None
        min_gap, max_gap = self._bounds(ctx, distribution)
        return expected_cost(distribution, self.price(distribution, min_gap, max_gap), min_gap=min_gap, max_gap=max_gap)
