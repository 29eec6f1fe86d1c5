"""Property tests of parameter validation and request bodies, for every model spec found.

Valid requests are generated from each spec's own parameter schema and
re-validated with the spec's compiled validator (hypothesis-jsonschema knows
drafts 4-7 only). Invalid requests are valid ones with one or more fields
broken, the breakage derived from that field's own schema: nothing here knows
about any particular model.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from typing import Any

import attrs
import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from wan_engine.errors import ParameterValidationError
from wan_engine.spec.body import extract_parameters, variable_pointers
from wan_engine.spec.model import ModelSpec
from wan_engine.spec.params import build_body, prepare
from wan_engine.spec.pointer import resolve

FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER
TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER
DELETE = object()
# One value of each JSON type (2.5 is a number but not an integer).
TYPE_SAMPLES: list[Any] = ["text", 7, 2.5, True, None, ["x"], {"k": 1}]


def json_path(name: str) -> str:
    """How a violation names a top-level parameter."""
    return f"$.{name}" if name.isidentifier() else f"$[{json.dumps(name)}]"


# -- valid requests ------------------------------------------------------------------------------


def _per_property(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Each property from its own schema, optional ones present or not: for schemas too
    conditional (or too new) for hypothesis-jsonschema to handle as a whole."""
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))

    def prop(sub: Any) -> st.SearchStrategy[Any]:
        return from_schema(sub) if isinstance(sub, dict) else st.none()

    return st.fixed_dictionaries(
        {n: prop(s) for n, s in properties.items() if n in required},
        optional={n: prop(s) for n, s in properties.items() if n not in required},
    )


@functools.cache
def valid_params(spec: ModelSpec) -> st.SearchStrategy[dict[str, Any]]:
    try:
        whole: st.SearchStrategy[Any] = from_schema(spec.parameters)
        whole.validate()
    except Exception:  # noqa: BLE001 - hypothesis-jsonschema cannot canonicalise every 2020-12 schema
        whole = _per_property(spec.parameters)
    return whole.filter(lambda v: isinstance(v, dict) and spec.validator.is_valid(v))


@functools.cache
def minimal_valid_params(spec: ModelSpec) -> dict[str, Any]:
    """One deterministic valid request, for the per-mutation tests."""
    valid = [e.params for e in spec.document.examples if e.valid]
    if valid:
        return dict(valid[0])
    from hypothesis import find

    return find(valid_params(spec), lambda _: True, settings=settings(database=None, derandomize=True))


# -- breaking one field --------------------------------------------------------------------------


@attrs.frozen
class Mutation:
    """One way to break one field: ``value`` draws the broken value (or DELETE)."""

    kind: str
    name: str
    path: str
    value: Callable[[st.DataObject], Any] = attrs.field(eq=False, repr=False)

    @property
    def id(self) -> str:
        return f"{self.name}:{self.kind}"


def _is_type(value: Any, types: list[str]) -> bool:
    return any(TYPES.is_type(value, t) for t in types if t in TYPES._type_checkers)


def _item_strategy(items: Any) -> st.SearchStrategy[Any]:
    if isinstance(items, dict):
        try:
            strategy: st.SearchStrategy[Any] = from_schema(items)
            strategy.validate()
            return strategy
        except Exception:  # noqa: BLE001
            pass
    return st.just("x")


def _list_of(items: Any, size: int, unique: bool) -> Callable[[st.DataObject], Any]:
    strategy = st.lists(
        _item_strategy(items), min_size=size, max_size=size, unique_by=(lambda v: json.dumps(v, sort_keys=True))
        if unique else None,
    )
    return lambda data: data.draw(strategy)


def _const(value: Any) -> Callable[[st.DataObject], Any]:
    return lambda _data: value


