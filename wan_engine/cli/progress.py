"""How a running job is shown: a live terminal display, plain lines for logs, or JSON for scripts."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from wan_engine.client.events import Completed, Event, Failed, Progress, StatusChanged, Submitted


class ProgressView(Protocol):
    def event(self, event: Event) -> None: ...

    def downloaded(self, done: int, total: int | None) -> None: ...

    def message(self, text: str, **fields: Any) -> None: ...

    def close(self) -> None: ...


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def _write_line(out: TextIO, text: str) -> None:
    """A reader that went away (``| head``) must not turn into errors in a paid job's event loop."""
    try:
        out.write(text + "\n")
        out.flush()
    except BrokenPipeError:
        pass


class _Speed:
    """Download speed over the whole transfer (wall clock: this is for people, not tests)."""

    def __init__(self) -> None:
        self.started: float | None = None

    def rate(self, done: int) -> float:
        """Bytes per second so far; 0 until there is enough of a transfer to measure."""
        now = time.monotonic()
        if self.started is None:
            self.started = now
        elapsed = now - self.started
        return done / elapsed if elapsed > 0.2 else 0.0


class JsonView:
    """One JSON object per line and per event, for scripts."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout  # looked up now, not at import: callers may have redirected it
        self._last_download = -1

    def _write(self, obj: dict[str, Any]) -> None:
        _write_line(self.out, json.dumps(obj, default=str))

    def event(self, event: Event) -> None:
        if isinstance(event, Submitted):
            self._write({"event": "submitted", "job_id": event.job_id, "model": event.model})
        elif isinstance(event, StatusChanged):
            self._write(
                {
                    "event": "status",
                    "job_id": event.job_id,
                    "state": event.state.value,
                    "provider_status": event.provider_status,
                }
            )
        elif isinstance(event, Progress):
            self._write(
                {
                    "event": "progress",
                    "job_id": event.job_id,
                    "elapsed_s": round(event.elapsed_s, 3),
                    "expected_total_s": event.expected_total_s,
                    "fraction": event.fraction,
                    "polls": event.polls,
                }
            )
        elif isinstance(event, Completed):
            self._write({"event": "completed", "job_id": event.job_id, "video_urls": event.result.video_urls})
        elif isinstance(event, Failed):
            self._write({"event": "failed", "job_id": event.job_id, "error": str(event.error)})

    def downloaded(self, done: int, total: int | None) -> None:
        step = 2**20 * 8
        if done == total or done // step != self._last_download // step:
            self._last_download = done
            self._write({"event": "download", "bytes": done, "total": total})

    def message(self, text: str, **fields: Any) -> None:
        self._write({"event": "message", "text": text, **fields})

    def close(self) -> None:
        pass


class PlainView:
    """A line per meaningful event, for logs and pipes (no progress spam)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout  # looked up now, not at import: callers may have redirected it

    def _line(self, text: str) -> None:
        _write_line(self.out, text)

    def event(self, event: Event) -> None:
        if isinstance(event, Submitted):
            self._line(f"submitted {event.model} job {event.job_id}")
        elif isinstance(event, StatusChanged):
            self._line(f"job {event.job_id}: {event.state.value} (provider: {event.provider_status})")
        elif isinstance(event, Completed):
            self._line(f"job {event.job_id}: video at {event.result.video_url}")
        elif isinstance(event, Failed):
            self._line(f"job {event.job_id}: failed")  # the reason is the command's last line, said once

    def downloaded(self, done: int, total: int | None) -> None:
        pass  # the delivery summary line says size and speed once, at the end

    def message(self, text: str, **fields: Any) -> None:
        self._line(text)

    def close(self) -> None:
        pass


WAITING_STATES = frozenset({"submitting", "submitted", "queued", "running"})
"""States in which the clock on screen keeps ticking (a poll may be minutes away under adaptive polling)."""


class LiveView:
    """A live terminal display: state, elapsed and expected remaining time, download bytes and speed.

    The elapsed time is re-computed at every refresh from the last poll's
    figure plus the time since, so it ticks every second even when the next
    poll is minutes away; "remaining" is shown only while the job runs (a
    queue wait says nothing about how long the generation takes).
    """

    def __init__(
        self,
        model: str,
        console: Console | None = None,
        expected_s: float | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console or Console(stderr=False)
        self.model = model
        self.expected_override = expected_s
        self.job_id = "…"
        self.state = "submitting"
        self._now = now
        self._elapsed_at = (0.0, now())
        """(elapsed seconds reported by the last poll, when it was reported)."""
        self.expected: float | None = None
        self.polls = 0
        self.download: tuple[int, int | None, float] | None = None
        self._speed = _Speed()
        self._live = Live(console=self.console, refresh_per_second=4, transient=False, get_renderable=self._render)
        self._live.start()
        self._closed = False

    @property
    def elapsed(self) -> float:
        reported, at = self._elapsed_at
        return reported + (self._now() - at if self.state in WAITING_STATES else 0.0)

    def _render(self) -> Text:
        text = Text()
        text.append(f"{self.model} ", style="bold")
        text.append(f"job {self.job_id}  ")
        text.append(self.state, style="cyan")
        elapsed = self.elapsed
        text.append(f"  elapsed {elapsed:,.0f} s")
        if self.expected and self.state == "running":
            remaining = max(0.0, self.expected - elapsed)
            text.append(f"  expected remaining ~{remaining:,.0f} s (typical {self.expected:,.0f} s)")
        text.append(f"  polls {self.polls}")
        if self.download is not None:
            done, total, rate = self.download
            of = f" / {_mib(total)}" if total else ""
            speed = f"  {_mib(rate)}/s" if rate else ""
            text.append(f"\ndownload {_mib(done)}{of}{speed}")
        return text

    def _refresh(self) -> None:
        if not self._closed:
            self._live.refresh()

    def event(self, event: Event) -> None:
        if isinstance(event, Submitted):
            self.job_id = event.job_id
            self.state = "submitted"
        elif isinstance(event, StatusChanged):
            self._elapsed_at = (self.elapsed, self._now())  # the clock freezes at a terminal state
            self.state = event.state.value
        elif isinstance(event, Progress):
            self._elapsed_at = (event.elapsed_s, self._now())
            self.polls = event.polls
            self.expected = self.expected_override or event.expected_total_s
        elif isinstance(event, Failed):
            self._elapsed_at = (self.elapsed, self._now())
            self.state = "failed"  # the reason is the command's last line, said once
        self._refresh()

    def downloaded(self, done: int, total: int | None) -> None:
        self.download = (done, total, self._speed.rate(done))
        self._refresh()

    def message(self, text: str, **fields: Any) -> None:
        self._live.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._live.stop()


def choose_view(
    model: str, *, as_json: bool, out: TextIO | None = None, expected_s: float | None = None
) -> ProgressView:
    """``expected_s`` overrides the spec's typical duration on screen (a sandbox job takes seconds)."""
    out = out or sys.stdout
    if as_json:
        return JsonView(out)
    if out.isatty():
        return LiveView(model, expected_s=expected_s)
    return PlainView(out)
