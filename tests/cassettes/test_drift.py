"""Drift between two recordings: a renamed status, a moved result and a new error shape are breaking.

NEW recordings are made from a shipped (sandbox-recorded) cassette by changing what
the provider answered, the way an API drifts: the old cassette still passes its
contract check, and only the comparison shows the change.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wan_engine.cassettes.drift import Tier, diff_cassettes
from wan_engine.cassettes.serializer import CassetteDocument, read_cassette, write_cassette
from wan_engine.spec.registry import SpecRegistry

ROOT = Path(__file__).resolve().parents[2]
OLD = ROOT / "cassettes" / "alibaba" / "wan-2-7-r2v" / "success-reference-videos.yaml"


def bodies(document: CassetteDocument) -> list[dict[str, Any]]:
    """The response body holders of every API (non-media) answer."""
    found = []
    for interaction in document.interactions:
        body = interaction["response"].get("body") or {}
        if isinstance(body.get("string"), str) and body["string"].startswith("{"):
            found.append(body)
    return found


def drifted(tmp_path: Path, name: str, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of OLD whose JSON answers were passed through ``change``."""
    document = read_cassette(OLD)
    for body in bodies(document):
        answer = json.loads(body["string"])
        change(answer)
        body["string"] = json.dumps(answer)
    path = tmp_path / f"{name}.yaml"
    write_cassette(document, path)
    return path


def rename_status(answer: dict[str, Any]) -> None:
    if answer.get("status") == "generating":
        answer["status"] = "rendering"


def move_result(answer: dict[str, Any]) -> None:
    if isinstance(answer.get("video"), dict):
        answer["output"] = {"video_url": answer["video"]["url"]}
        answer["video"] = None


def add_field(answer: dict[str, Any]) -> None:
    answer["queue_position"] = 3


def with_error(tmp_path: Path, name: str, error_body: dict[str, Any]) -> Path:
    """OLD plus one status read answered 500 with ``error_body``."""
    document = read_cassette(OLD)
    poll = next(i for i in document.interactions if i["request"]["method"] == "GET")
    extra = copy.deepcopy(poll)
    extra["response"]["status"] = {"code": 500, "message": "Internal Server Error"}
    extra["response"]["body"] = {"string": json.dumps(error_body)}
    document.raw["interactions"].insert(document.interactions.index(poll), extra)
    path = tmp_path / f"{name}.yaml"
    write_cassette(document, path)
    return path


def test_the_same_recording_shows_no_drift(registry: SpecRegistry) -> None:
    report = diff_cassettes(OLD, OLD, registry)
    assert report.findings == () and report.exit_code == 0


def test_a_renamed_status_is_breaking_with_the_mapping_to_add(registry: SpecRegistry, tmp_path: Path) -> None:
    report = diff_cassettes(OLD, drifted(tmp_path, "renamed", rename_status), registry)
    [finding] = [f for f in report.findings if f.kind == "statuses" and f.tier is Tier.BREAKING]
    assert "'rendering'" in finding.message and "'generating'" in finding.message
    assert finding.suggestion == 'add "rendering": "running" to the provider\'s "statuses"'
    assert report.exit_code == 1


def test_a_moved_result_is_breaking_with_the_new_pointer(registry: SpecRegistry, tmp_path: Path) -> None:
    report = diff_cassettes(OLD, drifted(tmp_path, "moved", move_result), registry)
    [finding] = [f for f in report.findings if f.kind == "result"]
    assert finding.tier is Tier.BREAKING
    assert "$.video.url" in finding.message and "$.output.video_url" in finding.message
    assert finding.suggestion == 'point the provider\'s "result.video_url" at "/output/video_url"'
    assert report.highest is Tier.BREAKING


def test_a_new_error_shape_the_spec_cannot_read_is_breaking(registry: SpecRegistry, tmp_path: Path) -> None:
    old = with_error(tmp_path, "old-error", {"message": "overloaded, try again", "code": "overloaded"})
    new = with_error(tmp_path, "new-error", {"err": {"detail": "overloaded, try again"}})
    report = diff_cassettes(old, new, registry)
    [finding] = [f for f in report.findings if f.kind == "errors"]
    assert finding.tier is Tier.BREAKING and finding.where == "status 500"
    assert "no longer finds a message" in finding.message
    assert finding.suggestion == 'add "/err/detail" to the provider\'s "errors.message"'


def test_a_new_field_is_notable_and_more_polls_informational(registry: SpecRegistry, tmp_path: Path) -> None:
    report = diff_cassettes(OLD, drifted(tmp_path, "added", add_field), registry)
    assert {f.tier for f in report.findings} == {Tier.NOTABLE}
    assert any(f.where.endswith("$.queue_position") for f in report.findings)
    assert report.exit_code == 4
    document = read_cassette(OLD)
    polls = [i for i in document.interactions if i["request"]["method"] == "GET"]
    document.raw["interactions"].insert(document.interactions.index(polls[0]), copy.deepcopy(polls[0]))
    write_cassette(document, tmp_path / "one-more-poll.yaml")
    more = diff_cassettes(OLD, tmp_path / "one-more-poll.yaml", registry)
    assert [(f.tier, f.kind) for f in more.findings] == [(Tier.INFORMATIONAL, "timing")]
    assert more.exit_code == 5


def command() -> list[str]:
    script = Path(sys.executable).with_name("wan-engine")
    found = str(script) if script.exists() else shutil.which("wan-engine")
    assert found, "the wan-engine executable is not installed beside this interpreter"
    return [found]


@pytest.mark.e2e
def test_the_installed_command_exits_by_tier(tmp_path: Path) -> None:
    cases = {
        "same": (OLD, 0),
        "renamed": (drifted(tmp_path, "renamed", rename_status), 1),
        "moved": (drifted(tmp_path, "moved", move_result), 1),
        "added": (drifted(tmp_path, "added", add_field), 4),
    }
    env = {k: v for k, v in os.environ.items() if k != "WAN_ENGINE_SPEC_PATH"}
    runs = {
        name: subprocess.Popen(
            [*command(), "contract", "diff", str(OLD), str(new), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name, (new, _code) in cases.items()
    }
    for name, process in runs.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == cases[name][1], (name, out, err)
        report = json.loads(out)
        assert report["model"] == "alibaba/wan-2-7-r2v"
        assert (report["highest"] is None) == (name == "same"), report
    text = subprocess.run(
        [*command(), "contract", "diff", str(OLD), str(cases["renamed"][0])], capture_output=True, text=True, env=env
    )
    assert "breaking" in text.stdout and "suggested spec change" in text.stdout and "Traceback" not in text.stderr


def test_a_recording_is_compared_with_the_docs_example_answers(registry: SpecRegistry) -> None:
    """Either side may be a docs example fixture (source: docs): the page's answers as a session."""
    recording = ROOT / "cassettes" / "alibaba" / "wan-2-7-t2v" / "sandbox-success.yaml"
    docs = ROOT / "tests" / "spec" / "docs_examples" / "alibaba__wan-2-7-t2v.json"
    report = diff_cassettes(recording, docs, registry)
    assert report.model == "alibaba/wan-2-7-t2v"
    assert not [f for f in report.findings if f.kind in ("result", "statuses") and f.tier is Tier.BREAKING]
    # What the sandbox answers and the page does not show is named, field by field.
    assert any(f.kind == "shape" and f.where == "status 200 $.video.file_size" for f in report.findings)
    assert diff_cassettes(docs, docs, registry).findings == ()
