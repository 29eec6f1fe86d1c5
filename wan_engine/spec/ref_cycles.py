"""``$ref`` loops that never reach data: found at load, not as a RecursionError at the first validation.

A schema may be recursive through data (``node.properties.children.items``
refers back to ``node``: each step descends into the instance, so validation
ends). It may not loop in place: ``a`` is ``{"$ref": "#/$defs/b"}`` and ``b``
is ``{"allOf": [{"$ref": "#/$defs/a"}]}`` — validating anything against it
recurses forever. Only the applicators that stay on the same instance count.
"""

from __future__ import annotations

from typing import Any

from wan_engine.errors import Problem

# Keywords whose subschemas apply to the same instance (no descent into the data).
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_MAPS = ("dependentSchemas",)


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _lookup(root: Any, ref: str) -> tuple[str, Any] | None:
    """The local (``#/...``) reference's target and its canonical pointer; None for other references."""
    if not ref.startswith("#"):
        return None
    node = root
    pointer = ref[1:]
    for token in [t for t in pointer.split("/") if t] if pointer else []:
        key = _unescape(token)
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None  # unresolvable: reported elsewhere
    return pointer or "/", node


def _in_place(node: Any, pointer: str) -> list[tuple[str, Any]]:
    """The subschemas applied to the same instance as ``node``, with their pointers."""
    if not isinstance(node, dict):
        return []
    found: list[tuple[str, Any]] = []
    for key in _IN_PLACE_LISTS:
        if isinstance(node.get(key), list):
            found += [(f"{pointer}/{key}/{i}", sub) for i, sub in enumerate(node[key])]
    for key in _IN_PLACE_ONE:
        if key in node:
            found.append((f"{pointer}/{key}", node[key]))
    for key in _IN_PLACE_MAPS:
        if isinstance(node.get(key), dict):
            found += [(f"{pointer}/{key}/{name}", sub) for name, sub in node[key].items()]
    return found


def ref_cycle_problems(schema: Any, path: str = "$.parameters") -> list[Problem]:
    """Each in-place ``$ref`` loop once, at the reference that closes it."""
    if not isinstance(schema, dict):
        return []
    problems: dict[str, Problem] = {}
    done: set[str] = set()

    def visit(pointer: str, node: Any, stack: list[str]) -> None:
        if pointer in stack:
            loop = " -> ".join([*stack[stack.index(pointer):], pointer])
            where = path + stack[-1].replace("/", ".") + ".$ref"
            problems.setdefault(pointer, Problem(where, f"$ref cycle that never reaches data: {loop}"))
            return
        if pointer in done:
            return
        stack.append(pointer)
        ref = node.get("$ref") if isinstance(node, dict) else None
        target = _lookup(schema, ref) if isinstance(ref, str) else None
        if target is not None:
            visit(*target, stack)
        for sub_pointer, sub in _in_place(node, pointer):
            visit(sub_pointer, sub, stack)
        stack.pop()
        done.add(pointer)

    def every_node(node: Any, pointer: str) -> None:
        if isinstance(node, dict):
            visit(pointer or "/", node, [])
            for key, value in node.items():
                if key not in {"enum", "const", "default", "examples"}:
                    every_node(value, f"{pointer}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                every_node(value, f"{pointer}/{index}")

    every_node(schema, "")
    return list(problems.values())
