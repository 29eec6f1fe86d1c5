"""The store contract (journal/store.py), run against every store: the SQLite file and Postgres.

One suite, parametrised by store, so a new store (or a method added to the
protocol) is held to exactly the promises the engine relies on: atomic intent,
the provider id as the write that prevents paying twice, exclusive and fenced
leases, listings, history, and no secret in what is stored. The Postgres
parameter runs on a throwaway cluster (tests/support/postgres.py), one schema a test.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.engine import MODEL
from support.postgres import shared_postgres

from wan_engine.errors import JournalError, LeaseLostError
from wan_engine.journal import DeliveryState, JournalState, JournalStore, ResultRecord, open_journal
from wan_engine.sinks.config import SinkConfig
from wan_engine.states import JobState

AT = datetime(2026, 1, 1, tzinfo=UTC)
OpenStore = Callable[[], Any]


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where one test's journal lives: an SQLite file, or a fresh schema on the session's Postgres."""
    if request.param == "sqlite":
        return str(tmp_path / "journal.sqlite3")
    return shared_postgres().fresh_url()


@pytest.fixture
def open_store(target: str) -> Iterator[OpenStore]:
    """Opens another handle on the same journal (another process's view, as far as fencing goes)."""
    opened: list[Any] = []

    def opener() -> Any:
        store = open_journal(target)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


def file_sinks(tmp_path: Path, *names: str) -> list[SinkConfig]:
    return [SinkConfig("file", {"root": str(tmp_path / name), "name": name}) for name in names]


def _intended(journal: JournalStore, owner: str, lease_s: float) -> str:
    return journal.intend(
        model=MODEL, spec_version="1", params={}, sinks=[SinkConfig("file", {"root": "/tmp/x", "name": "disk"})],
        at=AT, owner=owner, lease_s=lease_s,
    )  # fmt: skip


def test_a_job_round_trips_with_history_result_and_deliveries(open_store: OpenStore, tmp_path: Path) -> None:
    journal = open_store()
    key = journal.intend(model=MODEL, spec_version="1", params={"prompt": "p"}, sinks=file_sinks(tmp_path, "a"), at=AT)
    assert journal.get(key).state is JournalState.SUBMITTING
    journal.mark_submitted(key, "prov-1", AT)
    journal.record_status(key, JobState.RUNNING, "generating", AT)
    journal.record_result(key, ResultRecord(("https://cdn.example/v.mp4",), {"seed": 1}, AT, 3), AT)
    journal.record_delivery(key, "a", DeliveryState.DELIVERED, AT, location="/x.mp4", sha256="ab", size=3)
    record = journal.get("prov-1")
    assert record is not None and record.key == key and record.params == {"prompt": "p"}
    assert record.state is JournalState.SUCCEEDED and record.provider_status == "generating"
    assert record.result is not None and record.result.video_urls == ("https://cdn.example/v.mp4",)
    assert record.result.metadata == {"seed": 1} and record.result.polls == 3
    assert record.sinks[0].state is DeliveryState.DELIVERED and record.sinks[0].sha256 == "ab"
    assert record.sinks[0].size == 3 and record.sinks[0].attempts == 0
    assert [h.event for h in journal.history(key)] == ["submit_intent", "submitted", "status", "result", "delivery"]
    assert journal.unfinished() == []  # delivered to its only sink
    assert journal.jobs(states=["delivered"], model=MODEL)[0].key == key
    assert journal.jobs(states=["running"]) == []


def test_listings_are_newest_first_and_unfinished_oldest_first(open_store: OpenStore) -> None:
    journal = open_store()
    keys = [journal.intend(model=MODEL, spec_version="1", params={"n": n}, sinks=[], at=AT) for n in range(3)]
    journal.mark_submitted(keys[1], "p-1", AT)
    journal.mark_refused(keys[2], "400 bad prompt", AT)
    assert [r.key for r in journal.jobs()] == keys[::-1]
    assert [r.key for r in journal.jobs(limit=2)] == keys[:0:-1]
    assert [r.key for r in journal.unfinished()] == keys[:2]
    assert [r.key for r in journal.jobs(states=["refused"])] == [keys[2]]
    assert journal.jobs(model="no/such-model") == []
    assert journal.get("nothing-like-it") is None


def test_a_reused_provider_id_is_refused_not_merged(open_store: OpenStore, capsys: pytest.CaptureFixture[str]) -> None:
    journal = open_store()
    first = journal.intend(model=MODEL, spec_version="1", params={}, sinks=[], at=AT)
    second = journal.intend(model=MODEL, spec_version="1", params={}, sinks=[], at=AT)
    journal.mark_submitted(first, "same-id", AT)
    with pytest.raises(JournalError, match="same-id"):
        journal.mark_submitted(second, "same-id", AT)
    assert "same-id" in capsys.readouterr().err  # the paid job's id still reaches the user
    assert journal.get(first).provider_id == "same-id"


