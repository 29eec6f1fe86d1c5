"""``wan-engine generate`` end to end, through the installed entry point, against the in-process sandbox."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MODEL = "alibaba/wan-2-7-r2v"


def wan_engine(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("wan-engine")
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "wan_engine.cli.main"]
    base_env = {k: v for k, v in os.environ.items() if k != "AIMLAPI_KEY"}
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=120, env={**base_env, **(env or {})}, cwd=cwd
    )


def test_help_lists_every_parameter_with_allowed_values_and_defaults() -> None:
    done = wan_engine("generate", MODEL, "--help")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    for option in (
        "--prompt",
        "--first-frame-image",
        "--image-url",
        "--video-url",
        "--aspect-ratio",
        "--resolution",
        "--duration",
        "--enhance-prompt / --no-enhance-prompt",
        "--negative-prompt",
        "--seed",
        "--watermark / --no-watermark",
    ):
        assert option in text
    assert "[16:9|9:16|1:1|4:3|3:4]" in text and 'default: "16:9"' in text
    assert "[720p|1080p]" in text and 'default: "1080p"' in text
    assert "[5|10|15]" in text and "default: 10" in text
    assert "max length 500" in text and "at most 5 (repeatable)" in text


@pytest.mark.e2e
def test_sandbox_generation_writes_a_playable_mp4_and_its_sidecar(tmp_path: Path) -> None:
    out = tmp_path / "videos"
    done = wan_engine(
        "generate",
        MODEL,
        "--prompt",
        "a paper boat",
        "--video-url",
        "https://example.com/ref.mp4",
        "--duration",
        "5",
        "--sandbox",
        "--sandbox-duration",
        "1",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "queued" in done.stdout and "running" in done.stdout and "succeeded" in done.stdout
    videos = list(out.rglob("*.mp4"))
    assert len(videos) == 1
    sidecar = json.loads(videos[0].with_name(videos[0].name + ".json").read_text())
    assert sidecar["model"] == MODEL and sidecar["parameters"]["duration"] == 5
    assert sidecar["sha256"] in done.stdout
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]
    ffprobe = shutil.which("ffprobe")
    assert ffprobe, "ffprobe is needed to prove the MP4 plays (.ci/run installs ffmpeg)"
    probe = subprocess.run(
        [ffprobe, "-v", "error", "-show_entries", "format=format_name,duration", "-of", "json", str(videos[0])],
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(json.loads(probe.stdout)["format"]["duration"]) > 0


def test_json_mode_prints_one_object_per_event() -> None:
    done = wan_engine("generate", MODEL, "--prompt", "x", "--sandbox", "--sandbox-duration", "0.5", "--json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "submitted" and "completed" in kinds
    assert [e["state"] for e in events if e["event"] == "status"] == ["queued", "running", "succeeded"]


def test_invalid_parameters_are_listed_before_anything_is_sent() -> None:
    done = wan_engine(
        "generate",
        MODEL,
        "--prompt",
        "x",
        *[arg for i in range(6) for arg in ("--image-url", f"https://e.com/{i}.png")],
        "--negative-prompt",
        "n" * 501,
        "--sandbox",
    )
    assert done.returncode == 1
    assert "$.image_urls" in done.stderr and "$.negative_prompt" in done.stderr
    assert "nothing was sent" in done.stderr


def test_without_a_key_it_says_so_and_offers_the_sandbox() -> None:
    done = wan_engine("generate", MODEL, "--prompt", "x")
    assert done.returncode == 2
    assert "AIMLAPI_KEY" in done.stderr and "--sandbox" in done.stderr


@pytest.mark.parametrize("bad", ["--duration=7", "--aspect-ratio=2:1"])
def test_enum_options_refuse_values_outside_the_spec(bad: str) -> None:
    done = wan_engine("generate", MODEL, "--prompt", "x", bad, "--sandbox")
    assert done.returncode == 2 and "Invalid value" in done.stderr


def test_a_journaled_generation_shows_in_jobs_and_status_after_it_ends(tmp_path: Path) -> None:
    journal = tmp_path / "jobs.sqlite"
    out = tmp_path / "videos"
    done = wan_engine("generate", MODEL, "--prompt", "x", "--sandbox", "--sandbox-duration", "0.5",
                      "--journal", str(journal), "--out", str(out))
    assert done.returncode == 0, done.stderr
    listed = wan_engine("jobs", "--journal", str(journal), "--json")
    assert listed.returncode == 0, listed.stderr
    [job] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert job["model"] == MODEL
    assert "delivered" in json.dumps(job)
    video = next(out.rglob("*.mp4"))
    status = wan_engine("status", job["key"], "--journal", str(journal), "--json")
    assert status.returncode == 0, status.stderr
    assert str(video) in status.stdout


@pytest.mark.e2e
def test_a_real_run_is_journaled_by_default_and_ctrl_c_leaves_it_resumable(tmp_path: Path) -> None:
    """Against an API at --base-url (a sandbox in a thread here): journaled without asking, and an
    interrupt says how to pick the job up, which ``wan-engine resume`` then does."""
    import signal
    import time

    from wan_engine.sandbox import SandboxConfig, running_in_thread
    from wan_engine.spec.registry import SpecRegistry

    journal = tmp_path / "journal.sqlite3"
    env = {"AIMLAPI_KEY": "k", "WAN_ENGINE_JOURNAL": str(journal)}
    with running_in_thread(SpecRegistry.discover(), SandboxConfig(duration_s=4.0)) as sandbox:
        executable = Path(sys.executable).with_name("wan-engine")
        process = subprocess.Popen(
            [str(executable), "generate", MODEL, "--prompt", "x", "--base-url", sandbox.base_url("aimlapi"),
             "--strategy", "exponential", "--out", str(tmp_path / "videos")],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **env},
        )
        deadline = time.monotonic() + 30
        while sandbox.submission_count == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 130, err
        assert "keeps running" in out + err and "wan-engine resume" in out + err
        [job_id] = list(sandbox.jobs)
        listed = wan_engine("jobs", "--json", env=env)
        [record] = [json.loads(line) for line in listed.stdout.splitlines()]
        assert record["provider_id"] == job_id
        resumed = wan_engine(
            "resume", "--base-url", f"aimlapi={sandbox.base_url('aimlapi')}", "--strategy", "exponential", env=env
        )
        assert resumed.returncode == 0, resumed.stderr
        assert sandbox.submission_count == 1
    assert len(list((tmp_path / "videos").rglob("*.mp4"))) == 1


@pytest.mark.e2e
def test_on_a_terminal_a_live_display_shows_state_time_and_download(tmp_path: Path) -> None:
    import pty

    primary, secondary = pty.openpty()
    executable = Path(sys.executable).with_name("wan-engine")
    process = subprocess.Popen(
        [str(executable), "generate", MODEL, "--prompt", "x", "--sandbox", "--sandbox-duration", "1",
         "--out", str(tmp_path)],
        stdin=secondary, stdout=secondary, stderr=secondary, env={**os.environ, "COLUMNS": "200"},
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed: the command has exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert process.wait(timeout=60) == 0
    screen = b"".join(chunks).decode(errors="replace")
    assert "running" in screen and "succeeded" in screen
    assert "elapsed" in screen and "expected remaining" in screen and "download 0.1 MiB / 0.1 MiB" in screen
    assert "sha256" in screen


@pytest.mark.e2e
def test_a_misspelt_strategy_is_refused_before_any_request(tmp_path: Path) -> None:
    """Port 9 on loopback refuses connections: had anything been sent, the error would be a network one."""
    named = "no strategy plugin named 'fixd'"
    done = wan_engine(
        "generate", MODEL, "--prompt", "x", "--strategy", "fixd", "--out", str(tmp_path), "--no-journal",
        "--base-url", "http://127.0.0.1:9", env={"AIMLAPI_KEY": "sk-test-1234567890"},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert named in done.stderr and "Traceback" not in done.stderr
    assert "connect" not in done.stderr.lower() and "submit" not in done.stderr.lower()
