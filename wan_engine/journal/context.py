"""What resume and redelivery need of an engine: a protocol, so they need not import the engine with a journal.

``DurableEngine`` (durable.py) satisfies it and calls resume; resume and
redelivery see only this, which keeps the journal package free of import cycles.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from wan_engine.client.job import Job
from wan_engine.client.provider_client import ProviderClient
from wan_engine.clock import Clock
from wan_engine.journal.listener import JobKeys
from wan_engine.journal.store import JournalStore


class JournaledEngine(Protocol):
    journal: JournalStore
    owner: str
    lease_s: float
    keys: JobKeys
    clock: Clock
    client: ProviderClient

    def job(
        self, model: str, job_id: str, *, submitted_at: float | None = None, submitted_wall: datetime | None = None
    ) -> Job: ...
