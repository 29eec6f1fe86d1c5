"""Typed views of spec documents (providers and models), built with cattrs.

The JSON stays the source of truth; these classes give the engine attribute
access and type checking, and are built only after the meta-schema has passed,
so structuring cannot fail on a document a user could have written.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
import jsonschema

from wan_engine.errors import ProtocolError
from wan_engine.states import JobState

Pointers = str | list[str] | None
UnknownStatusRule = Literal["running", "failed", "protocol_error"]


@attrs.frozen
class Endpoint:
    method: str
    path: str
    query: dict[str, str] = attrs.field(factory=dict)
    headers: dict[str, str] = attrs.field(factory=dict)
    body: Any = None


@attrs.frozen
class Auth:
    scheme: Literal["bearer", "header", "none"]
    env: str | None = None
    header: str = "Authorization"
    prefix: str | None = None
    """For the ``header`` scheme: text before the key (fal: ``Authorization: Key KEY``)."""


@attrs.frozen
class PollingHints:
    recommended_interval_s: float | None = None
    typical_duration_s: float | None = None
    min_interval_s: float | None = None
    duration_spread: float | None = None
    source: str | None = None

    def merged_over(self, base: PollingHints) -> PollingHints:
        """The model's hints, falling back to the provider's where the model is silent."""
        return PollingHints(
            **{
                f.name: getattr(self, f.name) if getattr(self, f.name) is not None else getattr(base, f.name)
                for f in attrs.fields(PollingHints)
            }
        )


@attrs.frozen
class ResultLocations:
    video_url: Pointers
    error_message: Pointers = None
    error_code: Pointers = None
    metadata: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class ErrorFormat:
    message: Pointers
    code: Pointers = None
    schema: Any = None
    template: Any = None
    codes: dict[str, str] = attrs.field(factory=dict)
    """HTTP status (as a string) -> the provider's own error code, for the sandbox's answers."""


@attrs.frozen
class CostLocations:
    """Where a provider says what a job cost: body pointers (on the answers named) and response headers.

    Read by :func:`wan_engine.spec.cost.read_cost`; the money issue decides what is done with it.
    """

    body: dict[str, Pointers] = attrs.field(factory=dict)
    headers: dict[str, str] = attrs.field(factory=dict)
    answers: list[Literal["submit", "status"]] = attrs.field(factory=lambda: ["submit", "status"])
    source: str | None = None
    usd: str | None = None
    """The figure (a key of ``body``/``headers``) that is US dollars: what the spend ledger sums."""


@attrs.frozen
class RateLimits:
    """A provider's documented request limits (per account); see :mod:`wan_engine.client.pacing`."""

    submit_per_s: float | None = None
    status_per_s: float | None = None
    concurrent_jobs: int | None = None
    source: str | None = None


@attrs.frozen
class Pricing:
    """Optional price data to estimate a job before it is sent; see :mod:`wan_engine.spec.pricing`."""

    source: str
    usd_per_job: float = 0.0
    usd_per_second: Any = None
    """A number, or rates by the value of ``rate_parameter`` (the meta-schema checks which)."""
    rate_parameter: str | None = None
    seconds_parameter: str | None = None
    default_seconds: float | None = None


@attrs.frozen
class CallbackUrl:
    """Where a submit carries the URL the provider calls back: a query parameter (fal) or a body field."""

    place: Literal["query", "body"]
    name: str | None = None
    """The query parameter, for ``place: query``."""
    pointer: str | None = None
    """Where in the body, for ``place: body``."""


@attrs.frozen
class CallbackEvents:
    """An events filter sent next to the URL (Replicate's ``webhook_events_filter``), so only news comes."""

    pointer: str
    value: Any


