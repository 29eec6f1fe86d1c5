"""Kill points for crash tests: ``crashpoint("name")`` is a no-op unless a test arms it.

The journal's promises (no job paid for twice, each sink served once) are
about what survives a process dying at an arbitrary instruction. The only
honest test is to kill a real process at the dangerous places, so the engine
calls ``crashpoint`` there. Arm one with the environment variable
``WAN_ENGINE_CRASH_AT=name:n``: the n-th time (1-based) the process reaches
``name`` it sends itself SIGKILL, which no ``finally`` or ``atexit`` can soften.
Unset (always, outside tests) it costs one dictionary lookup.

``WAN_ENGINE_CRASH_COUNT=path`` instead appends every point reached to
``path`` (one name a line), so a harness can learn how often each point is
hit in a run and enumerate kill points from that.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "WAN_ENGINE_CRASH_AT"
COUNT_ENV = "WAN_ENGINE_CRASH_COUNT"

POINTS = (
    "submit.before_send",
    "submit.after_response",
    "submit.after_journal",
    "poll.progress",
    "poll.before_terminal_journal",
    "poll.after_terminal_journal",
    "download.chunk",
    "sink.before_commit",
    "sink.after_commit",
    "sink.delivered",
    "notify.before",
    "job.delivered",
)
"""Every name the engine passes to ``crashpoint``, in the order a job reaches them."""

_armed: tuple[str, str, int] | None = None
_hits: Counter[str] = Counter()


def _arming() -> tuple[str, int] | None:
    """The armed (point, n) for the current environment; re-read when the variable changes (forked children)."""
    global _armed
    raw = os.environ.get(ENV)
    if not raw:
        return None
    if _armed is None or _armed[0] != raw:
        name, _, count = raw.rpartition(":")
        if not name or not count.isdigit() or int(count) < 1:
            raise ValueError(f"{ENV} must look like point:n with n >= 1, got {raw!r}")
        _hits.clear()
        _armed = (raw, name, int(count))
    return _armed[1], _armed[2]


def crashpoint(name: str) -> None:
    """Die here (SIGKILL, no clean-up) if this is the armed point's n-th hit; else do nothing."""
    count_file = os.environ.get(COUNT_ENV)
    if count_file:
        with open(count_file, "a", encoding="utf-8") as handle:
            handle.write(name + "\n")
    arming = _arming()
    if arming is None or arming[0] != name:
        return
    _hits[name] += 1
    if _hits[name] == arming[1]:
        os.kill(os.getpid(), signal.SIGKILL)
