"""The file sink's write path: a bounded queue to one worker thread, and writeback as the file grows."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from wan_engine.clock import VirtualClock
from wan_engine.errors import SinkError
from wan_engine.sinks import DeliverySummary, Provenance, SinkContext
from wan_engine.sinks.file import FileSink
from wan_engine.sinks.write_behind import WriteBehind
from wan_engine.sinks.writeback import Writeback

DATA = os.urandom(100_000)


def provenance(job_id: str = "job-123") -> Provenance:
    return Provenance(job_id, "alibaba/wan-2-7-r2v", "1", "https://cdn.example/v.mp4", datetime.now(UTC))


def context(http: aiohttp.ClientSession, prov: Provenance | None = None) -> SinkContext:
    return SinkContext(prov or provenance(), "mp4", "video/mp4", None, VirtualClock(), http)


def sha256_of(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def summary(prov: Provenance | None = None) -> DeliverySummary:
    return DeliverySummary(prov or provenance(), 0, "0" * 64, "video/mp4")


async def test_chunks_are_written_in_order_on_one_thread() -> None:
    seen: list[tuple[bytes, str]] = []
    worker = WriteBehind(lambda chunk: seen.append((chunk, threading.current_thread().name)), depth=2)
    for i in range(20):
        await worker.submit(bytes([i]) * 10)
    assert await worker.finish(lambda: threading.current_thread().name) == "wan-engine-writer"
    assert [chunk for chunk, _ in seen] == [bytes([i]) * 10 for i in range(20)]
    assert {name for _, name in seen} == {"wan-engine-writer"}


async def test_the_queue_is_bounded_and_applies_backpressure() -> None:
    gate = threading.Event()
    worker = WriteBehind(lambda _chunk: gate.wait(), depth=3)
    for _ in range(3):  # one being written (the worker is blocked on the gate), two waiting
        await worker.submit(b"x")
    blocked = asyncio.create_task(worker.submit(b"x"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not blocked.done(), "a fourth chunk must wait for a free slot"
    gate.set()
    await blocked
    await worker.finish(lambda: None)


async def test_the_same_chunk_object_reaches_the_worker_no_copy() -> None:
    chunk = os.urandom(1024)
    received: list[bytes] = []
    worker = WriteBehind(received.append)
    await worker.submit(chunk)
    await worker.finish(lambda: None)
    assert received[0] is chunk


async def test_a_write_error_surfaces_on_the_next_submit_or_finish() -> None:
    def fail(_chunk: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    worker = WriteBehind(fail, depth=1)
    await worker.submit(b"a")
    with pytest.raises(OSError, match="No space"):
        for _ in range(10):
            await worker.submit(b"b")
        await worker.finish(lambda: None)
    cleaned: list[bool] = []
    await worker.cancel(lambda: cleaned.append(True))
    assert cleaned == [True], "the clean-up runs even after a failed write"


async def test_a_full_disk_mid_file_leaves_nothing_behind(
    tmp_path: Path, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    written = 0

    def filling(fd: int, data: bytes | memoryview) -> int:
        nonlocal written
        if written > 40_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        written += len(data)
        return real_write(fd, data)

    sink = FileSink(tmp_path, template="{id}.{ext}", queue_depth=1)
    writer = await sink.open(context(http))
    monkeypatch.setattr("wan_engine.sinks.file.os.write", filling)
    with pytest.raises(SinkError, match="No space"):
        for start in range(0, len(DATA), 10_000):
            await writer.write(DATA[start : start + 10_000])
        await writer.commit(summary())
    await writer.abort()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("use_sync_file_range", [True, False])
def test_writeback_settles_the_file_window_by_window(tmp_path: Path, use_sync_file_range: bool) -> None:
    window = 64 * 1024
    path = tmp_path / "grown"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        writeback = Writeback(fd, window=window, use_sync_file_range=use_sync_file_range)
        block = os.urandom(16 * 1024)
        for _ in range(64):  # 1 MiB in 16 windows
            os.write(fd, block)
            writeback.wrote(len(block))
            assert writeback.written - writeback.settled <= 5 * window, "dirty data stays bounded"
        assert writeback.written == 64 * len(block)
        assert writeback.settled >= writeback.written - 5 * window
        if not use_sync_file_range:
            assert writeback.fallback_syncs >= 3
    finally:
        os.close(fd)
    assert path.stat().st_size == 64 * 16 * 1024


async def test_many_windows_through_the_sink_publish_the_exact_bytes(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    sink = FileSink(tmp_path, template="{id}.{ext}", writeback_window=256 * 1024, queue_depth=2)
    writer = await sink.open(context(http, provenance("big")))
    for start in range(0, len(data), 100_000):
        await writer.write(data[start : start + 100_000])
    location = await writer.commit(summary(provenance("big")))
    assert sha256_of(location) == hashlib.sha256(data).hexdigest()
    assert [name for name in os.listdir(tmp_path) if name.endswith(".part")] == []
