"""``wan-engine spec lint`` and ``wan-engine spec new``: writing spec files without guessing.

The checks live in :mod:`wan_engine.spec.lint` (library logic); this module only
parses options and prints: ``lint`` prints FILE: JSON-PATH: message for every
problem, ``new`` writes the library's skeleton and lints it.

Wire into the main CLI with ``cli.add_command(spec_group)``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from wan_engine.spec.lint import discovered_specs, identifier_pattern, lint_files, skeleton
from wan_engine.spec.model import ProviderSpec
from wan_engine.spec.openapi_import import Source, draft_specs, drafts_from_tree


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
    if not re.fullmatch(identifier_pattern(), model_id) or len(model_id) > 128:
        raise click.BadParameter(
            "lower-case letters, digits, '.', '_' and '-', in slash-separated parts (e.g. acme/video-1)",
            param_hint="MODEL_ID",
        )
    extra = _root_spec_dirs(ctx)
    providers = {o.id: o for o in discovered_specs(set(), extra) if isinstance(o, ProviderSpec)}
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


@spec_group.command("import")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--folder", default="docs/api-references/video-models", show_default=True,
    help="With a docs repository as SOURCE: the folder of per-model OpenAPI files and pages under it.",
)
@click.option("--repository", default=None, help="The docs repository's name (e.g. aimlapi/api-docs), recorded.")
@click.option("--commit", default=None, help="The docs commit the files come from, recorded in each spec.")
@click.option("--provider", "provider_id", default="aimlapi", show_default=True, help="The provider spec's id.")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
    help="Folder to write into; each file is OUT/MODEL_ID.json.",
)
@click.option("--force", is_flag=True, help="Overwrite existing files (reviewed specs included: check the diff).")
@click.pass_context
def import_command(
    ctx: click.Context, source: Path, folder: str, repository: str | None, commit: str | None,
    provider_id: str, out_dir: Path, force: bool,
) -> None:
    """Draft model specs from a provider's OpenAPI file (or every one under a docs repository).

    Each draft records the file and commit it came from and is marked review.status
    "drafted", with notes on what a person must still check. Existing files are kept
    unless --force. Every written file is linted.
    """
    if source.is_dir():
        drafts, skipped = drafts_from_tree(source, folder, repository=repository, commit=commit)
        for line in skipped:
            click.echo(f"note: {line}", err=True)
    else:
        try:
            openapi = json.loads(source.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"{source}: not a JSON OpenAPI document ({exc})") from None
        drafts = draft_specs(openapi, Source(source.as_posix(), repository, commit), provider=provider_id)
    if not drafts:
        raise click.ClickException(f"{source}: no POST request schema naming a model was found")
    written: list[Path] = []
    for draft in drafts:
        draft.document["provider"] = provider_id
        target = out_dir / f"{draft.model_id}.json"
        if target.exists() and not force:
            click.echo(f"kept {target} (exists; --force to overwrite)")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(draft.document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
        click.echo(f"wrote {target} ({len(draft.notes)} note(s) to review)")
    if written:
        report = lint_files(written, _root_spec_dirs(ctx))
        for name, found in report.problems.items():
            for problem in found:
                click.echo(f"{name}: {problem.path}: {problem.message}", err=True)
        if not report.ok:
            ctx.exit(1)
