"""Who holds a lease: an owner id that also tells whether its process is still alive.

A lease normally ends when it expires. But after a crash the common case is
the same machine restarting at once, and waiting out a long lease there
would only delay delivery of results whose URLs are expiring. The owner id
carries host and pid, so a process on the same host can see that the holder
is dead and take over at once; on other hosts only expiry counts.
"""

from __future__ import annotations

import os
import socket
import uuid


def new_owner() -> str:
    """``host/pid/nonce``: unique per process start, so pid reuse cannot pass for the old holder."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


def is_dead(owner: str) -> bool:
    """True only when the owner certainly is a process of this host that no longer runs."""
    host, _, rest = owner.partition("/")
    pid_text = rest.partition("/")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed child not yet reaped by its parent still has a pid; it will never renew a lease."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return False
