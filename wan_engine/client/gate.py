"""A first-come-first-served limit on requests being built and sent, O(1) with 100,000 waiters.

Why a gate at all: aiohttp's connection pool limits connections only after it has built the whole
request (URL, headers, a ClientRequest, a middleware chain), so 100,000 jobs due at once held
~4 KiB of waiting request each. Waiting here costs one small future.

Why not ``asyncio.Semaphore``: on Python 3.11 it scans every waiter on each acquire (``locked()``
walks the queue looking for one not cancelled), which made 100,000 polling jobs quadratic.

Why first come, first served: a poller's fairness is its detection delay. If a freed slot went to
whichever task asked next, jobs waking from their sleep would overtake jobs already waiting, and
some would wait many rounds. Here a freed slot is handed to the oldest waiter. The hand-over takes
one turn of the event loop; the client sizes the gate above aiohttp's connection limit so that the
pool always has requests queued and no connection idles during it (provider_client.py).
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType


class Gate:
    """``async with gate:`` admits at most ``limit`` holders at once, in order of arrival."""

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
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed the slot just as we were cancelled: pass it on
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._release()

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the oldest live waiter
                return
        self._free += 1