@attrs.frozen
class CallbackSignature:
    """How callbacks are signed. Only ``standard-webhooks`` is verified here (HMAC-SHA256, stdlib);

    a callback that cannot be verified (``none``, or a scheme needing keys this install cannot
    check) is only ever a hint: it makes the engine read the status from the provider's own
    authenticated API at once, and its body is never believed.
    """

    scheme: Literal["standard-webhooks", "ed25519-jwks", "none"]
    secret_env: str | None = None
    """The environment variable holding the signing secret; never in a spec, log or journal."""
    tolerance_s: float = 300.0
    jwks_url: str | None = None
    headers: dict[str, str] = attrs.field(factory=dict)
    source: str | None = None

    @property
    def verifiable(self) -> bool:
        return self.scheme == "standard-webhooks"


@attrs.frozen
class SafetyPolling:
    """With callbacks on, poll only as a safety net: once at ``first_after_typical`` x the typical
    duration, then every ``interval_s`` (default: half the typical duration)."""

    first_after_typical: float = 1.5
    interval_s: float | None = None
    source: str | None = None


@attrs.frozen
class CallbackSpec:
    """A provider's push notifications: where the URL goes, how they are signed, what their body says."""

    url: CallbackUrl
    signature: CallbackSignature
    events: CallbackEvents | None = None
    event_id_header: str | None = None
    """The header naming one delivery (the same on a retry); without it a digest of the body is used."""
    id_pointer: Pointers = None
    """Where the body names the job; default: the provider's ``id_pointer``."""
    status_pointer: str | None = None
    statuses: dict[str, JobState] = attrs.field(factory=dict)
    """The body's status words; default: the provider's ``statuses``."""
    result: ResultLocations | None = None
    """Where the body holds the result; default: the provider's ``result``."""
    template: Any = None
    """The sandbox's callback body skeleton when it is not a status answer (fal's envelope)."""
    safety_polling: SafetyPolling = attrs.field(factory=SafetyPolling)
    delivery: str | None = None
    """What the provider documents about retries and timeouts of its deliveries."""
    source: str | None = None


@attrs.frozen
class SyncWait:
    """A header that makes the submit answer wait for the result (Replicate's ``Prefer: wait=N``).

    Sent only when asked (``Engine(sync_wait=True)``): a long-held submit is a submit whose outcome
    is unknown if the connection drops. A terminal submit answer then ends the job with no read.
    """

    header: str
    value: str
    max_s: float | None = None
    source: str | None = None


@attrs.frozen
class ResponseSchemas:
    submit: Any = None
    status: Any = None


@attrs.frozen
class Example:
    name: str
    params: dict[str, Any]
    description: str | None = None
    valid: bool = True


