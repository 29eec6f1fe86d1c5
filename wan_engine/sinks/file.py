"""The local file sink: a video appears under its root complete, or not at all.

Bytes go to a hidden temporary file in the destination folder (the same file
system, so the final move is a rename), which is fsynced and only then moved
into place: a reader, a crash or a failed delivery never sees half a video.
Without ``overwrite`` the move is a hard link, which fails atomically if the
name was taken meanwhile; with it, ``os.replace``. A JSON sidecar next to the
video records its provenance, written the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import tempfile
from pathlib import Path, PurePosixPath

import attrs

from wan_engine.errors import PathTemplateError, SinkError
from wan_engine.sinks.path_template import DEFAULT_TEMPLATE, check_template, render, resolve_under, template_fields
from wan_engine.sinks.protocols import DeliverySummary, SinkContext

SIDECAR_SUFFIX = ".json"


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable: the folder entry itself must reach the disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, data: bytes, *, overwrite: bool) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _publish(Path(temp), path, overwrite=overwrite)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def _publish(temp: Path, final: Path, *, overwrite: bool) -> None:
    """Move a finished temporary file to its name; without overwrite, never replace an existing file."""
    if overwrite:
        os.replace(temp, final)
        return
    try:
        os.link(temp, final)  # atomic "create if absent": no window for another writer
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename
        if final.exists():
            raise FileExistsError(str(final)) from None
        os.replace(temp, final)
    else:
        os.unlink(temp)


@attrs.frozen
class FileSink:
    """Writes each video to ``root/template`` (see path_template.py for the fields)."""

    root: Path = attrs.field(converter=Path)
    template: str = attrs.field(default=DEFAULT_TEMPLATE, validator=lambda _s, _a, v: check_template(v))
    overwrite: bool = False
    sidecar: bool = True
    name: str = "file"

    async def open(self, ctx: SinkContext) -> FileWriter:
        relative = render(self.template, template_fields(ctx.provenance, ctx.ext))
        try:
            final = await asyncio.to_thread(self._prepare, relative)
        except (PathTemplateError, OSError) as exc:
            raise SinkError(self.name, str(exc)) from exc
        fd, temp = await asyncio.to_thread(
            tempfile.mkstemp, dir=final.parent, prefix=f".{final.name}.", suffix=".part"
        )
        return FileWriter(self, final, Path(temp), fd)

    def _prepare(self, relative: PurePosixPath) -> Path:
        if not self.root.is_dir():
            raise SinkError(self.name, f"root folder {self.root} does not exist")
        final = resolve_under(self.root, relative)
        if not self.overwrite and final.exists():
            raise FileExistsError(f"{final} exists (pass overwrite=True to replace it)")
        remove_stale_parts(final)
        return final


def remove_stale_parts(final: Path) -> None:
    """Temporary files a killed process left for this very video: a new attempt replaces them.

    Only one writer works on a job at a time (the journal's lease), so any
    ``.NAME.*.part`` next to the destination is an orphan, never a live write.
    """
    for stale in final.parent.glob(f".{glob.escape(final.name)}.*.part"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


@attrs.define
class FileWriter:
    sink: FileSink
    final: Path
    temp: Path
    _fd: int | None
    _committed: bool = False

    async def write(self, chunk: bytes) -> None:
        await asyncio.to_thread(self._write_all, chunk)

    def _write_all(self, chunk: bytes) -> None:
        assert self._fd is not None, "write after commit or abort"
        view = memoryview(chunk)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    async def commit(self, summary: DeliverySummary) -> str:
        try:
            await asyncio.to_thread(self._commit, summary)
        except OSError as exc:
            raise SinkError(self.sink.name, f"could not write {self.final}: {exc}") from exc
        self._committed = True
        return str(self.final)

    def _commit(self, summary: DeliverySummary) -> None:
        assert self._fd is not None, "commit after commit or abort"
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        _publish(self.temp, self.final, overwrite=self.sink.overwrite)
        if self.sink.sidecar:
            document = {**summary.as_dict(), "file": self.final.name}
            document.pop("locations", None)
            data = (json.dumps(document, indent=2, sort_keys=True, default=str) + "\n").encode()
            try:
                _write_atomically(self.sidecar_path, data, overwrite=True)
            except OSError:
                self.final.unlink(missing_ok=True)  # a video without its provenance is not delivered
                raise
        _fsync_dir(self.final.parent)

    @property
    def sidecar_path(self) -> Path:
        return self.final.with_name(self.final.name + SIDECAR_SUFFIX)

    async def abort(self) -> None:
        await asyncio.to_thread(self._abort)

    def _abort(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        self.temp.unlink(missing_ok=True)
        if self._committed:  # a later sink failed: the delivery is all or nothing
            self.final.unlink(missing_ok=True)
            if self.sink.sidecar:
                self.sidecar_path.unlink(missing_ok=True)
            self._committed = False
