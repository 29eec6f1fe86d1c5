"""The bytes delivered are the bytes generated: a raw-socket media server that lies in every header.

Each test states what the server *meant* to send (a file's SHA-256) and checks that the
download either returns exactly those bytes or fails with nothing published: the consumer's
bytes only count once ``download`` has returned (that is when the delivery tee commits).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hostile.conftest import MODEL, PARAMS
from hostile.provider import KEY, SIGNATURE, Answer, MediaServer, assert_clean, media, mp4_bytes, ok, partial, sha256
from wan_engine.clock import VirtualClock
from wan_engine.delivery.download import DownloadOutcome, DownloadPolicy, download
from wan_engine.errors import (
    DownloadError,
    NotAVideoError,
    ResourceChangedError,
    SizeMismatchError,
    UnsupportedUrlError,
)
from wan_engine.journal.durable import DurableEngine
from wan_engine.journal.records import SinkConfig

FILE_A = mp4_bytes(300_000, seed=1)
FILE_B = mp4_bytes(300_000, seed=2)
POLICY = DownloadPolicy(chunk_size=64 * 1024, base_delay_s=0.01)


class Sink:
    """A consumer that can start over; ``published`` is only set when the download returned."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.restarts = 0
        self.published: bytes | None = None

    async def consume(self, chunk: bytes) -> None:
        self.received += chunk

    async def restart(self) -> None:
        self.restarts += 1
        self.received.clear()


async def fetch(
    server: MediaServer, sink: Sink, *, policy: DownloadPolicy = POLICY, restartable: bool = True,
    expected_size: int | None = None, query: str = "",
) -> DownloadOutcome:  # fmt: skip
    async with aiohttp.ClientSession() as session:
        outcome = await download(
            server.url(query=query), sink.consume, session=session, clock=VirtualClock(), policy=policy,
            on_restart=sink.restart if restartable else None, expected_size=expected_size,
        )  # fmt: skip
    sink.published = bytes(sink.received)
    assert outcome.sha256 == sha256(sink.published)
    return outcome


def cut(body: bytes, at: int, **headers: str) -> Answer:
    """A 200 announcing the whole body, that resets after ``at`` bytes."""
    answer = ok(body, **headers)
    return Answer(answer.status, answer.headers, body[:at], end="reset")


@pytest.mark.parametrize("validator", ["etag", "last_modified"])
async def test_a_resume_onto_a_changed_file_restarts_from_zero(validator: str) -> None:
    first = {validator: '"a"' if validator == "etag" else "Mon, 01 Jan 2026 00:00:00 GMT"}
    second = {validator: '"b"' if validator == "etag" else "Tue, 02 Jan 2026 00:00:00 GMT"}
    half = 150_000
    answers = [
        cut(FILE_A, half, **first),
        partial(FILE_B[half:], half, len(FILE_B), **second),  # ignores If-Range: the rest of another file
        ok(FILE_B, **second),
    ]
    async with media(answers) as server:
        sink = Sink()
        outcome = await fetch(server, sink)
    assert sink.restarts == 1
    assert sink.published == FILE_B and outcome.sha256 == sha256(FILE_B)
    expected_if_range = first[validator]
    assert f"If-Range: {expected_if_range}" in server.requests[1]


async def test_a_changed_file_without_a_way_to_start_over_publishes_nothing() -> None:
    answers = [cut(FILE_A, 150_000, etag='"a"'), partial(FILE_B[150_000:], 150_000, len(FILE_B), etag='"b"')]
    async with media(answers) as server:
        sink = Sink()
        with pytest.raises(ResourceChangedError):
            await fetch(server, sink, restartable=False)
    assert sink.published is None


LYING_RANGE = Answer(
    "206 Partial Content",
    (("Content-Length", "50"), ("Content-Range", f"bytes 1000-299999/{len(FILE_A)}")),
    FILE_A[1000:1050],
)


@pytest.mark.parametrize(
    ("answers", "expected_size", "match"),
    [
        ([ok(FILE_A, length=1000)], None, "longer than its Content-Length|not valid HTTP"),
        ([ok(FILE_A)], len(FILE_A) + 1, "announced"),
        (
            [cut(FILE_A, 1000), LYING_RANGE],
            None,
            "disagrees with Content-Range",
        ),
        ([cut(FILE_A, 1000), partial(FILE_A[1000:], 1000, len(FILE_A) + 5)], None, "size changed"),
    ],
    ids=["length-short", "announced-size", "range-vs-length", "range-total"],
)
async def test_sizes_that_disagree_publish_nothing(
    answers: list[Answer], expected_size: int | None, match: str
) -> None:
    async with media(answers) as server:
        sink = Sink()
        with pytest.raises(DownloadError, match=match):
            await fetch(server, sink, expected_size=expected_size, restartable=False)
    assert sink.published is None


