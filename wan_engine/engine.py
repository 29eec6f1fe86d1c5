"""The engine: one object an app keeps, running any spec'd model from submit to result."""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from wan_engine import json_pointer
from wan_engine.clock import Clock, SystemClock
from wan_engine.errors import SubmitOutcomeUnknownError
from wan_engine.events import Submitted
from wan_engine.job import Job
from wan_engine.params import build_body, prepare
from wan_engine.registry import SpecRegistry
from wan_engine.result import Result
from wan_engine.spec_model import ModelSpec
from wan_engine.strategies import PollingStrategy, from_name
from wan_engine.transport import RetryPolicy, Timeouts, Transport


class Engine:
    """Submits, polls and resumes jobs for every model the registry knows.

    One engine shares one HTTP session across all its jobs; thousands of jobs
    can wait concurrently on one event loop, each holding only its own small
    state. Use it as an async context manager so the session is closed.
    """

    def __init__(
        self,
        registry: SpecRegistry | None = None,
        *,
        base_urls: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        strategy: PollingStrategy | str = "adaptive",
        transport: Transport | None = None,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.registry = registry or SpecRegistry.discover()
        self.clock = clock or (transport.clock if transport else SystemClock())
        self.transport = transport or Transport(
            base_urls=base_urls,
            env=env if env is not None else os.environ,
            clock=self.clock,
            retry=retry,
            timeouts=timeouts,
        )
        self.default_strategy = strategy
        self._strategies: dict[str, PollingStrategy] = {}

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.transport.close()

    def strategy_for(self, strategy: PollingStrategy | str | None) -> PollingStrategy:
        chosen = strategy if strategy is not None else self.default_strategy
        if not isinstance(chosen, str):
            return chosen
        if chosen not in self._strategies:
            self._strategies[chosen] = from_name(chosen)
        return self._strategies[chosen]

    def spec(self, model: str) -> ModelSpec:
        return self.registry.model(model)

    async def submit(self, model: str, params: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Job:
        """Validate, then create the job; returns as soon as the provider has given an id.

        Validation errors are raised before anything is sent. See transport.py
        for when a submit may be re-sent (only when no job can have been created).
        """
        spec = self.spec(model)
        filled = prepare(spec, {**(params or {}), **kwargs})
        body = build_body(spec, filled)
        response = await self.transport.submit(spec, body)
        job_id = json_pointer.resolve(response.document, spec.provider.id_pointer)
        if not isinstance(job_id, (str, int)) or job_id == "":
            raise SubmitOutcomeUnknownError(
                spec.id, f"the response has no job id at {spec.provider.id_pointer}", status=response.status
            )
        job = Job(self, spec, str(job_id), params=filled, submitted_at=self.clock.now())
        job._emit(Submitted(job.id, spec.id, self.clock.now()))
        if json_pointer.resolve(response.document, spec.provider.status_pointer) is not None:
            job.observe(response.document, dict(response.headers))
        return job

    def job(self, model: str, job_id: str, *, submitted_at: float | None = None) -> Job:
        """A handle on a job submitted earlier (by this process or another): wait on it to resume."""
        return Job(self, self.spec(model), job_id, submitted_at=submitted_at)

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
        job = await self.submit(model, params, **kwargs)
        return await job.wait(strategy=strategy, deadline=deadline)
