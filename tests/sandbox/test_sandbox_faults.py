"""Every fault the sandbox injects does what it says, and the same thing again for the same seed."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from wan_engine.sandbox import NO_ANSWER, FaultKind, FaultPlan, FaultRule, Sandbox, SandboxConfig
from wan_engine.spec.files import bundled_specs_dir
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState

MODEL = "alibaba/wan-2-7-r2v"
KEY = {"Authorization": "Bearer test-key"}
BODY = {"model": MODEL, "prompt": "A cat surfs."}
DURATION = 10.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def specs() -> SpecRegistry:
    return SpecRegistry.from_folders([bundled_specs_dir()])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Harness:
    """A started sandbox with a fault plan, and the requests the tests make against it."""

    def __init__(self, sandbox: Sandbox, http: aiohttp.ClientSession, clock: FakeClock) -> None:
        self.sb, self.http, self.clock = sandbox, http, clock
        self.endpoint = f"{sandbox.base_url('aimlapi')}/v2/video/generations"

    def submit(self, body: Any = BODY) -> Any:
        return self.http.post(self.endpoint, json=body, headers=KEY)

    def status(self, job_id: str) -> Any:
        return self.http.get(self.endpoint, params={"generation_id": job_id}, headers=KEY)

    async def job(self) -> str:
        async with self.submit() as r:
            assert r.status == 200
            return str((await r.json())["id"])

    async def finished_media_url(self) -> tuple[str, str]:
        job_id = await self.job()
        self.clock.now += DURATION
        async with self.status(job_id) as r:
            return job_id, (await r.json())["video"]["url"]


@pytest.fixture
async def harness_for(
    specs: SpecRegistry, http: aiohttp.ClientSession, clock: FakeClock
) -> AsyncIterator[Any]:
    started: list[Sandbox] = []

    async def make(*rules: str, seed: int = 0) -> Harness:
        config = SandboxConfig(duration_s=DURATION, clock=clock, seed=seed, faults=FaultPlan.parse(rules))
        sandbox = Sandbox(specs, config)
        await sandbox.start()
        started.append(sandbox)
        return Harness(sandbox, http, clock)

    yield make
    for sandbox in started:
        await sandbox.stop()


async def test_rate_limit_then_success(harness_for: Any) -> None:
    h: Harness = await harness_for("submit:rate_limit:times=2:retry_after=3")
    for _ in range(2):
        async with h.submit() as r:
            assert r.status == 429 and r.headers["Retry-After"] == "3"
            h.sb.registry.model(MODEL).response_validator("error").validate(await r.json())  # type: ignore[union-attr]
    async with h.submit() as r:
        assert r.status == 200
    assert h.sb.submit_requests == 3 and h.sb.submission_count == 1


async def test_retry_after_as_http_date(specs: SpecRegistry, http: aiohttp.ClientSession, clock: FakeClock) -> None:
    rule = FaultRule("status", FaultKind.RATE_LIMIT, retry_after_s=30, retry_after_date=True)
    config = SandboxConfig(clock=clock, wall_clock=lambda: 1_800_000_000.0, faults=FaultPlan((rule,)))
    async with Sandbox(specs, config) as sb, http.get(f"{sb.base_url('aimlapi')}/v2/video/generations",
                                                      params={"generation_id": "x"}, headers=KEY) as r:
        assert r.status == 429
        assert email.utils.parsedate_to_datetime(r.headers["Retry-After"]).timestamp() == 1_800_000_030


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_error(harness_for: Any, status: int) -> None:
    h: Harness = await harness_for(f"status:server_error:status={status}:times=1")
    job_id = await h.job()
    async with h.status(job_id) as r:
        assert r.status == status and (await r.json())["statusCode"] == status
    async with h.status(job_id) as r:
        assert r.status == 200


async def test_reset_before_submit_creates_no_job(harness_for: Any) -> None:
    h: Harness = await harness_for("submit:reset_before:times=1")
    with pytest.raises(aiohttp.ClientConnectionError):
        async with h.submit() as r:
            await r.read()
    assert h.sb.submit_requests == 1 and h.sb.submission_count == 0


async def test_reset_after_submit_creates_the_job(harness_for: Any) -> None:
    h: Harness = await harness_for("submit:reset_after:times=1")
    with pytest.raises(aiohttp.ClientConnectionError):
        async with h.submit() as r:
            await r.read()
    assert h.sb.submissions == {MODEL: 1}
    (job,) = h.sb.jobs.values()
    async with h.status(job.id) as r:
        assert (await r.json())["id"] == job.id


# aiohttp's client silently re-sends an idempotent request (GET, HEAD) once when the
# connection drops, so a GET only fails when its retry is dropped too: times=2.


async def test_reset_on_status(harness_for: Any) -> None:
    h: Harness = await harness_for("status:reset_after:times=2", "status:reset_before:times=2")
    job_id = await h.job()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with h.status(job_id) as r:
            await r.read()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with h.status(job_id) as r:
            await r.read()
    async with h.status(job_id) as r:
        assert r.status == 200
    assert [entry.status for entry in h.sb.request_log[1:]] == [NO_ANSWER] * 4 + [200]


async def test_slow(harness_for: Any) -> None:
    h: Harness = await harness_for("status:slow:delay=0.05:times=1")
    job_id = await h.job()
    started = time.perf_counter()
    async with h.status(job_id) as r:
        assert r.status == 200
    assert time.perf_counter() - started >= 0.05
    started = time.perf_counter()
    async with h.status(job_id) as r:
        assert r.status == 200
    assert time.perf_counter() - started < 0.05


async def test_malformed_json(harness_for: Any) -> None:
    h: Harness = await harness_for("submit:malformed_json:times=1", "status:malformed_json:times=1")
    async with h.submit() as r:
        assert r.status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(await r.text())
    assert h.sb.submission_count == 1, "the job exists though its answer was garbled"
    (job_id,) = h.sb.jobs
    async with h.status(job_id) as r:
        assert r.status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(await r.text())


async def test_job_fails(harness_for: Any) -> None:
    h: Harness = await harness_for("submit:job_fails:times=1:message=Out of GPUs:code=Capacity")
    async with h.submit() as r:
        job_id = (await r.json())["id"]
    h.clock.now += DURATION
    async with h.status(job_id) as r:
        document = await r.json()
    h.sb.registry.model(MODEL).response_validator("status").validate(document)  # type: ignore[union-attr]
    assert document["status"] == "error" and document["video"] is None
    assert document["error"] == {"message": "Out of GPUs", "name": "Capacity"}
    assert h.sb.jobs[job_id].state is JobState.FAILED
    async with h.submit() as r:
        second = (await r.json())["id"]
    assert h.sb.jobs[second].failure is None


async def test_model_filter(harness_for: Any) -> None:
    h: Harness = await harness_for("submit:server_error:model=someone/else", f"status:rate_limit:model={MODEL}")
    async with h.submit() as r:
        assert r.status == 200
        job_id = (await r.json())["id"]
    async with h.status(job_id) as r:
        assert r.status == 429


async def test_expired_media(harness_for: Any) -> None:
    h: Harness = await harness_for("media:expired:times=1")
    _, url = await h.finished_media_url()
    async with h.http.get(url) as r:
        assert r.status == 403 and "expired" in (await r.json())["message"]
    async with h.http.get(url) as r:
        assert r.status == 200


async def test_truncated_media(harness_for: Any) -> None:
    h: Harness = await harness_for("media:truncate:times=1")
    job_id, url = await h.finished_media_url()
    size = h.sb.media_bytes_expected(job_id)
    received = 0
    with pytest.raises(aiohttp.ClientPayloadError):
        async with h.http.get(url) as r:
            assert int(r.headers["Content-Length"]) == size
            async for chunk in r.content.iter_any():
                received += len(chunk)
    assert 0 < received < size
    async with h.http.get(url, headers={"Range": f"bytes={received}-"}) as r:
        assert r.status == 206 and len(await r.read()) == size - received


async def test_media_reset_at_a_byte_count(harness_for: Any) -> None:
    h: Harness = await harness_for("media:reset_at:bytes=5000:times=1")
    job_id, url = await h.finished_media_url()
    size = h.sb.media_bytes_expected(job_id)
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):
        async with h.http.get(url) as r:
            assert int(r.headers["Content-Length"]) == size
            async for chunk in r.content.iter_any():
                received += chunk
    assert len(received) == 5000
    async with h.http.get(url) as r:
        whole = await r.read()
    assert len(whole) == size and whole[:5000] == received


async def test_media_bandwidth_paces_the_bytes(harness_for: Any) -> None:
    h: Harness = await harness_for("media:bandwidth:rate=200000")
    job_id, url = await h.finished_media_url()
    size = h.sb.media_bytes_expected(job_id)
    started = time.perf_counter()
    async with h.http.get(url) as r:
        assert len(await r.read()) == size
    # A lower bound only (the pace cannot be beaten); how much slower a busy machine is does not matter.
    assert time.perf_counter() - started >= size / 200000 * 0.9


async def test_a_hung_request_is_accepted_and_never_answered(harness_for: Any) -> None:
    h: Harness = await harness_for("status:hang:times=1")
    job_id = await h.job()
    with pytest.raises(TimeoutError):
        async with h.http.get(
            h.endpoint, params={"generation_id": job_id}, headers=KEY, timeout=aiohttp.ClientTimeout(total=0.3)
        ) as r:
            await r.read()
    async with h.status(job_id) as r:
        assert r.status == 200, "the fault fired once; the next read is answered"


async def test_slow_with_jitter_is_seeded(harness_for: Any) -> None:
    from wan_engine.sandbox.faults import FaultInjector

    plan = FaultPlan.parse(["status:slow:delay=0.3:jitter=0.2"])
    first = [FaultInjector(plan, seed=7).draw("status", MODEL).delay_s for _ in range(1)]
    draws = FaultInjector(plan, seed=7)
    again = [draws.draw("status", MODEL).delay_s for _ in range(20)]
    assert first[0] == again[0], "the same seed draws the same delays"
    assert all(0.1 <= d <= 0.5 for d in again) and len(set(again)) > 1


async def test_media_errors_and_resets(harness_for: Any) -> None:
    h: Harness = await harness_for("media:rate_limit:times=1", "media:reset_before:times=2")
    _, url = await h.finished_media_url()
    async with h.http.get(url) as r:
        assert r.status == 429
    with pytest.raises(aiohttp.ClientConnectionError):
        async with h.http.get(url) as r:
            await r.read()
    async with h.http.get(url) as r:
        assert r.status == 200


async def test_probability_is_deterministic_per_seed(harness_for: Any) -> None:
    async def pattern(seed: int) -> list[int]:
        h: Harness = await harness_for("status:server_error:probability=0.5", seed=seed)
        job_id = await h.job()
        statuses = []
        for _ in range(24):
            async with h.status(job_id) as r:
                statuses.append(r.status)
        return statuses

    first, again, other = await pattern(1), await pattern(1), await pattern(2)
    assert first == again != other
    assert {200, 500} == set(first)


async def test_times_and_probability_combine(harness_for: Any) -> None:
    h: Harness = await harness_for("status:server_error:probability=1:times=2")
    job_id = await h.job()
    statuses = []
    for _ in range(4):
        async with h.status(job_id) as r:
            statuses.append(r.status)
    assert statuses == [500, 500, 200, 200]


def test_parse() -> None:
    rule = FaultRule.parse("status:rate_limit:times=2:retry_after=1:http_date")
    assert rule == FaultRule("status", FaultKind.RATE_LIMIT, times=2, retry_after_s=1, retry_after_date=True)
    assert FaultRule.parse("submit:slow:delay=0.5:probability=0.25").delay_s == 0.5
    assert FaultRule.parse(f"submit:job_fails:model={MODEL}").model == MODEL


@pytest.mark.parametrize(
    "text",
    [
        "status:job_fails",
        "media:malformed_json",
        "submit:truncate",
        "poll:slow",
        "status:explode",
        "status:server_error:status=418",
        "status:slow:color=red",
        "status:rate_limit:times=0",
        "status:rate_limit:probability=2",
        "status:slow:http_date=maybe",
        "status:bandwidth:rate=10",
        "media:bandwidth",
        "status:reset_at:bytes=10",
        "media:reset_at:bytes=-1",
        "status:slow:delay=0.1:jitter=0.5",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="bad fault"):
        FaultRule.parse(text)
