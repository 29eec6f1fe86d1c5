"""A limit on concurrent requests that stays O(1) with 100,000 waiters and keeps connections busy.

Why not ``asyncio.Semaphore``: on Python 3.11 it scans every waiter on each
acquire (``locked()`` walks the queue looking for one not cancelled), which
made 100,000 polling jobs quadratic and halved the engine's reads per second
in ``bench/engine_overhead.py``.

Why not a strict first-in-first-out hand-over: a freed slot reserved for the
oldest waiter stays idle until that waiter's task gets its turn on a busy
event loop (hundreds of milliseconds with 100,000 jobs), so connections sat
idle. Here a freed slot is free at once: whoever asks next takes it (as
aiohttp's own connection pool does), and the oldest waiter is woken to try;
a waiter that loses the race keeps its place at the head of the queue, and a
waiter cancelled after being woken wakes the next one, so no wake-up is lost.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType


class Gate:
    """``async with gate:`` admits at most ``limit`` holders at once."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a gate needs at least one slot, not {limit}")
        self._free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def free(self) -> int:
        return self._free

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._waiters if not waiter.done())

    async def __aenter__(self) -> None:
        if self._free > 0:
            self._free -= 1
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        while True:
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_next()  # woken just as we were cancelled: pass the wake-up on
                raise
            if self._free > 0:
                self._free -= 1
                return
            waiter = loop.create_future()  # another task took the slot first: keep our place
            self._waiters.appendleft(waiter)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._free += 1
        self._wake_next()

    def _wake_next(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
