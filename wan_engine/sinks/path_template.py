"""Where a delivered video goes: a user's path template, rendered so it can never leave its root.

Two separate dangers, handled separately:

* the *values* come from outside (a model id holds ``/``, a job id is
  whatever the provider sent): each is reduced to a safe file-name fragment,
  so no value can add a directory level or a ``..``;
* the *template* is the user's (it may hold ``/`` to make folders): it must
  be relative, and no segment may be ``..``. Only plain ``{name}`` fields are
  allowed, because ``str.format`` would otherwise follow ``{id.__class__}``.

For the file sink, :func:`resolve_under` then checks the real path (symlinks
followed) is still inside the root before anything is created.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import string
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from wan_engine.errors import PathTemplateError
from wan_engine.sinks.protocols import Provenance

FIELDS = ("model", "id", "date", "time", "datetime", "ext", "spec_version")
DEFAULT_TEMPLATE = "{model}/{date}/{id}.{ext}"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DIGEST_SUFFIX = re.compile(r"-[0-9a-f]{16}$")


def safe_fragment(value: str) -> str:
    """One path segment from an untrusted value: ``alibaba/wan-2-7-r2v`` becomes ``alibaba_wan-2-7-r2v``.

    Leading dots go too: ``..`` means something to a file system, and a hidden
    name could pass for the sink's own temporary files.
    """
    return _UNSAFE.sub("_", value).lstrip("._")[:200] or "_"


def distinct_fragment(value: str) -> str:
    """Like :func:`safe_fragment`, but two different values never give the same fragment.

    ``a/b`` and ``a_b`` are different jobs and must not share (or overwrite)
    one file. A value that sanitising leaves as it is stays as it is; any other
    value gets ``-`` and 16 hex digits of its SHA-256 appended, and so does an
    untouched value that already ends like that, so the two kinds of names can
    never meet (up to a 64-bit hash collision).
    """
    safe = safe_fragment(value)
    if safe == value and not _DIGEST_SUFFIX.search(value):
        return safe
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    stem = "id" if safe == "_" else safe[:180]  # a leading "_" would be stripped when rendered
    return f"{stem}-{digest}"


def check_template(template: str) -> str:
    """Reject a template that could escape its root or read attributes; returns it unchanged."""
    if not template or template.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", template):
        raise PathTemplateError(f"path template {template!r} must be a relative path")
    if "\\" in template or "\x00" in template:
        raise PathTemplateError(f"path template {template!r} may only use '/' between folders")
    for literal, field, spec, conversion in string.Formatter().parse(template):
        del literal
        if field is None:
            continue
        if field not in FIELDS or spec or conversion:
            raise PathTemplateError(
                f"path template field {{{field}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}} is not allowed; use plain fields among: {', '.join(FIELDS)}"
            )
    for segment in template.split("/"):
        if segment in ("", ".", ".."):
            raise PathTemplateError(f"path template {template!r} has an empty, '.' or '..' segment")
    return template


def template_fields(provenance: Provenance, ext: str) -> dict[str, str]:
    at = provenance.delivered_at
    values = {
        "model": provenance.model,
        "id": provenance.job_id,
        "date": at.strftime("%Y-%m-%d"),
        "time": at.strftime("%H%M%S"),
        "datetime": at.strftime("%Y%m%dT%H%M%S"),
        "ext": ext,
        "spec_version": provenance.spec_version,
    }
    fields = {name: safe_fragment(value) for name, value in values.items()}
    fields["id"] = distinct_fragment(provenance.job_id)  # ids come from the provider: one file per id
    return fields


def render(template: str, fields: Mapping[str, str]) -> PurePosixPath:
    """The relative path for these (already safe) field values, checked once more after rendering."""
    check_template(template)
    relative = PurePosixPath(template.format_map({k: safe_fragment(v) for k, v in fields.items()}))
    if relative.is_absolute() or any(part in ("..", ".") for part in relative.parts):
        raise PathTemplateError(f"path template {template!r} rendered to {str(relative)!r}, outside its root")
    return relative


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def resolve_under(root: Path, relative: PurePosixPath, *, create_dirs: bool = True) -> Path:
    """``root / relative``, creating its folders, refusing any symlink that leads out of ``root``.

    Each folder level is checked before it is used, so a symlinked folder
    pointing elsewhere is refused before anything is created through it.
    """
    real_root = root.resolve(strict=True)
    current = real_root
    for part in relative.parts[:-1]:
        current = current / part
        if create_dirs and not current.is_symlink() and not current.exists():
            # Concurrent deliveries create the same date folder: losing that race is fine, and the
            # folder (whoever made it) is then checked like any existing one below.
            with contextlib.suppress(FileExistsError):
                current.mkdir()
        if current.is_symlink() or current.exists():
            target = current.resolve(strict=True)
            if not _inside(target, real_root):
                raise PathTemplateError(f"{current} leads outside the sink root {real_root} (symlink)")
            if not target.is_dir():
                raise PathTemplateError(f"{current} exists and is not a folder")
            current = target
        else:
            raise PathTemplateError(f"folder {current} does not exist")
    final = current / relative.parts[-1]
    if final.is_symlink():
        # os.replace would swap the link itself, but a reader following it would be fooled: refuse.
        raise PathTemplateError(f"{final} is a symlink; the sink writes only regular files under its root")
    if not _inside(Path(os.path.realpath(final.parent)), real_root):
        raise PathTemplateError(f"{final} is outside the sink root {real_root}")
    return final
