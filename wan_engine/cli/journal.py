"""``wan-engine jobs``, ``status`` and ``resume``: the journal from the command line.

They read the same journal the engine writes (``--journal PATH``, else
``$WAN_ENGINE_JOURNAL``, else the user's data directory), so the jobs of
earlier runs — finished, failed, or left behind by a crash — are visible
and can be finished after a restart. Wire them with ``cli.add_command``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from wan_engine.cli import exits
from wan_engine.errors import JournalError
from wan_engine.journal import JobRecord, JournalStore, SqliteJournal, journal_path, journal_target, open_postgres
from wan_engine.journal.records import HistoryEntry, JournalState
from wan_engine.journal.resume import JobOutcome, ResumeReport
from wan_engine.redaction import scrub_url

if TYPE_CHECKING:
    from wan_engine.journal.postgres_store import PostgresJournal

stdout = Console(highlight=False)

journal_option = click.option(
    "--journal",
    "journal_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The journal file, or a postgresql:// URL for the shared journal "
    "(default: $WAN_ENGINE_JOURNAL, else the user's data directory).",
)


def open_journal(journal_file: str | None) -> SqliteJournal | PostgresJournal:
    """The journal, or one line naming the file and what is wrong with it (sqlite3 errors included)."""
    target = journal_target(journal_file)
    if isinstance(target, str):
        store = open_postgres(target)  # a JournalError naming the server (never its password) if unusable
        from wan_engine.journal.postgres_store import PostgresJournal

        assert isinstance(store, PostgresJournal)
        return store
    path = journal_path(journal_file)
    try:
        return SqliteJournal(path)
    except sqlite3.Error as exc:
        raise JournalError(
            f"journal {path} cannot be opened ({exc}): check it is a wan-engine journal you may write, "
            "or pass --journal PATH"
        ) from None
    except OSError as exc:
        raise JournalError(f"journal {path} cannot be opened ({exc.strerror or exc}): pass --journal PATH") from None


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


@click.group(invoke_without_command=True)
@journal_option
@click.option("--state", "states", multiple=True, help="Only jobs in this state (repeatable), e.g. submit_unknown.")
@click.option("--model", default=None, help="Only jobs of this model.")
@click.option("--limit", type=int, default=None, help="At most this many (newest first).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job.")
@click.pass_context
def jobs(
    ctx: click.Context,
    journal_file: str | None,
    states: tuple[str, ...],
    model: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """List journaled jobs, newest first (``jobs dismiss KEY`` closes a submit_unknown job)."""
    ctx.meta["wan_engine.journal_file"] = journal_file  # for `jobs dismiss` (options go before it)
    if ctx.invoked_subcommand is not None:
        return
    with open_journal(journal_file) as journal:
        records = journal.jobs(states=states, model=model, limit=limit)
    if as_json:
        for record in records:
            click.echo(json.dumps(record_dict(record), sort_keys=True))
        return
    wide = stdout.width >= 100  # on 80 columns the update time goes (it is in `status KEY` and --json)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, show_edge=False)
    for header in ("key", "provider id"):  # both are copied into `status`/`resume`: never wrapped
        table.add_column(header, no_wrap=True)
    table.add_column("model", overflow="fold", ratio=1)
    table.add_column("state", no_wrap=True)
    table.add_column("sinks", no_wrap=True)
    if wide:
        table.add_column("updated", no_wrap=True)
    for record in records:
        done = sum(1 for s in record.sinks if s.state.done)
        table.add_row(
            record.key,
            record.provider_id or "-",
            record.model,
            _styled(record.summary_state),
            f"{done}/{len(record.sinks)}" if record.sinks else "-",
            *([record.updated_at.strftime("%m-%d %H:%M")] if wide else []),
        )
    stdout.print(table)
    unknown = sum(1 for r in records if r.state is JournalState.SUBMIT_UNKNOWN)
    if unknown:
        stdout.print(
            f"[bold red]{unknown} job(s) submit_unknown[/bold red]: the provider may have created (and billed) "
            "them; they were not re-sent. Check the provider's dashboard, then `wan-engine jobs dismiss KEY`."
        )


@jobs.command("dismiss")
@click.argument("key")
@click.option("--reason", default="reconciled by hand", show_default=True, help="Kept in the job's history.")
@click.pass_context
def dismiss(ctx: click.Context, key: str, reason: str) -> None:
    """Close a submit_unknown job you have checked on the provider's dashboard; resume then leaves it alone."""
    journal_file = ctx.meta.get("wan_engine.journal_file")
    with open_journal(journal_file) as journal:
        record = journal.get(key)
        if record is None:
            raise click.ClickException(f"no job {key!r} in {journal.path}: `wan-engine jobs` lists the keys")
        if record.state is not JournalState.SUBMIT_UNKNOWN:
            raise click.ClickException(
                f"job {record.key} is {record.summary_state}, not submit_unknown: only those are dismissed "
                "(resume finishes the others)"
            )
        now = datetime.now(UTC)
        journal.record_error(record.key, JournalState.CANCELLED, f"dismissed: {reason}", now)
        journal.record_event(record.key, "dismissed", now, {"reason": reason})
    stdout.print(f"job {record.key} dismissed ({reason}); it stays in `wan-engine status {record.key}`", markup=False)


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


SENT_TO = "sent_to"
"""History event naming the base URL a job was submitted to, when it was not the provider's own."""


