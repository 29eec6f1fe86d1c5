"""``wan-engine record`` and ``wan-engine contract check``: the recorded-API harness on the command line.

Wire into the main CLI with ``add_to(cli)`` (or ``cli.add_command(record_command)``
and ``cli.add_command(contract_group)``); ``python -m wan_engine.cli.harness``
runs them standalone.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import click

from wan_engine.cassettes.contract import check_paths
from wan_engine.cassettes.drift import diff_cassettes, format_report
from wan_engine.cassettes.provenance import SOURCES, decide_source
from wan_engine.cassettes.recording import Recording, cassette_path, record_against_sandbox, record_session
from wan_engine.cli import exits
from wan_engine.cli.params_file import read_params
from wan_engine.errors import ParameterValidationError, RecordingError, SourceError
from wan_engine.sandbox import FaultPlan
from wan_engine.spec.registry import SpecRegistry

DEFAULT_CASSETTES = "cassettes"


def _registry(ctx: click.Context) -> SpecRegistry:
    """The main CLI's registry (its --specs folders) when run under it, else the discovered one."""
    obj = ctx.find_root().obj
    registry = getattr(obj, "registry", None)
    if isinstance(registry, SpecRegistry):
        return registry
    spec_dirs = ctx.find_root().params.get("spec_dirs") or ()
    return SpecRegistry.discover(spec_dirs)


def _check_faults(_ctx: click.Context, _param: click.Parameter, texts: tuple[str, ...]) -> tuple[str, ...]:
    try:
        FaultPlan.parse(texts)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return texts


