"""Workers killed at every crash point and mid-poll: nothing lost, nothing paid twice, nothing delivered twice.

The real thing, in processes: Temporal's dev server, a Postgres journal shared by
every worker, the sandbox provider and a webhook receiver in their own process
(tests/support/crash_harness.py, which counts each job the provider created), and
``wan-engine worker`` processes. Jobs are enqueued in waves while workers armed with
``WAN_ENGINE_CRASH_AT=point:1`` die (SIGKILL, from inside, at that point) and are
replaced; one more is killed from outside while jobs are being polled. The audit is
the single-process crash test's (crash_harness.audit): every job delivered to both
file sinks and the webhook exactly once, or reported ``submit_unknown``; no
parameters submitted twice; every provider job known to the journal; and each
file's SHA-256 equal to the one the journal recorded for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from support import crash_harness
from support.postgres import shared_postgres
from support.temporal_cluster import DevServer, connect_when_ready, skip_without_temporal, start_worker, stop

from wan_engine.crashpoints import POINTS

pytestmark = pytest.mark.e2e

JOBS = 16
WAVES = 4
QUEUE = "crash-test"


async def test_killed_workers_lose_nothing_and_pay_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    skip_without_temporal()
    from temporalio.client import WorkflowFailureError

    from wan_engine.journal import open_journal
    from wan_engine.temporal import enqueue

    journal_url = shared_postgres().fresh_url()
    monkeypatch.setenv("CRASH_JOB_DURATION_S", "1.5")  # long enough that jobs are polled several times
    server, urls = crash_harness.start_server(tmp_path / "server.log")
    dev = DevServer(tmp_path / "temporal.log").start()
    workers: list[tuple[subprocess.Popen[bytes], str | None]] = []
    armed = [f"{point}:1" for point in POINTS]
    died: dict[str, bool] = {}
    external_kill = False
    logs = tmp_path / "workers"
    logs.mkdir()

    def spawn(arm: str | None) -> None:
        env = crash_harness.child_env()
        if arm is not None:
            env["WAN_ENGINE_CRASH_AT"] = arm
        log = logs / f"worker-{len(workers)}.log"
        process = start_worker(
            dev.target, QUEUE, journal_url, urls["base_urls"], env=env, log=log,
            extra=["--poll-interval", "0.3", "--lease", "5"],
        )  # fmt: skip
        workers.append((process, arm))

    try:
        for name in crash_harness.FILE_SINKS:
            (tmp_path / name).mkdir()
        sinks = crash_harness.sink_configs(tmp_path, urls["receiver"])
        client: Any = await connect_when_ready(dev.target)
        spawn(None)  # one steady worker, so work goes on while the armed ones die one by one
        for _ in range(3):
            spawn(armed.pop(0))
        handles: list[Any] = []
        started = time.monotonic()
        with open_journal(journal_url) as journal:
            for wave in range(WAVES):
                for i in range(wave * JOBS // WAVES, (wave + 1) * JOBS // WAVES):
                    handles.append(await enqueue(
                        client, crash_harness.MODEL, {"prompt": f"{tmp_path.name} job {i}"}, task_queue=QUEUE,
                        key=f"job-{i}", deliver_to=sinks, heartbeat_timeout_s=2.0, retry_max_interval_s=1.0,
                    ))  # fmt: skip
                for _ in range(10):
                    await asyncio.sleep(0.2)
                    for process, arm in workers:
                        if arm is not None and arm not in died and process.poll() is not None:
                            died[arm] = process.returncode == -signal.SIGKILL
                            spawn(armed.pop(0) if armed else None)
                    running = [r for r in journal.jobs() if r.state.on_provider]
                    if not external_kill and wave >= 1 and running:
                        process, _ = workers[0]  # the steady worker, killed from outside while jobs poll
                        process.kill()
                        external_kill = True
                        spawn(None)

            async def outcome(handle: Any) -> str:
                try:
                    return str((await handle.result()).state)
                except WorkflowFailureError as exc:
                    return f"failed: {getattr(exc.cause, 'cause', None) and exc.cause.cause.type}"  # type: ignore[union-attr]

            waiting = asyncio.ensure_future(asyncio.gather(*(outcome(h) for h in handles)))
            while not waiting.done():
                await asyncio.wait({waiting}, timeout=0.5)
                for process, arm in list(workers):
                    if arm is not None and arm not in died and process.poll() is not None:
                        died[arm] = process.returncode == -signal.SIGKILL
                        spawn(armed.pop(0) if armed else None)
                assert time.monotonic() - started < 240, "the jobs did not finish in time"
            outcomes = waiting.result()
        elapsed = time.monotonic() - started
        counts = crash_harness.server_counts(urls)
    finally:
        for process, _ in workers:
            stop(process)
        dev.stop()
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)

    figures = crash_harness.audit(tmp_path, counts, journal_at=journal_url)
    killed = [arm for arm, by_sigkill in died.items() if by_sigkill]
    print(
        f"\n{JOBS} jobs, {len(killed)} workers killed at crash points ({', '.join(killed)}), 1 killed mid-poll,"
        f" {elapsed:.1f} s: delivered {figures['delivered']}, submit_unknown {figures['submit_unknown']},"
        f" duplicate submissions {figures['duplicate_submissions']}, duplicate deliveries"
        f" {figures['duplicate_deliveries']}, notices re-sent in flight {figures['notices_resent_in_flight']}"
    )
    assert external_kill
    assert len(killed) >= 6, f"too few crash points were reached: {died}"
    assert figures["jobs"] == JOBS
    assert figures["problems"] == []  # 0 lost: every job delivered (once per sink) or reported submit_unknown
    assert figures["duplicate_submissions"] == 0
    assert figures["duplicate_deliveries"] == 0
    assert figures["delivered"] + figures["submit_unknown"] == JOBS
    assert sorted(outcomes).count("delivered") == figures["delivered"]
    assert sorted(outcomes).count("failed: SubmitUnknown") == figures["submit_unknown"], outcomes
    with open_journal(journal_url) as journal:
        for record in journal.jobs():
            if not record.delivered:
                continue
            for sink in record.sinks:
                if sink.name in crash_harness.FILE_SINKS:
                    files = [p for p in (tmp_path / sink.name).rglob("*.mp4") if not p.name.startswith(".")]
                    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
                    assert sink.sha256 in digests  # the bytes on disk are the bytes the journal vouches for
