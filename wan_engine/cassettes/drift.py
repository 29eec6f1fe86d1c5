"""Drift between two recordings of one model: what changed in the provider's answers, and how much it matters.

A contract check says whether one recording keeps the spec; it cannot see an
API that changed while the old cassettes still pass. ``diff_cassettes(old,
new)`` compares what the provider did in two sessions of the same model (or a
session with the example answers of the model's documentation page) —
the statuses it walked through and their order, the shape of every answer
(submit, status, errors), where the result URL lives, how long the job took
and how long its URL stays valid — and sorts each difference into a tier:

* **breaking**: an app built on the old answers would now fail or lose a job:
  a status word the spec does not map (a renamed status), a field removed or
  of another type, the result URL moved, an error shape the spec cannot read;
* **notable**: new fields, a new (mapped) status, an error code not seen before;
* **informational**: more or fewer polls, a different URL lifetime.

Where a spec change follows (map the new status word, point the result at its
new place), the finding says which. Recordings are compared as recorded: the
spec is used only to read status words and to judge whether it still copes.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs

from wan_engine.cassettes.serializer import CassetteDocument, read_cassette
from wan_engine.errors import CassetteFormatError
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.model import ModelSpec
from wan_engine.spec.registry import SpecRegistry


class Tier(enum.IntEnum):
    INFORMATIONAL = 1
    NOTABLE = 2
    BREAKING = 3

    @property
    def label(self) -> str:
        return self.name.lower()


EXIT_CODES = {None: 0, Tier.BREAKING: 1, Tier.NOTABLE: 4, Tier.INFORMATIONAL: 5}
"""The highest tier found decides the exit code of ``wan-engine contract diff``: breaking drift is a failed
check (1, as everywhere); 2 and 3 keep their meaning across commands (usage error, job failed)."""


@attrs.frozen
class Finding:
    tier: Tier
    kind: str
    """statuses | shape | result | errors | timing | url_lifetime."""
    where: str
    message: str
    suggestion: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {"tier": self.tier.label, "kind": self.kind, "where": self.where, "message": self.message}
        return out | ({"suggestion": self.suggestion} if self.suggestion else {})


@attrs.frozen
class DriftReport:
    old: str
    new: str
    model: str
    findings: tuple[Finding, ...]

    @property
    def highest(self) -> Tier | None:
        return max((f.tier for f in self.findings), default=None)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.highest]

    def as_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "model": self.model,
            "highest": self.highest.label if self.highest else None,
            "findings": [f.as_dict() for f in self.findings],
        }


# -- what one recording says -------------------------------------------------------------------


def _json(raw: Any) -> Any:
    if isinstance(raw, (dict, list)):
        return raw
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str) and raw.strip():
        try:
            return json.loads(raw)
        except ValueError:
            return None
    return None


def _shape(document: Any, path: str = "$") -> dict[str, str]:
    """Every path in a JSON document and its type; array items share one ``[]`` path."""
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    found = {path: "null" if document is None else kinds.get(type(document), type(document).__name__)}
    if isinstance(document, dict):
        for key, value in document.items():
            found |= _shape(value, f"{path}.{key}")
    elif isinstance(document, list):
        for value in document:
            found |= _shape(value, f"{path}[]")
    return found


def _string_paths(document: Any, wanted: set[str], path: str = "$") -> set[str]:
    if isinstance(document, str):
        return {path} if document in wanted else set()
    if isinstance(document, dict):
        return {p for key, value in document.items() for p in _string_paths(value, wanted, f"{path}.{key}")}
    if isinstance(document, list):
        return {p for value in document for p in _string_paths(value, wanted, f"{path}[]")}
    return set()


@attrs.frozen
class _Session:
    """What one cassette shows of the provider, reduced to what drift compares."""

    statuses: tuple[str, ...]
    """Distinct status words in the order first seen."""
    shapes: dict[str, dict[str, str]]
    """Answer kind (``submit 200``, ``status 200 <word>``) -> path -> type."""
    errors: dict[str, dict[str, str]]
    """``<kind> <code>`` -> shape of the error body."""
    result_paths: frozenset[str]
    polls: int
    url_lifetime_s: float | None


def _kind(method: str, uri: str, job_id: str | None, media: set[str]) -> str:
    if uri in media:
        return "media"
    path = urlsplit(uri).path
    if job_id:
        path = path.replace(job_id, "{id}")
    query = dict(parse_qsl(urlsplit(uri).query))
    looks_up_id = job_id is not None and (job_id in query.values() or "{id}" in path)
    if method == "POST" and not looks_up_id:
        return "submit"
    return "status" if method == "GET" else f"{method.lower()} {path}"


def _lifetime(url: str) -> float | None:
    query = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query)}
    for key in ("x-amz-expires", "expires_in", "ttl"):
        if key in query:
            try:
                return float(query[key])
            except ValueError:
                return None
    return None


_VIDEO_URL = re.compile(r"^https?://[^\s?#]+\.(mp4|mov|webm|m4v)(\?[^\s#]*)?$", re.IGNORECASE)


def _video_strings(document: Any) -> set[str]:
    """Strings that are video URLs: how a documented answer's result is found without a recorded download."""
    if isinstance(document, str):
        return {document} if _VIDEO_URL.match(document) else set()
    if isinstance(document, dict):
        return {u for value in document.values() for u in _video_strings(value)}
    if isinstance(document, list):
        return {u for value in document for u in _video_strings(value)}
    return set()


