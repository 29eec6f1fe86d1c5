"""``wan-engine spec lint`` and ``wan-engine spec new``: writing spec files without guessing.

``lint`` checks files a user is writing the way the registry will load them (the
meta-schema, then what a schema cannot say: the model's provider exists, found among
the linted files or the discovered specs; its examples pass or fail as they claim; its
body template places real parameters and sends every one), and names a JSON path in
every message. ``new`` writes a skeleton that passes ``lint``, to be filled in.

Wire into the main CLI with ``cli.add_command(spec_group)``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import click

from wan_engine.errors import Problem, SpecError
from wan_engine.spec.body import placed_parameters
from wan_engine.spec.checks import model_problems, provider_problems
from wan_engine.spec.files import meta_validator, read_document, structure
from wan_engine.spec.model import ModelDocument, ModelSpec, ProviderSpec
from wan_engine.spec.registry import default_folders, spec_files


@attrs.frozen
class LintReport:
    """Problems by file, in the order the files were given (an empty list: the file is fine)."""

    problems: dict[str, list[Problem]]

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())

    @property
    def count(self) -> int:
        return sum(len(found) for found in self.problems.values())


def _others(linted: set[Path], extra_folders: Iterable[str | os.PathLike[str]]) -> list[ProviderSpec | ModelDocument]:
    """Every loadable spec in the discovered folders except the linted files; broken ones are skipped."""
    found: list[ProviderSpec | ModelDocument] = []
    for folder in default_folders(extra_folders):
        if not folder.is_dir():
            continue
        for path in spec_files(folder):
            if path.resolve() in linted:
                continue
            try:
                found.append(structure(path, read_document(path)))
            except SpecError:
                continue  # someone else's broken file is not this lint's business
    return found


def lint_files(paths: Sequence[Path], extra_folders: Iterable[str | os.PathLike[str]] = ()) -> LintReport:
    """Check spec files as the registry would, against the discovered specs for references."""
    report: dict[str, list[Problem]] = {str(p): [] for p in paths}
    loaded: list[tuple[Path, ProviderSpec | ModelDocument]] = []
    for path in paths:
        try:
            loaded.append((path, structure(path, read_document(path))))
        except SpecError as exc:
            report[str(path)].extend(exc.problems)
    linted = {p.resolve() for p in paths}
    others = _others(linted, extra_folders)
    providers = {o.id: o for o in others if isinstance(o, ProviderSpec)}
    taken = {(o.kind, o.id): o.source_file for o in others}
    mine: dict[tuple[str, str], str] = {}
    for path, item in loaded:
        key = (item.kind, item.id)
        first = taken.get(key) or mine.get(key)
        if first is not None:
            report[str(path)].append(Problem("$.id", f"{item.kind} {item.id!r} is already defined by {first}"))
        mine.setdefault(key, str(path))
        if isinstance(item, ProviderSpec):
            providers[item.id] = item  # the file being written wins over an installed one
            report[str(path)].extend(provider_problems(item))
    for path, item in loaded:
        if not isinstance(item, ModelDocument):
            continue
        provider = providers.get(item.provider)
        if provider is None:
            known = ", ".join(sorted(providers)) or "none"
            report[str(path)].append(Problem("$.provider", f"no provider {item.provider!r}; known: {known}"))
            continue
        report[str(path)].extend(model_problems(ModelSpec(item, provider)))
    return LintReport({name: sorted(set(found), key=lambda p: p.path) for name, found in report.items()})


def _root_spec_dirs(ctx: click.Context) -> tuple[str, ...]:
    """The main CLI's --specs folders, when run under it."""
    dirs = ctx.find_root().params.get("spec_dirs") or ()
    return tuple(str(d) for d in dirs)


@click.group("spec")
def spec_group() -> None:
    """Write and check spec files (a model is a spec file)."""


