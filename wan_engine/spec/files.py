"""Reading one spec file and checking it, so a bad file fails at load, by name and path.

Checks run in two layers: the meta-schema (the format itself), then what a
schema cannot say (a model's provider exists, its examples pass or fail as they
claim, its body template names real parameters).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import cattrs
import jsonschema
from jsonschema.exceptions import ValidationError as SchemaViolation

from wan_engine.errors import Problem, SpecError
from wan_engine.spec.model import ModelDocument, Pointers, ProviderSpec
from wan_engine.spec.params import describe_error

FORMAT_VERSION = 1


def bundled_specs_dir() -> Path:
    """specs/ shipped inside the wheel, or the repository's own in a source checkout."""
    package = Path(__file__).resolve().parent.parent  # wan_engine/
    packaged = package / "_specs"
    return packaged if packaged.is_dir() else package.parent / "specs"


def meta_schema_path() -> Path:
    return bundled_specs_dir() / "meta" / f"spec-format-{FORMAT_VERSION}.schema.json"


@functools.cache
def meta_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(meta_schema_path().read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _leaf_errors(error: SchemaViolation) -> list[SchemaViolation]:
    """Descend into oneOf/anyOf/allOf failures to the errors a person can act on."""
    if not error.context:
        return [error]
    best = jsonschema.exceptions.best_match(error.context)
    return _leaf_errors(best) if best is not None else [error]


def schema_problems(validator: jsonschema.protocols.Validator, document: Any) -> list[Problem]:
    problems: list[Problem] = []
    root = validator.schema if isinstance(validator.schema, dict) else {}
    for error in validator.iter_errors(document):
        for leaf in _leaf_errors(error):
            problems.extend(describe_error(leaf, root, unknown="is not a field of the spec format here"))
    return sorted(set(problems), key=lambda p: (p.path, p.message))


CACHE_ENV = "WAN_ENGINE_CACHE_DIR"
"""Where verdicts are kept (default: the user's cache folder); ``off`` turns the on-disk cache off."""


def verdict_cache_dir() -> Path | None:
    configured = os.environ.get(CACHE_ENV)
    if configured == "off":
        return None
    if configured:
        return Path(configured) / "spec-verdicts"
    import platformdirs

    return Path(platformdirs.user_cache_dir("wan-engine")) / "spec-verdicts"


@functools.cache
def _checker_identity() -> bytes:
    """What a verdict depends on besides the file: the meta-schema's text and the validator's version."""
    from importlib.metadata import version

    return meta_schema_path().read_bytes() + f"\0jsonschema {version('jsonschema')}\0".encode()


def _verdict_key(text: str) -> str:
    return hashlib.sha256(_checker_identity() + text.encode("utf-8", "surrogatepass")).hexdigest()


def _cached_as_valid(key: str) -> bool:
    """True only if this exact text was found valid before: the marker file holds its own key.

    A torn, truncated or foreign file does not hold the key and counts as a miss.
    """
    folder = verdict_cache_dir()
    if folder is None:
        return False
    try:
        return (folder / key[:2] / key).read_text(encoding="ascii") == key
    except (OSError, UnicodeDecodeError):
        return False


def _remember_valid(key: str) -> None:
    """Record a valid verdict: written to a temporary file, then renamed, so readers see all or nothing.

    Concurrent writers of the same key write the same content; the last rename
    wins harmlessly. Any failure (read-only home, full disk) just skips the cache.
    """
    folder = verdict_cache_dir()
    if folder is None:
        return
    with contextlib.suppress(OSError):
        target = folder / key[:2]
        target.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(key)
            os.replace(temp, target / key)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


@functools.lru_cache(maxsize=4096)
def _format_problems(text: str) -> tuple[Problem, ...]:
    """The meta-schema's verdict on one file's text, computed once per distinct text.

    Checking a document against the format costs ~50-100 ms (``if``/``$dynamicRef``
    chains), far more than parsing it; a process that loads the same specs again
    (a registry per engine, per test, per property example) pays once. Keyed by
    the text, so any edit is checked afresh.

    Across processes, a valid verdict is remembered on disk by content hash
    (the file's text, the meta-schema's text and the jsonschema version), so a
    command's start-up does not grow with the number of installed specs. Only
    "valid" is cached: a bad file is checked again each time, so its problems
    are always reported in full and current.
    """
    key = _verdict_key(text)
    if _cached_as_valid(key):
        return ()
    problems = tuple(schema_problems(meta_validator(), json.loads(text)))
    if not problems:
        _remember_valid(key)
    return problems


_converter = cattrs.Converter(forbid_extra_keys=False)
# Pointer fields are "one or several"; the meta-schema has checked their shape already.
_converter.register_structure_hook_func(lambda t: t == Pointers, lambda value, _: value)


def read_document(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), [Problem("$", f"cannot read: {exc}")]) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(
            str(path), [Problem("$", f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")]
        ) from None
    if not isinstance(document, dict):
        raise SpecError(str(path), [Problem("$", "a spec is a JSON object")])
    problems = _format_problems(text)
    if problems:
        raise SpecError(str(path), list(problems))
    return document


def structure(path: Path, document: dict[str, Any]) -> ProviderSpec | ModelDocument:
    """Typed objects from a document the meta-schema has already accepted."""
    data = {k: v for k, v in document.items() if not k.startswith("$")}
    data["source_file"] = str(path)
    target: type[ProviderSpec] | type[ModelDocument] = ProviderSpec if data["kind"] == "provider" else ModelDocument
    try:
        return _converter.structure(data, target)
    except cattrs.BaseValidationError as exc:  # a gap between meta-schema and classes: still name the file
        messages = cattrs.transform_error(exc)
        raise SpecError(str(path), [Problem("$", m) for m in messages]) from None


def load_file(path: Path) -> ProviderSpec | ModelDocument:
    return structure(path, read_document(path))
