"""``wan-engine worker`` twice and ``enqueue()``: a job runs across processes; its poller killed, the other finishes it.

Also the shared journal from the command line: ``wan-engine jobs`` and ``status``
with ``--journal postgresql://...`` show what the workers did, and a journal URL
that cannot be used is one line and exit 2, its password never shown.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from support import crash_harness
from support.postgres import shared_postgres
from support.temporal_cluster import (
    DevServer,
    connect_when_ready,
    skip_without_temporal,
    start_worker,
    stop,
    wait_ready,
)

pytestmark = pytest.mark.e2e


def wan_engine(*args: str) -> subprocess.CompletedProcess[str]:
    from support.temporal_cluster import worker_command

    return subprocess.run([*worker_command(), *args], capture_output=True, text=True, timeout=60)


async def test_a_worker_killed_mid_poll_is_replaced_by_the_other_without_a_second_submit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    skip_without_temporal()
    import psycopg

    from wan_engine.journal import JournalState, open_journal
    from wan_engine.temporal import enqueue

    journal_url = shared_postgres().fresh_url()
    monkeypatch.setenv("CRASH_JOB_DURATION_S", "4")
    server, urls = crash_harness.start_server(tmp_path / "server.log")
    dev = DevServer(tmp_path / "temporal.log").start()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for name in crash_harness.FILE_SINKS:
            (tmp_path / name).mkdir()
        for n in range(2):
            log = tmp_path / f"worker-{n}.log"
            workers.append(start_worker(
                dev.target, "two", journal_url, urls["base_urls"], env=crash_harness.child_env(), log=log,
                extra=["--poll-interval", "0.3", "--lease", "5"],
            ))  # fmt: skip
            wait_ready(log, workers[-1])
        client: Any = await connect_when_ready(dev.target)
        handle = await enqueue(
            client, crash_harness.MODEL, {"prompt": f"{tmp_path.name} job 0"}, task_queue="two", key="order-7",
            deliver_to=crash_harness.sink_configs(tmp_path, urls["receiver"]), heartbeat_timeout_s=2.0,
            retry_max_interval_s=1.0,
        )  # fmt: skip
        # Find the worker polling the job (its journal lease names host/pid/nonce) and SIGKILL it mid-poll.
        poller = None
        deadline = time.monotonic() + 30
        with open_journal(journal_url) as journal, psycopg.connect(journal_url, autocommit=True) as db:
            while poller is None and time.monotonic() < deadline:
                record = journal.get("order-7")
                if record is not None and record.state.on_provider and record.provider_id:
                    row = db.execute("SELECT owner FROM leases WHERE job_key = 'order-7'").fetchone()
                    if row is not None:
                        poller = int(row[0].split("/")[1])
                await asyncio.sleep(0.05)
        assert poller in {w.pid for w in workers}, "no worker was polling the job"
        victim = next(w for w in workers if w.pid == poller)
        victim.kill()
        victim.wait(timeout=10)
        outcome = await asyncio.wait_for(handle.result(), timeout=90)
        counts = crash_harness.server_counts(urls)

        assert outcome.state == "delivered" and sorted(outcome.delivered) == ["file-a", "file-b", "hook"]
        assert counts["submit_requests"] == 1 and len(counts["jobs"]) == 1  # one submit, whatever happened
        with open_journal(journal_url) as journal:
            record = journal.get("order-7")
            assert record is not None and record.delivered and record.provider_id == outcome.provider_id
            events = [h.event for h in journal.history("order-7")]
        assert events.count("submitted") == 1 and record.state is JournalState.SUCCEEDED
        survivor = next(w for w in workers if w is not victim)
        assert survivor.poll() is None

        # The shared journal from the command line, as an operator reads it.
        listed = wan_engine("jobs", "--journal", journal_url, "--json")
        assert listed.returncode == 0, listed.stderr
        rows = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
        assert [(r["key"], r["summary"]) for r in rows] == [("order-7", "delivered")]
        shown = wan_engine("status", "order-7", "--journal", journal_url, "--json")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["provider_id"] == outcome.provider_id
    finally:
        for worker in workers:
            stop(worker)
        dev.stop()
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)


def test_an_unusable_postgres_journal_is_one_line_exit_2_without_its_password() -> None:
    pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    done = wan_engine("jobs", "--journal", "postgresql://app:hunter2secret@127.0.0.1:1/jobs")
    assert done.returncode == 2, done.stderr
    assert "hunter2secret" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "127.0.0.1" in done.stderr
