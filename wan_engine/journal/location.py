"""Where the journal lives when nobody says: the user's data directory, found by platformdirs.

Order: an explicit path (or a ``postgresql://`` URL: the shared journal), then ``WAN_ENGINE_JOURNAL``, then
``<user data dir>/wan-engine/journal.sqlite3``. A journal shared by every
run of one user is what lets ``wan-engine jobs`` show yesterday's jobs and
``wan-engine resume`` finish them, whichever app submitted them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs

from wan_engine.redaction import redact_url_query

ENV = "WAN_ENGINE_JOURNAL"
FILE_NAME = "journal.sqlite3"


def journal_path(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path:
    if path is not None:
        return Path(path).expanduser()
    from_env = (os.environ if env is None else env).get(ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path(platformdirs.user_data_dir("wan-engine", appauthor=False)) / FILE_NAME


def journal_target(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path | str:
    """Like :func:`journal_path`, but a ``postgresql://`` (or ``postgres://``) URL stays a URL string."""
    chosen = path if path is not None else (os.environ if env is None else env).get(ENV) or None
    if isinstance(chosen, str) and chosen.startswith(("postgresql://", "postgres://")):
        return chosen
    return journal_path(path, env)


def shown(target: Path | str) -> str:
    """The journal as a message may name it: a Postgres URL without its user and password."""
    return redact_url_query(target) if isinstance(target, str) else str(target)
