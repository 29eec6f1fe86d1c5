"""Pacing requests to a provider's documented rate: a token bucket per provider and kind of request.

A provider that documents a limit (DashScope: 20 task queries a second per
account) answers 429 beyond it; a batch of hundreds of jobs polling at once
would hit that wall on every round. The spec's ``rate_limits`` block says the
limit as data and the client waits its turn before each request instead, so
the limit is kept by construction rather than learned from errors. Callers can
lower (or set) a limit for an account shared with other programs.

Time comes from the injected clock, so a test drives the buckets on virtual time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Literal

from wan_engine.clock import Clock
from wan_engine.spec.model import ProviderSpec

RequestKind = Literal["submit", "status"]


class TokenBucket:
    """``rate`` requests a second on average, at most ``burst`` at once; waiters are served in turn."""

    def __init__(self, rate: float, clock: Clock, burst: float = 1.0) -> None:
        if not rate > 0:
            raise ValueError(f"a rate must be above 0 requests a second (got {rate})")
        self.rate, self.clock, self.burst = rate, clock, max(1.0, burst)
        self._tokens = self.burst
        self._stamp: float | None = None
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:  # one waiter at a time: first come, first served
            while True:
                now = self.clock.now()
                if self._stamp is not None:
                    self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1 - 1e-9:  # float refills land a hair short of a whole token
                    self._tokens = max(0.0, self._tokens - 1)
                    return
                await self.clock.sleep((1 - self._tokens) / self.rate)


class Pacer:
    """The buckets of one client: from each provider's spec, or from ``overrides`` (provider id -> kind -> rate)."""

    def __init__(self, clock: Clock, overrides: Mapping[str, Mapping[RequestKind, float]] | None = None) -> None:
        self.clock = clock
        self.overrides = {provider: dict(rates) for provider, rates in (overrides or {}).items()}
        self._buckets: dict[tuple[str, RequestKind], TokenBucket | None] = {}

    def rate(self, provider: ProviderSpec, kind: RequestKind) -> float | None:
        override = self.overrides.get(provider.id, {}).get(kind)
        if override is not None:
            return override
        limits = provider.rate_limits
        return limits.submit_per_s if kind == "submit" else limits.status_per_s

    async def wait(self, provider: ProviderSpec, kind: RequestKind) -> None:
        """Return when a ``kind`` request to ``provider`` may go out (at once, for a provider with no limit)."""
        slot = (provider.id, kind)
        if slot not in self._buckets:
            rate = self.rate(provider, kind)
            self._buckets[slot] = TokenBucket(rate, self.clock) if rate is not None else None
        bucket = self._buckets[slot]
        if bucket is not None:
            await bucket.take()
