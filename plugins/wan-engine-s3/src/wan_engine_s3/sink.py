"""The S3 sink: a streaming multipart upload that leaves a whole object or none.

Chunks are gathered into a part buffer (``part_size``, 8 MiB by default, at
least S3's 5 MiB minimum); a full part is handed, as it is (no copy), to an
upload task, and a fresh buffer starts filling while it travels. At most
``parts_in_flight`` parts upload at once (3 by default); when that many are on
their way the next full part waits for one to finish, so a slow upload slows
the download. Memory is therefore bounded by ``(parts_in_flight + 1) *
part_size`` (the parts travelling plus the one filling), 32 MiB by default.
Parts travel in parallel because one request at a time leaves the link idle
during each part's round trips and the server's per-part work. A video
smaller than one part goes up in a single ``put_object`` at commit. On any
failure (a part's included: it is raised by the next write or the commit)
the parts still travelling are cancelled and the multipart upload is
aborted, so neither an object nor a pending upload (which S3 bills for) is
left behind.

The object carries its provenance as user metadata (``x-amz-meta-job-id``,
``-model``, ``-spec-version``, ``-sha256``). The SHA-256 is only known once
the last byte has passed, after a multipart upload has been created with its
metadata, so a multipart object gets it by an in-place server-side copy that
replaces the metadata (objects up to 5 GiB; larger ones carry it as a
``sha256`` object tag instead).

Credentials, region and endpoint come from the options or, when left out,
from the standard AWS chain (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_REGION``/``AWS_DEFAULT_REGION``,
``AWS_ENDPOINT_URL``, profiles).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from contextlib import AsyncExitStack
from typing import Any

import attrs
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from wan_engine.errors import SinkError
from wan_engine.sinks.path_template import DEFAULT_TEMPLATE, check_template, render, template_fields
from wan_engine.sinks.protocols import DeliverySummary, Provenance, SinkContext

log = logging.getLogger("wan_engine_s3")

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_COPY_SIZE = 5 * 1024**3
CONTENT_TYPES = {"mp4": "video/mp4", "webm": "video/webm", "mov": "video/quicktime", "mkv": "video/x-matroska"}


def _check_part_size(_instance: Any, _attribute: Any, value: int) -> None:
    if value < MIN_PART_SIZE:
        raise ValueError(f"part_size must be at least 5 MiB (S3's minimum for all but the last part), got {value}")


def _check_in_flight(_instance: Any, _attribute: Any, value: int) -> None:
    if value < 1:
        raise ValueError(f"parts_in_flight must be at least 1, got {value}")


def _metadata_value(value: str) -> str:
    """S3 user metadata travels in HTTP headers: keep it to printable ASCII."""
    return "".join(c if " " <= c <= "~" else "_" for c in value)[:256]


def provenance_metadata(provenance: Provenance, sha256: str | None = None) -> dict[str, str]:
    values = {
        "job-id": provenance.job_id,
        "model": provenance.model,
        "spec-version": provenance.spec_version,
        "source-url": provenance.source_url,
        "delivered-at": provenance.delivered_at.isoformat(),
    }
    if sha256 is not None:
        values["sha256"] = sha256
    return {key: _metadata_value(value) for key, value in values.items()}


@attrs.frozen
class S3Sink:
    """Uploads each video to ``s3://bucket/prefix/template``."""

    bucket: str
    prefix: str = ""
    template: str = attrs.field(default=DEFAULT_TEMPLATE, validator=lambda _s, _a, v: check_template(v))
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = attrs.field(default=None, repr=False)
    session_token: str | None = attrs.field(default=None, repr=False)
    part_size: int = attrs.field(default=8 * 1024 * 1024, validator=_check_part_size)
    parts_in_flight: int = attrs.field(default=3, validator=_check_in_flight)
    """Parts uploading at once; memory is at most (parts_in_flight + 1) * part_size."""
    overwrite: bool = False
    name: str = "s3"

    def key_for(self, provenance: Provenance, ext: str) -> str:
        relative = str(render(self.template, template_fields(provenance, ext)))
        prefix = self.prefix.strip("/")
        return f"{prefix}/{relative}" if prefix else relative

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "region_name": self.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
            # No extra CRC32 per part: over http the SigV4 signature already covers each part's SHA-256,
            # over https TLS protects it; the extra checksum cost a third of the upload speed here.
            "config": AioConfig(
                retries={"max_attempts": 4, "mode": "standard"}, request_checksum_calculation="when_required"
            ),
        }  # fmt: skip
        endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            options["endpoint_url"] = endpoint
        if self.access_key_id is not None:
            options["aws_access_key_id"] = self.access_key_id
        if self.secret_access_key is not None:
            options["aws_secret_access_key"] = self.secret_access_key
        if self.session_token is not None:
            options["aws_session_token"] = self.session_token
        return options

    async def adopt(self, location: str, sha256: str) -> bool:
        """Whether ``location`` holds our object with this SHA-256: after a crash right after the commit,
        resume recognises its own upload (metadata, or the tag on objects too large to re-stamp) instead
        of uploading and paying for the transfer again."""
        bucket, _, key = location.removeprefix("s3://").partition("/")
        if not location.startswith("s3://") or bucket != self.bucket or not key:
            return False
        async with get_session().create_client("s3", **self.client_options()) as client:
            try:
                head = await client.head_object(Bucket=bucket, Key=key)
            except Exception as exc:
                if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise SinkError(self.name, f"cannot check {location}: {_describe(exc)}") from exc
            if head.get("Metadata", {}).get("sha256") == sha256:
                return True
            try:
                tags = await client.get_object_tagging(Bucket=bucket, Key=key)
            except Exception:  # noqa: BLE001 - a store without tagging: not provably ours
                return False
            return any(t.get("Key") == "sha256" and t.get("Value") == sha256 for t in tags.get("TagSet", []))

    async def open(self, ctx: SinkContext) -> S3Writer:
        key = self.key_for(ctx.provenance, ctx.ext)
        stack = AsyncExitStack()
        try:
            client = await stack.enter_async_context(get_session().create_client("s3", **self.client_options()))
            if not self.overwrite and await _exists(client, self.bucket, key):
                raise SinkError(self.name, f"s3://{self.bucket}/{key} exists (pass overwrite=True to replace it)")
        except SinkError:
            await stack.aclose()
            raise
        except Exception as exc:
            await stack.aclose()
            raise SinkError(self.name, f"cannot reach s3://{self.bucket}: {_describe(exc)}") from exc
        return S3Writer(self, ctx, key, client, stack)


