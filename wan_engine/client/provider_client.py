"""HTTP to providers: auth from the spec, timeouts, retries, and errors users can catch.

The one rule that matters most is about money: a submit is re-sent only when
the server certainly did not create a job: the connection was refused before
anything was sent, or the server answered a status the provider spec lists in
``resubmit_statuses`` (default: 429 only; whether a 503 means "nothing was
created" is the provider's to say). After anything ambiguous (a timeout, a
reset after sending, a 5xx that may have come after the job was created, a 200
we cannot read, a redirect) we raise ``SubmitOutcomeUnknownError`` and never
re-send. Status reads are harmless and are retried on 429, 5xx and network
errors with jittered backoff, honouring Retry-After up to a ceiling.

No API request follows a redirect: a 3xx to a submit is an unknown outcome
(a 307 loop re-posts the paid body, a 302 turns it into a GET that may adopt
another job's id), and a 3xx to a read is a protocol error; either way the key
never travels to another origin. Answers are capped in size and JSON nesting
(``Limits``), and the key itself is refused before sending if it could split a
header (CR/LF).
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import attrs

from wan_engine.client.gate import Gate
from wan_engine.client.pacing import Pacer
from wan_engine.client.retry_after import parse_retry_after
from wan_engine.clock import Clock, SystemClock
from wan_engine.errors import (
    ApiError,
    AuthenticationError,
    CredentialError,
    NetworkError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    SubmitOutcomeUnknownError,
)
from wan_engine.redaction import redact, redact_document
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
class Limits:
    """Bounds on what one API answer may cost us; beyond them the answer is a protocol error."""

    max_answer_bytes: int = 8 * 1024 * 1024
    max_json_depth: int = 64


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
        limits: Limits | None = None,
        pacer: Pacer | None = None,
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
        self.limits = limits or Limits()
        self.pacer = pacer or Pacer(self.clock)
        """Keeps submits and polls under each provider's documented rate (client/pacing.py)."""
        self.requests_sent = 0
        self.connection_limit = connection_limit
        self._gate: Gate | None = None

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
        self._gate = None

    @property
    def gate(self) -> Gate:
        """At most twice ``connection_limit`` requests being built, sent or read at once (client/gate.py
        says why a gate, and why a freed slot goes to whoever asks first).

        Twice, so that the connection pool always has requests queued and no connection idles
        while the next one is built; the extra requests are a few hundred KiB, against ~4 KiB for
        every waiting job without the gate. A strict first-come-first-served gate was measured
        too: 0.74-0.75x the bare loop's reads per second at 10,000 and 100,000 jobs, against
        0.90 and 0.99x for this one, same machine, same hour (bench/README.md).
        """
        if self._gate is None:
            self._gate = Gate(2 * self.connection_limit)
        return self._gate

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
            if any(c in key for c in "\r\n\0"):
                # A header-splitting key: nothing is sent, so a submit is certainly not billed.
                raise CredentialError(
                    f"the API key in {auth.env} contains a line break or NUL: fix the {auth.env} value",
                    job_id=job_id,
                )
            headers[auth.header] = f"Bearer {key}" if auth.scheme == "bearer" else f"{auth.prefix or ''}{key}"
        if provider.request_id_header:
            # A correlation id, not a secret: 128 random bits without a system call per request.
            headers[provider.request_id_header] = f"{self._rng.getrandbits(128):032x}"
        return headers

    def secrets(self, provider: ProviderSpec) -> list[str]:
        """What must never be echoed back to the user: the provider's API key, when there is one."""
        key = self._env.get(provider.auth.env) if provider.auth.scheme != "none" and provider.auth.env else None
        return [key] if key else []

    def url(
        self,
        provider: ProviderSpec,
        endpoint: Endpoint,
        job_id: str | None = None,
        path_vars: Mapping[str, str] | None = None,
    ) -> str:
        """The endpoint's URL: ``{id}`` is the job id (quoted); ``{model}`` and a model's own path
        variables (fal's ``{app}``) are the model's names, which may hold slashes."""
        path = endpoint.path.replace("{id}", quote(job_id or "", safe=""))
        for name, value in (path_vars or {}).items():
            path = path.replace("{" + name + "}", value)
        return self.base_url(provider) + path

    @staticmethod
    def query(endpoint: Endpoint, job_id: str | None) -> dict[str, str]:
        return {k: v.replace("{id}", job_id or "") for k, v in endpoint.query.items()}

    # -- errors ------------------------------------------------------------------------

    def _api_error(self, provider: ProviderSpec, response: Response, job_id: str | None, what: str) -> ApiError:
        message = json_pointer.first(response.document, provider.errors.message)
        # A provider may echo the key or a signed URL in its error text; it reaches logs and the journal.
        provider_message = redact(str(message), self.secrets(provider)) if message is not None else None
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
        self,
        provider: ProviderSpec,
        endpoint: Endpoint,
        job_id: str | None,
        body: Any = None,
        path_vars: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one request (no redirects followed) and read its JSON within the limits.

        Network failures propagate as aiohttp errors; an answer too large or too deep
        comes back as ``_Unreadable`` with the reason, like a body that is not JSON.
        """
        # The provider's documented rate first (client/pacing.py), outside the gate: a request
        # waiting for its turn holds no connection slot.
        if job_id is None:
            await self.pacer.wait(provider, "submit")
        elif endpoint is provider.status:
            await self.pacer.wait(provider, "status")
        async with self.gate:  # the wait for a slot holds no request yet (see ``gate``)
            headers = self._headers(provider, endpoint, job_id)
            if extra_headers:
                headers.update(extra_headers)
            query = self.query(endpoint, job_id)
            if extra_query:
                query.update(extra_query)
            self.requests_sent += 1
            async with self.session.request(
                endpoint.method,
                self.url(provider, endpoint, job_id, path_vars),
                params=query or None,
                json=body if endpoint.method not in ("GET", "DELETE") else None,
                headers=headers,
                allow_redirects=False,
            ) as response:
                # Method, path and status only: headers (the key) and bodies are never logged.
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("%s %s -> %s", endpoint.method, response.url.path, response.status)
                if 300 <= response.status < 400:
                    return Response(response.status, _Unreadable(b"", "a redirect"), dict(response.headers))
                raw = await self._read_capped(response)
                if raw is None:
                    reason = f"an answer larger than {self.limits.max_answer_bytes} bytes"
                    return Response(response.status, _Unreadable(b"", reason), dict(response.headers))
                return Response(response.status, self._redacted(provider, self._parse(raw)), dict(response.headers))

    def _redacted(self, provider: ProviderSpec, document: Any) -> Any:
        """The answer with the key removed wherever it is echoed, before any status, message or journal
        record is made from it; except the video URL itself, which must stay usable for the download."""
        redacted = redact_document(document, self.secrets(provider))
        if redacted is document or not isinstance(redacted, dict):
            return redacted
        pointers = provider.result.video_url
        for pointer in [pointers] if isinstance(pointers, str) else pointers or []:
            original = json_pointer.resolve(document, pointer)
            if isinstance(original, str):
                json_pointer.assign(redacted, pointer, original)
        return redacted

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes | None:
        """The body, or None as soon as it exceeds the cap (the rest is never read into memory)."""
        cap = self.limits.max_answer_bytes
        if response.content_length is not None:
            if response.content_length > cap:
                return None
            return await response.read()  # announced and within the cap: aiohttp reads exactly that much
        raw = bytearray()
        async for piece in response.content.iter_chunked(64 * 1024):
            raw += piece
            if len(raw) > cap:
                return None
        return bytes(raw)

    def _parse(self, raw: bytes) -> Any:
        if not raw:
            return None
        limit = self.limits.max_json_depth
        try:
            document = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
        except RecursionError:
            return _Unreadable(b"", f"JSON nested deeper than {limit} levels")
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            return _Unreadable(raw[:200], "not JSON")
        if raw.count(b"[") + raw.count(b"{") > limit and _deeper_than(document, limit):  # else it cannot be
            return _Unreadable(b"", f"JSON nested deeper than {limit} levels")
        return document

    # -- submit: never pay twice -------------------------------------------------------

    async def submit(
        self,
        spec: ModelSpec,
        body: Any,
        extra_query: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Response:
        """``extra_query``: query parameters added to this submit (a callback URL, for providers that
        take it there), never logged (only method, path and status are); ``extra_headers``: headers
        added to it (``Prefer: wait``)."""
        provider, endpoint = spec.provider, spec.submit_endpoint
        safe_statuses = frozenset(provider.resubmit_statuses)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._exchange(
                    provider, endpoint, None, body, spec.path_vars, extra_query, extra_headers
                )
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
            if 300 <= response.status < 400:
                # Never followed: a 307 would re-post the paid body, a 302 would turn it into a GET.
                raise SubmitOutcomeUnknownError(
                    spec.id, f"HTTP {response.status} redirect (not followed)", status=response.status
                )
            if response.status in safe_statuses:
                error = self._api_error(provider, response, None, f"submit {spec.id}")
                if attempt >= self.retry.submit_attempts:
                    raise error
                retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
                if retry_after is None:
                    retry_after = self._retry_after(response.headers)
                await self._pause(f"submit {spec.id}: HTTP {response.status}, no job created", attempt, retry_after)
                continue
            if response.status >= 500:
                raise SubmitOutcomeUnknownError(spec.id, f"HTTP {response.status}", status=response.status)
            if response.status >= 400 and not isinstance(response.document, _Unreadable):
                raise self._api_error(provider, response, None, f"submit {spec.id}")
            if isinstance(response.document, _Unreadable) or response.status >= 400:
                reason = response.document.reason if isinstance(response.document, _Unreadable) else "unreadable"
                raise SubmitOutcomeUnknownError(spec.id, f"the response was {reason}", status=response.status)
            return response

    def _retry_after(self, headers: Mapping[str, str]) -> float | None:
        return parse_retry_after(headers.get("Retry-After"), self.clock.wall())

    # -- status reads: harmless, so retried ---------------------------------------------

    async def read(self, spec: ModelSpec, endpoint: Endpoint, job_id: str, what: str) -> Response:
        provider = spec.provider
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response = await self._exchange(provider, endpoint, job_id, path_vars=spec.path_vars)
            except (aiohttp.ClientError, TimeoutError) as exc:
                text = redact(f"{what}: {type(exc).__name__}: {exc}", self.secrets(provider))
                error: Exception = NetworkError(text, job_id=job_id)
            else:
                if 300 <= response.status < 400:
                    raise ProtocolError(
                        f"{what}: HTTP {response.status} redirect (API redirects are not followed)",
                        status=response.status,
                        job_id=job_id,
                    )
                if isinstance(response.document, _Unreadable):
                    if response.document.reason != "not JSON":  # too large or too deep: asking again costs the same
                        raise ProtocolError(
                            f"{what}: {response.document.reason}", status=response.status, job_id=job_id
                        )
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
                        retry_after = self._retry_after(response.headers)
            if attempt >= self.retry.attempts:
                raise error
            await self._pause(str(error), attempt, retry_after)

    async def status(self, spec: ModelSpec, job_id: str) -> Response:
        """A status answer that is about this job, with a status the spec can read, or a ProtocolError.

        An answer carrying another job's id (a cache that ignores the query string) is never
        adopted; a status that is an object, a list or a number is not guessed at.
        """
        what = f"status of job {job_id}"
        response = await self.read(spec, spec.provider.status, job_id, what)
        provider = spec.provider
        answered_id = json_pointer.resolve(response.document, provider.id_pointer)
        if answered_id is not None and str(answered_id) != job_id:
            raise ProtocolError(
                f"{what}: the answer is about another job ({answered_id!r}); not adopted",
                status=response.status,
                job_id=job_id,
            )
        self._redact_error_texts(provider, response.document)
        status = json_pointer.resolve(response.document, provider.status_pointer)
        if not isinstance(response.document, dict) or status is None:
            raise ProtocolError(
                f"{what}: the answer has no status at {provider.status_pointer}", status=response.status, job_id=job_id
            )
        if not isinstance(status, str):
            raise ProtocolError(
                f"{what}: the status at {provider.status_pointer} is a {type(status).__name__}, not a string",
                status=response.status,
                job_id=job_id,
            )
        return response

    @staticmethod
    def _redact_error_texts(provider: ProviderSpec, document: Any) -> None:
        """Signed-URL credentials out of the failure text a job error will quote (and the journal keep).

        Only the texts the spec names as error message/code: the video URL elsewhere in the same
        document keeps its signature, or it could not be downloaded.
        """
        if not isinstance(document, dict):
            return
        for pointers in (provider.result.error_message, provider.result.error_code):
            for pointer in [pointers] if isinstance(pointers, str) else pointers or []:
                text = json_pointer.resolve(document, pointer)
                if isinstance(text, str) and "://" in text:
                    json_pointer.assign(document, pointer, redact(text))

    async def result(self, spec: ModelSpec, job_id: str) -> Response:
        """The second request some providers answer a finished job's result on (fal's response_url)."""
        assert spec.provider.result_request is not None
        return await self.read(spec, spec.provider.result_request, job_id, f"result of job {job_id}")

    async def cancel(self, spec: ModelSpec, job_id: str) -> Response:
        """Cancelling twice is harmless, so a cancel is retried like a status read."""
        assert spec.provider.cancel is not None
        return await self.read(spec, spec.provider.cancel, job_id, f"cancel job {job_id}")


@attrs.frozen
class _Unreadable:
    """A body that was not usable JSON (kept short: it is only ever shown in an error)."""

    head: bytes
    reason: str = "not JSON"


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON; an answer carrying them is not used."""
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
"""Made once: ``json.loads`` with any option builds a new decoder (and scanner) at every call."""


def _deeper_than(document: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` deep (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
