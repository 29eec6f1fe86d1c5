"""Which specs the slow per-model tests run on, so their cost does not grow with every spec file.

Hand-written and reviewed specs are each a case of their own; drafted specs (imported from a
provider's OpenAPI files, ``review.status: drafted``) are represented by one spec per provider
and vendor (the first part of the id, e.g. ``klingai``), the one with the most parameters.
Every spec, drafted or not, is still run through the engine and the sandbox in-process and on
virtual time by tests/spec/test_models_all.py; only the subprocess-like and real-time runs are
sampled here.
"""

from __future__ import annotations

from collections.abc import Iterable

from wan_engine.spec.model import ModelSpec


def is_drafted(spec: ModelSpec) -> bool:
    review = spec.document.review
    return review is not None and review.status == "drafted"


def family(spec: ModelSpec) -> tuple[str, str]:
    return spec.provider.id, spec.id.split("/", 1)[0]


def representatives(specs: Iterable[ModelSpec]) -> list[ModelSpec]:
    """Every spec not drafted, plus the richest drafted spec of each provider and vendor."""
    chosen: dict[str, ModelSpec] = {}
    best: dict[tuple[str, str], ModelSpec] = {}
    for spec in specs:
        if not is_drafted(spec):
            chosen[spec.id] = spec
            continue
        current = best.get(family(spec))
        size = len(spec.parameters.get("properties", {}))
        if current is None or size > len(current.parameters.get("properties", {})):
            best[family(spec)] = spec
    for spec in best.values():
        chosen.setdefault(spec.id, spec)
    return sorted(chosen.values(), key=lambda s: s.id)
