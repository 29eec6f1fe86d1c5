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

A server that lies is caught before anything is published (the consumer's
commit only happens after ``download`` returns): a 206 whose ETag or
Last-Modified differs from the first answer's means another file, so the
download restarts from zero when the consumer can be reset (``on_restart``)
and fails otherwise; Content-Length, Content-Range and the size the provider
announced must agree with the bytes received; only identity encoding is taken
(a gzip bomb is refused by its header); the total size is capped; a body that
starts like an HTML/JSON/XML document, or without the declared container's
signature, is refused; redirects are bounded and http(s) only.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable

import aiohttp
import attrs

from wan_engine.clock import Clock
from wan_engine.errors import (
    DownloadError,
    NotAVideoError,
    ResourceChangedError,
    ResultExpiredError,
    SizeMismatchError,
    UnsupportedUrlError,
)
from wan_engine.redaction import scrub_url, scrub_urls_in

EXPIRED_STATUSES = frozenset({403, 404, 410})
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


CONTAINER_SIGNATURES: dict[str, tuple[tuple[int, bytes], ...]] = {
    # ISO base media (MP4, MOV, M4V, 3GP): a box size then a top-level box type.
    "mp4": ((4, b"ftyp"), (4, b"moov"), (4, b"mdat"), (4, b"free"), (4, b"skip"), (4, b"wide")),
    "mov": ((4, b"ftyp"), (4, b"moov"), (4, b"mdat"), (4, b"free"), (4, b"skip"), (4, b"wide")),
    "webm": ((0, b"\x1a\x45\xdf\xa3"),),
}
"""Where a container's magic bytes sit; ``sniff`` checks the first bytes against the declared one."""

_DOCUMENT_STARTS = (b"<", b"{", b"[")


def sniff(head: bytes, container: str | None) -> str | None:
    """Why ``head`` is not a video of ``container`` (None: it may be). Without a container, only
    documents are refused: a body starting with ``<``, ``{`` or ``[`` is HTML, XML or JSON."""
    stripped = head.lstrip(b" \t\r\n\xef\xbb\xbf")
    if stripped.startswith(_DOCUMENT_STARTS):
        return f"the body is a document, not a video (it starts with {stripped[:16]!r})"
    signatures = CONTAINER_SIGNATURES.get(container or "")
    if signatures and not any(head[at : at + len(magic)] == magic for at, magic in signatures):
        return f"the body does not start like a {container} file"
    return None


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
    """Idle-read timeout: a server that sends nothing for this long is treated as a dropped connection."""
    min_bytes_per_s: float = 1024.0
    """Below this, averaged over ``rate_window_s`` of network time, the server is stalling on purpose."""
    rate_window_s: float = 60.0
    max_bytes: int = 16 * 1024**3
    """Total size cap: a larger Content-Length is refused before any byte, a longer body when it passes."""
    max_redirects: int = 5
    container: str | None = None
    """The container the result must be (``mp4``, ``mov``, ``webm``); None refuses documents only."""


@attrs.frozen
class ResponseInfo:
    """The first answer's headers, given to the consumer before any byte."""

    status: int
    content_type: str | None
    size: int | None
    etag: str | None
    last_modified: str | None = None


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


class _Changed(Exception):
    """The resource is not the one we started on: begin again from zero if the consumer can."""


_SNIFF_BYTES = 64


class _RateGuard:
    """Bytes per second of *network* time (a slow consumer is not the server's fault), over windows.

    The idle-read timeout catches a server that sends nothing; this catches one that sends a
    byte now and then to keep the connection alive (slowloris). Real loop time, not the
    injected clock: it measures the network, which no test clock drives.
    """

    def __init__(self, min_bytes_per_s: float, window_s: float) -> None:
        self.min_rate, self.window_s = min_bytes_per_s, window_s
        self.waited, self.received = 0.0, 0
        self.clock = asyncio.get_running_loop().time

    def too_slow(self, size: int, waited: float) -> bool:
        self.waited += waited
        self.received += size
        if self.min_rate <= 0 or self.waited < self.window_s:
            return False
        slow = self.received / self.waited < self.min_rate
        self.waited, self.received = 0.0, 0
        return slow


class _ConsumerFailed(Exception):
    """Wraps the consumer's own error so it is never mistaken for a network failure and retried."""


