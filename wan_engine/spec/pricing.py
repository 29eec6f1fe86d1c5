"""What a job will cost, estimated from a model's optional ``pricing`` block, before anything is sent.

Budgets need a figure *before* the paid submit, and some providers report none
afterwards (DashScope reports seconds of video, not money): the spec's price
data fills both gaps. Prices change and are often a third party's, so every
figure from here is an :class:`Estimate`, and the ledger keeps it apart from
what a provider reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from wan_engine.spec.model import ModelSpec


@attrs.frozen
class Estimate:
    """A price computed from the spec's pricing data (never a provider's bill)."""

    usd: float
    basis: str
    """How it was computed, for the refusal message and the ledger (e.g. '10 s x $0.15/s (1080p)')."""


def estimate(spec: ModelSpec, params: Mapping[str, Any]) -> Estimate | None:
    """The estimated price of one job of ``spec`` with ``params`` (filled with defaults); None if unpriced.

    None also when the price cannot be read from these parameters (a rate for a
    resolution the block does not list): a guess would be worse than no figure.
    """
    pricing = spec.pricing
    if pricing is None:
        return None
    usd, parts = float(pricing.usd_per_job), []
    if pricing.usd_per_job:
        parts.append(f"${pricing.usd_per_job:g} a job")
    rates = pricing.usd_per_second
    if rates is not None:
        label = ""
        if isinstance(rates, Mapping):
            choice = params.get(pricing.rate_parameter) if pricing.rate_parameter else None
            if choice is None or str(choice) not in rates:
                return None
            rate, label = float(rates[str(choice)]), f" ({choice})"
        else:
            rate = float(rates)
        seconds = params.get(pricing.seconds_parameter) if pricing.seconds_parameter else None
        if isinstance(seconds, str):
            try:
                seconds = float(seconds)
            except ValueError:
                seconds = None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            seconds = pricing.default_seconds
        if seconds is None:
            return None
        usd += rate * float(seconds)
        parts.append(f"{float(seconds):g} s x ${rate:g}/s{label}")
    return Estimate(round(usd, 6), " + ".join(parts) or "$0")
