"""The spend ledger sums to what the sandbox billed; budgets refuse before anything is sent.

The sandbox bills every job it creates (wan_engine/sandbox/responses.py ``job_cost``) and
reports the bill on the submit answer, as the AI/ML API does (meta.usage and the
x-aimlapi-* headers); these tests compare the journal's ledger with that bill.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.engine import KEY, MODEL, VIDEO_PARAMS, sandbox_engine

from wan_engine.client.budget import Budget
from wan_engine.client.polling import FixedInterval
from wan_engine.errors import (
    BudgetExceededError,
    JobFailedError,
    RateLimitedError,
    SubmitOutcomeUnknownError,
)
from wan_engine.journal.spend import summarize
from wan_engine.journal.sqlite_store import SqliteJournal
from wan_engine.sandbox.responses import job_cost
from wan_engine.spec.registry import SpecRegistry

CHEAP = {**VIDEO_PARAMS, "resolution": "720p", "duration": 5}  # estimated at 5 s x $0.10 = $0.50


def billed(sandbox: object, figure: str) -> float:
    return round(sum(job_cost(job)[figure] for job in sandbox.jobs.values()), 6)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "faults",
    [
        [],
        ["submit:rate_limit:times=2:retry_after=1", "status:server_error:times=3:status=502"],
        ["status:rate_limit:probability=0.3", "submit:job_fails:probability=0.5", "status:reset_after:times=2"],
    ],
)
async def test_the_ledger_sums_to_what_the_sandbox_billed(
    registry: SpecRegistry, tmp_path: Path, faults: list[str]
) -> None:
    journal = SqliteJournal(tmp_path / "jobs.sqlite3")
    async with sandbox_engine(registry, faults, duration_s=40, journal=journal) as (engine, sandbox, _clock):
        for n in range(6):
            job = await engine.submit(MODEL, {**VIDEO_PARAMS, "seed": n}, tags=["campaign"] if n % 2 else ())
            with contextlib.suppress(JobFailedError):  # job_fails: a failed job is billed too
                await job.wait(strategy=FixedInterval(10))
        assert sandbox.submission_count == 6
        charges = journal.charges()
        assert round(sum(c.usd or 0 for c in charges), 6) == billed(sandbox, "usd_spent") > 0
        assert sum(c.figures["credits_used"] for c in charges) == billed(sandbox, "credits_used")
        (total,) = summarize(charges, "total")
        assert total.reported_usd == billed(sandbox, "usd_spent") and total.possibly_billed_jobs == 0
        assert total.jobs == 6 and total.estimated_usd == 0
        tags = {line.group: line.jobs for line in summarize(charges, "tag")}
        assert tags == {"campaign": 3, "(untagged)": 3}
        # The estimate is kept beside the bill, marked as such.
        assert all(c.estimate_usd == 0.75 and "1080p" in (c.estimate_basis or "") for c in charges)
    journal.close()


async def test_an_unknown_submit_is_counted_as_possibly_billed(registry: SpecRegistry, tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "jobs.sqlite3")
    async with sandbox_engine(registry, ["submit:reset_after:times=1"], journal=journal) as (engine, sandbox, _clock):
        with pytest.raises(SubmitOutcomeUnknownError):
            await engine.submit(MODEL, CHEAP)
        await (await engine.submit(MODEL, CHEAP)).wait(strategy=FixedInterval(30))
        (total,) = summarize(journal.charges(), "total")
        # The sandbox billed both; the ledger knows one bill and counts the other at its estimate.
        assert sandbox.submission_count == 2
        assert total.possibly_billed_jobs == 1 and total.possibly_billed_usd == 0.5
        unknown_job = next(j for j in sandbox.jobs.values() if j.id not in {c.provider_id for c in journal.charges()})
        assert round(total.reported_usd + job_cost(unknown_job)["usd_spent"], 6) == billed(sandbox, "usd_spent")
    journal.close()


async def test_a_budget_refusal_sends_nothing_and_names_the_figures(registry: SpecRegistry) -> None:
    async with sandbox_engine(registry) as (_e, sandbox, clock):
        from wan_engine.client.engine import Engine

        engine = Engine(registry, base_urls=sandbox.base_urls(), env={"AIMLAPI_KEY": KEY}, clock=clock, budget=1.0)
        async with engine:
            with pytest.raises(BudgetExceededError) as caught:
                await engine.submit(MODEL, {**VIDEO_PARAMS, "duration": 10})  # 1080p by default: $1.50
        assert sandbox.submit_requests == 0
    message = str(caught.value)
    assert "budget $1:" in message and "estimated at $1.5" in message and "10 s x $0.15/s (1080p)" in message
    assert "nothing was sent" in message


async def test_a_budget_refusal_on_a_durable_engine_journals_nothing(registry: SpecRegistry, tmp_path: Path) -> None:
    from wan_engine.journal.durable import DurableEngine

    journal = SqliteJournal(tmp_path / "jobs.sqlite3")

    async with sandbox_engine(registry) as (_e, sandbox, clock):
        durable = DurableEngine(
            registry, journal=journal, base_urls=sandbox.base_urls(), env={"AIMLAPI_KEY": KEY}, clock=clock,
            budget=Budget(usd=0.4),
        )
        async with durable:
            with pytest.raises(BudgetExceededError):
                await durable.submit(MODEL, CHEAP)
        assert sandbox.submit_requests == 0
    assert journal.jobs() == []
    journal.close()


async def test_a_budget_counts_unknown_outcomes_and_not_refusals(registry: SpecRegistry) -> None:
    from wan_engine.client.engine import Engine
    from wan_engine.client.provider_client import RetryPolicy

    faults = ["submit:rate_limit:times=2:retry_after=1", "submit:reset_after:times=1"]
    async with sandbox_engine(registry, faults) as (_e, sandbox, clock):
        engine = Engine(
            registry, base_urls=sandbox.base_urls(), env={"AIMLAPI_KEY": KEY}, clock=clock,
            retry=RetryPolicy(submit_attempts=2), budget=Budget(usd=0.9),
        )
        async with engine:
            with pytest.raises(RateLimitedError):  # refused twice (429): certainly no job, costs nothing
                await engine.submit(MODEL, CHEAP)
            assert engine.budget_guard is not None and engine.budget_guard.spent_usd == 0
            with pytest.raises(SubmitOutcomeUnknownError):  # created, answer lost: possibly billed
                await engine.submit(MODEL, CHEAP)
            assert engine.budget_guard.spent_usd == 0.5
            with pytest.raises(BudgetExceededError) as caught:  # 0.5 possibly billed + 0.5 > 0.9
                await engine.submit(MODEL, CHEAP)
        assert sandbox.submit_requests == 3 and sandbox.submission_count == 1
    assert "$0.5 is spent or possibly billed" in str(caught.value)


async def test_a_reported_cost_replaces_the_estimate_in_the_budget(registry: SpecRegistry) -> None:
    from wan_engine.client.engine import Engine

    async with sandbox_engine(registry, duration_s=30) as (_e, sandbox, clock):
        engine = Engine(registry, base_urls=sandbox.base_urls(), env={"AIMLAPI_KEY": KEY}, clock=clock, budget=0.6)
        async with engine:
            await (await engine.submit(MODEL, CHEAP)).wait(strategy=FixedInterval(10))
            assert engine.budget_guard is not None
            assert engine.budget_guard.spent_usd == billed(sandbox, "usd_spent") < 0.5
            # The estimate alone would have refused this one (0.5 + 0.5 > 0.6); the bill lets it through.
            await engine.submit(MODEL, CHEAP)
        assert sandbox.submission_count == 2


async def test_an_unpriced_model_is_refused_under_a_budget_unless_allowed(registry: SpecRegistry) -> None:
    from wan_engine.client.engine import Engine

    unpriced = next(s for s in registry.models() if s.pricing is None and s.provider.id == "aimlapi")
    async with sandbox_engine(registry) as (_e, sandbox, clock):
        engine = Engine(registry, base_urls=sandbox.base_urls(), env={"AIMLAPI_KEY": KEY}, clock=clock, budget=100)
        async with engine:
            with pytest.raises(BudgetExceededError, match="no price"):
                example = unpriced.document.examples[0].params if unpriced.document.examples else {}
                await engine.submit(unpriced.id, example)
        assert sandbox.submit_requests == 0


async def test_a_budget_since_a_date_counts_the_journals_earlier_spend(registry: SpecRegistry, tmp_path: Path) -> None:
    from datetime import timedelta

    from wan_engine.journal.durable import DurableEngine

    journal = SqliteJournal(tmp_path / "jobs.sqlite3")
    async with sandbox_engine(registry, ["submit:reset_after:times=1"], journal=journal) as (first, sandbox, clock):
        with pytest.raises(SubmitOutcomeUnknownError):  # an earlier run: possibly billed, $0.50 estimated
            await first.submit(MODEL, CHEAP)
        day_start = clock.wall() - timedelta(hours=1)
        options = {"base_urls": sandbox.base_urls(), "env": {"AIMLAPI_KEY": KEY}, "clock": clock}
        capped = DurableEngine(registry, journal=journal, budget=Budget(usd=0.9, since=day_start), **options)
        async with capped:
            assert capped.budget_guard is not None and capped.budget_guard.spent_usd == 0.5
            with pytest.raises(BudgetExceededError):
                await capped.submit(MODEL, CHEAP)
        later = DurableEngine(
            registry, journal=journal, budget=Budget(usd=0.9, since=clock.wall() + timedelta(seconds=1)), **options
        )
        async with later:
            await later.submit(MODEL, CHEAP)  # the earlier job is before `since`: not counted
        assert sandbox.submit_requests == 2
    journal.close()


# The shape of a finished DashScope task query answer, after the docs' example in Model Studio's
# video API references (alibabacloud.com/help/en/model-studio/text-to-video-api-reference):
# a docs fixture, not a recording.
DASHSCOPE_FINISHED = {
    "request_id": "b67df059-0000-0000-0000-000000000000",
    "output": {
        "task_id": "task-1",
        "task_status": "SUCCEEDED",
        "video_url": "https://example.com/result.mp4",
    },
    "usage": {"video_duration": 5, "video_count": 1, "SR": 720},
}


async def test_dashscope_usage_is_kept_as_seconds_and_priced_by_estimate(registry: SpecRegistry) -> None:
    from wan_engine.client.engine import Engine
    from wan_engine.client.events import CostReported
    from wan_engine.journal.records import ChargeRecord, JournalState
    from wan_engine.spec.pricing import estimate

    spec = registry.model("dashscope/wan2.7-r2v")
    async with Engine(registry, env={}) as engine:
        job = engine.job(spec.id, "task-1")
        seen: list[object] = []
        job.on(seen.append)
        job.observe(DASHSCOPE_FINISHED)
        job.observe(DASHSCOPE_FINISHED)  # a second read of the same answer reports nothing new
    reports = [e for e in seen if isinstance(e, CostReported)]
    assert [(r.figures, r.usd, r.answer) for r in reports] == [({"video_seconds": 5}, None, "status")]
    priced = estimate(spec, {"resolution": "720P", "duration": 5})
    assert priced is not None and priced.usd == 0.5
    record = ChargeRecord("k", spec.id, JournalState.SUCCEEDED, clock_wall(), estimate_usd=priced.usd,
                          figures=reports[0].figures)  # fmt: skip
    (line,) = summarize([record], "total")
    assert line.estimated_usd == 0.5 and line.reported_usd == 0 and line.figures == {"video_seconds": 5}


def clock_wall() -> datetime:
    return datetime(2026, 12, 2, tzinfo=UTC)


def test_a_budget_since_a_date_needs_a_journal(registry: SpecRegistry) -> None:
    from wan_engine.client.engine import Engine
    from wan_engine.errors import UsageError

    with pytest.raises(UsageError, match="DurableEngine"):
        Engine(registry, env={}, budget=Budget(usd=1, since=clock_wall()))
