"""A throwaway Postgres cluster for the tests: initdb into a temporary folder, one per test session.

Why this shape: the Postgres journal must be tested against a real server, and a
cluster of our own (``initdb --no-sync``, ``fsync=off``, loopback only, trust auth)
starts in about 1.5 s and leaves nothing behind. Each test then gets its own schema
(``search_path`` in the URL), so tests share the server without seeing each other's jobs.

Debian installs the server binaries under /usr/lib/postgresql/<major>/bin, off PATH;
they are found there too. The server refuses to run as root, so as root it runs as the
``postgres`` user (``runuser -u postgres --``). Without a server binary or psycopg the
Postgres tests are skipped locally and fail in CI, where a skip would hide a broken install.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def server_binary(name: str) -> str | None:
    """``initdb`` or ``pg_ctl``: on PATH, else the newest Debian install."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayPostgres:
    """One cluster in a temporary folder, on a free loopback port; ``stop`` removes it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="wan-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as_root = hasattr(os, "geteuid") and os.geteuid() == 0

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_root else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=60)

    def start(self) -> ThrowawayPostgres:
        initdb, pg_ctl = server_binary("initdb"), server_binary("pg_ctl")
        assert initdb and pg_ctl
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.data} "
            "-c fsync=off -c max_connections=200"
        )
        self._run(pg_ctl, "-D", str(self.data), "-w", "-l", str(self.root / "log"), "-o", options, "start")
        return self

    def stop(self) -> None:
        pg_ctl = server_binary("pg_ctl")
        if pg_ctl and self.data.exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(pg_ctl, "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def fresh_url(self) -> str:
        """A URL whose tables live in a new, empty schema of their own."""
        import psycopg

        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f"CREATE SCHEMA {schema}")
        return f"{self.url}?options=-csearch_path%3D{schema}"


_server: ThrowawayPostgres | None = None


def available() -> str | None:
    """Why the Postgres tests cannot run here, or None if they can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'wan-engine[postgres]')"
    if server_binary("initdb") is None or server_binary("pg_ctl") is None:
        return "no Postgres server binaries (apt-get install -y postgresql)"
    return None


def shared_postgres() -> ThrowawayPostgres:
    """The session's cluster, started on first use and stopped at exit."""
    global _server
    if _server is None:
        missing = available()
        if missing is not None:
            if os.environ.get("CI"):
                pytest.fail(missing)
            pytest.skip(missing)
        _server = ThrowawayPostgres().start()
        atexit.register(_server.stop)
    return _server


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    yield shared_postgres()
