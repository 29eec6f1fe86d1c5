"""``wan-engine batch JOBS.jsonl``: many jobs at once, within the providers' limits, with one progress line.

Each line of the file is one job: ``{"model": ID, "params": {...}, "key": K, "tags": [...]}``
(``key`` and ``tags`` optional). Every line is checked (JSON, model, parameters)
before anything is sent, so a typo on line 900 costs nothing. Jobs are
journaled like ``generate``'s (they cost money), every submit goes through the
budget (``--max-usd``, for the whole batch) and the idempotency keys, so
running the same file again pays only for lines that never got a job.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from wan_engine.cli import exits
from wan_engine.cli.main import Context, pass_context
from wan_engine.client.batch import DEFAULT_CONCURRENCY, BatchItem, BatchOutcome, BatchProgress
from wan_engine.client.engine import Engine
from wan_engine.clock import SystemClock
from wan_engine.errors import ParameterValidationError, UnknownModelError
from wan_engine.journal.durable import DurableEngine
from wan_engine.journal.location import journal_target
from wan_engine.spec.params import prepare
from wan_engine.spec.registry import SpecRegistry

stderr = Console(stderr=True, highlight=False)


def read_items(path: Path, registry: SpecRegistry) -> list[BatchItem]:
    """Every line as a BatchItem, or a ClickException listing every bad line (nothing is sent)."""
    problems: list[str] = []
    items: list[BatchItem] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not JSON ({exc.msg})")
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("model"), str):
            problems.append(f'line {number}: needs an object with "model" (and "params")')
            continue
        params, key, tags = entry.get("params", {}), entry.get("key"), entry.get("tags", [])
        if not isinstance(params, dict) or (key is not None and not isinstance(key, str)) or not isinstance(tags, list):
            problems.append(f'line {number}: "params" must be an object, "key" a string, "tags" a list')
            continue
        try:
            prepare(registry.model(entry["model"]), params)
        except UnknownModelError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        except ParameterValidationError as exc:
            problems.append(f"line {number}: " + "; ".join(f"{v.path}: {v.message}" for v in exc.violations))
            continue
        items.append(BatchItem(entry["model"], params, key, tuple(str(t) for t in tags)))
    if problems:
        listed = "\n  ".join(problems)
        raise click.ClickException(f"{path}: {len(problems)} bad line(s); nothing was sent:\n  {listed}")
    if not items:
        raise click.ClickException(f"{path} holds no jobs")
    return items


def _outcome_dict(outcome: BatchOutcome) -> dict[str, Any]:
    return {
        "event": "outcome",
        "line": outcome.index + 1,
        "model": outcome.item.model,
        "outcome": outcome.outcome,
        "job_id": outcome.job_id,
        "video_url": outcome.result.video_url if outcome.result is not None else None,
        "replayed": outcome.replayed,
        "error": outcome.error,
    }


@click.command()
@click.argument("jobs_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--concurrency", type=click.IntRange(min=1), default=DEFAULT_CONCURRENCY, show_default=True,
    help="Jobs in flight at once per provider and model (a provider's documented limit wins when lower).",
)  # fmt: skip
@click.option("--max-usd", type=click.FloatRange(min=0), help="A budget for the whole batch (the specs' estimates).")
@click.option("--strategy", default=None, help="Polling strategy plugin (default: adaptive).")
@click.option("--deadline", type=float, help="Stop waiting after this many seconds (jobs keep running).")
@click.option("--base-url", "base_urls", multiple=True, help="PROVIDER=URL: talk to URL instead (repeatable).")
@click.option("--journal", type=click.Path(dir_okay=False), help="Journal file (default as for generate).")
@click.option("--no-journal", is_flag=True, help="Keep no journal (keys then last only for this run).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per progress change and per outcome.")
@pass_context
def batch_command(
    obj: Context,
    jobs_file: Path,
    concurrency: int,
    max_usd: float | None,
    strategy: str | None,
    deadline: float | None,
    base_urls: tuple[str, ...],
    journal: str | None,
    no_journal: bool,
    as_json: bool,
) -> None:
    """Submit every job in JOBS_FILE (JSON lines) within the providers' limits and wait for all of them.

    Exit code 0 when every job succeeded, 3 when any did not (each outcome is listed).
    """
    registry = obj.registry
    items = read_items(jobs_file, registry)
    urls: dict[str, str] = {}
    for pair in base_urls:
        provider, sep, url = pair.partition("=")
        if not sep or provider not in registry.providers:
            raise click.BadParameter(f"{pair!r}: use PROVIDER=URL with one of {', '.join(registry.providers)}")
        urls[provider] = url
    path = None if no_journal else journal_target(journal)  # a file, or a postgresql:// URL
    interactive = sys.stderr.isatty() and not as_json

    def show(progress: BatchProgress) -> None:
        if as_json:
            click.echo(json.dumps({"event": "progress", "total": progress.total, "waiting": progress.waiting,
                                   "in_flight": dict(progress.in_flight), "done": dict(progress.done)}))  # fmt: skip
        elif interactive:
            stderr.print(f"\r{progress.line()}", end="", markup=False, soft_wrap=True)
        else:
            stderr.print(progress.line(), markup=False, soft_wrap=True)

    async def main() -> list[BatchOutcome]:
        options: Mapping[str, Any] = {
            "base_urls": urls, "env": os.environ, "clock": SystemClock(), "budget": max_usd,
        }  # fmt: skip
        engine = DurableEngine(registry, journal=path, **options) if path else Engine(registry, **options)
        async with engine:
            return await engine.batch(
                items, concurrency=concurrency, strategy=strategy, deadline=deadline, on_progress=show
            )

    try:
        outcomes = asyncio.run(main())
    except KeyboardInterrupt:
        stderr.print("\ninterrupted: jobs already submitted keep running; `wan-engine resume` finishes them")
        sys.exit(exits.INTERRUPTED)
    if interactive:
        stderr.print()
    for outcome in outcomes:
        if as_json:
            click.echo(json.dumps(_outcome_dict(outcome)))
            continue
        where = outcome.result.video_url if outcome.result is not None else outcome.error
        again = " (found under its key: nothing paid now)" if outcome.replayed else ""
        click.echo(f"line {outcome.index + 1}: {outcome.outcome} {outcome.job_id or '-'}{again}: {where}")
    if any(o.outcome != "succeeded" for o in outcomes):
        sys.exit(exits.JOB_FAILED)
