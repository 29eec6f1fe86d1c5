"""The pytest plugin, as an app's test suite uses it: run with pytester on a complete example."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
from pathlib import Path

import pytest

# Imported here, before pytester runs: an in-process run forgets the modules it imported, and
# PyYAML's C extension cannot be imported twice cleanly (its loader would lose its constructors).
import wan_engine.cassettes
import wan_engine.pytest_plugin  # noqa: F401

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
MODEL = "alibaba/wan-2-7-r2v"
DOC = ROOT / "docs" / "testing-offline.md"


def example_from_the_docs() -> str:
    """The example test in docs/testing-offline.md, so the documentation is what is tested."""
    match = re.search(r"```python\n# test_video_app\.py\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert match, f"no example test in {DOC}"
    return match.group(1)


def plugin_args() -> list[str]:
    installed = any(ep.value == "wan_engine.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11"))
    return [] if installed else ["-p", "wan_engine.pytest_plugin"]


@pytest.fixture
def app(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user's project: their pytest config, some cassettes, and the example test."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    source = ROOT / "cassettes" / MODEL
    target = pytester.path / "cassettes" / MODEL
    target.mkdir(parents=True)
    for name in ("success-reference-videos", "job-fails"):
        shutil.copy(source / f"{name}.yaml", target / f"{name}.yaml")
    pytester.makepyfile(test_video_app=example_from_the_docs())
    return pytester


def test_the_documented_example_passes(app: pytest.Pytester) -> None:
    result = app.runpytest(*plugin_args(), "-W", "error::ResourceWarning")
    result.assert_outcomes(passed=4)


def test_the_cassette_folder_option_and_a_missing_cassette(app: pytest.Pytester) -> None:
    moved = app.path / "recorded"
    (app.path / "cassettes").rename(moved)
    app.makepyfile(
        test_missing="""
        import pytest

        def test_missing(wan_replay):
            with pytest.raises(FileNotFoundError, match="no cassette 'alibaba/wan-2-7-r2v/nope'"):
                wan_replay("alibaba/wan-2-7-r2v/nope")
        """
    )
    result = app.runpytest(*plugin_args(), "--wan-cassettes", str(moved), "-k", "gets_a_video_url or missing")
    result.assert_outcomes(passed=2)


def test_a_breach_fails_the_users_contract_test(app: pytest.Pytester) -> None:
    path = app.path / "cassettes" / MODEL / "success-reference-videos.yaml"
    path.write_text(path.read_text().replace('"status": "completed"', '"status": "finished"'))
    result = app.runpytest(*plugin_args(), "-k", "contract")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*interactions*.response $.status: 'finished' is not a status the spec maps*"])


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '[project.entry-points.pytest11]\n' in text
    assert 'wan_engine = "wan_engine.pytest_plugin"' in text


def test_the_contract_assertion_finds_cassettes_in_the_folder_option(
    app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAN_ENGINE_CASSETTES", "")  # the in-process run sets it; restored afterwards
    moved = app.path / "recorded"
    (app.path / "cassettes").rename(moved)
    app.makepyfile(
        test_contract_by_name="""
        from wan_engine.cassettes import assert_cassette_keeps_contract

        def test_by_name():
            report = assert_cassette_keeps_contract("alibaba/wan-2-7-r2v/success-reference-videos")
            assert report.cassettes == 1
        """
    )
    result = app.runpytest(*plugin_args(), "--wan-cassettes", str(moved), "-k", "by_name")
    result.assert_outcomes(passed=1)


RECORDING_APP = """
import os

from wan_engine import FixedInterval


async def test_the_app_makes_a_video(wan_replay):
    engine = wan_replay("alibaba/wan-2-7-r2v/my-session", base_url=os.environ.get("SANDBOX_URL"))
    async with engine:
        result = await engine.run(
            "alibaba/wan-2-7-r2v", prompt="Video 1 dances", video_urls=["https://example.com/r.mp4"],
            strategy=FixedInterval(0.05),
        )
    assert result.video_url.endswith(".mp4")
"""


def test_record_modes_record_once_replay_offline_and_rerecord_keeping_history(
    app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wan_engine.cassettes.serializer import read_cassette
    from wan_engine.sandbox import SandboxConfig, running_in_thread
    from wan_engine.spec.registry import SpecRegistry

    key = "sk-record-modes-0123456789"
    app.makepyfile(test_recording_app=RECORDING_APP)
    cassette = app.path / "cassettes" / MODEL / "my-session.yaml"
    monkeypatch.setenv("AIMLAPI_KEY", key)
    with running_in_thread(SpecRegistry.discover(), SandboxConfig(duration_s=0.2, api_key=key)) as sandbox:
        monkeypatch.setenv("SANDBOX_URL", sandbox.base_url("aimlapi"))
        first = app.runpytest(*plugin_args(), "--wan-record-mode=once", "-k", "makes_a_video")
        first.assert_outcomes(passed=1)
        assert cassette.exists() and sandbox.submission_count == 1
        again = app.runpytest(*plugin_args(), "--wan-record-mode=once", "-k", "makes_a_video")
        again.assert_outcomes(passed=1)
        assert sandbox.submission_count == 1, "once: an existing cassette is replayed, nothing is sent"
        rerecorded = app.runpytest(*plugin_args(), "--wan-record-mode=all", "-k", "makes_a_video")
        rerecorded.assert_outcomes(passed=1)
        assert sandbox.submission_count == 2
    # The sandbox is gone: the default mode replays with the network off.
    offline = app.runpytest(*plugin_args(), "-k", "makes_a_video")
    offline.assert_outcomes(passed=1)
    text = cassette.read_text()
    assert key not in text
    origin = read_cassette(cassette).provenance_block
    assert origin["source"] == "sandbox" and origin["model"] == MODEL
    assert len(origin["history"]) == 1 and origin["history"][0]["source"] == "sandbox"
    assert origin["history"][0]["recorded_at"] <= origin["recorded_at"]
    from wan_engine.cassettes.contract import check_cassette

    report = check_cassette(cassette)
    assert report.ok, report.breaches
