"""A user's first hour, through the installed executable: the sandbox, the quick start twice, Ctrl-C.

Each test runs real processes against a real ``wan-engine sandbox`` on
loopback (issue 13): what a person typing the README's commands would see.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

EXE = shutil.which("wan-engine", path=str(Path(sys.executable).parent)) or shutil.which("wan-engine") or "wan-engine"
MODEL = "alibaba/wan-2-7-t2v"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "WAN_ENGINE_JOURNAL": str(tmp_path / "default-journal.db"), "AIMLAPI_KEY": "k", **extra}


def _start_sandbox(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """A ``wan-engine sandbox`` with piped stdout; its base URL for aimlapi, read from its first lines."""
    process = subprocess.Popen(
        [EXE, "sandbox", "--port", "0", "--duration", "0.3", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    assert process.stdout is not None
    # readline blocks until the sandbox flushes: were the lines left in a pipe buffer, this would hang (timeout).
    lines = [process.stdout.readline() for _ in range(2)]
    assert lines[0].startswith("wan-engine sandbox listening on http://127.0.0.1:"), lines
    match = re.search(r"aimlapi: base URL (\S+)", "".join(lines))
    assert match, lines
    return process, match.group(1)


@pytest.fixture
def stop() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def _generate(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, "generate", MODEL, "--prompt", "a cat", *args],
        capture_output=True,
        text=True,
        env=_env(tmp_path, **env),
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_sandbox_prints_its_urls_at_once_when_piped_and_a_taken_port_is_one_line(
    tmp_path: Path, stop: list[subprocess.Popen[str]]
) -> None:
    process, base_url = _start_sandbox(tmp_path)
    stop.append(process)
    port = base_url.split(":")[2].split("/")[0]
    taken = subprocess.run([EXE, "sandbox", "--port", port], capture_output=True, text=True, timeout=60)
    assert taken.returncode == 2
    assert taken.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is in use (another sandbox?): stop it, or pass --port N (0: any free port)"
    ]


def test_a_failed_job_exits_3_and_says_its_reason_once(tmp_path: Path, stop: list[subprocess.Popen[str]]) -> None:
    process, base_url = _start_sandbox(tmp_path, "--fault", "submit:job_fails:message=the model refused")
    stop.append(process)
    ran = _generate(tmp_path, "--base-url", base_url, "--no-journal", "--strategy", "fixed")
    output = ran.stdout + ran.stderr
    assert ran.returncode == 3, output
    assert output.count("the model refused") == 1, output
    assert not re.search(r"failed: job \S+ failed", output), output


def test_a_journaled_run_says_its_key_and_records_where_it_was_sent(
    tmp_path: Path, stop: list[subprocess.Popen[str]]
) -> None:
    process, base_url = _start_sandbox(tmp_path, "--seed", "7")
    stop.append(process)
    journal = str(tmp_path / "j.db")
    first = _generate(tmp_path, "--base-url", base_url, "--journal", journal, "--out", str(tmp_path / "out"))
    assert first.returncode == 0, first.stdout + first.stderr
    said = re.search(r"journal key (\w+), provider id (\S+)", first.stdout)
    assert said, first.stdout
    status = subprocess.run(
        [EXE, "status", said.group(1), "--journal", journal, "--json"], capture_output=True, text=True, timeout=60
    )
    record = json.loads(status.stdout)
    assert record["provider_id"] == said.group(2)
    assert {"event": "sent_to", "detail": {"provider": "aimlapi", "base_url": base_url}}.items() <= next(
        h for h in record["history"] if h["event"] == "sent_to"
    ).items()
    # The same seed after a restart repeats ids: one line, exit 2, never a raw sqlite3 traceback.
    process.terminate()
    process.wait(timeout=10)
    again, again_url = _start_sandbox(tmp_path, "--seed", "7")
    stop.append(again)
    second = _generate(tmp_path, "--base-url", again_url, "--journal", journal)
    assert second.returncode == 2, second.stdout + second.stderr
    assert "Traceback" not in second.stderr and "IntegrityError" not in second.stderr
    assert "reused an id" in second.stderr and "fallback" in second.stderr  # the paid id is kept, not lost


def test_the_quick_start_twice_gives_two_videos_and_keeps_the_default_journal_empty(tmp_path: Path) -> None:
    out = tmp_path / "videos"
    runs = [_generate(tmp_path, "--sandbox", "--sandbox-duration", "0.3", "--out", str(out)) for _ in range(2)]
    for ran in runs:
        assert ran.returncode == 0, ran.stdout + ran.stderr
    videos = sorted(out.rglob("*.mp4"))
    assert len(videos) == 2, videos
    assert not (tmp_path / "default-journal.db").exists()  # sandbox runs are not journaled unless asked
    # A fixed seed repeats the id: the second run is refused without --overwrite and accepted with it.
    fixed = ["--sandbox", "--sandbox-duration", "0.3", "--sandbox-seed", "3", "--out", str(tmp_path / "fixed")]
    assert _generate(tmp_path, *fixed).returncode == 0
    refused = _generate(tmp_path, *fixed)
    assert refused.returncode == 3 and "overwrite" in refused.stdout + refused.stderr
    assert _generate(tmp_path, *fixed, "--overwrite").returncode == 0


def test_ctrl_c_on_a_sandbox_run_says_the_job_ended_with_the_process(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [EXE, "generate", MODEL, "--prompt", "a cat", "--sandbox", "--sandbox-duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=_env(tmp_path),
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("submitted"), first
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    rest = process.stdout.read()
    assert process.wait(timeout=30) == 130, rest
    assert "ended with it: nothing keeps running or is billed" in rest, rest
    assert "keeps running (and is billed)" not in rest


def test_resume_key_polls_where_the_job_was_sent(tmp_path: Path, stop: list[subprocess.Popen[str]]) -> None:
    process, base_url = _start_sandbox(tmp_path, "--duration", "3")
    stop.append(process)
    journal = str(tmp_path / "j.db")
    left = _generate(tmp_path, "--base-url", base_url, "--journal", journal, "--deadline", "0.5", "--strategy", "fixed")
    assert left.returncode == 3, left.stdout + left.stderr  # the deadline passed; the job keeps running
    key = re.search(r"journal key (\w+)", left.stdout)
    assert key, left.stdout
    # No --base-url: the journal says where the job went. Polling the real provider with the real key
    # would be refused here (no network), and resume would exit 3.
    resumed = subprocess.run(
        [EXE, "resume", key.group(1), "--journal", journal, "--strategy", "fixed"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{key.group(1)} " in resumed.stdout and "1 job(s) advanced, 0 not advanced" in resumed.stdout
