"""Property: for random valid parameters, record against the sandbox, replay, and get the same session."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from wan_engine.cassettes import check_cassette, read_cassette, record_against_sandbox, replay_session
from wan_engine.spec.body import extract_parameters
from wan_engine.spec.params import prepare, violations
from wan_engine.spec.registry import SpecRegistry

MODEL = "alibaba/wan-2-7-r2v"
REGISTRY = SpecRegistry.discover()
SPEC = REGISTRY.model(MODEL)
TEXT = st.characters(blacklist_categories=("Cs", "Cc"))


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for the JSON Schema subset parameter schemas use; the spec's validator has the last word."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "uri":
            return st.from_regex(r"[a-z0-9-]{1,16}", fullmatch=True).map(lambda s: f"https://example.com/{s}.png")
        return st.text(TEXT, min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 60), 60))
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {})), min_size=schema.get("minItems", 0),
                        max_size=min(schema.get("maxItems", 3), 3))
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {name: from_schema(properties[name]) for name in required},
            optional={name: from_schema(p) for name, p in properties.items() if name not in required},
        )
    raise NotImplementedError(f"no generator for {schema}")


def valid_params() -> st.SearchStrategy[dict[str, Any]]:
    def valid(params: dict[str, Any]) -> dict[str, Any]:
        assume(not violations(SPEC.validator, params))
        return params

    return from_schema(SPEC.parameters).map(valid)


@settings(max_examples=6)
@given(params=valid_params(), duration=st.sampled_from([0.0, 20.0, 60.0]), seed=st.integers(0, 1000))
def test_record_then_replay_gives_the_same_session(params: dict[str, Any], duration: float, seed: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.yaml"
        recording = asyncio.run(
            record_against_sandbox(REGISTRY, MODEL, params, path, duration_s=duration, seed=seed)
        )
        replayed = asyncio.run(replay_session(path, REGISTRY, strategy="adaptive"))
        assert recording.outcome.kind == "succeeded"
        assert replayed == recording.outcome  # job id, video URL, statuses, polls
        report = check_cassette(path, REGISTRY)
        assert report.ok, report.breaches
        sent = read_cassette(path).interactions[0]["request"]["body"]
        assert extract_parameters(SPEC.submit_endpoint.body, sent) == prepare(SPEC, params)
