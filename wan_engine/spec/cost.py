"""What a job cost, read from wherever its provider's spec says it lives.

Providers report cost in different places: the AI/ML API puts
``meta.usage.credits_used`` on the submit answer (not on the completed status)
and repeats it in ``x-aimlapi-credits-used`` / ``x-aimlapi-usd-spent`` headers.
The spec's ``cost`` block names the body pointers, the headers and the answers
that carry them; this module only reads, so the engine and the sandbox agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.model import ProviderSpec


def _number(value: Any) -> float | int | None:
    """A cost as a number: numbers as given, numeric text parsed, anything else dropped."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return int(number) if number.is_integer() and "." not in value else number
    return None


def read_cost(
    provider: ProviderSpec,
    answer: Literal["submit", "status"],
    document: Any,
    headers: Mapping[str, str] | None = None,
) -> dict[str, float | int]:
    """Every cost figure one answer carries (body first, then headers); empty when the spec names none."""
    cost = provider.cost
    if cost is None or answer not in cost.answers:
        return {}
    found: dict[str, float | int] = {}
    for name, pointers in cost.body.items():
        value = _number(json_pointer.first(document, pointers))
        if value is not None:
            found[name] = value
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    for name, header in cost.headers.items():
        if name in found:
            continue
        value = _number(lowered.get(header.lower()))
        if value is not None:
            found[name] = value
    return found


def usd_figure(provider: ProviderSpec, figures: Mapping[str, float | int]) -> float | None:
    """The dollars among an answer's cost figures: the one the spec's ``cost.usd`` names, else None."""
    cost = provider.cost
    value = figures.get(cost.usd) if cost is not None and cost.usd else None
    return float(value) if value is not None else None