async def test_the_announced_size_is_checked_when_the_server_gives_none() -> None:
    close_delimited = Answer("200 OK", (("Content-Type", "video/mp4"),), FILE_A[:-10])
    async with media([close_delimited]) as server:
        sink = Sink()
        with pytest.raises(SizeMismatchError, match="announced"):
            await fetch(server, sink, expected_size=len(FILE_A))
    assert sink.published is None


async def test_only_identity_encoding_is_accepted() -> None:
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024))
    answer = Answer("200 OK", (("Content-Encoding", "gzip"), ("Content-Length", str(len(bomb)))), bomb)
    async with media([answer]) as server:
        sink = Sink()
        with pytest.raises(DownloadError, match="gzip"):
            await fetch(server, sink)
    assert sink.received == b"" and sink.published is None
    assert "Accept-Encoding: identity" in server.requests[0]


@pytest.mark.parametrize("announce", [True, False])
async def test_the_total_size_cap_holds_with_or_without_a_length(announce: bool) -> None:
    headers = (("Content-Length", str(len(FILE_A))),) if announce else ()
    async with media([Answer("200 OK", headers, FILE_A)]) as server:
        sink = Sink()
        with pytest.raises(SizeMismatchError, match="cap"):
            await fetch(server, sink, policy=DownloadPolicy(chunk_size=4096, max_bytes=100_000))
    assert sink.published is None
    assert len(sink.received) <= 100_000


async def test_an_idle_server_times_out_and_publishes_nothing() -> None:
    stall = Answer("200 OK", (("Content-Length", str(len(FILE_A))),), FILE_A[:100], end="stall")
    policy = DownloadPolicy(read_timeout_s=0.2, max_stalled_resumes=1, base_delay_s=0.01)
    silent = partial(FILE_A[100:], 100, len(FILE_A))
    async with media([stall, Answer(silent.status, silent.headers, b"", end="stall")]) as server:
        sink = Sink()
        with pytest.raises(DownloadError, match="not resumable"):
            await fetch(server, sink, policy=policy)
    assert sink.published is None


async def test_a_slowloris_server_is_cut_off_by_the_rate_floor() -> None:
    drip = Answer("200 OK", (("Content-Length", str(len(FILE_A))),), FILE_A, drip=0.1)  # 10 KiB/s
    policy = DownloadPolicy(min_bytes_per_s=100_000, rate_window_s=0.4, read_timeout_s=5)
    async with media([drip]) as server:
        sink = Sink()
        with pytest.raises(DownloadError, match="slowloris"):
            await fetch(server, sink, policy=policy)
    assert sink.published is None
    assert len(server.requests) == 1  # not resumed: a slow server is not a dropped connection


@pytest.mark.parametrize(
    ("body", "container"),
    [
        (b"<!DOCTYPE html><html><body>Access denied</body></html>" + b" " * 100, None),
        (b'{"error": {"message": "expired"}}' + b" " * 100, None),
        (b"\n\n<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>" + b" " * 100, "mp4"),
        (bytes(range(256)) * 4, "mp4"),
    ],
    ids=["html", "json", "xml", "not-mp4"],
)
async def test_a_document_is_not_published_as_a_video(body: bytes, container: str | None) -> None:
    async with media([ok(body)]) as server:
        sink = Sink()
        with pytest.raises(NotAVideoError):
            await fetch(server, sink, policy=DownloadPolicy(container=container))
    assert sink.published is None


async def test_a_real_mp4_signature_passes_the_sniff() -> None:
    async with media([ok(FILE_A)]) as server:
        sink = Sink()
        await fetch(server, sink, policy=DownloadPolicy(container="mp4"))
    assert sink.published == FILE_A


