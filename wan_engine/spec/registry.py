"""Where specs come from, and the one place that knows every model.

Sources, in order: the bundled specs/ folder, folders given by the caller, the
WAN_ENGINE_SPEC_PATH environment variable (os.pathsep-separated), and packages
that register a folder under the ``wan_engine.specs`` entry point group. A new
file in any of them is a new model: no code changes.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from wan_engine import plugins
from wan_engine.errors import (
    DuplicateSpecError,
    InvalidSpecsError,
    Problem,
    SpecError,
    UnknownModelError,
    WanEngineError,
)
from wan_engine.spec.checks import model_problems, provider_problems
from wan_engine.spec.files import bundled_specs_dir, load_file
from wan_engine.spec.model import ModelDocument, ModelSpec, ProviderSpec

SPEC_PATH_ENV = "WAN_ENGINE_SPEC_PATH"


def spec_files(folder: Path) -> Iterator[Path]:
    """Every spec document below a folder; meta/ holds the format, not specs."""
    for path in sorted(folder.rglob("*.json")):
        if "meta" not in path.relative_to(folder).parts[:1]:
            yield path


def _entry_point_folders() -> list[Path]:
    folders: list[Path] = []
    for plugin in plugins.load("specs").loaded.values():
        try:
            value: Any = plugin.obj() if callable(plugin.obj) else plugin.obj
            items = [value] if isinstance(value, (str, os.PathLike)) else list(value)
            if not all(isinstance(item, (str, os.PathLike)) for item in items):
                raise TypeError(f"expected a folder or a list of folders, got {value!r}")
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not take discovery down
            warnings.warn(
                f"spec plugin {plugin.name!r} ({plugin.value}, from {plugin.distribution}) gave no folder: "
                f"{type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        folders.extend(Path(item) for item in items)
    return folders


def default_folders(extra: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    folders = [bundled_specs_dir(), *(Path(p) for p in extra)]
    folders += [Path(p) for p in os.environ.get(SPEC_PATH_ENV, "").split(os.pathsep) if p]
    folders += _entry_point_folders()
    unique: list[Path] = []
    for folder in folders:
        if folder.resolve() not in {u.resolve() for u in unique}:
            unique.append(folder)
    return unique


@attrs.frozen
class SpecRegistry:
    providers: dict[str, ProviderSpec]
    models_by_id: dict[str, ModelSpec]
    skipped: tuple[WanEngineError, ...] = ()
    """With ``lenient``: the bad files left out, each error naming its file and JSON paths."""

    @classmethod
    def discover(cls, extra_folders: Iterable[str | os.PathLike[str]] = (), *, lenient: bool = False) -> SpecRegistry:
        """Every spec found (bundled, extra folders, WAN_ENGINE_SPEC_PATH, entry points).

        Strict by default: one bad file raises :class:`InvalidSpecsError` listing every bad
        file. ``lenient=True`` leaves the bad files out (see ``skipped``) so one broken
        model on a shared spec path does not take the others down; the CLI uses it and warns.
        """
        return cls.from_folders(default_folders(extra_folders), lenient=lenient)

    @classmethod
    def from_folders(cls, folders: Iterable[Path], *, lenient: bool = False) -> SpecRegistry:
        return cls.from_files((path for folder in folders for path in spec_files(folder)), lenient=lenient)

    @classmethod
    def from_files(cls, paths: Iterable[Path], *, lenient: bool = False) -> SpecRegistry:
        errors: list[WanEngineError] = []
        providers: dict[str, ProviderSpec] = {}
        documents: dict[str, ModelDocument] = {}
        for path in paths:
            try:
                loaded = load_file(path)
            except SpecError as exc:
                errors.append(exc)
                continue
            if isinstance(loaded, ProviderSpec) and (malformed := provider_problems(loaded)):
                # Reported once, against the provider's file; it is still registered so that its
                # models do not each fail again with "no provider".
                errors.append(SpecError(str(path), malformed))
            table: dict[str, Any] = providers if isinstance(loaded, ProviderSpec) else documents
            if loaded.id in table:
                errors.append(DuplicateSpecError(loaded.kind, loaded.id, table[loaded.id].source_file, str(path)))
                continue
            table[loaded.id] = loaded
        models: dict[str, ModelSpec] = {}
        for doc in documents.values():
            provider = providers.get(doc.provider)
            if provider is None:
                errors.append(
                    SpecError(
                        doc.source_file,
                        [
                            Problem(
                                "$.provider",
                                f"no provider {doc.provider!r}; known: {', '.join(sorted(providers)) or 'none'}",
                            )
                        ],
                    )
                )
                continue
            spec = ModelSpec(doc, provider)
            problems = model_problems(spec)
            if problems:
                errors.append(SpecError(doc.source_file, problems))
                continue
            models[doc.id] = spec
        if errors and not lenient:
            raise InvalidSpecsError(errors)
        return cls(providers, dict(sorted(models.items())), tuple(errors))

    def model(self, model_id: str) -> ModelSpec:
        try:
            return self.models_by_id[model_id]
        except KeyError:
            raise UnknownModelError(model_id, list(self.models_by_id), left_out=len(self.skipped)) from None

    def models(self) -> list[ModelSpec]:
        return list(self.models_by_id.values())