def property_mutations(name: str, schema: Any, required: bool) -> list[Mutation]:
    path = json_path(name)
    found: list[Mutation] = []

    def add(kind: str, value: Callable[[st.DataObject], Any], where: str = path) -> None:
        found.append(Mutation(kind, name, where, value))

    if required:
        add("missing-required", _const(DELETE))
    if not isinstance(schema, dict):
        return found
    if "type" in schema:
        types = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
        wrong = [v for v in TYPE_SAMPLES if not _is_type(v, types)]
        if wrong:
            strategy = st.sampled_from(wrong)
            add("wrong-type", lambda data: data.draw(strategy))
    if "enum" in schema:
        longest = max((len(v) for v in schema["enum"] if isinstance(v, str)), default=0)
        add("outside-enum", _const("~" * (longest + 1)))  # a string no member can equal
    if "const" in schema:
        add("not-const", _const(schema["const"] + "~" if isinstance(schema["const"], str) else "~"))
    if isinstance(schema.get("maxLength"), int):
        add("too-long", _const("a" * (schema["maxLength"] + 1)))
    if isinstance(schema.get("minLength"), int) and schema["minLength"] > 0:
        add("too-short", _const("a" * (schema["minLength"] - 1)))
    if isinstance(schema.get("pattern"), str):
        misses = [c for c in ("", " ", "~", "no match") if not re.search(schema["pattern"], c)]
        if misses:
            add("pattern-mismatch", _const(misses[0]))
    if isinstance(schema.get("format"), str):
        misses = [c for c in ("not a uri", "::", "x y") if not FORMATS.conforms(c, schema["format"])]
        if misses:
            add("bad-format", _const(misses[0]))
    unique = bool(schema.get("uniqueItems"))
    if isinstance(schema.get("maxItems"), int):
        add("too-many-items", _list_of(schema.get("items"), schema["maxItems"] + 1, unique))
    if isinstance(schema.get("minItems"), int) and schema["minItems"] > 0:
        add("too-few-items", _list_of(schema.get("items"), schema["minItems"] - 1, unique))
    items = schema.get("items")
    if isinstance(items, dict) and isinstance(items.get("type"), str | list):
        item_types = [items["type"]] if isinstance(items["type"], str) else list(items["type"])
        wrong_items = [v for v in TYPE_SAMPLES if not _is_type(v, item_types)]
        if wrong_items:
            add("wrong-item-type", _const([wrong_items[0]]), f"{path}[0]")
    for key, bound in (("minimum", lambda x: math.floor(x) - 1), ("maximum", lambda x: math.ceil(x) + 1),
                       ("exclusiveMinimum", math.floor), ("exclusiveMaximum", math.ceil)):
        limit = schema.get(key)
        if isinstance(limit, int | float) and not isinstance(limit, bool):
            add(f"out-of-range-{key}", _const(bound(limit)))
    return found