@click.command("record")
@click.argument("model")
@click.option("--params", "params_file", required=True, metavar="P.json", help="The job's parameters ('-': stdin).")
@click.option("--name", required=True, help="The cassette's name: written to DIR/MODEL/NAME.yaml.")
@click.option("--cassettes", "cassette_dir", default=DEFAULT_CASSETTES, show_default=True, help="Cassette folder.")
@click.option("--base-url", default=None, help="Record from this base URL (default: the provider's, from the spec).")
@click.option("--sandbox", "use_sandbox", is_flag=True, help="Start a sandbox in-process (virtual time) and record it.")
@click.option(
    "--source", type=click.Choice(SOURCES), default=None,
    help="Where the recording comes from; checked: a sandbox or other non-provider URL is never 'real'.",
)
@click.option("--download", is_flag=True, help="Also fetch the video (its body is left out: size and sha256 kept).")
@click.option("--no-validate", is_flag=True, help="Send the parameters as given, to record the provider's rejection.")
@click.option("--strategy", default="fixed", show_default=True, help="Polling strategy while recording.")
@click.option("--deadline", type=float, default=None, help="Stop waiting after this many seconds.")
@click.option("--note", default=None, help="A free-text note for the provenance block.")
@click.option("--force", is_flag=True, help="Overwrite an existing cassette.")
@click.option("--duration", type=float, default=None, help="[--sandbox] Simulated job length (default: the spec's).")
@click.option(
    "--fault", "faults", multiple=True, callback=_check_faults,
    help="[--sandbox] A fault rule, e.g. status:rate_limit:times=2:retry_after=5 (repeatable).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="[--sandbox] Seed for ids and faults.")
@click.pass_context
def record_command(
    ctx: click.Context,
    model: str,
    params_file: str,
    name: str,
    cassette_dir: str,
    base_url: str | None,
    use_sandbox: bool,
    source: str | None,
    download: bool,
    no_validate: bool,
    strategy: str,
    deadline: float | None,
    note: str | None,
    force: bool,
    duration: float | None,
    faults: tuple[str, ...],
    seed: int,
) -> None:
    """Record one whole job of MODEL (submit, every status read, optionally the download) as a cassette.

    Against the real API: set the key in the spec's environment variable
    (e.g. AIMLAPI_KEY). Against a sandbox: --sandbox, or --base-url of a running
    `wan-engine sandbox`. Credentials are scrubbed from requests and responses.
    """
    registry = _registry(ctx)
    spec = registry.model(model)
    params = read_params(params_file)
    try:
        path = cassette_path(cassette_dir, spec.id, name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; add --force to re-record it")
    if use_sandbox and base_url:
        raise click.UsageError("--sandbox starts its own server: leave out --base-url")
    if not use_sandbox and (faults or duration is not None):
        raise click.UsageError("--fault and --duration configure --sandbox")
    options: dict[str, Any] = {
        "strategy": strategy,
        "download": download,
        "validate": not no_validate,
        "deadline": deadline,
        "note": note,
    }
    try:
        recording: Recording
        if use_sandbox:
            recording = asyncio.run(
                record_against_sandbox(
                    registry, spec.id, params, path, duration_s=duration, faults=faults, seed=seed,
                    source=source, **options,
                )
            )
        else:
            decide_source(source, base_url or spec.provider.base_url, spec.provider.base_url, in_process_sandbox=False)
            env = spec.provider.auth.env
            if env and not os.environ.get(env):
                raise click.ClickException(f"no API key: set {env} (it is scrubbed from the cassette)")
            recording = asyncio.run(
                record_session(registry, spec.id, params, path, base_url=base_url, source=source, **options)
            )
    except SourceError as exc:
        raise click.UsageError(str(exc)) from None
    except ParameterValidationError as exc:
        lines = "\n".join(f"  {v}" for v in exc.violations)
        raise click.ClickException(
            f"{len(exc.violations)} invalid parameter(s), nothing sent:\n{lines}\n"
            "(add --no-validate to send them anyway and record the provider's answer)"
        ) from None
    except RecordingError as exc:
        raise click.ClickException(str(exc)) from None
    outcome = recording.outcome
    click.echo(
        f"recorded {recording.interactions} interaction(s) to {recording.path} "
        f"(source: {recording.provenance.source}; outcome: {outcome.kind}"
        + (f", job {outcome.job_id}" if outcome.job_id else "")
        + (f", HTTP {outcome.http_status}" if outcome.http_status else "")
        + ")"
    )


@click.group("contract")
def contract_group() -> None:
    """Offline contract tests: recorded sessions against the specs."""


@contract_group.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per breach, then a summary object.")
@click.pass_context
def contract_check(ctx: click.Context, paths: tuple[str, ...], as_json: bool) -> None:
    """Check every interaction of the cassettes in PATHS (files or folders; default: cassettes/).

    Exit 1 when any interaction breaks its spec, naming cassette, interaction and JSON path.
    """
    targets = list(paths) or [DEFAULT_CASSETTES]
    if not paths and not Path(DEFAULT_CASSETTES).is_dir():
        raise click.ClickException("no cassettes/ folder here: name the cassettes to check")
    report = check_paths(targets, _registry(ctx))
    if report.cassettes == 0:
        raise click.ClickException(f"no cassettes (*.yaml) in {', '.join(targets)}")
    if as_json:
        for breach in report.breaches:
            click.echo(
                json.dumps(
                    {
                        "cassette": breach.cassette,
                        "interaction": breach.interaction,
                        "part": breach.part,
                        "path": breach.path,
                        "message": breach.message,
                    }
                )
            )
        click.echo(
            json.dumps(
                {"cassettes": report.cassettes, "interactions": report.interactions, "breaches": len(report.breaches)}
            )
        )
    else:
        for note in report.notes:
            click.echo(f"note: {note}")
        for breach in report.breaches:
            click.echo(f"BREACH {breach}")
        verdict = "ok" if report.ok else f"{len(report.breaches)} breach(es)"
        click.echo(f"{report.cassettes} cassette(s), {report.interactions} interaction(s) checked: {verdict}")
    if not report.ok:
        ctx.exit(exits.CHECK_FAILED)


@contract_group.command("diff")
@click.argument("old", type=click.Path(exists=True, dir_okay=False))
@click.argument("new", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="The drift report as one JSON object.")
@click.pass_context
def contract_diff(ctx: click.Context, old: str, new: str, as_json: bool) -> None:
    """What changed between two recordings OLD and NEW of one model: statuses, shapes, results, errors, timing.

    Each difference is breaking, notable or informational, with the spec change that
    follows where there is one. Exit 1 if anything is breaking, 4 if the worst is
    notable, 5 if only informational, 0 when the provider answered alike.
    """
    report = diff_cassettes(old, new, _registry(ctx))
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        for line in format_report(report):
            click.echo(line)
    ctx.exit(report.exit_code)


def add_to(group: click.Group) -> None:
    """Add ``record`` and ``contract`` to a click group (the main ``wan-engine`` CLI)."""
    group.add_command(record_command)
    group.add_command(contract_group)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--specs", "spec_dirs", multiple=True, type=click.Path(exists=True, file_okay=False))
def harness(spec_dirs: tuple[str, ...]) -> None:
    """The recorded-API harness commands, standalone."""


add_to(harness)

if __name__ == "__main__":
    harness()
