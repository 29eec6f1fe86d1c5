"""Downloading a result video once, as a stream, resuming where a dropped connection left off.

Result URLs expire and videos are large, so the download is a single pass
handed chunk by chunk to a consumer (the delivery tee): the next chunk is not
read until the consumer has taken the last one, so memory stays at one chunk
plus aiohttp's own bounded read buffer whatever the size, and a slow consumer
slows the download instead of piling bytes up.

A connection that drops mid-body is resumed with ``Range: bytes=N-``; the
answer must be a 206 whose Content-Range starts at N and agrees on the total.
A server that ignores Range and sends the whole body again (200) is handled
by re-reading the prefix already delivered without passing it on, checking
that its hash matches what was delivered (so a resource that changed between
attempts is detected, not spliced). Resumes are bounded and spaced by the
injected clock. 403/404/410 mean the URL expired: a typed error, no retries.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable

import aiohttp
import attrs

from wan_engine.clock import Clock
from wan_engine.errors import WanEngineError
from wan_engine.sinks.protocols import scrub_url

EXPIRED_STATUSES = frozenset({403, 404, 410})
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


class DownloadError(WanEngineError):
    """The result could not be downloaded; the message names the URL without its query (signed secrets)."""

    def __init__(self, message: str, *, url: str, job_id: str | None = None) -> None:
        self.url = scrub_url(url)
        self.job_id = job_id
        super().__init__(f"{message} ({self.url})")


class UnsupportedUrlError(DownloadError, ValueError):
    """Only http(s) result URLs are followed: ``file://`` or ``ftp://`` from a response is refused."""


class ResultExpiredError(DownloadError):
    """The result URL answered 403/404/410: it has expired (or never was); fetch a fresh one from the job."""

    def __init__(self, status: int, *, url: str, job_id: str | None = None) -> None:
        self.status = status
        super().__init__(f"the result URL answered {status}: it has expired", url=url, job_id=job_id)


class SizeMismatchError(DownloadError):
    """The body was not as long as the server said it would be."""


@attrs.frozen
class DownloadPolicy:
    chunk_size: int = 1024 * 1024
    """Bytes handed to the consumer at a time (the last chunk may be shorter)."""
    max_stalled_resumes: int = 5
    """Resumes in a row that bring no new byte before giving up."""
    max_resumes: int = 50
    """Resumes in all, so a server that drops every few bytes cannot keep us forever."""
    base_delay_s: float = 0.5
    max_delay_s: float = 10.0
    connect_timeout_s: float = 15.0
    read_timeout_s: float = 60.0


@attrs.frozen
class ResponseInfo:
    """The first answer's headers, given to the consumer before any byte."""

    status: int
    content_type: str | None
    size: int | None
    etag: str | None


@attrs.frozen
class DownloadOutcome:
    url: str = attrs.field(converter=scrub_url)
    size: int
    sha256: str
    content_type: str | None
    resumes: int
    restarts: int
    """Resumes the server answered with the whole body (it ignored Range)."""


class _Interrupted(Exception):
    """The body stopped early; resumable like a dropped connection."""


class _ConsumerFailed(Exception):
    """Wraps the consumer's own error so it is never mistaken for a network failure and retried."""


