"""Crash harness: SIGKILL the engine at every kill point of a multi-job run, resume, and audit.

Three kinds of process, so that nothing that matters is ever forked from a
process with threads or an event loop:

* the **server** (``python crash_harness.py serve``): the sandbox provider
  and a webhook receiver on 127.0.0.1, in their own process, counting every
  job created and every notice received;
* the **driver** (``python crash_harness.py drive``): single-threaded, it
  imports wan_engine once and then forks cheaply;
* the **children** it forks: a *workload* (submit JOBS jobs, finish them
  with two file sinks and a webhook) armed with ``WAN_ENGINE_CRASH_AT=point:n``,
  then, once it is dead, a *resume* (``engine.resume()``) without a kill.

A dry run counts how often each kill point is reached (``WAN_ENGINE_CRASH_COUNT``);
every (point, n) becomes a trial. The audit then checks, per trial, against
the server's own counts: every journaled job is delivered or reported
``submit_unknown``; each delivered job has exactly one file in each file
sink and exactly one webhook notice; no parameters were ever submitted
twice; every job the provider created is known to the journal or accounted
for by a ``submit_unknown`` job.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

MODEL = "alibaba/wan-2-7-r2v"
KEY = "sk-crash-test-key"
SECRET_ENV = "CRASH_HOOK_SECRET"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
JOB_DURATION_S = 0.15
POLL_S = 0.03
CHUNK = 16 * 1024
FILE_SINKS = ("file-a", "file-b")


# -- the server process --------------------------------------------------------------------------


def serve() -> None:
    """Sandbox + webhook receiver; prints their URLs as one JSON line, serves until stdin closes.

    ``CRASH_JOB_DURATION_S`` in the environment sets how long each job runs (default JOB_DURATION_S).
    """
    from aiohttp import web

    from wan_engine.sandbox import Sandbox, SandboxConfig
    from wan_engine.spec.registry import SpecRegistry

    hooks: list[list[str]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        hooks.append([body["data"]["job_id"], request.headers.get("webhook-id", "")])
        return web.json_response({"ok": True})

    async def main() -> None:
        duration = float(os.environ.get("CRASH_JOB_DURATION_S", JOB_DURATION_S))
        sandbox = Sandbox(SpecRegistry.discover(), SandboxConfig(duration_s=duration, api_key=KEY))
        await sandbox.start("127.0.0.1", 0)

        async def counts(_request: web.Request) -> web.Response:
            jobs = {job_id: job.params.get("prompt") for job_id, job in sandbox.jobs.items()}
            return web.json_response(
                {"submissions": sandbox.submission_count, "submit_requests": sandbox.submit_requests,
                 "jobs": jobs, "hooks": hooks}
            )  # fmt: skip

        app = web.Application()
        app.router.add_post("/hook", hook)
        app.router.add_get("/counts", counts)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        print(json.dumps({"base_urls": sandbox.base_urls(), "receiver": f"http://127.0.0.1:{port}"}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the driver closes it
        await runner.cleanup()
        await sandbox.stop()

    asyncio.run(main())


def start_server(log: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """The server process; its stderr (clients hanging up mid-answer, as killed ones do) goes to ``log``."""
    with log.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, __file__, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
            text=True,
        )  # fmt: skip
    assert process.stdout is not None
    urls: dict[str, Any] = json.loads(process.stdout.readline())
    return process, urls


def server_counts(urls: dict[str, Any]) -> dict[str, Any]:
    with urllib.request.urlopen(urls["receiver"] + "/counts", timeout=30) as response:
        counts: dict[str, Any] = json.loads(response.read())
    return counts


# -- the children --------------------------------------------------------------------------------


def sink_configs(trial: Path, receiver: str) -> list[Any]:
    from wan_engine.sinks.config import SinkConfig

    configs = [SinkConfig("file", {"root": str(trial / name), "name": name}) for name in FILE_SINKS]
    configs.append(
        SinkConfig("webhook", {"url": receiver + "/hook", "name": "hook", "attempts": 3}, {"secret": SECRET_ENV})
    )
    return configs


_REGISTRY: list[Any] = []


def registry() -> Any:
    """Loaded once in the driver (spec validation is the slowest thing a child would do), shared by fork."""
    if not _REGISTRY:
        from wan_engine.spec.registry import SpecRegistry

        _REGISTRY.append(SpecRegistry.discover())
    return _REGISTRY[0]


def _engine(trial: Path, urls: dict[str, Any]) -> Any:
    """An engine on the trial's journal.

    synchronous=NORMAL: in WAL mode a committed transaction survives the
    death of the process (SIGKILL, which is what this harness does); FULL,
    the default, adds only protection against power loss, at one fsync per
    commit, which would make this harness measure the disk instead.
    """
    from wan_engine.client.polling import FixedInterval
    from wan_engine.journal import SqliteJournal
    from wan_engine.journal.durable import DurableEngine

    journal = SqliteJournal(trial / "journal.sqlite3", synchronous="NORMAL")
    return DurableEngine(
        registry(), base_urls=urls["base_urls"], env={"AIMLAPI_KEY": KEY}, strategy=FixedInterval(POLL_S),
        journal=journal, lease_s=60.0,
    )  # fmt: skip


SHAPES = ("one-by-one", "submit-then-finish", "all-at-once")
"""How the workload orders its jobs; each shape reaches the kill points in a different interleaving:
one job at a time from submit to delivery; every submit first, then all finished together; or
everything concurrently, submits included."""


def workload(trial: Path, urls: dict[str, Any], jobs: int, shape: str) -> None:
    """What an app does: submit ``jobs`` jobs and finish (poll + deliver) them, in the given shape."""
    from wan_engine.delivery.download import DownloadPolicy

    policy = DownloadPolicy(chunk_size=CHUNK)
    sinks = sink_configs(trial, urls["receiver"])

    async def main() -> None:
        for name in FILE_SINKS:
            (trial / name).mkdir(exist_ok=True)
        async with _engine(trial, urls) as engine:

            async def submit(i: int) -> Any:
                return await engine.submit(MODEL, prompt=f"{trial.name} job {i}", deliver_to=sinks)

            if shape == "one-by-one":
                for i in range(jobs):
                    await engine.finish(await submit(i), policy=policy)
            elif shape == "submit-then-finish":
                submitted = [await submit(i) for i in range(jobs)]
                await asyncio.gather(*(engine.finish(job, policy=policy) for job in submitted))
            else:

                async def both(i: int) -> None:
                    await engine.finish(await submit(i), policy=policy)

                await asyncio.gather(*(both(i) for i in range(jobs)))

    asyncio.run(main())


def resume_child(trial: Path, urls: dict[str, Any], concurrency: int = 32) -> None:
    from wan_engine.delivery.download import DownloadPolicy

    async def main() -> None:
        async with _engine(trial, urls) as engine:
            report = await engine.resume(policy=DownloadPolicy(chunk_size=CHUNK), concurrency=concurrency)
        (trial / f"resume-{os.getpid()}.json").write_text(json.dumps(report.as_dict(), default=str))

    asyncio.run(main())


def fork(target: Callable[[], None], env: dict[str, str]) -> int:
    """Run ``target`` in a forked child with ``env`` added; the child never returns into the caller."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.environ.update(env)
        target()
        code = 0
    except BaseException:  # noqa: BLE001 - report and leave; the audit will notice the missing work
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def child_env() -> dict[str, str]:
    return {SECRET_ENV: SECRET, "AIMLAPI_KEY": KEY}


