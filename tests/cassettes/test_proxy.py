"""The recording proxy, with the sandbox as the upstream: what an app sends and gets back becomes a cassette.

The recorded cassette replays, keeps its contract and holds no key; a spec breach in
an upstream answer is reported while the session runs, at the interaction that made it.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from wan_engine.cassettes.contract import Breach, check_cassette
from wan_engine.cassettes.proxy import RecordingProxy
from wan_engine.cassettes.replay import replay_engine
from wan_engine.client.engine import Engine
from wan_engine.client.polling import FixedInterval
from wan_engine.delivery.tee import deliver_job
from wan_engine.sandbox import FaultPlan, Sandbox, SandboxConfig
from wan_engine.sinks.file import FileSink
from wan_engine.spec.registry import SpecRegistry

MODEL = "alibaba/wan-2-7-r2v"
KEY = "sk-proxy-test-7a4f0c1d9e8b2a6f"
PARAMS = {"prompt": "Video 1 dances", "video_urls": ["https://example.com/ref.mp4"], "duration": 5}


@pytest.fixture
async def upstream(registry: SpecRegistry) -> AsyncIterator[Sandbox]:
    async with Sandbox(registry, SandboxConfig(duration_s=0.3, api_key=KEY)) as sandbox:
        yield sandbox


async def proxied(
    registry: SpecRegistry, sandbox: Sandbox, path: Path, **options: object
) -> tuple[RecordingProxy, web.AppRunner]:
    upstream = sandbox.base_url("aimlapi")
    proxy = RecordingProxy(registry, "aimlapi", upstream, path, api_key=KEY, **options)  # type: ignore[arg-type]
    return proxy, await proxy.serve()


async def test_an_apps_session_through_the_proxy_becomes_a_clean_replayable_cassette(
    registry: SpecRegistry, upstream: Sandbox, tmp_path: Path
) -> None:
    cassette = tmp_path / "through-proxy.yaml"
    (tmp_path / "videos").mkdir()
    proxy, runner = await proxied(registry, upstream, cassette)
    try:
        async with Engine(
            registry, base_urls={"aimlapi": proxy.base_url}, env={"AIMLAPI_KEY": KEY}, strategy=FixedInterval(0.1)
        ) as engine:
            job = await engine.submit(MODEL, PARAMS)
            report = await deliver_job(engine, job, [FileSink(tmp_path / "videos")])
    finally:
        await runner.cleanup()
    video = Path(report.locations["file"]).read_bytes()  # noqa: ASYNC240 - a test's check after the run
    assert hashlib.sha256(video).hexdigest() == upstream.media_sha256(job.id)
    assert upstream.submission_count == 1
    text = cassette.read_text()
    assert KEY not in text and "Bearer <filtered>" in text
    assert proxy.breaches == []
    contract = check_cassette(cassette, registry)
    assert contract.ok, contract.breaches
    [media] = proxy.media
    assert media["bytes"] == len(video) and media["sha256"] == hashlib.sha256(video).hexdigest()
    assert "source: sandbox" in text and "media body not recorded" in text
    async with replay_engine(cassette, registry) as replayed:
        again = await (await replayed.submit(MODEL, PARAMS)).wait()
    assert again.video_url == media["url"], "the cassette keeps the provider's URL, not the proxy's"
    assert not again.video_url.startswith(proxy.base_url)


async def test_a_breach_in_the_upstreams_answer_is_reported_live(
    registry: SpecRegistry, tmp_path: Path
) -> None:
    seen: list[Breach] = []
    config = SandboxConfig(duration_s=0.3, api_key=KEY, faults=FaultPlan.parse(["status:malformed_json:times=1"]))
    async with Sandbox(registry, config) as sandbox:
        proxy, runner = await proxied(registry, sandbox, tmp_path / "breach.yaml", on_breach=seen.append)
        try:
            async with Engine(
                registry, base_urls={"aimlapi": proxy.base_url}, env={"AIMLAPI_KEY": KEY}, strategy=FixedInterval(0.1)
            ) as engine:
                job = await engine.submit(MODEL, PARAMS)
                breaches_while_running = len(seen)
                await job.wait()
        finally:
            await runner.cleanup()
    assert breaches_while_running == 0
    assert seen, "the malformed status answer is a breach"
    assert seen[0].interaction == 1 and seen[0].part == "response"
    assert sandbox.submission_count == 1


async def test_faults_injected_by_the_proxy_are_not_recorded_as_the_providers(
    registry: SpecRegistry, upstream: Sandbox, tmp_path: Path
) -> None:
    cassette = tmp_path / "faulted.yaml"
    plan = FaultPlan.parse(["status:rate_limit:times=2:retry_after=0"])
    proxy, runner = await proxied(registry, upstream, cassette, faults=plan)
    try:
        async with Engine(
            registry, base_urls={"aimlapi": proxy.base_url}, env={"AIMLAPI_KEY": KEY}, strategy=FixedInterval(0.1)
        ) as engine:
            result = await (await engine.submit(MODEL, PARAMS)).wait()
    finally:
        await runner.cleanup()
    assert result.video_url.startswith(proxy.base_url)  # the app fetches the video through the proxy
    codes = [i["response"]["status"]["code"] for i in proxy.interactions]
    assert 429 not in codes and codes[0] == 200
    assert check_cassette(cassette, registry).ok
