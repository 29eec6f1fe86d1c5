"""RFC 6901 JSON Pointers: how specs say where things live in a response.

Small enough to own, and owning it lets a missing location read as "absent"
rather than raise, which is what tolerant response parsing needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_MISSING = object()


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON Pointer: {pointer!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def resolve(document: Any, pointer: str, default: Any = None) -> Any:
    """The value at ``pointer``, or ``default`` when any step is missing."""
    node = document
    for token in _tokens(pointer):
        if isinstance(node, dict):
            node = node.get(token, _MISSING)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return default
        if node is _MISSING:
            return default
    return node


def first(document: Any, pointers: str | Sequence[str] | None) -> Any:
    """The first non-null value among alternative locations (tolerant parsing)."""
    if pointers is None:
        return None
    for pointer in [pointers] if isinstance(pointers, str) else pointers:
        value = resolve(document, pointer)
        if value is not None:
            return value
    return None


def assign(document: dict[str, Any], pointer: str, value: Any) -> None:
    """Write ``value`` at ``pointer``, creating (or replacing null with) objects on the way."""
    tokens = _tokens(pointer)
    if not tokens:
        raise ValueError("cannot assign to the document root")
    node: Any = document
    for token in tokens[:-1]:
        if isinstance(node, list):
            node = node[int(token)]
            continue
        child = node.get(token)
        if not isinstance(child, (dict, list)):
            child = {}
            node[token] = child
        node = child
    if isinstance(node, list):
        index = int(tokens[-1])
        while len(node) <= index:
            node.append({})
        node[index] = value
    else:
        node[tokens[-1]] = value


def to_json_path(pointer: str) -> str:
    """Show a pointer the way violations are shown ($.a.b[0])."""
    path = "$"
    for token in _tokens(pointer):
        path += f"[{token}]" if token.isdigit() else f".{token}"
    return path
