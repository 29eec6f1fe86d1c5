"""The format additions made for the second provider and the new models, each on its own.

response_overrides (a model's status words and result locations), errors.codes,
cancellable_states, cancel_template, unknown_task_status, and the lint rule that every
parameter reaches the body. Specs here are written to a temporary folder beside the
bundled providers, so nothing depends on a particular bundled model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from support.spec_documents import model_document, registry_with

from wan_engine.client.engine import Engine
from wan_engine.clock import VirtualClock
from wan_engine.errors import InvalidSpecsError, SpecError
from wan_engine.sandbox import Sandbox, SandboxConfig
from wan_engine.sandbox.responses import error_document
from wan_engine.spec.checks import model_problems
from wan_engine.spec.files import load_file
from wan_engine.spec.model import ModelSpec
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState


def model(**extra: Any) -> dict[str, Any]:
    examples = [{"name": "ok", "params": {"prompt": "x"}}]
    return model_document("test/overrides", "Overrides (test)", {}, **{"examples": examples, **extra})


OVERRIDES = {
    "description": "This model says 'done' and puts its video under /output/url.",
    "statuses": {"done": "succeeded"},
    "result": {"video_url": "/output/url", "metadata": {"seconds": "/output/seconds"}},
}


def test_overrides_are_merged_over_the_provider_for_this_model_only(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, model(response_overrides=OVERRIDES))
    spec = registry.model("test/overrides")
    base = registry.providers["aimlapi"]
    assert spec.provider.engine_state("done") is JobState.SUCCEEDED
    assert spec.provider.engine_state("completed") is JobState.SUCCEEDED, "the provider's words still count"
    assert spec.provider.result.video_url == "/output/url"
    assert spec.provider.result.error_message == base.result.error_message
    assert spec.provider.result.metadata == {**base.result.metadata, "seconds": "/output/seconds"}
    assert spec.provider.id == base.id and "done" not in base.statuses
    assert registry.model("alibaba/wan-2-7-r2v").provider is base
    assert spec.provider.canonical_status(JobState.SUCCEEDED) == "completed"


def test_no_overrides_leave_the_provider_object_itself(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, model())
    assert registry.model("test/overrides").provider is registry.providers["aimlapi"]


async def test_the_engine_and_the_sandbox_both_follow_the_overrides(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, model(response_overrides=OVERRIDES))
    clock = VirtualClock()
    config = SandboxConfig(duration_s=60, clock=clock.now, wall_clock=lambda: clock.wall().timestamp())
    async with Sandbox(registry, config) as sandbox:
        urls = sandbox.base_urls()
        async with Engine(registry, base_urls=urls, env={"AIMLAPI_KEY": "k"}, clock=clock, strategy="fixed") as engine:
            result = await engine.run("test/overrides", {"prompt": "x"})
    assert result.response["output"]["url"] == result.video_url
    assert "url" not in (result.response["video"] or {}), "the provider's own location is not used by this model"


def test_an_override_with_a_bad_state_is_refused_at_load(tmp_path: Path) -> None:
    bad = model(response_overrides={"statuses": {"done": "finished"}})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_file(path)
    assert any(p.path == "$.response_overrides.statuses.done" for p in caught.value.problems)


def test_error_codes_come_from_the_spec_and_fall_back_to_neutral_ones() -> None:
    provider = SpecRegistry.discover().providers["dashscope"]
    assert error_document(provider, 401, "no", path="/", request_id="r")["code"] == "InvalidApiKey"
    assert error_document(provider, 409, "no", path="/", request_id="r")["code"] == "Conflict"
    plain = attrs.evolve(provider, errors=attrs.evolve(provider.errors, codes={}))
    assert error_document(plain, 401, "no", path="/", request_id="r")["code"] == "Unauthorized"


def test_cancellable_states_default_to_every_unfinished_state() -> None:
    registry = SpecRegistry.discover()
    dashscope, aimlapi = registry.providers["dashscope"], registry.providers["aimlapi"]
    assert dashscope.can_cancel_in(JobState.QUEUED) and not dashscope.can_cancel_in(JobState.RUNNING)
    assert aimlapi.can_cancel_in(JobState.RUNNING) and not aimlapi.can_cancel_in(JobState.SUCCEEDED)


def test_a_parameter_the_template_never_sends_is_a_load_error(tmp_path: Path) -> None:
    document = model(
        provider="dashscope",
        submit={"body": {"model": {"$var": "model"}, "input": {"prompt": {"$param": "prompt"}}}},
    )
    document["parameters"]["properties"]["seed"] = {"type": "integer"}
    with pytest.raises(InvalidSpecsError) as caught:
        registry_with(tmp_path, document)
    [error] = caught.value.errors
    assert isinstance(error, SpecError)
    assert [p.path for p in error.problems] == ["$.parameters.properties.seed"]
    assert "never be sent" in error.problems[0].message


def test_a_spread_sends_the_rest(tmp_path: Path) -> None:
    document = model(provider="dashscope")
    document["parameters"]["properties"]["seed"] = {"type": "integer"}
    spec: ModelSpec = registry_with(tmp_path, document).model("test/overrides")
    assert model_problems(spec) == []