def _docs_as_recording(path: Path, example: dict[str, Any]) -> CassetteDocument:
    """A documentation page's example answers (a ``source: docs`` fixture) as a recording: the first answer
    is the submit's, the others status reads, so a real recording can be compared with what the docs show."""
    answers = [a for a in example.get("responses", []) if isinstance(a, dict)]
    interactions = [
        {
            "request": {"method": "POST" if index == 0 else "GET", "uri": f"docs://{example.get('path', '')}"},
            "response": {"status": {"code": 200, "message": "OK"}, "body": {"string": json.dumps(answer)}},
        }
        for index, answer in enumerate(answers)
    ]
    origin = {"source": "docs", "model": example.get("model"), "base_url": "", "outcome": None}
    return CassetteDocument(str(path), {"wan_engine": origin, "interactions": interactions})


def load_recording(path: str | Path) -> CassetteDocument:
    """A cassette, or a documentation example fixture (JSON with ``source: docs`` and ``responses``)."""
    path = Path(path)
    if path.suffix == ".json":
        try:
            example = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CassetteFormatError(f"{path}: not JSON ({exc})") from None
        if not isinstance(example, dict) or example.get("source") != "docs" or "responses" not in example:
            raise CassetteFormatError(f"{path}: not a docs example (needs source: docs and responses)")
        return _docs_as_recording(path, example)
    return read_cassette(path)


def _session(document: CassetteDocument, spec: ModelSpec | None) -> _Session:
    origin: dict[str, Any] = document.provenance_block if isinstance(document.provenance_block, dict) else {}
    found = origin.get("outcome")
    outcome: dict[str, Any] = found if isinstance(found, dict) else {}
    job_id = outcome.get("job_id")
    media = {str(m.get("url")) for m in origin.get("media") or [] if isinstance(m, dict)}
    if outcome.get("video_url"):
        media.add(str(outcome["video_url"]))
    status_pointer = spec.provider.status_pointer if spec else "/status"
    statuses: list[str] = []
    shapes: dict[str, dict[str, str]] = {}
    errors: dict[str, dict[str, str]] = {}
    result_paths: set[str] = set()
    polls = 0
    for interaction in document.interactions:
        request = interaction.get("request", {}) if isinstance(interaction, dict) else {}
        response = interaction.get("response", {}) if isinstance(interaction, dict) else {}
        status = response.get("status") if isinstance(response, dict) else None
        code = status.get("code") if isinstance(status, dict) else None
        if not isinstance(request, dict) or not isinstance(code, int):
            continue
        kind = _kind(str(request.get("method", "")).upper(), str(request.get("uri", "")), job_id, media)
        if kind == "media":
            continue
        body = response.get("body")
        parsed = _json(body.get("string") if isinstance(body, dict) else None)
        if code >= 400:
            errors[f"{kind} {code}"] = _shape(parsed)
            continue
        key = f"{kind} {code}"
        if kind == "status":
            polls += 1
            word = json_pointer.resolve(parsed, status_pointer)
            if isinstance(word, str):
                if word not in statuses:
                    statuses.append(word)
                key = f"{key} {word}"
        shapes.setdefault(key, {}).update(_shape(parsed))
        result_paths |= _string_paths(parsed, media or _video_strings(parsed))
    lifetimes = [t for t in (_lifetime(u) for u in media) if t is not None]
    return _Session(
        tuple(statuses), shapes, errors, frozenset(result_paths), polls, min(lifetimes) if lifetimes else None
    )


