"""``wan-engine spend``: what the journal's jobs cost, by model, day or tag.

Reads the spend ledger (journal/spend.py) and keeps its honesty visible: what
a provider reported is one column, estimates from a spec's price data another,
and submits whose outcome is unknown (possibly billed, counted at their
estimate) a third, so nobody mistakes an estimate for a bill.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import attrs
import click
from rich import box
from rich.console import Console
from rich.table import Table

from wan_engine.cli.journal import journal_option, open_journal
from wan_engine.cli.main import Context, pass_context
from wan_engine.errors import UnknownModelError
from wan_engine.journal.records import ChargeRecord
from wan_engine.journal.spend import GROUPINGS, Grouping, SpendLine, billable, summarize
from wan_engine.journal.store import JournalStore
from wan_engine.spec.pricing import estimate
from wan_engine.spec.registry import SpecRegistry

stdout = Console(highlight=False)


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: use YYYY-MM-DD (or an ISO 8601 time)") from None
    return since if since.tzinfo else since.replace(tzinfo=UTC)


def with_estimates(journal: JournalStore, registry: SpecRegistry, charges: list[ChargeRecord]) -> list[ChargeRecord]:
    """Estimate, from today's specs, jobs whose ledger line has no figure (journaled before the ledger
    existed, or a crash between the id and its ledger line), so they are not left out of the totals."""
    filled = []
    for charge in charges:
        if charge.usd is None and charge.estimate_usd is None and billable(charge):
            record = journal.get(charge.key)
            try:
                priced = estimate(registry.model(charge.model), record.params) if record is not None else None
            except UnknownModelError:
                priced = None
            if priced is not None:
                charge = attrs.evolve(charge, estimate_usd=priced.usd, estimate_basis=f"{priced.basis} (now)")
        filled.append(charge)
    return filled


def _usd(value: float) -> str:
    return f"${value:,.4f}".rstrip("0").rstrip(".") if value else "-"


@click.command()
@journal_option
@click.option("--by", "by", type=click.Choice(GROUPINGS), default="model", show_default=True, help="Group by.")
@click.option("--since", callback=_since, default=None, help="Only jobs created on or after this date (UTC).")
@click.option("--model", default=None, help="Only jobs of this model.")
@click.option("--tag", default=None, help="Only jobs with this tag (generate --tag).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per group, then one for the total.")
@pass_context
def spend(
    obj: Context,
    journal_file: str | None,
    by: Grouping,
    since: datetime | None,
    model: str | None,
    tag: str | None,
    as_json: bool,
) -> None:
    """What the journaled jobs cost: reported by the provider, estimated, or possibly billed.

    Reported: the provider's own figure (e.g. the AI/ML API's meta.usage). Estimated: from
    the spec's pricing data, for jobs the provider reported no money for. Possibly billed:
    submits whose outcome is unknown, at their estimate. Refused submits cost nothing.
    """
    with open_journal(journal_file) as journal:
        charges = with_estimates(journal, obj.registry, journal.charges())
    lines = summarize(charges, by, since=since, model=model, tag=tag)
    (total,) = summarize(charges, "total", since=since, model=model, tag=tag) or [SpendLine("total")]
    if as_json:
        for line in lines:
            click.echo(json.dumps({"by": by, **line.as_dict()}, sort_keys=True))
        click.echo(json.dumps({"by": "total", **total.as_dict()}, sort_keys=True))
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, show_edge=False, show_footer=True)
    table.add_column(by, "total", overflow="fold", ratio=1)
    for header, value in (
        ("jobs", str(total.jobs)),
        ("reported", _usd(total.reported_usd)),
        ("estimated", _usd(total.estimated_usd)),
        ("possibly billed", _usd(total.possibly_billed_usd)),
        ("total", _usd(total.total_usd)),
    ):
        table.add_column(header, value, justify="right", no_wrap=True)
    for line in lines:
        table.add_row(
            line.group,
            str(line.jobs),
            _usd(line.reported_usd),
            _usd(line.estimated_usd),
            _usd(line.possibly_billed_usd),
            _usd(line.total_usd),
        )
    stdout.print(table)
    if total.estimated_usd or total.possibly_billed_usd:
        stdout.print("estimated and possibly billed figures come from the specs' price data, not from a bill.")
    if total.possibly_billed_jobs:
        stdout.print(
            f"[bold red]{total.possibly_billed_jobs} submit(s) with an unknown outcome[/bold red] may have been "
            "billed: see `wan-engine jobs --state submit_unknown`."
        )
    if total.unpriced_jobs:
        stdout.print(f"{total.unpriced_jobs} job(s) have neither a reported cost nor a price: not in the totals.")
