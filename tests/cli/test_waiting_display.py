"""What a user sees while waiting: a clock that ticks, "remaining" only while running, an honest Ctrl-C."""

from __future__ import annotations

import io
from typing import Any, cast

import attrs
import pytest
from rich.console import Console

from wan_engine.cli.generate import _ask_about_cancel, _provider_message
from wan_engine.cli.progress import LiveView, PlainView
from wan_engine.client.events import Failed, Progress, StatusChanged, Submitted
from wan_engine.client.job import Job
from wan_engine.errors import JobFailedError
from wan_engine.spec.model import ModelSpec
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _view() -> tuple[LiveView, FakeClock]:
    clock = FakeClock()
    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    view = LiveView("m", console=console, now=clock)
    view.event(Submitted("job-1", "m", 0.0))
    return view, clock


def test_elapsed_ticks_between_polls_and_stops_at_the_end() -> None:
    view, clock = _view()
    try:
        view.event(StatusChanged("job-1", None, JobState.QUEUED, "queued", 0.0))
        view.event(Progress("job-1", 5.0, 1, 60.0, None, 0.0))
        clock.t += 3  # no poll for 3 s (adaptive polling may wait minutes)
        assert "elapsed 8 s" in view._render().plain
        assert "remaining" not in view._render().plain  # queued: a queue wait says nothing about the rest
        view.event(StatusChanged("job-1", JobState.QUEUED, JobState.RUNNING, "generating", 0.0))
        clock.t += 2
        assert "elapsed 10 s" in view._render().plain
        assert "expected remaining ~50 s" in view._render().plain
        view.event(StatusChanged("job-1", JobState.RUNNING, JobState.SUCCEEDED, "done", 0.0))
        clock.t += 30
        text = view._render().plain
        assert "elapsed 10 s" in text and "remaining" not in text
    finally:
        view.close()


def test_a_failed_job_shows_failed_not_its_message_again() -> None:
    view, _clock = _view()
    view.event(Failed("job-1", JobFailedError("job-1", "content policy"), 0.0))
    assert "content policy" not in view._render().plain
    view.close()
    out = io.StringIO()
    PlainView(out).event(Failed("job-1", JobFailedError("job-1", "content policy"), 0.0))
    assert out.getvalue() == "job job-1: failed\n"
    journaled = str(JobFailedError("job-1", "content policy", "E42"))
    assert str(JobFailedError("job-1", _provider_message("job-1", journaled))) == journaled


@attrs.define
class StandInJob:
    """Just what the Ctrl-C handler reads from a job."""

    spec: ModelSpec
    state: JobState | None
    id: str = "job-1"
    cancelled: bool = False

    @property
    def model(self) -> str:
        return self.spec.id

    async def cancel(self) -> bool:
        self.cancelled = True
        return True


class Messages:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.closed = False

    def message(self, text: str, **fields: Any) -> None:
        self.lines.append(text)

    def close(self) -> None:
        self.closed = True

    def event(self, event: Any) -> None: ...

    def downloaded(self, done: int, total: int | None) -> None: ...


@pytest.fixture
def dashscope(registry: SpecRegistry) -> ModelSpec:
    spec = next(s for s in registry.models() if s.provider.id == "dashscope")
    assert spec.provider.cancel is not None and spec.provider.cancellable_states == [JobState.QUEUED]
    return spec


async def _ctrl_c(job: StandInJob, monkeypatch: pytest.MonkeyPatch, *, sandboxed: bool = False) -> Messages:
    asked: list[str] = []

    def confirm(text: str, default: bool) -> bool:
        asked.append(text)
        return True

    monkeypatch.setattr("click.confirm", confirm)
    view = Messages()
    await _ask_about_cancel(cast(Job, job), "key1", view, True, sandboxed=sandboxed)
    assert view.closed  # the live line is gone before any prompt
    view.lines[:0] = [f"asked: {a}" for a in asked]
    return view


async def test_cancel_is_offered_only_in_a_cancellable_state(
    dashscope: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued = StandInJob(dashscope, JobState.QUEUED)
    lines = (await _ctrl_c(queued, monkeypatch)).lines
    assert queued.cancelled and lines[0] == "asked: Cancel job job-1 on the provider?"
    running = StandInJob(dashscope, JobState.RUNNING)
    lines = (await _ctrl_c(running, monkeypatch)).lines
    assert not running.cancelled and not any(line.startswith("asked") for line in lines)
    assert "cannot cancel a running job" in lines[0] and "wan-engine resume key1" in lines[-1]


async def test_ctrl_c_on_a_sandbox_job_says_it_ended_with_the_process(
    dashscope: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = StandInJob(dashscope, JobState.RUNNING)
    lines = (await _ctrl_c(job, monkeypatch, sandboxed=True)).lines
    assert lines == [
        f"job {job.id} ran in this process's sandbox and ended with it: nothing keeps running or is billed."
    ]
