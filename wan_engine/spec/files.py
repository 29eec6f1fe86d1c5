"""Reading one spec file and checking it, so a bad file fails at load, by name and path.

Checks run in two layers: the meta-schema (the format itself), then what a
schema cannot say (a model's provider exists, its examples pass or fail as they
claim, its body template names real parameters).
"""

from __future__ import annotations

import functools
import json
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


@functools.lru_cache(maxsize=4096)
def _format_problems(text: str) -> tuple[Problem, ...]:
    """The meta-schema's verdict on one file's text, computed once per distinct text.

    Checking a document against the format costs ~50-100 ms (``if``/``$dynamicRef``
    chains), far more than parsing it; a process that loads the same specs again
    (a registry per engine, per test, per property example) pays once. Keyed by
    the text, so any edit is checked afresh.
    """
    return tuple(schema_problems(meta_validator(), json.loads(text)))


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
