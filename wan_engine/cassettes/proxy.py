"""A recording, validating reverse proxy for one provider: record real sessions from an app's own traffic.

The app points its provider base URL at the proxy; the proxy forwards each
request to the upstream (the real API, or a sandbox), and on the way:

* **validates** every exchange against the spec as it passes, job lifecycle
  included (the contract checker runs on the session so far, so a breach is
  reported the moment the upstream answers it, naming interaction and JSON path);
* **records** a cassette in the harness format, scrubbed as it is written
  (the key in use and credential headers, signed-URL credentials), labelled
  with where it came from (``real`` for the provider's own API, ``sandbox`` for
  a loopback upstream); result videos are streamed through (their URLs in the
  status answers the app sees point at the proxy) and kept as size and SHA-256;
* **injects faults** from the sandbox's fault plan (rate limits, 5xx, resets,
  delays, hangs) — a fault's answer is the proxy's, so it is not recorded.

The cassette is rewritten after every exchange (atomically), so what was seen
up to a crash is on disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, hdrs, web

from wan_engine.cassettes.contract import Breach, check_document
from wan_engine.cassettes.provenance import PROVENANCE_KEY, CassetteOrigin, decide_source
from wan_engine.cassettes.recording import _versions
from wan_engine.cassettes.scrubbing import Scrubber
from wan_engine.cassettes.serializer import CassetteDocument, dump_yaml
from wan_engine.sandbox.faults import FaultInjector, FaultKind, FaultPlan, RequestKind
from wan_engine.sandbox.responses import drop, hang_up_when_they_do
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.model import ModelSpec, ProviderSpec
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState

log = logging.getLogger("wan_engine.proxy")

MEDIA_ROUTE = "/_wan_media/{index}"
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length", "content-encoding",
}  # fmt: skip
CHUNK = 256 * 1024


def _pointers(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [p for p in value or [] if isinstance(p, str)]


class RecordingProxy:
    """The proxy's state: upstream, cassette, faults, breaches seen; ``app()`` is the aiohttp application."""

    def __init__(
        self,
        registry: SpecRegistry,
        provider: str,
        upstream: str,
        cassette: str | os.PathLike[str],
        *,
        model: str | None = None,
        api_key: str | None = None,
        faults: FaultPlan | None = None,
        seed: int = 0,
        on_breach: Callable[[Breach], None] | None = None,
    ) -> None:
        self.registry = registry
        self.provider: ProviderSpec = registry.providers[provider]
        self.upstream = upstream.rstrip("/")
        self.cassette = Path(cassette)
        self.model = model
        key = api_key if api_key is not None else os.environ.get(self.provider.auth.env or "", "")
        self.scrubber = Scrubber([key], headers=[self.provider.auth.header] if self.provider.auth.header else [])
        self.faults = FaultInjector(faults or FaultPlan(), seed)
        self.on_breach = on_breach
        self.interactions: list[dict[str, Any]] = []
        self.breaches: list[Breach] = []
        self.media: list[dict[str, Any]] = []
        self._media_urls: list[str] = []
        self._outcome: dict[str, Any] = {}
        self._statuses: list[str] = []
        self.base_url = ""
        """The proxy's own base URL, once it is serving (set by ``serve``)."""
        self._session: ClientSession | None = None

    # -- the application -----------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get(MEDIA_ROUTE, self._media)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    def _client(self) -> ClientSession:
        if self._session is None:
            # No redirects followed: a redirect is the upstream's answer to pass on, never a second request.
            self._session = ClientSession(timeout=ClientTimeout(total=None, sock_connect=15, sock_read=300))
        return self._session

    # -- one API exchange ----------------------------------------------------------------

    def _kind(self, method: str) -> RequestKind:
        if method == self.provider.submit.method.upper() and method != "GET":
            return "submit"
        if self.provider.cancel is not None and method == self.provider.cancel.method.upper() and method != "GET":
            return "cancel"
        return "status"

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        kind = self._kind(request.method)
        fired = self.faults.draw(kind, self.model)
        if fired.delay_s:
            await asyncio.sleep(fired.delay_s)
        rule = fired.outcome
        if rule is not None and rule.kind in (FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR):
            status = 429 if rule.kind is FaultKind.RATE_LIMIT else rule.status
            headers = {"Retry-After": str(rule.retry_after_s)} if status == 429 else {}
            log.info("fault %s on %s %s (answered by the proxy, not recorded)", rule.kind, request.method, request.path)
            return web.json_response({"message": f"proxy fault: {rule.kind}"}, status=status, headers=headers)
        if rule is not None and rule.kind is FaultKind.RESET_BEFORE:
            return drop(request)
        if rule is not None and rule.kind is FaultKind.HANG:
            return await hang_up_when_they_do(request)
        url = self.upstream + request.path_qs
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with self._client().request(
            request.method, url, data=body or None, headers=headers, allow_redirects=False
        ) as upstream:
            answer = await upstream.read()
            answer_headers = {str(k): v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            status, reason = upstream.status, upstream.reason or ""
        self._record(request, url, body, status, reason, answer_headers, answer, kind)
        if rule is not None and rule.kind is FaultKind.RESET_AFTER:
            return drop(request)
        shown = self._point_media_here(answer)
        return web.Response(status=status, reason=reason, body=shown, headers=answer_headers)

    def _spec(self, body: Any) -> ModelSpec | None:
        model = self.model or (body.get("model") if isinstance(body, dict) else None)
        if isinstance(model, str) and model in self.registry.models_by_id:
            self.model = model
            return self.registry.model(model)
        return None

    def _record(
        self,
        request: web.Request,
        url: str,
        body: bytes,
        status: int,
        reason: str,
        headers: dict[str, str],
        answer: bytes,
        kind: RequestKind,
    ) -> None:
        scrub = self.scrubber
        try:
            request_body: Any = json.loads(body) if body else None
        except ValueError:
            request_body = body.decode("utf-8", "replace")
        known = self.registry.model(self.model) if self.model else None
        spec = self._spec(request_body) if kind == "submit" else known
        text = answer.decode("utf-8", "replace")
        try:
            document: Any = json.loads(text)
        except ValueError:
            document = None
        if spec is not None and 200 <= status < 300 and isinstance(document, dict):
            self._follow(spec, kind, document)
        self.interactions.append(
            {
                "request": {
                    "method": request.method,
                    "uri": scrub.url(url),
                    "body": scrub.data(request_body),
                    "headers": {
                        str(k): [scrub.header_value(k, v)]
                        for k, v in request.headers.items()
                        if k.lower() not in HOP_BY_HOP
                    },
                },
                "response": {
                    "status": {"code": status, "message": reason},
                    "headers": {str(k): [scrub.header_value(k, v)] for k, v in headers.items()},
                    "body": {"string": scrub.text(text)},
                },
            }
        )
        self._save_and_check()

    def _follow(self, spec: ModelSpec, kind: RequestKind, document: dict[str, Any]) -> None:
        """Keep the session's outcome (job id, statuses, result) as the contract checker expects it."""
        provider = spec.provider
        if kind == "submit":
            for pointer in _pointers(provider.id_pointer):
                found = json_pointer.resolve(document, pointer)
                if isinstance(found, (str, int)) and found != "":
                    self._outcome["job_id"] = str(found)
                    break
        word = json_pointer.resolve(document, provider.status_pointer)
        if not isinstance(word, str):
            return
        if word not in self._statuses:
            self._statuses.append(word)
        state = provider.mapped_status(word)  # an unmapped word is the contract checker's to report
        if state is not None and state.terminal:
            self._outcome["kind"] = state.value
            if state is JobState.SUCCEEDED:
                for pointer in _pointers(provider.result.video_url):
                    value = json_pointer.resolve(document, pointer)
                    urls = [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]
                    for found in urls:
                        if found not in self._media_urls:
                            self._media_urls.append(found)
                    if urls:
                        self._outcome["video_url"] = self.scrubber.url(urls[0])

    def _point_media_here(self, answer: bytes) -> bytes:
        """The answer the app sees: result URLs rewritten to stream through the proxy (the cassette keeps them)."""
        if not self._media_urls or not self.base_url:
            return answer
        text = answer.decode("utf-8", "replace")
        changed = text
        for index, url in enumerate(self._media_urls):
            escaped = json.dumps(url)[1:-1]
            local = self.base_url + MEDIA_ROUTE.format(index=index)
            changed = changed.replace(escaped, local).replace(url, local)
        return changed.encode("utf-8") if changed != text else answer

    # -- result videos ---------------------------------------------------------------------

    async def _media(self, request: web.Request) -> web.StreamResponse:
        index = int(request.match_info["index"])
        if index >= len(self._media_urls):
            raise web.HTTPNotFound()
        url = self._media_urls[index]
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("range", "if-range", "accept")}
        digest, size = hashlib.sha256(), 0
        async with self._client().get(url, headers=headers, allow_redirects=True, auto_decompress=False) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name in ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified"):
                if name in upstream.headers:
                    response.headers[name] = upstream.headers[name]
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                await response.write(chunk)
            await response.write_eof()
            status, content_type = upstream.status, upstream.headers.get(hdrs.CONTENT_TYPE)
        scrubbed = self.scrubber.url(url)
        if status == 200:  # a whole video: its size and hash stand for the body (ranges are not recorded)
            sha = digest.hexdigest()
            self.media.append({"url": scrubbed, "status": 200, "bytes": size, "sha256": sha,
                               "content_type": content_type})  # fmt: skip
            self.interactions.append(
                {
                    "request": {"method": "GET", "uri": scrubbed, "body": None, "headers": {}},
                    "response": {
                        "status": {"code": 200, "message": "OK"},
                        "headers": {"Content-Type": [content_type or "video/mp4"], "Content-Length": [str(size)]},
                        "body": {
                            "string": f"[wan-engine: media body not recorded; {size} bytes, sha256 {sha}]"
                        },
                    },
                }
            )
            self._save_and_check()
        return response

    # -- the cassette ----------------------------------------------------------------------

    def document(self) -> CassetteDocument:
        spec = self.registry.model(self.model) if self.model else None
        origin = CassetteOrigin(
            source=decide_source(None, self.upstream, self.provider.base_url, in_process_sandbox=False),
            model=spec.id if spec else "",
            provider=self.provider.id,
            spec_version=spec.spec_version if spec else "",
            base_url=self.scrubber.url(self.upstream),
            note="recorded by wan-engine proxy from an app's own traffic",
            recorded_with=_versions(),
            outcome={**self._outcome, "statuses": list(self._statuses)} if self._outcome else None,
            media=list(self.media) or None,
        )
        raw = {PROVENANCE_KEY: origin.to_dict(), "interactions": list(self.interactions), "version": 1}
        return CassetteDocument(str(self.cassette), raw)

    def _save_and_check(self) -> None:
        document = self.document()
        self.cassette.parent.mkdir(parents=True, exist_ok=True)
        partial = self.cassette.with_name(self.cassette.name + ".partial")
        partial.write_text(dump_yaml(document.raw), encoding="utf-8")
        os.replace(partial, self.cassette)
        if not self.model:
            return
        latest = len(self.interactions) - 1
        for breach in check_document(document, self.registry).breaches:
            if breach.interaction == latest and breach not in self.breaches:
                self.breaches.append(breach)
                log.warning("contract breach: %s", breach)
                if self.on_breach is not None:
                    self.on_breach(breach)

    # -- running -----------------------------------------------------------------------------

    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> web.AppRunner:
        """Start serving; ``base_url`` says where (the provider's base URL for the app)."""
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = runner.addresses[0][:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        return runner


def summary_lines(proxy: RecordingProxy) -> Iterable[str]:
    yield f"{len(proxy.interactions)} interaction(s) recorded to {proxy.cassette}"
    yield f"{len(proxy.breaches)} contract breach(es)" if proxy.breaches else "no contract breach"