@attrs.frozen
class ProviderSpec:
    id: str
    title: str
    base_url: str
    auth: Auth
    submit: Endpoint
    status: Endpoint
    id_pointer: Pointers
    status_pointer: str
    statuses: dict[str, JobState]
    result: ResultLocations
    errors: ErrorFormat
    format_version: int = 1
    kind: str = "provider"
    description: str | None = None
    docs: list[str] = attrs.field(factory=list)
    cancel: Endpoint | None = None
    request_id_header: str | None = None
    unknown_status: UnknownStatusRule = "running"
    """What an unmapped status means: keep polling, give up (failed), or stop with a ProtocolError."""
    unknown_status_reason: str | None = None
    status_match: Literal["exact", "case_insensitive"] = "exact"
    numeric_strings: Literal["refuse", "normalise"] = "refuse"
    """normalise: a string holding a number where the schema wants a number is accepted and sent as a number."""
    cost: CostLocations | None = None
    submit_template: Any = None
    """The skeleton of a submit answer, for the sandbox, when it differs from the status template."""
    responses: ResponseSchemas = attrs.field(factory=ResponseSchemas)
    status_template: Any = None
    polling: PollingHints = attrs.field(factory=PollingHints)
    result_url_ttl_s: float | None = None
    cancellable_states: list[JobState] = attrs.field(factory=list)
    """Engine states in which the provider accepts a cancel; empty: every state that is not terminal."""
    cancel_template: Any = None
    """The sandbox's answer to a successful cancel, when the provider does not answer with a status document."""
    unknown_task_status: str | None = None
    """The status a status request for an unknown job id answers with (HTTP 200), when not a 404."""
    callbacks: CallbackSpec | None = None
    """Push: how the provider calls back when a job ends (None: polling only)."""
    result_request: Endpoint | None = None
    """A second, authenticated request that fetches the result once the status says done (fal's
    ``response_url``); ``result`` pointers then refer to its answer."""
    sync_wait: SyncWait | None = None
    rate_limits: RateLimits = attrs.field(factory=RateLimits)
    resubmit_statuses: list[int] = attrs.field(factory=lambda: [429])
    """HTTP statuses to a submit that the provider guarantees created no job, so the submit may be sent again."""
    source_file: str = ""

    def can_cancel_in(self, state: JobState) -> bool:
        if state.terminal:
            return False
        return not self.cancellable_states or state in self.cancellable_states

    @property
    def first_id_pointer(self) -> str:
        """Where the sandbox writes a job id; the engine tries every alternative when reading one."""
        return self.id_pointer if isinstance(self.id_pointer, str) else (self.id_pointer or ["/id"])[0]

    def mapped_status(self, provider_status: object) -> JobState | None:
        """The engine state a provider word maps to, honouring ``status_match``; None when unmapped."""
        if not isinstance(provider_status, str):
            return None
        found = self.statuses.get(provider_status)
        if found is None and self.status_match == "case_insensitive":
            folded = _folded(self.statuses)
            found = folded.get(provider_status.casefold())
        return found

    def engine_state(self, provider_status: object) -> JobState:
        """The engine state for a provider status; an unmapped one follows the spec's ``unknown_status`` rule."""
        found = self.mapped_status(provider_status)
        if found is not None:
            return found
        if self.unknown_status == "protocol_error":
            raise ProtocolError(
                f"{self.title} answered with status {provider_status!r}, which its spec does not map "
                f"(known: {', '.join(self.statuses)}); the job may still run: resume it by id once the spec maps it",
                provider_message=str(provider_status),
            )
        return JobState(self.unknown_status)

    def canonical_status(self, state: JobState) -> str:
        """The provider's own word for an engine state: the first one the spec lists."""
        for provider_status, mapped in self.statuses.items():
            if mapped is state:
                return provider_status
        return state.value


def _folded(statuses: dict[str, JobState]) -> dict[str, JobState]:
    """The status map with case-folded keys (the first spelling listed wins)."""
    folded: dict[str, JobState] = {}
    for word, state in statuses.items():
        folded.setdefault(word.casefold(), state)
    return folded


@attrs.frozen
class ResponseOverrides:
    """Where one model's status responses differ from its provider's."""

    description: str | None = None
    statuses: dict[str, JobState] = attrs.field(factory=dict)
    result: dict[str, Any] = attrs.field(factory=dict)
    id_pointer: Pointers = None
    submit_template: Any = None

    @property
    def empty(self) -> bool:
        return not self.statuses and not self.result and self.id_pointer is None and self.submit_template is None

    def applied_to(self, provider: ProviderSpec) -> ProviderSpec:
        """The provider as this model sees it: the model's statuses and result locations win."""
        if self.empty:
            return provider
        result = provider.result
        located = {k: v for k, v in self.result.items() if k != "metadata"}
        result = attrs.evolve(
            result, **located, metadata={**result.metadata, **self.result.get("metadata", {})}
        )
        changed: dict[str, Any] = {"statuses": {**provider.statuses, **self.statuses}, "result": result}
        if self.id_pointer is not None:
            changed["id_pointer"] = self.id_pointer
        if self.submit_template is not None:
            changed["submit_template"] = self.submit_template
        return attrs.evolve(provider, **changed)


@attrs.frozen
class SubmitOverrides:
    body: Any = None
    headers: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class ImportedFrom:
    """Where a spec was drafted from: a provider's document at a given commit (provenance, for review)."""

    source: Literal["openapi", "docs-page", "hand-written"]
    path: str | None = None
    repository: str | None = None
    commit: str | None = None
    version: str | None = None
    tool: str | None = None


