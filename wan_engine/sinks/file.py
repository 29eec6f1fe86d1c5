"""The local file sink: a video appears under its root complete, or not at all, and never outside it.

Bytes go to a hidden temporary file in the destination folder (the same file
system, so the final move is a rename), which is fsynced and only then moved
into place: a reader, a crash or a failed delivery never sees half a video.
Without ``overwrite`` the move is a hard link, which fails atomically if the
name was taken meanwhile; with it, a rename. A JSON sidecar next to the
video records its provenance, written the same way.

Everything under the root goes through directory handles (``openat``-style
``dir_fd`` calls, each folder opened with ``O_NOFOLLOW``): the folder is
opened once, before the first byte, and the temporary file, the publish,
the sidecar and the folder fsync all act on that handle. A folder swapped
for a symlink during the delivery therefore cannot send the video outside
the root, and no symlink under the root is ever followed (the root itself
may be one: it is the user's choice).

Speed: chunks go to one worker thread per file through a bounded queue
(:mod:`~wan_engine.sinks.write_behind`), so writing overlaps the next read,
and the file's dirty pages are written back as it grows
(:mod:`~wan_engine.sinks.writeback`), so the fsync at commit is short.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fnmatch
import glob
import json
import os
import secrets
import stat
import weakref
from pathlib import Path, PurePosixPath
from typing import Any

import attrs

from wan_engine.errors import PathTemplateError, SinkError
from wan_engine.sinks.path_template import DEFAULT_TEMPLATE, check_template, render, template_fields
from wan_engine.sinks.protocols import DeliverySummary, SinkContext
from wan_engine.sinks.write_behind import WriteBehind
from wan_engine.sinks.writeback import Writeback

SIDECAR_SUFFIX = ".json"
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _temp_name(final: str) -> str:
    return f".{final}.{secrets.token_hex(4)}.part"


def _open_folders(root: Path, relative: PurePosixPath) -> tuple[int, Path]:
    """A handle on the destination folder, creating folders on the way and following no symlink.

    Returns the handle and the folder's path (for messages and the location).
    """
    try:
        fd = os.open(root, _DIR_FLAGS)
    except FileNotFoundError:
        raise PathTemplateError(f"root folder {root} does not exist") from None
    except NotADirectoryError:
        raise PathTemplateError(f"root {root} is not a folder") from None
    path = Path(os.path.realpath(root))
    try:
        for part in relative.parts[:-1]:
            with contextlib.suppress(FileExistsError):  # concurrent deliveries race to make {date}
                os.mkdir(part, dir_fd=fd)
            try:
                child = os.open(part, _DIR_FLAGS | _NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                info = os.stat(part, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    raise PathTemplateError(
                        f"{path / part} is a symlink, which could lead outside the sink root: "
                        "the file sink follows no symlink under its root"
                    ) from None
                if exc.errno == errno.ENOTDIR or not stat.S_ISDIR(info.st_mode):
                    raise PathTemplateError(f"{path / part} exists and is not a folder") from None
                raise
            os.close(fd)
            fd, path = child, path / part
    except BaseException:
        os.close(fd)
        raise
    return fd, path


def _exists(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _publish(temp: str, final: str, dir_fd: int, *, overwrite: bool) -> None:
    """Move a finished temporary file to its name; without overwrite, never replace an existing file."""
    if overwrite:
        os.replace(temp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return
    try:
        # atomic "create if absent": no window for another writer
        os.link(temp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename
        if _exists(final, dir_fd) is not None:
            raise FileExistsError(final) from None
        os.replace(temp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    else:
        os.unlink(temp, dir_fd=dir_fd)


def _write_atomically(name: str, data: bytes, dir_fd: int, *, overwrite: bool) -> None:
    temp = _temp_name(name)
    fd = os.open(temp, _NEW_FILE, 0o666, dir_fd=dir_fd)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        _publish(temp, name, dir_fd, overwrite=overwrite)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=dir_fd)


def _remove_stale_parts(name: str, dir_fd: int) -> None:
    pattern = f".{glob.escape(name)}.*.part"
    for entry in os.listdir(dir_fd):
        if fnmatch.fnmatchcase(entry, pattern):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry, dir_fd=dir_fd)


def remove_stale_parts(final: Path) -> None:
    """Temporary files a killed process left for this very video: a new attempt replaces them.

    Only one writer works on a job at a time (the journal's lease), so any
    ``.NAME.*.part`` next to the destination is an orphan, never a live write.
    """
    try:
        fd = os.open(final.parent, _DIR_FLAGS)
    except FileNotFoundError:
        return
    try:
        _remove_stale_parts(final.name, fd)
    finally:
        os.close(fd)


@attrs.frozen
class FileSink:
    """Writes each video to ``root/template`` (see path_template.py for the fields).

    ``queue_depth`` chunks at most wait for the disk (memory: that many
    chunks of the download's chunk size); ``writeback_window`` is how many
    bytes are written before their writeback to the disk is started.
    """

    root: Path = attrs.field(converter=Path)
    template: str = attrs.field(default=DEFAULT_TEMPLATE, validator=lambda _s, _a, v: check_template(v))
    overwrite: bool = False
    sidecar: bool = True
    name: str = "file"
    queue_depth: int = 4
    writeback_window: int = 8 * 1024 * 1024

    async def open(self, ctx: SinkContext) -> FileWriter:
        relative = render(self.template, template_fields(ctx.provenance, ctx.ext))
        try:
            dir_fd, folder, temp, fd = await asyncio.to_thread(self._prepare, relative)
        except (PathTemplateError, OSError) as exc:
            raise SinkError(self.name, str(exc)) from exc
        writer = FileWriter(self, folder / relative.name, temp, fd, dir_fd)
        writer.start()
        return writer

    def _prepare(self, relative: PurePosixPath) -> tuple[int, Path, str, int]:
        dir_fd, folder = _open_folders(self.root, relative)
        try:
            final = relative.name
            existing = _exists(final, dir_fd)
            if existing is not None and stat.S_ISLNK(existing.st_mode):
                # a rename would swap the link itself, but a reader following it would be fooled: refuse.
                raise PathTemplateError(f"{folder / final} is a symlink; the sink writes only regular files")
            if existing is not None and not self.overwrite:
                raise FileExistsError(f"{folder / final} exists (pass overwrite=True to replace it)")
            _remove_stale_parts(final, dir_fd)
            temp = _temp_name(final)
            fd = os.open(temp, _NEW_FILE, 0o666, dir_fd=dir_fd)
        except BaseException:
            os.close(dir_fd)
            raise
        return dir_fd, folder, temp, fd


@attrs.define
class FileWriter:
    sink: FileSink
    final: Path
    temp: str
    """The temporary file's name in the destination folder (``dir_fd``)."""
    _fd: int | None
    _dir_fd: int | None
    _committed: bool = False
    _worker: WriteBehind | None = None
    _writeback: Writeback | None = None
    _close_dir: weakref.finalize[Any, Any] | None = None

    def start(self) -> None:
        assert self._fd is not None and self._dir_fd is not None
        # The folder handle outlives the commit (an abort after it must still undo it): closed when
        # the writer is aborted, or when it is dropped.
        self._close_dir = weakref.finalize(self, os.close, self._dir_fd)
        self._writeback = Writeback(self._fd, window=self.sink.writeback_window)
        self._worker = WriteBehind(self._write_all, depth=self.sink.queue_depth, name="wan-engine-file-writer")

    async def write(self, chunk: bytes) -> None:
        assert self._worker is not None, "write before start"
        try:
            await self._worker.submit(chunk)
        except OSError as exc:
            raise SinkError(self.sink.name, f"could not write {self.final}: {exc}") from exc

    def _write_all(self, chunk: bytes) -> None:
        """On the worker thread: the whole chunk to the file, then its writeback if a window filled."""
        assert self._fd is not None and self._writeback is not None, "write after commit or abort"
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view) :]
        self._writeback.wrote(len(chunk))

    async def commit(self, summary: DeliverySummary) -> str:
        assert self._worker is not None, "commit before start"
        try:
            await self._worker.finish(lambda: self._commit(summary))
        except OSError as exc:
            raise SinkError(self.sink.name, f"could not write {self.final}: {exc}") from exc
        self._committed = True
        return str(self.final)

    def _commit(self, summary: DeliverySummary) -> None:
        assert self._fd is not None and self._dir_fd is not None, "commit after commit or abort"
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        name = self.final.name
        _publish(self.temp, name, self._dir_fd, overwrite=self.sink.overwrite)
        if self.sink.sidecar:
            document = {**summary.as_dict(), "file": name}
            document.pop("locations", None)
            data = (json.dumps(document, indent=2, sort_keys=True, default=str) + "\n").encode()
            try:
                _write_atomically(name + SIDECAR_SUFFIX, data, self._dir_fd, overwrite=True)
            except OSError:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=self._dir_fd)  # a video without its provenance is not delivered
                raise
        os.fsync(self._dir_fd)  # the renames are durable only once the folder entry is on the disk

    @property
    def sidecar_path(self) -> Path:
        return self.final.with_name(self.final.name + SIDECAR_SUFFIX)

    async def abort(self) -> None:
        if self._worker is not None:
            await self._worker.cancel(self._abort)
        else:
            await asyncio.to_thread(self._abort)

    def _abort(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self._dir_fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp, dir_fd=self._dir_fd)
        if self._committed:  # a later sink failed: the delivery is all or nothing
            for name in (self.final.name, self.final.name + SIDECAR_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=self._dir_fd)
            self._committed = False
        if self._close_dir is not None:
            self._close_dir()
        else:
            os.close(self._dir_fd)
        self._dir_fd = None
