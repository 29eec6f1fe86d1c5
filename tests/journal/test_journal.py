"""The journal: what it stores (and never stores), write-ahead submission, resume, leases and the CLI."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner
from support.engine import KEY, MODEL, VIDEO_PARAMS, sandbox_engine
from support.local_server import serving

from wan_engine.cli.journal import jobs, resume, status
from wan_engine.errors import AuthenticationError, SubmitOutcomeUnknownError
from wan_engine.journal import DeliveryState, JournalState, SqliteJournal, journal_path
from wan_engine.journal.durable import DurableEngine
from wan_engine.sinks.config import SinkConfig
from wan_engine.spec.registry import SpecRegistry

AT = datetime(2026, 1, 1, tzinfo=UTC)
HOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def journal_bytes(path: Path) -> bytes:
    """The journal file and its write-ahead log, where not yet checkpointed writes live."""
    wal = Path(str(path) + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def file_sinks(tmp_path: Path, *names: str) -> list[SinkConfig]:
    configs = []
    for name in names:
        (tmp_path / name).mkdir(exist_ok=True)
        configs.append(SinkConfig("file", {"root": str(tmp_path / name), "name": name}))
    return configs


# -- the store (its contract, for every store, is in test_store_contract.py) ----------------------


def test_secrets_in_sink_options_are_refused_and_referenced_by_env_var_name() -> None:
    with pytest.raises(ValueError, match="secret_env"):
        SinkConfig("webhook", {"url": "https://example.com/h", "secret": "whsec_x"})
    config = SinkConfig("webhook", {"url": "https://example.com/h"}, {"secret": "HOOK_SECRET"})
    assert config.build_options({"HOOK_SECRET": "s3cr3t"})["secret"] == "s3cr3t"
    assert "s3cr3t" not in json.dumps(config.as_dict())
    with pytest.raises(LookupError, match="HOOK_SECRET"):
        config.build_options({})


def test_the_default_journal_lives_in_the_user_data_dir_unless_told(tmp_path: Path) -> None:
    assert journal_path(tmp_path / "x.db") == tmp_path / "x.db"
    assert journal_path(None, {"WAN_ENGINE_JOURNAL": str(tmp_path / "e.db")}) == tmp_path / "e.db"
    assert journal_path(None, {}).name == "journal.sqlite3" and "wan-engine" in str(journal_path(None, {}))


# -- the engine, write-ahead --------------------------------------------------------------------


async def test_intent_then_id_then_statuses_then_result_are_journaled(registry: SpecRegistry, tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    async with sandbox_engine(registry, duration_s=60, journal=journal) as (engine, sandbox, _clock):
        assert isinstance(engine, DurableEngine)
        job = await engine.submit(MODEL, VIDEO_PARAMS, deliver_to=file_sinks(tmp_path, "out"))
        record = journal.get(job.id)
        assert record is not None and record.key == engine.journal_key(job) and record.state is JournalState.QUEUED
        outcome = await engine.finish(job, strategy="fixed")
        assert outcome.after == "delivered" and outcome.delivered == ("out",)
    record = journal.get(job.id)
    assert record is not None and record.delivered
    assert record.result is not None and record.result.video_urls[0].startswith(sandbox.url)
    assert record.sinks[0].sha256 == sandbox.media_sha256(job.id)
    assert journal_bytes(Path(record.sinks[0].location or ""))
    states = [h.state for h in journal.history(record.key) if h.event == "status"]
    assert states == ["queued", "running", "succeeded"]
    assert dict(record.params)["prompt"] == VIDEO_PARAMS["prompt"]
    raw = journal_bytes(tmp_path / "j.sqlite3")
    assert KEY.encode() not in raw and b"Authorization" not in raw


async def test_an_unknown_submit_is_journaled_surfaced_and_never_resent(registry: SpecRegistry, tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    async with sandbox_engine(registry, ["submit:reset_after"], journal=journal) as (engine, sandbox, _clock):
        assert isinstance(engine, DurableEngine)
        with pytest.raises(SubmitOutcomeUnknownError):
            await engine.submit(MODEL, VIDEO_PARAMS)
        report = await engine.resume()
        assert sandbox.submission_count == 1 and sandbox.submit_requests == 1
    [record] = journal.jobs()
    assert record.state is JournalState.SUBMIT_UNKNOWN and record.provider_id is None
    assert report.submit_unknown == (record.key,) and report.jobs == ()


async def test_a_refused_submit_is_marked_refused(registry: SpecRegistry, tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    async with sandbox_engine(registry) as (_engine, sandbox, clock):
        env = {"AIMLAPI_KEY": "wrong"}
        engine = DurableEngine(registry, base_urls=sandbox.base_urls(), env=env, clock=clock, journal=journal)
        async with engine:
            with pytest.raises(AuthenticationError):
                await engine.submit(MODEL, VIDEO_PARAMS)
    [record] = journal.jobs()
    assert record.state is JournalState.REFUSED and "401" in (record.error or "")


async def test_resume_marks_a_half_submitted_job_unknown_and_finishes_a_running_one(
    registry: SpecRegistry, tmp_path: Path
) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    async with sandbox_engine(registry, duration_s=100, journal=journal) as (engine, sandbox, _clock):
        assert isinstance(engine, DurableEngine)
        running = await engine.submit(MODEL, VIDEO_PARAMS, deliver_to=file_sinks(tmp_path, "a", "b"))
        journal.release(engine.journal_key(running) or "", engine.owner)  # as if this process had died
        stuck = journal.intend(model=MODEL, spec_version="1", params={"prompt": "x"}, sinks=[], at=AT)
        report = await engine.resume(strategy="fixed")
        again = await engine.resume(strategy="fixed")
        assert sandbox.submission_count == 1
    by_key = {o.key: o for o in report.jobs}
    assert by_key[stuck].after == "submit_unknown" and by_key[stuck].note
    assert by_key[engine.journal_key(running) or ""].after == "delivered"
    assert set(by_key[engine.journal_key(running) or ""].delivered) == {"a", "b"}
    assert again.jobs == () and again.submit_unknown == (stuck,)


async def test_a_sink_caught_mid_commit_is_adopted_not_written_twice(registry: SpecRegistry, tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    async with sandbox_engine(registry, duration_s=30, journal=journal) as (engine, _sandbox, _clock):
        assert isinstance(engine, DurableEngine)
        job = await engine.submit(MODEL, VIDEO_PARAMS, deliver_to=file_sinks(tmp_path, "a"))
        await engine.finish(job, strategy="fixed")
        record = journal.get(job.id)
        assert record is not None
        sink = record.sinks[0]
        # Rewind the journal to "committing" as if the process died after the rename, before the write.
        journal.record_delivery(record.key, "a", DeliveryState.COMMITTING, AT)
        report = await engine.resume()
    assert [o.after for o in report.jobs] == ["delivered"]
    assert [h.event for h in journal.history(record.key)].count("reconciled") == 1
    assert journal.get(job.id).sinks[0].location == sink.location  # type: ignore[union-attr]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, object]]]]:
    received: list[dict[str, object]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with serving(app) as base:
        yield f"{base}/hook", received


async def test_a_notice_left_alone_is_sent_without_downloading_again(
    registry: SpecRegistry,
    tmp_path: Path,
    receiver: tuple[str, list[dict[str, object]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = receiver
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    hook = SinkConfig("webhook", {"url": url, "name": "hook"}, {"secret": "HOOK_SECRET"})
    async with sandbox_engine(registry, duration_s=30, journal=journal) as (engine, sandbox, _clock):
        assert isinstance(engine, DurableEngine)
        job = await engine.submit(MODEL, VIDEO_PARAMS, deliver_to=[*file_sinks(tmp_path, "a"), hook])
        await engine.finish(job, strategy="fixed")
        record = journal.get(job.id)
        assert record is not None and record.delivered
        journal.record_delivery(record.key, "hook", DeliveryState.PENDING, AT)
        media_before = sum(1 for r in sandbox.request_log if "/_media/" in r.path)
        await engine.resume()
        assert sum(1 for r in sandbox.request_log if "/_media/" in r.path) == media_before
    assert len(received) == 2
    data = received[1]["data"]
    assert isinstance(data, dict) and data["locations"]["a"] == record.sinks[0].location
    raw = journal_bytes(tmp_path / "j.sqlite3")
    assert HOOK_SECRET.encode() not in raw


# -- the CLI -----------------------------------------------------------------------------------


async def test_jobs_and_status_show_the_jobs_of_earlier_runs(registry: SpecRegistry, tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    async with sandbox_engine(registry, duration_s=30, journal=SqliteJournal(path)) as (engine, _sandbox, _clock):
        assert isinstance(engine, DurableEngine)
        job = await engine.submit(MODEL, VIDEO_PARAMS, deliver_to=file_sinks(tmp_path, "a"))
        await engine.finish(job, strategy="fixed")
        engine.journal.intend(model=MODEL, spec_version="1", params={"prompt": "x"}, sinks=[], at=AT)
        engine.journal.close()
    runner = CliRunner()
    table = runner.invoke(jobs, ["--journal", str(path)])
    assert table.exit_code == 0, table.output
    assert job.id in table.output and "delivered" in table.output
    listed = runner.invoke(jobs, ["--journal", str(path), "--json", "--state", "delivered"])
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [r["provider_id"] for r in rows] == [job.id] and rows[0]["deliveries"][0]["state"] == "delivered"
    shown = runner.invoke(status, [job.id, "--journal", str(path), "--json"])
    document = json.loads(shown.output)
    assert [h["state"] for h in document["history"] if h["event"] == "status"] == ["queued", "running", "succeeded"]
    assert document["result"]["video_urls"] and document["deliveries"][0]["sha256"]
    human = runner.invoke(status, [job.id, "--journal", str(path)])
    assert human.exit_code == 0 and "submit_intent" in human.output
    missing = runner.invoke(status, ["nope", "--journal", str(path)])
    assert missing.exit_code != 0 and "no job" in missing.output
    assert "submitting" in runner.invoke(jobs, ["--journal", str(path), "--state", "submitting"]).output


def test_resume_command_finishes_jobs_left_by_a_dead_process(registry: SpecRegistry, tmp_path: Path) -> None:
    from wan_engine.client.sync import SyncEngine
    from wan_engine.sandbox import SandboxConfig, running_in_thread

    path = tmp_path / "j.sqlite3"
    # duration 0: the job is done at the first poll, so the adaptive schedule never races the wall clock.
    with running_in_thread(registry, SandboxConfig(duration_s=0.0, api_key=KEY)) as sandbox:
        options = {"base_urls": sandbox.base_urls(), "env": {"AIMLAPI_KEY": KEY}, "journal": path}
        with SyncEngine(DurableEngine, registry=registry, **options) as sync:
            engine = sync.engine
            assert isinstance(engine, DurableEngine)
            submitted = sync.submit(MODEL, VIDEO_PARAMS, deliver_to=file_sinks(tmp_path, "a"))
            engine.journal.release(engine.journal_key(submitted.job) or "", engine.owner)  # as if it had died
        base_url = sandbox.base_url("aimlapi")
        result = CliRunner().invoke(
            resume, ["--journal", str(path), "--base-url", f"aimlapi={base_url}", "--json"], env={"AIMLAPI_KEY": KEY}
        )
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert [j["after"] for j in report["jobs"]] == ["delivered"]
        assert sandbox.submission_count == 1
    assert os.listdir(tmp_path / "a")


async def test_a_resumed_job_is_polled_by_its_age_since_the_original_submit(
    registry: SpecRegistry, tmp_path: Path
) -> None:
    """Adaptive polling after a restart: a job submitted 500 s ago is near its typical 522 s, so it is
    polled densely at once, not treated as brand new (which would mean waiting ~174 s first)."""
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    async with sandbox_engine(registry, duration_s=530, journal=journal) as (engine, _sandbox, clock):
        assert isinstance(engine, DurableEngine)
        job = await engine.submit(MODEL, VIDEO_PARAMS)
        journal.release(engine.journal_key(job) or "", engine.owner)  # as if this process had died
        clock.advance(500)
        clock.sleeps.clear()
        report = await engine.resume(strategy="adaptive")
    assert [o.after for o in report.jobs] == ["succeeded"]
    assert clock.sleeps and max(clock.sleeps) < 20, clock.sleeps


@pytest.mark.parametrize("damage", ["not-a-database", "a-folder"])
def test_an_unusable_journal_file_is_a_journal_error_naming_it(tmp_path: Path, damage: str) -> None:
    from wan_engine.errors import JournalError
    from wan_engine.journal import open_journal

    path = tmp_path / "j.sqlite3"
    if damage == "not-a-database":
        path.write_bytes(b"this is not SQLite " * 100)
    else:
        path.mkdir()
    with pytest.raises(JournalError, match="cannot use the journal") as caught:
        open_journal(path)
    assert str(path) in str(caught.value) and "--journal" in str(caught.value)
    with pytest.raises(JournalError):
        DurableEngine(journal=path)


@pytest.mark.parametrize("path", ["finish", "resume", "redeliver"])
async def test_the_sidecar_says_wall_clock_times_on_every_path(
    registry: SpecRegistry, tmp_path: Path, path: str
) -> None:
    """Submitted, completed and delivered as ISO 8601 wall times, with durations and polls, however it was delivered."""
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    async with sandbox_engine(registry, duration_s=100, journal=journal) as (engine, _sandbox, _clock):
        assert isinstance(engine, DurableEngine)
        job = await engine.submit(MODEL, VIDEO_PARAMS, deliver_to=file_sinks(tmp_path, "a"))
        key = engine.journal_key(job) or ""
        if path == "finish":
            await engine.finish(job)
        elif path == "resume":
            journal.release(key, engine.owner)  # as if this process had died while the job ran
            await engine.resume()
        else:
            await job.wait()  # completed and journaled here; delivered only by the resume below
            journal.release(key, engine.owner)
            await engine.resume()
    [sidecar_path] = (tmp_path / "a").rglob("*.json")
    timings = json.loads(sidecar_path.read_text())["timings"]
    submitted, completed, delivered = (
        datetime.fromisoformat(timings[k]) for k in ("submitted_at", "completed_at", "delivered_at")
    )
    assert submitted <= completed <= delivered
    assert timings["generation_s"] == pytest.approx((completed - submitted).total_seconds(), abs=0.01)
    assert timings["generation_s"] >= 100 and timings["polls"] >= 1
