"""A worker that lost its lease can no longer write: journal writes are fenced by lease owner."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest
from support.local_server import serving

from hostile.conftest import MODEL, PARAMS
from hostile.provider import KEY, Answer, HostileApi, assert_clean, media, mp4_bytes, ok
from wan_engine.clock import VirtualClock
from wan_engine.errors import LeaseLostError
from wan_engine.journal.durable import DurableEngine
from wan_engine.journal.records import DeliveryState, SinkConfig
from wan_engine.journal.sqlite_store import SqliteJournal

WORKER = Path(__file__).resolve().parent / "stale_worker.py"


def _intended(journal: SqliteJournal, owner: str, lease_s: float) -> str:
    return journal.intend(
        model=MODEL, spec_version="1", params={}, sinks=[SinkConfig("file", {"root": "/tmp/x", "name": "disk"})],
        at=VirtualClock().wall(), owner=owner, lease_s=lease_s,
    )  # fmt: skip


def test_a_stale_holder_cannot_overwrite_delivered_or_renew(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    at = VirtualClock().wall()
    with SqliteJournal(path) as stale, SqliteJournal(path) as fresh:
        key = _intended(stale, "host/1/stale", lease_s=0.0)  # expires at once: anyone may take over
        stale.mark_submitted(key, "gen-1", at)  # still ours: nobody has taken it
        assert fresh.claim(key, "host/2/fresh", 60).taken
        fresh.record_delivery(key, "disk", DeliveryState.DELIVERED, at, location="/tmp/x/a.mp4", sha256="ab", size=1)
        with pytest.raises(LeaseLostError):
            stale.record_delivery(key, "disk", DeliveryState.FAILED, at, error="late")
        record = fresh.get(key)
        assert record is not None and record.sinks[0].state is DeliveryState.DELIVERED
        assert not stale.claim(key, "host/1/stale", 60).taken  # its renewal fails: it must stop
        stale.release(key, "host/1/stale")  # and cannot release the lease it lost
        assert not SqliteJournal(path).claim(key, "host/3/third", 60).taken


def test_a_stale_holder_cannot_come_back_after_the_new_one_finished(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    at = VirtualClock().wall()
    with SqliteJournal(path) as stale, SqliteJournal(path) as fresh:
        key = _intended(stale, "host/1/stale", lease_s=0.0)
        assert fresh.claim(key, "host/2/fresh", 60).taken
        fresh.record_delivery(key, "disk", DeliveryState.DELIVERED, at, location="/x", sha256="ab", size=1)
        fresh.release(key, "host/2/fresh")
        assert not stale.claim(key, "host/1/stale", 60).taken  # the lease row is gone, the epoch moved on
        with pytest.raises(LeaseLostError):
            stale.record_event(key, "resumed", at)
        assert [h.event for h in fresh.history(key)].count("resumed") == 0


async def freeze_outside_a_transaction(pid: int, journal: Path) -> None:
    """SIGSTOP ``pid`` at a moment it holds no SQLite write lock (a frozen writer would block everyone:
    that is SQLite's limit, not what this test is about); retried until the lock is free."""
    for _ in range(200):
        os.kill(pid, signal.SIGSTOP)
        db = sqlite3.connect(str(journal), timeout=0.2, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            os.kill(pid, signal.SIGCONT)
            await asyncio.sleep(0.01)
        finally:
            db.close()
    pytest.fail("could not freeze the worker outside a journal transaction")


@pytest.mark.e2e
async def test_a_resumer_frozen_past_its_lease_cannot_change_the_journal_or_deliver_again(tmp_path: Path) -> None:
    video = mp4_bytes(200_000, seed=7)
    lease_s = 1.5
    api = HostileApi()
    journal_path = tmp_path / "journal.sqlite"
    out = tmp_path / "out"
    out.mkdir()
    # Connection 1 (the worker to be frozen) drips; every later one gets the whole video at once.
    slow = Answer(ok(video).status, ok(video).headers, video, drip=0.01)
    async with media([slow, ok(video)]) as server, serving(api.app()) as api_url:
        api.video_url, api.file_size = server.url(), len(video)
        async with DurableEngine(
            base_urls={"aimlapi": api_url}, env={"AIMLAPI_KEY": KEY}, journal=journal_path, strategy="fixed",
            lease_s=0.0,  # this submitter hands the job to the resumers at once
        ) as engine:  # fmt: skip
            disk = SinkConfig("file", {"root": str(out), "name": "disk"})
            job = await engine.submit(MODEL, PARAMS, deliver_to=[disk])
        env = {**os.environ, "AIMLAPI_KEY": KEY}
        args = [sys.executable, str(WORKER), str(journal_path), api_url, str(lease_s)]
        stale = await asyncio.create_subprocess_exec(
            *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            for _ in range(500):  # until the stale worker is mid-download
                if server.requests:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # into the body, past the "started" write
            if not server.requests or stale.returncode is not None:
                out_, err = await stale.communicate()
                pytest.fail(f"the first worker never started downloading: {out_.decode()} {err.decode()[-2000:]}")
            await freeze_outside_a_transaction(stale.pid, journal_path)
            with SqliteJournal(journal_path) as peek:
                before_freeze = len(peek.history(peek.jobs()[0].key))
            await asyncio.sleep(lease_s * 2)  # its lease runs out while it is frozen
            fresh = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.PIPE)
            fresh_out, _ = await asyncio.wait_for(fresh.communicate(), 60)
            assert fresh.returncode == 0
            with SqliteJournal(journal_path) as peek:
                record = peek.jobs()[0]
                after_fresh = peek.history(record.key)
            assert record.sinks[0].state is DeliveryState.DELIVERED and before_freeze < len(after_fresh)
        finally:
            os.kill(stale.pid, signal.SIGCONT)
        stale_out, stale_err = await asyncio.wait_for(stale.communicate(), 60)
    with SqliteJournal(journal_path) as peek:
        final = peek.jobs()[0]
        history = peek.history(final.key)
    # The stale worker wrote nothing after it woke.
    assert [(h.event, h.state) for h in history] == [(h.event, h.state) for h in after_fresh]
    assert final.sinks[0].state is DeliveryState.DELIVERED and final.provider_id == job.id
    files = [p for p in out.rglob("*") if p.is_file() and not p.name.endswith(".json")]
    videos = [p for p in files if p.suffix == ".mp4"]
    assert len(videos) == 1, files
    assert hashlib.sha256(videos[0].read_bytes()).hexdigest() == hashlib.sha256(video).hexdigest()
    assert not [p for p in out.rglob("*.part*")]
    assert len(api.submissions) == 1
    journal_text = journal_path.read_bytes().decode("latin-1")
    assert_clean(stale_out.decode(), stale_err.decode(), fresh_out.decode(), journal_text)
    json.loads(fresh_out)