# -- comparing two -------------------------------------------------------------------------------


def _pointer(path: str) -> str:
    """``$.video.url`` -> ``/video/url`` (the spec's pointer syntax)."""
    return "/" + path.removeprefix("$").lstrip(".").replace(".", "/").replace("[]", "/0")


def _compare_statuses(old: _Session, new: _Session, spec: ModelSpec | None) -> list[Finding]:
    findings: list[Finding] = []
    gone = [s for s in old.statuses if s not in new.statuses]
    for word in (s for s in new.statuses if s not in old.statuses):
        if spec is not None and spec.provider.mapped_status(word) is not None:
            findings.append(Finding(Tier.NOTABLE, "statuses", "status", f"new status {word!r} (the spec maps it)"))
            continue
        guess = next((g for g in gone if spec is not None and spec.provider.mapped_status(g) is not None), None)
        was = spec.provider.mapped_status(guess) if spec is not None and guess is not None else None
        state = was.value if was is not None else "running"
        renamed = f" (in place of {guess!r}?)" if guess else ""
        findings.append(
            Finding(
                Tier.BREAKING,
                "statuses",
                "status",
                f"status {word!r}{renamed} is not mapped by the spec: the engine would treat it as unknown",
                f'add "{word}": "{state}" to the provider\'s "statuses"',
            )
        )
    common_old = [s for s in old.statuses if s in new.statuses]
    common_new = [s for s in new.statuses if s in old.statuses]
    if common_old != common_new:
        findings.append(
            Finding(
                Tier.NOTABLE,
                "statuses",
                "status",
                f"statuses came in another order: {' -> '.join(common_old)} then, now {' -> '.join(common_new)}",
            )
        )
    for word in gone:
        findings.append(Finding(Tier.INFORMATIONAL, "statuses", "status", f"status {word!r} was not seen this time"))
    return findings


def _answer_family(key: str) -> str:
    return " ".join(key.split(" ")[:2])  # "status 200 generating" -> "status 200"


def _compare_shapes(old: _Session, new: _Session) -> list[Finding]:
    findings: list[Finding] = []
    families: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    for side, shapes in ((0, old.shapes), (1, new.shapes)):
        for key, shape in shapes.items():
            pair = families.setdefault(_answer_family(key), ({}, {}))
            pair[side].update(shape)
    for family, (before, after) in sorted(families.items()):
        if not before or not after:
            continue
        for path in sorted(set(before) - set(after)):
            if any(path.startswith(moved) for moved in old.result_paths):
                continue  # reported once as a moved result
            findings.append(Finding(Tier.BREAKING, "shape", f"{family} {path}", "field removed"))
        for path in sorted(set(before) & set(after)):
            if before[path] != after[path] and "null" not in (before[path], after[path]):
                findings.append(
                    Finding(Tier.BREAKING, "shape", f"{family} {path}", f"type {before[path]} -> {after[path]}")
                )
        for path in sorted(set(after) - set(before)):
            parent = path.rsplit(".", 1)[0].removesuffix("[]")
            if parent in after and parent not in before:
                continue  # one finding for a new object, not one per field in it
            findings.append(Finding(Tier.NOTABLE, "shape", f"{family} {path}", "new field"))
    return findings


def _compare_result(old: _Session, new: _Session) -> list[Finding]:
    if not old.result_paths or old.result_paths & new.result_paths:
        return []
    before = ", ".join(sorted(old.result_paths))
    if not new.result_paths:
        return [Finding(Tier.BREAKING, "result", "result URL", f"the result URL is no longer at {before}")]
    after = sorted(new.result_paths)
    return [
        Finding(
            Tier.BREAKING,
            "result",
            "result URL",
            f"the result URL moved from {before} to {', '.join(after)}",
            f'point the provider\'s "result.video_url" at "{_pointer(after[0])}"',
        )
    ]


