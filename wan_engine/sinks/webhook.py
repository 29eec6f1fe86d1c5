"""The webhook sink: tells a URL a video was delivered, signed per Standard Webhooks.

The event is a JSON body (type ``video.delivered``: job id, model, the other
sinks' locations, size, SHA-256) with ``webhook-id``, ``webhook-timestamp``
and ``webhook-signature`` headers from the ``standardwebhooks`` package, so a
receiver verifies it with any Standard Webhooks library. The id stays the
same across retries (receivers use it to drop duplicates); the timestamp and
signature are fresh on each attempt, so a retry after a long backoff is not
refused as stale.

The signing secret lives only inside a :class:`SecretStr`: it has no repr,
it is never formatted into a log line or an error, and errors name the URL
without its query string.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from typing import Any

import aiohttp
import attrs
from standardwebhooks import Webhook

from wan_engine.errors import WebhookFailedError
from wan_engine.redaction import scrub_url
from wan_engine.sinks.protocols import DeliverySummary, SinkContext

log = logging.getLogger("wan_engine.sinks.webhook")

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class SecretStr:
    """A secret that does not show itself in reprs, str() or tracebacks' locals."""

    __slots__ = ("_value",)

    def __init__(self, value: str | SecretStr) -> None:
        self._value = value.reveal() if isinstance(value, SecretStr) else value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _signer(secret: SecretStr) -> Webhook:
    try:
        return Webhook(secret.reveal())
    except Exception as exc:  # noqa: BLE001 - its message could quote the secret: say only what is wrong
        raise ValueError(
            f"the webhook secret is not a Standard Webhooks secret (base64, optionally whsec_-prefixed): "
            f"{type(exc).__name__}"
        ) from None


def _check_secret(_instance: Any, _attribute: Any, value: SecretStr) -> None:
    _signer(value)


@attrs.frozen
class WebhookSink:
    url: str = attrs.field(validator=lambda _s, _a, v: _check_url(v))
    secret: SecretStr = attrs.field(converter=SecretStr, validator=_check_secret, repr=False)
    timeout_s: float = 10.0
    attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    event_type: str = "video.delivered"
    name: str = "webhook"
    rng: random.Random = attrs.field(factory=random.Random, eq=False, repr=False)

    def event(self, summary: DeliverySummary) -> dict[str, Any]:
        provenance = summary.provenance
        return {
            "type": self.event_type,
            "timestamp": provenance.delivered_at.isoformat(),
            "data": {
                "job_id": provenance.job_id,
                "model": provenance.model,
                "spec_version": provenance.spec_version,
                "source_url": provenance.source_url,
                "size": summary.size,
                "sha256": summary.sha256,
                "content_type": summary.content_type,
                "locations": dict(summary.locations),
            },
        }

    def backoff(self, attempt: int) -> float:
        """Full-range jitter between half and all of the exponential delay, so retries spread out."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return float(ceiling * (0.5 + 0.5 * self.rng.random()))

    async def notify(self, summary: DeliverySummary, ctx: SinkContext) -> str:
        body = json.dumps(self.event(summary), separators=(",", ":"), sort_keys=True)
        # The same delivery always carries the same id (job + event type + sink), so a notice
        # re-sent after a crash or a lost answer is recognised by Standard Webhooks receivers,
        # which drop ids they have seen: at-least-once sending becomes exactly-once handling.
        identity = f"{summary.provenance.job_id}\n{self.event_type}\n{self.name}\n{summary.sha256}"
        message_id = f"msg_{hashlib.sha256(identity.encode()).hexdigest()[:32]}"
        signer = _signer(self.secret)
        where = scrub_url(self.url)
        reason = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            now = ctx.clock.wall()
            headers = {
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signer.sign(message_id, now, body),
            }
            try:
                async with ctx.session.post(
                    self.url,
                    data=body.encode(),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                    allow_redirects=False,
                ) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        return f"{where} ({response.status}, attempt {attempt})"
                    reason = f"answered {response.status}"
                    if response.status not in RETRYABLE_STATUSES:
                        break
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, TimeoutError) else "timed out"
            if attempt < self.attempts:
                delay = self.backoff(attempt)
                log.info("webhook %s attempt %d %s; retrying in %.1f s", where, attempt, reason, delay)
                await ctx.clock.sleep(delay)
        raise WebhookFailedError(self.name, f"{where} {reason} (after {attempt} attempt(s))")


def _check_url(url: str) -> None:
    if url.split(":", 1)[0].lower() not in ("http", "https"):
        raise ValueError(f"webhook URL must be http(s): {scrub_url(url)}")
