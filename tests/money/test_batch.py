"""Batches: a cap on jobs in flight per provider and model, the provider's request rate kept, one progress view."""

from __future__ import annotations

import time
from collections import Counter

import aiohttp
import pytest
from support.engine import KEY, VIDEO_PARAMS, sandbox_engine

from wan_engine.client.batch import BatchItem, BatchProgress, run_batch
from wan_engine.client.engine import Engine
from wan_engine.client.pacing import Pacer, TokenBucket
from wan_engine.client.polling import FixedInterval
from wan_engine.client.provider_client import ProviderClient
from wan_engine.clock import SystemClock, VirtualClock
from wan_engine.errors import UsageError
from wan_engine.sandbox import SandboxConfig
from wan_engine.sandbox.server import Sandbox
from wan_engine.spec.registry import SpecRegistry

A = "alibaba/wan-2-7-r2v"
B = "alibaba/wan-2-6-r2v"


def items(model: str, n: int) -> list[BatchItem]:
    return [BatchItem(model, {**VIDEO_PARAMS, "seed": i}) for i in range(n)]


async def test_jobs_in_flight_stay_under_the_cap_per_model(registry: SpecRegistry) -> None:
    seen: list[BatchProgress] = []
    async with sandbox_engine(registry, duration_s=30) as (engine, sandbox, _clock):
        outcomes = await run_batch(
            engine, items(A, 6) + items(B, 5), concurrency=2, strategy=FixedInterval(10), on_progress=seen.append
        )
        assert sandbox.submissions == {A: 6, B: 5}
    assert [o.outcome for o in outcomes] == ["succeeded"] * 11
    assert [o.index for o in outcomes] == list(range(11))
    assert max(p.in_flight.get(A, 0) for p in seen) == 2 and max(p.in_flight.get(B, 0) for p in seen) == 2
    assert max(sum(p.in_flight.values()) for p in seen) == 4
    assert seen[0].waiting == 11 and seen[-1].done == {"succeeded": 11}
    assert seen[-1].line() == "11/11 done, 11 succeeded"


async def test_one_bad_item_does_not_stop_the_batch_and_nothing_is_sent_twice(registry: SpecRegistry) -> None:
    faults = [f"submit:job_fails:model={A}:times=1", f"submit:reset_after:model={B}:times=1"]
    async with sandbox_engine(registry, faults, duration_s=30) as (engine, sandbox, _clock):
        batch = [*items(A, 2), *items(B, 1), BatchItem(A, {"prompt": ""})]  # the last breaks the schema: never sent
        outcomes = await run_batch(engine, batch, concurrency=1, strategy=FixedInterval(10))
        assert sandbox.submit_requests == 3 and sandbox.submission_count == 3
    assert Counter(o.outcome for o in outcomes) == {"unknown": 1, "failed": 1, "succeeded": 1, "refused": 1}
    assert outcomes[3].outcome == "refused" and outcomes[3].job_id is None


async def test_a_batch_replays_its_idempotency_keys(registry: SpecRegistry) -> None:
    keyed = [BatchItem(A, {**VIDEO_PARAMS, "seed": i}, idempotency_key=f"item-{i}") for i in range(3)]
    async with sandbox_engine(registry, duration_s=30) as (engine, sandbox, _clock):
        first = await run_batch(engine, keyed, strategy=FixedInterval(10))
        again = await run_batch(engine, keyed, strategy=FixedInterval(10))
        assert sandbox.submission_count == 3
    assert [o.job_id for o in first] == [o.job_id for o in again] and all(o.replayed for o in again)


async def test_status_queries_keep_the_providers_rate(registry: SpecRegistry) -> None:
    """Real time: 6 jobs polled every 50 ms would send ~100 queries a second; the pacer keeps 10."""
    sent: list[float] = []

    async def on_request_start(_session: object, _ctx: object, params: aiohttp.TraceRequestStartParams) -> None:
        if params.method == "GET" and "generation_id" in params.url.query_string:
            sent.append(time.monotonic())

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    config = SandboxConfig(duration_s=1.2, api_key=KEY)
    async with Sandbox(registry, config) as sandbox:
        clock = SystemClock()
        async with aiohttp.ClientSession(trace_configs=[trace]) as session:
            client = ProviderClient(
                session=session, base_urls=sandbox.base_urls(), env={"AIMLAPI_KEY": KEY}, clock=clock,
                pacer=Pacer(clock, {"aimlapi": {"status": 10}}),
            )
            engine = Engine(registry, client=client)
            outcomes = await run_batch(engine, items(A, 6), concurrency=6, strategy=FixedInterval(0.05))
    assert all(o.outcome == "succeeded" for o in outcomes)
    assert len(sent) >= 12
    windows = [sum(1 for t in sent if start <= t < start + 1.0) for start in sent]
    assert max(windows) <= 11  # 10 a second, plus the one token a bucket starts with


async def test_the_token_bucket_spaces_requests_on_virtual_time() -> None:
    clock = VirtualClock()
    bucket = TokenBucket(20, clock)
    for _ in range(41):
        await bucket.take()
    assert clock.now() == pytest.approx(2.0)


def test_dashscope_documents_its_query_rate(registry: SpecRegistry) -> None:
    provider = registry.providers["dashscope"]
    assert provider.rate_limits.status_per_s == 20 and "20 per second" in (provider.rate_limits.source or "")
    assert Pacer(VirtualClock()).rate(provider, "status") == 20


async def test_a_batch_refuses_a_zero_cap(registry: SpecRegistry) -> None:
    async with sandbox_engine(registry) as (engine, sandbox, _clock):
        with pytest.raises(UsageError):
            await run_batch(engine, items(A, 1), concurrency=0)
        assert sandbox.submit_requests == 0
