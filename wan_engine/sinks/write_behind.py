"""One worker thread per output, fed through a bounded queue, so disk work overlaps the next read.

The event loop must never block on a disk, and a thread hop per chunk that
is awaited before the next read (``await to_thread(write)``) serialises the
download and the write. Here ``submit`` hands a chunk to the output's own
worker thread and returns at once unless ``depth`` chunks are already
waiting, in which case it waits for one slot: memory stays bounded at
``depth`` chunks (the chunks themselves, never a copy: they are immutable
``bytes`` handed over by reference), and a slow disk slows the download
(backpressure) instead of filling memory.

The worker runs a plain function per chunk (write + writeback); its first
error is kept, the rest of the queue is discarded, and the error is raised
by the next ``submit`` or by ``finish``. ``finish`` waits for the queue to
drain and runs a last function (fsync + publish) on the same thread, so a
file is only ever touched from one thread. ``cancel`` discards what is
queued and waits for the worker to stop.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_STOP = object()


class WriteBehind:
    def __init__(self, write: Callable[[bytes], None], *, depth: int = 4, name: str = "wan-engine-writer") -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._write = write
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(depth)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._cancelled = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, tuple):  # (function, future, forced): run it here, after everything queued
                function, future, forced = item
                try:
                    if self._error is not None and not forced:
                        raise self._error
                    outcome = function()
                except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                    self._loop.call_soon_threadsafe(_settle, future, None, exc)
                else:
                    self._loop.call_soon_threadsafe(_settle, future, outcome, None)
                continue
            try:
                if self._error is None and not self._cancelled:
                    assert isinstance(item, bytes)
                    self._write(item)
            except BaseException as exc:  # noqa: BLE001 - kept, raised on the loop side
                self._error = exc
            finally:
                self._loop.call_soon_threadsafe(self._slots.release)

    def _check(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RuntimeError("write after finish or cancel")

    async def submit(self, chunk: bytes) -> None:
        """Queue ``chunk`` for the worker; waits only while ``depth`` chunks are already queued."""
        self._check()
        await self._slots.acquire()
        self._check()
        self._queue.put(chunk)

    async def finish(self, last: Callable[[], T]) -> T:
        """Wait for every queued chunk to be written, then run ``last`` on the worker; stops the worker."""
        self._check()
        self._closed = True
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put((last, future, False))
        self._queue.put(_STOP)
        try:
            return await future
        finally:
            await asyncio.to_thread(self._thread.join)

    async def cancel(self, cleanup: Callable[[], None] | None = None) -> None:
        """Discard what is queued, run ``cleanup`` on the worker (after any write in progress), stop it."""
        if not self._thread.is_alive():
            if cleanup is not None:
                await asyncio.to_thread(cleanup)
            return
        self._cancelled = True
        self._closed = True
        future: asyncio.Future[None] = self._loop.create_future()
        self._queue.put((cleanup or (lambda: None), future, True))  # runs even after a failed write
        self._queue.put(_STOP)
        try:
            await asyncio.shield(future)
        finally:
            await asyncio.to_thread(self._thread.join)


def _settle(future: asyncio.Future[T], outcome: T | None, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(outcome)  # type: ignore[arg-type]
