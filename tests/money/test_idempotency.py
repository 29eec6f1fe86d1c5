"""Idempotency keys in the library: one job per key and request, whatever the faults (Stripe's model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.engine import KEY, MODEL, VIDEO_PARAMS, sandbox_engine

from wan_engine.client.engine import Engine
from wan_engine.client.idempotency import KeyPolicy
from wan_engine.client.provider_client import RetryPolicy
from wan_engine.errors import IdempotencyKeyMismatchError, RateLimitedError, SubmitOutcomeUnknownError
from wan_engine.journal.durable import DurableEngine
from wan_engine.journal.sqlite_store import SqliteJournal
from wan_engine.spec.registry import SpecRegistry


async def test_the_same_key_and_parameters_return_the_first_job(registry: SpecRegistry) -> None:
    async with sandbox_engine(registry) as (engine, sandbox, _clock):
        first = await engine.submit(MODEL, VIDEO_PARAMS, idempotency_key="k")
        again = await engine.submit(MODEL, dict(VIDEO_PARAMS), idempotency_key="k")
        assert again.id == first.id and again.idempotent_replay and not first.idempotent_replay
        # Defaults are part of the request: spelling one out is still the same request.
        explicit = await engine.submit(MODEL, {**VIDEO_PARAMS, "resolution": "1080p"}, idempotency_key="k")
        assert explicit.id == first.id
        assert sandbox.submission_count == 1 and sandbox.submit_requests == 1


async def test_the_same_key_with_other_parameters_names_both(registry: SpecRegistry) -> None:
    async with sandbox_engine(registry) as (engine, sandbox, _clock):
        first = await engine.submit(MODEL, VIDEO_PARAMS, idempotency_key="k")
        with pytest.raises(IdempotencyKeyMismatchError) as caught:
            await engine.submit(MODEL, {**VIDEO_PARAMS, "prompt": "another"}, idempotency_key="k")
        assert sandbox.submission_count == 1
    message = str(caught.value)
    assert f"(job {first.id})" in message and "prompt: 'Video 1 dances' then, 'another' now" in message


async def test_a_signed_url_in_a_differing_parameter_is_not_quoted(registry: SpecRegistry) -> None:
    signed = "https://bucket.example.com/ref.mp4?X-Amz-Signature=deadbeefcafe&X-Amz-Credential=AKIA123"
    async with sandbox_engine(registry) as (engine, _sandbox, _clock):
        await engine.submit(MODEL, VIDEO_PARAMS, idempotency_key="k")
        with pytest.raises(IdempotencyKeyMismatchError) as caught:
            await engine.submit(MODEL, {**VIDEO_PARAMS, "video_urls": [signed]}, idempotency_key="k")
    assert "deadbeefcafe" not in str(caught.value) and "AKIA123" not in str(caught.value)


async def test_a_certainly_refused_submit_frees_its_key(registry: SpecRegistry) -> None:
    async with sandbox_engine(registry, ["submit:rate_limit:times=2"], retry=RetryPolicy(submit_attempts=2)) as (
        engine, sandbox, _clock,
    ):
        with pytest.raises(RateLimitedError):
            await engine.submit(MODEL, VIDEO_PARAMS, idempotency_key="k")
        job = await engine.submit(MODEL, VIDEO_PARAMS, idempotency_key="k")  # no job existed: sent now
        assert not job.idempotent_replay and sandbox.submission_count == 1


UNKNOWN_OUTCOMES = ["submit:reset_after:times=1", "submit:malformed_json:times=1", "submit:hang:times=1"]


@pytest.mark.parametrize("fault", UNKNOWN_OUTCOMES)
async def test_an_unknown_outcome_holds_its_key_and_nothing_is_sent_again(registry: SpecRegistry, fault: str) -> None:
    from wan_engine.client.provider_client import Timeouts

    async with sandbox_engine(registry, [fault]) as (_e, sandbox, clock):
        engine = Engine(
            registry, base_urls=sandbox.base_urls(), env={"AIMLAPI_KEY": KEY}, clock=clock,
            timeouts=Timeouts(connect_s=1, read_s=0.2),
        )
        async with engine:
            with pytest.raises(SubmitOutcomeUnknownError):
                await engine.submit(MODEL, VIDEO_PARAMS, idempotency_key="k")
            with pytest.raises(SubmitOutcomeUnknownError, match="idempotency key 'k' names an earlier submit"):
                await engine.submit(MODEL, VIDEO_PARAMS, idempotency_key="k")
        assert sandbox.submit_requests == 1


async def test_a_key_expires_by_policy(registry: SpecRegistry) -> None:
    async with sandbox_engine(registry) as (engine, sandbox, clock):
        engine.key_policy = KeyPolicy(ttl_s=3600)
        first = await engine.submit(MODEL, VIDEO_PARAMS, idempotency_key="k")
        clock.advance(3599)
        assert (await engine.submit(MODEL, VIDEO_PARAMS, idempotency_key="k")).id == first.id
        clock.advance(2)
        later = await engine.submit(MODEL, {**VIDEO_PARAMS, "prompt": "new"}, idempotency_key="k")
        assert later.id != first.id and sandbox.submission_count == 2


async def test_engines_sharing_a_journal_file_share_keys(registry: SpecRegistry, tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    one, two = SqliteJournal(path), SqliteJournal(path)
    async with sandbox_engine(registry) as (_e, sandbox, clock):
        options = {"base_urls": sandbox.base_urls(), "env": {"AIMLAPI_KEY": KEY}, "clock": clock}
        a, b = DurableEngine(registry, journal=one, **options), DurableEngine(registry, journal=two, **options)
        async with a, b:
            first = await a.submit(MODEL, VIDEO_PARAMS, idempotency_key="shared")
            again = await b.submit(MODEL, VIDEO_PARAMS, idempotency_key="shared")
        assert again.id == first.id and sandbox.submission_count == 1
    assert len(one.jobs()) == 1  # the replay journaled no second job
    one.close()
    two.close()


async def test_keys_and_the_ledger_keep_no_secret_in_the_journal(registry: SpecRegistry, tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    journal = SqliteJournal(path)
    async with sandbox_engine(registry, duration_s=30, journal=journal) as (engine, _sandbox, _clock):
        await (await engine.submit(MODEL, VIDEO_PARAMS, idempotency_key="k", tags=["t"])).wait()
        await engine.submit(MODEL, VIDEO_PARAMS, idempotency_key="k")
    assert journal.charges()[0].usd is not None
    journal.close()
    stored = _journal_bytes(tmp_path)
    assert KEY.encode() not in stored and b"Bearer" not in stored


def _journal_bytes(folder: Path) -> bytes:
    """The journal file and its WAL, as stored on disk."""
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.name.startswith("jobs.sqlite3"))
