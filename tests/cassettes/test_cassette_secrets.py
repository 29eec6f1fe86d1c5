"""No credential reaches a cassette: request and response, headers, query strings, bodies, provenance."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from click.testing import CliRunner
from support.local_server import serving

from wan_engine.cassettes import read_cassette, record_session, replay_session
from wan_engine.cassettes.scrubbing import Scrubber, scrub_url_query
from wan_engine.cli.harness import harness
from wan_engine.clock import VirtualClock
from wan_engine.spec.registry import SpecRegistry

MODEL = "alibaba/wan-2-7-r2v"
SECRET = "sk-live-SECRET-7f3a9c1e5b2d8f60-do-not-leak"
PARAMS = {"prompt": "Video 1 dances", "video_urls": ["https://example.com/ref.mp4"], "duration": 5}


def assert_no_secret(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for spelling in (SECRET, quote(SECRET, safe=""), "SECRET-7f3a9c1e5b2d8f60"):
        assert spelling not in text, f"{spelling!r} leaked into {path}"


def test_a_sandbox_recording_keeps_the_key_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMLAPI_KEY", SECRET)
    params = tmp_path / "p.json"
    params.write_text(json.dumps(PARAMS))
    result = CliRunner().invoke(
        harness,
        ["record", MODEL, "--params", str(params), "--name", "secret", "--cassettes", str(tmp_path), "--sandbox",
         "--duration", "60", "--download", "--fault", "status:rate_limit:times=1"],
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / MODEL / "secret.yaml"
    assert_no_secret(path)
    assert "Bearer <filtered>" in path.read_text()
    assert SECRET not in result.output


@pytest.fixture
async def echoing_api() -> AsyncIterator[str]:
    """A hostile stand-in for the provider that echoes the key everywhere it can."""

    async def submit(request: web.Request) -> web.Response:
        auth = request.headers["Authorization"]
        document = {"id": "echo-1", "status": "queued", "video": None, "error": None, "meta": None, "seen": auth}
        return web.json_response(document, headers={"X-Echo-Authorization": auth, "Set-Cookie": f"s={SECRET}"})

    async def status(request: web.Request) -> web.Response:
        url = f"{request.url.origin()}/media.mp4?key={quote(SECRET)}&token={SECRET}&size=1"
        document = {
            "id": request.query["generation_id"], "status": "completed", "video": {"url": url}, "error": None,
            "meta": None, "note": f"accepted key {SECRET}",
        }
        return web.json_response(document, headers={"X-Debug": f"key={SECRET}"})

    async def media(_request: web.Request) -> web.Response:
        return web.Response(body=b"not really a video " + SECRET.encode(), content_type="video/mp4")

    app = web.Application()
    app.router.add_post("/v2/video/generations", submit)
    app.router.add_get("/v2/video/generations", status)
    app.router.add_get("/media.mp4", media)
    async with serving(app) as base:
        yield base


async def test_a_server_echoing_the_key_everywhere_leaks_nothing(
    echoing_api: str, tmp_path: Path, registry: SpecRegistry
) -> None:
    path = tmp_path / "echo.yaml"
    recording = await record_session(
        registry, MODEL, {**PARAMS, "negative_prompt": f"ignore {SECRET}"}, path, base_url=echoing_api,
        api_key=SECRET, source="hand-written", download=True, clock=VirtualClock(),
    )
    assert recording.outcome.kind == "succeeded"
    assert_no_secret(path)
    document = read_cassette(path)
    media = document.interactions[-1]
    assert "key=FILTERED" in media["request"]["uri"] and "token=FILTERED" in media["request"]["uri"]
    assert document.provenance.outcome["video_url"] == media["request"]["uri"]  # type: ignore[index]
    headers = document.interactions[0]["response"]["headers"]
    assert headers["X-Echo-Authorization"] == ["Bearer <filtered>"] and headers["Set-Cookie"] == ["<filtered>"]
    replayed = await replay_session(path, registry)
    assert replayed.video_url == media["request"]["uri"]


def test_the_scrubber_handles_every_spelling() -> None:
    scrubber = Scrubber([SECRET, None, "abc"])  # too-short values are ignored, not blanked everywhere
    assert scrubber.text(f'{{"k": "{SECRET}"}}') == '{"k": "<filtered>"}'
    assert scrubber.data({"a": [SECRET, {"b": quote(SECRET, safe="")}], "abc": 1}) == {
        "a": ["<filtered>", {"b": "<filtered>"}], "abc": 1,
    }
    assert scrubber.header_value("authorization", "Bearer x") == "Bearer <filtered>"
    assert scrubber.header_value("X-Api-Key", "x") == "<filtered>"
    assert scrub_url_query("https://u:p@cdn.example/v.mp4?X-Amz-Signature=abc&a=1") == (
        "https://FILTERED@cdn.example/v.mp4?X-Amz-Signature=FILTERED&a=1"
    )
    assert scrubber.body_bytes(b"\xff\x00" + SECRET.encode()) == b"\xff\x00<filtered>"
