"""The seam through which layers above the client take part in a submit, without the client knowing them.

The journal (wan_engine/journal/) makes jobs durable through this seam and
nothing else: the engine calls each :class:`SubmitInterceptor` before a byte
is sent and tells the :class:`SubmitAttempt` it got back how the submit ended.
Temporal's interceptors and httpx's event hooks are the models: the core stays
small and testable, and durability (or an app's own audit log, or a budget
check) plugs in from above. After the submit, a job's status events reach
subscribers through ``Job.on``; that is the other half of the seam.

The order of calls is the contract a durable interceptor relies on:

1. ``begin_submit`` — before the request: record the intent, or refuse (raise)
   and nothing is sent;
2. ``submitted(id)`` — the provider's id, as the very next step after it is
   read, before the Job exists or any event fires;
3. or ``failed(error)`` — the submit raised (refused, or outcome unknown);
4. ``started(job)`` — the Job exists; subscribe to its events with ``job.on``.

What a submit carries beyond its parameters (tags for the spend ledger, the
estimate) reaches an interceptor that defines ``begin_submit_with(spec,
params, deliver_to, options)`` instead of ``begin_submit``; the engine calls
whichever it has, so interceptors written before options existed still work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from wan_engine.client.job import Job
    from wan_engine.spec.model import ModelSpec
    from wan_engine.spec.pricing import Estimate


@attrs.frozen
class SubmitOptions:
    """The parts of a submit that are not model parameters, for interceptors that keep accounts."""

    tags: tuple[str, ...] = ()
    """Free labels for the spend ledger (``wan-engine spend --by tag``)."""
    estimate: Estimate | None = None
    """The spec's price estimate for these parameters (spec/pricing.py), None when unpriced."""
    idempotency_key: str | None = None


class SubmitAttempt(Protocol):
    """One submit as an interceptor follows it; see the module doc for the order of calls."""

    def submitted(self, provider_id: str) -> None: ...

    def failed(self, error: BaseException) -> None: ...

    def started(self, job: Job) -> None: ...


@runtime_checkable
class SubmitInterceptor(Protocol):
    """Takes part in every submit of the engine it is installed in (``Engine(interceptors=[...])``)."""

    def begin_submit(self, spec: ModelSpec, params: Mapping[str, Any], deliver_to: Sequence[Any]) -> SubmitAttempt:
        """Called before anything is sent; raising here refuses the submit (nothing is sent).

        ``deliver_to`` is what the caller passed to ``submit`` (sink configurations):
        the client does nothing with it; an interceptor that delivers (the journal)
        records it. An interceptor that does not deliver ignores it.
        """
        ...

    @property
    def delivers(self) -> bool:
        """Whether this interceptor takes ``deliver_to`` (so ``submit`` can refuse it when none does)."""
        ...
