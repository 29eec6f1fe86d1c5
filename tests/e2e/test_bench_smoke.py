"""The benchmarks still run (tiny sizes): a figure nobody can reproduce is not worth printing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_polling_benchmark_runs_and_prints_every_strategy_against_its_baseline() -> None:
    out = run("polling.py", "--jobs", "5")
    spreads = ("0.05", "0.10", "0.20", "0.40", "0.80")
    rows = [line.split() for line in out.splitlines() if line.strip()[:4] in spreads]
    names = ["fixed-15s", "exponential", "adaptive", "learned", "oracle"]
    assert [row[1] for row in rows] == names * 5  # one block per spread
    assert all(row[5] == "1.000" for row in rows if row[1] == "fixed-15s")  # requests against the fixed loop
    assert all(row[6] == "1.000" for row in rows if row[1] == "oracle")  # delay against the oracle
    assert "requests against fixed-15s, delay against the oracle" in out


def test_the_engine_overhead_benchmark_runs_both_clients() -> None:
    out = run("engine_overhead.py", "--jobs", "20", "--duration", "0.5", "--interval", "0.1")
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("20 ")]
    assert [row[1] for row in rows] == ["bare", "engine"]
    assert all(int(row[3]) >= 20 for row in rows)  # every job read at least once
    assert all(float(row[6]) > 0 for row in rows)  # CPU per read


def test_the_temporal_benchmark_runs_both_cases() -> None:
    from support.temporal_cluster import skip_without_temporal

    skip_without_temporal()
    out = run("temporal.py", "--jobs", "6", "--duration", "0.5", "--interval", "0.2")
    table = [line.split() for line in out.splitlines() if len(line.split()) == 7 and line.split()[1].isdigit()]
    rows = {row[0]: row for row in table}
    assert set(rows) == {"embedded", "temporal"}
    assert all(row[1] == "6" for row in rows.values())  # every job done, both ways
    assert "temporal / embedded: wall" in out and "temporal job failed" not in out
