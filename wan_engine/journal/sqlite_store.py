"""The embedded journal: one SQLite file, safe for several engines and processes at once.

Why these settings:

* WAL mode lets readers (``wan-engine jobs``) run while an engine writes, and
  several processes share the file without corrupting it;
* ``synchronous=FULL`` makes every commit durable before the engine moves on:
  the provider id of a paid job must survive even a power cut, and the cost
  (one fsync per state change, a few per job) is nothing next to a video job;
* every write is ``BEGIN IMMEDIATE``: it takes the write lock up front, so a
  read-then-write (a lease claim) cannot interleave with another process's,
  and ``busy_timeout`` makes contenders wait instead of failing;
* writes are fenced: each job carries an epoch that goes up whenever its lease
  changes hands. This object remembers the (owner, epoch) it took with
  ``intend``/``claim``, and every later write on that job is a compare-and-set
  inside the write transaction: it commits only while the lease row still names
  that owner and the epoch has not moved, else ``LeaseLostError``. A worker frozen
  past its lease (SIGSTOP, a long GC, a suspended laptop) that wakes after another
  took the job over can therefore neither overwrite ``delivered`` with ``failed``
  nor mark a second delivery, and its renewal fails too, so it stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from wan_engine.client.idempotency import KeyRecord, Settlement
from wan_engine.errors import JournalError, JournalUnwritableError, LeaseLostError
from wan_engine.journal import codec
from wan_engine.journal.owner import is_dead
from wan_engine.journal.records import (
    ChargeRecord,
    Claim,
    DeliveryState,
    HistoryEntry,
    JobRecord,
    JournalState,
    ResultRecord,
)
from wan_engine.journal.schema import DDL, SCHEMA_VERSION
from wan_engine.redaction import redact
from wan_engine.sinks.config import SinkConfig
from wan_engine.states import JobState

FALLBACK_NAME = f"wan-engine-fallback-{os.getuid() if hasattr(os, 'getuid') else 'user'}.jsonl"
"""Where a provider id goes when neither the journal nor a file beside it can be written."""


class SqliteJournal:
    """A :class:`~wan_engine.journal.store.JournalStore` in one SQLite file."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, the module's implicit BEGIN would be DEFERRED.
        self._db = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(f"PRAGMA synchronous = {synchronous}")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._fences: dict[str, tuple[str, int]] = {}
        """Jobs this object holds a lease on: key -> (owner, epoch). Writes on them are fenced."""
        self._create()

    def _create(self) -> None:
        with self._write() as db:
            for statement in DDL.split(";"):
                if statement.strip():
                    db.execute(statement)
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row["value"]) > SCHEMA_VERSION:
                raise JournalError(
                    f"{self.path} has journal schema {row['value']}; this wan-engine knows up to {SCHEMA_VERSION}"
                )

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SqliteJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- fencing -------------------------------------------------------------------------

    def _fence(self, db: sqlite3.Connection, key: str) -> None:
        """Inside a write transaction: refuse the write if this holder lost the job's lease."""
        held = self._fences.get(key)
        if held is None:
            return  # not a lease holder's write (a tool, a test): nothing to fence against
        owner, epoch = held
        row = db.execute(
            "SELECT 1 FROM leases JOIN fences USING (job_key) WHERE job_key = ? AND owner = ? AND epoch = ?",
            (key, owner, epoch),
        ).fetchone()
        if row is None:
            raise LeaseLostError(key, owner)  # the fence stays: every later write is refused too

    @staticmethod
    def _next_epoch(db: sqlite3.Connection, key: str) -> int:
        row = db.execute("SELECT epoch FROM fences WHERE job_key = ?", (key,)).fetchone()
        epoch = (row["epoch"] if row is not None else 0) + 1
        db.execute("INSERT OR REPLACE INTO fences VALUES (?, ?)", (key, epoch))
        return epoch

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _history(
        db: sqlite3.Connection, key: str, at: datetime, event: str, state: str | None, detail: Mapping[str, Any]
    ) -> None:
        db.execute(
            "INSERT INTO history (job_key, at, event, state, detail) VALUES (?, ?, ?, ?, ?)",
            (key, codec.iso(at), event, state, codec.dumps(dict(detail))),
        )

    def _set_state(
        self,
        key: str,
        state: JournalState,
        at: datetime,
        event: str,
        detail: Mapping[str, Any],
        **columns: Any,
    ) -> None:
        assignments = ", ".join(f"{name} = ?" for name in columns)
        with self._write() as db:
            self._fence(db, key)
            updated = db.execute(
                f"UPDATE jobs SET state = ?, updated_at = ?{', ' + assignments if columns else ''} WHERE key = ?",
                (state.value, codec.iso(at), *columns.values(), key),
            ).rowcount
            if not updated:
                raise JournalError(f"no job {key!r} in {self.path}")
            self._history(db, key, at, event, state.value, detail)

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
        key = uuid.uuid4().hex[:12]  # 48 random bits: unique in any one journal, short enough to type
        return self.intend_as(
            key, model=model, spec_version=spec_version, params=params, sinks=sinks, at=at, owner=owner,
            lease_s=lease_s,
        )  # fmt: skip

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
        """:meth:`intend` under a key the caller chose (a workflow id); a key in use is a JournalError."""
        names = [s.sink_name for s in sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names must be unique in one job: {names}")
        stamp, pending = codec.iso(at), DeliveryState.PENDING.value
        try:
            with self._write() as db:
                seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
                db.execute(
                    "INSERT INTO jobs (key, model, spec_version, params, state, created_at, updated_at, seq)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, model, spec_version, codec.dumps(dict(params)), JournalState.SUBMITTING.value, stamp, stamp,
                     seq),
                )
                for position, sink in enumerate(sinks):
                    db.execute(
                        "INSERT INTO sinks (job_key, name, position, config, state, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (key, sink.sink_name, position, codec.dumps(sink.as_dict()), pending, stamp),
                    )
                if owner is not None:
                    db.execute("INSERT INTO leases VALUES (?, ?, ?)", (key, owner, time.time() + lease_s))
                    self._fences[key] = (owner, self._next_epoch(db, key))
                self._history(db, key, at, "submit_intent", JournalState.SUBMITTING.value, {"sinks": names})
        except sqlite3.IntegrityError:  # the key is taken (the only unique column an intent writes)
            raise JournalError(f"the journal {self.path} already holds a job {key!r}") from None
        return key

    def mark_submitted(self, key: str, provider_id: str, at: datetime) -> None:
        """The paid job's id, durably; if the file cannot take it, the id still reaches the user.

        Disk full or a read-only journal after the provider answered must not leave the id
        only in memory: it goes into the raised error, onto stderr, and into a fallback file.
        """
        try:
            self._set_state(
                key, JournalState.SUBMITTED, at, "submitted", {"provider_id": provider_id}, provider_id=provider_id
            )
        except (sqlite3.Error, OSError) as exc:
            model = self._model_of(key)
            if isinstance(exc, sqlite3.IntegrityError):
                # The journal already holds this model's job under this id: the provider reused an id
                # (a restarted sandbox with the same --seed does), so this one is kept aside, not merged.
                reason = f"it already holds a job {provider_id} of {model}: the provider reused an id"
            else:
                reason = f"{type(exc).__name__}: {exc}"
            fallback = self._fallback_record(key, model, provider_id, at, reason)
            error = JournalUnwritableError(provider_id, model, reason, fallback)
            print(f"wan-engine: {error}", file=sys.stderr, flush=True)
            raise error from exc

    def _model_of(self, key: str) -> str:
        try:
            row = self._db.execute("SELECT model FROM jobs WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error:
            return "?"
        return str(row["model"]) if row is not None else "?"

    def _fallback_record(self, key: str, model: str, provider_id: str, at: datetime, reason: str) -> str | None:
        """Append one JSON line naming the job to the first writable fallback file; its path, or None."""
        line = json.dumps(
            {"journal": str(self.path), "key": key, "model": model, "provider_id": provider_id,
             "at": codec.iso(at), "reason": reason},
        )  # fmt: skip
        candidates = [Path(f"{self.path}.fallback.jsonl"), Path(tempfile.gettempdir()) / FALLBACK_NAME]
        for candidate in candidates:
            try:
                fd = os.open(candidate, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, (line + "\n").encode())
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError:
                continue
            return str(candidate)
        return None

    def mark_submit_unknown(self, key: str, reason: str, at: datetime) -> None:
        reason = redact(reason)
        self._set_state(key, JournalState.SUBMIT_UNKNOWN, at, "submit_unknown", {"reason": reason}, error=reason)

    def mark_refused(self, key: str, reason: str, at: datetime) -> None:
        reason = redact(reason)
        self._set_state(key, JournalState.REFUSED, at, "refused", {"reason": reason}, error=reason)

    # -- following the job ---------------------------------------------------------------

    def record_status(self, key: str, state: JobState, provider_status: Any, at: datetime) -> None:
        self._set_state(
            key,
            JournalState.of(state),
            at,
            "status",
            {"provider_status": provider_status},
            provider_status=codec.dumps(provider_status),
        )

    def record_result(self, key: str, result: ResultRecord, at: datetime) -> None:
        self._set_state(
            key,
            JournalState.SUCCEEDED,
            at,
            "result",
            {"video_urls": list(result.video_urls)},
            result=codec.result_to_json(result),
        )

    def record_error(self, key: str, state: JournalState, error: str, at: datetime) -> None:
        error = redact(error)  # error texts may quote a signed URL; the result record keeps the usable one
        self._set_state(key, state, at, "error", {"error": error}, error=error)

    def record_event(self, key: str, event: str, at: datetime, detail: Mapping[str, Any] | None = None) -> None:
        with self._write() as db:
            self._fence(db, key)
            self._history(db, key, at, event, None, detail or {})

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
    ) -> None:
        started = 1 if state is DeliveryState.STARTED else 0
        error = redact(error) if error is not None else None
        with self._write() as db:
            self._fence(db, key)
            updated = db.execute(
                "UPDATE sinks SET state = ?, location = COALESCE(?, location), sha256 = COALESCE(?, sha256),"
                " size = COALESCE(?, size), error = ?, attempts = attempts + ?, updated_at = ?"
                " WHERE job_key = ? AND name = ?",
                (state.value, location, sha256, size, error, started, codec.iso(at), key, sink),
            ).rowcount
            if not updated:
                raise JournalError(f"job {key!r} has no sink {sink!r}")
            detail = {"sink": sink, "location": location, "sha256": sha256, "size": size, "error": error}
            self._history(db, key, at, "delivery", state.value, {k: v for k, v in detail.items() if v is not None})

    # -- reading -------------------------------------------------------------------------

    def _record(self, row: sqlite3.Row) -> JobRecord:
        sinks = tuple(
            codec.sink_from_row(s)
            for s in self._db.execute("SELECT * FROM sinks WHERE job_key = ? ORDER BY position", (row["key"],))
        )
        return codec.job_from_row(row, sinks)

    def get(self, key_or_provider_id: str) -> JobRecord | None:
        row = self._db.execute("SELECT * FROM jobs WHERE key = ?", (key_or_provider_id,)).fetchone()
        if row is None:
            row = self._db.execute(
                "SELECT * FROM jobs WHERE provider_id = ? ORDER BY seq DESC", (key_or_provider_id,)
            ).fetchone()
        return None if row is None else self._record(row)

    def jobs(
        self, *, states: Sequence[str] = (), model: str | None = None, limit: int | None = None
    ) -> list[JobRecord]:
        query, args = "SELECT * FROM jobs", []
        if model is not None:
            query, args = query + " WHERE model = ?", [model]
        records = [self._record(row) for row in self._db.execute(query + " ORDER BY seq DESC", args)]
        if states:
            wanted = set(states)
            records = [r for r in records if r.state.value in wanted or r.summary_state in wanted]
        return records[:limit] if limit is not None else records

    def unfinished(self) -> list[JobRecord]:
        rows = self._db.execute(
            "SELECT * FROM jobs WHERE state IN (?, ?, ?, ?, ?) ORDER BY seq",
            (
                JournalState.SUBMITTING.value,
                JournalState.SUBMITTED.value,
                JournalState.QUEUED.value,
                JournalState.RUNNING.value,
                JournalState.SUCCEEDED.value,
            ),
        )
        return [record for record in map(self._record, rows) if record.unfinished]

    def history(self, key: str) -> list[HistoryEntry]:
        rows = self._db.execute("SELECT * FROM history WHERE job_key = ? ORDER BY id", (key,))
        return [codec.history_from_row(row) for row in rows]

    # -- leases --------------------------------------------------------------------------

    def claim(self, key: str, owner: str, lease_s: float) -> Claim:
        with self._write() as db:
            now = time.time()
            row = db.execute("SELECT owner, expires_at FROM leases WHERE job_key = ?", (key,)).fetchone()
            held = self._fences.get(key)
            if held is not None and held[0] == owner:
                # A renewal: only while nobody took the job over since (same owner, same epoch).
                fence = db.execute("SELECT epoch FROM fences WHERE job_key = ?", (key,)).fetchone()
                if row is None or row["owner"] != owner or fence is None or fence["epoch"] != held[1]:
                    holder = row["owner"] if row is not None else "another worker (since finished)"
                    return Claim(False, holder, row["expires_at"] if row is not None else now)
                db.execute("UPDATE leases SET expires_at = ? WHERE job_key = ?", (now + lease_s, key))
                return Claim(True, owner, now + lease_s)
            if row is not None and row["owner"] != owner and row["expires_at"] > now and not is_dead(row["owner"]):
                return Claim(False, row["owner"], row["expires_at"])
            db.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?)", (key, owner, now + lease_s))
            self._fences[key] = (owner, self._next_epoch(db, key))
            return Claim(True, owner, now + lease_s)

    def release(self, key: str, owner: str) -> None:
        with self._write() as db:
            held = self._fences.get(key)
            if held is not None and held[0] == owner:
                del self._fences[key]
                # Only our own lease: a stale holder must not delete the one that replaced it.
                db.execute(
                    "DELETE FROM leases WHERE job_key = ? AND owner = ?"
                    " AND EXISTS (SELECT 1 FROM fences WHERE job_key = ? AND epoch = ?)",
                    (key, owner, key, held[1]),
                )
                return
            db.execute("DELETE FROM leases WHERE job_key = ? AND owner = ?", (key, owner))

    # -- money ---------------------------------------------------------------------------

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
        with self._write() as db:
            db.execute(
                "INSERT INTO charges (job_key, tags, estimate_usd, estimate_basis, usd, figures, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (job_key) DO UPDATE SET"
                " tags = COALESCE(excluded.tags, charges.tags),"
                " estimate_usd = COALESCE(excluded.estimate_usd, charges.estimate_usd),"
                " estimate_basis = COALESCE(excluded.estimate_basis, charges.estimate_basis),"
                " usd = COALESCE(excluded.usd, charges.usd),"
                " figures = COALESCE(excluded.figures, charges.figures),"
                " updated_at = excluded.updated_at",
                (
                    key,
                    None if tags is None else codec.dumps(list(tags)),
                    estimate_usd,
                    estimate_basis,
                    usd,
                    None if figures is None else codec.dumps(dict(figures)),
                    codec.iso(at),
                ),
            )

    def charges(self) -> list[ChargeRecord]:
        rows = self._db.execute(
            "SELECT jobs.key, jobs.model, jobs.state, jobs.provider_id, jobs.created_at, charges.tags,"
            " charges.estimate_usd, charges.estimate_basis, charges.usd, charges.figures"
            " FROM jobs LEFT JOIN charges ON charges.job_key = jobs.key ORDER BY jobs.seq"
        )
        return [
            ChargeRecord(
                key=row["key"],
                model=row["model"],
                state=JournalState(row["state"]),
                created_at=codec.parse_time(row["created_at"]) or datetime.fromtimestamp(0),
                provider_id=row["provider_id"],
                tags=tuple(json.loads(row["tags"])) if row["tags"] else (),
                estimate_usd=row["estimate_usd"],
                estimate_basis=row["estimate_basis"],
                usd=row["usd"],
                figures=json.loads(row["figures"]) if row["figures"] else {},
            )
            for row in rows
        ]

    def reserve_key(self, record: KeyRecord, now: float) -> KeyRecord:
        with self._write() as db:
            db.execute("DELETE FROM idempotency_keys WHERE name = ? AND expires_at <= ?", (record.name, now))
            db.execute(
                "INSERT INTO idempotency_keys"
                " (name, token, fingerprint, model, params, state, provider_id, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (
                    record.name, record.token, record.fingerprint, record.model, codec.dumps(dict(record.params)),
                    record.state, record.provider_id, record.created_at, record.expires_at,
                ),
            )  # fmt: skip
            row = db.execute("SELECT * FROM idempotency_keys WHERE name = ?", (record.name,)).fetchone()
        return KeyRecord(
            name=row["name"],
            token=row["token"],
            fingerprint=row["fingerprint"],
            model=row["model"],
            params=json.loads(row["params"]),
            state=row["state"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            provider_id=row["provider_id"],
        )

    def settle_key(self, name: str, token: str, outcome: Settlement, provider_id: str | None = None) -> None:
        with self._write() as db:
            if outcome == "released":
                db.execute("DELETE FROM idempotency_keys WHERE name = ? AND token = ?", (name, token))
            else:
                db.execute(
                    "UPDATE idempotency_keys SET state = ?, provider_id = ? WHERE name = ? AND token = ?",
                    (outcome, provider_id, name, token),
                )
