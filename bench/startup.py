"""Start-up benchmark: `wan-engine --help` and `wan-engine models` against `python -c "import aiohttp"`.

    python bench/startup.py [--runs 7]

Each command runs ``--runs`` times in a fresh process (median and best wall
seconds), in three settings measured in the same run: the spec-verdict cache
off (``WAN_ENGINE_CACHE_DIR=off``: every spec file checked against the format
at every start, as before the cache), and on, warm (a fresh cache folder,
filled by one untimed run). The baseline, ``import aiohttp``, is what any
command of an aiohttp program pays at least.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(command: list[str], env: dict[str, str], runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    executable = shutil.which("wan-engine", path=str(Path(sys.executable).parent)) or "wan-engine"
    cache = Path(tempfile.mkdtemp(prefix="wan-engine-startup-"))
    try:
        off = {**os.environ, "WAN_ENGINE_CACHE_DIR": "off"}
        warm = {**os.environ, "WAN_ENGINE_CACHE_DIR": str(cache)}
        subprocess.run([executable, "models"], env=warm, check=True, stdout=subprocess.DEVNULL)  # fills the cache
        rows = [
            ("python -c 'import aiohttp'", [sys.executable, "-c", "import aiohttp"], off),
            ("wan-engine --help (cache off)", [executable, "--help"], off),
            ("wan-engine --help (cache warm)", [executable, "--help"], warm),
            ("wan-engine models (cache off)", [executable, "models"], off),
            ("wan-engine models (cache warm)", [executable, "models"], warm),
        ]
        results = [(name, timed(command, env, args.runs)) for name, command, env in rows]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    base = statistics.median(results[0][1])
    load = os.getloadavg()
    print(f"{args.runs} runs each, {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print(f"{'command':<32} {'median s':>9} {'best s':>7} {'vs import aiohttp':>18}")
    for name, seconds in results:
        median = statistics.median(seconds)
        print(f"{name:<32} {median:>9.3f} {min(seconds):>7.3f} {median / base:>18.2f}")


if __name__ == "__main__":
    main()