@spec_group.command("lint")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--specs", "spec_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
    help="An extra folder of spec files to resolve references against (repeatable).",
)
@click.pass_context
def lint_command(ctx: click.Context, files: tuple[Path, ...], spec_dirs: tuple[str, ...]) -> None:
    """Check spec files: the format, the provider reference, examples, body templates.

    Every problem is printed as FILE: JSON-PATH: message. Exit status 1 when any is found.
    """
    report = lint_files(files, (*_root_spec_dirs(ctx), *spec_dirs))
    for name, found in report.problems.items():
        if not found:
            click.echo(f"{name}: ok")
        for problem in found:
            click.echo(f"{name}: {problem.path}: {problem.message}")
    if not report.ok:
        files_with = sum(1 for found in report.problems.values() if found)
        click.echo(f"{report.count} problem(s) in {files_with} file(s)", err=True)
        ctx.exit(1)


def _identifier_pattern() -> str:
    schema = meta_validator().schema
    assert isinstance(schema, dict)
    pattern: str = schema["$defs"]["identifier"]["pattern"]
    return pattern


def _title(model_id: str) -> str:
    words = re.split(r"[-_/]+", model_id.rsplit("/", 1)[-1])
    return " ".join(w.upper() if len(w) <= 3 and any(c.isdigit() for c in w) else w.capitalize() for w in words if w)


def skeleton(model_id: str, provider: ProviderSpec) -> dict[str, Any]:
    """A model spec with one parameter, two examples and every TODO a writer must fill in."""
    properties: dict[str, Any] = {
        "prompt": {
            "type": "string",
            "minLength": 1,
            "description": "What to generate. Source: TODO (the provider's page for this model; give its maximum).",
        }
    }
    for name in sorted(placed_parameters(provider.submit.body) - {"prompt"}):
        properties[name] = {
            "type": "string",
            "description": f"TODO: {provider.id}'s body template places {name!r}; give its real type. Source: TODO.",
        }
    return {
        "format_version": 1,
        "kind": "model",
        "id": model_id,
        "title": _title(model_id),
        "description": "TODO: what the model does. Source: TODO (the provider's documentation page).",
        "docs": [],
        "provider": provider.id,
        "provider_model": model_id,
        "spec_version": "0.1.0",
        "parameters": {
            "type": "object",
            "additionalProperties": False,
            "required": ["prompt"],
            "properties": properties,
        },
        "polling": {
            "typical_duration_s": 300,
            "source": "TODO: an estimate until measured or documented; say which.",
        },
        "examples": [
            {"name": "minimal", "params": {"prompt": "A paper boat drifts down a rain-soaked street."}},
            {"name": "missing-prompt", "valid": False, "description": "prompt is required.", "params": {}},
        ],
    }


@spec_group.command("new")
@click.argument("model_id")
@click.option(
    "--provider", "provider_id", required=True,
    help="The id of a provider spec (specs/providers/ID.json, or one in --specs folders).",
)
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
    help="Folder to write into; the file is OUT/MODEL_ID.json (the id's slashes become folders).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_context
def new_command(ctx: click.Context, model_id: str, provider_id: str, out_dir: Path, force: bool) -> None:
    """Write a skeleton model spec that passes lint, full of TODOs to replace with the provider's facts."""
    if not re.fullmatch(_identifier_pattern(), model_id) or len(model_id) > 128:
        raise click.BadParameter(
            "lower-case letters, digits, '.', '_' and '-', in slash-separated parts (e.g. acme/video-1)",
            param_hint="MODEL_ID",
        )
    extra = _root_spec_dirs(ctx)
    providers = {o.id: o for o in _others(set(), extra) if isinstance(o, ProviderSpec)}
    provider = providers.get(provider_id)
    if provider is None:
        known = ", ".join(sorted(providers)) or "none"
        raise click.BadParameter(f"no provider {provider_id!r}; known: {known}", param_hint="--provider")
    target = out_dir / f"{model_id}.json"
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists (use --force to overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(skeleton(model_id, provider), indent=2) + "\n", encoding="utf-8")
    click.echo(f"wrote {target}")
    report = lint_files([target], extra)
    for problem in report.problems[str(target)]:  # never expected: the skeleton is meant to pass
        click.echo(f"{target}: {problem.path}: {problem.message}", err=True)
    click.echo(f"next: fill in the TODOs, then run: wan-engine spec lint {target}")
