"""The spec commands of the ``wan-engine`` command line.

The main cases run the real installed entry point in a subprocess. Each start
costs a few seconds (importing jsonschema's format checkers builds a grammar),
so variants of a case run the same ``main()`` in-process instead.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wan_engine.spec.files import bundled_specs_dir

WAN = bundled_specs_dir() / "models" / "alibaba" / "wan-2-7-r2v.json"
BAD_REQUEST = {
    "prompt": "x", "image_urls": [f"https://example.com/{i}.png" for i in range(6)],
    "negative_prompt": "n" * 501, "aspect_ratio": "21:9",
}


def command() -> list[str]:
    """The installed console script beside this interpreter, else the module."""
    script = Path(sys.executable).with_name("wan-engine")
    found = str(script) if script.exists() else shutil.which("wan-engine", path=str(script.parent))
    return [found] if found else [sys.executable, "-m", "wan_engine.cli.main"]


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if k != "WAN_ENGINE_SPEC_PATH"}
    environment.update({"COLUMNS": "250", "NO_COLOR": "1", **(env or {})})
    return subprocess.Popen(
        [*command(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every subprocess case, started at once (each start takes seconds) and collected."""
    tmp = tmp_path_factory.mktemp("cli")
    broken = broken_spec(tmp / "bad_specs")
    good = write_json(tmp / "good.json", {"prompt": "a fox", "video_urls": ["https://example.com/a.mp4"]})
    cases = {
        "models": start("models"),
        "validate-bad": start("validate", "alibaba/wan-2-7-r2v", str(write_json(tmp / "bad.json", BAD_REQUEST))),
        "validate-good": start("validate", "alibaba/wan-2-7-r2v", str(good), "--body"),
        "bad-spec": start("models", env={"WAN_ENGINE_SPEC_PATH": str(tmp / "bad_specs")}),
    }
    results = {}
    for name, process in cases.items():
        out, err = process.communicate(timeout=120)
        results[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    results["bad-spec"].args = [str(broken)]  # the file the case must name
    return results


def run_inline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """``main()`` as the console script calls it: exit code, stdout, stderr."""
    from wan_engine.cli import main as cli

    monkeypatch.delenv("WAN_ENGINE_SPEC_PATH", raising=False)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", ["wan-engine", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def copy_of_wan(folder: Path, model_id: str, **changes: Any) -> Path:
    document = json.loads(WAN.read_text(encoding="utf-8"))
    document.update(id=model_id, **changes)
    return write_json(folder / (model_id.replace("/", "_") + ".json"), document)


@pytest.mark.e2e
def test_models_lists_the_bundled_model(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = runs["models"]
    assert result.returncode == 0, result.stderr
    assert "alibaba/wan-2-7-r2v" in result.stdout


def test_models_as_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_inline(monkeypatch, capsys, "models", "--json")
    listed = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    [wan] = [entry for entry in listed if entry["id"] == "alibaba/wan-2-7-r2v"]
    assert wan["provider"] == "aimlapi" and wan["file"].endswith("wan-2-7-r2v.json")


@pytest.mark.e2e
def test_validate_a_bad_request_exits_1_naming_every_path(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = runs["validate-bad"]
    assert result.returncode == 1, (result.stdout, result.stderr)
    for path in ("$.image_urls", "$.negative_prompt", "$.aspect_ratio"):
        assert path in result.stderr


@pytest.mark.e2e
def test_validate_a_good_request_exits_0_and_shows_the_body(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = runs["validate-good"]
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout[result.stdout.index("{"):])
    assert body["model"] == "alibaba/wan-2-7-r2v" and body["duration"] == 10


def test_validate_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(BAD_REQUEST)))
    code, _, err = run_inline(monkeypatch, capsys, "validate", "alibaba/wan-2-7-r2v", "-")
    assert code == 1 and "$.negative_prompt" in err


def test_describe_shows_every_parameter_with_defaults_and_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    code, out, err = run_inline(monkeypatch, capsys, "describe", "alibaba/wan-2-7-r2v")
    assert code == 0, err
    result = subprocess.CompletedProcess([], code, out, err)
    schema = json.loads(WAN.read_text(encoding="utf-8"))["parameters"]
    for name, prop in schema["properties"].items():
        assert name in result.stdout
        if "default" in prop:
            assert json.dumps(prop["default"]) in result.stdout
        for value in prop.get("enum", []):
            assert json.dumps(value) in result.stdout
    assert "at most 5" in result.stdout  # the conditional rules are listed


def test_describe_an_unknown_model_exits_2_listing_the_known_ones(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_inline(monkeypatch, capsys, "describe", "alibaba/nope")
    assert code == 2
    assert "alibaba/wan-2-7-r2v" in err


def test_a_new_spec_file_in_a_specs_folder_is_a_new_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_of_wan(tmp_path / "specs", "test/dropped-in")
    monkeypatch.setenv("COLUMNS", "250")
    code, out, err = run_inline(monkeypatch, capsys, "--specs", str(tmp_path / "specs"), "models")
    assert code == 0, err
    assert "test/dropped-in" in out and "alibaba/wan-2-7-r2v" in out


def test_a_new_spec_file_on_the_spec_path_is_a_new_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_of_wan(tmp_path / "specs", "test/dropped-in")
    code, out, err = run_inline(
        monkeypatch, capsys, "models", "--json", env={"WAN_ENGINE_SPEC_PATH": str(tmp_path / "specs")}
    )
    assert code == 0, err
    assert {"test/dropped-in", "alibaba/wan-2-7-r2v"} <= {json.loads(line)["id"] for line in out.splitlines()}


def broken_spec(folder: Path) -> Path:
    # "[/nobody]" also checks that spec text is not read as console markup.
    return copy_of_wan(folder, "test/broken", spec_version="one", provider="[/nobody]")


@pytest.mark.e2e
def test_an_invalid_spec_file_on_the_spec_path_disables_its_model_only_with_a_warning(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = runs["bad-spec"]
    bad = result.args[0]
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "alibaba/wan-2-7-r2v" in result.stdout and "test/broken" not in result.stdout
    [warning] = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert str(bad) in warning and "$.spec_version" in warning and "$.provider" in warning
    assert "Traceback" not in result.stderr


def test_an_invalid_spec_file_in_a_specs_folder_leaves_the_other_models_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = broken_spec(tmp_path / "specs")
    request = tmp_path / "good.json"
    request.write_text('{"prompt": "a fox"}')
    code, out, err = run_inline(monkeypatch, capsys, "--specs", str(tmp_path / "specs"), "validate",
                                "alibaba/wan-2-7-r2v", str(request))  # fmt: skip
    assert code == 0, err
    assert "valid" in out
    assert str(bad) in err and "$.spec_version" in err and "$.provider" in err
    code, _, err = run_inline(monkeypatch, capsys, "--specs", str(tmp_path / "specs"), "describe", "test/broken")
    assert code == 2 and "unknown model 'test/broken'" in err
