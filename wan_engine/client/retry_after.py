"""Reading Retry-After, which servers send as seconds or as an HTTP date, within sane bounds.

Any answer may carry the header (200 status answers included), and a provider's
value steers our next request: ``10^9`` would put the next poll 31 years away and
``1e309`` is infinite. Values that are negative, not finite or beyond
``MAX_RETRY_AFTER_S`` are ignored (our own backoff applies) with a log line.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from email.utils import parsedate_to_datetime

log = logging.getLogger("wan_engine.client.retry_after")

MAX_RETRY_AFTER_S = 3600.0
"""An hour: longer than any provider's documented back-off; a larger value is a bug or hostile."""


def parse_retry_after(value: str | None, now: datetime, *, ceiling_s: float = MAX_RETRY_AFTER_S) -> float | None:
    """Seconds to wait, or None when the header is absent, unreadable or absurd (then our own backoff applies)."""
    if not value:
        return None
    value = value.strip()
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _from_date(value, now)
        if seconds is None:
            log.info("ignoring an unreadable Retry-After %r", value[:40])
            return None
        seconds = max(0.0, seconds)  # a date in the past: ask now
    if not math.isfinite(seconds) or seconds < 0 or seconds > ceiling_s:
        log.warning("ignoring Retry-After %r: not between 0 and %g seconds", value[:40], ceiling_s)
        return None
    return seconds


def _from_date(value: str, now: datetime) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    try:
        return (when - now).total_seconds()
    except OverflowError:
        return None
