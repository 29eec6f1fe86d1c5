"""A blocking face on the async engine, for scripts and notebooks that do not run an event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from wan_engine.client.engine import Engine
from wan_engine.client.job import Job
from wan_engine.client.polling import PollingStrategy
from wan_engine.client.result import Result


class SyncJob:
    def __init__(self, runner: asyncio.Runner, job: Job) -> None:
        self._runner, self.job = runner, job

    @property
    def id(self) -> str:
        return self.job.id

    def wait(self, strategy: PollingStrategy | str | None = None, deadline: float | None = None) -> Result:
        return self._runner.run(self.job.wait(strategy=strategy, deadline=deadline))

    def cancel(self) -> bool:
        return self._runner.run(self.job.cancel())


class SyncEngine:
    """``with SyncEngine() as engine: engine.submit(...).wait()`` — one private event loop.

    ``engine_type`` builds the async engine inside that loop from the other
    options: ``SyncEngine(DurableEngine, journal="jobs.sqlite3")`` for a journal.
    """

    def __init__(self, engine_type: Callable[..., Engine] = Engine, /, **engine_options: Any) -> None:
        self._runner = asyncio.Runner()
        self._engine_type = engine_type
        self._options = engine_options
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            async def make() -> Engine:
                return self._engine_type(**self._options)

            self._engine = self._runner.run(make())
        return self._engine

    def submit(self, model: str, params: Mapping[str, Any] | None = None, /, **kwargs: Any) -> SyncJob:
        return SyncJob(self._runner, self._runner.run(self.engine.submit(model, params, **kwargs)))

    def job(self, model: str, job_id: str) -> SyncJob:
        return SyncJob(self._runner, self.engine.job(model, job_id))

    def run(self, model: str, params: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Result:
        return self.submit(model, params, **kwargs).wait()

    def close(self) -> None:
        if self._engine is not None:
            self._runner.run(self._engine.close())
        self._runner.close()

    def __enter__(self) -> SyncEngine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
