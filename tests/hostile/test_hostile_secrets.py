"""Secrets stay with their owner: a provider that echoes the key and signed URLs back, everywhere."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner
from support.local_server import serving

from hostile.conftest import MODEL, PARAMS
from hostile.provider import KEY, SIGNATURE, HostileApi, assert_clean
from wan_engine.cassettes.scrubbing import Scrubber, scrub_url_query
from wan_engine.cli.main import cli
from wan_engine.client.provider_client import RetryPolicy
from wan_engine.clock import VirtualClock
from wan_engine.errors import JobFailedError, RequestRejectedError
from wan_engine.journal.durable import DurableEngine
from wan_engine.redaction import redact

SIGNED = f"https://bucket.example.com/v.mp4?X-Amz-Signature={SIGNATURE}&x-oss-signature={SIGNATURE}"


async def echo_submit(api: HostileApi, request: web.Request) -> web.StreamResponse:
    if len(api.submissions) == 1:
        message = f"key {request.headers['Authorization']} is not allowed for {SIGNED}"
        return web.json_response({"message": message, "statusCode": 400}, status=400)
    return await HostileApi.honest_submit(api, request)


async def echo_status(api: HostileApi, request: web.Request) -> web.StreamResponse:
    job_id = request.query["generation_id"]
    key = request.headers["Authorization"].removeprefix("Bearer ")
    return web.json_response(
        {"id": job_id, "status": "error", "error": {"message": f"quota for {key} exceeded; see {SIGNED}"}}
    )


async def test_an_echoed_key_reaches_no_message_log_journal_or_json_output(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api = HostileApi()
    api.submit, api.status = echo_submit, echo_status
    journal = tmp_path / "journal.sqlite"
    caplog.set_level(logging.DEBUG)
    async with serving(api.app()) as base_url, DurableEngine(
        base_urls={"aimlapi": base_url}, env={"AIMLAPI_KEY": KEY}, clock=VirtualClock(), journal=journal,
        retry=RetryPolicy(), strategy="fixed",
    ) as engine:  # fmt: skip
        with pytest.raises(RequestRejectedError) as refused:
            await engine.submit(MODEL, PARAMS)
        job = await engine.submit(MODEL, PARAMS)
        with pytest.raises(JobFailedError) as failed:
            await job.wait()
    assert len(api.submissions) == 2
    assert KEY in api.submissions[0].headers["Authorization"]  # it was sent, and echoed
    assert "<filtered>" in str(refused.value) and "quota for <filtered>" in str(failed.value)
    runner = CliRunner()
    jobs_json = runner.invoke(cli, ["jobs", "--json", "--journal", str(journal)])
    status_json = runner.invoke(cli, ["status", job.id, "--json", "--journal", str(journal)])
    assert jobs_json.exit_code == 0 and status_json.exit_code == 0, jobs_json.output + status_json.output
    assert json.loads(status_json.output)
    assert_clean(
        refused.value, failed.value, caplog.text, jobs_json.output, status_json.output,
        journal.read_bytes().decode("latin-1"),
    )  # fmt: skip
    assert KEY not in str(refused.value.provider_message)


@pytest.mark.parametrize(
    "name",
    ["X-Amz-Signature", "x-oss-signature", "x-oss-credential", "Signature", "X-Amz-Security-Token",
     "x-oss-security-token", "OSSAccessKeyId", "Key-Pair-Id", "Policy"],
)  # fmt: skip
def test_signed_url_credentials_are_scrubbed_from_cassettes_and_messages(name: str) -> None:
    url = f"https://media.example.com/v.mp4?{name}={SIGNATURE}&Expires=1700000000"
    assert SIGNATURE not in scrub_url_query(url)
    assert "Expires=1700000000" in scrub_url_query(url)
    assert SIGNATURE not in Scrubber().text(f'{{"video": {{"url": "{url}"}}}}')
    assert SIGNATURE not in redact(f"download of {url} failed")
    assert SIGNATURE not in Scrubber().header_value(name, SIGNATURE) or name.lower() not in Scrubber().headers


def test_error_texts_are_journaled_without_signed_url_credentials(tmp_path: Path) -> None:
    from wan_engine.journal.records import DeliveryState, JournalState, SinkConfig
    from wan_engine.journal.sqlite_store import SqliteJournal

    at = VirtualClock().wall()
    with SqliteJournal(tmp_path / "j.sqlite") as journal:
        key = journal.intend(
            model=MODEL, spec_version="1", params={}, sinks=[SinkConfig("file", {"root": "x", "name": "d"})], at=at
        )
        journal.mark_submitted(key, "gen-1", at)
        journal.record_delivery(key, "d", DeliveryState.FAILED, at, error=f"PUT {SIGNED} answered 403")
        journal.record_error(key, JournalState.FAILED, f"could not fetch {SIGNED}", at)
        record, history = journal.get(key), journal.history(key)
    assert_clean(record, history, (tmp_path / "j.sqlite").read_bytes().decode("latin-1"))
    assert record is not None and "X-Amz-Signature=FILTERED" in str(record.error)
