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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.e2e
def test_a_separate_receiver_wakes_a_generate_run_through_the_journal(tmp_path: Path) -> None:
    import os
    import time

    from wan_engine.sandbox.callbacks import DEFAULT_SECRET

    exe = shutil.which("wan-engine")
    assert exe is not None
    journal, port = tmp_path / "journal.db", _free_port()
    env = {**os.environ, "REPLICATE_WEBHOOK_SECRET": DEFAULT_SECRET}
    receiver = subprocess.Popen(
        [exe, "receive", f"127.0.0.1:{port}", "--journal", str(journal)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert receiver.stdout is not None
        assert "receiving callbacks on" in receiver.stdout.readline()
        started = time.monotonic()
        done = subprocess.run(
            [exe, "generate", MODELS[0], "--prompt", "a fox", "--sandbox", "--sandbox-duration", "1",
             "--journal", str(journal), "--callbacks-url", f"http://127.0.0.1:{port}", "--out", str(tmp_path)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        took = time.monotonic() - started
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.rglob("*.mp4"))
    # The safety poll would come at 1.5 x the model's typical 300 s: finishing in seconds was the callback.
    assert took < 60
    status = subprocess.run([exe, "jobs", "--journal", str(journal)], capture_output=True, text=True, check=False)
    assert status.returncode == 0


@pytest.mark.e2e
def test_callbacks_url_alone_without_a_journal_is_a_usage_error() -> None:
    exe = shutil.which("wan-engine")
    assert exe is not None
    done = subprocess.run(
        [exe, "generate", MODELS[0], "--prompt", "x", "--sandbox", "--callbacks-url", "http://127.0.0.1:9"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "--journal" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.e2e
def test_the_sandbox_command_refuses_an_unknown_callback_fault() -> None:
    exe = shutil.which("wan-engine")
    assert exe is not None
    done = subprocess.run(
        [exe, "sandbox", "--port", "0", "--callback-faults", "drop=1,sometimes=2"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "unknown callback fault 'sometimes'" in done.stderr