async def test_media_redirects_are_bounded_and_never_print_the_signature() -> None:
    async with media([]) as server:
        loop = Answer("302 Found", (("Location", server.url(query=f"X-Amz-Signature={SIGNATURE}")),))
        server.answers = [loop]
        sink = Sink()
        with pytest.raises(DownloadError, match="redirects") as caught:
            await fetch(server, sink, query=f"X-Amz-Signature={SIGNATURE}")
    assert len(server.requests) == POLICY.max_redirects
    assert_clean(caught.value, repr(caught.value.__cause__))


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/video.mp4", "file:///etc/passwd"])
async def test_media_redirects_go_to_http_only(target: str) -> None:
    async with media([Answer("302 Found", (("Location", f"{target}?Signature={SIGNATURE}"),))]) as server:
        sink = Sink()
        with pytest.raises(DownloadError) as caught:
            await fetch(server, sink, query=f"Signature={SIGNATURE}")
    assert isinstance(caught.value, (UnsupportedUrlError, DownloadError))
    assert sink.published is None
    assert_clean(caught.value)


@pytest.mark.parametrize(
    "answer",
    [
        Answer("200 OK", (("Content-Encoding", "gzip"),), gzip.compress(FILE_A)),
        ok(b"<html><body>AccessDenied</body></html>" + b" " * 200),
        cut(FILE_A, 1000, etag='"a"'),
    ],
    ids=["gzip", "html", "changed-on-resume"],
)
async def test_through_the_engine_a_lying_media_server_publishes_nothing(
    hostile: Any, tmp_path: Path, answer: Answer
) -> None:
    """The whole path (journal, resume, tee, file sink): a failed download leaves no file behind."""
    out = tmp_path / "out"
    out.mkdir()
    later = partial(FILE_B[1000:], 1000, len(FILE_B), etag='"b"')  # only reached by the resume case
    async with media([answer, later, later]) as server:
        hostile.api.video_url = server.url(query=f"X-Amz-Signature={SIGNATURE}")
        async with DurableEngine(
            base_urls={"aimlapi": hostile.api.base_url}, env={"AIMLAPI_KEY": KEY}, clock=VirtualClock(),
            journal=tmp_path / "j.sqlite", strategy="fixed",
        ) as engine:  # fmt: skip
            job = await engine.submit(MODEL, PARAMS, deliver_to=[SinkConfig("file", {"root": str(out), "name": "d"})])
            report = await engine.resume(env={})
    (outcome,) = report.jobs
    assert outcome.provider_id == job.id and outcome.delivered == () and "d" in outcome.failed
    assert [p for p in out.rglob("*") if p.is_file()] == []
    assert len(hostile.api.submissions) == 1
    assert_clean(report.as_dict())
    # The journal keeps the signed result URL on purpose (a resume after a crash downloads from it);
    # the API key never.
    assert KEY not in _read_bytes(tmp_path / "j.sqlite")


def _read_bytes(path: Path) -> str:
    return path.read_bytes().decode("latin-1")


def _result(url: str, metadata: dict[str, Any] | None = None) -> Any:
    from wan_engine.client.result import Result, Timings

    return Result("job-1", MODEL, "1", [url], metadata or {}, Timings(None, 0.0, 0.0, 1), None)


async def test_through_the_tee_a_changed_file_is_taken_again_from_zero(tmp_path: Path) -> None:
    """The file sink gets video B whole, never A's first half spliced onto B's second."""
    from wan_engine.delivery.tee import deliver
    from wan_engine.sinks.file import FileSink

    answers = [cut(FILE_A, 150_000, etag='"a"'), partial(FILE_B[150_000:], 150_000, len(FILE_B), etag='"b"'),
               ok(FILE_B, etag='"b"')]  # fmt: skip
    async with media(answers) as server, aiohttp.ClientSession() as session:
        report = await deliver(
            _result(server.url()), [FileSink(tmp_path)], session=session, clock=VirtualClock(),
            policy=DownloadPolicy(base_delay_s=0.0),
        )  # fmt: skip
    published = Path(report.locations["file"])
    assert sha256(published.read_bytes()) == sha256(FILE_B) == report.sha256  # noqa: ASYNC240
    assert [p.name for p in tmp_path.rglob("*") if p.is_file() and ".part" in p.name] == []  # noqa: ASYNC240


async def test_through_the_tee_the_announced_size_must_match(tmp_path: Path) -> None:
    from wan_engine.delivery.tee import deliver
    from wan_engine.sinks.file import FileSink

    async with media([ok(FILE_A)]) as server, aiohttp.ClientSession() as session:
        with pytest.raises(SizeMismatchError):
            await deliver(
                _result(server.url(), {"file_size": len(FILE_A) + 1}), [FileSink(tmp_path)], session=session,
                clock=VirtualClock(),
            )  # fmt: skip
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # noqa: ASYNC240 - after the run
