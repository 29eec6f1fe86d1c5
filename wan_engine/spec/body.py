"""Turning validated parameters into the exact body a provider expects.

The placement is data (the spec's body template), so a provider that nests
parameters (``input``/``parameters``) or renames the model needs no code.
"""

from __future__ import annotations

from typing import Any

PARAM = "$param"
VAR = "$var"
SPREAD = "$params"
_ABSENT = object()


def placed_parameters(template: Any) -> set[str]:
    """Names a template places explicitly; the spread takes all the others."""
    if isinstance(template, dict):
        if set(template) == {PARAM}:
            return {template[PARAM]}
        return set().union(*(placed_parameters(v) for v in template.values())) if template else set()
    if isinstance(template, list):
        return set().union(*(placed_parameters(v) for v in template)) if template else set()
    return set()


def _render(node: Any, params: dict[str, Any], variables: dict[str, Any], rest: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if set(node) == {PARAM}:
            return params.get(node[PARAM], _ABSENT)
        if set(node) == {VAR}:
            return variables[node[VAR]]
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == SPREAD:
                out.update(rest)
                continue
            rendered = _render(value, params, variables, rest)
            if rendered is not _ABSENT:
                out[key] = rendered
        return out
    if isinstance(node, list):
        return [r for r in (_render(v, params, variables, rest) for v in node) if r is not _ABSENT]
    return node


def render_body(template: Any, params: dict[str, Any], variables: dict[str, Any]) -> Any:
    """The request body; with no template, the parameters themselves."""
    if template is None:
        return dict(params)
    placed = placed_parameters(template)
    rest = {k: v for k, v in params.items() if k not in placed}
    return _render(template, params, variables, rest)


def spreads(template: Any) -> bool:
    """Whether a template spreads the parameters it does not place ("$params": "*") anywhere."""
    if isinstance(template, dict):
        return SPREAD in template or any(spreads(v) for v in template.values())
    if isinstance(template, list):
        return any(spreads(v) for v in template)
    return False


def template_variables(template: Any) -> set[str]:
    if isinstance(template, dict):
        if set(template) == {VAR}:
            return {template[VAR]}
        return set().union(*(template_variables(v) for v in template.values())) if template else set()
    if isinstance(template, list):
        return set().union(*(template_variables(v) for v in template)) if template else set()
    return set()


def extract_parameters(template: Any, body: Any) -> dict[str, Any]:
    """The inverse of ``render_body``: read parameters back out of a body.

    The sandbox uses it to validate what a client sent, and the contract
    checker to validate recorded requests, from the same template.
    """
    if template is None:
        return dict(body) if isinstance(body, dict) else {}
    found: dict[str, Any] = {}
    _extract(template, body, found)
    return found


def _extract(node: Any, value: Any, found: dict[str, Any]) -> None:
    if isinstance(node, dict):
        if set(node) == {PARAM}:
            found[node[PARAM]] = value
            return
        if set(node) == {VAR} or not isinstance(value, dict):
            return
        for key, child in node.items():
            if key != SPREAD and key in value:
                _extract(child, value[key], found)
        if SPREAD in node:
            fixed = {k for k in node if k != SPREAD}
            found.update({k: v for k, v in value.items() if k not in fixed})
    elif isinstance(node, list) and isinstance(value, list):
        for child, item in zip(node, value, strict=False):
            _extract(child, item, found)


def variable_pointers(template: Any, name: str, prefix: str = "") -> list[str]:
    """Where a template puts a variable (e.g. the model name), as JSON Pointers."""
    if isinstance(template, dict):
        if set(template) == {VAR}:
            return [prefix] if template[VAR] == name else []
        out: list[str] = []
        for key, child in template.items():
            escaped = key.replace("~", "~0").replace("/", "~1")
            out += variable_pointers(child, name, f"{prefix}/{escaped}")
        return out
    if isinstance(template, list):
        return [p for i, child in enumerate(template) for p in variable_pointers(child, name, f"{prefix}/{i}")]
    return []
