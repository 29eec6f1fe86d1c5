"""Checking recorded sessions against the specs: the offline contract test.

Every interaction of a cassette is matched to an endpoint of its model's
provider (method + path + query, relative to the recorded base URL) or to a
result URL seen earlier, then checked:

- submit requests: the body's parameters against the model's parameter schema
  and the model name where the body template puts it; an accepted request the
  schema forbids, or a 400/422 for a request it allows, is a breach (the spec
  and the API disagree);
- JSON answers against the provider's response schemas (submit, status, error),
  the status against the spec's status map, the id against the job asked for;
- status transitions against ``ALLOWED_TRANSITIONS``, per job;
- a video URL where the spec says it is on success, an error message on failure;
- HTTP errors against the error schema, a readable Retry-After on 429;
- the provenance block: an honest source, a model, a base URL; and the
  recorded outcome agreeing with the last status seen;
- no unfiltered credential in the auth header, no video body in the file.

Each breach names the cassette, the interaction (``interactions[N]``) and the
JSON path, e.g. ``interactions[35].response $.video.url: ...``.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from wan_engine.cassettes.provenance import PROVENANCE_KEY, SOURCES, is_loopback_url
from wan_engine.cassettes.scrubbing import PLACEHOLDER
from wan_engine.cassettes.serializer import CassetteDocument, cassette_files, read_cassette
from wan_engine.client.result import video_urls
from wan_engine.client.retry_after import parse_retry_after
from wan_engine.errors import CassetteFormatError, UnknownModelError
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.body import extract_parameters, variable_pointers
from wan_engine.spec.model import Endpoint, ModelSpec, Pointers
from wan_engine.spec.params import violations
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import ALLOWED_TRANSITIONS, JobState

_NOT_JSON = object()
_MAX_INLINE_MEDIA = 64 * 1024
_OUTCOME_STATES = {"succeeded": JobState.SUCCEEDED, "failed": JobState.FAILED, "cancelled": JobState.CANCELLED}


@attrs.frozen
class Breach:
    cassette: str
    interaction: int | None
    """Index into the cassette's ``interactions`` list; None for the cassette as a whole."""
    part: str
    """request, response, provenance or session."""
    path: str
    """A JSON path ($.video.url) or a header (headers.Retry-After)."""
    message: str

    @property
    def where(self) -> str:
        return f"interactions[{self.interaction}].{self.part}" if self.interaction is not None else self.part

    def __str__(self) -> str:
        return f"{self.cassette}: {self.where} {self.path}: {self.message}"


@attrs.define
class ContractReport:
    cassettes: int = 0
    interactions: int = 0
    breaches: list[Breach] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaches

    def extend(self, other: ContractReport) -> None:
        self.cassettes += other.cassettes
        self.interactions += other.interactions
        self.breaches += other.breaches
        self.notes += other.notes


def _first(pointers: Pointers) -> str | None:
    if pointers is None:
        return None
    return pointers if isinstance(pointers, str) else (pointers[0] if pointers else None)


def _path(pointers: Pointers) -> str:
    pointer = _first(pointers)
    return json_pointer.to_json_path(pointer) if pointer is not None else "$"


def _header(headers: Any, name: str) -> str | None:
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if str(key).lower() == name.lower():
            if isinstance(value, list):
                return str(value[0]) if value else None
            return None if value is None else str(value)
    return None


