"""``wan-engine plugins`` and sink lookup by name: built-ins and third parties alike, failures named."""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterable

import pytest
from click.testing import CliRunner

from wan_engine import plugins
from wan_engine.cli.plugins import plugins as plugins_command
from wan_engine.errors import UsageError
from wan_engine.sinks import sink_from_name
from wan_engine.sinks.file import FileSink


def with_broken_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    real = plugins._entry_points

    def entry_points(group: str) -> Iterable[importlib.metadata.EntryPoint]:
        found = list(real(group))
        if group == "wan_engine.sinks":
            found.append(importlib.metadata.EntryPoint("broken", "no_such_module_here:Sink", group))
        return found

    monkeypatch.setattr(plugins, "_entry_points", entry_points)
    monkeypatch.setattr(plugins, "_cache", {})  # scans are cached per process; start this test afresh


def test_lists_builtin_and_installed_plugins() -> None:
    result = CliRunner().invoke(plugins_command, ["--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    found = {(row["kind"], row["name"]): row for row in rows}
    assert found["sink", "file"]["distribution"] == "wan-engine"
    assert found["sink", "webhook"]["distribution"] == "wan-engine"
    assert found["sink", "s3"]["distribution"] == "wan-engine-s3"
    assert found["sink", "manifest"]["distribution"] == "wan-engine-example-sink"
    assert ("strategy", "adaptive") in found
    assert all(row["status"] == "loaded" for row in rows)


def test_a_broken_plugin_is_listed_with_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with_broken_sink(monkeypatch)
    result = CliRunner().invoke(plugins_command, ["--json"])
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.output.splitlines()]
    [failed] = [row for row in rows if row["status"] == "failed"]
    assert failed["name"] == "broken" and failed["kind"] == "sink"
    assert "ModuleNotFoundError" in failed["error"] and "no_such_module_here" in failed["error"]
    assert any(row["name"] == "file" for row in rows), "the others still load"

    table = CliRunner().invoke(plugins_command, [])
    assert "file" in table.stdout
    assert "broken" in table.stderr and "ModuleNotFoundError" in table.stderr
    assert CliRunner().invoke(plugins_command, ["--strict"]).exit_code == 1


def test_sinks_are_built_by_name(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    sink = sink_from_name("file", root=str(tmp_path), template="{id}.{ext}")
    assert isinstance(sink, FileSink) and sink.template == "{id}.{ext}"
    with pytest.raises(LookupError, match=r"no sink plugin named 'ftp'; available: .*file"):
        sink_from_name("ftp")
    with_broken_sink(monkeypatch)
    with pytest.raises(LookupError, match="failed to load: ModuleNotFoundError"):
        sink_from_name("broken")


def test_a_plugin_that_builds_no_sink_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real = plugins._entry_points

    def entry_points(group: str) -> Iterable[importlib.metadata.EntryPoint]:
        extra = [importlib.metadata.EntryPoint("notasink", "builtins:dict", group)]
        return [*real(group), *(extra if group == "wan_engine.sinks" else [])]

    monkeypatch.setattr(plugins, "_entry_points", entry_points)
    monkeypatch.setattr(plugins, "_cache", {})
    with pytest.raises(UsageError, match="neither open"):
        sink_from_name("notasink")