async def _exists(client: Any, bucket: str, key: str) -> bool:
    """True if the key exists; raises for a missing bucket or refused credentials (fail before any byte)."""
    try:
        await client.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if _error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
            raise
        try:
            await client.head_bucket(Bucket=bucket)  # tells a missing bucket from a missing key
        except Exception as missing:
            if _error_code(missing) in ("404", "NoSuchBucket", "NotFound"):
                raise LookupError(f"bucket {bucket!r} does not exist") from missing
            raise
        return False
    return True


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, LookupError):
        return str(exc)
    code = _error_code(exc)
    return f"{type(exc).__name__} ({code})" if code else f"{type(exc).__name__}: {exc}"


@attrs.define
class S3Writer:
    sink: S3Sink
    ctx: SinkContext
    key: str
    client: Any = attrs.field(repr=False)
    stack: AsyncExitStack = attrs.field(repr=False)
    buffer: bytearray = attrs.field(factory=bytearray, repr=False)
    upload_id: str | None = None
    parts: list[dict[str, Any]] = attrs.field(factory=list)
    committed: bool = False
    closed: bool = False
    _next_part: int = 1
    _uploads: set[asyncio.Task[None]] = attrs.field(factory=set, repr=False)
    _slots: asyncio.Semaphore | None = attrs.field(default=None, repr=False)
    _failure: BaseException | None = None

    @property
    def location(self) -> str:
        return f"s3://{self.sink.bucket}/{self.key}"

    def _common(self) -> dict[str, Any]:
        return {"Bucket": self.sink.bucket, "Key": self.key}

    def _content_type(self) -> str:
        return self.ctx.content_type or CONTENT_TYPES.get(self.ctx.ext, "application/octet-stream")

    def _failed(self) -> SinkError:
        assert self._failure is not None
        return SinkError(self.sink.name, f"upload of {self.location} failed: {_describe(self._failure)}")

    async def write(self, chunk: bytes) -> None:
        if self._failure is not None:
            raise self._failed()
        view = memoryview(chunk)
        while view:
            room = self.sink.part_size - len(self.buffer)
            self.buffer += view[:room]
            view = view[room:]
            if len(self.buffer) >= self.sink.part_size:
                await self._send_part()

    async def _send_part(self) -> None:
        """Start uploading the full buffer (waiting while ``parts_in_flight`` parts travel); a new one fills."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.sink.parts_in_flight)
        try:
            if self.upload_id is None:
                created = await self.client.create_multipart_upload(
                    **self._common(),
                    ContentType=self._content_type(),
                    Metadata=provenance_metadata(self.ctx.provenance),
                )
                self.upload_id = created["UploadId"]
        except Exception as exc:
            raise SinkError(self.sink.name, f"upload of {self.location} failed: {_describe(exc)}") from exc
        await self._slots.acquire()
        if self._failure is not None:
            self._slots.release()
            raise self._failed()
        number, self._next_part = self._next_part, self._next_part + 1
        body, self.buffer = self.buffer, bytearray()  # the buffer itself travels: no copy
        task = asyncio.create_task(self._upload_part(number, body))
        self._uploads.add(task)
        task.add_done_callback(self._uploads.discard)

    async def _upload_part(self, number: int, body: bytearray) -> None:
        assert self._slots is not None
        try:
            answer = await self.client.upload_part(
                **self._common(), UploadId=self.upload_id, PartNumber=number, Body=body
            )
            self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - raised by the next write or the commit
            if self._failure is None:
                self._failure = exc
        finally:
            self._slots.release()

    async def _drain(self) -> None:
        """Wait for every part on its way; raise the first part's failure."""
        if self._uploads:
            await asyncio.gather(*self._uploads)
        if self._failure is not None:
            raise self._failed()

    async def _cancel_uploads(self) -> None:
        for task in self._uploads:
            task.cancel()
        if self._uploads:
            await asyncio.gather(*self._uploads, return_exceptions=True)

    async def commit(self, summary: DeliverySummary) -> str:
        metadata = provenance_metadata(self.ctx.provenance, summary.sha256)
        try:
            if self.upload_id is None:
                await self.client.put_object(
                    **self._common(), Body=bytes(self.buffer), ContentType=self._content_type(), Metadata=metadata
                )
                self.buffer.clear()
                self.committed = True
            else:
                if self.buffer:
                    await self._send_part()
                await self._drain()
                parts = sorted(self.parts, key=lambda part: int(part["PartNumber"]))
                await self.client.complete_multipart_upload(
                    **self._common(), UploadId=self.upload_id, MultipartUpload={"Parts": parts}
                )
                self.upload_id = None
                self.committed = True
                await self._stamp_sha256(summary, metadata)
        except SinkError:
            raise
        except Exception as exc:
            raise SinkError(self.sink.name, f"upload of {self.location} failed: {_describe(exc)}") from exc
        finally:
            if not self.committed:
                await self._cancel_uploads()
                await self._close()
        await self._close()
        return self.location

    async def _stamp_sha256(self, summary: DeliverySummary, metadata: dict[str, str]) -> None:
        if summary.size <= MAX_COPY_SIZE:
            await self.client.copy_object(
                **self._common(),
                CopySource={"Bucket": self.sink.bucket, "Key": self.key},
                MetadataDirective="REPLACE",
                Metadata=metadata,
                ContentType=self._content_type(),
            )
        else:
            await self.client.put_object_tagging(
                **self._common(), Tagging={"TagSet": [{"Key": "sha256", "Value": summary.sha256}]}
            )

    async def abort(self) -> None:
        """Abort the multipart upload (nothing billed stays behind); undo a committed object."""
        self.buffer = bytearray()
        await self._cancel_uploads()  # before the abort: a part arriving after it would be billed again
        try:
            if self.closed and (self.upload_id is not None or self.committed):
                self.stack = AsyncExitStack()
                self.client = await self.stack.enter_async_context(
                    get_session().create_client("s3", **self.sink.client_options())
                )
                self.closed = False
            if self.upload_id is not None:
                await self.client.abort_multipart_upload(**self._common(), UploadId=self.upload_id)
                self.upload_id = None
            if self.committed:
                await self.client.delete_object(**self._common())
                self.committed = False
        finally:
            await self._close()

    async def _close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                await self.stack.aclose()
