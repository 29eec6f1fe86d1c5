"""The state every route of a sandbox shares, and the answers they build from it."""

from __future__ import annotations

import asyncio
import http
import itertools

from aiohttp import web

from wan_engine.sandbox.callbacks import CallbackSender
from wan_engine.sandbox.config import SandboxConfig
from wan_engine.sandbox.faults import FaultInjector, FaultKind, FaultRule, Fired, RequestKind
from wan_engine.sandbox.jobs import JobBook, SandboxJob
from wan_engine.sandbox.media import MediaLibrary
from wan_engine.sandbox.responses import (
    drop,
    error_document,
    fault_status,
    hang_up_when_they_do,
    result_document,
    retry_after,
    status_document,
    submit_document,
)
from wan_engine.spec.model import ModelSpec, ProviderSpec

MEDIA_PREFIX = "/_media"
"""Provider ids cannot start with '_', so no provider's routes can collide with the media route."""


class Backend:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.book = JobBook(config.seed, config.clock)
        self.faults = FaultInjector(config.faults, config.seed)
        self.media = MediaLibrary(config.media_size, config.seed)
        self._request_numbers = itertools.count(1)
        self.callbacks = CallbackSender(
            config.callback_faults, config.callback_secret, config.seed, config.clock, config.wall_clock
        )

    def now(self) -> float:
        return self.config.clock()

    def duration_for(self, spec: ModelSpec) -> float:
        typical = spec.polling.typical_duration_s
        return typical if self.config.realistic and typical is not None else self.config.duration_s

    def result_expires_at(self, job: SandboxJob) -> float | None:
        ttl = self.config.result_ttl_s
        if ttl is None and self.config.realistic:
            ttl = job.model.provider.result_url_ttl_s
        return None if ttl is None else job.completes_at + ttl

    def media_url(self, request: web.Request, job: SandboxJob) -> str:
        """Absolute, from the address the client used, so it works whatever interface was bound."""
        return f"{request.url.origin()}{MEDIA_PREFIX}/{job.media_token}.mp4"

    def status_document(self, request: web.Request, job: SandboxJob) -> object:
        media_size = self.media.source_for(job.id).size
        return status_document(job, job.state_at(self.now()), self.media_url(request, job), media_size)

    def result_document(self, request: web.Request, job: SandboxJob) -> object:
        return result_document(job, self.media_url(request, job), self.media.source_for(job.id).size)

    def submit_document(self, request: web.Request, job: SandboxJob) -> object:
        media_size = self.media.source_for(job.id).size
        return submit_document(job, job.state_at(self.now()), self.media_url(request, job), media_size)

    def error(
        self, request: web.Request, provider: ProviderSpec, status: int, message: str, **headers: str
    ) -> web.Response:
        request_id = self.request_id(request, provider)
        document = error_document(provider, status, message, path=request.path, request_id=request_id)
        return web.json_response(document, status=status, headers=self.echo_headers(request, provider, headers))

    def request_id(self, request: web.Request, provider: ProviderSpec) -> str:
        """The client's correlation id when it sent one, else a fresh (deterministic) one."""
        header = provider.request_id_header
        sent = request.headers.get(header) if header else None
        return sent or f"sandbox-{next(self._request_numbers):06d}"

    @staticmethod
    def echo_headers(request: web.Request, provider: ProviderSpec, headers: dict[str, str]) -> dict[str, str]:
        header = provider.request_id_header
        if header and header in request.headers:
            return {**headers, header: request.headers[header]}
        return headers

    async def before(
        self, request: web.Request, kind: RequestKind, model_id: str | None, provider: ProviderSpec
    ) -> tuple[Fired, web.StreamResponse | None]:
        """Draw the faults for a request, wait out any delay, and answer for the faults that act first."""
        fired = self.faults.draw(kind, model_id)
        if fired.delay_s:
            await asyncio.sleep(fired.delay_s)
        rule = fired.outcome
        if rule is None:
            return fired, None
        status = fault_status(rule)
        if status is not None:
            return fired, self._fault_error(request, provider, rule, status)
        if rule.kind is FaultKind.RESET_BEFORE:
            return fired, drop(request)
        if rule.kind is FaultKind.HANG:
            return fired, await hang_up_when_they_do(request)
        return fired, None

    def _fault_error(self, request: web.Request, provider: ProviderSpec, rule: FaultRule, status: int) -> web.Response:
        if status == 429:
            wait = retry_after(rule, self.config.wall_clock())
            return self.error(request, provider, status, "Too Many Requests", **{"Retry-After": wait})
        return self.error(request, provider, status, f"{http.HTTPStatus(status).phrase} (sandbox fault)")
