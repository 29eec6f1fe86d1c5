"""HTTP to providers: auth from the spec, timeouts, retries, and errors users can catch.

The one rule that matters most is about money: a submit is re-sent only when
the server certainly did not create a job (the connection was refused before
anything was sent, or the server said 429 or 503). After anything ambiguous (a
timeout, a reset after sending, a 5xx that may have come after the job was
created, a 200 we cannot read) we raise ``SubmitOutcomeUnknownError`` and
never re-send. Status reads are harmless and are retried on 429, 5xx and
network errors with jittered backoff, honouring Retry-After up to a ceiling.
"""

from __future__ import annotations

import json
import logging
import os
import random
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import attrs

from wan_engine.client.retry_after import parse_retry_after
from wan_engine.clock import Clock, SystemClock
from wan_engine.errors import (
    ApiError,
    AuthenticationError,
    NetworkError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    SubmitOutcomeUnknownError,
)
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.model import Endpoint, ModelSpec, ProviderSpec

log = logging.getLogger("wan_engine.client.provider_client")


@attrs.frozen
class RetryPolicy:
    attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    jitter: float = 0.25
    retry_after_ceiling_s: float = 300.0
    submit_attempts: int = 3


@attrs.frozen
class Timeouts:
    connect_s: float = 10.0
    read_s: float = 60.0


@attrs.frozen
class Response:
    status: int
    document: Any
    headers: Mapping[str, str]


