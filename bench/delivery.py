"""Delivery benchmark: throughput and peak memory of delivering one large result, against a ceiling.

    python bench/delivery.py [--size-mib 1024] [--cases curl,aiohttp,file,s3,file+s3]

The sandbox (in this process, on a thread) serves a generated result of the
given size; SeaweedFS (started here, every port free, 127.0.0.1 only) stands
in for S3. Each case runs in its own child process, so its peak memory is
that child's own RSS high-water mark (VmHWM from /proc), untouched by the others:

* ``curl``    – ``curl -o`` to disk (if curl is installed): the ceiling;
* ``curl+fsync`` – ``curl -o`` then ``sync FILE`` (durable, as the file sink is);
* ``curl|tee|openssl`` – the file sink's job in C tools: ``curl | tee FILE |
  openssl dgst -sha256`` then ``sync FILE``;
* ``aiohttp`` – a bare aiohttp download to the same disk, 1 MiB chunks: the
  ceiling for Python doing nothing but writing;
* ``file``    – ``deliver()`` to the file sink (hash, fsync, atomic rename, sidecar);
* ``aiobotocore`` – the S3 ceiling: a plain aiobotocore multipart upload of
  the same bytes, read from a file on the same disk (downloaded beforehand,
  untimed), same part size, same number of parts in flight;
* ``s3``      – ``deliver()`` to the S3 sink (multipart, ``--part-size-mib``
  parts, ``--parts-in-flight`` of them uploading at once);
* ``file+s3`` – both at once through the tee.

Throughput ratios are against ``curl -o`` measured in the same run; the S3
cases are also given against the ``aiobotocore`` upload.
Every delivered copy's SHA-256 is checked against the sandbox's.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
MODEL = "alibaba/wan-2-7-r2v"
CASES = ("curl", "curl+fsync", "curl|tee|openssl", "aiohttp", "file", "aiobotocore", "s3", "file+s3")
SHELL_CASES = {
    # the ceiling: download to disk, nothing else
    "curl": 'curl -sS -f -o "$1" "$2"',
    # the same, then made durable as the file sink does (coreutils `sync FILE` fsyncs that file)
    "curl+fsync": 'curl -sS -f -o "$1" "$2" && sync "$1"',
    # the file sink's whole job done by C tools: download, write, SHA-256, durable
    "curl|tee|openssl": 'curl -sS -f "$2" | tee "$1" | openssl dgst -sha256 >/dev/null && sync "$1"',
}


# -- the child side: one case, then report as JSON on stdout --------------------------------


async def bare_aiohttp(url: str, folder: Path) -> dict[str, Any]:
    import aiohttp

    digest = hashlib.sha256()
    size = 0
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        response.raise_for_status()
        with (folder / "bare.mp4").open("wb") as out:
            async for chunk in response.content.iter_chunked(MiB):
                digest.update(chunk)  # the same hashing work delivery does, for a fair ceiling
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
    return {"size": size, "sha256": digest.hexdigest()}


async def delivery(url: str, folder: Path, sinks_wanted: list[str], s3_options: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    from wan_engine.client.result import Result, Timings
    from wan_engine.clock import SystemClock
    from wan_engine.delivery.tee import deliver
    from wan_engine.sinks import Sink, sink_from_name

    result = Result(f"bench-{uuid.uuid4().hex[:8]}", MODEL, "1", [url], {}, Timings(None, 0.0, 0.0, 0), None)
    sinks: list[Sink] = []
    if "file" in sinks_wanted:
        sinks.append(sink_from_name("file", root=folder))
    if "s3" in sinks_wanted:
        sinks.append(sink_from_name("s3", **s3_options, prefix=f"bench-{uuid.uuid4().hex[:8]}"))
    async with aiohttp.ClientSession() as session:
        report = await deliver(result, sinks, session=session, clock=SystemClock())
    if not report.ok:
        raise SystemExit(f"delivery failed: {report.failures}")
    return {"size": report.size, "sha256": report.sha256, "locations": report.locations}


async def bare_s3_upload(source: Path, s3_options: dict[str, Any]) -> dict[str, Any]:
    """What a careful script would do: multipart upload from disk, N parts in flight, no sink logic."""
    from aiobotocore.session import get_session
    from wan_engine_s3.sink import S3Sink

    options = dict(s3_options)
    part_size, in_flight = options.pop("part_size"), options.pop("parts_in_flight")
    sink = S3Sink(**options)  # only for the same client options (endpoint, keys, botocore config)
    key = f"bench-bare-{uuid.uuid4().hex[:8]}/video.mp4"
    digest = hashlib.sha256()
    size = 0
    async with get_session().create_client("s3", **sink.client_options()) as client:
        upload_id = (await client.create_multipart_upload(Bucket=sink.bucket, Key=key))["UploadId"]
        slots = asyncio.Semaphore(in_flight)
        parts: list[dict[str, Any]] = []

        async def send(number: int, body: bytes) -> None:
            try:
                answer = await client.upload_part(
                    Bucket=sink.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                )
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            finally:
                slots.release()

        tasks = []
        with source.open("rb") as handle:
            number = 0
            while True:
                await slots.acquire()
                body = await asyncio.to_thread(handle.read, part_size)
                if not body:
                    slots.release()
                    break
                digest.update(body)
                size += len(body)
                number += 1
                tasks.append(asyncio.create_task(send(number, body)))
        await asyncio.gather(*tasks)
        parts.sort(key=lambda part: int(part["PartNumber"]))
        await client.complete_multipart_upload(
            Bucket=sink.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    return {"size": size, "sha256": digest.hexdigest()}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(4 * MiB):
            digest.update(block)
    return digest.hexdigest()


def peak_rss_kib(pid: int | str = "self", field: str = "VmHWM") -> int:
    """VmHWM: the RSS high-water mark of one process's own memory (exec starts it afresh)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def child(case: str, url: str, folder: Path, s3_options: dict[str, Any]) -> None:
    # Imports are paid before the clock starts, in every case alike.
    import aiohttp  # noqa: F401
    import wan_engine_s3.sink  # noqa: F401

    import wan_engine.delivery.tee  # noqa: F401

    baseline = peak_rss_kib(field="VmRSS")  # the interpreter and its imports, before any byte moves
    started = time.perf_counter()
    if case == "aiohttp":
        outcome = asyncio.run(bare_aiohttp(url, folder))
    elif case == "aiobotocore":
        outcome = asyncio.run(bare_s3_upload(folder / "source.mp4", s3_options))
    else:
        outcome = asyncio.run(delivery(url, folder, case.split("+"), s3_options))
    seconds = time.perf_counter() - started
    print(json.dumps({**outcome, "seconds": seconds, "rss_kib": peak_rss_kib(), "baseline_kib": baseline}))


