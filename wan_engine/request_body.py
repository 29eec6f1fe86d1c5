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


def template_variables(template: Any) -> set[str]:
    if isinstance(template, dict):
        if set(template) == {VAR}:
            return {template[VAR]}
        return set().union(*(template_variables(v) for v in template.values())) if template else set()
    if isinstance(template, list):
        return set().union(*(template_variables(v) for v in template)) if template else set()
    return set()
