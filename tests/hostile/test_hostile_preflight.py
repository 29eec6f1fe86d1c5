"""Nothing is lost or paid for by a bad name: plugin checks before the submit, a provider id that
survives a journal that cannot be written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hostile.conftest import MODEL, PARAMS, Hostile
from hostile.provider import KEY, assert_clean
from wan_engine import plugins
from wan_engine.clock import VirtualClock
from wan_engine.errors import JournalUnwritableError, UnknownPluginError
from wan_engine.journal.durable import DurableEngine
from wan_engine.journal.records import SinkConfig
from wan_engine.journal.sqlite_store import SqliteJournal


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (lambda: plugins.check("strategy", "fixd"), "no strategy plugin named 'fixd'; available: adaptive"),
        (lambda: plugins.check("strategy", "fixed", {"intervall_s": 3}), "no option 'intervall_s'"),
        (lambda: SinkConfig("flie", {"root": "out"}).check(), "no sink plugin named 'flie'"),
        (lambda: SinkConfig("file", {"rooot": "out"}).check(), "no option 'rooot'; its options: name, overwrite"),
        (lambda: SinkConfig("webhook", {"url": "https://e/h"}, {"secrett": "S"}).check(), "no option 'secrett'"),
    ],
    ids=["strategy", "strategy-option", "sink", "sink-option", "sink-secret-option"],
)
async def test_an_unknown_strategy_sink_or_option_is_refused_before_the_submit(
    hostile: Hostile, check: Any, message: str
) -> None:
    with pytest.raises(UnknownPluginError, match=message):
        check()
        await hostile.engine.submit(MODEL, PARAMS)  # never reached: the check comes first
    assert hostile.api.submissions == []


def test_known_names_and_options_pass() -> None:
    plugins.check("strategy", "fixed", {"interval_s": 3})
    SinkConfig("file", {"root": "out", "template": "{job_id}"}).check()
    SinkConfig("webhook", {"url": "https://e/h"}, {"secret": "HOOK_SECRET"}).check()


class ReadOnlyAfterIntent(SqliteJournal):
    """A journal whose file turns read-only between the intent and the provider's answer."""

    def intend(self, **kw: Any) -> str:
        key = super().intend(**kw)
        self._db.execute("PRAGMA query_only = ON")
        return key


async def test_a_journal_that_cannot_take_the_id_still_hands_it_to_the_user(
    hostile: Hostile, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    journal = ReadOnlyAfterIntent(tmp_path / "j.sqlite")
    async with DurableEngine(
        base_urls={"aimlapi": hostile.api.base_url}, env={"AIMLAPI_KEY": KEY}, clock=VirtualClock(), journal=journal
    ) as engine:
        with pytest.raises(JournalUnwritableError) as caught:
            await engine.submit(MODEL, PARAMS)
    journal.close()
    assert len(hostile.api.submissions) == 1
    provider_id = "gen-1"
    assert caught.value.provider_id == provider_id and provider_id in str(caught.value)
    assert provider_id in capfd.readouterr().err
    fallback = Path(f"{tmp_path / 'j.sqlite'}.fallback.jsonl")
    assert caught.value.fallback == str(fallback)
    saved = _read(fallback)
    assert f'"provider_id": "{provider_id}"' in saved
    assert_clean(caught.value, saved)


def _read(path: Path) -> str:
    return path.read_text()