# -- the audit -----------------------------------------------------------------------------------


def audit(trial: Path, counts: dict[str, Any], journal_at: str | None = None) -> dict[str, Any]:
    """Check one trial's journal (``journal_at``, else its SQLite file), output folders and the server's counts."""
    from wan_engine.journal import open_journal
    from wan_engine.sinks.path_template import distinct_fragment

    with open_journal(journal_at or trial / "journal.sqlite3") as journal:  # type: ignore[attr-defined]
        records = journal.jobs()
        hook_history = {
            r.key: [h.state for h in journal.history(r.key) if h.event == "delivery" and h.detail.get("sink") == "hook"]
            for r in records
        }
    problems: list[str] = []
    created = {job_id: prompt for job_id, prompt in counts["jobs"].items() if prompt.startswith(f"{trial.name} ")}
    prompts = Counter(created.values())
    duplicates = sum(n - 1 for n in prompts.values() if n > 1)
    hooks = Counter(job_id for job_id, _ in counts["hooks"] if job_id in created)
    files = {
        name: Counter(p.stem for p in (trial / name).rglob("*.mp4") if not p.name.startswith("."))
        for name in FILE_SINKS
    }
    leftovers = sum(1 for name in FILE_SINKS for _ in (trial / name).rglob(".*.part"))
    resent = 0
    unknown = [r for r in records if r.state.value == "submit_unknown"]
    delivered = [r for r in records if r.delivered]
    known_ids = {r.provider_id for r in records if r.provider_id}
    for record in records:
        if record not in unknown and record not in delivered:
            problems.append(f"job {record.key} ended {record.summary_state}")
    duplicate_notices = 0
    for record in delivered:
        stem = distinct_fragment(record.provider_id or "")  # the file sink's own naming of ids
        for name in FILE_SINKS:
            if files[name][stem] != 1:
                problems.append(f"job {record.provider_id}: {files[name][stem]} files in {name}")
        received = hooks[record.provider_id]
        sends = hook_history[record.key].count("committing")
        if received == 0 or hook_history[record.key].count("delivered") != 1:
            problems.append(f"job {record.provider_id}: {received} webhook notices, journal {hook_history[record.key]}")
        elif received > 1 and received <= sends:
            # Each extra notice was re-sent because the kill hit while it was in flight (journaled
            # 'committing', never 'delivered'): at-least-once, see the report. Counted, not hidden.
            resent += received - 1
        elif received > 1:
            duplicate_notices += received - 1
            problems.append(f"job {record.provider_id}: {received} notices, more than the {sends} sends journaled")
    orphans = [job_id for job_id in created if job_id not in known_ids]
    if len(orphans) > len(unknown):
        problems.append(f"{len(orphans)} provider jobs unknown to the journal, only {len(unknown)} submit_unknown")
    if not known_ids <= set(created):
        problems.append("the journal names provider jobs the provider never created")
    extra_files = sum(sum(c.values()) for c in files.values()) - len(FILE_SINKS) * len(delivered)
    return {
        "jobs": len(records),
        "delivered": len(delivered),
        "submit_unknown": len(unknown),
        "submit_unknown_created": len(orphans),
        "duplicate_submissions": duplicates,
        "duplicate_deliveries": max(0, extra_files) + duplicate_notices,
        "notices_resent_in_flight": resent,
        "part_files_left": leftovers,
        "problems": problems,
    }