# -- the parent side: sandbox, SeaweedFS, one child per case --------------------------------


def tree_rss_kib(pid: int) -> int:
    """The RSS of a process and all its descendants (a shell pipeline), in KiB, right now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += peak_rss_kib(current, "VmRSS")
        todo.extend(children.get(current, []))
    return total


def run_child(args: list[str]) -> tuple[str, float, int]:
    """Run a child; returns its stdout, wall seconds and peak RSS in KiB.

    The peak is the child's VmHWM, polled while it runs, or for a pipeline the
    largest sum of its processes' RSS seen while polling. (``wait4``'s
    ru_maxrss would be wrong here: Linux carries the forking parent's RSS,
    sandbox included, into the child's high-water mark across exec.)
    """
    started = time.perf_counter()
    peak = 0
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(args, stdout=out)
        while process.poll() is None:
            peak = max(peak, peak_rss_kib(process.pid), tree_rss_kib(process.pid))
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode()
    if process.returncode != 0:
        raise SystemExit(f"{args[:4]} exited with {process.returncode}")
    return text, seconds, peak


def finished_result_url(base_url: str, registry: Any) -> tuple[str, str]:
    from wan_engine.client.engine import Engine
    from wan_engine.client.polling import FixedInterval

    async def go() -> tuple[str, str]:
        async with Engine(registry, base_urls={"aimlapi": base_url}, env={"AIMLAPI_KEY": "bench"}) as engine:
            job = await engine.submit(MODEL, prompt="benchmark", video_urls=["https://example.com/a.mp4"])
            result = await job.wait(strategy=FixedInterval(0.05))
            return job.id, result.video_url

    return asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated among {', '.join(CASES)}")
    parser.add_argument("--dir", help="where files are written (default: a temporary folder)")
    parser.add_argument("--part-size-mib", type=int, default=8, help="S3 part size (both S3 cases)")
    parser.add_argument("--parts-in-flight", type=int, default=3, help="S3 parts uploading at once (both S3 cases)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--s3-options", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, Path(args.dir), json.loads(args.s3_options))
        return

    from wan_engine_s3.seaweed import SeaweedFS

    from wan_engine.sandbox import SandboxConfig, running_in_thread
    from wan_engine.spec.registry import SpecRegistry

    cases = [c for c in args.cases.split(",") if c]
    for case in [c for c in cases if c in SHELL_CASES]:
        if shutil.which("curl") is None or ("openssl" in case and shutil.which("openssl") is None):
            print(f"curl or openssl is not installed: skipping {case}")
            cases.remove(case)
    size = args.size_mib * MiB
    work = Path(args.dir or tempfile.mkdtemp(prefix="wan-engine-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    registry = SpecRegistry.discover()
    config = SandboxConfig(duration_s=0.0, media_size=size)
    needs_s3 = any("s3" in case or case == "aiobotocore" for case in cases)
    seaweed = SeaweedFS(buckets=("bench",)).start() if needs_s3 else None
    rows: list[dict[str, Any]] = []
    try:
        with running_in_thread(registry, config) as sandbox:
            job_id, url = finished_result_url(sandbox.base_url("aimlapi"), registry)
            expected = sandbox.media_sha256(job_id)
            s3_options: dict[str, Any] = {}
            if seaweed is not None:
                s3_options = {**seaweed.options(), "part_size": args.part_size_mib * MiB,
                              "parts_in_flight": args.parts_in_flight}  # fmt: skip
            for case in cases:
                folder = work / "".join(c if c.isalnum() else "-" for c in case)
                folder.mkdir()
                if case in SHELL_CASES:
                    target = folder / "curl.mp4"
                    _out, seconds, rss = run_child(["sh", "-c", SHELL_CASES[case], "sh", str(target), url])
                    outcome = {"size": target.stat().st_size, "sha256": _sha256_file(target), "seconds": seconds}
                else:
                    if case == "aiobotocore":  # its source file, on the same disk, before the clock starts
                        subprocess.run(["curl", "-sS", "-f", "-o", str(folder / "source.mp4"), url], check=True)
                    command = [sys.executable, __file__, "--child", case, "--url", url, "--dir", str(folder),
                               "--s3-options", json.dumps(s3_options)]  # fmt: skip
                    text, _wall, rss = run_child(command)
                    outcome = json.loads(text.strip().splitlines()[-1])
                    rss = max(rss, outcome["rss_kib"])  # exact, read by the child itself at the end
                if outcome["sha256"] != expected or outcome["size"] != size:
                    raise SystemExit(f"{case}: wrong bytes ({outcome['size']} bytes, {outcome['sha256']})")
                file_copy = outcome.get("locations", {}).get("file")
                if file_copy is not None and _sha256_file(Path(file_copy)) != expected:
                    raise SystemExit(f"{case}: the file written differs from the served video")
                baseline = outcome.get("baseline_kib")
                rows.append({"case": case, "seconds": outcome["seconds"], "rss_kib": rss, "baseline_kib": baseline})
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        if seaweed is not None:
            seaweed.stop()
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)

    ceilings = [r for r in rows if r["case"] == "curl"] or [r for r in rows if r["case"] == "aiohttp"]
    best = min((r["seconds"] for r in ceilings), default=None)
    load = os.getloadavg()
    print(f"\ndelivering {args.size_mib} MiB from the sandbox ({os.cpu_count()} CPUs, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end)\n")  # fmt: skip
    ceiling = ceilings[0]["case"] if ceilings else "-"
    print(f"{'case':<17} {'seconds':>8} {'MiB/s':>7} {'vs ' + ceiling:>9} {'peak RSS MiB':>13} {'after imports':>14}")
    for row in rows:
        rate = args.size_mib / row["seconds"]
        ratio = f"{best / row['seconds']:.2f}" if best else "-"
        baseline = f"{row['baseline_kib'] / 1024:.1f}" if row["baseline_kib"] else "-"
        print(f"{row['case']:<17} {row['seconds']:>8.2f} {rate:>7.0f} {ratio:>9} {row['rss_kib'] / 1024:>13.1f} "
              f"{baseline:>14}")  # fmt: skip
    bare = next((r for r in rows if r["case"] == "aiobotocore"), None)
    for row in rows:
        if bare is not None and "s3" in row["case"]:
            print(f"{row['case']} vs the aiobotocore upload ({args.parts_in_flight} parts of {args.part_size_mib} MiB "
                  f"in flight): {bare['seconds'] / row['seconds']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
