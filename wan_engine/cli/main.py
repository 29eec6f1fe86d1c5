"""The ``wan-engine`` command line.

Commands stay thin: they parse, call the library, and print. Anything a
script could want from a command is available from Python too.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from wan_engine.cli import exits
from wan_engine.cli.lazy import LazyGroup
from wan_engine.cli.params_file import read_params
from wan_engine.errors import ParameterValidationError, WanEngineError
from wan_engine.spec.params import build_body, prepare
from wan_engine.spec.registry import SpecRegistry

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


class Context:
    def __init__(self, spec_dirs: tuple[str, ...]) -> None:
        self.spec_dirs = spec_dirs
        self._registry: SpecRegistry | None = None

    @property
    def registry(self) -> SpecRegistry:
        if self._registry is None:
            # Lenient: a broken spec file disables its own model only; each is named once on stderr.
            self._registry = SpecRegistry.discover(self.spec_dirs, lenient=True)
            for error in self._registry.skipped:
                first, *more = str(error).splitlines()
                details = "; ".join(line.strip() for line in more)
                stderr.print(
                    f"warning: {first.rstrip(':')}: {details} (its model is left out; the others work)",
                    markup=False, highlight=False, soft_wrap=True,
                )  # fmt: skip
        return self._registry


pass_context = click.make_pass_decorator(Context)


LAZY_COMMANDS = {
    "generate": ("wan_engine.cli.generate:generate_command", "Submit a job for MODEL, wait, and download the video."),
    "sandbox": ("wan_engine.cli.sandbox:sandbox_command", "Serve the fake provider built from the specs."),
    "receive": ("wan_engine.cli.receive:receive_command", "Receive provider callbacks into the journal (push)."),
    "plugins": ("wan_engine.cli.plugins:plugins", "List installed plugins (strategies, sinks, specs)."),
    "jobs": ("wan_engine.cli.journal:jobs", "List the jobs in the journal; jobs dismiss KEY closes one."),
    "status": ("wan_engine.cli.journal:status", "Show one journaled job and its history."),
    "batch": ("wan_engine.cli.batch:batch_command", "Run many jobs (JSON lines) within the providers' limits."),
    "spend": ("wan_engine.cli.spend:spend", "What the journal's jobs cost, by model, day or tag (--json)."),
    "resume": ("wan_engine.cli.journal:resume", "Finish unfinished jobs (or KEY): poll, deliver. Never re-submits."),
    "worker": ("wan_engine.cli.worker:worker_command", "Run jobs from a Temporal task queue (temporal extra)."),
    "spec": ("wan_engine.cli.spec:spec_group", "Write and check spec files."),
    "record": ("wan_engine.cli.harness:record_command", "Record a cassette (needs the cassettes extra)."),
    "contract": ("wan_engine.cli.harness:contract_group", "Check cassettes against the specs (cassettes extra)."),
    "proxy": ("wan_engine.cli.proxy:proxy_command", "Record and check an app's API traffic (cassettes extra)."),
}
"""Imported when run (cli/lazy.py): start-up stays fast, and a plain install works without the extras."""


@click.group(
    cls=LazyGroup,
    lazy=LAZY_COMMANDS,
    epilog=exits.EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--specs",
    "spec_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="An extra folder of spec files (repeatable; WAN_ENGINE_SPEC_PATH works too).",
)
@click.pass_context
def cli(ctx: click.Context, spec_dirs: tuple[str, ...]) -> None:
    """Run asynchronous video-generation models described by spec files."""
    ctx.obj = Context(spec_dirs)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model.")
@pass_context
def models(obj: Context, as_json: bool) -> None:
    """List every model the spec folders describe."""
    specs = obj.registry.models()
    if as_json:
        for spec in specs:
            click.echo(
                json.dumps(
                    {
                        "id": spec.id,
                        "title": spec.title,
                        "provider": spec.provider.id,
                        "spec_version": spec.spec_version,
                        "file": spec.document.source_file,
                    }
                )
            )
        return
    table = Table("model", "title", "provider", "spec")
    for spec in specs:
        table.add_row(spec.id, spec.title, spec.provider.id, spec.spec_version)
    stdout.print(table)


def _allowed(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return ", ".join(json.dumps(v) for v in prop["enum"])
    limits = []
    for key, label in (
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("minimum", "min"),
        ("maximum", "max"),
    ):
        if key in prop:
            limits.append(f"{label} {prop[key]}")
    if prop.get("format"):
        limits.append(prop["format"])
    items = prop.get("items")
    if isinstance(items, dict) and items.get("format"):
        limits.append(f"items: {items['format']}")
    return "; ".join(limits)


def _type(prop: dict[str, Any]) -> str:
    kind = prop.get("type")
    if kind is None and "enum" in prop:
        kind = sorted({type(v).__name__.replace("str", "string").replace("int", "integer") for v in prop["enum"]})
    if isinstance(kind, list):
        return " | ".join(kind)
    if kind == "array" and isinstance(prop.get("items"), dict):
        return f"{prop['items'].get('type', 'any')}[]"
    return str(kind or "any")


@cli.command()
@click.argument("model")
@pass_context
def describe(obj: Context, model: str) -> None:
    """A table of MODEL's parameters: types, defaults, allowed values, limits."""
    spec = obj.registry.model(model)
    schema = spec.parameters
    required = set(schema.get("required", []))
    stdout.print(f"[bold]{spec.id}[/bold]: {spec.title} (provider {spec.provider.id}, spec {spec.spec_version})")
    table = Table("parameter", "type", "required", "default", "allowed / limits")
    for name, raw in schema.get("properties", {}).items():
        prop = raw if isinstance(raw, dict) else {}  # a boolean sub-schema (true/false) says nothing to tabulate
        table.add_row(
            name,
            _type(prop),
            "yes" if name in required else "",
            json.dumps(prop["default"]) if "default" in prop else "",
            _allowed(prop),
        )
    stdout.print(table)
    rules = dict.fromkeys(r["description"] for r in schema.get("allOf", []) if r.get("description"))
    for rule in rules:
        stdout.print(f"- {rule}", markup=False)


