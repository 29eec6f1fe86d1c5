"""Drafting model specs from a provider's per-model OpenAPI document.

The AI/ML API publishes one OpenAPI file per video model (``aimlapi/api-docs``,
``docs/api-references/video-models/``). Its request schema is most of a spec: the
parameters, enums, defaults and limits. This module maps it into the spec format
(OpenAPI 3.0 dialect into Draft 2020-12), records where it came from (file, commit)
and lists what a person must still check: rules the page states only in prose,
defaults that contradict their own enum, legacy endpoints. A draft is marked
``review.status: drafted`` until someone has checked it against the page.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from wan_engine.spec.docs_page import PageFacts, read_page

STANDARD_PATH = "/v2/video/generations"
_DROPPED = {"nullable", "example", "x-nullable", "discriminator", "xml", "externalDocs", "readOnly", "writeOnly"}
_SAMPLE_TEXT = "A paper boat drifts down a rain-soaked street."


@attrs.frozen
class Draft:
    model_id: str
    document: dict[str, Any]
    notes: list[str]


@attrs.frozen
class Source:
    """Where the OpenAPI file lives, for the spec's ``imported_from``."""

    path: str
    repository: str | None = None
    commit: str | None = None
    page: str | None = None
    docs_url: str | None = None


def _inline_refs(node: Any, document: Mapping[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """Local $refs (#/components/...) replaced by what they point at, so the spec stands alone."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and ref not in seen:
            target: Any = document
            for token in ref[2:].split("/"):
                target = target.get(token, {}) if isinstance(target, dict) else {}
            merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
            return _inline_refs(merged, document, seen | {ref})
        return {key: _inline_refs(value, document, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_refs(item, document, seen) for item in node]
    return node


def _coerce(value: Any, kind: Any) -> Any:
    """A default written as "10" for an integer schema, read as 10."""
    if isinstance(value, str) and kind in ("integer", "number"):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if kind == "integer" and number.is_integer() else number
    return value


def convert_schema(schema: Any, where: str, notes: list[str]) -> Any:
    """One OpenAPI 3.0 schema as Draft 2020-12: nullable as a type, example as examples, x- keys dropped."""
    if isinstance(schema, list):
        return [convert_schema(item, where, notes) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED or key.startswith("x-"):
            continue
        if key == "required" and isinstance(value, bool):
            flag = str(value).lower()
            notes.append(f"{where}: 'required: {flag}' on a property (Swagger 2 style) was dropped; check")
            continue
        if key in ("properties", "patternProperties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: convert_schema(sub, f"{where}.{name}", notes) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "if", "then", "else", "contains"):
            out[key] = convert_schema(value, f"{where}[]", notes)
        elif key in ("allOf", "anyOf", "oneOf", "prefixItems"):
            out[key] = [convert_schema(sub, where, notes) for sub in value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value and bound in schema:
                out[key] = schema[bound]
        else:
            out[key] = copy.deepcopy(value)
    if isinstance(out.get("exclusiveMinimum"), (int, float)) and out.get("minimum") == out["exclusiveMinimum"]:
        del out["minimum"]
    if isinstance(out.get("exclusiveMaximum"), (int, float)) and out.get("maximum") == out["exclusiveMaximum"]:
        del out["maximum"]
    if "example" in schema and "examples" not in out:
        out["examples"] = [copy.deepcopy(schema["example"])]
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    kind = out.get("type")
    if "enum" in out and kind in ("integer", "number"):
        coerced_enum = [_coerce(v, kind) for v in out["enum"]]
        if coerced_enum != out["enum"]:
            notes.append(f"{where}: the enum is written as strings {out['enum']}; read as numbers")
            out["enum"] = coerced_enum
    if "default" in out:
        coerced = _coerce(out["default"], kind)
        if coerced != out["default"]:
            notes.append(f"{where}: the default is written as {out['default']!r}; read as {coerced!r}")
            out["default"] = coerced
        if "enum" in out and out["default"] not in out["enum"]:
            notes.append(f"{where}: the default {out['default']!r} is not in its own enum {out['enum']}; dropped")
            del out["default"]
    return out


def _sample(name: str, schema: Mapping[str, Any]) -> Any:
    """A value the schema accepts, for the draft's minimal example (enum, default, bounds, URLs by name)."""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for branch in ("anyOf", "oneOf"):
        if schema.get(branch):
            return _sample(name, schema[branch][0])
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
    if kind == "array":
        items: Mapping[str, Any] = schema["items"] if isinstance(schema.get("items"), dict) else {}
        return [_sample(name.rstrip("s"), items) for _ in range(max(1, int(schema.get("minItems", 1))))]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _sample(k, props[k]) for k in schema.get("required", []) if k in props}
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = low + (1 if "exclusiveMinimum" in schema else 0)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    if schema.get("format") in ("uri", "url") or name.endswith(("url", "_urls", "image", "video", "audio")):
        extension = ".mp4" if "video" in name else ".mp3" if "audio" in name else ".png"
        return f"https://example.com/{name}{extension}"
    text = _SAMPLE_TEXT
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    if "minLength" in schema and len(text) < int(schema["minLength"]):
        text = text + "x" * (int(schema["minLength"]) - len(text))
    return text


def _title(model_id: str, schema_title: Any) -> str:
    if isinstance(schema_title, str) and schema_title.strip() and schema_title.strip() != model_id:
        return schema_title.strip()
    words = re.split(r"[-_/]+", model_id)
    return " ".join(w.upper() if len(w) <= 3 and any(c.isdigit() for c in w) else w.capitalize() for w in words if w)


def _operations(openapi: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The POST operations, the standard endpoint first."""
    found = [
        (path, methods["post"])
        for path, methods in (openapi.get("paths") or {}).items()
        if isinstance(methods, dict) and isinstance(methods.get("post"), dict)
    ]
    return sorted(found, key=lambda item: item[0] != STANDARD_PATH)


def request_schema(openapi: Mapping[str, Any], operation: Mapping[str, Any]) -> dict[str, Any] | None:
    content = ((operation.get("requestBody") or {}).get("content") or {}).get("application/json") or {}
    schema = _inline_refs(content.get("schema"), openapi)
    return schema if isinstance(schema, dict) else None


def model_ids(schema: Mapping[str, Any]) -> list[str]:
    model = (schema.get("properties") or {}).get("model") or {}
    if "const" in model:
        return [str(model["const"])]
    return [str(m) for m in model.get("enum") or []]


def draft_specs(
    openapi: Mapping[str, Any],
    source: Source,
    *,
    provider: str = "aimlapi",
    page: PageFacts | None = None,
) -> list[Draft]:
    """One draft spec for every model the OpenAPI document's request schema names."""
    drafts: list[Draft] = []
    for path, operation in _operations(openapi)[:1]:
        schema = request_schema(openapi, operation)
        if schema is None:
            continue
        for model_id in model_ids(schema):
            drafts.append(_draft(model_id, path, schema, source, provider, page))
    return drafts


def _draft(
    model_id: str, path: str, schema: dict[str, Any], source: Source, provider: str, page: PageFacts | None
) -> Draft:
    notes: list[str] = []
    properties = {
        name: convert_schema(sub, f"$.parameters.properties.{name}", notes)
        for name, sub in (schema.get("properties") or {}).items()
        if name != "model"
    }
    required = [name for name in schema.get("required") or [] if name != "model" and name in properties]
    extras = {k: v for k, v in schema.items() if k not in ("type", "properties", "required", "title", "description")}
    parameters: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }
    for key, value in extras.items():
        if key in ("allOf", "anyOf", "oneOf", "if", "then", "else", "dependentRequired", "not"):
            parameters[key] = convert_schema(value, f"$.parameters.{key}", notes)
        else:
            notes.append(f"$.parameters: the request schema's {key!r} was not carried over")
    if path != STANDARD_PATH:
        notes.append(
            f"the OpenAPI file lists the legacy path {path}; this spec uses {STANDARD_PATH} "
            "like every AI/ML API model (the pages' code samples do)"
        )
    notes.append(
        "additionalProperties is false here (typos are caught before a paid submit); the OpenAPI file does not say "
        "whether the provider rejects unknown fields"
    )
    for name, prop in properties.items():
        text = str(prop.get("description", "")).lower()
        if any(word in text for word in ("only when", "only if", "cannot be used", "mutually", "requires", "must be")):
            notes.append(f"$.parameters.properties.{name}: its description states a rule in prose; check it")
    where = f"{source.path}" + (f" ({source.repository or 'docs'} {source.commit[:7]})" if source.commit else "")
    for prop in properties.values():
        if isinstance(prop, dict):
            text = str(prop.get("description", "")).strip()
            prop["description"] = (text + " " if text else "") + f"Source: {where}."
    description = str(schema.get("description") or "").strip()
    document: dict[str, Any] = {
        "format_version": 1,
        "kind": "model",
        "id": model_id,
        "title": _title(model_id, schema.get("title")),
        "description": (description + " " if description else "")
        + f"Drafted from the AI/ML API's OpenAPI file {where}.",
        "docs": [source.docs_url] if source.docs_url else [],
        "provider": provider,
        "provider_model": model_id,
        "spec_version": "0.1.0",
        "parameters": parameters,
    }
    if page is not None and page.processing_s:
        document["polling"] = {
            "typical_duration_s": page.processing_s,
            "duration_spread": 0.7,
            "source": f"One run reported on the page {source.page}; the spread is an estimate.",
        }
    else:
        document["polling"] = {
            "typical_duration_s": 120,
            "duration_spread": 1.0,
            "source": "Estimate: the page reports no processing time (most AI/ML API video pages report 1-9 min).",
        }
    minimal = {name: _sample(name, properties[name]) for name in required}
    examples: list[dict[str, Any]] = [
        {"name": "minimal", "description": "Only the required parameters.", "params": minimal}
    ]
    if required:
        examples.append(
            {"name": f"missing-{required[0]}", "valid": False, "description": f"{required[0]} is required.",
             "params": {k: v for k, v in minimal.items() if k != required[0]}}
        )
    examples.append(
        {"name": "unknown-parameter", "valid": False, "description": "A name the schema does not list.",
         "params": {**minimal, "not_a_parameter": True}}
    )
    document["examples"] = examples
    document["imported_from"] = {
        "source": "openapi",
        "path": source.path,
        "tool": "wan-engine spec import",
        **({"repository": source.repository} if source.repository else {}),
        **({"commit": source.commit} if source.commit else {}),
    }
    document["review"] = {"status": "drafted", "notes": notes}
    return Draft(model_id, document, notes)


# -- a whole docs tree ------------------------------------------------------------------------------

DOCS_SITE = "https://docs.aimlapi.com/"


def page_index(root: Path, folder: str) -> dict[str, tuple[str, PageFacts]]:
    """Model id -> (page path, its facts), for every page under ``folder`` whose sample names a model."""
    index: dict[str, tuple[str, PageFacts]] = {}
    for page in sorted((root / folder).rglob("*.md")):
        facts = read_page(page.read_text(encoding="utf-8"))
        for body in facts.request_bodies:
            model = body.get("model")
            if isinstance(model, str):
                index.setdefault(model, (page.relative_to(root).as_posix(), facts))
    return index


def drafts_from_tree(
    root: Path, folder: str, *, repository: str | None = None, commit: str | None = None
) -> tuple[list[Draft], list[str]]:
    """A draft for every model the OpenAPI files under ``root/folder`` name; one per model id.

    When several files name one model, the file on the standard endpoint wins (then the
    first in path order); the others are listed in the draft's notes and in the report.
    """
    pages = page_index(root, folder)
    chosen: dict[str, tuple[bool, str, Draft]] = {}
    report: list[str] = []
    for path in sorted((root / folder).rglob("*.json")):
        relative = path.relative_to(root).as_posix()
        try:
            openapi = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            report.append(f"{relative}: not JSON ({exc}); skipped")
            continue
        if not isinstance(openapi, dict):
            continue
        operations = _operations(openapi)
        standard = bool(operations) and operations[0][0] == STANDARD_PATH
        schema = request_schema(openapi, operations[0][1]) if operations else None
        for model_id in model_ids(schema or {}):
            page_path, facts = pages.get(model_id, (None, None))
            docs_url = DOCS_SITE + page_path.removeprefix("docs/").removesuffix(".md") if page_path else None
            source = Source(relative, repository, commit, page_path, docs_url)
            [draft] = [d for d in draft_specs(openapi, source, page=facts) if d.model_id == model_id]
            previous = chosen.get(model_id)
            if previous is None or (standard and not previous[0]):
                if previous is not None:
                    draft.notes.append(f"also described by {previous[1]} (not on the standard endpoint)")
                chosen[model_id] = (standard, relative, draft)
            else:
                previous[2].notes.append(f"also described by {relative}; this spec follows {previous[1]}")
                report.append(f"{model_id}: {relative} skipped, {previous[1]} used")
    return [entry[2] for _, entry in sorted(chosen.items())], report