def test_a_chosen_key_is_used_once(open_store: OpenStore) -> None:
    journal = open_store()
    key = journal.intend_as("wf-order-42", model=MODEL, spec_version="1", params={"a": 1}, sinks=[], at=AT)
    assert key == "wf-order-42" and journal.get(key).params == {"a": 1}
    with pytest.raises(JournalError, match="wf-order-42"):
        open_store().intend_as("wf-order-42", model=MODEL, spec_version="1", params={"a": 2}, sinks=[], at=AT)
    assert journal.get(key).params == {"a": 1} and len(journal.jobs()) == 1


def test_secrets_in_errors_are_redacted_before_they_are_stored(open_store: OpenStore) -> None:
    journal = open_store()
    key = journal.intend(model=MODEL, spec_version="1", params={}, sinks=[], at=AT)
    journal.mark_submit_unknown(key, "timeout fetching https://x.example/v.mp4?X-Amz-Signature=deadbeefcafe", AT)
    record = journal.get(key)
    assert record.state is JournalState.SUBMIT_UNKNOWN and "deadbeefcafe" not in (record.error or "")
    assert all("deadbeefcafe" not in str(h.detail) for h in journal.history(key))


def test_a_lease_is_exclusive_until_it_expires_or_its_holder_dies(open_store: OpenStore) -> None:
    journal = open_store()
    key = journal.intend(model=MODEL, spec_version="1", params={}, sinks=[], at=AT)
    assert journal.claim(key, "me", 60).taken
    assert journal.claim(key, "me", 60).taken  # renewing
    other = open_store().claim(key, "someone-else", 60)
    assert not other.taken and other.owner == "me"
    journal.release(key, "me")
    assert journal.claim(key, "someone-else", 0.01).taken
    time.sleep(0.02)
    assert open_store().claim(key, "me", 60).taken  # expired
    dead = f"{socket.gethostname()}/{2**22 + 12345}/abc"  # a holder on this host whose process is gone
    fresh = open_store()
    fresh.release(key, "me")
    assert fresh.claim(key, dead, 600).taken
    assert open_store().claim(key, "me", 60).taken


def test_a_stale_holder_cannot_overwrite_delivered_or_renew(open_store: OpenStore) -> None:
    stale, fresh = open_store(), open_store()
    key = _intended(stale, "host/1/stale", lease_s=0.0)  # expires at once: anyone may take over
    stale.mark_submitted(key, "gen-1", AT)  # still ours: nobody has taken it
    assert fresh.claim(key, "host/2/fresh", 60).taken
    fresh.record_delivery(key, "disk", DeliveryState.DELIVERED, AT, location="/tmp/x/a.mp4", sha256="ab", size=1)
    with pytest.raises(LeaseLostError):
        stale.record_delivery(key, "disk", DeliveryState.FAILED, AT, error="late")
    with pytest.raises(LeaseLostError):
        stale.record_status(key, JobState.FAILED, "late", AT)
    record = fresh.get(key)
    assert record.sinks[0].state is DeliveryState.DELIVERED and record.state is JournalState.SUBMITTED
    assert not stale.claim(key, "host/1/stale", 60).taken  # its renewal fails: it must stop
    stale.release(key, "host/1/stale")  # and cannot release the lease it lost
    assert not open_store().claim(key, "host/3/third", 60).taken


def test_a_stale_holder_cannot_come_back_after_the_new_one_finished(open_store: OpenStore) -> None:
    stale, fresh = open_store(), open_store()
    key = _intended(stale, "host/1/stale", lease_s=0.0)
    assert fresh.claim(key, "host/2/fresh", 60).taken
    fresh.record_delivery(key, "disk", DeliveryState.DELIVERED, AT, location="/x", sha256="ab", size=1)
    fresh.release(key, "host/2/fresh")
    assert not stale.claim(key, "host/1/stale", 60).taken  # the lease row is gone, the epoch moved on
    with pytest.raises(LeaseLostError):
        stale.record_event(key, "resumed", AT)
    assert [h.event for h in fresh.history(key)].count("resumed") == 0


def _race(target: str, keys: list[str], owner: str, out: Any) -> None:
    store = open_journal(target)
    won = [key for key in keys if store.claim(key, owner, 600).taken]
    out.put((owner, won))
    store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks the racers")
