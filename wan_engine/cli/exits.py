"""The ``wan-engine`` exit codes, in one place so every command and the help text agree.

A CI step runs ``wan-engine contract check`` or ``wan-engine spec lint`` and
trusts the exit code, so each code means one thing across all commands.
"""

from __future__ import annotations

OK = 0
"""Everything asked for was done."""
CHECK_FAILED = 1
"""A check found problems: invalid parameters, spec lint findings, a broken cassette contract."""
USAGE = 2
"""The command could not start: a bad option, a missing or unreadable file, a bad journal, a port in use."""
JOB_FAILED = 3
"""A job failed, was cancelled, timed out, or (resume) could not be advanced; a delivery failed."""
DRIFT_NOTABLE = 4
"""``contract diff``: the recordings differ in notable ways (new fields or statuses), nothing breaking."""
DRIFT_INFORMATIONAL = 5
"""``contract diff``: only informational differences (timing, URL lifetime)."""
INTERNAL = 70
"""A bug in wan-engine (EX_SOFTWARE): the message says how to see the traceback."""
INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT)."""

EPILOG = (
    "Exit codes: 0 ok; 1 a check failed (invalid parameters, lint or contract breaches); "
    "2 usage or configuration error (bad option, missing file, bad journal, port in use); "
    "3 a job failed or could not be advanced (generate, resume); "
    "4/5 contract diff found only notable/informational drift (breaking drift is 1); "
    "70 internal error; 130 interrupted."
)
