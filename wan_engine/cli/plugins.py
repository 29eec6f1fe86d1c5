"""``wan-engine plugins``: what the entry point groups hold, and what failed to load and why.

Kept apart from cli.py so the command can be wired into any click group
(``cli.add_command(plugins)``). A broken plugin is listed with its error (on
stderr, or as a ``"status": "failed"`` JSON line); with ``--strict`` it also
makes the command exit 1, for deployment checks. The engine itself keeps
running without it either way.
"""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.table import Table

from wan_engine import plugins as registry
from wan_engine.cli import exits


def _rows() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    loaded: list[dict[str, str]] = []
    failed: list[dict[str, str]] = []
    for kind, plugin_set in registry.load_all().items():
        for plugin in sorted(plugin_set.loaded.values(), key=lambda p: p.name):
            loaded.append(
                {"kind": kind, "name": plugin.name, "distribution": plugin.distribution, "value": plugin.value}
            )
        for failure in plugin_set.failures:
            failed.append(
                {
                    "kind": kind,
                    "name": failure.name,
                    "distribution": failure.distribution,
                    "value": failure.value,
                    "error": failure.error,
                }
            )
    return loaded, failed


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per plugin, failures included.")
@click.option("--strict", is_flag=True, help="Exit 1 if any plugin failed to load.")
def plugins(as_json: bool, strict: bool) -> None:
    """List every plugin (strategies, sinks, spec sources) and every one that failed to load."""
    loaded, failed = _rows()
    if as_json:
        for row in loaded:
            click.echo(json.dumps({**row, "status": "loaded"}))
        for row in failed:
            click.echo(json.dumps({**row, "status": "failed"}))
    else:
        out = Console(highlight=False, soft_wrap=True)
        table = Table("kind", "name", "distribution", "object")
        for row in loaded:
            table.add_row(row["kind"], row["name"], row["distribution"], row["value"])
        out.print(table)
        if failed:
            err = Console(stderr=True, highlight=False, soft_wrap=True)
            err.print(f"[red]{len(failed)} plugin(s) failed to load:[/red]")
            for row in failed:
                err.print(
                    f"  {row['kind']} {row['name']} ({row['distribution']}, {row['value']}): {row['error']}",
                    markup=False,
                )
    if failed and strict:
        sys.exit(exits.CHECK_FAILED)
