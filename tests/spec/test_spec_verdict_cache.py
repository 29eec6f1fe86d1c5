"""The on-disk cache of spec-format verdicts: a hit skips the check, anything doubtful checks again."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from wan_engine.errors import SpecError
from wan_engine.spec import files


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(files.CACHE_ENV, str(tmp_path / "cache"))
    files._format_problems.cache_clear()  # the in-process layer would hide the disk
    return tmp_path / "cache" / "spec-verdicts"


def a_spec_text() -> str:
    path = next(p for p in sorted(files.bundled_specs_dir().rglob("*.json")) if "meta" not in p.parts)
    return path.read_text(encoding="utf-8")


def count_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = files.schema_problems

    def counting(validator: Any, document: Any) -> Any:
        calls.append(1)
        return real(validator, document)

    monkeypatch.setattr(files, "schema_problems", counting)
    return calls


def markers(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file()]


def test_a_valid_verdict_is_checked_once_across_processes(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_checks(monkeypatch)
    text = a_spec_text()
    assert files._format_problems(text) == ()
    files._format_problems.cache_clear()  # as a new process would start
    assert files._format_problems(text) == ()
    assert len(calls) == 1
    assert len(markers(cache)) == 1


def test_an_edited_file_is_checked_afresh(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_checks(monkeypatch)
    text = a_spec_text()
    files._format_problems(text)
    document = json.loads(text)
    document["kind"] = "not-a-kind"
    assert files._format_problems(json.dumps(document)) != ()
    assert len(calls) == 2


@pytest.mark.parametrize("damage", ["", "garbage", "\xff\xfe", "truncat"])
def test_a_damaged_marker_is_a_miss(cache: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    text = a_spec_text()
    files._format_problems(text)
    (marker,) = markers(cache)
    marker.write_bytes(damage.encode("latin-1"))
    files._format_problems.cache_clear()
    calls = count_checks(monkeypatch)
    assert files._format_problems(text) == ()
    assert len(calls) == 1, "checked again, then remembered again"
    assert marker.read_text() == marker.name


def test_problems_are_never_cached(cache: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "model", "format_version": 1}))
    for _ in range(2):
        files._format_problems.cache_clear()
        with pytest.raises(SpecError):
            files.load_file(bad)
    assert markers(cache) == []


def test_concurrent_writers_leave_one_whole_marker(cache: Path) -> None:
    key = files._verdict_key(a_spec_text())
    barrier = threading.Barrier(8)

    def write() -> None:
        barrier.wait()
        for _ in range(20):
            files._remember_valid(key)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [p.read_text() for p in markers(cache)] == [key]
    assert files._cached_as_valid(key)


def test_an_unwritable_cache_only_costs_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    monkeypatch.setenv(files.CACHE_ENV, str(blocker))
    files._format_problems.cache_clear()
    assert not files._format_problems(a_spec_text())  # checked, not cached, and no error
    assert blocker.is_file() and blocker.read_text() == ""


def test_the_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(files.CACHE_ENV, "off")
    assert files.verdict_cache_dir() is None
    files._format_problems.cache_clear()
    calls = count_checks(monkeypatch)
    text = a_spec_text()
    files._format_problems(text)
    files._format_problems.cache_clear()
    files._format_problems(text)
    assert len(calls) == 2
