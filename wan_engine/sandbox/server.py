"""The sandbox server: every provider in a registry, each under its own id, on one local port.

It stands in for the real APIs in tests and offline runs; the counters and
the request log let a test prove what the engine did (and, above all, that it
never paid for a job twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import NamedTuple

from aiohttp import web
from aiohttp.typedefs import Handler

from wan_engine.sandbox.backend import Backend
from wan_engine.sandbox.callbacks import CallbackAttempt
from wan_engine.sandbox.config import SandboxConfig
from wan_engine.sandbox.jobs import SandboxJob
from wan_engine.sandbox.media_route import ROUTE, MediaRoute
from wan_engine.sandbox.provider_api import ProviderApi
from wan_engine.sandbox.responses import Dropped
from wan_engine.spec.registry import SpecRegistry

NO_ANSWER = 0
"""The status logged for a request whose connection the sandbox dropped."""


class LoggedRequest(NamedTuple):
    method: str
    path: str
    """With the query string, so a status request shows which job it asked about."""
    status: int


class Sandbox:
    def __init__(self, registry: SpecRegistry, config: SandboxConfig | None = None) -> None:
        self.registry = registry
        self.config = config or SandboxConfig()
        self._backend = Backend(self.config)
        self.request_log: list[LoggedRequest] = []
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._log_request])
        for provider in self.registry.providers.values():
            models = [spec for spec in self.registry.models() if spec.provider.id == provider.id]
            app.add_subapp(f"/{provider.id}", ProviderApi(provider, models, self._backend).application())
        app.router.add_get(ROUTE, MediaRoute(self._backend).serve)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        runner = web.AppRunner(self.application(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        await self._backend.callbacks.start()
        bound_host, bound_port = runner.addresses[0][:2]
        self._url = f"http://{f'[{bound_host}]' if ':' in bound_host else bound_host}:{bound_port}"

    async def stop(self) -> None:
        await self._backend.callbacks.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def run_forever(
        self, host: str = "127.0.0.1", port: int = 8765, on_ready: Callable[[Sandbox], None] | None = None
    ) -> None:
        """Serve until interrupted (Ctrl-C); for the command line."""

        async def serve() -> None:
            await self.start(host, port)
            try:
                if on_ready is not None:
                    on_ready(self)
                await asyncio.Event().wait()
            finally:
                await self.stop()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve())

    @web.middleware
    async def _log_request(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self.request_log.append(LoggedRequest(request.method, request.path_qs, exc.status))
            raise
        status = NO_ANSWER if isinstance(response, Dropped) else response.status
        self.request_log.append(LoggedRequest(request.method, request.path_qs, status))
        return response

    # -- what tests look at ----------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the sandbox is not started")
        return self._url

    def base_url(self, provider_id: str) -> str:
        """The URL to use instead of the provider's base_url."""
        return f"{self.url}/{provider_id}"

    def base_urls(self) -> dict[str, str]:
        return {provider_id: self.base_url(provider_id) for provider_id in self.registry.providers}

    @property
    def jobs(self) -> dict[str, SandboxJob]:
        return self._backend.book.jobs

    @property
    def submissions(self) -> Counter[str]:
        """Jobs actually created, by model id: what the provider would bill."""
        return self._backend.book.submissions

    @property
    def submission_count(self) -> int:
        return self._backend.book.submissions.total()

    @property
    def submit_requests(self) -> int:
        """Submit requests received, whether they created a job or not."""
        return self._backend.book.submit_requests

    @property
    def callback_log(self) -> list[CallbackAttempt]:
        """Every callback attempt: job, event id, the receiver's HTTP status (None: unreachable), a note."""
        return self._backend.callbacks.log

    async def send_due_callbacks(self) -> int:
        """Send the callbacks now due and wait for them (for tests that move a fake clock)."""
        return await self._backend.callbacks.send_due()

    def media_sha256(self, job_id: str) -> str:
        """The SHA-256 (hex) of the file a job's result URL serves in full."""
        return self._backend.media.sha256(job_id)

    def media_bytes_expected(self, job_id: str) -> int:
        """The size of the file a job's result URL serves in full."""
        return self._backend.media.source_for(job_id).size


@contextlib.contextmanager
def running_in_thread(
    registry: SpecRegistry, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> Iterator[Sandbox]:
    """A sandbox on its own event loop in a background thread, for synchronous code and subprocess tests."""
    sandbox = Sandbox(registry, config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="wan-engine-sandbox", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(sandbox.start(host, port), loop).result()
        yield sandbox
    finally:
        asyncio.run_coroutine_threadsafe(sandbox.stop(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
