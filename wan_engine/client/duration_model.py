"""How long a model's jobs take: a log-normal estimate per model (and per parameters), learned from history.

Generation time is a product of many factors (queue, GPU, length, resolution),
so its logarithm is close to normal: the estimate is a log-normal whose
log-mean and log-sd start at the spec's hint (``typical_duration_s``, and
``duration_spread`` if the spec gives one, else a deliberately wide 0.5) and
move towards the data as completed jobs are observed (a normal prior worth
``prior_weight`` jobs, updated with the observed logs).

Durations are kept per model and, below it, per *bucket* of the parameters
that move the duration (by default ``duration`` and ``resolution``): a bucket
with few jobs leans on its model's estimate as its prior, so a new
resolution starts from what the model does in general rather than from the
hint alone.

Nothing here reads the journal (the client layer sits below it): whoever has
completed jobs (the journal, an app, a benchmark) calls :meth:`observe`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

DEFAULT_PRIOR_SPREAD = 0.5
"""Log-sd assumed when the spec says nothing: wide, so the first jobs move it quickly."""


@attrs.frozen
class LogNormal:
    """Durations whose logarithm is normal with mean ``mu`` and sd ``sigma``."""

    mu: float
    sigma: float
    observations: int = 0

    @property
    def median_s(self) -> float:
        return math.exp(self.mu)

    @property
    def mean_s(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    def cdf(self, t: float) -> float:
        if t <= 0:
            return 0.0
        return 0.5 * math.erfc(-(math.log(t) - self.mu) / (self.sigma * math.sqrt(2)))

    def survival(self, t: float) -> float:
        if t <= 0:
            return 1.0
        return 0.5 * math.erfc((math.log(t) - self.mu) / (self.sigma * math.sqrt(2)))

    def pdf(self, t: float) -> float:
        if t <= 0:
            return 0.0
        z = (math.log(t) - self.mu) / self.sigma
        return math.exp(-z * z / 2) / (t * self.sigma * math.sqrt(2 * math.pi))

    def hazard(self, t: float) -> float:
        """The chance per second of finishing now, given not finished yet."""
        survival = self.survival(t)
        return self.pdf(t) / survival if survival > 1e-300 else math.inf

    def partial_mean(self, a: float, b: float) -> float:
        """``E[T; a < T <= b]``: the integral of t f(t) between a and b."""

        def phi(x: float) -> float:
            if x <= 0:
                return 0.0
            return 0.5 * math.erfc(-(math.log(x) - self.mu - self.sigma**2) / (self.sigma * math.sqrt(2)))

        return self.mean_s * (phi(b) - phi(a))


def bucket_of(params: Mapping[str, Any] | None, by: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The parameters that move the duration, as a hashable key (absent ones left out)."""
    if not params:
        return ()
    return tuple((name, repr(params[name])) for name in by if name in params)


@attrs.define
class _Stats:
    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    noise: float = 0.0
    """Summed variance the observations carry from being known only to within an interval."""

    def add(self, log_duration: float, noise: float = 0.0) -> None:
        self.count += 1
        self.total += log_duration
        self.total_sq += log_duration * log_duration
        self.noise += noise


@attrs.define
class DurationModel:
    """Learned duration distributions, keyed by model and parameter bucket."""

    by: tuple[str, ...] = ("duration", "resolution")
    prior_weight: float = 2.0
    _models: dict[str, _Stats] = attrs.field(factory=dict)
    _buckets: dict[tuple[str, tuple[tuple[str, str], ...]], _Stats] = attrs.field(factory=dict)

    def observe(self, model: str, params: Mapping[str, Any] | None, seconds: float) -> None:
        """One completed job took ``seconds`` from submission to completion; ignored if not positive."""
        self.observe_between(model, params, seconds, seconds)

    def observe_between(self, model: str, params: Mapping[str, Any] | None, after_s: float, by_s: float) -> None:
        """One job finished after ``after_s`` (the last read that saw it running) and by ``by_s``.

        That is all a poller knows unless the provider reports the time. The
        middle of the interval (in log time) is taken as the duration, and
        the interval's own uniform spread (width squared over 12) is taken off
        the estimated variance, so coarse early observations do not inflate it.
        """
        if not (0 < after_s <= by_s) or not math.isfinite(by_s):
            return
        low, high = math.log(after_s), math.log(by_s)
        log_duration, noise = (low + high) / 2, (high - low) ** 2 / 12
        self._models.setdefault(model, _Stats()).add(log_duration, noise)
        bucket = bucket_of(params, self.by)
        if bucket:
            self._buckets.setdefault((model, bucket), _Stats()).add(log_duration, noise)

    def observe_all(self, history: Iterable[tuple[str, Mapping[str, Any] | None, float]]) -> None:
        for model, params, seconds in history:
            self.observe(model, params, seconds)

    def estimate(
        self,
        model: str | None,
        params: Mapping[str, Any] | None,
        *,
        typical_s: float,
        spread: float | None = None,
    ) -> LogNormal:
        """The distribution for a new job: hint as prior, then the model's jobs, then its bucket's."""
        prior = LogNormal(math.log(typical_s), spread or DEFAULT_PRIOR_SPREAD)
        if model is None:
            return prior
        estimate = self._update(prior, self._models.get(model))
        bucket = bucket_of(params, self.by)
        if bucket:
            estimate = self._update(estimate, self._buckets.get((model, bucket)))
        return estimate

    def _update(self, prior: LogNormal, stats: _Stats | None) -> LogNormal:
        if stats is None or stats.count == 0:
            return prior
        n, w = stats.count, self.prior_weight
        mean = stats.total / n
        mu = (w * prior.mu + stats.total) / (w + n)
        # Pooled second moment around the new mean: the prior's spread counts as w jobs.
        scatter = stats.total_sq - n * mean * mean - stats.noise + n * w / (w + n) * (mean - prior.mu) ** 2
        # The prior spread is deliberately wide; it counts as one job for the variance while data are
        # few, and fades (2/n of a job) as they grow, so a narrow real spread is not held up by it:
        # with a full job's weight it still inflated a 0.05 spread to 0.06 after 300 jobs.
        k = 1.0 if n < 2 else 2.0 / n
        variance = (k * prior.sigma**2 + max(0.0, scatter)) / (k + n)
        return LogNormal(mu, max(math.sqrt(variance), 0.01), prior.observations + n)
