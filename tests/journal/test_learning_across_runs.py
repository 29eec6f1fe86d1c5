"""Polling that learns: finished jobs teach the learned strategy, the journal keeps the lesson, the ETA uses it.

Against the sandbox on virtual time: each job takes ``duration_s`` of sandbox time, so
what the engine learns can be checked against what really happened.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.engine import MODEL, VIDEO_PARAMS, sandbox_engine
from wan_engine.client.events import Event, Progress
from wan_engine.client.learned_polling import Learned
from wan_engine.client.polling import FixedInterval, PollContext
from wan_engine.journal.durable import DurableEngine
from wan_engine.journal.durations import learned_from
from wan_engine.journal.sqlite_store import SqliteJournal
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState

DURATION = 300.0


async def test_a_finished_job_teaches_the_strategy_that_polled_it(registry: SpecRegistry) -> None:
    learned = Learned()
    async with sandbox_engine(registry, duration_s=DURATION) as (engine, _sandbox, _clock):
        job = await engine.submit(MODEL, VIDEO_PARAMS)
        result = await job.wait(strategy=learned)
    between = result.timings.finished_between_s
    assert between is not None
    after, by = between
    assert after < DURATION <= by  # the sandbox's real duration lies between the last two reads
    estimate = learned.durations.estimate(MODEL, VIDEO_PARAMS, typical_s=9999.0)
    assert estimate.observations >= 1
    assert after <= estimate.median_s <= 9999.0  # pulled from the 9999 s prior toward what was seen


async def test_a_job_seen_only_once_finished_teaches_nothing(registry: SpecRegistry) -> None:
    learned = Learned()
    async with sandbox_engine(registry, duration_s=DURATION) as (engine, _sandbox, clock):
        job = await engine.submit(MODEL, VIDEO_PARAMS)
        await clock.sleep(DURATION * 2)  # it finished before the first read: when, nobody knows
        result = await job.wait(strategy=learned)
    assert result.timings.finished_between_s is None
    assert learned.durations.estimate(MODEL, None, typical_s=100.0).observations == 0


async def test_the_progress_eta_comes_from_the_learned_distribution(registry: SpecRegistry) -> None:
    learned = Learned()
    for _ in range(50):  # a history of ~1,000 s jobs, though the spec's hint says otherwise
        learned.observe_between(MODEL, None, 990.0, 1010.0)
    events: list[Event] = []
    async with sandbox_engine(registry, duration_s=DURATION) as (engine, _sandbox, _clock):
        job = await engine.submit(MODEL, VIDEO_PARAMS)
        job.on(events.append)
        await job.wait(strategy=learned)
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress
    hint = engine.spec(MODEL).polling.typical_duration_s
    for event in progress:
        assert event.expected_total_s is not None and event.expected_total_s > event.elapsed_s
        assert event.expected_total_s != hint
        assert event.expected_total_s == pytest.approx(1000.0, rel=0.05)  # not yet past the learned time


def test_the_expected_total_is_conditional_on_the_time_waited() -> None:
    learned = Learned()
    for seconds in (400.0, 500.0, 600.0) * 20:
        learned.observe(MODEL, None, seconds)
    hints = SpecRegistry.discover().model(MODEL).polling

    def total(elapsed: float) -> float:
        ctx = PollContext(elapsed_s=elapsed, polls=1, state=JobState.RUNNING, hints=hints, model=MODEL)
        value = learned.expected_total_s(ctx)
        assert value is not None
        return value

    assert total(0.0) == pytest.approx(500, rel=0.05)
    assert total(700.0) > 700.0  # past the usual time: expected a little later, never in the past
    assert total(0.0) < total(550.0) < total(700.0)


async def test_the_journal_keeps_the_lesson_for_the_next_process(registry: SpecRegistry, tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with SqliteJournal(path) as journal:
        assert learned_from(journal) is None
        async with sandbox_engine(registry, duration_s=DURATION, journal=journal) as (engine, _sandbox, _clock):
            for _ in range(3):
                job = await engine.submit(MODEL, VIDEO_PARAMS)
                await job.wait(strategy=FixedInterval(20.0))
                key = engine.journal_key(job) if isinstance(engine, DurableEngine) else None
                assert key is not None
                record = journal.get(key)
                assert record is not None and record.result is not None
                assert record.result.finished_between_s is not None
                after, by = record.result.finished_between_s
                assert after < DURATION <= by <= after + 20.0 + 1e-6

    with SqliteJournal(path) as journal:  # a new process on the same journal
        learned = learned_from(journal)
        assert learned is not None
        estimate = learned.durations.estimate(MODEL, VIDEO_PARAMS, typical_s=5000.0)
        assert estimate.observations == 3
        engine = DurableEngine(registry, journal=journal, env={})
        assert isinstance(engine.default_strategy, Learned)
        assert engine.strategy_for("learned") is engine.default_strategy
        assert isinstance(DurableEngine(registry, journal=journal, env={}, strategy="fixed").default_strategy, str)
        await engine.close()


def test_an_engine_on_a_journal_without_history_polls_adaptively(registry: SpecRegistry, tmp_path: Path) -> None:
    with SqliteJournal(tmp_path / "empty.sqlite3") as journal:
        assert DurableEngine(registry, journal=journal, env={}).default_strategy == "adaptive"
