"""One handler for provider callbacks: verify, match, deduplicate, wake; reject and log anything else.

What it does with a callback, in order (each refusal is logged with the provider,
the reason and, where known, the job id, never with a secret, header or body):

1. the provider must be known and declare callbacks (else 404);
2. the body must be JSON within ``max_body`` bytes (else 400/413);
3. a scheme this install verifies (Standard Webhooks) must verify, within the
   timestamp tolerance, with the secret from the spec's ``secret_env`` (else 401;
   no secret configured: 503). Other schemes give an unverified *hint*;
4. the job it names must be waiting in this process's :class:`PushHub`, or known
   to the shared journal (then the callback is recorded there as an event for the
   owning process to pick up: 202); anything else is an unknown job (404);
5. an event id seen before is a duplicate: acknowledged (200), not acted on.

Nothing here can submit: the receiver holds no provider client; the most a callback
can do is wake a job this engine already holds (and a hint only makes it read its
status from the provider).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import web
from multidict import CIMultiDict

from wan_engine.client.push import Callback, PushHub
from wan_engine.errors import WanEngineError
from wan_engine.redaction import redact_document
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec import webhook_signature
from wan_engine.spec.model import ProviderSpec
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState

if TYPE_CHECKING:
    from wan_engine.journal.store import JournalStore

log = logging.getLogger("wan_engine.receiver")

MAX_BODY = 1024 * 1024


@attrs.frozen
class Verdict:
    status: int
    outcome: str
    """woke, duplicate, finished, journaled, or why it was refused."""


def _state(provider: ProviderSpec, word: object) -> JobState | None:
    callbacks = provider.callbacks
    assert callbacks is not None
    if callbacks.statuses:
        return callbacks.statuses.get(word) if isinstance(word, str) else None
    return provider.mapped_status(word)


class CallbackReceiver:
    """See the module docstring. ``wall`` is epoch seconds (injected so staleness can be tested)."""

    def __init__(
        self,
        registry: SpecRegistry,
        hub: PushHub,
        *,
        env: Mapping[str, str] | None = None,
        wall: Callable[[], float] = time.time,
        journal: JournalStore | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        self.registry = registry
        self.hub = hub
        self._env = env if env is not None else os.environ
        self._wall = wall
        self.journal = journal
        self.max_body = max_body
        self.verdicts: list[tuple[str, Verdict]] = []
        """(provider id, verdict) for every callback handled: what tests and operators look at."""

    # -- the core, independent of any server ----------------------------------------------

    def receive(self, provider_id: str, headers: Mapping[str, str], body: bytes) -> Verdict:
        verdict = self._judge(provider_id, CIMultiDict(headers), body)
        self.verdicts.append((provider_id, verdict))
        return verdict

    def _refuse(self, status: int, provider_id: str, reason: str, job_id: str | None = None) -> Verdict:
        # Ids come from unverified input: quoted (repr), so a crafted one cannot forge log lines.
        log.warning("callback refused (%s): provider %r%s: %s", status, provider_id,
                    f", job {job_id!r}" if job_id else "", reason)
        return Verdict(status, reason)

    def _judge(self, provider_id: str, headers: CIMultiDict[str], body: bytes) -> Verdict:
        provider = self.registry.providers.get(provider_id)
        if provider is None or provider.callbacks is None:
            return self._refuse(404, provider_id, "no such provider with callbacks")
        callbacks = provider.callbacks
        if len(body) > self.max_body:
            return self._refuse(413, provider_id, "body too large")
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return self._refuse(400, provider_id, "body is not JSON")
        signature = callbacks.signature
        trusted = signature.verifiable
        secret = ""
        if trusted:
            secret = self._env.get(signature.secret_env or "") or ""
            if not secret:
                return self._refuse(503, provider_id, f"no signing secret: set {signature.secret_env}")
            checked = webhook_signature.verify(secret, headers, body, self._wall(), signature.tolerance_s)
            if checked.message_id is None:
                return self._refuse(401, provider_id, f"signature: {checked.problem}")
            event_id = checked.message_id
        else:
            sent_id = headers.get(callbacks.event_id_header) if callbacks.event_id_header else None
            event_id = sent_id or "sha256:" + hashlib.sha256(body).hexdigest()
        job_id = json_pointer.first(document, callbacks.id_pointer or provider.id_pointer)
        if not isinstance(job_id, (str, int)) or job_id == "":
            return self._refuse(400, provider_id, "no job id in the body")
        job_id = str(job_id)
        word = json_pointer.resolve(document, callbacks.status_pointer or provider.status_pointer)
        callback = Callback(
            provider_id,
            job_id,
            event_id,
            trusted,
            _state(provider, word) if trusted else None,
            word if trusted else None,
            document if trusted else None,
        )
        if trusted:
            callback = attrs.evolve(callback, document=self._without_secrets(provider, document, secret))
        outcome = self.hub.deliver(callback)
        if outcome == "unknown":
            if self._journaled(provider, callback):
                return Verdict(202, "journaled")
            return self._refuse(404, provider_id, "unknown job", job_id)
        return Verdict(200, outcome)

    def _without_secrets(self, provider: ProviderSpec, document: Any, signing_secret: str) -> Any:
        """A believed body becomes the job's status document (and may reach the journal): the API key
        and the signing secret are taken out wherever echoed, except in the video URL itself."""
        key = self._env.get(provider.auth.env) if provider.auth.env else None
        redacted = redact_document(document, [key, signing_secret, signing_secret.removeprefix("whsec_")])
        if redacted is document or not isinstance(redacted, dict):
            return redacted
        callbacks = provider.callbacks
        assert callbacks is not None
        pointers = (callbacks.result or provider.result).video_url
        for pointer in [pointers] if isinstance(pointers, str) else pointers or []:
            original = json_pointer.resolve(document, pointer)
            if isinstance(original, str):
                json_pointer.assign(redacted, pointer, original)
        return redacted

    def _journaled(self, provider: ProviderSpec, callback: Callback) -> bool:
        """A job of another process: record the callback in the shared journal for its owner."""
        if self.journal is None:
            return False
        record = self.journal.get(callback.job_id)
        if record is None or record.provider_id != callback.job_id:
            return False
        try:
            if self.registry.model(record.model).provider.id != provider.id:
                return False
        except WanEngineError:  # a model this process does not know: not ours to judge
            return False
        detail = {"provider": provider.id, "event_id": callback.event_id, "trusted": callback.trusted}
        self.journal.record_event(record.key, "callback", datetime.fromtimestamp(self._wall(), UTC), detail)
        log.info("callback %s for job %s recorded in the journal for its owner", callback.event_id, callback.job_id)
        return True

    # -- aiohttp --------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        provider_id = request.match_info["provider"]
        body = bytearray()
        if request.content_length is None or request.content_length <= self.max_body:
            async for chunk in request.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > self.max_body:
                    break  # the rest is never read into memory
        else:
            body = bytearray(self.max_body + 1)
        verdict = self.receive(provider_id, request.headers, bytes(body))
        return web.json_response({"outcome": verdict.outcome}, status=verdict.status)

    def application(self) -> web.Application:
        """Routes ``POST /{provider}``: run it on its own port, or ``app.add_subapp("/callbacks", ...)``."""
        app = web.Application(client_max_size=self.max_body + 1024)
        app.router.add_post("/{provider}", self.handle)
        return app

    # -- ASGI -----------------------------------------------------------------------------

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        """The same handler as an ASGI app (mount it under a prefix; the last path segment is the provider)."""
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            verdict = Verdict(405, "method not allowed")
        else:
            chunks: list[bytes] = []
            size, more = 0, True
            while more:
                message = await receive()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size <= self.max_body:
                    chunks.append(chunk)
                more = message.get("more_body", False)
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
            provider_id = scope["path"].rstrip("/").rsplit("/", 1)[-1]
            body = b"".join(chunks) if size <= self.max_body else b"x" * (self.max_body + 1)
            verdict = self.receive(provider_id, headers, body)
        payload = json.dumps({"outcome": verdict.outcome}).encode()
        await send({"type": "http.response.start", "status": verdict.status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})


class ReceiverServer:
    """The receiver on its own port (``async with``), for an engine that has no web server of its own."""

    def __init__(self, receiver: CallbackReceiver, host: str = "127.0.0.1", port: int = 0) -> None:
        self.receiver = receiver
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None
        self.url: str | None = None

    async def __aenter__(self) -> ReceiverServer:
        self._runner = web.AppRunner(self.receiver.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.url = f"http://{bound_host}:{bound_port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