def note_sent_to(journal: JournalStore, key: str, provider: str, base_url: str) -> None:
    """Remember where a job went (``generate --base-url``/``--sandbox``), so ``resume`` polls the same place.

    Kept as a history event (no new column): resume reads it back; the
    provider's real URL with the user's real key is never used for a job
    that was sent elsewhere.
    """
    detail = {"provider": provider, "base_url": scrub_url(base_url)}
    journal.record_event(key, SENT_TO, datetime.now(UTC), detail)


def sent_to(journal: JournalStore, key: str) -> dict[str, str]:
    """The base URL overrides journaled for a job (provider -> URL); empty: the provider's own."""
    urls: dict[str, str] = {}
    for entry in journal.history(key):
        if entry.event == SENT_TO:
            urls[str(entry.detail["provider"])] = str(entry.detail["base_url"])
    return urls


def _not_advanced(outcome: JobOutcome) -> str | None:
    """Why a resumed job did not move forward (None when it did): each such job makes resume exit 3."""
    if outcome.note:
        return outcome.note
    if outcome.failed:
        return "delivery failed"
    return None


@click.command()
@click.argument("keys", nargs=-1, metavar="[KEY]...")
@journal_option
@click.option(
    "--base-url", "base_urls", multiple=True, metavar="PROVIDER=URL", help="Use URL for PROVIDER (e.g. a sandbox)."
)
@click.option("--deadline", type=float, default=None, help="Stop polling a job after this many s (it stays resumable).")
@click.option(
    "--strategy",
    default=None,
    help="Polling strategy plugin: fixed, exponential, adaptive, learned. "
    "Default: learned from the journal's finished jobs once there are any, else adaptive.",
)
@click.option("--json", "as_json", is_flag=True, help="The resume report as JSON.")
@click.pass_context
def resume(
    ctx: click.Context,
    keys: tuple[str, ...],
    journal_file: str | None,
    base_urls: tuple[str, ...],
    deadline: float | None,
    strategy: str | None,
    as_json: bool,
) -> None:
    """Finish unfinished jobs (all, or the KEYs given): poll, deliver. Never re-submits.

    Reports per job what happened; exits 3 when any job could not be advanced
    (unreachable provider, unknown job, missing key, deadline, failed delivery).
    """
    from wan_engine.journal.durable import DurableEngine
    from wan_engine.spec.registry import SpecRegistry

    registry = getattr(ctx.find_root().obj, "registry", None) or SpecRegistry.discover()
    journal = open_journal(journal_file)
    wanted: list[str] = []
    try:
        for key in keys:
            record = journal.get(key)
            if record is None:
                raise click.ClickException(f"no job {key!r} in {journal.path}: `wan-engine jobs` lists the keys")
            if not record.unfinished:
                raise click.ClickException(f"job {record.key} is {record.summary_state}: nothing to resume")
            wanted.append(record.key)

        given = _parse_base_urls(base_urls)
        groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for record in journal.unfinished():
            if wanted and record.key not in wanted:
                continue
            urls = {**sent_to(journal, record.key), **given}  # --base-url wins over what was journaled
            groups.setdefault(tuple(sorted(urls.items())), []).append(record.key)

        async def run() -> ResumeReport:
            outcomes: list[JobOutcome] = []
            busy: list[str] = []
            report = None
            for urls, group in groups.items() or [((), [])]:
                async with DurableEngine(registry, base_urls=dict(urls), journal=journal) as engine:
                    report = await engine.resume(deadline=deadline, strategy=strategy, keys=group)
                outcomes.extend(report.jobs)
                busy.extend(report.busy)
            assert report is not None
            return ResumeReport(report.owner, tuple(outcomes), tuple(busy), report.submit_unknown)

        report = asyncio.run(run())
    finally:
        journal.close()
    stuck = {o.key: why for o in report.jobs if (why := _not_advanced(o)) is not None}
    if as_json:
        click.echo(json.dumps({**report.as_dict(), "not_advanced": stuck}, indent=2, default=str))
    else:
        _print_resume(report, stuck)
    if stuck or (wanted and set(wanted) & set(report.busy)):
        ctx.exit(exits.JOB_FAILED)


def _print_resume(report: ResumeReport, stuck: dict[str, str]) -> None:
    if not report.jobs and not report.busy:
        stdout.print("nothing to resume: every journaled job is finished")
    for outcome in report.jobs:
        line = f"{outcome.key} {outcome.provider_id or '-'} {outcome.before} -> {_styled(outcome.after)}"
        if outcome.delivered:
            line += f" (delivered to {', '.join(outcome.delivered)})"
        stdout.print(line)
        for sink, error in outcome.failed.items():
            stdout.print(f"  sink {sink} failed: {error}", markup=False)
        if outcome.key in stuck:
            stdout.print(f"  not advanced: {stuck[outcome.key]}", markup=False)
    if report.busy:
        stdout.print(f"{len(report.busy)} job(s) left to another running process: {', '.join(report.busy)}")
    if report.submit_unknown:
        stdout.print(
            f"[bold red]{len(report.submit_unknown)} job(s) submit_unknown[/bold red] (never re-sent; check the "
            f"provider, then `wan-engine jobs dismiss KEY`): {', '.join(report.submit_unknown)}"
        )
    advanced = len(report.jobs) - len(stuck)
    stdout.print(f"{advanced} job(s) advanced, {len(stuck)} not advanced")
