"""The shared journal: one Postgres database, for many worker hosts and the apps that enqueue.

It mirrors :class:`~wan_engine.journal.sqlite_store.SqliteJournal` method for
method, with SQL kept as close to the SQLite SQL as the dialects allow, so a
method added to one store is ported to the other by reading them side by side.
Where they differ, and why:

* placeholders are ``%s`` (psycopg) and ``INSERT OR REPLACE`` is
  ``INSERT ... ON CONFLICT DO UPDATE``;
* SQLite's ``BEGIN IMMEDIATE`` serialises every writer on the file. Postgres
  does not, so each write transaction on a job first takes
  ``pg_advisory_xact_lock`` on that job's key: writes on one job are serialised
  across hosts (a lease claim cannot interleave with another host's claim or a
  fenced write), writes on different jobs run in parallel, and the lock ends
  with the transaction, so a killed worker cannot leave it held;
* ``seq`` comes from a sequence rather than ``MAX(seq) + 1``, which two
  concurrent transactions would both compute;
* every commit is durable (``synchronous_commit`` as the server has it: on by
  default): the provider id of a paid job must survive a crash of the database
  host as it survives one of the SQLite file's;
* the connection URL may carry a password: it is kept only to connect, and
  every message and :attr:`path` show it without user info.

Columns stay ``TEXT`` where SQLite's are (JSON, ISO-8601 times), so the same
codec reads rows of both stores.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

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
from wan_engine.journal.schema import SCHEMA_VERSION
from wan_engine.journal.sqlite_store import FALLBACK_NAME
from wan_engine.redaction import redact, redact_url_query
from wan_engine.sinks.config import SinkConfig
from wan_engine.states import JobState

Connection = psycopg.Connection[dict[str, Any]]

URL_SCHEMES = ("postgresql://", "postgres://")

DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS jobs_seq;
CREATE TABLE IF NOT EXISTS jobs (
    key             TEXT PRIMARY KEY,
    model           TEXT NOT NULL,
    spec_version    TEXT NOT NULL,
    params          TEXT NOT NULL,
    state           TEXT NOT NULL,
    provider_id     TEXT,
    provider_status TEXT,
    result          TEXT,
    error           TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    seq             BIGINT NOT NULL DEFAULT nextval('jobs_seq')
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_provider_id ON jobs (model, provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE TABLE IF NOT EXISTS history (
    id      BIGSERIAL PRIMARY KEY,
    job_key TEXT NOT NULL REFERENCES jobs (key),
    at      TEXT NOT NULL,
    event   TEXT NOT NULL,
    state   TEXT,
    detail  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_job ON history (job_key, id);
CREATE TABLE IF NOT EXISTS sinks (
    job_key    TEXT NOT NULL REFERENCES jobs (key),
    name       TEXT NOT NULL,
    position   INTEGER NOT NULL,
    config     TEXT NOT NULL,
    state      TEXT NOT NULL,
    location   TEXT,
    sha256     TEXT,
    size       BIGINT,
    error      TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (job_key, name)
);
CREATE TABLE IF NOT EXISTS leases (
    job_key    TEXT PRIMARY KEY REFERENCES jobs (key),
    owner      TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS fences (
    job_key TEXT PRIMARY KEY REFERENCES jobs (key),
    epoch   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS charges (
    job_key        TEXT PRIMARY KEY REFERENCES jobs (key),
    tags           TEXT,
    estimate_usd   DOUBLE PRECISION,
    estimate_basis TEXT,
    usd            DOUBLE PRECISION,
    figures        TEXT,
    updated_at     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    name        TEXT PRIMARY KEY,
    token       TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    model       TEXT NOT NULL,
    params      TEXT NOT NULL,
    state       TEXT NOT NULL,
    provider_id TEXT,
    created_at  DOUBLE PRECISION NOT NULL,
    expires_at  DOUBLE PRECISION NOT NULL
)
"""
"""The SQLite schema (schema.py) in Postgres types; same tables, columns and indexes."""


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


