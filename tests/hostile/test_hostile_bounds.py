"""Bounds on everything a hostile provider sends: Retry-After, answer size and depth, status types, NaN."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from hostile.conftest import MODEL, PARAMS, Hostile
from hostile.provider import KEY, HostileApi, assert_clean
from wan_engine.client.provider_client import Limits, RetryPolicy
from wan_engine.client.retry_after import MAX_RETRY_AFTER_S
from wan_engine.clock import VirtualClock
from wan_engine.errors import ParameterValidationError, ProtocolError
from wan_engine.journal.durable import DurableEngine
from wan_engine.sandbox import Sandbox, SandboxConfig
from wan_engine.spec.registry import SpecRegistry


def queued_then_done(retry_after: str) -> object:
    async def status(api: HostileApi, request: web.Request) -> web.StreamResponse:
        job_id = request.query["generation_id"]
        if len(api.status_requests) < 3:
            return web.json_response({"id": job_id, "status": "queued"}, headers={"Retry-After": retry_after})
        return await HostileApi.honest_status(api, request)

    return status


@pytest.mark.parametrize("value", ["1000000000", "1e309", "-5", "nan", "inf"])
async def test_retry_after_on_a_200_status_answer_is_bounded(
    hostile: Hostile, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    hostile.api.status = queued_then_done(value)  # type: ignore[assignment]
    caplog.set_level(logging.INFO)
    job = await hostile.engine.submit(MODEL, PARAMS)
    result = await job.wait()
    assert result.job_id == job.id
    assert hostile.clock.sleeps and all(math.isfinite(s) and 0 <= s <= MAX_RETRY_AFTER_S for s in hostile.clock.sleeps)
    assert "ignoring Retry-After" in caplog.text
    assert len(hostile.api.submissions) == 1
    assert_clean(caplog.text)


async def test_a_huge_status_answer_is_a_protocol_error_not_a_memory_bill(hostile: Hostile) -> None:
    hostile.engine.client.limits = Limits(max_answer_bytes=1024 * 1024)

    async def huge(api: HostileApi, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})  # chunked: no length to trust
        await response.prepare(request)
        await response.write(b'{"id": "' + b"x" * (4 * 1024 * 1024) + b'"}')
        return response

    hostile.api.status = huge
    job = await hostile.engine.submit(MODEL, PARAMS)
    with pytest.raises(ProtocolError) as caught:
        await job.wait()
    assert "larger than" in str(caught.value)
    assert len(hostile.api.status_requests) == 1  # not asked again: the next answer would cost the same
    assert len(hostile.api.submissions) == 1


@pytest.mark.parametrize("depth", [65, 100_000])
async def test_deeply_nested_json_is_a_protocol_error(hostile: Hostile, depth: int) -> None:
    async def deep(api: HostileApi, request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"[" * depth + b"]" * depth, content_type="application/json")

    hostile.api.status = deep
    job = await hostile.engine.submit(MODEL, PARAMS)
    with pytest.raises(ProtocolError) as caught:
        await job.wait()
    assert "nested deeper" in str(caught.value)


@pytest.mark.parametrize(
    "document",
    [["completed"], "completed", 3, None, {"id": "gen-1"}],
    ids=["list", "string", "number", "null", "no-status"],
)
async def test_a_status_answer_that_is_not_a_status_document_is_a_protocol_error(
    hostile: Hostile, document: object
) -> None:
    async def odd(api: HostileApi, request: web.Request) -> web.StreamResponse:
        return web.json_response(document)

    hostile.api.status = odd
    job = await hostile.engine.submit(MODEL, PARAMS)
    with pytest.raises(ProtocolError) as caught:
        await job.wait()
    assert "no status at /status" in str(caught.value) and caught.value.job_id == job.id
    assert len(hostile.api.submissions) == 1


@pytest.mark.parametrize("status", [{"state": "done"}, ["completed"], 3, True])
async def test_a_status_of_the_wrong_json_type_is_a_protocol_error(hostile: Hostile, status: object) -> None:
    async def odd(api: HostileApi, request: web.Request) -> web.StreamResponse:
        return web.json_response({"id": request.query["generation_id"], "status": status})

    hostile.api.status = odd
    job = await hostile.engine.submit(MODEL, PARAMS)
    with pytest.raises(ProtocolError) as caught:
        await job.wait()
    assert "not a string" in str(caught.value) and caught.value.job_id == job.id


async def test_resume_carries_on_past_a_job_whose_status_is_malformed(hostile: Hostile, tmp_path: Path) -> None:
    async def one_bad(api: HostileApi, request: web.Request) -> web.StreamResponse:
        job_id = request.query["generation_id"]
        if job_id == "gen-1":
            return web.json_response({"id": job_id, "status": {"nested": "object"}})
        return web.json_response({"id": job_id, "status": "error", "error": {"message": "declined"}})

    hostile.api.status = one_bad
    async with DurableEngine(
        base_urls={"aimlapi": hostile.api.base_url},
        env={"AIMLAPI_KEY": KEY},
        clock=VirtualClock(),
        journal=tmp_path / "j.sqlite",
        retry=RetryPolicy(),
        strategy="fixed",
    ) as engine:
        first = await engine.submit(MODEL, PARAMS)
        second = await engine.submit(MODEL, PARAMS)
        report = await engine.resume()
    by_id = {o.provider_id: o for o in report.jobs}
    assert set(by_id) == {first.id, second.id}
    assert by_id[first.id].note is not None and "not a string" in by_id[first.id].note
    assert by_id[second.id].after == "failed"
    assert len(hostile.api.submissions) == 2
    assert_clean(report.as_dict())


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
async def test_nan_and_infinity_are_refused_before_the_submit(hostile: Hostile, bad: float) -> None:
    with pytest.raises(ParameterValidationError) as caught:
        await hostile.engine.submit(MODEL, {**PARAMS, "duration": bad})
    assert "$.duration: must be a finite number" in str(caught.value)
    assert hostile.api.submissions == []


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
async def test_the_sandbox_refuses_nan_and_infinity_too(registry: SpecRegistry, token: str) -> None:
    spec = registry.model(MODEL)
    body = json.dumps({"model": spec.provider_model, **PARAMS}).replace('"duration": 5', f'"duration": {token}')
    assert token in body
    async with Sandbox(registry, SandboxConfig(api_key=KEY)) as sandbox:
        url = sandbox.base_urls()["aimlapi"] + spec.provider.submit.path
        async with aiohttp.ClientSession() as session, session.post(
            url, data=body, headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        ) as response:
            text = await response.text()
        assert response.status == 400, text
        assert "finite number" in text
        assert sandbox.submission_count == 0
