"""Standard Webhooks signatures (HMAC-SHA256 over ``id.timestamp.body``), signed and checked with the stdlib.

Shared by the sandbox (which signs the callbacks it sends) and the callback receiver
(which checks them), so both read the scheme from one place. Time is passed in, so a
test can prove that a stale callback is refused without waiting. The secret is an
argument and is never formatted into a message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

import attrs

PREFIX = "whsec_"


@attrs.frozen
class Checked:
    """A verification's outcome: the message id when it holds, else why not (no secret, header or body in it)."""

    message_id: str | None
    problem: str | None = None


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(PREFIX)
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        return raw.encode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,BASE64``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float, tolerance_s: float) -> Checked:
    """Whether a callback's signature and timestamp hold (a value, not an exception: refusing is routine)."""
    message_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not message_id or not stamp or not signatures:
        return Checked(None, "missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        return Checked(None, "webhook-timestamp is not a number")
    if abs(now - timestamp) > tolerance_s:
        return Checked(None, f"timestamp outside the {tolerance_s:g} s tolerance (stale or from the future)")
    expected = signature(secret, message_id, timestamp, body).partition(",")[2]
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return Checked(message_id)
    return Checked(None, "no signature matches")
