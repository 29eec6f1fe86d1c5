"""``wan-engine jobs``, ``status`` and ``resume``: the journal from the command line.

They read the same journal the engine writes (``--journal PATH``, else
``$WAN_ENGINE_JOURNAL``, else the user's data directory), so the jobs of
earlier runs — finished, failed, or left behind by a crash — are visible
and can be finished after a restart. Wire them with ``cli.add_command``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from wan_engine.journal import JobRecord, open_journal
from wan_engine.journal.records import HistoryEntry, JournalState

stdout = Console(highlight=False)

journal_option = click.option(
    "--journal",
    "journal_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The journal file (default: $WAN_ENGINE_JOURNAL, else the user's data directory).",
)


def _time(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def record_dict(record: JobRecord) -> dict[str, Any]:
    """A job as JSON: everything the journal holds (it holds no secrets)."""
    return {
        "key": record.key,
        "provider_id": record.provider_id,
        "model": record.model,
        "spec_version": record.spec_version,
        "state": record.state.value,
        "summary": record.summary_state,
        "params": dict(record.params),
        "provider_status": record.provider_status,
        "error": record.error,
        "created_at": _time(record.created_at),
        "updated_at": _time(record.updated_at),
        "result": None
        if record.result is None
        else {
            "video_urls": list(record.result.video_urls),
            "metadata": dict(record.result.metadata),
            "completed_at": _time(record.result.completed_at),
            "polls": record.result.polls,
        },
        "deliveries": [
            {
                "sink": s.name,
                "plugin": s.config.plugin,
                "state": s.state.value,
                "location": s.location,
                "sha256": s.sha256,
                "size": s.size,
                "error": s.error,
                "attempts": s.attempts,
                "updated_at": _time(s.updated_at),
            }
            for s in record.sinks
        ],
    }


def _history_dict(entry: HistoryEntry) -> dict[str, Any]:
    return {"at": entry.at.isoformat(), "event": entry.event, "state": entry.state, "detail": dict(entry.detail)}


_STYLE = {"delivered": "green", "succeeded": "green", "submit_unknown": "bold red", "failed": "red"}


def _styled(state: str) -> str:
    style = _STYLE.get(state)
    return f"[{style}]{state}[/{style}]" if style else state


@click.command()
@journal_option
@click.option("--state", "states", multiple=True, help="Only jobs in this state (repeatable), e.g. submit_unknown.")
@click.option("--model", default=None, help="Only jobs of this model.")
@click.option("--limit", type=int, default=None, help="At most this many (newest first).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job.")
def jobs(
    journal_file: str | None, states: tuple[str, ...], model: str | None, limit: int | None, as_json: bool
) -> None:
    """List journaled jobs, newest first."""
    with open_journal(journal_file) as journal:
        records = journal.jobs(states=states, model=model, limit=limit)
    if as_json:
        for record in records:
            click.echo(json.dumps(record_dict(record), sort_keys=True))
        return
    table = Table(box=box.SIMPLE)
    for header in ("key", "provider id"):  # ids are copied into `status ID`: never wrapped
        table.add_column(header, no_wrap=True)
    table.add_column("model", overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("sinks")
    table.add_column("updated (UTC)", no_wrap=True)
    for record in records:
        done = sum(1 for s in record.sinks if s.state.done)
        table.add_row(
            record.key,
            record.provider_id or "-",
            record.model,
            _styled(record.summary_state),
            f"{done}/{len(record.sinks)}" if record.sinks else "-",
            record.updated_at.strftime("%m-%d %H:%M:%S"),
        )
    stdout.print(table)
    unknown = sum(1 for r in records if r.state is JournalState.SUBMIT_UNKNOWN)
    if unknown:
        stdout.print(
            f"[bold red]{unknown} job(s) submit_unknown[/bold red]: the provider may have created (and billed) "
            "them; they were not re-sent. Check the provider's dashboard."
        )


@click.command()
@click.argument("job_id", metavar="ID")
@journal_option
@click.option("--json", "as_json", is_flag=True, help="The job, its history and deliveries as one JSON object.")
def status(job_id: str, journal_file: str | None, as_json: bool) -> None:
    """One job by local key or provider id: state, history, result, deliveries."""
    with open_journal(journal_file) as journal:
        record = journal.get(job_id)
        if record is None:
            raise click.ClickException(f"no job {job_id!r} in {journal.path}")
        history = journal.history(record.key)
    if as_json:
        click.echo(json.dumps({**record_dict(record), "history": [_history_dict(h) for h in history]}, indent=2))
        return
    stdout.print(f"[bold]{record.key}[/bold] {record.model} (spec {record.spec_version})")
    stdout.print(f"provider id: {record.provider_id or '-'}   state: {_styled(record.summary_state)}")
    if record.error:
        stdout.print(f"error: {record.error}", markup=False)
    if record.result is not None:
        for url in record.result.video_urls:
            stdout.print(f"video: {url}", markup=False)
    table = Table("at (UTC)", "event", "state", "detail")
    for entry in history:
        at = entry.at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        table.add_row(at, entry.event, entry.state or "", json.dumps(dict(entry.detail)))
    stdout.print(table)
    if record.sinks:
        sinks = Table("sink", "plugin", "state", "location / error", "sha256")
        for s in record.sinks:
            where = s.error or s.location or ""
            sinks.add_row(s.name, s.config.plugin, _styled(s.state.value), where, (s.sha256 or "")[:16])
        stdout.print(sinks)


def _parse_base_urls(values: tuple[str, ...]) -> dict[str, str]:
    urls = {}
    for value in values:
        provider, sep, url = value.partition("=")
        if not sep or not provider or not url:
            raise click.BadParameter(f"{value!r} is not PROVIDER=URL", param_hint="--base-url")
        urls[provider] = url
    return urls


@click.command()
@journal_option
@click.option(
    "--base-url", "base_urls", multiple=True, metavar="PROVIDER=URL", help="Use URL for PROVIDER (e.g. a sandbox)."
)
@click.option("--deadline", type=float, default=None, help="Stop polling a job after this many s (it stays resumable).")
@click.option(
    "--strategy", default="adaptive", show_default=True, help="Polling strategy plugin: fixed, exponential, adaptive."
)
@click.option("--json", "as_json", is_flag=True, help="The resume report as JSON.")
@click.pass_context
def resume(
    ctx: click.Context,
    journal_file: str | None,
    base_urls: tuple[str, ...],
    deadline: float | None,
    strategy: str,
    as_json: bool,
) -> None:
    """Finish every unfinished job: poll running ones, deliver undelivered results. Never re-submits."""
    from wan_engine.journal.durable import DurableEngine
    from wan_engine.spec.registry import SpecRegistry

    registry = getattr(ctx.obj, "registry", None) or SpecRegistry.discover()
    journal = open_journal(journal_file)

    async def run() -> Any:
        async with DurableEngine(registry, base_urls=_parse_base_urls(base_urls), journal=journal) as engine:
            return await engine.resume(deadline=deadline, strategy=strategy)

    try:
        report = asyncio.run(run())
    finally:
        journal.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
        return
    for outcome in report.jobs:
        line = f"{outcome.key} {outcome.provider_id or '-'} {outcome.before} -> {_styled(outcome.after)}"
        if outcome.delivered:
            line += f" (delivered to {', '.join(outcome.delivered)})"
        stdout.print(line)
        for sink, error in outcome.failed.items():
            stdout.print(f"  sink {sink} failed: {error}", markup=False)
        if outcome.note:
            stdout.print(f"  {outcome.note}", markup=False)
    if report.busy:
        stdout.print(f"{len(report.busy)} job(s) left to another running process: {', '.join(report.busy)}")
    if report.submit_unknown:
        stdout.print(
            f"[bold red]{len(report.submit_unknown)} job(s) submit_unknown[/bold red] (never re-sent; check the "
            f"provider): {', '.join(report.submit_unknown)}"
        )
    stdout.print(f"resumed {len(report.jobs)} job(s)")
