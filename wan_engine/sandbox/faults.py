"""Fault injection: the failures a real API and network produce, on demand and reproducibly.

The engine's hardest code paths (retries, the ambiguous submit, resumed
downloads) only run when something goes wrong; a plan of rules makes them run
in every test, the same way every time for a given seed.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Iterable
from typing import Any, Literal, get_args

import attrs

RequestKind = Literal["submit", "status", "cancel", "media"]
REQUEST_KINDS: tuple[RequestKind, ...] = get_args(RequestKind)


class FaultKind(enum.StrEnum):
    RATE_LIMIT = "rate_limit"
    """429 with Retry-After, in the provider's error format."""
    SERVER_ERROR = "server_error"
    """A 5xx in the provider's error format."""
    RESET_BEFORE = "reset_before"
    """The connection drops before the request has any effect (a submit creates no job)."""
    RESET_AFTER = "reset_after"
    """The request takes effect (a submit creates its job), then the connection drops unanswered."""
    SLOW = "slow"
    """The answer comes ``delay_s`` real seconds late."""
    MALFORMED_JSON = "malformed_json"
    """The request takes effect and the 200 answer is truncated JSON."""
    JOB_FAILS = "job_fails"
    """The submitted job will end failed, with ``message`` and ``code``."""
    EXPIRED = "expired"
    """The media URL answers as if it had expired."""
    TRUNCATE = "truncate"
    """The media answer announces its full length, sends about half, then drops."""
    HANG = "hang"
    """The connection is accepted and never answered (a stuck load balancer): only the client's timeout ends it."""
    RESET_AT = "reset_at"
    """The media answer announces its full length, sends ``bytes`` bytes, then drops."""
    BANDWIDTH = "bandwidth"
    """The media answer is paced to ``rate`` bytes a second (a slow or congested link)."""


_APPLIES_TO: dict[FaultKind, frozenset[RequestKind]] = {
    FaultKind.RESET_AFTER: frozenset({"submit", "status", "cancel"}),
    FaultKind.MALFORMED_JSON: frozenset({"submit", "status", "cancel"}),
    FaultKind.JOB_FAILS: frozenset({"submit"}),
    FaultKind.EXPIRED: frozenset({"media"}),
    FaultKind.TRUNCATE: frozenset({"media"}),
    FaultKind.RESET_AT: frozenset({"media"}),
    FaultKind.BANDWIDTH: frozenset({"media"}),
}

SERVER_ERROR_STATUSES = (500, 502, 503, 504)


def _check_rule(rule: FaultRule) -> None:
    if rule.request not in REQUEST_KINDS:
        raise ValueError(f"unknown request kind {rule.request!r}; known: {', '.join(REQUEST_KINDS)}")
    allowed = _APPLIES_TO.get(rule.kind, frozenset(REQUEST_KINDS))
    if rule.request not in allowed:
        raise ValueError(f"fault {rule.kind} applies to {', '.join(sorted(allowed))} requests, not {rule.request}")
    if rule.times is not None and rule.times < 1:
        raise ValueError(f"times must be at least 1 (got {rule.times})")
    if rule.probability is not None and not 0 <= rule.probability <= 1:
        raise ValueError(f"probability must be between 0 and 1 (got {rule.probability})")
    if rule.status not in SERVER_ERROR_STATUSES:
        raise ValueError(f"status must be one of {', '.join(map(str, SERVER_ERROR_STATUSES))} (got {rule.status})")
    if rule.delay_s < 0 or rule.retry_after_s < 0 or rule.jitter_s < 0:
        raise ValueError("delay, jitter and retry_after must not be negative")
    if rule.jitter_s > rule.delay_s:
        raise ValueError(f"jitter ({rule.jitter_s:g}) must not exceed the delay ({rule.delay_s:g})")
    if rule.kind is FaultKind.BANDWIDTH and not rule.rate > 0:
        raise ValueError("bandwidth needs rate=BYTES_PER_SECOND above 0")
    if rule.reset_after_bytes < 0:
        raise ValueError("bytes must not be negative")


