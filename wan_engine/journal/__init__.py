"""The job journal: durable memory of every job, so a crash is followed by a resume, not a second bill.

``Engine(journal=path_or_store)`` journals the intent to submit before the
request, the provider id before ``submit`` returns, every status, the
result, and each sink's delivery; ``engine.resume()`` (``wan-engine
resume``) finishes whatever a dead process left. The store is a Protocol
(store.py); the embedded implementation is one SQLite file (sqlite_store.py), the
shared one for many hosts a Postgres database (postgres_store.py, extra ``wan-engine[postgres]``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping

from wan_engine.crashpoints import crashpoint
from wan_engine.errors import JournalError
from wan_engine.journal.location import journal_path, journal_target
from wan_engine.journal.records import (
    Claim,
    DeliveryState,
    HistoryEntry,
    JobRecord,
    JournalState,
    ResultRecord,
    SinkRecord,
)
from wan_engine.journal.sqlite_store import SqliteJournal
from wan_engine.journal.store import JournalStore
from wan_engine.sinks.config import SinkConfig


def open_journal(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> JournalStore:
    """The journal at ``path``, else ``$WAN_ENGINE_JOURNAL``, else in the user's data directory.

    A ``postgresql://`` URL opens the shared Postgres journal (extra ``wan-engine[postgres]``);
    anything else is an SQLite file. A journal that cannot be used (not a database, corrupt,
    read-only, a folder we cannot create, a server that does not answer) is a
    :class:`JournalError` naming it (never its password) and what to do, never a raw traceback.
    """
    where = journal_target(path, env)
    if isinstance(where, str):
        return open_postgres(where)
    try:
        return SqliteJournal(where)
    except (sqlite3.Error, OSError) as exc:
        raise JournalError(
            f"cannot use the journal {where}: {exc}; give another file with --journal (or WAN_ENGINE_JOURNAL), "
            "or move this one aside if it is damaged"
        ) from None


def open_postgres(url: str) -> JournalStore:
    """The Postgres journal at ``url``; psycopg is imported only here, so a plain install needs none."""
    try:
        from wan_engine.journal.postgres_store import PostgresJournal
    except ImportError:
        raise JournalError(
            "a postgresql:// journal needs psycopg: pip install 'wan-engine[postgres]'"
        ) from None
    return PostgresJournal(url)


__all__ = [
    "Claim",
    "DeliveryState",
    "HistoryEntry",
    "JobRecord",
    "JournalError",
    "JournalState",
    "JournalStore",
    "ResultRecord",
    "SinkConfig",
    "SinkRecord",
    "SqliteJournal",
    "crashpoint",
    "journal_path",
    "journal_target",
    "open_journal",
    "open_postgres",
]
