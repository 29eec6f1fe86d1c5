"""The spend ledger, summed: what jobs cost by model, day or tag, with reported money kept apart from estimates.

Each job falls in exactly one column, the most certain that applies:

* ``reported``: the provider said what it cost (in dollars, per the spec's ``cost.usd``);
* ``possibly billed``: the submit's outcome is unknown (or a process died mid-submit),
  so the provider may have created and billed a job: counted at the spec's estimate;
* ``estimated``: the provider has the job and reported no money: counted at the estimate;
* a job certainly refused (no job exists) costs nothing and is left out.

A job with neither a reported figure nor a price to estimate is counted in
``unpriced`` so the total never silently looks complete. By tag, a job with
several tags counts under each (the tag totals can add up to more than the
whole); a job without tags is under ``(untagged)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

import attrs

from wan_engine.journal.records import ChargeRecord, JournalState

Grouping = Literal["model", "day", "tag", "total"]
GROUPINGS: tuple[Grouping, ...] = ("model", "day", "tag", "total")
UNTAGGED = "(untagged)"


@attrs.define
class SpendLine:
    group: str
    jobs: int = 0
    reported_usd: float = 0.0
    estimated_usd: float = 0.0
    possibly_billed_usd: float = 0.0
    possibly_billed_jobs: int = 0
    unpriced_jobs: int = 0
    figures: dict[str, float] = attrs.field(factory=dict)
    """Every reported figure summed (e.g. credits_used), whatever its unit."""

    @property
    def total_usd(self) -> float:
        return round(self.reported_usd + self.estimated_usd + self.possibly_billed_usd, 6)

    def add(self, charge: ChargeRecord) -> None:
        self.jobs += 1
        for name, value in charge.figures.items():
            self.figures[name] = round(self.figures.get(name, 0) + value, 6)
        if charge.usd is not None:
            self.reported_usd = round(self.reported_usd + charge.usd, 6)
            return
        unknown = charge.state in (JournalState.SUBMIT_UNKNOWN, JournalState.SUBMITTING)
        if unknown:
            self.possibly_billed_jobs += 1
        if charge.estimate_usd is None:
            self.unpriced_jobs += 1
        elif unknown:
            self.possibly_billed_usd = round(self.possibly_billed_usd + charge.estimate_usd, 6)
        else:
            self.estimated_usd = round(self.estimated_usd + charge.estimate_usd, 6)

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "jobs": self.jobs,
            "reported_usd": self.reported_usd,
            "estimated_usd": self.estimated_usd,
            "possibly_billed_usd": self.possibly_billed_usd,
            "possibly_billed_jobs": self.possibly_billed_jobs,
            "unpriced_jobs": self.unpriced_jobs,
            "total_usd": self.total_usd,
            "figures": dict(self.figures),
        }


def billable(charge: ChargeRecord) -> bool:
    """Whether a job can have cost anything: all but a submit the provider certainly refused."""
    return charge.state is not JournalState.REFUSED


def _groups(charge: ChargeRecord, by: Grouping) -> list[str]:
    if by == "model":
        return [charge.model]
    if by == "day":
        stamp = charge.created_at if charge.created_at.tzinfo else charge.created_at.replace(tzinfo=UTC)
        return [stamp.astimezone(UTC).date().isoformat()]
    if by == "tag":
        return list(charge.tags) or [UNTAGGED]
    return ["total"]


def summarize(
    charges: Iterable[ChargeRecord],
    by: Grouping = "model",
    *,
    since: datetime | None = None,
    model: str | None = None,
    tag: str | None = None,
) -> list[SpendLine]:
    """One line a group, sorted by group name; filters: created at or after ``since``, a model, a tag."""
    lines: dict[str, SpendLine] = {}
    for charge in charges:
        if not billable(charge):
            continue
        if model is not None and charge.model != model:
            continue
        if tag is not None and tag not in charge.tags:
            continue
        if since is not None and charge.created_at < since:
            continue
        for group in _groups(charge, by):
            lines.setdefault(group, SpendLine(group)).add(charge)
    return [lines[name] for name in sorted(lines)]