@attrs.frozen
class FaultRule:
    """One fault for one kind of request.

    With neither ``times`` nor ``probability`` it fires on every matching
    request; ``times`` bounds how often it fires (the first matching requests);
    ``probability`` makes each matching request fire by a seeded draw.
    """

    request: RequestKind
    kind: FaultKind = attrs.field(converter=FaultKind)
    model: str | None = None
    times: int | None = None
    probability: float | None = None
    retry_after_s: int = 1
    retry_after_date: bool = False
    status: int = 500
    delay_s: float = 1.0
    jitter_s: float = 0.0
    """``slow``: each delay is drawn uniformly from delay ± jitter (seeded)."""
    rate: float = 0.0
    """``bandwidth``: bytes a second."""
    reset_after_bytes: int = 0
    """``reset_at``: bytes sent before the connection drops."""
    message: str = "The sandbox was told to fail this job."
    code: str = "SandboxFault"

    def __attrs_post_init__(self) -> None:
        _check_rule(self)

    @classmethod
    def parse(cls, text: str) -> FaultRule:
        """A rule from the command line's compact form: ``REQUEST:KIND[:key=value...]``.

        Keys: times, probability, model, retry_after, http_date, status, delay,
        jitter, rate, bytes, message, code; e.g. ``status:rate_limit:times=2:retry_after=1``,
        ``status:slow:delay=0.3:jitter=0.2``, ``media:bandwidth:rate=262144``,
        ``media:reset_at:bytes=65536``, ``status:hang:times=1``.
        """
        request, _, rest = text.strip().partition(":")
        kind, *options = rest.split(":")
        try:
            values: dict[str, Any] = {}
            for option in options:
                key, has_value, raw = option.partition("=")
                if key not in _OPTIONS:
                    raise ValueError(f"unknown option {key!r}; known: {', '.join(_OPTIONS)}")
                field, convert = _OPTIONS[key]
                values[field] = convert(raw) if has_value else convert("true")
            return cls(request, kind, **values)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ValueError(f"bad fault {text!r}: {exc}") from None


def _flag(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a yes/no value: {raw!r}")


_OPTIONS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "times": ("times", int),
    "probability": ("probability", float),
    "model": ("model", str),
    "retry_after": ("retry_after_s", int),
    "http_date": ("retry_after_date", _flag),
    "status": ("status", int),
    "delay": ("delay_s", float),
    "jitter": ("jitter_s", float),
    "rate": ("rate", float),
    "bytes": ("reset_after_bytes", int),
    "message": ("message", str),
    "code": ("code", str),
}


@attrs.frozen
class FaultPlan:
    rules: tuple[FaultRule, ...] = ()

    @classmethod
    def parse(cls, texts: Iterable[str]) -> FaultPlan:
        return cls(tuple(FaultRule.parse(text) for text in texts))


@attrs.frozen
class Fired:
    """What the rules that fired on one request ask of its answer."""

    delay_s: float = 0.0
    job_failure: FaultRule | None = None
    outcome: FaultRule | None = None
    """The fault that replaces the normal answer, if any (the first to fire)."""
    rate: float | None = None
    """Bytes a second the media answer is paced to (the tightest ``bandwidth`` rule), if any."""

    def is_(self, kind: FaultKind) -> bool:
        return self.outcome is not None and self.outcome.kind is kind


class FaultInjector:
    """A plan in action: counts what each rule has fired and draws its luck.

    Each rule draws from its own generator, seeded from the sandbox seed and
    the rule's place in the plan, so adding a rule does not reshuffle the
    others. Only one fault can replace an answer; the first in the plan wins
    and the others wait for later requests, so ``a:times=1`` then
    ``b:times=1`` strike the first and the second request. Delays add up and
    combine with anything.
    """

    def __init__(self, plan: FaultPlan, seed: int) -> None:
        self.plan = plan
        self._fired = [0] * len(plan.rules)
        self._rngs = [random.Random(f"{seed}:fault:{i}") for i in range(len(plan.rules))]

    def draw(self, request: RequestKind, model_id: str | None) -> Fired:
        delay, failure, outcome = 0.0, None, None
        rate: float | None = None
        for index, rule in enumerate(self.plan.rules):
            if rule.request != request or (rule.model is not None and rule.model != model_id):
                continue
            if outcome is not None and rule.kind not in (FaultKind.SLOW, FaultKind.JOB_FAILS, FaultKind.BANDWIDTH):
                continue  # already answered: this rule keeps its turn for a later request
            if rule.times is not None and self._fired[index] >= rule.times:
                continue
            if rule.probability is not None and self._rngs[index].random() >= rule.probability:
                continue
            self._fired[index] += 1
            if rule.kind is FaultKind.SLOW:
                jitter = self._rngs[index].uniform(-rule.jitter_s, rule.jitter_s) if rule.jitter_s else 0.0
                delay += rule.delay_s + jitter
            elif rule.kind is FaultKind.JOB_FAILS:
                failure = failure or rule
            elif rule.kind is FaultKind.BANDWIDTH:
                rate = rule.rate if rate is None else min(rate, rule.rate)
            elif outcome is None:
                outcome = rule
        return Fired(delay, failure, outcome, rate)