def _scrubbed(exc: BaseException) -> str:
    """An exception's text with every URL's query and credentials removed (aiohttp puts URLs in them)."""
    return scrub_urls_in(f"{type(exc).__name__}: {exc}")


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
        expected_size: int | None = None,
        on_restart: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.url, self.consume, self.on_start = url, consume, on_start
        self.expected_size, self.on_restart = expected_size, on_restart
        self.session, self.clock, self.policy, self.job_id = session, clock, policy, job_id
        self.hasher = hashlib.sha256()
        self.offset = 0
        self.info: ResponseInfo | None = None
        self.resumes = 0
        self.restarts = 0
        self.changes = 0
        self._buffer = bytearray()
        self._head = b""
        self._sniffed: bool | None = None

    async def _start_over(self, why: str) -> None:
        """The resource changed under us: reset the consumer and begin again, once; else fail."""
        self.changes += 1
        if self.on_restart is None or self.changes > 1:
            raise self.error(ResourceChangedError, f"{why}; nothing was published")
        await self.on_restart()
        self.hasher = hashlib.sha256()
        self.offset = 0
        self.info = None
        self._buffer.clear()
        self._head, self._sniffed = b"", None

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
            except _Changed as changed:
                await self._start_over(str(changed))
                continue
            except (aiohttp.InvalidUrlRedirectClientError, aiohttp.NonHttpUrlRedirectClientError):
                # aiohttp's own message carries the target URL, signature and all: never shown.
                raise self.error(UnsupportedUrlError, "redirected to a URL that is not http(s)") from None
            except aiohttp.TooManyRedirects:
                raise self.error(DownloadError, f"more than {self.policy.max_redirects} redirects") from None
            except aiohttp.ClientResponseError as exc:
                # Not HTTP we can trust (e.g. more body than its Content-Length); aiohttp's text quotes the bytes.
                raise self.error(DownloadError, f"the server's answer is not valid HTTP ({exc.status})") from None
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
                        DownloadError, f"download interrupted at byte {self.offset} and not resumable: {_scrubbed(exc)}"
                    ) from exc
                delay = min(self.policy.max_delay_s, self.policy.base_delay_s * 2 ** max(0, stalled - 1))
                await self.clock.sleep(delay)
        assert self.info is not None
        if self.info.size is not None and self.offset != self.info.size:
            raise self.error(SizeMismatchError, f"got {self.offset} bytes, Content-Length said {self.info.size}")
        if self.expected_size is not None and self.offset != self.expected_size:
            raise self.error(
                SizeMismatchError, f"got {self.offset} bytes, the provider announced {self.expected_size}"
            )
        if self.offset < _SNIFF_BYTES and self._sniffed is None:
            self._check_signature(self._head)
        return DownloadOutcome(
            self.url, self.offset, self.hasher.hexdigest(), self.info.content_type, self.resumes, self.restarts
        )

    async def _attempt(self) -> None:
        headers = {"Accept-Encoding": "identity"}  # sizes and hashes are of the bytes as served
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
            if self.info is not None and self.info.etag and not self.info.etag.startswith("W/"):
                headers["If-Range"] = self.info.etag
            elif self.info is not None and self.info.last_modified:
                headers["If-Range"] = self.info.last_modified
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.policy.connect_timeout_s, sock_read=self.policy.read_timeout_s
        )
        async with self.session.get(
            self.url,
            headers=headers,
            timeout=timeout,
            allow_redirects=True,
            max_redirects=self.policy.max_redirects,
            read_bufsize=self.policy.chunk_size,  # whole chunks come out of aiohttp's buffer, not 64 KiB pieces
        ) as response:
            if response.url.scheme not in ("http", "https"):
                raise self.error(UnsupportedUrlError, f"redirected to a {response.url.scheme} URL")
            encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise self.error(DownloadError, f"the server sent {encoding!r}-encoded media; only identity is taken")
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
        length = response.content_length
        if length is not None and length > self.policy.max_bytes - (self.offset if status == 206 else 0):
            raise self.error(SizeMismatchError, f"{length} bytes is over the {self.policy.max_bytes}-byte cap")
        if status == 206:
            self._check_range(response, length)
        if self.info is None:
            self.info = ResponseInfo(
                status, response.content_type if "Content-Type" in response.headers else None,
                length, response.headers.get("ETag"), response.headers.get("Last-Modified"),
            )  # fmt: skip
            if status == 206:  # we asked for no range; take it only if it is the whole body
                parsed = parse_content_range(response.headers.get("Content-Range"))
                if parsed is None or parsed[0] != 0:
                    raise self.error(DownloadError, "the server answered 206 to a plain GET")
                self.info = attrs.evolve(self.info, size=parsed[2])
            size = self.info.size
            if self.expected_size is not None and size is not None and size != self.expected_size:
                raise self.error(
                    SizeMismatchError, f"the server says {size} bytes, the provider announced {self.expected_size}"
                )
            if size is not None and size > self.policy.max_bytes:
                raise self.error(SizeMismatchError, f"{size} bytes is over the {self.policy.max_bytes}-byte cap")
            if self.on_start is not None:
                try:
                    await self.on_start(self.info)
                except Exception as exc:
                    raise _ConsumerFailed() from exc
            return 0
        total = self.info.size
        self._check_same_resource(response)
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

    def _check_range(self, response: aiohttp.ClientResponse, length: int | None) -> None:
        """A 206's Content-Range and Content-Length must describe the same bytes."""
        parsed = parse_content_range(response.headers.get("Content-Range"))
        if parsed is None:
            raise self.error(DownloadError, "a 206 answer without a usable Content-Range")
        start, end, total = parsed
        if end < start or (total is not None and end >= total):
            raise self.error(DownloadError, f"an impossible Content-Range {start}-{end}/{total}")
        if length is not None and length != end - start + 1:
            raise self.error(
                SizeMismatchError, f"Content-Length {length} disagrees with Content-Range {start}-{end}"
            )

    def _check_same_resource(self, response: aiohttp.ClientResponse) -> None:
        """A resumed answer must be the same file: a different ETag or Last-Modified is another one."""
        assert self.info is not None
        for header, first in (("ETag", self.info.etag), ("Last-Modified", self.info.last_modified)):
            now = response.headers.get(header)
            if first is not None and now is not None and now != first:
                raise _Changed(f"the result changed between attempts (its {header} changed)")
            if first is not None and now is None and response.status == 206:
                raise _Changed(f"the result changed between attempts (the resumed answer has no {header})")

    async def _stream(self, response: aiohttp.ClientResponse, skip: int) -> None:
        prefix = hashlib.sha256() if skip else None
        expected_prefix = self.hasher.copy().hexdigest() if skip else None
        chunk_size = self.policy.chunk_size
        rate = _RateGuard(self.policy.min_bytes_per_s, self.policy.rate_window_s)
        pieces = response.content.iter_chunked(chunk_size).__aiter__()
        while True:
            started = rate.clock()
            try:
                piece = await pieces.__anext__()
            except StopAsyncIteration:
                break
            if rate.too_slow(len(piece), rate.clock() - started):
                raise self.error(
                    DownloadError,
                    f"the server sends under {self.policy.min_bytes_per_s:g} bytes/s (a stalled or slowloris server)",
                )
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

    def _check_signature(self, head: bytes) -> None:
        self._sniffed = True
        problem = sniff(head, self.policy.container)
        if problem is not None:
            raise self.error(NotAVideoError, problem)

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
        if self.offset + len(chunk) > self.policy.max_bytes:
            raise self.error(SizeMismatchError, f"the body is over the {self.policy.max_bytes}-byte cap")
        if self._sniffed is None:
            self._head += chunk[: _SNIFF_BYTES - len(self._head)]
            if len(self._head) >= _SNIFF_BYTES:
                self._check_signature(self._head)
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
    expected_size: int | None = None,
    on_restart: Callable[[], Awaitable[None]] | None = None,
) -> DownloadOutcome:
    """Stream ``url`` into ``consume`` once, in order, resuming interruptions; returns size and SHA-256.

    ``on_start`` runs once, after the first answer's headers and before any
    byte, so consumers can refuse early (e.g. the destination file exists).
    Bytes already given to ``consume`` are never given again, except after
    ``on_restart`` (called when the resource changed between attempts: the
    consumer discards what it has, and the download begins again from zero;
    without it, a changed resource is a ``ResourceChangedError``).
    ``expected_size`` is the size the provider announced (e.g. ``video.file_size``):
    the server's headers and the bytes received must both agree with it.
    """
    policy = policy or DownloadPolicy()
    return await _Download(
        url, consume, on_start, session, clock, policy, job_id, expected_size, on_restart
    ).run()
