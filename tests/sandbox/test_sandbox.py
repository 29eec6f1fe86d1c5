"""The sandbox speaks each provider's protocol from the specs: jobs, errors, auth, media."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from wan_engine.cli.sandbox import sandbox_command
from wan_engine.sandbox import NO_ANSWER, FaultPlan, FaultRule, Sandbox, SandboxConfig, running_in_thread
from wan_engine.sandbox.media import requested_range
from wan_engine.spec.files import bundled_specs_dir
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState

FIXTURE_SPECS = Path(__file__).resolve().parents[1] / "support" / "spec_fixtures" / "extra_specs"
MODEL = "alibaba/wan-2-7-r2v"
KEY = {"Authorization": "Bearer test-key"}
VALID = {"model": MODEL, "prompt": "Video 1 dances.", "video_urls": ["https://example.com/a.mp4"], "duration": 5}

# A provider unlike the bundled one: model in the path, a required fixed header, the id
# in the path, a cancel endpoint, its own error template and status words.
TASKS_PROVIDER: dict[str, Any] = {
    "format_version": 1,
    "kind": "provider",
    "id": "tasks-test",
    "title": "Tasks (sandbox test fixture)",
    "base_url": "https://api.tasks.test",
    "auth": {"scheme": "header", "env": "TASKS_TEST_KEY", "header": "X-Key"},
    "submit": {
        "method": "POST",
        "path": "/models/{model}/tasks",
        "headers": {"X-Async": "enable"},
        "body": {"input": {"$params": "*"}},
    },
    "status": {"method": "GET", "path": "/tasks/{id}"},
    "cancel": {"method": "POST", "path": "/tasks/{id}/cancel"},
    "id_pointer": "/output/task_id",
    "status_pointer": "/output/task_status",
    "statuses": {
        "PENDING": "queued",
        "RUNNING": "running",
        "SUCCEEDED": "succeeded",
        "FAILED": "failed",
        "CANCELED": "cancelled",
    },
    "result": {"video_url": "/output/video_url", "error_message": "/output/message", "error_code": "/output/code"},
    "errors": {
        "message": "/message",
        "code": "/code",
        "schema": {
            "type": "object",
            "required": ["request_id", "code", "message"],
            "properties": {"request_id": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}},
        },
        "template": {"request_id": "{request_id}", "code": "{code}", "message": "{message}"},
    },
    "responses": {
        "status": {
            "type": "object",
            "required": ["output"],
            "properties": {
                "output": {
                    "type": "object",
                    "required": ["task_id", "task_status"],
                    "properties": {"task_id": {"type": "string"}, "video_url": {"type": "string", "format": "uri"}},
                }
            },
        }
    },
}
TASKS_MODEL: dict[str, Any] = {
    "format_version": 1,
    "kind": "model",
    "id": "test/tasks-clip",
    "title": "Clip (sandbox test fixture)",
    "provider": "tasks-test",
    "provider_model": "vendor/clip-1",
    "spec_version": "0.1.0",
    "parameters": {
        "type": "object",
        "additionalProperties": False,
        "required": ["prompt"],
        "properties": {"prompt": {"type": "string", "minLength": 1}},
    },
}
TASKS_HEADERS = {"X-Key": "k", "X-Async": "enable"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> SpecRegistry:
    folder = tmp_path_factory.mktemp("sandbox-specs")
    (folder / "tasks-provider.json").write_text(json.dumps(TASKS_PROVIDER))
    (folder / "tasks-model.json").write_text(json.dumps(TASKS_MODEL))
    return SpecRegistry.from_folders([bundled_specs_dir(), FIXTURE_SPECS, folder])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


StartSandbox = Callable[..., Awaitable[Sandbox]]


@pytest.fixture
async def start(specs: SpecRegistry, clock: FakeClock) -> AsyncIterator[StartSandbox]:
    started: list[Sandbox] = []

    async def start_sandbox(**config: Any) -> Sandbox:
        sandbox = Sandbox(specs, SandboxConfig(clock=clock, **config))
        await sandbox.start()
        started.append(sandbox)
        return sandbox

    yield start_sandbox
    for sandbox in started:
        await sandbox.stop()


@pytest.fixture
async def sb(start: StartSandbox) -> Sandbox:
    return await start(duration_s=10)


async def submit(http: aiohttp.ClientSession, sb: Sandbox, body: Any = VALID, **headers: str) -> tuple[int, Any]:
    async with http.post(f"{sb.base_url('aimlapi')}/v2/video/generations", json=body, headers=headers or KEY) as r:
        return r.status, await r.json()


async def poll(http: aiohttp.ClientSession, sb: Sandbox, job_id: str) -> tuple[int, Any]:
    url = f"{sb.base_url('aimlapi')}/v2/video/generations"
    async with http.get(url, params={"generation_id": job_id}, headers=KEY) as r:
        return r.status, await r.json()


async def test_job_walks_queued_running_succeeded(sb: Sandbox, http: aiohttp.ClientSession, clock: FakeClock) -> None:
    spec = sb.registry.model(MODEL)
    status, created = await submit(http, sb)
    assert status == 200
    assert spec.response_validator("submit").is_valid(created)  # type: ignore[union-attr]
    job_id = created["id"]
    assert len(job_id) == 21 and created["status"] == "queued"
    assert created["meta"]["usage"]["credits_used"] > 0, "the docs put the cost on the submit answer"
    assert sb.jobs[job_id].params == {k: v for k, v in VALID.items() if k != "model"}

    seen = []
    for _ in range(3):
        status, document = await poll(http, sb, job_id)
        assert status == 200 and document["id"] == job_id
        spec.response_validator("status").validate(document)  # type: ignore[union-attr]
        seen.append((spec.provider.engine_state(document["status"]), sb.jobs[job_id].state))
        clock.advance(5)
    assert seen == [(JobState.QUEUED,) * 2, (JobState.RUNNING,) * 2, (JobState.SUCCEEDED,) * 2]
    assert document["video"]["url"].startswith(sb.url + "/")
    assert document["video"]["file_size"] == sb.media_bytes_expected(job_id)
    assert document["meta"] is None, "completed answers carry no cost (the docs' examples show none)"
    assert sb.submissions == {MODEL: 1} and sb.submission_count == 1 and sb.submit_requests == 1


async def test_invalid_parameters_name_every_path_and_create_nothing(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    body = {"model": MODEL, "duration": 7, "negative_prompt": "x" * 501}
    status, error = await submit(http, sb, body)
    assert status == 400
    sb.registry.model(MODEL).response_validator("error").validate(error)  # type: ignore[union-attr]
    assert error["statusCode"] == 400 and error["message"].startswith("Body validation error!")
    for path in ("$.prompt", "$.duration", "$.negative_prompt"):
        assert path in error["message"]
    assert sb.submission_count == 0 and sb.submit_requests == 1 and not sb.jobs


async def test_conditional_rule_is_enforced(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    status, error = await submit(http, sb, {**VALID, "duration": 15})
    assert status == 400 and "$.duration" in error["message"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({}, 401), ({"Authorization": "Basic abc"}, 401), ({"Authorization": "Bearer "}, 401)],
)
async def test_missing_key_is_401(
    sb: Sandbox, http: aiohttp.ClientSession, headers: dict[str, str], expected: int
) -> None:
    url = f"{sb.base_url('aimlapi')}/v2/video/generations"
    async with http.post(url, json=VALID, headers=headers) as r:
        assert r.status == expected
        assert (await r.json())["statusCode"] == expected
    async with http.get(url, params={"generation_id": "x"}, headers=headers) as r:
        assert r.status == expected
    assert sb.submission_count == 0


async def test_configured_key_must_match(start: StartSandbox, http: aiohttp.ClientSession) -> None:
    sb = await start(api_key="secret")
    assert (await submit(http, sb))[0] == 401
    status, document = await submit(http, sb, Authorization="Bearer secret")
    assert status == 200 and "secret" not in json.dumps(document)


async def test_malformed_json_unknown_model_and_unknown_job(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    url = f"{sb.base_url('aimlapi')}/v2/video/generations"
    async with http.post(url, data=b"{not json", headers=KEY) as r:
        assert r.status == 400
    status, error = await submit(http, sb, {**VALID, "model": "nobody/none"})
    assert status == 400 and "nobody/none" in error["message"]
    status, error = await poll(http, sb, "no-such-job")
    assert status == 404 and error["statusCode"] == 404
    assert sb.submission_count == 0 and sb.submit_requests == 2


async def test_ids_are_deterministic_for_a_seed(start: StartSandbox, http: aiohttp.ClientSession) -> None:
    ids = []
    for seed in (7, 7, 8):
        sb = await start(seed=seed)
        ids.append((await submit(http, sb))[1]["id"])
    assert ids[0] == ids[1] != ids[2]


async def test_client_request_id_is_echoed(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    header = sb.registry.providers["aimlapi"].request_id_header
    assert header
    url = f"{sb.base_url('aimlapi')}/v2/video/generations"
    async with http.post(url, json={"model": MODEL}, headers={**KEY, header: "abc-123"}) as r:
        assert r.headers[header] == "abc-123"
        assert (await r.json())["requestId"] == "abc-123"


async def test_request_log(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    job_id = (await submit(http, sb))[1]["id"]
    await poll(http, sb, job_id)
    assert [tuple(entry) for entry in sb.request_log] == [
        ("POST", "/aimlapi/v2/video/generations", 200),
        ("GET", f"/aimlapi/v2/video/generations?generation_id={job_id}", 200),
    ]


async def test_realistic_uses_the_models_typical_duration(start: StartSandbox, http: aiohttp.ClientSession) -> None:
    sb = await start(realistic=True)
    job = sb.jobs[(await submit(http, sb))[1]["id"]]
    assert job.duration_s == sb.registry.model(MODEL).polling.typical_duration_s


# -- a provider with a different shape ------------------------------------------------------


async def test_header_auth_id_in_path_cancel(sb: Sandbox, http: aiohttp.ClientSession, clock: FakeClock) -> None:
    spec = sb.registry.model("test/tasks-clip")
    base = sb.base_url("tasks-test")
    submit_url = f"{base}/models/vendor/clip-1/tasks"
    async with http.post(submit_url, json={"input": {"prompt": "a cat"}}, headers={"X-Key": "k"}) as r:
        assert r.status == 400 and "X-Async" in (await r.json())["message"]
    async with http.post(submit_url, json={"input": {"prompt": "a cat"}}, headers={"X-Async": "enable"}) as r:
        assert r.status == 401
        spec.response_validator("error").validate(await r.json())  # type: ignore[union-attr]
    async with http.post(f"{base}/models/vendor/other/tasks", json={"input": {}}, headers=TASKS_HEADERS) as r:
        assert r.status == 404
    async with http.post(submit_url, json={"input": {"prompt": "a cat"}}, headers=TASKS_HEADERS) as r:
        created = await r.json()
    job_id = created["output"]["task_id"]
    assert created["output"]["task_status"] == "PENDING"
    clock.advance(2)
    async with http.get(f"{base}/tasks/{job_id}", headers=TASKS_HEADERS) as r:
        document = await r.json()
        spec.response_validator("status").validate(document)  # type: ignore[union-attr]
        assert document["output"]["task_status"] == "RUNNING"
    async with http.post(f"{base}/tasks/{job_id}/cancel", headers=TASKS_HEADERS) as r:
        assert r.status == 200 and (await r.json())["output"]["task_status"] == "CANCELED"
    assert sb.jobs[job_id].cancelled and sb.jobs[job_id].state is JobState.CANCELLED
    async with http.post(f"{base}/tasks/{job_id}/cancel", headers=TASKS_HEADERS) as r:
        assert r.status == 409
        spec.response_validator("error").validate(await r.json())  # type: ignore[union-attr]
    assert sb.submissions == {"test/tasks-clip": 1}


async def test_provider_without_templates(sb: Sandbox, http: aiohttp.ClientSession, clock: FakeClock) -> None:
    base = sb.base_url("acme-test")
    body = {"model_name": "acme/keywords-v1", "input": {"prompt": "a cat"}, "parameters": {"mode": "fast"}}
    async with http.post(f"{base}/v1/tasks", json=body, headers={"X-Api-Key": "k"}) as r:
        assert r.status == 200
        created = await r.json()
    assert set(created) == {"task_id", "state"} and created["state"] == "PENDING"
    bad = {**body, "parameters": {"mode": "x"}}
    async with http.post(f"{base}/v1/tasks", json=bad, headers={"X-Api-Key": "k"}) as r:
        assert r.status == 400 and "$.mode" in (await r.json())["error"]
    clock.advance(10)
    async with http.get(f"{base}/v1/tasks/{created['task_id']}", headers={"X-Api-Key": "k"}) as r:
        document = await r.json()
    assert document["state"] == "SUCCEEDED" and document["output"]["video_url"].startswith(sb.url)
    assert sb.jobs[created["task_id"]].params == {"prompt": "a cat", "mode": "fast"}


# -- media ----------------------------------------------------------------------------------


async def finished_job(sb: Sandbox, http: aiohttp.ClientSession, clock: FakeClock) -> tuple[str, str]:
    job_id = (await submit(http, sb))[1]["id"]
    clock.advance(sb.jobs[job_id].duration_s)
    return job_id, (await poll(http, sb, job_id))[1]["video"]["url"]


async def test_media_is_a_real_mp4(sb: Sandbox, http: aiohttp.ClientSession, clock: FakeClock, tmp_path: Path) -> None:
    job_id, url = await finished_job(sb, http, clock)
    async with http.get(url) as r:
        assert r.status == 200 and r.content_type == "video/mp4" and r.headers["Accept-Ranges"] == "bytes"
        data = await r.read()
        assert int(r.headers["Content-Length"]) == len(data) == sb.media_bytes_expected(job_id)
    assert hashlib.sha256(data).hexdigest() == sb.media_sha256(job_id)
    (tmp_path / "out.mp4").write_bytes(data)
    ffprobe = shutil.which("ffprobe")
    assert ffprobe, "ffprobe (from ffmpeg, see the README's set-up) proves the MP4 plays"
    probe = await asyncio.create_subprocess_exec(
        ffprobe, "-v", "error", "-show_format", str(tmp_path / "out.mp4"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await probe.communicate()
    assert probe.returncode == 0 and b"format_name=mov,mp4" in out, err


async def test_media_ranges_and_head(sb: Sandbox, http: aiohttp.ClientSession, clock: FakeClock) -> None:
    _, url = await finished_job(sb, http, clock)
    async with http.get(url) as r:
        full = await r.read()
    size = len(full)
    for header, expected in [("bytes=100-", full[100:]), ("bytes=10-19", full[10:20]), ("bytes=-5", full[-5:])]:
        async with http.get(url, headers={"Range": header}) as r:
            assert r.status == 206 and await r.read() == expected
            start = size - len(expected)
            first = {"bytes=10-19": 10}.get(header, start)
            assert r.headers["Content-Range"] == f"bytes {first}-{first + len(expected) - 1}/{size}"
    async with http.get(url, headers={"Range": f"bytes={size}-"}) as r:
        assert r.status == 416 and r.headers["Content-Range"] == f"bytes */{size}"
    async with http.head(url) as r:
        assert r.status == 200 and int(r.headers["Content-Length"]) == size and await r.read() == b""


async def test_media_before_completion_is_not_found(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{sb.url}/_media/nothing.mp4") as r:
        assert r.status == 404


async def test_result_url_expires(start: StartSandbox, http: aiohttp.ClientSession, clock: FakeClock) -> None:
    sb = await start(result_ttl_s=60)
    _, url = await finished_job(sb, http, clock)
    clock.advance(59)
    async with http.head(url) as r:
        assert r.status == 200
    clock.advance(1)
    async with http.get(url) as r:
        assert r.status == 403 and "expired" in (await r.json())["message"]


async def test_generated_media_streams_the_announced_bytes(
    start: StartSandbox, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    size = 3 * 1024 * 1024 + 12345
    sb = await start(media_size=size)
    job_id, url = await finished_job(sb, http, clock)
    other_id, _ = await finished_job(sb, http, clock)
    digest, received = hashlib.sha256(), 0
    async with http.get(url) as r:
        async for chunk in r.content.iter_chunked(1 << 20):
            digest.update(chunk)
            received += len(chunk)
    assert received == size == sb.media_bytes_expected(job_id)
    assert digest.hexdigest() == sb.media_sha256(job_id) != sb.media_sha256(other_id)
    async with http.get(url, headers={"Range": "bytes=70000-"}) as r:
        tail = await r.read()
    async with http.get(url, headers={"Range": "bytes=0-69999"}) as r:
        head = await r.read()
    assert hashlib.sha256(head + tail).hexdigest() == sb.media_sha256(job_id)


def test_range_parsing() -> None:
    assert requested_range(None, 10) is None
    assert requested_range("bytes=0-1,4-5", 10) is None
    assert requested_range("items=0-1", 10) is None
    assert requested_range("bytes=5-2", 10) is None
    range_ = requested_range("bytes=2-100", 10)
    assert range_ is not None and (range_.start, range_.stop) == (2, 10)


# -- running outside a test's event loop -----------------------------------------------------


def test_running_in_thread(specs: SpecRegistry) -> None:
    with running_in_thread(specs, SandboxConfig(duration_s=0)) as sb:
        request = urllib.request.Request(
            f"{sb.base_url('aimlapi')}/v2/video/generations",
            data=json.dumps(VALID).encode(), headers={**KEY, "Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.load(response)["status"] == "completed"
    assert sb.submission_count == 1


def test_command_rejects_a_bad_fault() -> None:
    result = CliRunner().invoke(sandbox_command, ["--fault", "status:job_fails"])
    assert result.exit_code == 2 and "job_fails" in result.output


@pytest.mark.e2e
def test_command_serves_announces_and_stops_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", "from wan_engine.cli.sandbox import sandbox_command; sandbox_command()",
         "--port", "0", "--api-key", "k", "--fault", "status:slow:delay=0.01"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        url = lines[0].split(" listening on ")[1].split()[0]
        with urllib.request.urlopen(f"{url}/aimlapi/v2/video/generations?generation_id=x", timeout=5) as response:
            raise AssertionError(f"expected 401, got {response.status}")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    assert url.startswith("http://127.0.0.1:")
    assert lines[1].strip() == f"aimlapi: base URL {url}/aimlapi"
    assert lines[2].strip() == "export AIMLAPI_KEY=k"


async def test_dropped_answer_is_logged_without_status(start: StartSandbox, http: aiohttp.ClientSession) -> None:
    sb = await start(faults=FaultPlan((FaultRule("submit", "reset_before"),)))
    with pytest.raises(aiohttp.ClientConnectionError):
        await submit(http, sb)
    await asyncio.sleep(0)
    assert sb.request_log[-1].status == NO_ANSWER