def check_url(url: str) -> None:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in ("http", "https"):
        raise UnsupportedUrlError(f"refusing to download a {scheme or 'scheme-less'} URL; only http(s)", url=url)


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes 100-199/1000`` as (100, 199, 1000); the total is None for ``*``."""
    match = _CONTENT_RANGE.match(value or "")
    if match is None:
        return None
    start, end, total = match.groups()
    return int(start), int(end), None if total == "*" else int(total)


class _Download:
    def __init__(
        self,
        url: str,
        consume: Callable[[bytes], Awaitable[None]],
        on_start: Callable[[ResponseInfo], Awaitable[None]] | None,
        session: aiohttp.ClientSession,
        clock: Clock,
        policy: DownloadPolicy,
        job_id: str | None,
    ) -> None:
        self.url, self.consume, self.on_start = url, consume, on_start
        self.session, self.clock, self.policy, self.job_id = session, clock, policy, job_id
        self.hasher = hashlib.sha256()
        self.offset = 0
        self.info: ResponseInfo | None = None
        self.resumes = 0
        self.restarts = 0
        self._buffer = bytearray()

    def error(self, cls: type[DownloadError], message: str) -> DownloadError:
        return cls(message, url=self.url, job_id=self.job_id)

    async def run(self) -> DownloadOutcome:
        check_url(self.url)
        stalled = 0
        while True:
            before = self.offset
            try:
                await self._attempt()
                break
            except _ConsumerFailed as wrapped:
                assert wrapped.__cause__ is not None
                raise wrapped.__cause__ from None
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError, _Interrupted) as exc:
                try:
                    await self._flush()  # what arrived before the drop is good: pass it on, resume after it
                except _ConsumerFailed as wrapped:
                    assert wrapped.__cause__ is not None
                    raise wrapped.__cause__ from None
                stalled = 0 if self.offset > before else stalled + 1
                self.resumes += 1
                if stalled > self.policy.max_stalled_resumes or self.resumes > self.policy.max_resumes:
                    raise self.error(
                        DownloadError, f"download interrupted at byte {self.offset} and not resumable: {exc!r}"
                    ) from exc
                delay = min(self.policy.max_delay_s, self.policy.base_delay_s * 2 ** max(0, stalled - 1))
                await self.clock.sleep(delay)
        assert self.info is not None
        if self.info.size is not None and self.offset != self.info.size:
            raise self.error(SizeMismatchError, f"got {self.offset} bytes, Content-Length said {self.info.size}")
        return DownloadOutcome(
            self.url, self.offset, self.hasher.hexdigest(), self.info.content_type, self.resumes, self.restarts
        )

    async def _attempt(self) -> None:
        headers = {"Accept-Encoding": "identity"}  # sizes and hashes are of the bytes as served
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
            if self.info is not None and self.info.etag and not self.info.etag.startswith("W/"):
                headers["If-Range"] = self.info.etag
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.policy.connect_timeout_s, sock_read=self.policy.read_timeout_s
        )
        async with self.session.get(
            self.url, headers=headers, timeout=timeout, allow_redirects=True, read_bufsize=self.policy.chunk_size
        ) as response:  # read_bufsize: whole chunks come out of aiohttp's buffer, not 64 KiB pieces
            if response.url.scheme not in ("http", "https"):
                raise self.error(UnsupportedUrlError, f"redirected to a {response.url.scheme} URL")
            skip = await self._check_response(response)
            await self._stream(response, skip)

    async def _check_response(self, response: aiohttp.ClientResponse) -> int:
        """Validate the answer for the current offset; returns how many leading bytes to skip."""
        status = response.status
        if status in EXPIRED_STATUSES:
            raise ResultExpiredError(status, url=self.url, job_id=self.job_id)
        if status == 429 or status >= 500:
            raise _Interrupted(f"the server answered {status}")
        if status not in (200, 206):
            raise self.error(DownloadError, f"the result URL answered {status}")
        if self.info is None:
            self.info = ResponseInfo(
                status, response.content_type if "Content-Type" in response.headers else None,
                response.content_length, response.headers.get("ETag"),
            )  # fmt: skip
            if status == 206:  # we asked for no range; take it only if it is the whole body
                parsed = parse_content_range(response.headers.get("Content-Range"))
                if parsed is None or parsed[0] != 0:
                    raise self.error(DownloadError, "the server answered 206 to a plain GET")
                self.info = attrs.evolve(self.info, size=parsed[2])
            if self.on_start is not None:
                try:
                    await self.on_start(self.info)
                except Exception as exc:
                    raise _ConsumerFailed() from exc
            return 0
        total = self.info.size
        if status == 206:
            parsed = parse_content_range(response.headers.get("Content-Range"))
            if parsed is None:
                raise self.error(DownloadError, "a 206 answer without a usable Content-Range")
            start, _end, range_total = parsed
            if start != self.offset:
                raise self.error(DownloadError, f"asked to resume at byte {self.offset}, the server sent {start}")
            if total is not None and range_total is not None and range_total != total:
                raise self.error(SizeMismatchError, f"the size changed from {total} to {range_total} between attempts")
            return 0
        # 200: the server ignored Range (or If-Range found the resource changed) and starts over.
        if total is not None and response.content_length not in (None, total):
            raise self.error(DownloadError, "the result changed between attempts (a different Content-Length)")
        self.restarts += 1
        return self.offset

    async def _stream(self, response: aiohttp.ClientResponse, skip: int) -> None:
        prefix = hashlib.sha256() if skip else None
        expected_prefix = self.hasher.copy().hexdigest() if skip else None
        chunk_size = self.policy.chunk_size
        async for piece in response.content.iter_chunked(chunk_size):
            if skip:
                assert prefix is not None
                dropped = piece[:skip]
                prefix.update(dropped)
                skip -= len(dropped)
                piece = piece[len(dropped) :]
                if not skip and prefix.hexdigest() != expected_prefix:
                    raise self.error(DownloadError, "the result changed between attempts (the prefix differs)")
                if not piece:
                    continue
            if not self._buffer:  # the usual case: aiohttp's bytes handed on as they are, never copied
                await self._hand_over(piece)
                continue
            self._buffer += piece
            while len(self._buffer) >= chunk_size:
                await self._flush(chunk_size)
        if skip:
            raise _Interrupted("the body ended inside the part already delivered")
        await self._flush()
        size = self.info.size if self.info is not None else None
        if size is not None and self.offset < size:
            raise _Interrupted(f"the body ended at byte {self.offset} of {size}")

    async def _flush(self, limit: int | None = None) -> None:
        """Hand the buffered bytes (at most ``limit`` of them) to the consumer."""
        if not self._buffer:
            return
        size = len(self._buffer) if limit is None else min(limit, len(self._buffer))
        if size == len(self._buffer):
            chunk = bytes(self._buffer)
            self._buffer.clear()
        else:
            with memoryview(self._buffer) as view:
                chunk = bytes(view[:size])  # one copy, not two
            del self._buffer[:size]
        await self._hand_over(chunk)

    async def _hand_over(self, chunk: bytes) -> None:
        if self.info is not None and self.info.size is not None and self.offset + len(chunk) > self.info.size:
            raise self.error(SizeMismatchError, f"the body is longer than its Content-Length {self.info.size}")
        self.hasher.update(chunk)
        self.offset += len(chunk)
        try:
            await self.consume(chunk)
        except Exception as exc:
            raise _ConsumerFailed() from exc


async def download(
    url: str,
    consume: Callable[[bytes], Awaitable[None]],
    *,
    session: aiohttp.ClientSession,
    clock: Clock,
    policy: DownloadPolicy | None = None,
    on_start: Callable[[ResponseInfo], Awaitable[None]] | None = None,
    job_id: str | None = None,
) -> DownloadOutcome:
    """Stream ``url`` into ``consume`` once, in order, resuming interruptions; returns size and SHA-256.

    ``on_start`` runs once, after the first answer's headers and before any
    byte, so consumers can refuse early (e.g. the destination file exists).
    Bytes already given to ``consume`` are never given again.
    """
    return await _Download(url, consume, on_start, session, clock, policy or DownloadPolicy(), job_id).run()
