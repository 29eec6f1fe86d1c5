"""Engine overhead: N concurrent jobs on one event loop, against a bare aiohttp loop as the ceiling.

The sandbox runs in its own process; each client runs in its own process too
so its peak memory (VmHWM) is its own. Both clients make the same requests:
one submit per job, then a status read per job every --interval seconds until
the job completes. Reported: status reads per second during the waiting phase,
the client's CPU time per status read (user + system, waiting phase only),
and peak memory per in-flight job ((VmHWM - RSS before the jobs) / N).

Jobs must be long enough that every job really polls: by default the
sandbox's job duration is chosen per row so that, at the read rate the
sandbox can serve (~1,500-2,000/s on 2 cores), each job is read about
``--reads-per-job`` times before it completes; the table shows reads per job
so a row where jobs finished before being polled is visible.

    python bench/engine_overhead.py [--jobs 1000 10000 100000] [--interval 1] [--reads-per-job 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

MODEL = "alibaba/wan-2-7-r2v"
KEY = "bench-key"


class GcWatch:
    """Time spent in the cyclic garbage collector and full (generation 2) collections, from ``start()``.

    At 100,000 jobs a full collection walks millions of objects; how often one runs depends on how
    many objects each status read leaves alive, so it is reported beside CPU per read.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._began = 0.0
        self._on = False
        gc.callbacks.append(self._callback)

    def start(self) -> None:
        self.seconds, self.full, self._on = 0.0, 0, True

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.process_time()
        elif self._on:
            self.seconds += time.process_time() - self._began
            self.full += info["generation"] == 2


class WaitingPhase:
    """Wall time, CPU time and garbage collection from construction to ``end()``: the same for both clients."""

    def __init__(self) -> None:
        self.watch = GcWatch()
        self.started, self.cpu_started = time.perf_counter(), time.process_time()
        self.watch.start()
        self.elapsed = self.cpu = 0.0

    def end(self) -> None:
        self.elapsed = time.perf_counter() - self.started
        self.cpu = time.process_time() - self.cpu_started

    def figures(self, reads: int, rss_before_kib: int) -> dict[str, Any]:
        return {
            "reads": reads,
            "elapsed": self.elapsed,
            "cpu": self.cpu,
            "rss_before_kib": rss_before_kib,
            "hwm_kib": memory_kib("VmHWM"),
            "gc_s": self.watch.seconds,
            "gc_full": self.watch.full,
        }


def memory_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


async def run_engine(base_url: str, jobs: int, interval: float) -> dict[str, Any]:
    from wan_engine.client.engine import Engine
    from wan_engine.client.polling import FixedInterval

    rss_before = memory_kib("VmRSS")
    async with Engine(base_urls={"aimlapi": base_url}, env={"AIMLAPI_KEY": KEY}) as engine:
        handles = await asyncio.gather(*(engine.submit(MODEL, prompt=f"job {i}") for i in range(jobs)))
        sent = engine.client.requests_sent
        phase = WaitingPhase()
        await asyncio.gather(*(job.wait(strategy=FixedInterval(interval)) for job in handles))
        phase.end()
        reads = engine.client.requests_sent - sent
    return phase.figures(reads, rss_before)


async def run_bare(base_url: str, jobs: int, interval: float) -> dict[str, Any]:
    """The least a client can do: POST, then GET every interval until 'completed'. No validation, no events."""
    import aiohttp

    rss_before = memory_kib("VmRSS")
    headers = {"Authorization": f"Bearer {KEY}"}
    reads = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def submit(i: int) -> str:
            body = {"model": MODEL, "prompt": f"job {i}"}
            async with session.post(f"{base_url}/v2/video/generations", json=body, headers=headers) as response:
                return str((await response.json())["id"])

        async def wait(job_id: str) -> None:
            nonlocal reads
            while True:
                await asyncio.sleep(interval)
                url = f"{base_url}/v2/video/generations"
                async with session.get(url, params={"generation_id": job_id}, headers=headers) as response:
                    reads += 1
                    if (await response.json())["status"] == "completed":
                        return

        ids = await asyncio.gather(*(submit(i) for i in range(jobs)))
        phase = WaitingPhase()
        await asyncio.gather(*(wait(job_id) for job_id in ids))
        phase.end()
    return phase.figures(reads, rss_before)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sandbox(duration: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "wan_engine.cli.main", "sandbox", "--port", str(port), "--duration", str(duration)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}/aimlapi"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the sandbox did not start")


def client(kind: str, base_url: str, jobs: int, interval: float) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            kind,
            "--base-url",
            base_url,
            "--jobs",
            str(jobs),
            "--interval",
            str(interval),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--duration", type=float, help="simulated job duration (s); default: see --reads-per-job")
    parser.add_argument("--reads-per-job", type=float, default=3.0, help="aim for this many reads per job")
    parser.add_argument("--serve-rate", type=float, default=1500.0, help="reads/s the sandbox is assumed to serve")
    parser.add_argument("--interval", type=float, default=1.0, help="status read interval per job (s)")
    parser.add_argument("--child", choices=["engine", "bare"])
    parser.add_argument("--base-url")
    args = parser.parse_args()
    if args.child:
        runner = run_engine if args.child == "engine" else run_bare
        print(json.dumps(asyncio.run(runner(args.base_url, args.jobs[0], args.interval))))
        return
    print(
        f"one status read per job every {args.interval:g} s (or as fast as the sandbox answers); "
        f"{os.cpu_count()} cores shared by sandbox and client\n"
    )
    print(
        f"{'jobs':>7} {'client':<7} {'job s':>6} {'reads':>8} {'reads/job':>9} {'reads/s':>8} {'CPU µs/read':>11} "
        f"{'KiB/job':>8} {'reads/s ratio':>13} {'CPU ratio':>9} {'mem ratio':>9} {'GC s':>6} {'full GCs':>8}"
    )
    for jobs in args.jobs:
        duration = args.duration or max(5.0, args.reads_per_job * max(args.interval, jobs / args.serve_rate))
        rows = {}
        for kind in ("bare", "engine"):
            sandbox, base_url = start_sandbox(duration)
            try:
                rows[kind] = client(kind, base_url, jobs, args.interval)
            finally:
                sandbox.terminate()
                sandbox.wait()
        base = rows["bare"]
        base_rate = base["reads"] / base["elapsed"]
        base_mem = (base["hwm_kib"] - base["rss_before_kib"]) / jobs
        base_cpu = base["cpu"] / base["reads"]
        for kind, row in rows.items():
            rate = row["reads"] / row["elapsed"]
            per_job = (row["hwm_kib"] - row["rss_before_kib"]) / jobs
            cpu = row["cpu"] / row["reads"]
            print(
                f"{jobs:>7} {kind:<7} {duration:>6.0f} {row['reads']:>8} {row['reads'] / jobs:>9.2f} {rate:>8.0f} "
                f"{cpu * 1e6:>11.0f} {per_job:>8.1f} {rate / base_rate:>13.2f} {cpu / base_cpu:>9.2f} "
                f"{per_job / base_mem:>9.2f} {row['gc_s']:>6.1f} {row['gc_full']:>8}"
            )
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
