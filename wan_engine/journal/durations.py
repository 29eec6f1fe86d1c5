"""Polling that learns across runs: the ``learned`` strategy seeded from the journal's finished jobs.

Every succeeded job's result record keeps when it finished as a poller saw it
(after the last read that found it unfinished, by the read that found it done,
in seconds after submission). Reading those back gives each model's duration
distribution, overall and by the parameters that move it, with the spec's hint
as the prior (client/duration_model.py), so a new process polls on a learned
schedule from its first job instead of relearning from scratch.
"""

from __future__ import annotations

from wan_engine.client.learned_polling import Learned
from wan_engine.journal.records import JournalState
from wan_engine.journal.store import JournalStore

HISTORY_LIMIT = 2000
"""The newest finished jobs read at start: enough for a tight estimate, cheap to read (one query)."""


def learned_from(journal: JournalStore, *, limit: int = HISTORY_LIMIT, **options: object) -> Learned | None:
    """A ``learned`` strategy taught by the journal's succeeded jobs; None when none says how long it took."""
    records = journal.jobs(states=[JournalState.SUCCEEDED.value], limit=limit)
    history = [
        (record.model, record.params, record.result.finished_between_s)
        for record in reversed(records)  # oldest first, as they happened
        if record.result is not None and record.result.finished_between_s is not None
    ]
    if not history:
        return None
    strategy = Learned(**options)  # type: ignore[arg-type]
    for model, params, (after_s, by_s) in history:
        strategy.observe_between(model, params, after_s, by_s)
    return strategy
