"""Engine overhead: N concurrent jobs on one event loop, against a bare aiohttp loop as the ceiling.

The sandbox runs in its own process; each client runs in its own process too
so its peak memory (VmHWM) is its own. Both clients make the same requests:
one submit per job, then a status read per job every --interval seconds until
the job completes. Reported: status reads per second during the waiting phase,
and peak memory per in-flight job ((VmHWM - RSS before the jobs) / N).

    python bench/engine_overhead.py [--jobs 1000 10000] [--duration 5] [--interval 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

MODEL = "alibaba/wan-2-7-r2v"
KEY = "bench-key"


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
        started = time.perf_counter()
        await asyncio.gather(*(job.wait(strategy=FixedInterval(interval)) for job in handles))
        elapsed = time.perf_counter() - started
        reads = engine.client.requests_sent - sent
    return {"reads": reads, "elapsed": elapsed, "rss_before_kib": rss_before, "hwm_kib": memory_kib("VmHWM")}


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
        started = time.perf_counter()
        await asyncio.gather(*(wait(job_id) for job_id in ids))
        elapsed = time.perf_counter() - started
    return {"reads": reads, "elapsed": elapsed, "rss_before_kib": rss_before, "hwm_kib": memory_kib("VmHWM")}


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
    parser.add_argument("--duration", type=float, default=5.0, help="simulated job duration (s)")
    parser.add_argument("--interval", type=float, default=1.0, help="status read interval per job (s)")
    parser.add_argument("--child", choices=["engine", "bare"])
    parser.add_argument("--base-url")
    args = parser.parse_args()
    if args.child:
        runner = run_engine if args.child == "engine" else run_bare
        print(json.dumps(asyncio.run(runner(args.base_url, args.jobs[0], args.interval))))
        return
    print(
        f"sandbox job duration {args.duration:g} s, one status read per job every {args.interval:g} s; "
        f"{os.cpu_count()} cores shared by sandbox and client\n"
    )
    print(
        f"{'jobs':>6} {'client':<7} {'reads':>7} {'reads/s':>8} {'KiB/job':>8} {'reads/s ratio':>13} {'mem ratio':>9}"
    )
    for jobs in args.jobs:
        rows = {}
        for kind in ("bare", "engine"):
            sandbox, base_url = start_sandbox(args.duration)
            try:
                rows[kind] = client(kind, base_url, jobs, args.interval)
            finally:
                sandbox.terminate()
                sandbox.wait()
        for kind, row in rows.items():
            rate = row["reads"] / row["elapsed"]
            per_job = (row["hwm_kib"] - row["rss_before_kib"]) / jobs
            base = rows["bare"]
            base_rate = base["reads"] / base["elapsed"]
            base_mem = (base["hwm_kib"] - base["rss_before_kib"]) / jobs
            print(
                f"{jobs:>6} {kind:<7} {row['reads']:>7} {rate:>8.0f} {per_job:>8.1f} "
                f"{rate / base_rate:>13.2f} {per_job / base_mem:>9.2f}"
            )


if __name__ == "__main__":
    main()
