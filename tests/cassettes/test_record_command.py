"""`wan-engine record`: whole jobs into labelled cassettes, and the documented re-recording commands."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from wan_engine.cassettes import SessionOutcome, check_paths, read_cassette
from wan_engine.cassettes.provenance import decide_source
from wan_engine.cli.harness import harness
from wan_engine.errors import SourceError
from wan_engine.sandbox import SandboxConfig, running_in_thread
from wan_engine.spec.registry import SpecRegistry

ROOT = Path(__file__).resolve().parents[2]
MODEL = "alibaba/wan-2-7-r2v"
SCRIPT = ROOT / "cassettes" / "record-all.sh"
PARAMS = ROOT / "cassettes" / MODEL / "params" / "reference-videos.json"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(harness, list(args))
    return result.exit_code, result.output


def documented_commands() -> list[list[str]]:
    """The `record` lines of cassettes/record-all.sh, as argument lists."""
    commands = []
    for line in SCRIPT.read_text().splitlines():
        if line.startswith("$WAN record "):
            words = shlex.split(line.replace("$M", MODEL).replace("$P", f"cassettes/{MODEL}/params"))
            commands.append(words[1:])
    return commands


def test_the_documented_commands_re_record_every_cassette(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: SpecRegistry
) -> None:
    monkeypatch.chdir(ROOT)
    commands = documented_commands()
    assert len(commands) == 5
    for words in commands:
        words = [str(tmp_path) if w == '"$DIR"' or w == "$DIR" else w for w in words]
        code, output = run(*words)
        assert code == 0, output
    fresh = sorted((tmp_path / MODEL).glob("*.yaml"))
    committed = sorted((ROOT / "cassettes" / MODEL).glob("*.yaml"))
    assert [p.name for p in fresh] == [p.name for p in committed]
    assert check_paths([tmp_path], registry).ok
    for new, old in zip(fresh, committed, strict=True):
        a = SessionOutcome.from_dict(read_cassette(new).provenance.outcome or {})
        b = SessionOutcome.from_dict(read_cassette(old).provenance.outcome or {})
        # Seeded sandbox: same ids, statuses and polls; only the sandbox's port (in URLs) differs.
        assert (a.kind, a.job_id, a.statuses, a.polls, a.code) == (b.kind, b.job_id, b.statuses, b.polls, b.code)


def test_an_existing_cassette_is_kept_without_force(tmp_path: Path) -> None:
    args = ["record", MODEL, "--params", str(PARAMS), "--name", "x", "--cassettes", str(tmp_path), "--sandbox",
            "--duration", "30"]
    assert run(*args)[0] == 0
    before = (tmp_path / MODEL / "x.yaml").read_text()
    code, output = run(*args)
    assert code != 0 and "--force" in output
    assert (tmp_path / MODEL / "x.yaml").read_text() == before


def test_invalid_parameters_are_refused_unless_no_validate(tmp_path: Path) -> None:
    params = tmp_path / "bad.json"
    params.write_text(json.dumps({"prompt": "x", "aspect_ratio": "2:1"}))
    code, output = run("record", MODEL, "--params", str(params), "--name", "bad", "--cassettes", str(tmp_path),
                       "--sandbox")
    assert code != 0 and "$.aspect_ratio" in output and "--no-validate" in output
    assert not (tmp_path / MODEL / "bad.yaml").exists()
    code, output = run("record", MODEL, "--params", str(params), "--name", "bad", "--cassettes", str(tmp_path),
                       "--sandbox", "--no-validate")
    assert code == 0 and "outcome: rejected" in output and "HTTP 400" in output
    assert read_cassette(tmp_path / MODEL / "bad.yaml").provenance.validated is False


def test_a_sandbox_is_never_labelled_real(
    tmp_path: Path, registry: SpecRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIMLAPI_KEY", "sk-any-key-the-sandbox-accepts")
    code, output = run("record", MODEL, "--params", str(PARAMS), "--name", "x", "--cassettes", str(tmp_path),
                       "--sandbox", "--source", "real")
    assert code != 0 and "not 'real'" in output
    with running_in_thread(registry, SandboxConfig(duration_s=0)) as sandbox:
        base = sandbox.base_url("aimlapi")
        code, output = run("record", MODEL, "--params", str(PARAMS), "--name", "x", "--cassettes", str(tmp_path),
                           "--base-url", base, "--source", "real")
        assert code != 0 and "cannot be labelled 'real'" in output
        code, output = run("record", MODEL, "--params", str(PARAMS), "--name", "ext", "--cassettes", str(tmp_path),
                           "--base-url", base)
    assert code == 0, output
    provenance = read_cassette(tmp_path / MODEL / "ext.yaml").provenance
    assert provenance.source == "sandbox" and provenance.base_url == base
    assert provenance.outcome is not None and provenance.outcome["kind"] == "succeeded"


def test_source_rules() -> None:
    api = "https://api.aimlapi.com"
    assert decide_source(None, api, api, in_process_sandbox=False) == "real"
    assert decide_source(None, "http://127.0.0.1:8765/aimlapi", api, in_process_sandbox=False) == "sandbox"
    assert decide_source("hand-written", "http://stub.internal", api, in_process_sandbox=False) == "hand-written"
    for requested, base in (("sandbox", api), ("real", "http://localhost:1"), (None, "http://stub.internal")):
        with pytest.raises(SourceError):
            decide_source(requested, base, api, in_process_sandbox=False)


def test_recording_the_real_api_needs_the_key_and_sends_nothing_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIMLAPI_KEY", raising=False)
    code, output = run("record", MODEL, "--params", str(PARAMS), "--name", "real", "--cassettes", str(tmp_path))
    assert code != 0 and "AIMLAPI_KEY" in output
    assert not list(tmp_path.rglob("*.yaml"))
