"""The engine: one object an app keeps, running any spec'd model from submit to result."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from wan_engine.client.events import Submitted
from wan_engine.client.hooks import SubmitAttempt, SubmitInterceptor
from wan_engine.client.job import Job
from wan_engine.client.polling import PollingStrategy, from_name
from wan_engine.client.provider_client import ProviderClient, RetryPolicy, Timeouts
from wan_engine.client.push import PushHub, callback_placement
from wan_engine.client.result import Result
from wan_engine.clock import Clock, SystemClock
from wan_engine.crashpoints import crashpoint
from wan_engine.errors import SubmitOutcomeUnknownError, UsageError
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.model import ModelSpec
from wan_engine.spec.params import build_body, prepare
from wan_engine.spec.registry import SpecRegistry


class Engine:
    """Submits and polls jobs for every model the registry knows.

    One engine shares one HTTP session across all its jobs; thousands of jobs
    can wait concurrently on one event loop, each holding only its own small
    state. Use it as an async context manager so the session is closed.

    The engine keeps nothing on disk: durability (write-ahead submits, resume,
    delivery to journaled sinks) comes from ``DurableEngine`` in the journal
    package, which plugs in through ``interceptors`` (client/hooks.py).
    """

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
        self.interceptors: list[SubmitInterceptor] = list(interceptors)
        self.push = push
        self.sync_wait = sync_wait

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
        attempts: list[SubmitAttempt] = [i.begin_submit(spec, filled, deliver_to) for i in self.interceptors]
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
            raise
        for attempt in attempts:
            attempt.submitted(str(job_id))  # before anything else happens: a durable one makes the id durable
        job = Job(
            self, spec, str(job_id), params=filled, submitted_at=self.clock.now(), submitted_wall=self.clock.wall()
        )
        if self.push is not None and spec.provider.callbacks is not None:
            self.push.mailbox(spec.provider.id, job.id)  # before anything can wake it: a fast callback is kept
        for attempt in attempts:
            attempt.started(job)
        job._emit(Submitted(job.id, spec.id, self.clock.now()))
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
        **kwargs: Any,
    ) -> Result:
        chosen = self.strategy_for(strategy)  # an unknown strategy name fails here, before the paid submit
        job = await self.submit(model, params, **kwargs)
        return await job.wait(strategy=chosen, deadline=deadline)
