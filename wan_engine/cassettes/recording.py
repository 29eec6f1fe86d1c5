"""Recording a whole job (submit, every status read, optionally the download) into a cassette.

The recording goes through vcrpy with the scrubber on every request and
response, into a temporary file that replaces the cassette only when the
session is over; the provenance block says where it was recorded.

Video bodies never enter a cassette, and vcrpy never reads a video stream:
the media request passes through vcrpy unrecorded while the harness streams
it (hashing as it goes), then the harness appends the interaction itself,
with the real status and headers and a placeholder body naming the size
and SHA-256 of what was served.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import attrs
from vcr.request import Request

from wan_engine.cassettes.provenance import CassetteOrigin, decide_source
from wan_engine.cassettes.scrubbing import Scrubber
from wan_engine.cassettes.serializer import harness_vcr
from wan_engine.cassettes.session import SessionOutcome, run_session
from wan_engine.cassettes.transport import HarnessClient, client_connector
from wan_engine.client.engine import Engine
from wan_engine.client.polling import PollingStrategy
from wan_engine.client.provider_client import RetryPolicy
from wan_engine.clock import Clock, SystemClock, VirtualClock
from wan_engine.errors import RecordingError
from wan_engine.sandbox import FaultPlan, FaultRule, Sandbox, SandboxConfig
from wan_engine.spec.registry import SpecRegistry

MEDIA_CHUNK = 64 * 1024


@attrs.frozen
class Recording:
    path: Path
    provenance: CassetteOrigin
    outcome: SessionOutcome
    interactions: int


def _versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in ("wan-engine", "vcrpy", "aiohttp"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found


def _exists(path: Path) -> bool:
    return path.exists()


def cassette_path(cassette_dir: str | Path, model: str, name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"a cassette name is one file name without folders (got {name!r})")
    return Path(cassette_dir) / model / f"{name}.yaml"


class _PassThrough:
    """``before_record_request``: leaves out the requests the harness records itself (media), then scrubs."""

    def __init__(self, scrubber: Scrubber) -> None:
        self.scrubber = scrubber
        self.urls: set[str] = set()

    def __call__(self, request: Any) -> Any:
        if request.uri in self.urls:
            return None
        return self.scrubber.request(request)


async def _record_media(
    session: aiohttp.ClientSession, url: str, cassette: Any, passthrough: _PassThrough
) -> dict[str, Any]:
    """Stream the result once (never into memory), then append its interaction with a placeholder body."""
    digest, size = hashlib.sha256(), 0
    passthrough.urls.add(url)
    try:
        async with session.get(url) as response:
            async for chunk in response.content.iter_chunked(MEDIA_CHUNK):
                digest.update(chunk)
                size += len(chunk)
            status, reason = response.status, response.reason or ""
            headers: dict[str, list[str]] = {}
            for name, value in response.headers.items():
                headers.setdefault(str(name), []).append(value)
            sent = {str(k): v for k, v in response.request_info.headers.items()}
    finally:
        passthrough.urls.discard(url)
    sha256 = digest.hexdigest()
    omitted = {"bytes": size, "sha256": sha256}
    placeholder = f"[wan-engine: media body not recorded; {size} bytes, sha256 {sha256}]"
    cassette.append(
        Request("GET", url, None, sent),
        {
            "status": {"code": status, "message": reason},
            "headers": headers,
            "body": {"string": placeholder},
            "omitted_body": omitted,
        },
    )
    return {"status": status, **omitted, "content_type": response.headers.get("Content-Type")}


async def record_session(
    registry: SpecRegistry,
    model: str,
    params: Mapping[str, Any],
    path: str | Path,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    source: str | None = None,
    in_process_sandbox: bool = False,
    sandbox_info: dict[str, Any] | None = None,
    note: str | None = None,
    clock: Clock | None = None,
    strategy: PollingStrategy | str = "fixed",
    download: bool = False,
    validate: bool = True,
    deadline: float | None = None,
    extra_secrets: Sequence[str] = (),
    overwrite: bool = True,
) -> Recording:
    """Run one job through vcrpy and write it, scrubbed and labelled, to ``path``."""
    spec = registry.model(model)
    provider = spec.provider
    base = (base_url or provider.base_url).rstrip("/")
    label = decide_source(source, base, provider.base_url, in_process_sandbox=in_process_sandbox)
    target = Path(path)
    if not overwrite and _exists(target):
        raise RecordingError(f"{target} exists; re-record with --force")
    key = api_key if api_key is not None else (os.environ.get(provider.auth.env) if provider.auth.env else None)
    secrets = [key or "", *extra_secrets]
    secrets += [os.environ.get(p.auth.env, "") for p in registry.providers.values() if p.auth.env]
    scrubber = Scrubber(secrets, headers=[provider.auth.header])
    clock = clock or SystemClock()
    provenance = CassetteOrigin(
        source=label,
        model=spec.id,
        provider=provider.id,
        spec_version=spec.spec_version,
        base_url=scrubber.url(base),
        note=note,
        params=scrubber.data(dict(params)),
        validated=validate,
        strategy=strategy if isinstance(strategy, str) else type(strategy).__name__,
        recorded_with=_versions(),
        sandbox=sandbox_info,
    )
    passthrough = _PassThrough(scrubber)
    recorder = harness_vcr(
        provenance,
        record_mode="all",
        before_record_request=passthrough,
        before_record_response=scrubber.response,
        decode_compressed_response=True,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    env = {provider.auth.env: key} if provider.auth.env and key else {}
    transport = HarnessClient(
        connector_factory=client_connector,
        base_urls={provider.id: base},
        env=env,
        clock=clock,
        retry=RetryPolicy(),
        cassette=str(target),
    )
    try:
        with recorder.use_cassette(str(partial)) as cassette:
            async with Engine(registry, client=transport, clock=clock, strategy=strategy) as engine:
                outcome = await run_session(engine, model, params, validate=validate, deadline=deadline)
                if download and outcome.video_url:
                    media = await _record_media(engine.client.session, outcome.video_url, cassette, passthrough)
                    provenance.media = [scrubber.data({"url": outcome.video_url, **media})]
            provenance.outcome = scrubber.data(outcome.to_dict())
            count = len(cassette.data)
        if count == 0 or not partial.exists():
            raise RecordingError(f"nothing was recorded for {model} (no request reached {base})")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return Recording(target, provenance, outcome, count)


async def record_against_sandbox(
    registry: SpecRegistry,
    model: str,
    params: Mapping[str, Any],
    path: str | Path,
    *,
    duration_s: float | None = None,
    faults: Sequence[str | FaultRule] = (),
    seed: int = 0,
    api_key: str | None = None,
    **options: Any,
) -> Recording:
    """Record against a sandbox started in this process, on virtual time shared with the engine.

    ``duration_s`` defaults to the model's typical duration from its spec, so
    the cassette shows a realistic session, recorded in a fraction of a second.
    """
    spec = registry.model(model)
    duration = duration_s if duration_s is not None else spec.polling.typical_duration_s or 60.0
    rules = tuple(FaultRule.parse(f) if isinstance(f, str) else f for f in faults)
    clock = VirtualClock()
    key = api_key or (os.environ.get(spec.provider.auth.env) if spec.provider.auth.env else None)
    key = key or "sandbox-recording-key"
    config = SandboxConfig(
        duration_s=duration,
        seed=seed,
        api_key=key,
        clock=clock.now,
        wall_clock=lambda: clock.wall().timestamp(),
        faults=FaultPlan(rules),
    )
    info = {
        "kind": "in-process wan-engine sandbox, virtual time",
        "duration_s": duration,
        "seed": seed,
        "faults": [_fault_text(f) for f in faults],
    }
    async with Sandbox(registry, config) as sandbox:
        return await record_session(
            registry,
            model,
            params,
            path,
            base_url=sandbox.base_url(spec.provider.id),
            api_key=key,
            in_process_sandbox=True,
            sandbox_info=info,
            clock=clock,
            **options,
        )


def _fault_text(fault: str | FaultRule) -> str:
    return fault if isinstance(fault, str) else f"{fault.request}:{fault.kind.value}"
