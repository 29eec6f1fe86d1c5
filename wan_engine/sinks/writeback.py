"""Dirty pages written back while a file grows, so its final fsync has almost nothing left to do.

A 1 GiB video written into the page cache and fsynced once at the end makes
the commit wait ~0.5 s for the whole file, and leaves a gigabyte of dirty
pages competing with everything else. Instead, every ``window`` bytes the
writer asks the kernel to start writing back the window just filled
(``sync_file_range(SYNC_FILE_RANGE_WRITE)``, which does not wait) and waits
for the window before it, which has had a full window's time to reach the
disk; those pages are then dropped from the cache (``POSIX_FADV_DONTNEED``):
the video is not read back here, and a cache full of it would evict pages
others need.

``sync_file_range`` is Linux's; Python does not wrap it, so it is called
through ctypes. Elsewhere (or if the call is refused, e.g. on a file system
that does not support it) the fallback is ``fdatasync`` every few windows:
the same bound on dirty data, paid in the writer's own thread. None of this
replaces the final fsync, which is what makes the file durable: it only
makes that fsync short.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable

_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE = _load_sync_file_range()


class Writeback:
    """Tracks how far a file has been written and pushes it to the disk window by window.

    Called from the one thread that writes the file (not thread-safe, by design).
    """

    def __init__(self, fd: int, *, window: int = 8 * 1024 * 1024, use_sync_file_range: bool = True) -> None:
        self.fd = fd
        self.window = window
        self.written = 0
        self.started = 0  # bytes [0, started) have had their writeback started
        self.settled = 0  # bytes [0, settled) are on the disk and out of the cache
        self._sync_file_range = _SYNC_FILE_RANGE if use_sync_file_range else None
        self.fallback_syncs = 0

    def wrote(self, count: int) -> None:
        """Record ``count`` more bytes written at the end of the file; start writeback when a window fills."""
        self.written += count
        if self.written - self.started < self.window:
            return
        if self._sync_file_range is not None and self._range_sync():
            return
        if self.written - self.settled >= 4 * self.window:
            os.fdatasync(self.fd)
            self.fallback_syncs += 1
            self._drop_cache(self.settled, self.written)
            self.settled = self.started = self.written
        else:
            self.started = self.written

    def _range_sync(self) -> bool:
        assert self._sync_file_range is not None
        if self._sync_file_range(self.fd, self.started, self.written - self.started, _WRITE) != 0:
            self._sync_file_range = None  # not supported here: fall back for the rest of this file
            return False
        if self.started > self.settled:  # the previous window has been on its way for a whole window
            flags = _WAIT_BEFORE | _WRITE | _WAIT_AFTER
            if self._sync_file_range(self.fd, self.settled, self.started - self.settled, flags) != 0:
                self._sync_file_range = None
                return False
            self._drop_cache(self.settled, self.started)
            self.settled = self.started
        self.started = self.written
        return True

    def _drop_cache(self, start: int, end: int) -> None:
        if hasattr(os, "posix_fadvise") and end > start:
            with contextlib.suppress(OSError):  # advice only
                os.posix_fadvise(self.fd, start, end - start, os.POSIX_FADV_DONTNEED)
