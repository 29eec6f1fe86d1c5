"""Polling strategies: when to ask a provider again whether a job is done.

A strategy only proposes the next delay from what it knows (elapsed time, the
spec's hints, the number of polls). ``bounded_delay`` then applies the rules
every strategy must obey alike: the server's Retry-After, the provider's
minimum interval, and the caller's deadline. Strategies are plugins
(``wan_engine.strategies`` entry points); these three are registered there too, and
``learned`` (learned_polling.py).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from wan_engine.spec.model import PollingHints
from wan_engine.states import JobState

DEFAULT_INTERVAL_S = 15.0  # the seed document's example polls every 15 s


@attrs.frozen
class PollContext:
    elapsed_s: float
    polls: int
    state: JobState
    hints: PollingHints
    retry_after_s: float | None = None
    remaining_s: float | None = None
    model: str | None = None
    """The job's model id, for strategies that learn per model (None when the caller does not say)."""
    params: Mapping[str, Any] | None = None
    """The job's parameters, for strategies that learn how they move the duration."""


class PollingStrategy(Protocol):
    def next_delay(self, ctx: PollContext) -> float: ...


@runtime_checkable
class LearnsDurations(Protocol):
    """A strategy that wants to hear how long finished jobs took (the wait loop tells it).

    A poller only knows that a job finished after ``after_s`` (the last read that
    saw it unfinished) and by ``by_s`` (the read that saw it done), in seconds
    since submission.
    """

    def observe_between(self, model: str, params: Mapping[str, Any] | None, after_s: float, by_s: float) -> None: ...


@runtime_checkable
class EstimatesDuration(Protocol):
    """A strategy that can say how long a job like this is expected to take in all, given it has not
    finished after ``ctx.elapsed_s``: the progress display's ETA then comes from the same estimate as
    the schedule."""

    def expected_total_s(self, ctx: PollContext) -> float | None: ...


def bounded_delay(proposed: float, ctx: PollContext) -> float:
    delay = max(0.0, proposed)
    if ctx.hints.min_interval_s:
        delay = max(delay, ctx.hints.min_interval_s)
    if ctx.retry_after_s is not None:
        delay = max(delay, ctx.retry_after_s)
    if ctx.remaining_s is not None:
        delay = min(delay, max(0.0, ctx.remaining_s))
    return delay


@attrs.frozen
class FixedInterval:
    """Every N seconds: the provider's recommended interval, else 15 s."""

    interval_s: float | None = None

    def next_delay(self, ctx: PollContext) -> float:
        return self.interval_s or ctx.hints.recommended_interval_s or DEFAULT_INTERVAL_S


@attrs.define
class ExponentialBackoff:
    """Start fast, back off by ``factor`` up to ``cap_s``, with +/- ``jitter`` to spread load."""

    initial_s: float = 2.0
    factor: float = 1.6
    cap_s: float = 60.0
    jitter: float = 0.2
    rng: random.Random = attrs.field(factory=lambda: random.Random(0))

    def next_delay(self, ctx: PollContext) -> float:
        base = min(self.cap_s, self.initial_s * self.factor ** max(0, ctx.polls - 1))
        return base * (1 + self.jitter * (2 * self.rng.random() - 1))


@attrs.define
class Adaptive:
    """Poll rarely early and densely around the expected end.

    The completion time is modelled as normal around the spec's typical
    duration with a relative spread. Spacing grows with distance from that
    time as exp(z^2 / 4): the schedule that minimises expected detection delay
    for a given number of polls puts poll density in proportion to the square
    root of the completion-time density. ``peak_interval_s`` is the spacing at
    the expected end; early on, spacing is capped at a third of the typical
    duration so an early failure is still seen, and after the expected end it
    grows slowly (the job is late, but may finish any moment). Without a
    typical-duration hint it falls back to exponential backoff.
    """

    peak_interval_s: float = 11.0
    spread: float = 0.1
    first_poll_s: float = 10.0
    late_cap_s: float = 60.0
    early_fraction: float = 3.0
    fallback: ExponentialBackoff = attrs.field(factory=ExponentialBackoff)

    def next_delay(self, ctx: PollContext) -> float:
        typical = ctx.hints.typical_duration_s
        if not typical:
            return self.fallback.next_delay(ctx)
        if ctx.polls == 0:
            return min(self.first_poll_s, typical / 4)
        spread = ctx.hints.duration_spread or self.spread
        sigma = max(spread * typical, self.peak_interval_s)
        t = ctx.elapsed_s
        z = (t - typical) / sigma
        spacing = self.peak_interval_s * math.exp(min(z * z / 4, 50.0))
        if t < typical:
            spacing = min(spacing, typical / self.early_fraction)
            # Never step over the dense window: land at its start at the latest.
            window_start = typical - 2 * sigma
            if t < window_start:
                spacing = min(spacing, max(self.peak_interval_s, window_start - t))
        else:
            spacing = min(spacing, max(self.late_cap_s, self.peak_interval_s))
        return spacing


def from_name(name: str, **options: object) -> PollingStrategy:
    """A strategy by plugin name, built with ``options`` (e.g. interval_s=10)."""
    from wan_engine import plugins

    factory = plugins.load("strategy").get(name)
    strategy: PollingStrategy = factory(**options)
    return strategy
