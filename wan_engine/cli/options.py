"""Command-line options derived from a model's parameter schema, so a new spec file gets its options for free."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import click

from wan_engine.spec.model import ModelSpec


def option_name(parameter: str, schema: dict[str, Any], taken: Collection[str] = ()) -> str:
    """``image_urls`` -> ``--image-url`` (repeatable options read best in the singular),
    unless the model also has a parameter of that singular name (``taken``): then ``--image-urls``."""
    name = parameter.replace("_", "-")
    singular = name[:-1]
    if (
        schema.get("type") == "array"
        and name.endswith("s")
        and not name.endswith("ss")
        and singular.replace("-", "_") not in taken
    ):
        name = singular
    return f"--{name}"


def _describe(schema: dict[str, Any]) -> str:
    parts = []
    # Spec descriptions end with "Source: ..." citations: useful in the spec, noise in --help.
    description = str(schema.get("description", "")).split("Source:")[0].strip()
    if description:
        parts.append(description.rstrip("."))
    if "enum" in schema:
        parts.append("allowed: " + ", ".join(json.dumps(v) if not isinstance(v, str) else v for v in schema["enum"]))
    for key, label in (("minimum", "min"), ("maximum", "max"), ("maxLength", "max length"), ("maxItems", "at most")):
        if key in schema:
            parts.append(f"{label} {schema[key]}")
    if "default" in schema:
        parts.append(f"default: {json.dumps(schema['default'])}")
    return "; ".join(parts)


class _JsonValue(click.ParamType[Any, Any]):
    name = "JSON"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            self.fail(f"not JSON: {exc}", param, ctx)


class _Choice(click.Choice):  # type: ignore[type-arg]
    """An enum of any JSON type: shown as text, converted back to the schema's value."""

    def __init__(self, values: list[Any]) -> None:
        self.values = values
        super().__init__([v if isinstance(v, str) else json.dumps(v) for v in values])

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = super().convert(value if isinstance(value, str) else json.dumps(value), param, ctx)
        return self.values[self.choices.index(text)]


def _scalar_type(schema: dict[str, Any]) -> click.ParamType[Any, Any]:
    if "enum" in schema:
        return _Choice(list(schema["enum"]))
    kind = schema.get("type")
    if kind == "integer":
        return click.INT
    if kind == "number":
        return click.FLOAT
    if kind == "string":
        return click.STRING
    return _JsonValue()


def parameter_options(spec: ModelSpec) -> list[click.Option]:
    options: list[click.Option] = []
    required = set(spec.parameters.get("required", []))
    for name, raw in spec.parameters.get("properties", {}).items():
        schema = raw if isinstance(raw, dict) else {}
        help_text = _describe(schema) + (" (required)" if name in required else "")
        flag = option_name(name, schema, taken=spec.parameters.get("properties", {}).keys())
        if schema.get("type") == "boolean":
            options.append(
                click.Option([f"{flag}/--no-{flag[2:]}", name], default=None, help=help_text)
            )
        elif schema.get("type") == "array" and isinstance(schema.get("items"), dict):
            options.append(
                click.Option([flag, name], multiple=True, type=_scalar_type(schema["items"]),
                             help=help_text + " (repeatable)")
            )
        else:
            options.append(click.Option([flag, name], type=_scalar_type(schema), default=None, help=help_text))
    return options


def collect(spec: ModelSpec, values: dict[str, Any]) -> dict[str, Any]:
    """The parameters given on the command line (absent options are left to the spec's defaults)."""
    params: dict[str, Any] = {}
    for name in spec.parameters.get("properties", {}):
        value = values.get(name)
        if value is None or value == ():
            continue
        params[name] = list(value) if isinstance(value, tuple) else value
    return params
