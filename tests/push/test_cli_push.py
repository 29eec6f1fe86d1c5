"""`wan-engine generate MODEL --callbacks-on HOST:PORT --sandbox`, as a user runs it: the installed
executable in a subprocess, for each provider that declares callbacks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

MODELS = ["replicate/minimax/video-01", "lumalabs/ray-2", "fal-ai/minimax/hailuo-02/standard/text-to-video"]


@pytest.mark.e2e
@pytest.mark.parametrize("model", MODELS)
def test_generate_with_callbacks_on_runs_end_to_end(model: str, tmp_path: Path) -> None:
    exe = shutil.which("wan-engine")
    assert exe is not None
    done = subprocess.run(
        [exe, "generate", model, "--prompt", "a fox", "--sandbox", "--sandbox-duration", "1",
         "--callbacks-on", "127.0.0.1:0", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "receiving callbacks at http://127.0.0.1:" in done.stdout + done.stderr
    assert list(tmp_path.rglob("*.mp4"))
    assert "whsec_" not in done.stdout + done.stderr


@pytest.mark.e2e
def test_a_bad_callbacks_address_is_a_usage_error(tmp_path: Path) -> None:
    exe = shutil.which("wan-engine")
    assert exe is not None
    done = subprocess.run(
        [exe, "generate", MODELS[0], "--prompt", "x", "--sandbox", "--callbacks-on", "nowhere"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "HOST:PORT" in done.stderr
    assert "Traceback" not in done.stderr
