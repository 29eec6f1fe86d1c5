"""The result download: one streamed pass, resumed with Range after a drop, checked for size and hash.

A small aiohttp server here serves a body and misbehaves on request
(truncating, ignoring Range, changing the content, expiring), so each path
of download.py runs deterministically on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from support.local_server import serving

from wan_engine.clock import VirtualClock
from wan_engine.delivery.download import DownloadPolicy, ResponseInfo, download, parse_content_range
from wan_engine.errors import DownloadError, ResultExpiredError, UnsupportedUrlError

BODY = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes: not a multiple of any chunk size
SMALL_CHUNKS = DownloadPolicy(chunk_size=64 * 1024)


@attrs.define
class MediaServer:
    """Serves ``body`` at /video.mp4, with faults switched on by the tests."""

    body: bytes = BODY
    truncate_times: int = 0
    """The next N answers send about half of what they promise, then hang up."""
    ignore_range: bool = False
    status: int | None = None
    changed_body: bytes | None = None
    """Served (whole, 200) to any Range request: the resource changed meanwhile."""
    range_start_shift: int = 0
    etag: str | None = '"v1"'
    requests: list[dict[str, str]] = attrs.field(factory=list)
    sent: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(dict(request.headers))
        if self.status is not None:
            return web.Response(status=self.status, text="gone")
        body, start, status = self.body, 0, 200
        header = request.headers.get("Range")
        if header and self.changed_body is not None:
            body = self.changed_body
        elif header and not self.ignore_range:
            start = int(header.removeprefix("bytes=").rstrip("-"))
            status = 206
        response = web.StreamResponse(status=status)
        response.content_type = "video/mp4"
        response.content_length = len(body) - start
        if self.etag:
            response.headers["ETag"] = self.etag
        if status == 206:
            shown = start + self.range_start_shift
            response.headers["Content-Range"] = f"bytes {shown}-{len(body) - 1}/{len(body)}"
        await response.prepare(request)
        end = len(body)
        truncate = self.truncate_times > 0
        if truncate:
            self.truncate_times -= 1
            end = start + (end - start) // 2
        for offset in range(start, end, 32 * 1024):
            piece = body[offset : min(end, offset + 32 * 1024)]
            await response.write(piece)
            self.sent += len(piece)
        if truncate:
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        return response


@pytest.fixture
async def server() -> AsyncIterator[MediaServer]:
    media = MediaServer()
    app = web.Application()
    app.router.add_get("/video.mp4", media.handle)
    async with serving(app) as base:
        media.url = f"{base}/video.mp4?signature=secret-token"
        yield media


class Collector:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def __call__(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


async def fetch(server: MediaServer, http: aiohttp.ClientSession, clock: Any = None, **kw: Any) -> tuple[Any, bytes]:
    sink = Collector()
    outcome = await download(server.url, sink, session=http, clock=clock or VirtualClock(), **kw)
    return outcome, sink.data


async def test_streams_the_whole_body_in_bounded_chunks(server: MediaServer, http: aiohttp.ClientSession) -> None:
    sink = Collector()
    started: list[ResponseInfo] = []

    async def on_start(info: ResponseInfo) -> None:
        assert not sink.chunks, "on_start comes before the first byte"
        started.append(info)

    outcome = await download(
        server.url, sink, session=http, clock=VirtualClock(), policy=SMALL_CHUNKS, on_start=on_start
    )
    assert sink.data == BODY
    assert outcome.size == len(BODY)
    assert outcome.sha256 == hashlib.sha256(BODY).hexdigest()
    assert outcome.resumes == 0
    assert max(len(c) for c in sink.chunks) <= SMALL_CHUNKS.chunk_size
    assert started == [ResponseInfo(200, "video/mp4", len(BODY), '"v1"')]
    assert "signature" not in outcome.url, "the reported URL has no query string (signed URLs carry secrets)"


async def test_a_dropped_connection_resumes_with_range(server: MediaServer, http: aiohttp.ClientSession) -> None:
    server.truncate_times = 2
    clock = VirtualClock()
    outcome, data = await fetch(server, http, clock, policy=SMALL_CHUNKS)
    assert data == BODY
    assert outcome.sha256 == hashlib.sha256(BODY).hexdigest()
    assert outcome.resumes == 2 and outcome.restarts == 0
    ranges = [r.get("Range") for r in server.requests]
    assert ranges[0] is None
    assert ranges[1] == f"bytes={len(BODY) // 2}-"
    assert all(r.get("If-Range") == '"v1"' for r in server.requests[1:]), "resume only the same version"
    assert clock.sleeps == [0.5, 0.5], "each resume that made progress waits the base delay, via the clock"


async def test_a_server_ignoring_range_restarts_and_skips_what_was_delivered(
    server: MediaServer, http: aiohttp.ClientSession
) -> None:
    server.truncate_times = 1
    server.ignore_range = True
    outcome, data = await fetch(server, http, policy=SMALL_CHUNKS)
    assert data == BODY, "the prefix is not fed twice"
    assert outcome.restarts == 1 and outcome.resumes == 1


async def test_a_resource_changed_between_attempts_is_not_spliced(
    server: MediaServer, http: aiohttp.ClientSession
) -> None:
    server.truncate_times = 1
    server.changed_body = bytes(reversed(BODY))
    with pytest.raises(DownloadError, match="changed"):
        await fetch(server, http, policy=SMALL_CHUNKS)


async def test_a_206_at_the_wrong_offset_is_refused(server: MediaServer, http: aiohttp.ClientSession) -> None:
    server.truncate_times = 1
    server.range_start_shift = 100
    with pytest.raises(DownloadError, match=r"resume at byte|disagrees with Content-Range"):
        await fetch(server, http, policy=SMALL_CHUNKS)


async def test_resumes_are_bounded_with_backoff(server: MediaServer, http: aiohttp.ClientSession) -> None:
    server.body = b"x" * 10
    server.truncate_times = 1000  # every answer breaks, and half of 1 byte is nothing: no progress
    clock = VirtualClock()
    policy = DownloadPolicy(max_stalled_resumes=3, base_delay_s=1.0, max_delay_s=3.0)
    with pytest.raises(DownloadError, match="not resumable") as caught:
        await fetch(server, http, clock, policy=policy)
    assert "signature" not in str(caught.value)
    assert len(server.requests) <= 3 + 4 + 1
    assert clock.sleeps[-3:] == [1.0, 2.0, 3.0], "exponential, capped, from the injected clock"


@pytest.mark.parametrize("status", [403, 404, 410])
async def test_expired_result_urls_raise_a_typed_error_without_retrying(
    server: MediaServer, http: aiohttp.ClientSession, status: int
) -> None:
    server.status = status
    with pytest.raises(ResultExpiredError) as caught:
        await fetch(server, http, job_id="job-1")
    assert caught.value.status == status and caught.value.job_id == "job-1"
    assert "secret-token" not in str(caught.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/video.mp4", "javascript:alert(1)", "/relative/video.mp4", "data:,x"]
)
async def test_only_http_urls_are_followed(http: aiohttp.ClientSession, url: str) -> None:
    with pytest.raises(UnsupportedUrlError, match="only http"):
        await download(url, Collector(), session=http, clock=VirtualClock())


async def test_a_consumer_error_is_raised_as_is_and_never_retried(
    server: MediaServer, http: aiohttp.ClientSession
) -> None:
    async def broken(chunk: bytes) -> None:
        raise aiohttp.ClientConnectionError("the sink's own network failed")  # looks retryable, must not be

    with pytest.raises(aiohttp.ClientConnectionError, match="sink's own"):
        await download(server.url, broken, session=http, clock=VirtualClock())
    assert len(server.requests) == 1


async def test_a_slow_consumer_holds_the_download_back(server: MediaServer, http: aiohttp.ClientSession) -> None:
    """Backpressure: while the consumer waits, the server cannot send much more than socket buffers hold."""
    server.body = b"v" * (64 * 1024 * 1024)
    release = asyncio.Event()
    first = asyncio.Event()

    async def paused(chunk: bytes) -> None:
        first.set()
        await release.wait()

    task = asyncio.create_task(download(server.url, paused, session=http, clock=VirtualClock()))
    await first.wait()
    await asyncio.sleep(0.3)
    held_back = server.sent
    release.set()
    await task
    assert held_back < 24 * 1024 * 1024, f"{held_back} bytes left the server while the consumer was paused"


def test_content_range_parsing() -> None:
    assert parse_content_range("bytes 10-19/100") == (10, 19, 100)
    assert parse_content_range("bytes 0-0/*") == (0, 0, None)
    assert parse_content_range("items 1-2/3") is None
    assert parse_content_range(None) is None