# -- the driver ----------------------------------------------------------------------------------


def dry_run(root: Path, urls: dict[str, Any], jobs: int, shape: str) -> Counter[str]:
    """One unarmed run that logs every kill point reached, to enumerate the trials."""
    trial = root / f"dry-run-{shape}"
    trial.mkdir()
    log = root / f"points-{shape}.log"
    pid = fork(lambda: workload(trial, urls, jobs, shape), {**child_env(), "WAN_ENGINE_CRASH_COUNT": str(log)})
    os.waitpid(pid, 0)
    dry = audit(trial, server_counts(urls))
    if dry["problems"] or dry["delivered"] != jobs:
        raise RuntimeError(f"the unarmed {shape} run did not deliver every job: {dry}")
    return Counter(log.read_text().split())


Trial = tuple[str, str, int]
"""(shape, point, n): kill the n-th time ``point`` is reached in a run of that shape."""


def kill_points(reached: Counter[str], jobs: int, shape: str) -> list[Trial]:
    """Every (point, n) of a shape. Polls are timing-dependent, so only the first ``jobs`` (each job polls once)."""
    from wan_engine.crashpoints import POINTS

    trials = []
    for point in POINTS:
        times = min(reached[point], jobs) if point == "poll.progress" else reached[point]
        trials.extend((shape, point, n) for n in range(1, times + 1))
    return trials


