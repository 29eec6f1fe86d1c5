"""Where a cassette was recorded, said in the cassette itself.

A cassette is evidence about an API only as far as its origin goes: a
recording from the real API shows what the provider does, one from the
sandbox shows what the specs say it does, and a hand-written one shows what
someone read in the documentation. The ``wan_engine:`` block at the top of
every cassette says which, with when, the model, the spec version and the
base URL, so nobody mistakes one for another.
"""

from __future__ import annotations

import datetime
import ipaddress
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import attrs

from wan_engine.errors import SourceError

Source = Literal["real", "sandbox", "hand-written"]
SOURCES: Final[tuple[Source, ...]] = ("real", "sandbox", "hand-written")
SOURCE_WORDS: Final[dict[str, str]] = {
    "real": "recorded from the provider's real API",
    "sandbox": "recorded from the wan-engine sandbox (simulated from the specs, not the real API)",
    "hand-written": "written by hand from the provider's documentation",
}
PROVENANCE_KEY: Final = "wan_engine"
FORMAT: Final = 1


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def decide_source(requested: str | None, base_url: str, provider_base_url: str, *, in_process_sandbox: bool) -> Source:
    """The honest label for a recording; refuses ``real`` for anything that is not the provider's own API."""
    if in_process_sandbox:
        if requested not in (None, "sandbox"):
            raise SourceError(f"a recording from the in-process sandbox is source 'sandbox', not {requested!r}")
        return "sandbox"
    if same_origin(base_url, provider_base_url):
        if requested not in (None, "real"):
            raise SourceError(f"{base_url} is the provider's own API: its recordings are source 'real'")
        return "real"
    if requested == "real":
        raise SourceError(
            f"{base_url} is not the provider's API ({provider_base_url}): a recording from it cannot be labelled "
            "'real'; say --source sandbox or --source hand-written"
        )
    if requested is not None:
        return requested  # type: ignore[return-value]
    if is_loopback_url(base_url):
        return "sandbox"
    raise SourceError(f"say where {base_url} stands: --source sandbox or --source hand-written")


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@attrs.define
class CassetteOrigin:
    """The ``wan_engine:`` block. Replay ignores it; the contract checker and the replay API read it."""

    source: str
    model: str
    provider: str
    spec_version: str
    base_url: str
    recorded_at: str = attrs.field(factory=now_iso)
    note: str | None = None
    params: Any = None
    validated: bool = True
    strategy: str | None = None
    recorded_with: dict[str, str] = attrs.field(factory=dict)
    sandbox: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    media: list[dict[str, Any]] | None = None
    history: list[dict[str, Any]] | None = None
    """Earlier recordings of this cassette (newest first), kept when it is recorded again in place."""
    format: int = FORMAT

    @property
    def description(self) -> str:
        return SOURCE_WORDS.get(self.source, self.source)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": self.format,
            "source": self.source,
            "source_means": self.description,
            "recorded_at": self.recorded_at,
            "model": self.model,
            "provider": self.provider,
            "spec_version": self.spec_version,
            "base_url": self.base_url,
        }
        optional: dict[str, Any] = {
            "note": self.note,
            "params": self.params,
            "validated": self.validated,
            "strategy": self.strategy,
            "recorded_with": self.recorded_with or None,
            "sandbox": self.sandbox,
            "outcome": self.outcome,
            "media": self.media,
            "history": self.history,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    @classmethod
    def from_dict(cls, data: Any) -> CassetteOrigin:
        """Lenient: missing fields read as empty, so the contract checker can name what is missing."""
        if not isinstance(data, dict):
            raise ValueError("the wan_engine block is not a mapping")

        def text(key: str) -> str:
            value = data.get(key)
            return "" if value is None else str(value)

        return cls(
            source=text("source"),
            model=text("model"),
            provider=text("provider"),
            spec_version=text("spec_version"),
            base_url=text("base_url"),
            recorded_at=text("recorded_at"),
            note=data.get("note"),
            params=data.get("params"),
            validated=bool(data.get("validated", True)),
            strategy=data.get("strategy"),
            recorded_with=dict(data.get("recorded_with") or {}),
            sandbox=data.get("sandbox"),
            outcome=data.get("outcome"),
            media=data.get("media"),
            history=data.get("history"),
            format=int(data.get("format", FORMAT)),
        )
