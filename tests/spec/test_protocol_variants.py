"""The AI/ML API's protocol variants, said as spec data and run through the engine and the sandbox.

Each variant comes from the provider's docs repository (aimlapi/api-docs): MiniMax's
``generation_id`` on submit, Runway's list of URLs, Kling's ``{detail: [...]}``
failures, ``succeeded`` and other extra words, numbers sent as strings, cost on the
submit answer and in headers. Specs are written to a temporary folder beside the
bundled providers, so a variant is tested on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
from support.spec_documents import model_document, registry_with

from wan_engine.client.engine import Engine
from wan_engine.clock import VirtualClock
from wan_engine.errors import ParameterValidationError, ProtocolError
from wan_engine.sandbox import Sandbox, SandboxConfig
from wan_engine.sandbox.faults import FaultPlan
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.cost import read_cost
from wan_engine.spec.files import bundled_specs_dir
from wan_engine.spec.params import prepare
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState


def model(**extra: Any) -> dict[str, Any]:
    return model_document("test/variant", "Variant (test)", {"duration": {"type": "integer", "enum": [5, 10]}}, **extra)


async def run(registry: SpecRegistry, model_id: str, params: dict[str, Any], **config: Any) -> Any:
    clock = VirtualClock()
    faults = FaultPlan.parse(config.pop("faults", []))
    settings = SandboxConfig(
        duration_s=60, clock=clock.now, wall_clock=lambda: clock.wall().timestamp(), faults=faults, **config
    )
    async with Sandbox(registry, settings) as sandbox:
        env = {"AIMLAPI_KEY": "k"}
        async with Engine(registry, base_urls=sandbox.base_urls(), env=env, clock=clock, strategy="fixed") as engine:
            return await engine.run(model_id, params)


# -- the id: alternatives, first found wins ---------------------------------------------------------


async def test_a_hailuo_submit_answer_with_generation_id_yields_its_job() -> None:
    """The bundled Hailuo spec: the sandbox answers as the docs show, the engine finds the id and finishes."""
    registry = SpecRegistry.from_folders([bundled_specs_dir()])
    clock = VirtualClock()
    config = SandboxConfig(duration_s=60, clock=clock.now, wall_clock=lambda: clock.wall().timestamp())
    async with Sandbox(registry, config) as sandbox, aiohttp.ClientSession() as http:
        url = sandbox.base_url("aimlapi") + "/v2/video/generations"
        body = {"model": "minimax/hailuo-2.3", "prompt": "x"}
        async with http.post(url, json=body, headers={"Authorization": "Bearer k"}) as answer:
            created = await answer.json()
        assert set(created) == {"generation_id", "status", "meta"} and created["status"] == "queued"
        async with Engine(
            registry, base_urls=sandbox.base_urls(), env={"AIMLAPI_KEY": "k"}, clock=clock, strategy="fixed"
        ) as engine:
            job = await engine.submit("minimax/hailuo-2.3", {"prompt": "x"})
            assert job.id in sandbox.jobs
            result = await job.wait()
    assert result.video_url.endswith(".mp4") and result.response["id"] == job.id


def test_id_alternatives_are_tried_in_order() -> None:
    pointers = ["/id", "/generation_id"]
    assert json_pointer.resolve({"generation_id": "g", "status": "queued"}, pointers) == "g"
    assert json_pointer.resolve({"id": "i", "generation_id": "g"}, pointers) == "i"
    assert json_pointer.resolve({"id": None, "generation_id": "g"}, pointers) == "g"
    assert json_pointer.resolve({"status": "queued"}, pointers) is None


# -- results: an object, a list of strings, a list of objects --------------------------------------


@pytest.mark.parametrize(
    ("locations", "shape"),
    [(["/video/*", "/video/url"], list), (["/videos/*/url"], list), (["/video/url"], dict)],
)
async def test_the_sandbox_answers_in_the_declared_result_shape_and_the_engine_reads_it(
    tmp_path: Path, locations: list[str], shape: type
) -> None:
    registry = registry_with(tmp_path, model(response_overrides={"result": {"video_url": locations}}))
    result = await run(registry, "test/variant", {"prompt": "x"})
    top = locations[0].split("/")[1]
    assert isinstance(result.response[top], shape)
    assert result.video_urls == [u for u in result.video_urls if u.startswith("http")] and len(result.video_urls) == 1


def test_a_runway_list_of_urls_yields_its_url() -> None:
    spec = SpecRegistry.from_folders([bundled_specs_dir()]).model("alibaba/wan-2-7-r2v")
    from wan_engine.client.result import video_urls

    answer = {"id": "x", "status": "completed", "video": ["https://cdn.example/a.mp4"]}
    assert video_urls(spec, answer) == ["https://cdn.example/a.mp4"]
    listed = {"id": "x", "status": "completed", "videos": [{"url": "https://cdn.example/b.mp4"}, {"url": None}]}
    assert video_urls(spec, listed) == ["https://cdn.example/b.mp4"]


# -- statuses: extra words, any case, unknown words by a reviewed rule ------------------------------


def test_documented_and_client_side_statuses_map_in_any_case() -> None:
    provider = SpecRegistry.from_folders([bundled_specs_dir()]).providers["aimlapi"]
    assert provider.engine_state("succeeded") is JobState.SUCCEEDED
    assert provider.engine_state("COMPLETED") is JobState.SUCCEEDED
    assert provider.engine_state("Waiting") is JobState.QUEUED
    assert provider.engine_state("processing") is JobState.RUNNING
    assert provider.engine_state("canceled") is JobState.CANCELLED
    assert provider.engine_state("timeout") is JobState.FAILED and provider.engine_state("expired") is JobState.FAILED


def test_an_unmapped_status_follows_the_providers_rule() -> None:
    provider = SpecRegistry.from_folders([bundled_specs_dir()]).providers["aimlapi"]
    assert provider.unknown_status == "protocol_error" and provider.unknown_status_reason
    with pytest.raises(ProtocolError, match="'exploded'"):
        provider.engine_state("exploded")
    assert attrs.evolve(provider, unknown_status="running").engine_state("exploded") is JobState.RUNNING
    assert attrs.evolve(provider, unknown_status="failed").engine_state("exploded") is JobState.FAILED
    exact = attrs.evolve(provider, status_match="exact", unknown_status="running")
    assert exact.engine_state("COMPLETED") is JobState.RUNNING, "exact matching does not fold case"


async def test_a_succeeded_answer_completes_the_job(tmp_path: Path) -> None:
    overrides = {"statuses": {"succeeded": "succeeded"}}
    document = model(response_overrides=overrides)
    registry = registry_with(tmp_path, document)
    spec = registry.model("test/variant")
    assert spec.provider.canonical_status(JobState.SUCCEEDED) == "completed"
    moved = {"statuses": {"succeeded": "succeeded", "completed": "succeeded"}}
    registry = registry_with(tmp_path, model(response_overrides=moved))
    result = await run(registry, "test/variant", {"prompt": "x"})
    assert result.response["status"] in ("completed", "succeeded")


# -- failures: {name, message}, {detail: [...]}, a plain string --------------------------------------


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ({"name": "ContentModeration", "message": "blocked"}, "blocked"),
        (
            {"detail": [{"loc": ["body", "image_url"], "msg": "image too small", "type": "value_error"}]},
            "image too small",
        ),
        ("Generation timeout", "Generation timeout"),
    ],
)
def test_a_failure_message_is_found_in_every_documented_shape(error: Any, message: str) -> None:
    provider = SpecRegistry.from_folders([bundled_specs_dir()]).providers["aimlapi"]
    answer = {"id": "x", "status": "error", "video": None, "error": error}
    assert json_pointer.first(answer, provider.result.error_message) == message
    assert provider.engine_state(answer["status"]) is JobState.FAILED


async def test_a_failed_job_reports_the_message_through_the_engine(tmp_path: Path) -> None:
    from wan_engine.errors import JobFailedError

    overrides = {"result": {"error_message": ["/error/detail/0/msg", "/error/message"]}}
    registry = registry_with(tmp_path, model(response_overrides=overrides))
    with pytest.raises(JobFailedError, match="image too small"):
        await run(registry, "test/variant", {"prompt": "x"}, faults=["submit:job_fails:message=image too small"])


# -- numbers as strings ----------------------------------------------------------------------------


def test_numeric_strings_are_normalised_where_the_provider_is_lax(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, model())
    spec = registry.model("test/variant")
    assert spec.provider.numeric_strings == "normalise"
    assert prepare(spec, {"prompt": "x", "duration": "5"}) == {"prompt": "x", "duration": 5}
    with pytest.raises(ParameterValidationError, match=r"\$\.duration"):
        prepare(spec, {"prompt": "x", "duration": "7"})
    strict = attrs.evolve(spec.provider, numeric_strings="refuse")
    from wan_engine.spec.model import ModelSpec

    with pytest.raises(ParameterValidationError, match="integer"):
        prepare(ModelSpec(spec.document, strict), {"prompt": "x", "duration": "5"})


# -- cost: on the submit answer and in headers -----------------------------------------------------


def test_cost_is_read_from_the_submit_body_and_from_headers() -> None:
    provider = SpecRegistry.from_folders([bundled_specs_dir()]).providers["aimlapi"]
    submitted = {"generation_id": "g", "status": "queued", "meta": {"usage": {"credits_used": 588000}}}
    assert read_cost(provider, "submit", submitted) == {"credits_used": 588000}
    headers = {"X-AIMLAPI-Credits-Used": "588000", "x-aimlapi-usd-spent": "0.294"}
    assert read_cost(provider, "submit", {"id": "g"}, headers) == {"credits_used": 588000, "usd_spent": 0.294}
    assert read_cost(provider, "status", submitted, headers) == {}, "completed answers carry no cost"


async def test_the_sandbox_bills_in_the_submit_answer_and_its_headers() -> None:
    registry = SpecRegistry.from_folders([bundled_specs_dir()])
    clock = VirtualClock()
    config = SandboxConfig(duration_s=60, clock=clock.now, wall_clock=lambda: clock.wall().timestamp())
    async with Sandbox(registry, config) as sandbox, aiohttp.ClientSession() as http:
        url = sandbox.base_url("aimlapi") + "/v2/video/generations"
        body = {"model": "alibaba/wan-2-7-t2v", "prompt": "x"}
        async with http.post(url, json=body, headers={"Authorization": "Bearer k"}) as answer:
            created, headers = await answer.json(), dict(answer.headers)
    provider = registry.providers["aimlapi"]
    from_body = read_cost(provider, "submit", created)
    from_headers = read_cost(provider, "submit", {}, headers)
    assert from_body and from_body == from_headers


async def test_the_bundled_runway_specs_are_answered_with_a_list_of_urls() -> None:
    """Runway's documented answer is video: [url]; the sandbox answers so and the engine reads it."""
    registry = SpecRegistry.from_folders([bundled_specs_dir()])
    spec = registry.model("runway/gen4_turbo")
    params = next(e.params for e in spec.document.examples if e.valid)
    result = await run(registry, spec.id, dict(params))
    assert isinstance(result.response["video"], list) and result.video_urls == result.response["video"]