def run_trials(root: Path, urls: dict[str, Any], trials: list[Trial], jobs: int, parallel: int) -> dict[str, Any]:
    """Each trial: workload armed to die at its point, then a resume; ``parallel`` trials at a time."""
    pending = list(enumerate(trials))
    running: dict[int, tuple[int, str]] = {}  # pid -> (trial index, phase)
    killed: dict[int, bool] = {}
    resume_failed: list[int] = []

    def start(index: int) -> None:
        shape, point, n = trials[index]
        trial = root / f"t{index:04d}"
        trial.mkdir()
        env = {**child_env(), "WAN_ENGINE_CRASH_AT": f"{point}:{n}"}
        running[fork(lambda: workload(trial, urls, jobs, shape), env)] = (index, "workload")

    while pending or running:
        while pending and len(running) < parallel:
            start(pending.pop(0)[0])
        pid, status = os.waitpid(-1, 0)
        index, phase = running.pop(pid)
        if phase == "workload":
            killed[index] = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            trial = root / f"t{index:04d}"
            running[fork(lambda trial=trial: resume_child(trial, urls), child_env())] = (index, "resume")
        elif not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            resume_failed.append(index)
    counts = server_counts(urls)
    results = []
    for index, (shape, point, n) in enumerate(trials):
        figures = audit(root / f"t{index:04d}", counts)
        figures.update(shape=shape, point=point, n=n, killed=killed[index], resume_ok=index not in resume_failed)
        results.append(figures)
    return {"trials": results}


def summarise(results: list[dict[str, Any]], elapsed_s: float) -> dict[str, Any]:
    def total(key: str) -> int:
        return sum(int(r[key]) for r in results)

    return {
        "kill_points": len(results),
        "killed": sum(1 for r in results if r["killed"]),
        "resumed": sum(1 for r in results if r["resume_ok"] and not r["problems"]),
        "lost": sum(len(r["problems"]) for r in results),
        "duplicate_submissions": total("duplicate_submissions"),
        "duplicate_deliveries": total("duplicate_deliveries"),
        "notices_resent_in_flight": total("notices_resent_in_flight"),
        "part_files_left": total("part_files_left"),
        "jobs": total("jobs"),
        "jobs_delivered": total("delivered"),
        "submit_unknown": total("submit_unknown"),
        "submit_unknown_created_by_provider": total("submit_unknown_created"),
        "by_point": dict(Counter(r["point"] for r in results)),
        "elapsed_s": round(elapsed_s, 1),
        "problems": [f"{r['shape']} {r['point']}:{r['n']}: {p}" for r in results for p in r["problems"]],
    }


def drive(root: Path, jobs: int, parallel: int, report_file: Path) -> dict[str, Any]:
    started = time.monotonic()
    # Import once here, so every forked child starts warm.
    from wan_engine import plugins

    registry()
    plugins.load("sink")  # entry points scanned once (the scan is cached), inherited by every child
    server, urls = start_server(root / "server.log")
    try:
        trials: list[Trial] = []
        reached: dict[str, dict[str, int]] = {}
        for shape in SHAPES:
            counted = dry_run(root, urls, jobs, shape)
            reached[shape] = dict(counted)
            trials += kill_points(counted, jobs, shape)
        results = run_trials(root, urls, trials, jobs, parallel)["trials"]
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
    summary = summarise(results, time.monotonic() - started)
    summary["points_reached_in_dry_runs"] = reached
    report_file.write_text(json.dumps({"summary": summary, "trials": results}, indent=2))
    return summary


def two_resumers(root: Path, jobs: int, report_file: Path) -> dict[str, Any]:
    """A workload dies right after its last submit; two resume processes then race on one journal."""
    registry()
    server, urls = start_server(root / "server.log")
    try:
        trial = root / "race"
        trial.mkdir()
        env = {**child_env(), "WAN_ENGINE_CRASH_AT": f"submit.after_journal:{jobs}"}
        os.waitpid(fork(lambda: workload(trial, urls, jobs, "submit-then-finish"), env), 0)
        # A small concurrency makes each process claim a few jobs at a time, so the two interleave.
        pids = [fork(lambda: resume_child(trial, urls, concurrency=2), child_env()) for _ in range(2)]
        statuses = [os.waitpid(pid, 0)[1] for pid in pids]
        figures = audit(trial, server_counts(urls))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
    reports = [json.loads(p.read_text()) for p in sorted(trial.glob("resume-*.json"))]
    worked = [sorted(j["key"] for j in r["jobs"]) for r in reports]
    figures.update(
        exit_ok=all(os.WIFEXITED(s) and os.WEXITSTATUS(s) == 0 for s in statuses),
        worked_by_each=[len(w) for w in worked],
        overlap=len(set(worked[0]) & set(worked[1])) if len(worked) == 2 else None,
        busy_seen=[len(r["busy"]) for r in reports],
    )
    report_file.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "serve":
        serve()
    elif command == "drive":
        out = drive(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]))
        print(json.dumps(out))
    elif command == "race":
        print(json.dumps(two_resumers(Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))))
