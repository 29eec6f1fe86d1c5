"""The result URLs: a CDN stand-in that streams, honours byte ranges, expires and breaks on demand."""

from __future__ import annotations

import asyncio

from aiohttp import hdrs, web

from wan_engine.sandbox.backend import MEDIA_PREFIX, Backend
from wan_engine.sandbox.faults import FaultKind
from wan_engine.sandbox.media import CONTENT_TYPE, MediaSource, UnsatisfiableRangeError, requested_range
from wan_engine.sandbox.responses import drop
from wan_engine.states import JobState

ROUTE = MEDIA_PREFIX + "/{token}.mp4"
PACED_WRITE = 16 * 1024
"""Bytes written at a time under a ``bandwidth`` fault, so the pace is smooth at small rates."""
EXPIRED_STATUS = 403
"""What signed CDN URLs answer once expired (a 403 'Request has expired'), so clients learn to handle it."""


class MediaRoute:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def serve(self, request: web.Request) -> web.StreamResponse:
        backend = self.backend
        job = backend.book.by_token(request.match_info["token"])
        if job is None or job.state_at(backend.now()) is not JobState.SUCCEEDED:
            raise web.HTTPNotFound()
        provider = job.model.provider
        fired, early = await backend.before(request, "media", job.model_id, provider)
        if early is not None:
            return early
        expires_at = backend.result_expires_at(job)
        if fired.is_(FaultKind.EXPIRED) or (expires_at is not None and backend.now() >= expires_at):
            return backend.error(request, provider, EXPIRED_STATUS, "Request has expired")
        cut: int | None = None
        if fired.is_(FaultKind.RESET_AT) and fired.outcome is not None:
            cut = fired.outcome.reset_after_bytes
        return await stream(
            request, backend.media.source_for(job.id), truncate=fired.is_(FaultKind.TRUNCATE), cut_at=cut,
            rate=fired.rate,
        )  # fmt: skip


async def stream(
    request: web.Request,
    source: MediaSource,
    *,
    truncate: bool,
    cut_at: int | None = None,
    rate: float | None = None,
) -> web.StreamResponse:
    """Send the file (or the asked range) a chunk at a time.

    ``truncate`` stops halfway and hangs up; ``cut_at`` hangs up after that many
    bytes of this answer; ``rate`` paces the bytes to that many a second.
    """
    size = source.size
    try:
        byte_range = requested_range(request.headers.get(hdrs.RANGE), size)
    except UnsatisfiableRangeError:
        raise web.HTTPRequestRangeNotSatisfiable(headers={hdrs.CONTENT_RANGE: f"bytes */{size}"}) from None
    start, stop = (byte_range.start, byte_range.stop) if byte_range else (0, size)
    response = web.StreamResponse(status=206 if byte_range else 200)
    response.content_type = CONTENT_TYPE
    response.content_length = stop - start
    response.headers[hdrs.ACCEPT_RANGES] = "bytes"
    if byte_range:
        response.headers[hdrs.CONTENT_RANGE] = f"bytes {start}-{stop - 1}/{size}"
    await response.prepare(request)
    if request.method == hdrs.METH_HEAD:
        return response
    end = start + (stop - start) // 2 if truncate else stop
    if cut_at is not None:
        end = min(end, start + cut_at)
    loop = asyncio.get_running_loop()
    began, sent = loop.time(), 0
    try:
        for chunk in source.chunks(start, end):
            if rate:
                for offset in range(0, len(chunk), PACED_WRITE):
                    piece = chunk[offset : offset + PACED_WRITE]
                    sent += len(piece)
                    ahead = began + sent / rate - loop.time()  # a piece leaves no earlier than the pace allows
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                    await response.write(piece)
            else:
                await response.write(chunk)
    except ConnectionResetError:
        return response  # the client went away; nothing left to send it
    if truncate or end < stop:
        drop(request)
        return response
    await response.write_eof()
    return response