class PostgresJournal:
    """A :class:`~wan_engine.journal.store.JournalStore` in a Postgres database (see the module doc)."""

    def __init__(self, url: str, *, connect_timeout_s: float = 10.0) -> None:
        self.path = redact_url_query(url)
        """The database, as messages may name it: the URL without user info (no password)."""
        self._url, self._connect_timeout_s = url, connect_timeout_s
        self._db = self._connect()
        self._fences: dict[str, tuple[str, int]] = {}
        """Jobs this object holds a lease on: key -> (owner, epoch). Writes on them are fenced."""
        self._create()

    def _connect(self) -> Connection:
        try:
            # autocommit: each method opens its own transaction() (BEGIN ... COMMIT), none is left open.
            return psycopg.connect(
                self._url, row_factory=dict_row, autocommit=True, connect_timeout=max(1, int(self._connect_timeout_s))
            )
        except psycopg.Error as exc:
            why = " ".join(redact(str(exc)).split())  # libpq's message spans lines; a CLI error is one
            raise JournalError(
                f"cannot connect to the journal {self.path}: {why}; check the server is up and the URL "
                "(--journal or WAN_ENGINE_JOURNAL)"
            ) from None

    def _live(self) -> Connection:
        """The connection, re-opened if the last one broke (a database restart, a dropped link).

        The call that met the broken connection has already failed (and its caller retries, as a
        Temporal activity does); every call after it gets a fresh connection instead of failing
        for the rest of the worker's life. Leases and fences live in the database, not the link.
        """
        if self._db.closed or self._db.broken:
            self._db = self._connect()
        return self._db

    def _create(self) -> None:
        with self._db.transaction():
            # One creator at a time: CREATE ... IF NOT EXISTS races between processes in Postgres.
            self._db.execute("SELECT pg_advisory_xact_lock(hashtextextended('wan-engine journal schema', 0))")
            for statement in DDL.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema_version', %s)", (str(SCHEMA_VERSION),))
            elif int(row["value"]) > SCHEMA_VERSION:
                raise JournalError(
                    f"{self.path} has journal schema {row['value']}; this wan-engine knows up to {SCHEMA_VERSION}"
                )

    @contextlib.contextmanager
    def _write(self, key: str | None = None) -> Iterator[Connection]:
        """One transaction; with ``key``, serialised with every other write on that job (any host)."""
        db = self._live()
        with db.transaction():
            if key is not None:
                db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            yield db

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read in its own short transaction, so no snapshot is held open between calls."""
        db = self._live()
        with db.transaction():
            yield db

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> PostgresJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- fencing -------------------------------------------------------------------------

    def _fence(self, db: Connection, key: str) -> None:
        """Inside a write transaction: refuse the write if this holder lost the job's lease."""
        held = self._fences.get(key)
        if held is None:
            return  # not a lease holder's write (a tool, a test): nothing to fence against
        owner, epoch = held
        row = db.execute(
            "SELECT 1 FROM leases JOIN fences USING (job_key) WHERE job_key = %s AND owner = %s AND epoch = %s",
            (key, owner, epoch),
        ).fetchone()
        if row is None:
            raise LeaseLostError(key, owner)  # the fence stays: every later write is refused too

    @staticmethod
    def _next_epoch(db: Connection, key: str) -> int:
        row = db.execute("SELECT epoch FROM fences WHERE job_key = %s", (key,)).fetchone()
        epoch = (row["epoch"] if row is not None else 0) + 1
        db.execute(
            "INSERT INTO fences VALUES (%s, %s) ON CONFLICT (job_key) DO UPDATE SET epoch = EXCLUDED.epoch",
            (key, epoch),
        )
        return int(epoch)

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _history(
        db: Connection, key: str, at: datetime, event: str, state: str | None, detail: Mapping[str, Any]
    ) -> None:
        db.execute(
            "INSERT INTO history (job_key, at, event, state, detail) VALUES (%s, %s, %s, %s, %s)",
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
        assignments = ", ".join(f"{name} = %s" for name in columns)
        with self._write(key) as db:
            self._fence(db, key)
            updated = db.execute(
                f"UPDATE jobs SET state = %s, updated_at = %s{', ' + assignments if columns else ''} WHERE key = %s",
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
        stamp = codec.iso(at)
        pending = DeliveryState.PENDING.value
        try:
            with self._write(key) as db:
                db.execute(
                    "INSERT INTO jobs (key, model, spec_version, params, state, created_at, updated_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (key, model, spec_version, codec.dumps(dict(params)), JournalState.SUBMITTING.value, stamp, stamp),
                )
                for position, sink in enumerate(sinks):
                    db.execute(
                        "INSERT INTO sinks (job_key, name, position, config, state, updated_at)"
                        " VALUES (%s, %s, %s, %s, %s, %s)",
                        (key, sink.sink_name, position, codec.dumps(sink.as_dict()), pending, stamp),
                    )
                if owner is not None:
                    db.execute("INSERT INTO leases VALUES (%s, %s, %s)", (key, owner, time.time() + lease_s))
                    self._fences[key] = (owner, self._next_epoch(db, key))
                self._history(db, key, at, "submit_intent", JournalState.SUBMITTING.value, {"sinks": names})
        except psycopg.errors.UniqueViolation:
            raise JournalError(f"the journal {self.path} already holds a job {key!r}") from None
        return key

    def mark_submitted(self, key: str, provider_id: str, at: datetime) -> None:
        """The paid job's id, durably; if the database cannot take it, the id still reaches the user."""
        try:
            self._set_state(
                key, JournalState.SUBMITTED, at, "submitted", {"provider_id": provider_id}, provider_id=provider_id
            )
        except (psycopg.Error, OSError) as exc:
            model = self._model_of(key)
            if isinstance(exc, psycopg.errors.UniqueViolation):
                reason = f"it already holds a job {provider_id} of {model}: the provider reused an id"
            else:
                reason = f"{type(exc).__name__}: {redact(str(exc))}"
            fallback = self._fallback_record(key, model, provider_id, at, reason)
            error = JournalUnwritableError(provider_id, model, reason, fallback)
            print(f"wan-engine: {error}", file=sys.stderr, flush=True)
            raise error from exc

    def _model_of(self, key: str) -> str:
        try:
            with self._read() as db:
                row = db.execute("SELECT model FROM jobs WHERE key = %s", (key,)).fetchone()
        except psycopg.Error:
            return "?"
        return str(row["model"]) if row is not None else "?"

    def _fallback_record(self, key: str, model: str, provider_id: str, at: datetime, reason: str) -> str | None:
        """Append one JSON line naming the job to a local fallback file (the database is elsewhere)."""
        line = json.dumps(
            {"journal": self.path, "key": key, "model": model, "provider_id": provider_id,
             "at": codec.iso(at), "reason": reason},
        )  # fmt: skip
        candidate = Path(tempfile.gettempdir()) / FALLBACK_NAME
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            return None
        return str(candidate)

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
        error = redact(error)
        self._set_state(key, state, at, "error", {"error": error}, error=error)

    def record_event(self, key: str, event: str, at: datetime, detail: Mapping[str, Any] | None = None) -> None:
        with self._write(key) as db:
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
        with self._write(key) as db:
            self._fence(db, key)
            updated = db.execute(
                "UPDATE sinks SET state = %s, location = COALESCE(%s, location), sha256 = COALESCE(%s, sha256),"
                " size = COALESCE(%s, size), error = %s, attempts = attempts + %s, updated_at = %s"
                " WHERE job_key = %s AND name = %s",
                (state.value, location, sha256, size, error, started, codec.iso(at), key, sink),
            ).rowcount
            if not updated:
                raise JournalError(f"job {key!r} has no sink {sink!r}")
            detail = {"sink": sink, "location": location, "sha256": sha256, "size": size, "error": error}
            self._history(db, key, at, "delivery", state.value, {k: v for k, v in detail.items() if v is not None})

    # -- reading -------------------------------------------------------------------------

    def _record(self, db: Connection, row: dict[str, Any]) -> JobRecord:
        sinks = tuple(
            codec.sink_from_row(s)
            for s in db.execute("SELECT * FROM sinks WHERE job_key = %s ORDER BY position", (row["key"],)).fetchall()
        )
        return codec.job_from_row(row, sinks)

    def get(self, key_or_provider_id: str) -> JobRecord | None:
        with self._read() as db:
            row = db.execute("SELECT * FROM jobs WHERE key = %s", (key_or_provider_id,)).fetchone()
            if row is None:
                row = db.execute(
                    "SELECT * FROM jobs WHERE provider_id = %s ORDER BY seq DESC", (key_or_provider_id,)
                ).fetchone()
            return None if row is None else self._record(db, row)

    def jobs(
        self, *, states: Sequence[str] = (), model: str | None = None, limit: int | None = None
    ) -> list[JobRecord]:
        query, args = "SELECT * FROM jobs", []
        if model is not None:
            query, args = query + " WHERE model = %s", [model]
        with self._read() as db:
            rows = db.execute(query + " ORDER BY seq DESC", args).fetchall()
            records = [self._record(db, row) for row in rows]
        if states:
            wanted = set(states)
            records = [r for r in records if r.state.value in wanted or r.summary_state in wanted]
        return records[:limit] if limit is not None else records

    def unfinished(self) -> list[JobRecord]:
        with self._read() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE state IN (%s, %s, %s, %s, %s) ORDER BY seq",
                (
                    JournalState.SUBMITTING.value,
                    JournalState.SUBMITTED.value,
                    JournalState.QUEUED.value,
                    JournalState.RUNNING.value,
                    JournalState.SUCCEEDED.value,
                ),
            ).fetchall()
            records = [self._record(db, row) for row in rows]
        return [record for record in records if record.unfinished]

    def history(self, key: str) -> list[HistoryEntry]:
        with self._read() as db:
            rows = db.execute("SELECT * FROM history WHERE job_key = %s ORDER BY id", (key,)).fetchall()
        return [codec.history_from_row(row) for row in rows]

    # -- leases --------------------------------------------------------------------------

    def claim(self, key: str, owner: str, lease_s: float) -> Claim:
        with self._write(key) as db:
            now = time.time()
            row = db.execute("SELECT owner, expires_at FROM leases WHERE job_key = %s", (key,)).fetchone()
            held = self._fences.get(key)
            if held is not None and held[0] == owner:
                # A renewal: only while nobody took the job over since (same owner, same epoch).
                fence = db.execute("SELECT epoch FROM fences WHERE job_key = %s", (key,)).fetchone()
                if row is None or row["owner"] != owner or fence is None or fence["epoch"] != held[1]:
                    holder = row["owner"] if row is not None else "another worker (since finished)"
                    return Claim(False, holder, row["expires_at"] if row is not None else now)
                db.execute("UPDATE leases SET expires_at = %s WHERE job_key = %s", (now + lease_s, key))
                return Claim(True, owner, now + lease_s)
            if row is not None and row["owner"] != owner and row["expires_at"] > now and not is_dead(row["owner"]):
                return Claim(False, row["owner"], row["expires_at"])
            db.execute(
                "INSERT INTO leases VALUES (%s, %s, %s)"
                " ON CONFLICT (job_key) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at",
                (key, owner, now + lease_s),
            )
            self._fences[key] = (owner, self._next_epoch(db, key))
            return Claim(True, owner, now + lease_s)

    def release(self, key: str, owner: str) -> None:
        with self._write(key) as db:
            held = self._fences.get(key)
            if held is not None and held[0] == owner:
                del self._fences[key]
                # Only our own lease: a stale holder must not delete the one that replaced it.
                db.execute(
                    "DELETE FROM leases WHERE job_key = %s AND owner = %s"
                    " AND EXISTS (SELECT 1 FROM fences WHERE job_key = %s AND epoch = %s)",
                    (key, owner, key, held[1]),
                )
                return
            db.execute("DELETE FROM leases WHERE job_key = %s AND owner = %s", (key, owner))

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
        with self._write(key) as db:
            db.execute(
                "INSERT INTO charges (job_key, tags, estimate_usd, estimate_basis, usd, figures, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)"
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
        with self._read() as db:
            rows = db.execute(
                "SELECT jobs.key, jobs.model, jobs.state, jobs.provider_id, jobs.created_at, charges.tags,"
                " charges.estimate_usd, charges.estimate_basis, charges.usd, charges.figures"
                " FROM jobs LEFT JOIN charges ON charges.job_key = jobs.key ORDER BY jobs.seq"
            ).fetchall()
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
        with self._write(f"idempotency:{record.name}") as db:
            db.execute("DELETE FROM idempotency_keys WHERE name = %s AND expires_at <= %s", (record.name, now))
            db.execute(
                "INSERT INTO idempotency_keys"
                " (name, token, fingerprint, model, params, state, provider_id, created_at, expires_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING",
                (
                    record.name, record.token, record.fingerprint, record.model, codec.dumps(dict(record.params)),
                    record.state, record.provider_id, record.created_at, record.expires_at,
                ),
            )  # fmt: skip
            row = db.execute("SELECT * FROM idempotency_keys WHERE name = %s", (record.name,)).fetchone()
        assert row is not None
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
        with self._write(f"idempotency:{name}") as db:
            if outcome == "released":
                db.execute("DELETE FROM idempotency_keys WHERE name = %s AND token = %s", (name, token))
            else:
                db.execute(
                    "UPDATE idempotency_keys SET state = %s, provider_id = %s WHERE name = %s AND token = %s",
                    (outcome, provider_id, name, token),
                )
