"""Replaying the committed cassettes: offline, on virtual time, in recorded order, honestly labelled."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from wan_engine.cassettes import read_cassette, replay_engine, replay_session
from wan_engine.cassettes.session import SessionOutcome
from wan_engine.client.polling import ExponentialBackoff, FixedInterval
from wan_engine.clock import VirtualClock
from wan_engine.errors import CassetteMismatchError, JobFailedError, RequestRejectedError
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState

ROOT = Path(__file__).resolve().parents[2]
MODEL = "alibaba/wan-2-7-r2v"
FOLDER = ROOT / "cassettes" / MODEL
CASSETTES = sorted(FOLDER.glob("*.yaml"))
EXPECTED = {
    "success-reference-videos": "succeeded",
    "success-images-first-frame": "succeeded",
    "job-fails": "failed",
    "rejected-invalid-params": "rejected",
    "rate-limited-retry-after": "succeeded",
}


def test_every_promised_cassette_is_committed() -> None:
    assert {p.stem for p in CASSETTES} == set(EXPECTED)


@pytest.mark.parametrize("path", CASSETTES, ids=[p.stem for p in CASSETTES])
async def test_each_cassette_replays_to_its_recorded_outcome(path: Path, registry: SpecRegistry) -> None:
    provenance = read_cassette(path).provenance
    assert provenance.outcome is not None
    recorded = SessionOutcome.from_dict(provenance.outcome)
    replayed = await replay_session(path, registry)
    assert replayed == recorded
    assert replayed.kind == EXPECTED[path.stem]


@pytest.mark.parametrize("path", CASSETTES, ids=[p.stem for p in CASSETTES])
def test_each_cassette_is_labelled_as_a_sandbox_recording(path: Path) -> None:
    provenance = read_cassette(path).provenance
    assert provenance.source == "sandbox"
    assert "not the real API" in read_cassette(path).provenance_block["source_means"]
    assert provenance.model == MODEL and provenance.spec_version and provenance.recorded_at
    assert provenance.base_url.startswith("http://127.0.0.1:")


async def test_a_522_second_session_replays_in_well_under_a_second(registry: SpecRegistry) -> None:
    path = FOLDER / "success-reference-videos.yaml"
    clock = VirtualClock()
    started = time.perf_counter()
    async with replay_engine(path, registry, clock=clock) as engine:
        job = await engine.submit(MODEL, prompt="Video 1 dances", video_urls=["https://example.com/v.mp4"], duration=5)
        result = await job.wait()
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"replay took {elapsed:.2f} s"
    assert clock.now() >= 522  # the recorded session's length, in virtual seconds
    assert result.video_url == read_cassette(path).provenance.outcome["video_url"]  # type: ignore[index]
    assert job.state is JobState.SUCCEEDED and job.polls == 35


@pytest.mark.parametrize(
    "strategy", ["fixed", "adaptive", "exponential", FixedInterval(1), ExponentialBackoff(initial_s=300)]
)
async def test_any_strategy_reads_the_recorded_statuses_in_order(strategy: object, registry: SpecRegistry) -> None:
    path = FOLDER / "success-images-first-frame.yaml"
    outcome = await replay_session(path, registry, strategy=strategy)  # type: ignore[arg-type]
    assert outcome.statuses == ("queued", "generating", "completed")
    assert outcome.polls == 35


async def test_rate_limit_answers_replay_with_their_retry_after(registry: SpecRegistry) -> None:
    clock = VirtualClock()
    async with replay_engine(FOLDER / "rate-limited-retry-after.yaml", registry, clock=clock) as engine:
        job = await engine.submit(MODEL, prompt="x")
        await job.wait(strategy=FixedInterval(15))
    assert clock.sleeps.count(5) >= 2  # both 429s were honoured with their Retry-After: 5


async def test_a_failed_job_and_a_rejection_replay_as_errors(registry: SpecRegistry) -> None:
    async with replay_engine(FOLDER / "job-fails.yaml", registry) as engine:
        with pytest.raises(JobFailedError) as failed:
            await engine.run(MODEL, prompt="x")
    assert failed.value.code == "ContentModeration"
    async with replay_engine(FOLDER / "rejected-invalid-params.yaml", registry) as engine:
        with pytest.raises(RequestRejectedError) as rejected:
            await engine.submit(MODEL, {"prompt": "x", "aspect_ratio": "21:9"}, validate=False)
    assert rejected.value.status == 400 and "Body validation error" in str(rejected.value)


async def test_a_request_the_cassette_does_not_hold_is_a_typed_error(registry: SpecRegistry) -> None:
    path = FOLDER / "success-reference-videos.yaml"
    async with replay_engine(path, registry) as engine:
        with pytest.raises(CassetteMismatchError) as caught:
            await engine.job(MODEL, "some-other-job").wait()
    error = caught.value
    assert error.method == "GET" and "generation_id=some-other-job" in error.url
    assert str(path) in str(error) and "GET http://127.0.0.1" in str(error)


async def test_polling_past_the_recorded_session_is_a_typed_error(registry: SpecRegistry) -> None:
    path = FOLDER / "success-reference-videos.yaml"
    job_id = read_cassette(path).provenance.outcome["job_id"]  # type: ignore[index]
    async with replay_engine(path, registry) as engine:
        job = engine.job(MODEL, job_id)
        for _ in range(35):
            await job.refresh()
        with pytest.raises(CassetteMismatchError) as caught:
            await job.refresh()
    assert caught.value.reason == "already_played"
    assert "asked more often" in str(caught.value)


def test_no_video_body_is_stored_and_the_media_request_is_described() -> None:
    data = yaml.safe_load((FOLDER / "success-reference-videos.yaml").read_text())
    media = data["interactions"][-1]
    assert "/_media/" in media["request"]["uri"]
    assert media["response"]["body"]["string"].startswith("[wan-engine: media body not recorded;")
    assert media["response"]["omitted_body"]["bytes"] > 10_000
    assert len(media["response"]["omitted_body"]["sha256"]) == 64
    assert data["wan_engine"]["media"][0]["sha256"] == media["response"]["omitted_body"]["sha256"]
    for path in CASSETTES:
        assert path.stat().st_size < 200_000
