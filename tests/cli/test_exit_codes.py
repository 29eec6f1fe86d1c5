"""Every command's failure exit codes, from the installed ``wan-engine`` executable in a subprocess.

click's test runner hides how ``main()`` turns a command's outcome into the
process exit code (it exited 0 on breaches); a CI only sees the process, so
these tests run the process. The runs are independent, so they go together in
a thread pool: one batch, a few seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import attrs
import pytest

from wan_engine.journal import SqliteJournal
from wan_engine.sinks.config import SinkConfig

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXE = shutil.which("wan-engine", path=str(Path(sys.executable).parent)) or shutil.which("wan-engine")
MODEL = "alibaba/wan-2-7-t2v"
SECRET = "whsec_%%%-not-base64"
"""A malformed webhook secret; it must not be quoted back."""


@attrs.frozen
class Case:
    args: tuple[str, ...]
    code: int
    says: str = ""
    """A piece of the output (stdout + stderr) that must be there."""
    env: Mapping[str, str] = attrs.field(factory=dict)
    drop_env: tuple[str, ...] = ()
    one_line_error: bool = True
    """A failure explains itself in one line on stderr (click usage errors add their Usage: lines)."""


@attrs.frozen
class Ran:
    code: int
    out: str
    err: str


def _run(case: Case, cwd: Path) -> Ran:
    assert EXE is not None, "wan-engine is not installed in this environment (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if k not in case.drop_env}
    env.update({"WAN_ENGINE_JOURNAL": str(cwd / "default-journal.db"), "COLUMNS": "80", **case.env})
    done = subprocess.run(
        [EXE, *case.args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def _journal_with(path: Path, *, submitted: str | None = None, unknown: bool = False, model: str = MODEL) -> str:
    """A journal holding one job: submitted under ``submitted`` as provider id, or submit_unknown."""
    now = datetime.now(UTC)
    with SqliteJournal(path) as journal:
        key = journal.intend(
            model=model, spec_version="1.0.0", params={"prompt": "a cat"}, sinks=[SinkConfig("file", {})], at=now
        )
        if submitted is not None:
            journal.mark_submitted(key, submitted, now)
        if unknown:
            journal.mark_submit_unknown(key, "connection reset after the request was sent", now)
    return key


class _NoSuchJob(BaseHTTPRequestHandler):
    """A provider that has never heard of the job: every request gets a 404."""

    def do_GET(self) -> None:
        body = b'{"error": {"message": "generation not found"}}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _cases(work: Path, gone: str = "http://127.0.0.1:9") -> dict[str, Case]:
    (work / "params-invalid.json").write_text("{}")
    (work / "params-ok.json").write_text(json.dumps({"prompt": "a cat on a skateboard"}))
    (work / "params-not-json.json").write_text("{prompt: cat")
    (work / "params-folder").mkdir()
    (work / "empty-cassettes").mkdir()
    (work / "corrupt.db").write_text("this is not a database")
    (work / "broken-spec.json").write_text('{"spec_format": 1, "kind": "model"}')
    good_spec = ROOT / "specs" / "models" / "alibaba" / "wan-2-7-t2v.json"
    cassette = ROOT / "cassettes" / "alibaba" / "wan-2-7-r2v" / "success-reference-videos.yaml"
    breach = work / "breach.yaml"
    broken = cassette.read_text().replace('"url":', '"href":')
    assert broken != cassette.read_text()
    breach.write_text(broken)
    _journal_with(work / "resume.db", submitted="gen-unreachable-1")
    unknown = _journal_with(work / "dismiss.db", unknown=True)
    running = _journal_with(work / "dismiss-running.db", submitted="gen-still-running")
    cyclic = json.loads((ROOT / "specs" / "models" / "alibaba" / "wan-2-7-t2v.json").read_text())
    cyclic["id"] = "test/ref-cycle"
    cyclic["parameters"]["$defs"] = {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}
    cyclic["parameters"]["properties"]["loop"] = {"$ref": "#/$defs/a"}
    (work / "cyclic").mkdir()
    (work / "cyclic" / "cycle.json").write_text(json.dumps(cyclic))
    (work / "params-loop.json").write_text(json.dumps({"prompt": "a cat", "loop": 1}))
    long_model = "klingai/video-v3-pro-text-to-video"
    listed = _journal_with(work / "wide.db", submitted="0f8e2b6c-5a3d-4e1f-9b7a-2c4d6e8f0a1b", model=long_model)
    return {
        "help lists the exit codes": Case(("--help",), 0, "Exit codes: 0 ok; 1 a check failed"),
        "unknown command": Case(("bogus",), 2, "No such command", one_line_error=False),
        "unknown option": Case(("models", "--bogus"), 2, "No such option", one_line_error=False),
        "describe an unknown model": Case(("describe", "nope/model"), 2, "unknown model 'nope/model'"),
        "validate: params file missing": Case(("validate", MODEL, "missing.json"), 2, "missing.json does not exist"),
        "validate: params file is a folder": Case(("validate", MODEL, "params-folder"), 2, "is a folder"),
        "validate: params file not JSON": Case(("validate", MODEL, "params-not-json.json"), 2, "is not JSON"),
        "validate: invalid parameters": Case(
            ("validate", MODEL, "params-invalid.json"), 1, "$.prompt", one_line_error=False
        ),
        "validate: a spec with a $ref cycle": Case(
            ("--specs", "cyclic", "validate", "test/ref-cycle", "params-loop.json"), 2, "$ref cycle",
            one_line_error=False,  # a warning naming the file and the cycle, then "unknown model ... left out"
        ),
        "validate: valid": Case(("validate", MODEL, "params-ok.json"), 0, "valid"),
        "spec lint: a broken spec": Case(
            ("spec", "lint", "broken-spec.json"), 1, "broken-spec.json", one_line_error=False
        ),
        "spec lint: a good spec": Case(("spec", "lint", str(good_spec)), 0),
        "contract check: no cassettes": Case(("contract", "check", "empty-cassettes"), 2, "no cassettes"),
        "contract check: a breach": Case(("contract", "check", str(breach)), 1, "BREACH", one_line_error=False),
        "contract check: a good cassette": Case(("contract", "check", str(cassette)), 0, ": ok"),
        "record: params file missing": Case(
            ("record", MODEL, "--params", "missing.json", "--sandbox", "--name", "x"), 2, "missing.json does not exist"
        ),
        "jobs: a corrupt journal": Case(("jobs", "--journal", "corrupt.db"), 2, "corrupt.db cannot be opened"),
        "status: no such job": Case(("status", "nokey", "--journal", "resume.db"), 2, "no job 'nokey'"),
        "resume: no such key": Case(("resume", "nokey", "--journal", "resume.db"), 2, "no job 'nokey'"),
        "resume: a job that cannot be advanced": Case(
            ("resume", "--journal", "resume.db", "--base-url", f"aimlapi={gone}"),
            3,
            "1 not advanced",
            env={"AIMLAPI_KEY": "k"},
            one_line_error=False,
        ),
        "jobs: readable on 80 columns": Case(("jobs", "--journal", "wide.db"), 0, f"{listed} "),
        "resume: nothing to do": Case(("resume", "--journal", "empty.db"), 0, "nothing to resume"),
        "jobs dismiss: a submit_unknown job": Case(
            ("jobs", "--journal", "dismiss.db", "dismiss", unknown), 0, f"job {unknown} dismissed"
        ),
        "jobs dismiss: a running job is refused": Case(
            ("jobs", "--journal", "dismiss-running.db", "dismiss", running), 2, "not submit_unknown"
        ),
        "generate: invalid parameters": Case(
            ("generate", MODEL, "--sandbox"), 1, "nothing was sent", one_line_error=False
        ),
        "generate: no API key": Case(
            ("generate", MODEL, "--prompt", "cat"), 2, "AIMLAPI_KEY", drop_env=("AIMLAPI_KEY",), one_line_error=False
        ),
        "generate: malformed webhook secret": Case(
            ("generate", MODEL, "--prompt", "cat", "--sandbox", "--webhook", "http://127.0.0.1:9/hook"),
            2,
            "WAN_ENGINE_WEBHOOK_SECRET",
            env={"WAN_ENGINE_WEBHOOK_SECRET": SECRET},
        ),
        "sandbox: a bad fault rule": Case(("sandbox", "--fault", "nonsense"), 2, "--fault", one_line_error=False),
    }


def _problems(name: str, case: Case, result: Ran) -> list[str]:
    output = result.out + result.err
    found = []
    if result.code != case.code:
        found.append(f"exit {result.code}, expected {case.code}")
    if "Traceback" in output:
        found.append("a traceback")
    if case.says not in output:
        found.append(f"does not say {case.says!r}")
    if SECRET in output or "%%%" in output:
        found.append("quotes the webhook secret")
    if case.code != 0 and case.one_line_error and len(result.err.strip().splitlines()) != 1:
        found.append("error is not one line on stderr")
    return [f"{name}: {', '.join(found)}\n{output}"] if found else []


def test_every_command_exits_with_its_documented_code(tmp_path: Path) -> None:
    """One test (not one per case): under xdist a shared fixture would run the whole batch on every worker."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoSuchJob)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cases = _cases(tmp_path, f"http://127.0.0.1:{server.server_address[1]}")
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda case: _run(case, tmp_path), cases.values()))
    finally:
        server.shutdown()
    width = max(len(line) for line in results[list(cases).index("jobs: readable on 80 columns")].out.splitlines())
    assert width <= 80, results[list(cases).index("jobs: readable on 80 columns")].out
    problems = [
        p for (name, case), result in zip(cases.items(), results, strict=True) for p in _problems(name, case, result)
    ]
    assert not problems, "\n\n".join(problems)