def test_processes_racing_for_leases_get_one_winner_each(open_store: OpenStore, target: str) -> None:
    journal = open_store()
    keys = [journal.intend(model=MODEL, spec_version="1", params={}, sinks=[], at=AT) for _ in range(40)]
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    racers = [context.Process(target=_race, args=(target, keys, f"host/{n}/r", out)) for n in range(4)]
    for racer in racers:
        racer.start()
    results = [out.get(timeout=60) for _ in racers]
    for racer in racers:
        racer.join(timeout=60)
    won = [key for _, keys_won in results for key in keys_won]
    assert sorted(won) == sorted(keys)  # every lease taken exactly once


def test_the_journal_is_chosen_by_url_or_path_from_the_argument_or_the_environment(tmp_path: Path) -> None:
    from wan_engine.journal import SqliteJournal, journal_target

    url = "postgresql://app:pw@db.example:5432/jobs"
    assert journal_target(url) == url
    assert journal_target(None, {"WAN_ENGINE_JOURNAL": url}) == url
    assert journal_target(None, {"WAN_ENGINE_JOURNAL": str(tmp_path / "j.db")}) == tmp_path / "j.db"
    with open_journal(None, {"WAN_ENGINE_JOURNAL": str(tmp_path / "j.db")}) as journal:
        assert isinstance(journal, SqliteJournal)
    served = shared_postgres().fresh_url()
    with open_journal(None, {"WAN_ENGINE_JOURNAL": served}) as journal:
        from wan_engine.journal.postgres_store import PostgresJournal

        assert isinstance(journal, PostgresJournal) and "postgres@" not in journal.path  # no user info shown


def test_the_ledger_adds_to_a_row_and_lists_every_job(open_store: OpenStore) -> None:
    journal = open_store()
    charged = journal.intend(model=MODEL, spec_version="1", params={}, sinks=[], at=AT)
    free = journal.intend(model=MODEL, spec_version="1", params={}, sinks=[], at=AT)
    journal.record_charge(charged, AT, tags=["team-a"], estimate_usd=0.5, estimate_basis="5 s at $0.10/s")
    journal.record_charge(charged, AT, usd=0.45, figures={"credits": 90})  # None leaves the rest as it was
    rows = {row.key: row for row in open_store().charges()}
    assert list(rows) == [charged, free]
    assert rows[charged].tags == ("team-a",) and rows[charged].estimate_usd == 0.5 and rows[charged].usd == 0.45
    assert rows[charged].estimate_basis == "5 s at $0.10/s" and rows[charged].figures == {"credits": 90}
    assert rows[free].usd is None and rows[free].tags == () and rows[free].figures == {}


def test_an_idempotency_key_is_held_by_one_token_until_settled_or_expired(open_store: OpenStore) -> None:
    from wan_engine.client.idempotency import KeyRecord

    def record(token: str, expires_at: float) -> KeyRecord:
        return KeyRecord("order-9", token, "fp", MODEL, {"prompt": "p"}, "pending", 100.0, expires_at)

    first, second = open_store(), open_store()
    assert first.reserve_key(record("t1", 200.0), now=100.0).token == "t1"
    held = second.reserve_key(record("t2", 200.0), now=150.0)
    assert held.token == "t1" and held.params == {"prompt": "p"}  # the holder's row, not ours
    second.settle_key("order-9", "t2", "submitted", "gen-x")  # not its token: changes nothing
    first.settle_key("order-9", "t1", "submitted", "gen-1")
    settled = second.reserve_key(record("t2", 300.0), now=150.0)
    assert (settled.token, settled.state, settled.provider_id) == ("t1", "submitted", "gen-1")
    assert second.reserve_key(record("t3", 400.0), now=250.0).token == "t3"  # expired: taken anew
    second.settle_key("order-9", "t3", "released")
    assert first.reserve_key(record("t4", 500.0), now=260.0).token == "t4"


def test_a_postgres_journal_reconnects_after_its_connection_is_cut() -> None:
    import psycopg

    url = shared_postgres().fresh_url()
    with open_journal(url) as journal:
        key = journal.intend(model=MODEL, spec_version="1", params={}, sinks=[], at=AT)
        backend = journal._db.info.backend_pid  # this journal's own session, as a database restart ends it
        with psycopg.connect(shared_postgres().url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        with pytest.raises(psycopg.OperationalError):
            journal.get(key)  # the call that meets the cut fails (its caller retries) ...
        journal.mark_submitted(key, "after-the-cut", AT)  # ... and the next one reconnects
        assert journal.get("after-the-cut").key == key
