"""Every discovered model, end to end: a sandbox generation through the engine, and its examples.

Parametrised over ``SpecRegistry.discover().models()`` (the bundled specs, WAN_ENGINE_SPEC_PATH
folders and spec plugins), so a spec file dropped into any of them is generated, checked and
documented-checked here with no new test code. Nothing in this module names a model or a provider:
each spec's first valid example is the request, its provider's key variable gets a dummy key.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from wan_engine.client.engine import Engine
from wan_engine.clock import VirtualClock
from wan_engine.errors import ParameterValidationError
from wan_engine.sandbox import Sandbox, SandboxConfig
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.body import extract_parameters
from wan_engine.spec.model import ModelSpec
from wan_engine.spec.params import build_body, prepare
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState

DUMMY_KEY = "dummy-key-for-the-sandbox"
REGISTRY = SpecRegistry.discover()  # one registry for the module: discovering ~150 specs per test costs seconds
MODELS = REGISTRY.models()
each_model = pytest.mark.parametrize("spec", MODELS, ids=[m.id for m in MODELS])


def first_valid_example(spec: ModelSpec) -> dict[str, object]:
    valid = [e for e in spec.document.examples if e.valid]
    assert valid, f"{spec.id}: a spec needs at least one valid example (it is the sandbox test's request)"
    return dict(valid[0].params)


@asynccontextmanager
async def engine_on_sandbox(spec: ModelSpec, duration_s: float = 120.0) -> AsyncIterator[tuple[Engine, Sandbox]]:
    """An engine and a sandbox sharing virtual time; only the model's own provider key is set."""
    clock = VirtualClock()
    registry = REGISTRY
    config = SandboxConfig(duration_s=duration_s, clock=clock.now, wall_clock=lambda: clock.wall().timestamp())
    env = {spec.provider.auth.env: DUMMY_KEY} if spec.provider.auth.env else {}
    async with Sandbox(registry, config) as sandbox:
        engine = Engine(registry, base_urls=sandbox.base_urls(), env=env, clock=clock, strategy="fixed")
        async with engine:
            yield engine, sandbox


def test_the_bundled_specs_cover_both_providers() -> None:
    by_provider: dict[str, int] = {}
    for spec in MODELS:
        by_provider[spec.provider.id] = by_provider.get(spec.provider.id, 0) + 1
    assert len(by_provider) >= 2, by_provider


@each_model
async def test_a_sandbox_generation_runs_through_the_engine(spec: ModelSpec) -> None:
    params = first_valid_example(spec)
    async with engine_on_sandbox(spec) as (engine, sandbox):
        job = await engine.submit(spec.id, params)
        assert job.state in (JobState.QUEUED, JobState.RUNNING, None)
        result = await job.wait()
        assert job.state is JobState.SUCCEEDED
        assert result.model == spec.id and result.spec_version == spec.spec_version
        assert result.job_id == job.id and result.video_url.startswith(sandbox.url)
        assert sandbox.submissions == {spec.id: 1}, "one job, paid once"
        served = sandbox.jobs[job.id]
        assert served.params == prepare(spec, params), "the sandbox read back exactly what was asked for"
        status_schema = spec.response_validator("status")
        if status_schema is not None:
            assert not list(status_schema.iter_errors(result.response))
        assert json_pointer.resolve(result.response, spec.provider.status_pointer) == spec.provider.canonical_status(
            JobState.SUCCEEDED
        )


@each_model
def test_every_example_is_what_it_claims(spec: ModelSpec) -> None:
    examples = spec.document.examples
    assert any(e.valid for e in examples) and any(not e.valid for e in examples), (
        f"{spec.id}: give at least one valid and one invalid example"
    )
    for example in examples:
        if example.valid:
            prepared = prepare(spec, dict(example.params))
            wire = json.loads(json.dumps(build_body(spec, prepared)))
            assert extract_parameters(spec.submit_endpoint.body, wire) == prepared, example.name
        else:
            with pytest.raises(ParameterValidationError) as caught:
                prepare(spec, dict(example.params))
            assert all(v.path.startswith("$") for v in caught.value.violations), example.name


@each_model
def test_every_parameter_and_the_polling_hints_cite_a_source(spec: ModelSpec) -> None:
    for name, schema in spec.parameters["properties"].items():
        description = schema.get("description", "") if isinstance(schema, dict) else ""
        assert "Source" in description, f"{spec.id}: $.parameters.properties.{name} cites no source"
    hints = spec.polling
    assert hints.source, f"{spec.id}: polling hints need a source (or say they are an estimate)"
    assert hints.typical_duration_s, f"{spec.id}: no typical duration"
