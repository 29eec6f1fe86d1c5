"""Checking spec files as the registry will load them, and drafting a skeleton that passes.

Library logic behind ``wan-engine spec lint`` and ``spec new`` (the CLI only formats):
the meta-schema first, then what a schema cannot say: the model's provider exists
(among the linted files or the discovered specs), ids are not taken twice, examples
pass or fail as they claim, body templates place real parameters and send every one.
Every problem carries a JSON path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

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


def discovered_specs(
    linted: set[Path], extra_folders: Iterable[str | os.PathLike[str]]
) -> list[ProviderSpec | ModelDocument]:
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
    others = discovered_specs(linted, extra_folders)
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


def identifier_pattern() -> str:
    schema = meta_validator().schema
    assert isinstance(schema, dict)
    pattern: str = schema["$defs"]["identifier"]["pattern"]
    return pattern


def title_for(model_id: str) -> str:
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
        "title": title_for(model_id),
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
