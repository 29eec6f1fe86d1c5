"""Failover moves on only after a verified failure; under timeouts and unknown outcomes it never submits again."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.engine import KEY, VIDEO_PARAMS, sandbox_engine

from wan_engine.client.engine import Engine
from wan_engine.client.failover import Hop
from wan_engine.client.polling import FixedInterval
from wan_engine.client.provider_client import RetryPolicy, Timeouts
from wan_engine.errors import (
    DeadlineExceededError,
    JobFailedError,
    ServerError,
    SubmitOutcomeUnknownError,
)
from wan_engine.journal.sqlite_store import SqliteJournal
from wan_engine.spec.registry import SpecRegistry

PRIMARY = "alibaba/wan-2-7-r2v"
FALLBACK = "alibaba/wan-2-6-r2v"
THIRD = "bytedance/seedance-2-0"


async def test_a_failed_primary_moves_to_the_fallback(registry: SpecRegistry) -> None:
    hops: list[Hop] = []
    async with sandbox_engine(registry, [f"submit:job_fails:model={PRIMARY}"], duration_s=30) as (e, sandbox, _c):
        result = await e.run(PRIMARY, VIDEO_PARAMS, fallback=[FALLBACK], strategy=FixedInterval(10), on_hop=hops.append)
        assert result.model == FALLBACK
        assert sandbox.submissions == {PRIMARY: 1, FALLBACK: 1}
    (hop,) = hops
    assert (hop.from_model, hop.to_model, hop.reason) == (PRIMARY, FALLBACK, "failed") and hop.from_job


async def test_a_refused_primary_moves_on_without_a_job(registry: SpecRegistry) -> None:
    hops: list[Hop] = []
    faults = [f"submit:rate_limit:model={PRIMARY}"]
    async with sandbox_engine(registry, faults, duration_s=30, retry=RetryPolicy(submit_attempts=2)) as (
        e, sandbox, _c,
    ):
        result = await e.run(PRIMARY, VIDEO_PARAMS, fallback=[FALLBACK], strategy=FixedInterval(10), on_hop=hops.append)
        assert result.model == FALLBACK and sandbox.submissions == {FALLBACK: 1}
    assert [(h.reason, h.from_job) for h in hops] == [("refused", None)]


async def test_every_fallback_is_tried_in_turn_and_the_last_failure_is_raised(registry: SpecRegistry) -> None:
    async with sandbox_engine(registry, ["submit:job_fails"], duration_s=30) as (e, sandbox, _c):
        with pytest.raises(JobFailedError):
            await e.run(PRIMARY, VIDEO_PARAMS, fallback=[FALLBACK, THIRD], strategy=FixedInterval(10))
        assert sandbox.submissions == {PRIMARY: 1, FALLBACK: 1, THIRD: 1}


@pytest.mark.parametrize(
    "fault",
    [
        "submit:reset_after:times=1",  # created, answer lost
        "submit:malformed_json:times=1",  # created, answer garbled
        "submit:server_error:status=500:times=1",  # may have come after the job was created
        "submit:hang:times=1",  # the read timeout: nobody knows
        "submit:slow:times=1:delay=0.5",  # answered after the client gave up
    ],
)
async def test_an_unknown_submit_outcome_never_fails_over(registry: SpecRegistry, fault: str) -> None:
    async with sandbox_engine(registry, [fault]) as (_e, sandbox, clock):
        engine = Engine(
            registry, base_urls=sandbox.base_urls(), env={"AIMLAPI_KEY": KEY}, clock=clock,
            timeouts=Timeouts(connect_s=1, read_s=0.2),
        )
        async with engine:
            with pytest.raises(SubmitOutcomeUnknownError):
                await engine.run(PRIMARY, VIDEO_PARAMS, fallback=[FALLBACK, THIRD])
        assert sandbox.submit_requests == 1 and FALLBACK not in sandbox.submissions


async def test_a_deadline_never_fails_over(registry: SpecRegistry) -> None:
    async with sandbox_engine(registry, duration_s=600) as (e, sandbox, _c):
        with pytest.raises(DeadlineExceededError):
            await e.run(PRIMARY, VIDEO_PARAMS, fallback=[FALLBACK], strategy=FixedInterval(10), deadline=60)
        assert sandbox.submissions == {PRIMARY: 1}


async def test_status_reads_that_keep_failing_never_fail_over(registry: SpecRegistry) -> None:
    faults = [f"status:server_error:status=503:model={PRIMARY}"]
    async with sandbox_engine(registry, faults, duration_s=30, retry=RetryPolicy(attempts=2)) as (e, sandbox, _c):
        with pytest.raises(ServerError):
            await e.run(PRIMARY, VIDEO_PARAMS, fallback=[FALLBACK], strategy=FixedInterval(10))
        assert sandbox.submissions == {PRIMARY: 1}


async def test_hops_are_journaled_and_a_rerun_with_the_key_pays_for_nothing(
    registry: SpecRegistry, tmp_path: Path
) -> None:
    journal = SqliteJournal(tmp_path / "jobs.sqlite3")
    faults = [f"submit:job_fails:model={PRIMARY}"]
    async with sandbox_engine(registry, faults, duration_s=30, journal=journal) as (e, sandbox, _c):
        first = await e.run(PRIMARY, VIDEO_PARAMS, fallback=[FALLBACK], strategy=FixedInterval(10), idempotency_key="r")
        again = await e.run(PRIMARY, VIDEO_PARAMS, fallback=[FALLBACK], strategy=FixedInterval(10), idempotency_key="r")
        assert again.job_id == first.job_id and sandbox.submissions == {PRIMARY: 1, FALLBACK: 1}
    failed, replacement = sorted(journal.jobs(), key=lambda r: r.created_at)
    assert failed.model == PRIMARY and replacement.model == FALLBACK
    # One hop a run, journaled on both jobs; the re-run's hop found the fallback's job under its key.
    hops_from = [h for h in journal.history(failed.key) if h.event == "failover_from"]
    hops_to = [h for h in journal.history(replacement.key) if h.event == "failover_to"]
    assert len(hops_from) == len(hops_to) == 2
    hop_to = hops_to[0]
    assert [h.detail for h in hops_from] == [h.detail for h in hops_to]
    assert hop_to.detail["from_job"] == failed.provider_id and hop_to.detail["to_job"] == replacement.provider_id
    journal.close()
