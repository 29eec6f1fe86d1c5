"""Entry-point plugins: how built-ins and third-party parts are found alike.

Each kind of part has its own entry point group. Built-in strategies, sinks
and spec sources are registered through the same groups in our own
pyproject.toml, so the mechanism third parties rely on is exercised by every
run. A plugin that fails to load is recorded with its error and skipped: one
broken package must not take the engine down.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from wan_engine.errors import UnknownPluginError

GROUPS = {
    "strategy": "wan_engine.strategies",
    "sink": "wan_engine.sinks",
    "specs": "wan_engine.specs",
}


@attrs.frozen
class Plugin:
    kind: str
    name: str
    value: str
    distribution: str
    obj: Any = attrs.field(eq=False, repr=False)


@attrs.frozen
class PluginFailure:
    kind: str
    name: str
    value: str
    distribution: str
    error: str


def _entry_points(group: str) -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=group)


def _dist_name(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else "?"


@attrs.define
class PluginSet:
    """The plugins of one kind that loaded, and the ones that did not."""

    kind: str
    loaded: dict[str, Plugin] = attrs.field(factory=dict)
    failures: list[PluginFailure] = attrs.field(factory=list)

    def get(self, name: str) -> Any:
        try:
            return self.loaded[name].obj
        except KeyError:
            broken = [f for f in self.failures if f.name == name]
            failure = str(broken[0].error) if broken else None
            raise UnknownPluginError(self.kind, name, list(self.loaded), failure=failure) from None

    def check(self, name: str, options: Mapping[str, Any] | Iterable[str] = ()) -> None:
        """Raise ``UnknownPluginError`` if ``name`` is not a loaded plugin or takes none of some ``options``.

        Called before a paid submit (a misspelt ``--strategy`` or sink option must not be
        found after the provider has been paid): checks names against the factory's
        signature without building anything, so no connection or file is opened.
        """
        factory = self.get(name)
        unknown = sorted(set(options) - set(accepted_options(factory) or set(options)))
        if unknown:
            known = ", ".join(sorted(accepted_options(factory) or ())) or "none"
            raise UnknownPluginError(
                self.kind,
                name,
                list(self.loaded),
                message=f"{self.kind} plugin {name!r} has no option {', '.join(map(repr, unknown))}; "
                f"its options: {known}",
            )


def accepted_options(factory: Any) -> set[str] | None:
    """The keyword names ``factory`` accepts; None when it takes ``**kwargs`` or cannot be inspected."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    names: set[str] = set()
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            names.add(parameter.name)
    return names


def check(kind: str, name: str, options: Mapping[str, Any] | Iterable[str] = ()) -> None:
    """``load(kind).check(name, options)``: the one call a front end makes before submitting."""
    load(kind).check(name, options)


_cache: dict[tuple[str, tuple[str, ...]], PluginSet] = {}


def load(kind: str) -> PluginSet:
    """The plugins of one kind, scanned once per ``sys.path`` (scanning every distribution is slow)."""
    key = (kind, tuple(sys.path))
    if key not in _cache:
        _cache[key] = _scan(kind)
    return _cache[key]


def _scan(kind: str) -> PluginSet:
    group = GROUPS[kind]
    result = PluginSet(kind)
    seen: set[tuple[str, str]] = set()
    for ep in _entry_points(group):
        if (ep.name, ep.value) in seen:  # the same distribution visible twice on sys.path
            continue
        seen.add((ep.name, ep.value))
        dist = _dist_name(ep)
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import-time error of a third party
            result.failures.append(PluginFailure(kind, ep.name, ep.value, dist, f"{type(exc).__name__}: {exc}"))
            continue
        if ep.name in result.loaded:
            result.failures.append(
                PluginFailure(
                    kind, ep.name, ep.value, dist,
                    f"name already taken by {result.loaded[ep.name].value} ({result.loaded[ep.name].distribution})",
                )
            )
            continue
        result.loaded[ep.name] = Plugin(kind, ep.name, ep.value, dist, obj)
    return result


def load_all() -> dict[str, PluginSet]:
    return {kind: load(kind) for kind in GROUPS}