def _compare_errors(old: _Session, new: _Session, spec: ModelSpec | None) -> list[Finding]:
    findings: list[Finding] = []
    message_pointers = spec.provider.errors.message if spec else None
    readable = (
        [message_pointers] if isinstance(message_pointers, str) else list(message_pointers or [])
    )
    for key, shape in sorted(new.errors.items()):
        before = old.errors.get(key)
        readable_now = not readable or any(_path_for(p) in shape for p in readable)
        strings = sorted(p for p, kind in shape.items() if kind == "string")
        suggestion = f'add "{_pointer(strings[0])}" to the provider\'s "errors.message"' if strings else None
        if before is None:
            tier = Tier.NOTABLE if readable_now else Tier.BREAKING
            findings.append(Finding(tier, "errors", key, f"error answer not seen before: {_fields(shape)}",
                                    None if readable_now else suggestion))  # fmt: skip
        elif set(before) != set(shape):
            tier = Tier.NOTABLE if readable_now else Tier.BREAKING
            what = f"error shape changed: {_fields(before)} -> {_fields(shape)}"
            if not readable_now:
                what += "; the spec's error message pointer no longer finds a message"
            findings.append(Finding(tier, "errors", key, what, None if readable_now else suggestion))
    return findings


def _path_for(pointer: str) -> str:
    """``/error/message`` -> ``$.error.message`` (drift's path syntax)."""
    return "$" + "".join(f".{t}" for t in pointer.strip("/").split("/") if t)


def _fields(shape: dict[str, str]) -> str:
    leaves = [p for p in shape if p != "$"]
    return "{" + ", ".join(sorted(leaves)) + "}" if leaves else "(no JSON body)"


def _compare_timing(old: _Session, new: _Session) -> list[Finding]:
    findings = []
    if old.polls and new.polls and old.polls != new.polls:
        findings.append(
            Finding(Tier.INFORMATIONAL, "timing", "polls", f"{old.polls} status reads then, {new.polls} now")
        )
    if old.url_lifetime_s != new.url_lifetime_s and None not in (old.url_lifetime_s, new.url_lifetime_s):
        findings.append(
            Finding(
                Tier.INFORMATIONAL,
                "url_lifetime",
                "result URL",
                f"the result URL was valid {old.url_lifetime_s:g} s, now {new.url_lifetime_s:g} s",
            )
        )
    return findings


def diff_documents(old: CassetteDocument, new: CassetteDocument, registry: SpecRegistry | None) -> DriftReport:
    models = {doc.provenance_block.get("model") if isinstance(doc.provenance_block, dict) else None
              for doc in (old, new)}  # fmt: skip
    if len(models) != 1 or None in models:
        raise CassetteFormatError(
            f"{old.path} and {new.path} must be recordings of one model "
            f"(their wan_engine blocks say {sorted(map(str, models))})"
        )
    model = str(next(iter(models)))
    spec = registry.model(model) if registry is not None and model in registry.models_by_id else None
    before, after = _session(old, spec), _session(new, spec)
    findings = [
        *_compare_statuses(before, after, spec),
        *_compare_result(before, after),
        *_compare_shapes(before, after),
        *_compare_errors(before, after, spec),
        *_compare_timing(before, after),
    ]
    findings.sort(key=lambda f: (-f.tier, f.kind, f.where))
    return DriftReport(old.path, new.path, model, tuple(findings))


def diff_cassettes(old: str | Path, new: str | Path, registry: SpecRegistry | None = None) -> DriftReport:
    """Compare two recordings of one model; ``registry`` (default: every discovered spec) reads status words.

    Either side may be a documentation example fixture (``source: docs``), to compare a recording with
    what the provider's docs show.
    """
    return diff_documents(load_recording(old), load_recording(new), registry or SpecRegistry.discover())


def format_report(report: DriftReport) -> Iterable[str]:
    if not report.findings:
        yield f"no drift: {report.new} answers as {report.old} did ({report.model})"
        return
    yield f"{report.model}: {report.old} -> {report.new}"
    for finding in report.findings:
        yield f"  {finding.tier.label:<13} {finding.kind:<12} {finding.where}: {finding.message}"
        if finding.suggestion:
            yield f"  {'':<13} {'':<12} suggested spec change: {finding.suggestion}"