class ProviderClient:
    """One aiohttp session shared by every job of an engine."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        base_urls: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        rng: random.Random | None = None,
        connection_limit: int = 100,
        connector_factory: Callable[[], aiohttp.BaseConnector] | None = None,
    ) -> None:
        """``connector_factory`` chooses how connections are made (the replay harness passes one
        that cannot connect at all); by default, keep-alive TCP with ``connection_limit``."""
        self._session = session
        self._owns_session = session is None
        self.base_urls = dict(base_urls or {})
        self._env = env if env is not None else os.environ
        self.clock = clock or SystemClock()
        self.retry = retry or RetryPolicy()
        self.timeouts = timeouts or Timeouts()
        self._rng = rng or random.Random()
        self._connector_factory = connector_factory or (lambda: aiohttp.TCPConnector(limit=connection_limit))
        self.requests_sent = 0

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.timeouts.connect_s, sock_read=self.timeouts.read_s
                ),
                connector=self._connector_factory(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    # -- building requests -------------------------------------------------------------

    def base_url(self, provider: ProviderSpec) -> str:
        return self.base_urls.get(provider.id, provider.base_url).rstrip("/")

    def _headers(self, provider: ProviderSpec, endpoint: Endpoint, job_id: str | None) -> dict[str, str]:
        headers = {k: v.replace("{id}", job_id or "") for k, v in endpoint.headers.items()}
        auth = provider.auth
        if auth.scheme != "none" and auth.env:
            key = self._env.get(auth.env)
            if not key:
                raise AuthenticationError(f"no API key: set the {auth.env} environment variable", job_id=job_id)
            headers[auth.header] = f"Bearer {key}" if auth.scheme == "bearer" else key
        if provider.request_id_header:
            headers[provider.request_id_header] = uuid.uuid4().hex
        return headers

    def url(self, provider: ProviderSpec, endpoint: Endpoint, job_id: str | None = None) -> str:
        path = endpoint.path.replace("{id}", quote(job_id or "", safe=""))
        return self.base_url(provider) + path

    @staticmethod
    def query(endpoint: Endpoint, job_id: str | None) -> dict[str, str]:
        return {k: v.replace("{id}", job_id or "") for k, v in endpoint.query.items()}

    # -- errors ------------------------------------------------------------------------

    def _api_error(self, provider: ProviderSpec, response: Response, job_id: str | None, what: str) -> ApiError:
        message = json_pointer.first(response.document, provider.errors.message)
        provider_message = str(message) if message is not None else None
        text = f"{what}: HTTP {response.status}" + (f": {provider_message}" if provider_message else "")
        kw: dict[str, Any] = {"status": response.status, "job_id": job_id, "provider_message": provider_message}
        if response.status in (401, 403):
            return AuthenticationError(text, **kw)
        if response.status == 404:
            return NotFoundError(text, **kw)
        if response.status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self.clock.wall())
            return RateLimitedError(text, retry_after=retry_after, **kw)
        if response.status >= 500:
            return ServerError(text, **kw)
        return RequestRejectedError(text, **kw)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry.retry_after_ceiling_s)
        base = min(self.retry.max_delay_s, self.retry.base_delay_s * 2 ** (attempt - 1))
        return float(base * (1 + self.retry.jitter * (2 * self._rng.random() - 1)))

    async def _pause(self, why: str, attempt: int, retry_after: float | None) -> None:
        delay = self._backoff(attempt, retry_after)
        log.info("%s; retry %d in %.1f s", why, attempt, delay)
        await self.clock.sleep(delay)

    # -- one exchange ------------------------------------------------------------------

    async def _exchange(
        self, provider: ProviderSpec, endpoint: Endpoint, job_id: str | None, body: Any = None
    ) -> Response:
        """Send one request and read its JSON; network failures propagate as aiohttp errors."""
        headers = self._headers(provider, endpoint, job_id)
        self.requests_sent += 1
        async with self.session.request(
            endpoint.method,
            self.url(provider, endpoint, job_id),
            params=self.query(endpoint, job_id) or None,
            json=body if endpoint.method not in ("GET", "DELETE") else None,
            headers=headers,
        ) as response:
            raw = await response.read()
            # Method, path and status only: headers (the key) and bodies are never logged.
            log.debug("%s %s -> %s", endpoint.method, response.url.path, response.status)
            try:
                document = json.loads(raw) if raw else None
            except (json.JSONDecodeError, UnicodeDecodeError):
                document = _Unreadable(raw[:200])
            return Response(response.status, document, dict(response.headers))

    # -- submit: never pay twice -------------------------------------------------------

    async def submit(self, spec: ModelSpec, body: Any) -> Response:
        provider, endpoint = spec.provider, spec.submit_endpoint
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._exchange(provider, endpoint, None, body)
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                # Refused, unresolvable, or no connection within the connect timeout: the request
                # never left, so no job can exist and sending it again cannot pay twice.
                if attempt >= self.retry.submit_attempts:
                    reason = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else "connect timeout"
                    raise NetworkError(f"cannot connect to {provider.title}: {reason}") from None
                await self._pause(f"submit {spec.id}: no connection", attempt, None)
                continue
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise SubmitOutcomeUnknownError(spec.id, f"{type(exc).__name__} after the request was sent") from None
            if response.status in (429, 503):
                error = self._api_error(provider, response, None, f"submit {spec.id}")
                if attempt >= self.retry.submit_attempts:
                    raise error
                retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
                if retry_after is None:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"), self.clock.wall())
                await self._pause(f"submit {spec.id}: HTTP {response.status}, no job created", attempt, retry_after)
                continue
            if response.status >= 500:
                raise SubmitOutcomeUnknownError(spec.id, f"HTTP {response.status}", status=response.status)
            if response.status >= 400:
                raise self._api_error(provider, response, None, f"submit {spec.id}")
            if isinstance(response.document, _Unreadable):
                raise SubmitOutcomeUnknownError(spec.id, "the response was not JSON", status=response.status)
            return response

    # -- status reads: harmless, so retried ---------------------------------------------

    async def read(self, spec: ModelSpec, endpoint: Endpoint, job_id: str, what: str) -> Response:
        provider = spec.provider
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response = await self._exchange(provider, endpoint, job_id)
            except (aiohttp.ClientError, TimeoutError) as exc:
                error: Exception = NetworkError(f"{what}: {type(exc).__name__}: {exc}", job_id=job_id)
            else:
                if isinstance(response.document, _Unreadable):
                    error = ProtocolError(f"{what}: response is not JSON", status=response.status, job_id=job_id)
                elif response.status < 400:
                    return response
                else:
                    error = self._api_error(provider, response, job_id, what)
                    if not isinstance(error, (RateLimitedError, ServerError)):
                        raise error
                    if isinstance(error, RateLimitedError):
                        retry_after = error.retry_after
                    else:
                        retry_after = parse_retry_after(response.headers.get("Retry-After"), self.clock.wall())
            if attempt >= self.retry.attempts:
                raise error
            await self._pause(str(error), attempt, retry_after)

    async def status(self, spec: ModelSpec, job_id: str) -> Response:
        return await self.read(spec, spec.provider.status, job_id, f"status of job {job_id}")

    async def cancel(self, spec: ModelSpec, job_id: str) -> Response:
        """Cancelling twice is harmless, so a cancel is retried like a status read."""
        assert spec.provider.cancel is not None
        return await self.read(spec, spec.provider.cancel, job_id, f"cancel job {job_id}")


@attrs.frozen
class _Unreadable:
    """A body that was not JSON (kept short: it is only ever shown in an error)."""

    head: bytes
