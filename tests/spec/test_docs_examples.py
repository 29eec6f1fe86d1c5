"""The documentation's own examples, run: requests against the specs, answers through the engine.

Fixtures in tests/spec/docs_examples/ (``source: docs``) hold the JSON bodies of the AI/ML
API's model pages, each with its page path and docs commit (tests/support/docs_examples.py
extracts them). A documented request is accepted by its model's spec, or the spec lists it as
an invalid example saying why (a sample that contradicts its own enum). Every documented answer
is read the way the engine reads it: a submit answer yields its job id, a completed one its
video URL, a failed one its message; and a page showing both a submit and a completed answer
is replayed through the engine from a loopback server, end to end. This is the lesson of
Hailuo: a documented answer nobody ran once cost a paid job its id.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from wan_engine.client.engine import Engine
from wan_engine.client.result import video_urls
from wan_engine.clock import VirtualClock
from wan_engine.errors import ParameterValidationError
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.model import ModelSpec
from wan_engine.spec.params import prepare
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState

FOLDER = Path(__file__).resolve().parent / "docs_examples"
FIXTURES = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(FOLDER.glob("*.json"))]
REGISTRY = SpecRegistry.discover()
each_fixture = pytest.mark.parametrize("fixture", FIXTURES, ids=[f["model"] for f in FIXTURES])


def spec_of(fixture: dict[str, Any]) -> ModelSpec:
    return REGISTRY.model(fixture["model"])


def params_of(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "model"}


LEAK = r"(?i)(?:signature|credential|accesskeyid|token|jwt)=(?!REDACTED)[^&\"]+"


def test_the_fixtures_say_where_they_came_from() -> None:
    assert len(FIXTURES) >= 100, "the docs show examples for most models"
    for fixture in FIXTURES:
        assert fixture["source"] == "docs" and fixture["repository"] == "aimlapi/api-docs"
        assert len(fixture["commit"]) == 40 and fixture["path"].startswith("docs/api-references/video-models/")
        leaks = re.findall(LEAK, json.dumps(fixture))
        assert not leaks, f"signed-URL credentials stay out of fixtures: {leaks[:2]}"


@each_fixture
def test_every_documented_request_is_accepted_or_the_spec_says_why_not(fixture: dict[str, Any]) -> None:
    spec = spec_of(fixture)
    refused = {json.dumps(e.params, sort_keys=True): e for e in spec.document.examples if not e.valid}
    for body in fixture["requests"]:
        params = params_of(body)
        try:
            prepare(spec, params)
        except ParameterValidationError as exc:
            known = refused.get(json.dumps(params, sort_keys=True))
            assert known is not None and known.description, (
                f"{fixture['path']}: the documented request is refused by {spec.id} and the spec does not say why: "
                + "; ".join(str(v) for v in exc.violations)
            )


def kind_of(spec: ModelSpec, answer: dict[str, Any]) -> JobState | None:
    status = json_pointer.resolve(answer, spec.provider.status_pointer)
    return spec.provider.engine_state(status) if status is not None else None


@each_fixture
def test_every_documented_answer_is_read_as_the_engine_reads_it(fixture: dict[str, Any]) -> None:
    spec = spec_of(fixture)
    provider = spec.provider
    for answer in fixture["responses"]:
        state = kind_of(spec, answer)
        if state is None:
            assert json_pointer.first(answer, provider.errors.message) is not None, answer
            continue
        job_id = json_pointer.resolve(answer, provider.id_pointer)
        assert isinstance(job_id, str) and job_id, f"{fixture['path']}: no job id in {answer}"
        if state is JobState.SUCCEEDED:
            assert video_urls(spec, answer), f"{fixture['path']}: no video URL in {answer}"
        if state is JobState.FAILED:
            assert json_pointer.first(answer, provider.result.error_message) is not None, answer


REPLAYABLE = [
    f for f in FIXTURES
    if any(kind_of(spec_of(f), r) in (JobState.QUEUED, JobState.RUNNING) for r in f["responses"])
    and any(kind_of(spec_of(f), r) is JobState.SUCCEEDED for r in f["responses"])
]


@pytest.mark.parametrize("fixture", REPLAYABLE, ids=[f["model"] for f in REPLAYABLE])
async def test_a_documented_run_replays_through_the_engine(fixture: dict[str, Any], unused_tcp_port: int) -> None:
    """A loopback server answers with the page's own answers; the engine finds the id and the URL."""
    spec = spec_of(fixture)
    answers = fixture["responses"]
    submit = next(a for a in answers if kind_of(spec, a) in (JobState.QUEUED, JobState.RUNNING))
    done = next(a for a in answers if kind_of(spec, a) is JobState.SUCCEEDED)
    job_id = json_pointer.resolve(submit, spec.provider.id_pointer)
    polled: list[str] = []

    async def on_submit(request: web.Request) -> web.Response:
        return web.json_response(submit)

    async def on_status(request: web.Request) -> web.Response:
        polled.append(request.query.get("generation_id", ""))
        return web.json_response(done)

    app = web.Application()
    app.router.add_post(spec.provider.submit.path, on_submit)
    app.router.add_get(spec.provider.status.path, on_status)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", unused_tcp_port)
    await site.start()
    try:
        base = {spec.provider.id: f"http://127.0.0.1:{unused_tcp_port}"}
        env = {spec.provider.auth.env: "k"} if spec.provider.auth.env else {}
        async with Engine(REGISTRY, base_urls=base, env=env, clock=VirtualClock(), strategy="fixed") as engine:
            params = params_of(fixture["requests"][0])
            job = await engine.submit(spec.id, params, validate=False)
            result = await job.wait()
    finally:
        await runner.cleanup()
    assert job.id == job_id and polled and set(polled) == {job_id}
    assert result.video_urls == video_urls(spec, done) and result.video_url
