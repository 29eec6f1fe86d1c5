"""Two processes resume one journal at the same time: each job is polled and delivered by exactly one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "support" / "crash_harness.py"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the harness forks")
@pytest.mark.e2e
def test_two_resuming_processes_never_both_deliver_a_job(tmp_path: Path) -> None:
    report = tmp_path / "race.json"
    done = subprocess.run(
        [sys.executable, str(HARNESS), "race", str(tmp_path), "12", str(report)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    figures = json.loads(report.read_text())
    print(f"\ntwo resumers: jobs worked by each {figures['worked_by_each']}, busy seen {figures['busy_seen']}")
    assert figures["exit_ok"]
    assert figures["problems"] == []
    assert figures["delivered"] == 12
    assert figures["overlap"] == 0
    assert sum(figures["worked_by_each"]) == 12
    assert figures["duplicate_deliveries"] == 0 and figures["notices_resent_in_flight"] == 0
    assert figures["duplicate_submissions"] == 0
