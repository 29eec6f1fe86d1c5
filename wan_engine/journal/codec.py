"""Records to and from the JSON and ISO-8601 text the journal stores (SQLite and Postgres alike)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from wan_engine.journal.records import DeliveryState, HistoryEntry, JobRecord, JournalState, ResultRecord, SinkRecord
from wan_engine.sinks.config import SinkConfig

Row = sqlite3.Row | Mapping[str, Any]
"""A row of either store: SQLite's, or Postgres's as a dict (same column names)."""


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def iso(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def result_to_json(result: ResultRecord) -> str:
    return dumps(
        {
            "video_urls": list(result.video_urls),
            "metadata": dict(result.metadata),
            "completed_at": None if result.completed_at is None else iso(result.completed_at),
            "polls": result.polls,
            "finished_between_s": None if result.finished_between_s is None else list(result.finished_between_s),
        }
    )


def result_from_json(text: str | None) -> ResultRecord | None:
    if text is None:
        return None
    data = json.loads(text)
    completed = parse_time(data.get("completed_at"))
    between = data.get("finished_between_s")
    return ResultRecord(
        tuple(data["video_urls"]),
        data.get("metadata") or {},
        completed,
        data.get("polls", 0),
        (float(between[0]), float(between[1])) if between else None,
    )


def config_from_json(text: str, name: str) -> SinkConfig:
    data = json.loads(text)
    return SinkConfig(data["plugin"], data.get("options") or {}, data.get("secret_env") or {}, name=name)


def sink_from_row(row: Row) -> SinkRecord:
    return SinkRecord(
        name=row["name"],
        config=config_from_json(row["config"], row["name"]),
        state=DeliveryState(row["state"]),
        location=row["location"],
        sha256=row["sha256"],
        size=row["size"],
        error=row["error"],
        attempts=row["attempts"],
        updated_at=parse_time(row["updated_at"]),
    )


def job_from_row(row: Row, sinks: tuple[SinkRecord, ...]) -> JobRecord:
    created = parse_time(row["created_at"])
    updated = parse_time(row["updated_at"])
    assert created is not None and updated is not None
    return JobRecord(
        key=row["key"],
        model=row["model"],
        spec_version=row["spec_version"],
        params=json.loads(row["params"]),
        state=JournalState(row["state"]),
        created_at=created,
        updated_at=updated,
        provider_id=row["provider_id"],
        provider_status=None if row["provider_status"] is None else json.loads(row["provider_status"]),
        result=result_from_json(row["result"]),
        error=row["error"],
        sinks=sinks,
    )


def history_from_row(row: Row) -> HistoryEntry:
    at = parse_time(row["at"])
    assert at is not None
    return HistoryEntry(at, row["event"], row["state"], json.loads(row["detail"]))