@cli.command()
@click.argument("model")
@click.argument("params_file", metavar="PARAMS.json")
@click.option("--body", "show_body", is_flag=True, help="Print the request body that would be sent.")
@pass_context
def validate(obj: Context, model: str, params_file: str, show_body: bool) -> None:
    """Check PARAMS.json ('-' for stdin) against MODEL's schema; exit 1 listing every violation."""
    spec = obj.registry.model(model)
    params = read_params(params_file)
    try:
        filled = prepare(spec, params)
    except ParameterValidationError as exc:
        stderr.print(f"[red]{len(exc.violations)} violation(s)[/red] for {escape(model)}:")
        for violation in exc.violations:
            stderr.print(f"  {violation.path}: {violation.message}", markup=False)
        sys.exit(exits.CHECK_FAILED)
    stdout.print(f"[green]valid[/green] request for {model}")
    if show_body:
        click.echo(json.dumps(build_body(spec, filled), indent=2))


def _fail(code: int, message: str) -> NoReturn:
    """One line on stderr and the documented exit code: never a traceback for a user's mistake."""
    stderr.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``wan-engine`` entry point: runs click and turns its outcome into a documented exit code.

    click runs with ``standalone_mode=False`` so errors can be shown in one
    line; that mode *returns* the code a command exits with (``ctx.exit(1)``)
    instead of exiting, so it is passed on here, or every check would exit 0.
    """
    try:
        args = list(argv) if argv is not None else None
        returned = cli.main(args=args, prog_name="wan-engine", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        stderr.print("interrupted")
        sys.exit(exits.INTERRUPTED)
    except click.UsageError as exc:
        exc.show()
        sys.exit(exits.USAGE)
    except click.ClickException as exc:
        _fail(exits.USAGE if exc.exit_code == 1 else exc.exit_code, exc.format_message())
    except WanEngineError as exc:
        _fail(exits.USAGE, str(exc))
    except sqlite3.Error as exc:
        _fail(exits.USAGE, f"the journal could not be used ({exc}); check the file, or pass --journal PATH")
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        _fail(exits.USAGE, f"cannot use{where}: {exc.strerror or exc}")
    except RecursionError:
        # In practice a spec whose $ref points back at itself: the schema never ends.
        _fail(exits.USAGE, "a spec's schema refers to itself ($ref cycle): find it with `wan-engine spec lint FILE`")
    except Exception as exc:
        if os.environ.get("WAN_ENGINE_DEBUG"):
            raise
        _fail(exits.INTERNAL, f"internal error {type(exc).__name__}: {exc} (WAN_ENGINE_DEBUG=1 shows the traceback)")
    sys.exit(returned if isinstance(returned, int) else exits.OK)


if __name__ == "__main__":
    main()