def unknown_field_mutation(schema: dict[str, Any]) -> Mutation | None:
    if schema.get("additionalProperties") is not False:
        return None
    known = set(schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(
        lambda n: n not in known and not any(re.search(p, n) for p in patterns)
    )

    return Mutation("unknown-field", "<new>", "", lambda data: data.draw(names))


def mutations(spec: ModelSpec) -> list[Mutation]:
    schema = spec.parameters
    required = set(schema.get("required", []))
    found = [
        m for name, sub in schema.get("properties", {}).items()
        for m in property_mutations(name, sub, name in required)
    ]
    unknown = unknown_field_mutation(schema)
    return found + ([unknown] if unknown else [])


def apply(params: dict[str, Any], mutation: Mutation, data: st.DataObject) -> tuple[dict[str, Any], str]:
    """The request with ``mutation`` applied, and the path the violation must name."""
    broken = dict(params)
    if mutation.kind == "unknown-field":
        name = mutation.value(data)
        broken[name] = "x"
        return broken, json_path(name)
    value = mutation.value(data)
    if value is DELETE:
        broken.pop(mutation.name, None)
    else:
        broken[mutation.name] = value
    return broken, mutation.path


def violation_paths(spec: ModelSpec, params: dict[str, Any]) -> list[str]:
    with pytest.raises(ParameterValidationError) as caught:
        prepare(spec, params)
    assert caught.value.model == spec.id
    assert caught.value.violations, "an error with no violations"
    return [v.path for v in caught.value.violations]


# -- which specs a property sees ------------------------------------------------------------------
#
# The properties draw the spec inside the test (st.sampled_from) instead of being parametrised
# per spec: with ~150 specs a per-spec hypothesis run cost minutes, and the cost must not grow
# with the number of spec files. Each property gets a fixed budget of examples (scaled by the
# profile: fast locally, ci in CI, dev for a deep run), spent across all specs; every spec is
# still checked on its own by the cheap deterministic tests (test_every_spec_has_mutations_to_check
# here, tests/spec/test_models_all.py for its examples and a sandbox run).

from conftest import all_model_specs  # noqa: E402 - the same list the parametrised tests use

SPECS = all_model_specs()
specs = st.sampled_from(SPECS)
CASES = [(spec, m) for spec in SPECS for m in mutations(spec)]
budget = settings(max_examples=max(10, settings.default.max_examples * 3))


# -- the properties ------------------------------------------------------------------------------


@budget
@given(data=st.data())
def test_generated_valid_params_are_accepted_and_round_trip_through_the_body(data: st.DataObject) -> None:
    model_spec = data.draw(specs, label="spec")
    params = data.draw(valid_params(model_spec), label="params")
    prepared = prepare(model_spec, params)
    assert model_spec.validator.is_valid(prepared)
    assert {k: v for k, v in prepared.items() if k in params} == params, "prepare changed a given value"
    template = model_spec.submit_endpoint.body
    body = json.loads(json.dumps(build_body(model_spec, prepared)))  # what goes over the wire
    assert extract_parameters(template, body) == prepared
    for pointer in variable_pointers(template, "model"):
        assert resolve(body, pointer) == model_spec.provider_model


def test_every_spec_has_mutations_to_check(model_spec: ModelSpec) -> None:
    kinds = {m.kind for m in mutations(model_spec)}
    assert kinds, f"{model_spec.id}: no constraint to break; is its parameter schema empty?"


@budget
@given(data=st.data())
def test_each_mutation_is_rejected_naming_the_broken_field(data: st.DataObject) -> None:
    spec, mutation = data.draw(st.sampled_from(CASES), label="spec and mutation")
    base = data.draw(st.one_of(st.just(minimal_valid_params(spec)), valid_params(spec)), label="valid params")
    broken, path = apply(base, mutation, data)
    assert not spec.validator.is_valid(broken)
    assert path in violation_paths(spec, broken)


@budget
@given(data=st.data())
def test_mutations_anywhere_are_rejected_naming_the_broken_field(data: st.DataObject) -> None:
    model_spec = data.draw(specs, label="spec")
    base = data.draw(valid_params(model_spec), label="valid params")
    mutation = data.draw(st.sampled_from(mutations(model_spec)), label="mutation")
    broken, path = apply(base, mutation, data)
    assert path in violation_paths(model_spec, broken)


BREAKABLE = [spec for spec in SPECS if len({m.name for m in mutations(spec)}) >= 2]


@budget
@given(data=st.data())
def test_all_violations_are_reported_at_once(data: st.DataObject) -> None:
    model_spec = data.draw(st.sampled_from(BREAKABLE), label="spec")
    by_field: dict[str, list[Mutation]] = {}
    for m in mutations(model_spec):
        by_field.setdefault(m.name, []).append(m)
    fields = data.draw(
        st.lists(st.sampled_from(sorted(by_field)), min_size=2, max_size=min(5, len(by_field)), unique=True),
        label="fields",
    )
    broken = data.draw(valid_params(model_spec), label="valid params")
    expected = set()
    for field in fields:
        mutation = data.draw(st.sampled_from(by_field[field]), label=f"mutation of {field}")
        broken, path = apply(broken, mutation, data)
        expected.add(path)
    assert expected <= set(violation_paths(model_spec, broken))
