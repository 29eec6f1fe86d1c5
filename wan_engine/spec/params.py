"""Checking a request against a model's parameter schema, in words a person understands.

Every violation is collected in one pass (users fix a request once, not once
per error), each with its JSON path; the schema is compiled once per model.
"""

from __future__ import annotations

import json
import math
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError as SchemaViolation

from wan_engine.errors import ParameterValidationError, Problem
from wan_engine.spec.body import render_body
from wan_engine.spec.model import ModelSpec

_FORMAT_NAMES = {"uri": "a URI", "uri-reference": "a URI reference", "date-time": "an RFC 3339 date-time"}


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if name.isidentifier() else f"{path}[{json.dumps(name)}]"


def _json_path(error: SchemaViolation) -> str:
    """The instance path, spelled as ``_child`` spells it (jsonschema's json_path writes every key as .key)."""
    path = "$"
    for step in error.absolute_path:
        path = f"{path}[{step}]" if isinstance(step, int) else _child(path, step)
    return path


def _rule(root: dict[str, Any], error: SchemaViolation) -> str | None:
    """The description of the conditional rule (if/then) that produced an error, if any."""
    node: Any = root
    found: str | None = None
    for step in error.schema_path:
        if isinstance(node, dict) and "then" in node and "description" in node and step in ("then", "else"):
            found = node["description"]
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            break
    return found


def describe_error(
    error: SchemaViolation, root: dict[str, Any], unknown: str = "is not a parameter of this model"
) -> list[Problem]:
    """Problems a person can act on, each at the path of the field concerned (a missing or unknown key too)."""
    path, v = _json_path(error), error.validator
    got: Any = error.instance
    expected: Any = error.validator_value
    schema: Any = error.schema
    if v == "required":
        missing = [n for n in expected if isinstance(got, dict) and n not in got]
        return [Problem(_child(path, n), "is required") for n in missing]
    if v == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        extra = sorted(set(got) - set(known)) if isinstance(got, dict) else []
        return [
            Problem(_child(path, n), f"{unknown} (known: {', '.join(known)})") for n in extra
        ]
    if v == "enum":
        message = f"must be one of {', '.join(_show(x) for x in expected)} (got {_show(got)})"
    elif v == "const":
        message = f"must be {_show(expected)} (got {_show(got)})"
    elif v == "type":
        kinds = expected if isinstance(expected, str) else " or ".join(expected)
        message = f"must be of type {kinds} (got {type(got).__name__} {_show(got)})"
    elif v == "maxLength":
        message = f"must be at most {expected} characters long (got {len(got)})"
    elif v == "minLength":
        message = f"must be at least {expected} character{'s' if expected != 1 else ''} long (got {len(got)})"
    elif v == "maxItems":
        message = f"must have at most {expected} item{'s' if expected != 1 else ''} (got {len(got)})"
    elif v == "minItems":
        message = f"must have at least {expected} item{'s' if expected != 1 else ''} (got {len(got)})"
    elif v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[v]
        message = f"must be {sign} {expected} (got {_show(got)})"
    elif v == "format":
        message = f"must be {_FORMAT_NAMES.get(expected, expected)} (got {_show(got)})"
    elif v == "pattern":
        message = f"must match the pattern {expected} (got {_show(got)})"
    elif v == "uniqueItems":
        message = "must not repeat items"
    else:
        message = error.message
    rule = _rule(root, error)
    return [Problem(path, f"{message}; rule: {rule}" if rule else message)]


def non_finite(params: Any, path: str = "$") -> list[Problem]:
    """NaN and ±Infinity anywhere in the parameters: JSON cannot carry them, and JSON Schema does not
    reject them (every comparison with NaN is false, so ``minimum``/``maximum`` let it through)."""
    found: list[Problem] = []
    stack: list[tuple[Any, str]] = [(params, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            found.append(Problem(where, f"must be a finite number (got {value}; JSON has no NaN or Infinity)"))
        elif isinstance(value, dict):
            stack.extend((v, _child(where, str(k))) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(value))
    return found


def violations(validator: jsonschema.Draft202012Validator, params: Any) -> list[Problem]:
    root = validator.schema if isinstance(validator.schema, dict) else {}
    found: list[Problem] = non_finite(params)
    for error in validator.iter_errors(params):
        found.extend(describe_error(error, root))
    unique = sorted(set(found), key=lambda p: (p.path, p.message))
    return unique


def with_defaults(schema: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Top-level defaults filled in, so the body says exactly what was asked for."""
    filled = dict(params)
    for name, prop in schema.get("properties", {}).items():
        if name not in filled and isinstance(prop, dict) and "default" in prop:
            filled[name] = prop["default"]
    return filled


def _wants_number(schema: Any) -> str | None:
    """'integer' or 'number' when a property's schema asks for one (by type or by a numeric enum)."""
    if not isinstance(schema, dict):
        return None
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    if "string" in kinds:
        return None
    if "integer" in kinds:
        return "integer"
    if "number" in kinds:
        return "number"
    enum = schema.get("enum")
    if enum and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in enum):
        return "integer" if all(isinstance(v, int) for v in enum) else "number"
    return None


def normalise_numbers(schema: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Numeric strings ("5") turned into numbers where a top-level property wants a number.

    For providers whose spec says ``numeric_strings: normalise`` (their own samples
    send ``"duration": "5"``): the request is accepted and the body carries the
    number the schema describes. Anything that does not parse stays as given, so
    validation still names it.
    """
    normalised = dict(params)
    for name, value in params.items():
        if not isinstance(value, str):
            continue
        kind = _wants_number(schema.get("properties", {}).get(name))
        text = value.strip()
        try:
            if kind == "integer" and text.lstrip("+-").isdigit():
                normalised[name] = int(text)
            elif kind == "number":
                number = float(text)
                normalised[name] = int(number) if number.is_integer() and "." not in text else number
        except ValueError:
            continue
    return normalised


def prepare(spec: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
    """Validate, apply defaults, re-check (a default may break a condition); raise with every violation."""
    validator = spec.validator
    if spec.provider.numeric_strings == "normalise":
        params = normalise_numbers(spec.parameters, params)
    problems = violations(validator, params)
    if problems:
        raise ParameterValidationError(spec.id, problems)
    filled = with_defaults(spec.parameters, params)
    if spec.provider.numeric_strings == "normalise":
        filled = normalise_numbers(spec.parameters, filled)  # a default written as "10"
    problems = [Problem(p.path, f"{p.message} (after applying defaults)") for p in violations(validator, filled)]
    if problems:
        raise ParameterValidationError(spec.id, problems)
    return filled


def build_body(spec: ModelSpec, params: dict[str, Any]) -> Any:
    """The exact submit body, from parameters that already passed ``prepare``."""
    return render_body(spec.submit_endpoint.body, params, {"model": spec.provider_model})
