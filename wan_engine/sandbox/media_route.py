"""The result URLs: a CDN stand-in that streams, honours byte ranges, expires and breaks on demand."""

from __future__ import annotations

from aiohttp import hdrs, web

from wan_engine.sandbox.backend import MEDIA_PREFIX, Backend
from wan_engine.sandbox.faults import FaultKind
from wan_engine.sandbox.media import CONTENT_TYPE, MediaSource, UnsatisfiableRangeError, requested_range
from wan_engine.sandbox.responses import drop
from wan_engine.states import JobState

ROUTE = MEDIA_PREFIX + "/{token}.mp4"
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
        return await stream(request, backend.media.source_for(job.id), truncate=fired.is_(FaultKind.TRUNCATE))


async def stream(request: web.Request, source: MediaSource, *, truncate: bool) -> web.StreamResponse:
    """Send the file (or the asked range) a chunk at a time; with ``truncate``, stop halfway and hang up."""
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
    try:
        for chunk in source.chunks(start, end):
            await response.write(chunk)
    except ConnectionResetError:
        return response  # the client went away; nothing left to send it
    if truncate:
        drop(request)
        return response
    await response.write_eof()
    return response
