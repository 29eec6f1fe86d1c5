"""Callbacks across processes: a receiver in one process records them in the shared journal,
and the process whose job it is picks them up here and wakes the job.

A journaled callback is always a hint (the journal keeps no callback body): the owning
job reads its status from the provider at once. Nothing here writes anything but
what the hub already allows, so a journaled callback can no more submit than a live one.
"""

from __future__ import annotations

import asyncio

from wan_engine.client.push import Callback, PushHub
from wan_engine.journal.store import JournalStore


class JournalCallbacks:
    def __init__(self, store: JournalStore, hub: PushHub, interval_s: float = 1.0) -> None:
        self.store = store
        self.hub = hub
        self.interval_s = interval_s
        self._taken: set[tuple[str, str]] = set()

    def check(self) -> int:
        """Deliver the journaled callbacks for jobs waiting here; how many woke a job."""
        woke = 0
        for provider_id, job_id in self.hub.waiting_jobs():
            record = self.store.get(job_id)
            if record is None:
                continue
            for entry in self.store.history(record.key):
                event_id = str(entry.detail.get("event_id", ""))
                if entry.event != "callback" or entry.detail.get("provider") != provider_id:
                    continue
                if (provider_id, event_id) in self._taken:
                    continue
                self._taken.add((provider_id, event_id))
                if self.hub.deliver(Callback(provider_id, job_id, event_id, trusted=False)) == "woke":
                    woke += 1
        return woke

    async def run(self) -> None:
        """Check every ``interval_s`` until cancelled (run it as a task beside the engine)."""
        while True:
            # On the loop's own thread: a store's connection belongs to the thread that opened it
            # (SQLite), and these are two small indexed reads per waiting job.
            self.check()
            await asyncio.sleep(self.interval_s)
