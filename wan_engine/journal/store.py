"""The journal interface: what the engine needs from durable storage, and nothing more.

The engine talks only to this Protocol, so the embedded SQLite store can be
replaced by a server-backed one (Postgres, a service) that implements the
same methods. Methods are synchronous on purpose: each is one small
transaction the engine must see committed *before* it takes its next step
(the write-ahead rule), and a job's event callbacks, which record status
changes, are synchronous too.

Contract every implementation must keep:

* each method is atomic and durable when it returns;
* ``intend`` creates the job *and* its sinks *and*, when an owner is given,
  that owner's lease in one transaction;
* ``claim`` is atomic across processes: two owners never both hold a live
  lease on a job;
* writes are fenced by lease: once a store has taken a job's lease for an owner
  (``intend`` with an owner, or ``claim``), every later write on that job
  through it commits only if that owner still holds the lease it took (a
  compare-and-set on owner and a per-job epoch that rises at each change of
  hands); otherwise it raises ``LeaseLostError`` and changes nothing, and a
  renewing ``claim`` answers not taken;
* nothing passed in is a credential (the engine never passes headers or
  keys), and a store must not add any;
* money (the spend ledger and idempotency keys; four methods, plain SQL a
  server store can copy): ``record_charge`` is an upsert of one row per job in
  which a None argument leaves that column as it was (not fenced: a ledger line
  is added to, never taken back); ``charges`` lists every job with its ledger
  row (a left join); ``reserve_key`` and ``settle_key`` implement
  :class:`~wan_engine.client.idempotency.KeyStore`, each one transaction, and
  the key's atomicity across processes comes from the database (a primary key
  and ``INSERT ... ON CONFLICT DO NOTHING``), never from a read-then-write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from wan_engine.client.idempotency import KeyRecord, Settlement
from wan_engine.journal.records import (
    ChargeRecord,
    Claim,
    DeliveryState,
    HistoryEntry,
    JobRecord,
    JournalState,
    ResultRecord,
)
from wan_engine.sinks.config import SinkConfig
from wan_engine.states import JobState


class JournalStore(Protocol):
    # -- submitting ----------------------------------------------------------------------

    def intend(
        self,
        *,
        model: str,
        spec_version: str,
        params: Mapping[str, Any],
        sinks: Sequence[SinkConfig],
        at: datetime,
        owner: str | None = None,
        lease_s: float = 0.0,
    ) -> str:
        """Journal the intent to submit (state ``submitting``) and return the new local key."""
        ...

    def intend_as(
        self,
        key: str,
        *,
        model: str,
        spec_version: str,
        params: Mapping[str, Any],
        sinks: Sequence[SinkConfig],
        at: datetime,
        owner: str | None = None,
        lease_s: float = 0.0,
    ) -> str:
        """``intend`` under a key the caller chose (a Temporal workflow id, an app's idempotency key).

        A key already in the journal raises ``JournalError`` and changes nothing: the caller
        reads that job instead (it may have been sent already).
        """
        ...

    def mark_submitted(self, key: str, provider_id: str, at: datetime) -> None:
        """The provider answered with an id: this is the write that prevents paying twice."""
        ...

    def mark_submit_unknown(self, key: str, reason: str, at: datetime) -> None: ...

    def mark_refused(self, key: str, reason: str, at: datetime) -> None: ...

    # -- following the job ---------------------------------------------------------------

    def record_status(self, key: str, state: JobState, provider_status: Any, at: datetime) -> None: ...

    def record_result(self, key: str, result: ResultRecord, at: datetime) -> None:
        """Store the result (state ``succeeded``); sinks stay as they are."""
        ...

    def record_error(self, key: str, state: JournalState, error: str, at: datetime) -> None: ...

    def record_event(self, key: str, event: str, at: datetime, detail: Mapping[str, Any] | None = None) -> None:
        """A history line that changes no state (e.g. 'resumed by X')."""
        ...

    # -- delivering ----------------------------------------------------------------------

    def record_delivery(
        self,
        key: str,
        sink: str,
        state: DeliveryState,
        at: datetime,
        *,
        location: str | None = None,
        sha256: str | None = None,
        size: int | None = None,
        error: str | None = None,
    ) -> None: ...

    # -- reading -------------------------------------------------------------------------

    def get(self, key_or_provider_id: str) -> JobRecord | None:
        """A job by local key, or by provider id (a key wins if both match)."""
        ...

    def jobs(
        self, *, states: Sequence[str] = (), model: str | None = None, limit: int | None = None
    ) -> list[JobRecord]:
        """Newest first; ``states`` match the journal state or the summary state ('delivered')."""
        ...

    def unfinished(self) -> list[JobRecord]:
        """Oldest first: every job resume has something to do for."""
        ...

    def history(self, key: str) -> list[HistoryEntry]: ...

    # -- leases (who may poll and deliver a job now) --------------------------------------

    def claim(self, key: str, owner: str, lease_s: float) -> Claim:
        """Take (or extend) the lease on ``key`` unless another live owner holds it.

        Extending fails (not taken) if the job changed hands since this store took it.
        """
        ...

    def release(self, key: str, owner: str) -> None: ...

    # -- money (spend ledger, idempotency keys) --------------------------------------------

    def record_charge(
        self,
        key: str,
        at: datetime,
        *,
        tags: Sequence[str] | None = None,
        estimate_usd: float | None = None,
        estimate_basis: str | None = None,
        usd: float | None = None,
        figures: Mapping[str, float | int] | None = None,
    ) -> None:
        """Add to job ``key``'s ledger row (created on first use); None leaves a column as it was."""
        ...

    def charges(self) -> list[ChargeRecord]:
        """Every job, oldest first, with its ledger row (empty figures where it has none)."""
        ...

    def reserve_key(self, record: KeyRecord, now: float) -> KeyRecord:
        """Drop the key's row if expired by ``now``, insert ``record`` unless a row exists, return the row."""
        ...

    def settle_key(self, name: str, token: str, outcome: Settlement, provider_id: str | None = None) -> None:
        """Only the row holding ``token``: delete it (released) or set its state and provider id."""
        ...

    def close(self) -> None: ...
