"""Injected time: everything that waits asks a Clock, never ``time`` or ``asyncio.sleep``.

Tests and simulations hand the engine a ``VirtualClock`` and a nine-minute job
runs in milliseconds, with every delay still observable.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds: only differences mean anything."""

    def wall(self) -> datetime:
        """Wall-clock time, for HTTP dates (Retry-After) and journal entries."""

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """Time that moves only when someone sleeps.

    Meant for one waiter at a time (a job, a benchmark simulation): each sleep
    advances the clock by its own length. ``sleeps`` keeps every delay asked
    for, so tests can assert on the schedule itself.
    """

    def __init__(self, start: float = 0.0, wall_start: datetime | None = None) -> None:
        self._now = start
        self._start = start
        self._wall_start = wall_start or datetime(2026, 1, 1, tzinfo=UTC)
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    def wall(self) -> datetime:
        from datetime import timedelta

        return self._wall_start + timedelta(seconds=self._now - self._start)

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)


class ScaledClock:
    """Real time, sped up ``factor`` times: a nine-minute job runs in half a second, over real sockets.

    For a time-scaled sandbox (give it ``clock=scaled.now``) and benchmarks that keep real
    HTTP: every sleep is ``factor`` times shorter, every reading ``factor`` times larger.
    What is not slept (network, processing) is scaled up too when read off this clock.
    """

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self._origin = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._origin) * self.factor

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.factor)
