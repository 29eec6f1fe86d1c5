"""RFC 6901 JSON Pointers: how specs say where things live in a response.

Small enough to own, and owning it lets a missing location read as "absent"
rather than raise, which is what tolerant response parsing needs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

_MISSING = object()


@functools.lru_cache(maxsize=4096)
def _tokens(pointer: str) -> tuple[str, ...]:
    """A pointer's tokens, parsed once: specs use a few dozen pointers, read at every status poll."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON Pointer: {pointer!r}")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))


WILDCARD = "*"
"""A token that, on a list, stands for every item: ``/videos/*/url`` is the list of every video's url.

An extension of RFC 6901 for specs (a provider whose results are a list of objects);
a literal "*" key in an object still resolves as itself.
"""


def _walk(node: Any, tokens: Sequence[str]) -> Any:
    for index, token in enumerate(tokens):
        if isinstance(node, dict):
            node = node.get(token, _MISSING)
        elif isinstance(node, list) and token == WILDCARD:
            found = [_walk(item, tokens[index + 1 :]) for item in node]
            return [value for value in found if value is not _MISSING and value is not None]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def resolve(document: Any, pointer: str | Sequence[str] | None, default: Any = None) -> Any:
    """The value at ``pointer``, or ``default`` when any step is missing.

    ``pointer`` may be a list of alternatives (a spec's "one or several"): the
    first that holds a scalar wins (see :func:`first`), so callers need not know
    which form a spec used.
    """
    if pointer is None:
        return default
    if not isinstance(pointer, str):
        value = first(document, pointer)
        return default if value is None else value
    node = _walk(document, _tokens(pointer))
    return default if node is _MISSING else node


def first(document: Any, pointers: str | Sequence[str] | None) -> Any:
    """The first scalar value among alternative locations (tolerant parsing).

    Objects and lists are skipped: ids, statuses, messages and codes are scalars,
    so ``["/error/message", "/error"]`` reads a message from ``{"error": {"message": m}}``
    and from ``{"error": m}`` alike, and never returns the object itself.
    """
    if pointers is None:
        return None
    for pointer in [pointers] if isinstance(pointers, str) else pointers:
        value = resolve(document, pointer)
        if value is not None and not isinstance(value, (dict, list)):
            return value
    return None


def assign(document: dict[str, Any], pointer: str, value: Any) -> None:
    """Write ``value`` at ``pointer``, creating (or replacing null with) objects on the way.

    A step followed by a number or the wildcard creates a list, and the wildcard
    writes the first item: the sandbox answers ``/video/*`` as ``{"video": [value]}``.
    """
    tokens = ["0" if t == WILDCARD else t for t in _tokens(pointer)]
    if not tokens:
        raise ValueError("cannot assign to the document root")
    node: Any = document
    for index, token in enumerate(tokens[:-1]):
        wants_list = tokens[index + 1].isdigit()
        if isinstance(node, list):
            position = int(token)
            while len(node) <= position:
                node.append([] if wants_list else {})
            if not isinstance(node[position], (dict, list)):
                node[position] = [] if wants_list else {}
            node = node[position]
            continue
        child = node.get(token)
        if not isinstance(child, (dict, list)):
            child = [] if wants_list else {}
            node[token] = child
        node = child
    if isinstance(node, list):
        position = int(tokens[-1])
        while len(node) <= position:
            node.append({})
        node[position] = value
    else:
        node[tokens[-1]] = value


def to_json_path(pointer: str | Sequence[str] | None) -> str:
    """Show a pointer the way violations are shown ($.a.b[0]); of alternatives, the first (the canonical one)."""
    if pointer is None:
        return "$"
    if not isinstance(pointer, str):
        return to_json_path(pointer[0]) if pointer else "$"
    path = "$"
    for token in _tokens(pointer):
        path += f"[{token}]" if token.isdigit() else f".{token}"
    return path