@attrs.frozen
class Review:
    """Whether a person checked the spec against its source, and what they found or left open."""

    status: Literal["reviewed", "drafted"]
    notes: list[str] = attrs.field(factory=list)
    date: str | None = None


@attrs.frozen
class ModelDocument:
    """A model file as written: the provider is still just a name."""

    id: str
    title: str
    provider: str
    spec_version: str
    parameters: dict[str, Any]
    format_version: int = 1
    kind: str = "model"
    description: str | None = None
    docs: list[str] = attrs.field(factory=list)
    provider_model: str | None = None
    submit: SubmitOverrides = attrs.field(factory=SubmitOverrides)
    polling: PollingHints = attrs.field(factory=PollingHints)
    examples: list[Example] = attrs.field(factory=list)
    response_overrides: ResponseOverrides = attrs.field(factory=ResponseOverrides)
    imported_from: ImportedFrom | None = None
    review: Review | None = None
    path_vars: dict[str, str] = attrs.field(factory=dict)
    """Names for ``{NAME}`` in the provider's paths besides ``{id}`` and ``{model}`` (fal's ``{app}``)."""
    pricing: Pricing | None = None
    source_file: str = ""


@attrs.frozen(eq=False)
class ModelSpec:
    """A model joined with its provider: everything the engine needs to run it.

    Compiled validators are cached on the instance: a schema is compiled once
    per model, not once per request. ``provider`` is the provider as this model
    sees it: the model's ``response_overrides`` (extra statuses, other result
    locations) are applied to it here, once, so the engine and the sandbox read
    one provider and never ask which model they are looking at.
    """

    document: ModelDocument
    provider: ProviderSpec
    _cache: dict[str, Any] = attrs.field(factory=dict, repr=False, alias="_cache")

    def __attrs_post_init__(self) -> None:
        effective = self.document.response_overrides.applied_to(self.provider)
        if effective is not self.provider:
            object.__setattr__(self, "provider", effective)

    @property
    def validator(self) -> jsonschema.Draft202012Validator:
        if "parameters" not in self._cache:
            self._cache["parameters"] = jsonschema.Draft202012Validator(
                self.parameters, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
            )
        return self._cache["parameters"]  # type: ignore[no-any-return]

    def response_validator(self, which: Literal["submit", "status", "error"]) -> jsonschema.Draft202012Validator | None:
        key = f"response:{which}"
        if key not in self._cache:
            schemas = self.provider.responses
            schema = {
                "submit": schemas.submit if schemas.submit is not None else schemas.status,
                "status": schemas.status,
                "error": self.provider.errors.schema,
            }[which]
            self._cache[key] = (
                None
                if schema is None
                else jsonschema.Draft202012Validator(
                    schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
                )
            )
        return self._cache[key]  # type: ignore[no-any-return]

    @property
    def id(self) -> str:
        return self.document.id

    @property
    def title(self) -> str:
        return self.document.title

    @property
    def spec_version(self) -> str:
        return self.document.spec_version

    @property
    def parameters(self) -> dict[str, Any]:
        return self.document.parameters

    @property
    def provider_model(self) -> str:
        return self.document.provider_model or self.document.id

    @property
    def polling(self) -> PollingHints:
        """The model's hints over the provider's, merged once (read at every poll of every job)."""
        hints = self._cache.get("polling")
        if hints is None:
            hints = self._cache["polling"] = self.document.polling.merged_over(self.provider.polling)
        return hints

    @property
    def path_vars(self) -> dict[str, str]:
        """What ``{model}`` and the model's own path variables stand for in endpoint paths."""
        return {"model": self.provider_model, **self.document.path_vars}

    @property
    def pricing(self) -> Pricing | None:
        return self.document.pricing

    @property
    def submit_endpoint(self) -> Endpoint:
        """The provider's submit endpoint with this model's overrides applied."""
        base = self.provider.submit
        overrides = self.document.submit
        return attrs.evolve(
            base,
            headers={**base.headers, **overrides.headers},
            body=overrides.body if overrides.body is not None else base.body,
        )
