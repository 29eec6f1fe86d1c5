"""Money against a hostile API: a paid submit reaches the provider once, whatever it answers."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from aiohttp import web

from hostile.conftest import MODEL, PARAMS, Hostile
from hostile.provider import KEY, HostileApi, assert_clean
from wan_engine.client.engine import Engine
from wan_engine.client.provider_client import RetryPolicy
from wan_engine.clock import VirtualClock
from wan_engine.errors import CredentialError, ProtocolError, SubmitOutcomeUnknownError
from wan_engine.journal.durable import DurableEngine
from wan_engine.spec.files import bundled_specs_dir
from wan_engine.spec.registry import SpecRegistry

HOSTILE_SPECS = Path(__file__).resolve().parent / "specs"


async def test_a_307_loop_on_submit_sends_one_paid_body(hostile: Hostile, caplog: pytest.LogCaptureFixture) -> None:
    async def loop(api: HostileApi, request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect(str(request.url))

    hostile.api.submit = loop
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SubmitOutcomeUnknownError) as caught:
        await hostile.engine.submit(MODEL, PARAMS)
    assert len(hostile.api.submissions) == 1
    assert "redirect" in str(caught.value)
    assert_clean(caught.value, caplog.text)


async def test_a_302_on_submit_never_adopts_another_job(hostile: Hostile) -> None:
    async def elsewhere(api: HostileApi, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"{hostile.other.base_url}/v2/video/generations?generation_id=someone-elses")

    hostile.api.submit = elsewhere
    with pytest.raises(SubmitOutcomeUnknownError):
        await hostile.engine.submit(MODEL, PARAMS)
    assert len(hostile.api.submissions) == 1
    assert hostile.other.requests == []  # neither the GET nor the key went to the other host


async def test_a_503_on_submit_is_not_resent_unless_the_spec_says_it_is_safe(hostile: Hostile) -> None:
    async def unavailable(api: HostileApi, request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "busy", "statusCode": 503}, status=503)

    hostile.api.submit = unavailable
    with pytest.raises(SubmitOutcomeUnknownError):
        await hostile.engine.submit(MODEL, PARAMS)
    assert len(hostile.api.submissions) == 1


async def test_a_provider_that_declares_503_safe_gets_the_submit_again(hostile: Hostile) -> None:
    registry = SpecRegistry.from_folders([bundled_specs_dir(), HOSTILE_SPECS])
    assert registry.model("hostile/t2v").provider.resubmit_statuses == [429, 503]

    async def busy_once(api: HostileApi, request: web.Request) -> web.StreamResponse:
        if len(api.submissions) == 1:
            return web.json_response({"message": "busy", "statusCode": 503}, status=503)
        return await HostileApi.honest_submit(api, request)

    hostile.api.submit = busy_once
    clock = VirtualClock()
    async with Engine(
        registry, base_urls={"hostile-503": hostile.api.base_url}, env={"AIMLAPI_KEY": KEY}, clock=clock
    ) as engine:
        job = await engine.submit("hostile/t2v", {"prompt": "a cat"})
    assert len(hostile.api.submissions) == 2
    assert job.id == "gen-2"


async def test_a_status_answer_about_another_job_is_a_protocol_error(hostile: Hostile) -> None:
    async def cached(api: HostileApi, request: web.Request) -> web.StreamResponse:
        return web.json_response({"id": "gen-999", "status": "completed", "video": {"url": "http://x/other.mp4"}})

    hostile.api.status = cached
    job = await hostile.engine.submit(MODEL, PARAMS)
    with pytest.raises(ProtocolError) as caught:
        await job.wait()
    assert "another job" in str(caught.value) and caught.value.job_id == job.id
    assert len(hostile.api.submissions) == 1


async def test_api_redirects_never_carry_the_key_to_another_origin(hostile: Hostile) -> None:
    async def moved(api: HostileApi, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"{hostile.other.base_url}/steal?generation_id={request.query['generation_id']}")

    hostile.api.status = moved
    job = await hostile.engine.submit(MODEL, PARAMS)
    with pytest.raises(ProtocolError) as caught:
        await job.wait()
    assert "redirect" in str(caught.value)
    assert hostile.other.requests == []
    assert len(hostile.api.submissions) == 1
    assert_clean(caught.value)


@pytest.mark.parametrize("bad_key", [f"{KEY}\r\nX-Injected: 1", f"{KEY}\n", "a\rb"])
async def test_a_key_with_a_line_break_is_a_config_error_and_nothing_is_sent(
    hostile: Hostile, tmp_path: Path, bad_key: str
) -> None:
    async with DurableEngine(
        base_urls={"aimlapi": hostile.api.base_url},
        env={"AIMLAPI_KEY": bad_key},
        clock=VirtualClock(),
        journal=tmp_path / "journal.sqlite",
        retry=RetryPolicy(),
    ) as engine:
        with pytest.raises(CredentialError) as caught:
            await engine.submit(MODEL, PARAMS)
        assert engine.journal is not None
        records = engine.journal.jobs()
    assert hostile.api.submissions == []
    assert "AIMLAPI_KEY" in str(caught.value)
    assert bad_key not in str(caught.value)
    assert [r.state.value for r in records] == ["refused"]  # not journaled as possibly billed
