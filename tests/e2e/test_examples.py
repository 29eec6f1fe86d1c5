"""The README's sandbox scripts run as documented: submit, watch, and resume from a second process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from wan_engine.sandbox import SandboxConfig, running_in_thread
from wan_engine.spec.registry import SpecRegistry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(script: str, *args: str) -> str:
    env = {**os.environ, "AIMLAPI_KEY": "any-key"}
    done = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_sandbox_script_shows_status_changes_and_the_video_url() -> None:
    with running_in_thread(SpecRegistry.discover(), SandboxConfig(duration_s=1.0)) as sandbox:
        out = run("sandbox_job.py", sandbox.base_url("aimlapi"))
    lines = out.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("status")] == ["queued", "running", "succeeded"]
    assert any(line.startswith("video http://127.0.0.1") for line in lines)


def test_a_job_submitted_by_one_process_is_resumed_by_another() -> None:
    with running_in_thread(SpecRegistry.discover(), SandboxConfig(duration_s=1.0)) as sandbox:
        submitted = run("sandbox_job.py", sandbox.base_url("aimlapi"), "--submit-only")
        job_id = submitted.split()[1]
        resumed = run("resume_job.py", sandbox.base_url("aimlapi"), job_id)
        assert resumed.startswith("video http://127.0.0.1")
        assert sandbox.submission_count == 1
