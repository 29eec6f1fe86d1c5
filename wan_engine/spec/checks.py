"""What the meta-schema cannot check about a model: cross-references and examples."""

from __future__ import annotations

import re
from typing import Any

import referencing.exceptions
from jsonschema_specifications import REGISTRY as METASCHEMAS
from referencing.jsonschema import DRAFT202012

from wan_engine.errors import Problem
from wan_engine.spec.body import PARAM, SPREAD, VAR, placed_parameters, spreads, template_variables
from wan_engine.spec.model import ModelSpec, ProviderSpec
from wan_engine.spec.params import violations, with_defaults
from wan_engine.spec.ref_cycles import ref_cycle_problems

KNOWN_VARIABLES = {"model"}
# Keywords whose values are data, not subschemas: a "$ref" inside them is not a reference.
_DATA_KEYWORDS = {"enum", "const", "default", "examples"}


def template_problems(template: Any, path: str = "$.submit.body") -> list[Problem]:
    """A body template's markers are well formed: {"$param": NAME}, {"$var": NAME}, "$params": "*"."""
    problems: list[Problem] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for marker in (PARAM, VAR):
                if marker in node and set(node) != {marker}:
                    problems.append(Problem(where, f"an object holding {marker!r} must hold nothing else"))
                elif marker in node and not isinstance(node[marker], str):
                    problems.append(Problem(f"{where}.{marker}", f"must be a name (a string), got {node[marker]!r}"))
            if SPREAD in node and node[SPREAD] != "*":
                problems.append(Problem(f"{where}.{SPREAD}", f'must be "*", got {node[SPREAD]!r}'))
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    walk(template, path)
    return problems


def ref_problems(schema: Any, path: str = "$.parameters") -> list[Problem]:
    """Every $ref in a parameter schema resolves (offline: only local and metaschema references)."""
    if not isinstance(schema, dict):
        return []
    resolver = METASCHEMAS.resolver_with_root(DRAFT202012.create_resource(schema))
    problems: list[Problem] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if where != path and "$id" in node:
                return  # a new base URI: references below it are relative to that, not checked here
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    resolver.lookup(ref)
                except referencing.exceptions.Unresolvable as exc:
                    problems.append(Problem(f"{where}.$ref", f"cannot be resolved: {exc}"))
            for key, value in node.items():
                if key not in _DATA_KEYWORDS:
                    walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    walk(schema, path)
    return problems


def _property_path(name: str) -> str:
    return f"$.parameters.properties.{name}" if name.isidentifier() else f'$.parameters.properties["{name}"]'


def provider_problems(provider: ProviderSpec) -> list[Problem]:
    """What the meta-schema cannot check about a provider: its template and its status words agree."""
    problems = template_problems(provider.submit.body)
    if provider.unknown_task_status is not None and provider.unknown_task_status not in provider.statuses:
        problems.append(
            Problem("$.unknown_task_status", f"{provider.unknown_task_status!r} is not mapped in $.statuses")
        )
    states = set(provider.statuses.values())
    for index, state in enumerate(provider.cancellable_states):
        if provider.cancel is None:
            problems.append(Problem("$.cancellable_states", "is given but the provider has no $.cancel endpoint"))
            break
        if state not in states:
            problems.append(Problem(f"$.cancellable_states[{index}]", f"no status in $.statuses maps to {state}"))
    return problems


def model_problems(spec: ModelSpec) -> list[Problem]:
    problems = ref_problems(spec.parameters) or ref_cycle_problems(spec.parameters)
    if problems:
        return problems  # the examples cannot be checked against a schema that does not resolve
    names = set(spec.parameters.get("properties", {}))
    body = spec.submit_endpoint.body
    own_body = spec.document.submit.body is not None
    body_path = "$.submit.body" if own_body else f"{spec.provider.source_file}: $.submit.body"
    malformed = template_problems(body)
    if malformed:
        # The provider's own template is reported once, against the provider file, by the registry.
        problems.extend(malformed if own_body else [])
        body = None
    for missing in sorted(placed_parameters(body) - names):
        problems.append(Problem(body_path, f"places parameter {missing!r}, which $.parameters does not define"))
    if body is not None and not spreads(body):
        for lost in sorted(names - placed_parameters(body)):
            problems.append(
                Problem(
                    _property_path(lost),
                    f"is neither placed by the body template ({body_path}) nor spread into it by "
                    '"$params": "*", so it would never be sent',
                )
            )
    for unknown in sorted(template_variables(body) - KNOWN_VARIABLES):
        problems.append(
            Problem(body_path, f"uses unknown variable {unknown!r} (known: {', '.join(sorted(KNOWN_VARIABLES))})")
        )
    problems.extend(_path_variable_problems(spec))
    problems.extend(_callback_problems(spec, body, body_path))
    for index, example in enumerate(spec.document.examples):
        found = violations(spec.validator, with_defaults(spec.parameters, example.params))
        where = f"$.examples[{index}].params"
        if example.valid and found:
            problems.extend(
                Problem(where + p.path[1:], f"example {example.name!r} is marked valid but {p.message}") for p in found
            )
        if not example.valid and not found:
            problems.append(
                Problem(where, f"example {example.name!r} is marked invalid but the parameter schema accepts it")
            )
    return problems


def _path_variable_problems(spec: ModelSpec) -> list[Problem]:
    """Every ``{NAME}`` in the provider's paths must be ``{id}``, ``{model}`` or one of the model's ``path_vars``
    (fal's ``{app}``): else the engine would send the braces literally."""
    provider = spec.provider
    endpoints = [provider.submit, provider.status, provider.cancel, provider.result_request]
    known = {"id", *spec.path_vars}
    problems = []
    for name in sorted({n for e in endpoints if e is not None for n in re.findall(r"\{(\w+)\}", e.path)} - known):
        problems.append(
            Problem("$.path_vars", f"{provider.id}'s paths use {{{name}}}: give its value in $.path_vars.{name}")
        )
    return problems


def _callback_problems(spec: ModelSpec, body: Any, body_path: str) -> list[Problem]:
    """The callback URL (and its events filter) must not land where the body template places a parameter."""
    callbacks = spec.provider.callbacks
    if callbacks is None or body is None:
        return []
    pointers = [callbacks.url.pointer] if callbacks.url.place == "body" and callbacks.url.pointer else []
    if callbacks.events is not None:
        pointers.append(callbacks.events.pointer)
    problems = []
    for pointer in pointers:
        node = body
        for token in pointer.lstrip("/").split("/"):
            node = node.get(token) if isinstance(node, dict) else None
        if node is not None:
            problems.append(Problem(body_path, f"places something at {pointer}, where callbacks put their URL"))
    return problems
