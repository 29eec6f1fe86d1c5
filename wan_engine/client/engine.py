"""The engine: one object an app keeps, running any spec'd model from submit to result."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from wan_engine.client import idempotency
from wan_engine.client.batch import BatchItem, BatchOutcome, run_batch
from wan_engine.client.budget import Budget, BudgetGuard
from wan_engine.client.events import CostReported, Submitted
from wan_engine.client.failover import Fallback, run_with_fallback
from wan_engine.client.hooks import SubmitAttempt, SubmitInterceptor, SubmitOptions
from wan_engine.client.idempotency import KeyPolicy, KeyStore, MemoryKeyStore, Settlement
from wan_engine.client.job import Job
from wan_engine.client.polling import PollingStrategy, from_name
from wan_engine.client.provider_client import ProviderClient, RetryPolicy, Timeouts
from wan_engine.client.push import PushHub, callback_placement
from wan_engine.client.result import Result
from wan_engine.client.submitter import Hop
from wan_engine.clock import Clock, SystemClock
from wan_engine.crashpoints import crashpoint
from wan_engine.errors import ApiError, NetworkError, SubmitOutcomeUnknownError, UsageError
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.cost import read_cost, usd_figure
from wan_engine.spec.model import ModelSpec
from wan_engine.spec.params import build_body, prepare
from wan_engine.spec.pricing import estimate
from wan_engine.spec.registry import SpecRegistry


class Engine:
    """Submits and polls jobs for every model the registry knows.

    One engine shares one HTTP session across all its jobs; thousands of jobs
    can wait concurrently on one event loop, each holding only its own small
    state. Use it as an async context manager so the session is closed.

    The engine keeps nothing on disk: durability (write-ahead submits, resume,
    delivery to journaled sinks) comes from ``DurableEngine`` in the journal
    package, which plugs in through ``interceptors`` (client/hooks.py).

    Money: ``budget`` (a :class:`Budget` or a number of dollars) refuses a submit
    whose estimate would cross it, before anything is sent (client/budget.py);
    ``idempotency_keys`` is where idempotency keys live (client/idempotency.py): in memory
    here, in the journal for a ``DurableEngine``, so every process sharing it agrees.
    """

    keeps_journal = False
    """Whether this engine journals its jobs (``DurableEngine``): what ``Budget(since=...)`` needs."""

    def __init__(
        self,
        registry: SpecRegistry | None = None,
        *,
        base_urls: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        strategy: PollingStrategy | str = "adaptive",
        client: ProviderClient | None = None,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        interceptors: Sequence[SubmitInterceptor] = (),
        push: PushHub | None = None,
        sync_wait: bool = False,
        budget: Budget | float | None = None,
        idempotency_keys: KeyStore | None = None,
        key_policy: KeyPolicy | None = None,
    ) -> None:
        """``push``: a hub a callback receiver feeds (client/push.py); with it, jobs of providers that
        declare callbacks ask for them on submit and poll only at the safety cadence.

        ``sync_wait``: ask providers that can (their spec's ``sync_wait``, Replicate's ``Prefer: wait``)
        to hold the submit answer until the job ends, so a short job needs no status read. Off by
        default: the read timeout must outlast the hold, and a connection lost while held leaves the
        outcome unknown (the submit is then never re-sent, and the job id may be unknown).
        """
        self.registry = registry or SpecRegistry.discover()
        self.clock = clock or (client.clock if client else SystemClock())
        self.client = client or ProviderClient(
            base_urls=base_urls,
            env=env if env is not None else os.environ,
            clock=self.clock,
            retry=retry,
            timeouts=timeouts,
        )
        self.default_strategy = strategy
        self._strategies: dict[str, PollingStrategy] = {}
        self.push = push
        self.sync_wait = sync_wait
        if budget is not None and not isinstance(budget, Budget):
            budget = Budget(float(budget))
        if budget is not None and budget.since is not None and not self.keeps_journal:
            raise UsageError("Budget(since=...) counts a journal's spend: use DurableEngine(journal=..., budget=...)")
        self.budget_guard = BudgetGuard(budget) if budget is not None else None
        """First of the interceptors: a refused submit is neither sent nor journaled."""
        self.interceptors: list[SubmitInterceptor] = [*self._money_guards(), *interceptors]
        self.idempotency_keys: KeyStore = idempotency_keys if idempotency_keys is not None else MemoryKeyStore()
        self.key_policy = key_policy or KeyPolicy()

    def _money_guards(self) -> list[SubmitInterceptor]:
        return [self.budget_guard] if self.budget_guard is not None else []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.client.close()

    def strategy_for(self, strategy: PollingStrategy | str | None) -> PollingStrategy:
        chosen = strategy if strategy is not None else self.default_strategy
        if not isinstance(chosen, str):
            return chosen
        if chosen not in self._strategies:
            self._strategies[chosen] = from_name(chosen)
        return self._strategies[chosen]

    def spec(self, model: str) -> ModelSpec:
        return self.registry.model(model)

    async def submit(
        self,
        model: str,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        deliver_to: Sequence[Any] = (),
        validate: bool = True,
        idempotency_key: str | None = None,
        tags: Sequence[str] = (),
        **kwargs: Any,
    ) -> Job:
        """Validate, then create the job; returns as soon as the provider has given an id.

        Validation errors are raised before anything is sent. See provider_client.py
        for when a submit may be re-sent (only when no job can have been created).
        Each interceptor hears of the submit before the request and of its id
        before this returns (client/hooks.py); ``deliver_to`` (sink configurations)
        is for an interceptor that delivers, such as ``DurableEngine``'s journal.
        ``validate=False`` sends the parameters exactly as given (no check, no defaults):
        only for recording what a provider does with a request it should reject.

        ``idempotency_key``: a submit with a key an earlier one used with the same
        model and parameters returns that job instead of paying again (from any
        process sharing a DurableEngine's journal); other parameters are an
        :class:`~wan_engine.errors.IdempotencyKeyMismatchError` (client/idempotency.py).
        ``tags`` label the job in the spend ledger.
        """
        spec = self.spec(model)
        given = {**(params or {}), **kwargs}
        filled = prepare(spec, given) if validate else given
        body = build_body(spec, filled)
        extra_query: dict[str, str] = {}
        if self.push is not None and spec.provider.callbacks is not None:
            url = self.push.callback_url(spec.provider.id)
            body, extra_query = callback_placement(spec.provider.callbacks, body, url)
        if deliver_to and not any(i.delivers for i in self.interceptors):
            raise UsageError("deliver_to needs a journal to deliver from: use DurableEngine(journal=...)")
        options = SubmitOptions(tuple(tags), estimate(spec, filled), idempotency_key)
        reservation: idempotency.Reserved | None = None
        if idempotency_key is not None:
            found = await idempotency.reserve(
                self.idempotency_keys, self.clock, self.key_policy, idempotency_key, spec.id, filled
            )
            if isinstance(found, idempotency.Existing):
                job = self.job(found.model, found.provider_id)
                job.idempotent_replay = True
                return job
            reservation = found
        attempts: list[SubmitAttempt] = []
        try:
            for interceptor in self.interceptors:
                with_options = getattr(interceptor, "begin_submit_with", None)
                attempts.append(
                    with_options(spec, filled, deliver_to, options)
                    if with_options is not None
                    else interceptor.begin_submit(spec, filled, deliver_to)
                )
        except BaseException as exc:  # refused before sending: nothing went out
            for attempt in attempts:
                attempt.failed(exc)
            if reservation is not None:
                self.idempotency_keys.settle_key(reservation.name, reservation.token, "released")
            raise
        try:
            hold = spec.provider.sync_wait if self.sync_wait else None
            extra_headers = {hold.header: hold.value} if hold is not None else None
            response = await self.client.submit(spec, body, extra_query or None, extra_headers)
            crashpoint("submit.after_response")  # the window a crash test aims at
            job_id = json_pointer.resolve(response.document, spec.provider.id_pointer)
            if not isinstance(job_id, (str, int)) or job_id == "":
                raise SubmitOutcomeUnknownError(
                    spec.id, f"the response has no job id at {spec.provider.id_pointer}", status=response.status
                )
        except BaseException as exc:
            for attempt in attempts:
                attempt.failed(exc)  # refused, or outcome unknown (never retried)
            if reservation is not None:
                refused = isinstance(exc, (ApiError, NetworkError))  # certainly no job: the key may be sent again
                outcome: Settlement = "released" if refused else "unknown"
                self.idempotency_keys.settle_key(reservation.name, reservation.token, outcome)
            raise
        for attempt in attempts:
            attempt.submitted(str(job_id))  # before anything else happens: a durable one makes the id durable
        if reservation is not None:
            self.idempotency_keys.settle_key(reservation.name, reservation.token, "submitted", str(job_id))
        job = Job(
            self, spec, str(job_id), params=filled, submitted_at=self.clock.now(), submitted_wall=self.clock.wall()
        )
        if self.push is not None and spec.provider.callbacks is not None:
            self.push.mailbox(spec.provider.id, job.id)  # before anything can wake it: a fast callback is kept
        for attempt in attempts:
            attempt.started(job)
        job._emit(Submitted(job.id, spec.id, self.clock.now()))
        figures = read_cost(spec.provider, "submit", response.document, response.headers)
        if figures:
            job._emit(CostReported(job.id, figures, usd_figure(spec.provider, figures), "submit", self.clock.now()))
        if json_pointer.resolve(response.document, spec.provider.status_pointer) is not None:
            job.observe(response.document, response.headers)
        return job

    def job(
        self, model: str, job_id: str, *, submitted_at: float | None = None, submitted_wall: datetime | None = None
    ) -> Job:
        """A handle on a job submitted earlier (by this process or another): wait on it to resume."""
        return Job(self, self.spec(model), job_id, submitted_at=submitted_at, submitted_wall=submitted_wall)

    async def run(
        self,
        model: str,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        strategy: PollingStrategy | str | None = None,
        deadline: float | None = None,
        fallback: Sequence[Fallback] = (),
        on_hop: Callable[[Hop], object] | None = None,
        **kwargs: Any,
    ) -> Result:
        """Submit and wait; with ``fallback``, move to the next model only after a verified failure.

        A refused submit or a failed job moves on; a timeout, an unknown submit
        outcome or the deadline never does (client/failover.py): no path here can pay twice.
        """
        chosen = self.strategy_for(strategy)  # an unknown strategy name fails here, before the paid submit
        if fallback:
            return await run_with_fallback(
                self, model, params, fallback, strategy=chosen, deadline=deadline, on_hop=on_hop, **kwargs
            )
        job = await self.submit(model, params, **kwargs)
        return await job.wait(strategy=chosen, deadline=deadline)

    async def batch(self, items: Sequence[BatchItem], **options: Any) -> list[BatchOutcome]:
        """Run many jobs within each provider's limits, with one progress view (client/batch.py)."""
        return await run_batch(self, items, **options)

    def record_hop(self, hop: Hop, job: Job | None) -> None:
        """A failover hop, for an engine that keeps records (``DurableEngine`` journals it); here, nothing."""

