"""A hostile provider: an aiohttp API and a raw-socket media server that misbehave on purpose.

The project's sandbox is built from the same specs the engine reads, so a defect the
sandbox does not model cannot be seen with it. This server is written independently
of the specs' machinery: it speaks the AI/ML API's wire shape (``POST
/v2/video/generations`` -> ``{"id", "status"}``, ``GET ...?generation_id=ID``) and lets
each test script every answer, byte for byte, while it counts what reached it.

Two parts:

- ``HostileApi``: the JSON API. ``submit`` and ``status`` are replaceable handlers;
  every submission (method, path, headers, body) is recorded, so a test asserts how
  many paid requests arrived. A second origin (``other``) records every request sent to
  it, to prove credentials never leave for another host.
- ``MediaServer``: an asyncio raw-socket server. A ``MediaScript`` is a list of
  answers, one per connection, each written exactly as given: status line, headers
  (any Content-Length, Content-Range, ETag, Content-Encoding, Location), then the
  body bytes, then either a clean close, a reset, or a stall. Nothing is corrected.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
from aiohttp import web

KEY = "sk-hostile-SECRET-0123456789"
SIGNATURE = "d3adb33fs1gnatur3"

Handler = Callable[["HostileApi", web.Request], Awaitable[web.StreamResponse]]


def mp4_bytes(size: int, seed: int = 0) -> bytes:
    """``size`` bytes that start like an ISO-BMFF (MP4) file: a real ``ftyp`` box, then filler."""
    ftyp = struct.pack(">I4s4sI4s4s", 24, b"ftyp", b"isom", 512, b"isom", b"mp41")
    filler = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return (ftyp + filler)[:size]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@attrs.define
class Submission:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HostileApi:
    """The API half. ``submit``/``status`` handlers default to an honest provider."""

    def __init__(self) -> None:
        self.submissions: list[Submission] = []
        self.status_requests: list[Submission] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.video_url = "http://127.0.0.1:9/none.mp4"
        self.file_size: int | None = None
        self.submit: Handler = HostileApi.honest_submit
        self.status: Handler = HostileApi.honest_status
        self.base_url = ""

    # -- honest defaults -------------------------------------------------------------------

    async def honest_submit(self, request: web.Request) -> web.StreamResponse:
        job_id = f"gen-{len(self.submissions)}"
        self.jobs[job_id] = {"id": job_id, "status": "queued"}
        return web.json_response(self.jobs[job_id])

    async def honest_status(self, request: web.Request) -> web.StreamResponse:
        job_id = request.query.get("generation_id", "")
        video: dict[str, Any] = {"url": self.video_url}
        if self.file_size is not None:
            video["file_size"] = self.file_size
        return web.json_response({"id": job_id, "status": "completed", "video": video})

    # -- plumbing --------------------------------------------------------------------------

    async def _record(self, into: list[Submission], request: web.Request) -> None:
        into.append(Submission(request.method, request.path_qs, dict(request.headers), await request.read()))

    async def _generations(self, request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            await self._record(self.submissions, request)
            return await self.submit(self, request)
        await self._record(self.status_requests, request)
        return await self.status(self, request)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/v2/video/generations", self._generations)
        app.router.add_route("*", "/elsewhere/{tail:.*}", self._generations)
        return app


class OtherOrigin:
    """A second host: every request that reaches it is kept (a leaked key shows up here)."""

    def __init__(self) -> None:
        self.requests: list[Submission] = []
        self.base_url = ""

    async def _any(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(Submission(request.method, request.path_qs, dict(request.headers), await request.read()))
        return web.json_response({"id": "stolen", "status": "completed", "video": {"url": "http://x/y.mp4"}})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        return app


# -- raw media -------------------------------------------------------------------------------


@attrs.frozen
class Answer:
    """One connection's answer, written verbatim. ``end``: "close", "reset" or "stall"."""

    status: str = "200 OK"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    end: str = "close"
    drip: float = 0.0
    """Seconds between 1 KiB pieces of the body (slow or slowloris servers); 0 writes it at once."""


def ok(body: bytes, *, length: int | None = None, etag: str | None = None, **extra: str) -> Answer:
    """A 200 with ``Content-Length`` (the real one unless ``length`` lies) and optional ETag."""
    headers = [("Content-Type", "video/mp4"), ("Content-Length", str(len(body) if length is None else length))]
    if etag is not None:
        headers.append(("ETag", etag))
    headers += [(k.replace("_", "-"), v) for k, v in extra.items()]
    return Answer("200 OK", tuple(headers), body)


def partial(body: bytes, start: int, total: int, *, etag: str | None = None, **extra: str) -> Answer:
    headers = [
        ("Content-Type", "video/mp4"),
        ("Content-Length", str(len(body))),
        ("Content-Range", f"bytes {start}-{start + len(body) - 1}/{total}"),
    ]
    if etag is not None:
        headers.append(("ETag", etag))
    headers += [(k.replace("_", "-"), v) for k, v in extra.items()]
    return Answer("206 Partial Content", tuple(headers), body)


class MediaServer:
    """Answers connection N with ``answers[N]`` (the last one repeats); records each request head."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers
        self.requests: list[str] = []
        self.base_url = ""
        self._server: asyncio.Server | None = None

    def url(self, path: str = "/video.mp4", query: str = "") -> str:
        return f"{self.base_url}{path}" + (f"?{query}" if query else "")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        self.requests.append(head.decode("latin-1"))
        answer = self.answers[min(len(self.requests) - 1, len(self.answers) - 1)]
        lines = [f"HTTP/1.1 {answer.status}", *(f"{k}: {v}" for k, v in answer.headers), "Connection: close"]
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            if answer.drip:
                for i in range(0, len(answer.body), 1024):
                    writer.write(answer.body[i : i + 1024])
                    await writer.drain()
                    await asyncio.sleep(answer.drip)
            else:
                writer.write(answer.body)
            await writer.drain()
            if answer.end == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            if answer.end == "stall":
                await asyncio.sleep(3600)
        except (ConnectionError, asyncio.CancelledError):
            pass
        writer.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            # Stalled handlers hold connections open: abort them so close does not wait an hour.
            self._server.close_clients() if hasattr(self._server, "close_clients") else None
            await asyncio.sleep(0)


@asynccontextmanager
async def media(answers: list[Answer]) -> AsyncIterator[MediaServer]:
    server = MediaServer(answers)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def json_body(document: Any) -> bytes:
    return json.dumps(document).encode()


def assert_clean(*outputs: object) -> None:
    """No output (error text, log, journal dump, command output) carries the key or a URL signature."""
    for output in outputs:
        text = output if isinstance(output, str) else repr(output) + str(output)
        assert KEY not in text, f"the API key leaked into: {text[:300]}"
        assert SIGNATURE not in text, f"a URL signature leaked into: {text[:300]}"
