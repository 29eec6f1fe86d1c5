"""Budgets: a submit whose estimate would cross the limit is refused before a byte is sent.

``Engine(budget=Budget(usd=5))`` installs a :class:`BudgetGuard`, a submit
interceptor (client/hooks.py) that runs before every other one, so a refused
submit is neither sent nor journaled. It counts, for every submit of its
engine:

* what the provider reported (the spec's ``cost`` block, in dollars), once known;
* else the spec's estimate (spec/pricing.py): for a job created and not yet
  reported, and for a submit whose outcome is unknown, which may have been
  billed (the point of a budget is not to be surprised);
* nothing for a submit certainly refused (no job exists).

A submit in flight counts at its estimate from the moment it passes the
check, so concurrent submits cannot all squeeze under the limit. The guard
needs no journal; it covers the engine it is installed in (one process).

``Budget(usd=..., since=...)`` on a ``DurableEngine`` also counts what its
journal's ledger holds from that time on (by the same rules), read once when
the engine starts: a daily cap across runs. Other processes' submits made
after that reading are not seen, so across concurrent processes it is a
guard rail, not an atomic limit.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import attrs

from wan_engine.client.events import CostReported, Event
from wan_engine.errors import ApiError, BudgetExceededError, NetworkError
from wan_engine.spec.model import ModelSpec
from wan_engine.spec.pricing import Estimate, estimate

if TYPE_CHECKING:
    from wan_engine.client.job import Job


@attrs.frozen
class Budget:
    """A limit in US dollars on what one engine may spend (or possibly spend)."""

    usd: float = attrs.field()
    unpriced: Literal["refuse", "allow"] = "refuse"
    """A model with no price data cannot be checked: refuse it (the default), or let it through at $0."""
    since: datetime | None = None
    """DurableEngine only: also count the journal's spend from this time on (see the module doc)."""

    @usd.validator
    def _positive(self, _attribute: attrs.Attribute[float], value: float) -> None:
        if not value >= 0:
            raise ValueError(f"a budget must be a number of dollars, 0 or more (got {value})")


@attrs.define
class _Charge:
    model: str
    estimate_usd: float
    reported_usd: float | None = None
    outcome: Literal["in_flight", "created", "refused", "unknown"] = "in_flight"

    @property
    def counted_usd(self) -> float:
        if self.reported_usd is not None:
            return self.reported_usd
        return 0.0 if self.outcome == "refused" else self.estimate_usd


class BudgetGuard:
    """The budget's interceptor; see the module doc. ``spent_usd`` is what it counts now."""

    delivers = False

    def __init__(self, budget: Budget, already_spent_usd: float = 0.0) -> None:
        self.budget = budget
        self._charges: list[_Charge] = []
        if already_spent_usd:
            self._charges.append(_Charge("(earlier, from the journal)", 0.0, already_spent_usd, "created"))
        self._lock = threading.Lock()

    @property
    def spent_usd(self) -> float:
        with self._lock:
            return round(sum(c.counted_usd for c in self._charges), 6)

    def begin_submit(self, spec: ModelSpec, params: Mapping[str, Any], deliver_to: Sequence[Any]) -> BudgetAttempt:
        priced: Estimate | None = estimate(spec, params)
        limit = self.budget.usd
        with self._lock:
            spent = round(sum(c.counted_usd for c in self._charges), 6)
            if priced is None and self.budget.unpriced == "refuse":
                raise BudgetExceededError(spec.id, limit, spent, None, "its spec has no pricing for these parameters")
            cost = priced.usd if priced is not None else 0.0
            if spent + cost > limit + 1e-9:
                basis = priced.basis if priced is not None else "unpriced"
                raise BudgetExceededError(spec.id, limit, spent, cost, basis)
            charge = _Charge(spec.id, cost)
            self._charges.append(charge)
        return BudgetAttempt(charge, spec)


class BudgetAttempt:
    def __init__(self, charge: _Charge, spec: ModelSpec) -> None:
        self.charge, self.spec = charge, spec

    def submitted(self, provider_id: str) -> None:
        self.charge.outcome = "created"

    def failed(self, error: BaseException) -> None:
        # Certainly refused: a 4xx answer, or no connection was ever made. Anything else may be billed.
        self.charge.outcome = "refused" if isinstance(error, (ApiError, NetworkError)) else "unknown"

    def started(self, job: Job) -> None:
        job.on(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, CostReported) and event.usd is not None:
            self.charge.reported_usd = event.usd
