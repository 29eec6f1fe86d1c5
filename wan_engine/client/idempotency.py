"""Idempotency keys: the same key and the same request return the job already paid for, never a second one.

Stripe's idempotency keys are the model: a client names a request with a key
of its choosing; the first submit with that key is sent, every later one with
the same parameters gets the first one's job back, and the same key with
different parameters is an error naming both. Keys expire by policy (Stripe:
24 hours), after which the key is free again.

Atomicity comes from the store, never from a check-then-insert here:
:meth:`KeyStore.reserve_key` inserts the key's row unless one exists (a
primary key in a database; one lock in memory) and answers with the row that
holds the key now. Whoever's token is on that row sends the submit; everyone
else waits for the row to name a job. How a submit ends settles the row:

* the provider gave an id: ``submitted`` (later callers get that job);
* certainly refused (a 4xx, no connection, a budget): the row is deleted, so
  the same key may be sent again: no job exists;
* anything else (timeout, reset, a crash): ``unknown`` for good; the key
  will not be sent again until it expires, since the first may have been paid.

A row left ``pending`` by a process that died mid-submit is treated like
``unknown`` once it is older than ``KeyPolicy.pending_wait_s``.

The in-memory store serves a plain :class:`~wan_engine.client.engine.Engine`
(one process); the journal's store serves every process sharing its file.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Mapping
from typing import Any, Literal, Protocol

import attrs

from wan_engine.clock import Clock
from wan_engine.errors import IdempotencyKeyMismatchError, SubmitOutcomeUnknownError
from wan_engine.redaction import redact

KeyState = Literal["pending", "submitted", "unknown"]
Settlement = Literal["submitted", "unknown", "released"]


@attrs.frozen
class KeyPolicy:
    """How long a key holds its job, and how long to wait for a submit in flight under the same key."""

    ttl_s: float = 24 * 3600.0
    """Stripe's: a key is free again 24 hours after its first use."""
    pending_wait_s: float = 120.0
    """Past this, a key still pending is taken for a submit whose process died: outcome unknown."""
    poll_s: float = 0.25


@attrs.frozen
class KeyRecord:
    """The row that holds a key: who reserved it, for what request, and how the submit ended."""

    name: str
    token: str
    """Random, per submit: whoever's token is on the row is the one that sends."""
    fingerprint: str
    model: str
    params: Mapping[str, Any]
    state: KeyState
    created_at: float
    """Epoch seconds (wall clock): keys are shared between processes."""
    expires_at: float
    provider_id: str | None = None


class KeyStore(Protocol):
    """Where keys live. Both methods are atomic (one transaction each)."""

    def reserve_key(self, record: KeyRecord, now: float) -> KeyRecord:
        """Delete ``record.name``'s row if it expired by ``now``, insert ``record`` unless a row exists, return the row.

        The row returned carries ``record.token`` exactly when this call reserved the key.
        """
        ...

    def settle_key(self, name: str, token: str, outcome: Settlement, provider_id: str | None = None) -> None:
        """Record how the submit under ``token`` ended; only the row holding ``token`` changes.

        ``released`` deletes the row (no job was created); ``submitted`` stores the provider id.
        """
        ...


class MemoryKeyStore:
    """Keys for one process: a dict under a lock (thread-safe for ``SyncEngine`` users too)."""

    def __init__(self) -> None:
        self._rows: dict[str, KeyRecord] = {}
        self._lock = threading.Lock()

    def reserve_key(self, record: KeyRecord, now: float) -> KeyRecord:
        with self._lock:
            held = self._rows.get(record.name)
            if held is None or held.expires_at <= now:
                self._rows[record.name] = held = record
            return held

    def settle_key(self, name: str, token: str, outcome: Settlement, provider_id: str | None = None) -> None:
        with self._lock:
            held = self._rows.get(name)
            if held is None or held.token != token:
                return
            if outcome == "released":
                del self._rows[name]
            else:
                self._rows[name] = attrs.evolve(held, state=outcome, provider_id=provider_id)


def fingerprint(model: str, params: Mapping[str, Any]) -> str:
    """The request a key stands for: model and parameters (defaults filled), canonical JSON, SHA-256."""
    canonical = json.dumps({"model": model, "params": params}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _differences(earlier: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    changed = sorted(k for k in set(earlier) | set(now) if earlier.get(k) != now.get(k))
    shown = [f"{k}: {earlier.get(k, '(absent)')!r} then, {now.get(k, '(absent)')!r} now" for k in changed[:4]]
    more = f"; {len(changed) - 4} more" if len(changed) > 4 else ""
    return redact("; ".join(shown) + more)  # a parameter may hold a signed URL


@attrs.frozen
class Reserved:
    """This submit holds the key: send it, then settle the key with how it ended."""

    name: str
    token: str


@attrs.frozen
class Existing:
    """An earlier submit with this key and these parameters created this job."""

    model: str
    provider_id: str


async def reserve(
    store: KeyStore, clock: Clock, policy: KeyPolicy, name: str, model: str, params: Mapping[str, Any]
) -> Reserved | Existing:
    """Take the key for this submit, or find the job an earlier submit under it created (see the module doc)."""
    if not name:
        raise ValueError("an idempotency key must not be empty")
    mine = fingerprint(model, params)
    token = uuid.uuid4().hex
    while True:
        now = clock.wall().timestamp()
        record = KeyRecord(name, token, mine, model, dict(params), "pending", now, now + policy.ttl_s)
        held = store.reserve_key(record, now)
        if held.token == token:
            return Reserved(name, token)
        if held.fingerprint != mine:
            earlier = f"{held.model}" + (f" (job {held.provider_id})" if held.provider_id else "")
            if held.model != model:
                differences = f"model: {held.model} then, {model} now"
            else:
                differences = _differences(held.params, params)
            raise IdempotencyKeyMismatchError(name, earlier, differences)
        if held.state == "submitted" and held.provider_id is not None:
            return Existing(held.model, held.provider_id)
        if held.state == "unknown":
            raise SubmitOutcomeUnknownError(
                model,
                f"idempotency key {name!r} names an earlier submit whose outcome is unknown; check the journal or "
                "the provider before using a new key",
            )
        if now - held.created_at >= policy.pending_wait_s:
            raise SubmitOutcomeUnknownError(
                model,
                f"idempotency key {name!r} was taken {now - held.created_at:.0f} s ago by a submit that never "
                "recorded its outcome (its process may have died)",
            )
        await clock.sleep(policy.poll_s)  # another submit under this key is in flight: wait for its job
