"""Money on the command line, through the installed ``wan-engine``, against a sandbox in this process.

Each ``generate`` is a real OS process; two of them sharing one journal file
share its idempotency keys, and the sandbox's counters prove how many jobs
were created (paid for).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wan_engine.sandbox import FaultPlan, FaultRule, SandboxConfig
from wan_engine.sandbox.responses import job_cost
from wan_engine.sandbox.server import Sandbox, running_in_thread
from wan_engine.spec.registry import SpecRegistry

pytestmark = pytest.mark.e2e  # the installed `wan-engine` in subprocesses: end to end, out of the fast loop

MODEL = "alibaba/wan-2-7-r2v"
KEY = "sk-money-test-0123456789"
ASK = ["--prompt", "a paper boat", "--video-url", "https://example.com/ref.mp4", "--duration", "5"]


def command(*args: str) -> list[str]:
    executable = Path(sys.executable).with_name("wan-engine")
    return [str(executable), *args] if executable.exists() else [sys.executable, "-m", "wan_engine.cli.main", *args]


def environment() -> dict[str, str]:
    return {**os.environ, "AIMLAPI_KEY": KEY, "WAN_ENGINE_JOURNAL": "/nonexistent/never-used.sqlite3"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=120, env=environment())


def generate(sandbox: Sandbox, journal: Path, *extra: str) -> list[str]:
    return [
        "generate", MODEL, *ASK, "--journal", str(journal), "--base-url", sandbox.base_url("aimlapi"),
        "--strategy", "exponential", "--json", *extra,
    ]  # fmt: skip


def job_ids(stdout: str) -> set[str]:
    return {json.loads(line)["job_id"] for line in stdout.splitlines() if '"job_id"' in line}


@pytest.fixture
def sandbox(registry: SpecRegistry, request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    faults = getattr(request, "param", ())
    config = SandboxConfig(duration_s=0.5, api_key=KEY, faults=FaultPlan(tuple(FaultRule.parse(f) for f in faults)))
    with running_in_thread(registry, config) as running:
        yield running


def test_a_repeated_key_in_a_second_process_returns_the_same_job(sandbox: Sandbox, tmp_path: Path) -> None:
    journal = tmp_path / "jobs.sqlite3"
    first = run(*generate(sandbox, journal, "--key", "order-42"))
    assert first.returncode == 0, first.stderr
    second = run(*generate(sandbox, journal, "--key", "order-42"))
    assert second.returncode == 0, second.stderr
    assert sandbox.submission_count == 1 and sandbox.submit_requests == 1
    assert len(job_ids(first.stdout)) == 1 and job_ids(first.stdout) == job_ids(second.stdout)
    assert "nothing was sent (or paid) now" in second.stdout


@pytest.mark.parametrize("sandbox", [["submit:slow:times=1:delay=1.5"]], indirect=True)
def test_two_processes_racing_with_one_key_create_one_job(sandbox: Sandbox, tmp_path: Path) -> None:
    journal = tmp_path / "jobs.sqlite3"
    argv = command(*generate(sandbox, journal, "--key", "race"))
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "env": environment()}
    racing = [subprocess.Popen(argv, **pipes) for _ in range(2)]  # type: ignore[call-overload]
    outputs = [process.communicate(timeout=120) for process in racing]
    assert [p.returncode for p in racing] == [0, 0], [err for _out, err in outputs]
    assert sandbox.submission_count == 1 and sandbox.submit_requests == 1
    assert job_ids(outputs[0][0]) == job_ids(outputs[1][0]) and len(job_ids(outputs[0][0])) == 1


def test_a_key_reused_with_other_parameters_is_refused_naming_both(sandbox: Sandbox, tmp_path: Path) -> None:
    journal = tmp_path / "jobs.sqlite3"
    assert run(*generate(sandbox, journal, "--key", "k1")).returncode == 0
    other = run(*generate(sandbox, journal, "--key", "k1", "--resolution", "720p"))
    assert other.returncode == 2
    assert "idempotency key 'k1' was used for alibaba/wan-2-7-r2v (job " in other.stderr
    assert "resolution: '1080p' then, '720p' now" in other.stderr and "Traceback" not in other.stderr
    assert sandbox.submission_count == 1


def test_max_usd_refuses_before_anything_is_sent(sandbox: Sandbox, tmp_path: Path) -> None:
    journal = tmp_path / "jobs.sqlite3"
    refused = run(*generate(sandbox, journal, "--max-usd", "0.5"))  # 5 s at 1080p: $0.75
    assert refused.returncode == 2
    assert "budget $0.5" in refused.stderr and "estimated at $0.75" in refused.stderr
    assert "nothing was sent" in refused.stderr and "Traceback" not in refused.stderr
    assert sandbox.submit_requests == 0
    allowed = run(*generate(sandbox, journal, "--max-usd", "1"))
    assert allowed.returncode == 0, allowed.stderr
    assert sandbox.submission_count == 1


def test_spend_reports_what_the_sandbox_billed_by_model_and_tag(sandbox: Sandbox, tmp_path: Path) -> None:
    journal = tmp_path / "jobs.sqlite3"
    for tag in ("alpha", "beta", "alpha"):
        done = run(*generate(sandbox, journal, "--tag", tag, "--seed", str(len(tag) + sandbox.submission_count)))
        assert done.returncode == 0, done.stderr
    billed = round(sum(job_cost(job)["usd_spent"] for job in sandbox.jobs.values()), 6)
    assert billed > 0
    by_tag = run("spend", "--journal", str(journal), "--by", "tag", "--json")
    assert by_tag.returncode == 0, by_tag.stderr
    lines = [json.loads(line) for line in by_tag.stdout.splitlines()]
    groups = {line["group"]: line for line in lines}
    assert groups["alpha"]["jobs"] == 2 and groups["beta"]["jobs"] == 1
    assert groups["total"]["reported_usd"] == billed and groups["total"]["possibly_billed_usd"] == 0
    assert groups["total"]["figures"]["credits_used"] == sum(job_cost(j)["credits_used"] for j in sandbox.jobs.values())
    table = run("spend", "--journal", str(journal))
    assert table.returncode == 0 and MODEL in table.stdout and "reported" in table.stdout
    bad = run("spend", "--journal", str(journal), "--since", "yesterday")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr


def write_jobs(path: Path, lines: list[object]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_batch_runs_every_line_once_and_a_rerun_pays_for_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    params = {"prompt": "a paper boat", "video_urls": ["https://example.com/ref.mp4"], "duration": 5}
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [{"model": MODEL, "params": {**params, "seed": i}, "key": f"line-{i}", "tags": ["batch"]} for i in range(5)],
    )
    argv = [
        "batch", str(jobs), "--journal", str(tmp_path / "j.sqlite3"), "--base-url",
        f"aimlapi={sandbox.base_url('aimlapi')}", "--strategy", "exponential", "--concurrency", "2", "--json",
    ]  # fmt: skip
    first = run(*argv)
    assert first.returncode == 0, first.stderr
    events = [json.loads(line) for line in first.stdout.splitlines()]
    progress = [e for e in events if e["event"] == "progress"]
    assert max(sum(p["in_flight"].values()) for p in progress) == 2 and progress[-1]["done"] == {"succeeded": 5}
    outcomes = [e for e in events if e["event"] == "outcome"]
    assert [o["line"] for o in outcomes] == [1, 2, 3, 4, 5] and all(o["video_url"] for o in outcomes)
    again = run(*argv)
    assert again.returncode == 0, again.stderr
    assert all(json.loads(line)["replayed"] for line in again.stdout.splitlines() if '"outcome"' in line)
    assert sandbox.submission_count == 5


def test_batch_checks_every_line_before_sending_anything(sandbox: Sandbox, tmp_path: Path) -> None:
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [{"model": MODEL, "params": {"prompt": "ok"}}, {"model": "no/such-model"}, {"model": MODEL, "params": {}}],
    )
    done = run("batch", str(jobs), "--journal", str(tmp_path / "j.sqlite3"),
               "--base-url", f"aimlapi={sandbox.base_url('aimlapi')}")  # fmt: skip
    assert done.returncode == 2 and "2 bad line(s); nothing was sent" in done.stderr
    assert "line 2:" in done.stderr and "line 3:" in done.stderr and "Traceback" not in done.stderr
    assert sandbox.submit_requests == 0


@pytest.mark.parametrize("sandbox", [["submit:reset_after:times=1"]], indirect=True)
def test_budget_since_counts_earlier_runs_in_the_journal(sandbox: Sandbox, tmp_path: Path) -> None:
    journal = tmp_path / "jobs.sqlite3"
    cheap = ["--resolution", "720p"]  # 5 s at 720p: $0.50 estimated
    unknown = run(*generate(sandbox, journal, *cheap))  # created, its answer lost: possibly billed
    assert unknown.returncode == 2 and "not re-sent" in unknown.stderr
    refused = run(*generate(sandbox, journal, *cheap, "--max-usd", "0.9", "--budget-since", "2000-01-01"))
    assert refused.returncode == 2 and "$0.5 is spent or possibly billed" in refused.stderr
    assert sandbox.submit_requests == 1
    alone = run(*generate(sandbox, journal, "--budget-since", "2000-01-01"))
    assert alone.returncode == 2 and "--budget-since needs --max-usd" in alone.stderr
    this_run_only = run(*generate(sandbox, journal, *cheap, "--max-usd", "0.9"))  # earlier runs not counted
    assert this_run_only.returncode == 0, this_run_only.stderr
    assert sandbox.submit_requests == 2


FALLBACK = "alibaba/wan-2-6-r2v"


@pytest.mark.parametrize("sandbox", [[f"submit:job_fails:model={MODEL}"]], indirect=True)
def test_generate_falls_back_after_a_failed_job_and_journals_the_hop(sandbox: Sandbox, tmp_path: Path) -> None:
    journal = tmp_path / "jobs.sqlite3"
    done = run(*generate(sandbox, journal, "--fallback", FALLBACK))
    assert done.returncode == 0, done.stderr
    assert f"failed; trying {FALLBACK}" in done.stdout
    assert sandbox.submissions == {MODEL: 1, FALLBACK: 1}
    status = run("jobs", "--journal", str(journal), "--json")
    records = [json.loads(line) for line in status.stdout.splitlines()]
    assert sorted(r["model"] for r in records) == sorted([MODEL, FALLBACK])
    replacement = next(r for r in records if r["model"] == FALLBACK)
    history = run("status", replacement["key"], "--journal", str(journal), "--json")
    assert "failover_to" in history.stdout


@pytest.mark.parametrize("sandbox", [["submit:reset_after:times=1"]], indirect=True)
def test_generate_never_falls_back_after_an_unknown_submit(sandbox: Sandbox, tmp_path: Path) -> None:
    done = run(*generate(sandbox, tmp_path / "jobs.sqlite3", "--fallback", FALLBACK))
    assert done.returncode == 2 and "not re-sent" in done.stderr
    assert sandbox.submit_requests == 1 and FALLBACK not in sandbox.submissions


def test_a_fallback_that_rejects_the_parameters_is_refused_before_sending(sandbox: Sandbox, tmp_path: Path) -> None:
    done = run(*generate(sandbox, tmp_path / "jobs.sqlite3", "--fallback", "video-01"))
    assert done.returncode == 2 and "--fallback video-01 does not take these parameters" in done.stderr
    assert "nothing was sent" in done.stderr and "Traceback" not in done.stderr
    unknown = run(*generate(sandbox, tmp_path / "jobs.sqlite3", "--fallback", "no/such-model"))
    assert unknown.returncode == 2 and "--fallback:" in unknown.stderr
    assert sandbox.submit_requests == 0


def test_spend_estimates_jobs_journaled_without_a_ledger_line(sandbox: Sandbox, tmp_path: Path) -> None:
    import sqlite3

    journal = tmp_path / "jobs.sqlite3"
    assert run(*generate(sandbox, journal)).returncode == 0
    with sqlite3.connect(journal) as db:  # as a journal written before the ledger existed
        db.execute("DELETE FROM charges")
    done = run("spend", "--journal", str(journal), "--by", "total", "--json")
    assert done.returncode == 0, done.stderr
    total = json.loads(done.stdout.splitlines()[-1])
    assert total["jobs"] == 1 and total["reported_usd"] == 0 and total["estimated_usd"] == 0.75
