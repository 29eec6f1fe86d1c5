"""Writing the spend ledger without ever putting a job at risk.

The ledger is bookkeeping; the provider id and the job's state are what keep
a user from paying twice. So a ledger line is written only *after* the write
that matters (the id, the refusal, the unknown outcome), and a ledger write
that fails is logged and dropped: it must not turn a paid job into an error
or stop its polling. ``wan-engine spend`` then shows the job without figures
(and estimates it from its spec where it can), never a wrong total.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from typing import Any

from wan_engine.errors import JournalError
from wan_engine.journal.store import JournalStore

log = logging.getLogger("wan_engine")


def record_charge_quietly(journal: JournalStore, key: str, at: datetime, **fields: Any) -> None:
    try:
        journal.record_charge(key, at, **fields)
    except (JournalError, sqlite3.Error, OSError) as exc:  # a store's errors: see the module doc for why not raised
        log.warning("spend ledger: could not record job %s's charge (%s: %s)", key, type(exc).__name__, exc)