def _json(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return value
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return _NOT_JSON
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError:
            return _NOT_JSON
    return _NOT_JSON


def _path_regex(template: str) -> re.Pattern[str]:
    pattern = re.escape(template).replace(re.escape("{id}"), "(?P<id>[^/]+)").replace(re.escape("{model}"), ".+")
    return re.compile(pattern)


@attrs.define
class _Track:
    status: str
    state: JobState
    index: int
    document: Any


class _Checker:
    def __init__(self, document: CassetteDocument, registry: SpecRegistry) -> None:
        self.doc = document
        self.name = document.path
        self.registry = registry
        self.report = ContractReport(cassettes=1, interactions=len(document.interactions))
        self._seen: set[tuple[int | None, str, str]] = set()
        self.jobs: dict[str, _Track] = {}
        self.submitted: list[tuple[int, str]] = []
        self.polled: set[str] = set()
        self.results: set[str] = set()

    def breach(self, index: int | None, part: str, path: str, message: str) -> None:
        key = (index, part, path)
        if key in self._seen:
            return
        self._seen.add(key)
        self.report.breaches.append(Breach(self.name, index, part, path, message))

    # -- the whole cassette ----------------------------------------------------------------

    def run(self) -> ContractReport:
        spec = self._provenance()
        if spec is None:
            return self.report
        self.spec = spec
        self.base = self.doc.provenance.base_url.rstrip("/")
        if not self.doc.interactions:
            self.breach(None, "session", "$.interactions", "the cassette holds no interactions")
        for index, interaction in enumerate(self.doc.interactions):
            self._interaction(index, interaction)
        self._session()
        return self.report

    def _provenance(self) -> ModelSpec | None:
        block = self.doc.provenance_block
        where = f"$.{PROVENANCE_KEY}"
        if not isinstance(block, dict):
            self.breach(None, "provenance", where, "no provenance block: say where the cassette was recorded")
            return None
        provenance = self.doc.provenance
        if provenance.source not in SOURCES:
            self.breach(None, "provenance", f"{where}.source", f"must be one of {', '.join(SOURCES)}")
        if not provenance.base_url:
            self.breach(None, "provenance", f"{where}.base_url", "is required (interactions are relative to it)")
            return None
        if provenance.source == "real" and is_loopback_url(provenance.base_url):
            self.breach(
                None, "provenance", f"{where}.source",
                f"labelled 'real' but recorded from {provenance.base_url}, a loopback address",
            )
        for field in ("recorded_at", "spec_version", "provider"):
            if not getattr(provenance, field):
                self.breach(None, "provenance", f"{where}.{field}", "is required")
        try:
            spec = self.registry.model(provenance.model)
        except UnknownModelError as exc:
            self.breach(None, "provenance", f"{where}.model", str(exc))
            return None
        if provenance.provider and provenance.provider != spec.provider.id:
            self.breach(
                None, "provenance", f"{where}.provider",
                f"is {provenance.provider!r}, but {spec.id} is served by {spec.provider.id!r}",
            )
        if provenance.spec_version and provenance.spec_version != spec.spec_version:
            self.report.notes.append(
                f"{self.name}: recorded with spec {spec.id} {provenance.spec_version}, checked against "
                f"{spec.spec_version}"
            )
        return spec

    def _session(self) -> None:
        provider = self.spec.provider
        id_path = json_pointer.to_json_path(provider.id_pointer)
        status_path = json_pointer.to_json_path(provider.status_pointer)
        if self.polled:
            asked = ", ".join(sorted(repr(p) for p in self.polled))
            for index, submitted_id in self.submitted:
                if submitted_id not in self.polled:
                    self.breach(
                        index, "response", id_path,
                        f"job {submitted_id!r} is never polled: status reads ask for {asked}",
                    )
        outcome = self.doc.provenance.outcome
        if not isinstance(outcome, dict):
            return
        expected = _OUTCOME_STATES.get(str(outcome.get("kind")))
        job_id = outcome.get("job_id")
        if expected is None or not job_id:
            return
        track = self.jobs.get(str(job_id))
        if track is None:
            self.breach(
                None, "provenance", f"$.{PROVENANCE_KEY}.outcome.job_id",
                f"the outcome names job {job_id!r}, but no status of it is in the cassette",
            )
            return
        if track.state is not expected:
            self.breach(
                track.index, "response", status_path,
                f"the session ends with {track.status!r} ({track.state.value}), but the recorded outcome is "
                f"{outcome.get('kind')}",
            )
        recorded_url = outcome.get("video_url")
        if expected is JobState.SUCCEEDED and recorded_url and track.state is JobState.SUCCEEDED:
            urls = video_urls(self.spec, track.document)
            if urls and recorded_url not in urls:
                self.breach(
                    track.index, "response", _path(provider.result.video_url),
                    f"the video URL is {urls[0]!r}, but the recorded outcome says {recorded_url!r}",
                )

    # -- one interaction -------------------------------------------------------------------

    def _identify(self, method: str, uri: str) -> tuple[str, str | None]:
        if method == "GET" and uri in self.results:
            return "media", None
        if not (uri == self.base or uri.startswith(self.base + "/") or uri.startswith(self.base + "?")):
            return "unknown", None
        parts = urlsplit(uri[len(self.base) :])
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        provider = self.spec.provider
        candidates: list[tuple[str, Endpoint | None]] = [
            ("submit", self.spec.submit_endpoint),
            ("status", provider.status),
            ("cancel", provider.cancel),
        ]
        for name, endpoint in candidates:
            if endpoint is None or endpoint.method.upper() != method:
                continue
            match = _path_regex(endpoint.path).fullmatch(parts.path or "/")
            if match is None:
                continue
            job_id = match.groupdict().get("id")
            fits = True
            for key, template in endpoint.query.items():
                found = query.get(key)
                if "{id}" in template:
                    got = _path_regex(template).fullmatch(found or "") if found is not None else None
                    if got is None:
                        fits = False
                    else:
                        job_id = got.group("id")
                elif found != template:
                    fits = False
            if fits:
                return name, unquote(job_id) if job_id is not None else None
        return "unknown", None

    def _interaction(self, index: int, interaction: Any) -> None:
        request = interaction.get("request") if isinstance(interaction, dict) else None
        response = interaction.get("response") if isinstance(interaction, dict) else None
        if not isinstance(request, dict) or not isinstance(response, dict):
            self.breach(index, "session", "$", "an interaction needs a request and a response")
            return
        method = str(request.get("method", "")).upper()
        uri = str(request.get("uri", ""))
        status = response.get("status")
        code = status.get("code") if isinstance(status, dict) else None
        if not isinstance(code, int):
            self.breach(index, "response", "status.code", "every response needs an HTTP status code")
            return
        self._auth_header(index, request.get("headers"))
        kind, job_id = self._identify(method, uri)
        body = response.get("body")
        raw = body.get("string") if isinstance(body, dict) else None
        headers = response.get("headers")
        if kind == "media":
            self._media(index, code, raw, response)
            return
        if kind == "unknown":
            provider = self.spec.provider
            known = f"{provider.submit.method} {provider.submit.path}, {provider.status.method} {provider.status.path}"
            self.breach(
                index, "request", "uri",
                f"{method} {uri} matches no endpoint of {provider.id} under {self.base} ({known}) and no result URL",
            )
            return
        document = _json(raw)
        if kind == "submit":
            self._submit(index, request, code, document, headers)
            return
        if job_id is not None:
            self.polled.add(job_id)
        if code >= 400:
            self._error(index, code, document, headers)
        elif 200 <= code < 300:
            self._status(index, "status", document, job_id)
        else:
            self.breach(index, "response", "status.code", f"unexpected HTTP {code} for a {kind} request")

    def _auth_header(self, index: int, headers: Any) -> None:
        auth = self.spec.provider.auth
        if auth.scheme == "none":
            return
        value = _header(headers, auth.header)
        if value is not None and value not in (PLACEHOLDER, f"Bearer {PLACEHOLDER}"):
            self.breach(index, "request", f"headers.{auth.header}", "holds an unfiltered credential")

    def _submit(self, index: int, request: dict[str, Any], code: int, document: Any, headers: Any) -> None:
        template = self.spec.submit_endpoint.body
        body = _json(request.get("body"))
        problems = []
        if body is _NOT_JSON:
            self.breach(index, "request", "$", "the submit body is not JSON")
        else:
            problems = violations(self.spec.validator, extract_parameters(template, body))
            for pointer in variable_pointers(template, "model"):
                named = json_pointer.resolve(body, pointer)
                if named != self.spec.provider_model:
                    self.breach(
                        index, "request", json_pointer.to_json_path(pointer),
                        f"must name the model {self.spec.provider_model!r} (got {named!r})",
                    )
        if 200 <= code < 300:
            for problem in problems:
                self.breach(
                    index, "request", problem.path,
                    f"{problem.message}; yet the provider accepted it (HTTP {code}): the schema and the API disagree",
                )
            job_id = self._status(index, "submit", document, None)
            if job_id is not None:
                self.submitted.append((index, job_id))
            return
        if code in (400, 422) and not problems and body is not _NOT_JSON:
            self.breach(
                index, "response", _path(self.spec.provider.errors.message),
                f"HTTP {code} for a request the parameter schema allows: the schema and the API disagree",
            )
        if code >= 400:
            self._error(index, code, document, headers)
        else:
            self.breach(index, "response", "status.code", f"unexpected HTTP {code} for a submit")

    def _status(self, index: int, which: str, document: Any, requested: str | None) -> str | None:
        """Check a status document (submit or status answer); returns its job id."""
        provider = self.spec.provider
        if document is _NOT_JSON or document is None:
            self.breach(index, "response", "$", "a success answer must be a JSON document")
            return None
        validator = self.spec.response_validator("submit" if which == "submit" else "status")
        if validator is not None:
            for problem in violations(validator, document):
                self.breach(index, "response", problem.path, problem.message)
        id_path = json_pointer.to_json_path(provider.id_pointer)
        status_path = json_pointer.to_json_path(provider.status_pointer)
        job_id = json_pointer.resolve(document, provider.id_pointer)
        if not isinstance(job_id, (str, int)) or job_id == "":
            self.breach(index, "response", id_path, "the job id is missing")
            job_id = None
        elif requested is not None and str(job_id) != requested:
            self.breach(index, "response", id_path, f"is {job_id!r}, but the request asked about job {requested!r}")
        key = requested if requested is not None else (None if job_id is None else str(job_id))
        status = json_pointer.resolve(document, provider.status_pointer)
        if status is None:
            if which == "status":
                self.breach(index, "response", status_path, "the status is missing")
            return None if job_id is None else str(job_id)
        if not isinstance(status, str) or status not in provider.statuses:
            known = ", ".join(provider.statuses)
            self.breach(index, "response", status_path, f"{status!r} is not a status the spec maps (known: {known})")
            return None if job_id is None else str(job_id)
        state = provider.statuses[status]
        if key is not None:
            previous = self.jobs.get(key)
            if previous is not None and state not in ALLOWED_TRANSITIONS[previous.state]:
                self.breach(
                    index, "response", status_path,
                    f"{status!r} ({state.value}) cannot follow {previous.status!r} ({previous.state.value}) "
                    f"of interactions[{previous.index}]",
                )
            self.jobs[key] = _Track(status, state, index, document)
        result = provider.result
        if state is JobState.SUCCEEDED:
            urls = video_urls(self.spec, document)
            if urls:
                self.results.update(urls)
            else:
                self.breach(index, "response", _path(result.video_url), "a succeeded job must carry its video URL here")
        if state is JobState.FAILED and json_pointer.first(document, result.error_message) is None:
            self.breach(index, "response", _path(result.error_message), "a failed job must say why here")
        return None if job_id is None else str(job_id)

    def _error(self, index: int, code: int, document: Any, headers: Any) -> None:
        errors = self.spec.provider.errors
        if document is _NOT_JSON or document is None:
            self.breach(index, "response", "$", f"HTTP {code} must carry the provider's JSON error body")
        else:
            validator = self.spec.response_validator("error")
            if validator is not None:
                for problem in violations(validator, document):
                    self.breach(index, "response", problem.path, problem.message)
            if json_pointer.first(document, errors.message) is None:
                self.breach(index, "response", _path(errors.message), "the error body must say what went wrong")
        if code == 429:
            value = _header(headers, "Retry-After")
            if value is not None and parse_retry_after(value, datetime.datetime.now(datetime.UTC)) is None:
                self.breach(index, "response", "headers.Retry-After", f"{value!r} is neither seconds nor an HTTP date")

    def _media(self, index: int, code: int, raw: Any, response: dict[str, Any]) -> None:
        if code in (403, 404, 410):
            self.report.notes.append(f"{self.name}: interactions[{index}]: the result URL had expired (HTTP {code})")
            return
        if code not in (200, 206):
            self.breach(index, "response", "status.code", f"a result URL answered HTTP {code}")
        omitted = response.get("omitted_body")
        if isinstance(omitted, dict):
            size, sha = omitted.get("bytes"), omitted.get("sha256")
            if not isinstance(size, int) or size < 0:
                self.breach(index, "response", "omitted_body.bytes", "must be the size of the media body")
            if not isinstance(sha, str) or re.fullmatch(r"[0-9a-f]{64}", sha) is None:
                self.breach(index, "response", "omitted_body.sha256", "must be the SHA-256 (hex) of the media body")
        elif raw is not None and len(raw) > _MAX_INLINE_MEDIA:
            self.breach(
                index, "response", "body.string",
                f"a {len(raw)}-byte media body is stored in the cassette; "
                "record with the harness, which leaves it out",
            )


def check_document(document: CassetteDocument, registry: SpecRegistry) -> ContractReport:
    return _Checker(document, registry).run()


def check_cassette(path: str | Path, registry: SpecRegistry | None = None) -> ContractReport:
    registry = registry or SpecRegistry.discover()
    try:
        document = read_cassette(path)
    except (CassetteFormatError, OSError) as exc:
        return ContractReport(1, 0, [Breach(str(path), None, "session", "$", str(exc))])
    return check_document(document, registry)


def check_paths(paths: Iterable[str | Path], registry: SpecRegistry | None = None) -> ContractReport:
    """Every cassette in the files and folders given."""
    registry = registry or SpecRegistry.discover()
    report = ContractReport()
    for path in cassette_files([Path(p) for p in paths]):
        report.extend(check_cassette(path, registry))
    return report


CASSETTES_ENV = "WAN_ENGINE_CASSETTES"
"""The cassette folder a relative name is looked up in (the pytest plugin sets it from ``--wan-cassettes``)."""


def cassette_location(path: str | Path, env: Mapping[str, str] | None = None) -> Path:
    """``path`` as given when it exists; else the same name in ``$WAN_ENGINE_CASSETTES`` (``.yaml`` optional)."""
    given = Path(path)
    folder = (os.environ if env is None else env).get(CASSETTES_ENV)
    if given.exists() or given.is_absolute() or not folder:
        return given
    for candidate in (Path(folder) / given, Path(folder) / f"{given}.yaml"):
        if candidate.exists():
            return candidate
    return given


def assert_cassette_keeps_contract(path: str | Path, registry: SpecRegistry | None = None) -> ContractReport:
    """For tests: raise AssertionError listing every breach of the cassette(s) at ``path``.

    A relative ``path`` not found from the working directory is looked up in
    the folder ``--wan-cassettes`` names (the same one ``wan_replay`` reads).
    """
    path = cassette_location(path)
    report = check_paths([path], registry)
    if report.cassettes == 0:
        raise AssertionError(f"no cassette at {path}")
    if report.breaches:
        lines = "\n".join(f"  {b}" for b in report.breaches)
        raise AssertionError(f"{len(report.breaches)} contract breach(es):\n{lines}")
    return report
