"""What batches and failover need of an engine, as a Protocol: they run on any engine without importing it.

``Engine.batch`` and ``Engine.run(fallback=...)`` hand themselves to client/batch.py and
client/failover.py; typing those modules against this Protocol, not the ``Engine`` class, keeps
the import graph one-way (engine -> batch/failover -> submitter).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs

if TYPE_CHECKING:
    from wan_engine.client.job import Job
    from wan_engine.client.polling import PollingStrategy
    from wan_engine.clock import Clock
    from wan_engine.spec.model import ModelSpec


@attrs.frozen
class Hop:
    """One move from a model that verifiably failed to the next."""

    from_model: str
    to_model: str
    reason: Literal["refused", "failed"]
    detail: str
    from_job: str | None = None
    """The failed job's provider id; None when the submit was refused (no job existed)."""


class Submitter(Protocol):
    """The engine as batches and failover see it."""

    @property
    def clock(self) -> Clock: ...

    def spec(self, model: str) -> ModelSpec: ...

    def strategy_for(self, strategy: PollingStrategy | str | None) -> PollingStrategy: ...

    async def submit(self, model: str, params: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Job: ...

    def record_hop(self, hop: Hop, job: Job | None) -> None: ...
