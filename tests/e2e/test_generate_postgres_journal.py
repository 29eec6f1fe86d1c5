"""``wan-engine generate --journal postgresql://…`` journals on the shared Postgres journal, as every other
command does; it once made an SQLite file named after the URL (password included) and said nothing.

The installed executable in a subprocess, run in an empty folder so that any stray file shows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support.postgres import shared_postgres

pytestmark = pytest.mark.e2e

MODEL = "alibaba/wan-2-7-r2v"
PARAMS = ["--prompt", "Video 1 waves", "--video-url", "https://example.com/ref.mp4"]


def wan_engine(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("wan-engine")
    assert executable, "the wan-engine command is not installed"
    return subprocess.run(
        [executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def test_generate_journals_on_postgres_and_jobs_reads_it_back(tmp_path: Path) -> None:
    url = shared_postgres().fresh_url()
    run = tmp_path / "run"
    run.mkdir()
    done = wan_engine(run, "generate", MODEL, *PARAMS, "--sandbox", "--sandbox-duration", "0.3",
                      "--journal", url, "--out", "videos", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    [job_id] = [event["job_id"] for event in events if event.get("event") == "completed"]
    assert sorted(p.name for p in run.iterdir()) == ["videos"]  # no journal file made from the URL

    listed = wan_engine(run, "jobs", "--journal", url, "--json")
    assert listed.returncode == 0, listed.stderr
    assert job_id in listed.stdout and "delivered" in listed.stdout

    # The same through $WAN_ENGINE_JOURNAL, as the README's "Running on many machines" sets it.
    again = wan_engine(run, "generate", MODEL, *PARAMS, "--sandbox", "--sandbox-duration", "0.3",
                       "--journal", url, "--out", "videos")  # fmt: skip
    assert again.returncode == 0, again.stderr
    from_env = wan_engine(run, "jobs", "--json", env={"WAN_ENGINE_JOURNAL": url})
    assert from_env.returncode == 0 and from_env.stdout.count(MODEL) == 2, from_env.stdout


def test_an_unreachable_postgres_journal_stops_generate_before_anything_is_sent(tmp_path: Path) -> None:
    pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    done = wan_engine(tmp_path, "generate", MODEL, *PARAMS, "--sandbox",
                      "--journal", "postgresql://app:hunter2secret@127.0.0.1:1/jobs")  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "hunter2secret" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # no SQLite file named after the URL
