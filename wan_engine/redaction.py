"""Taking secrets out of what is shown: the one helper every layer (errors included) uses for URLs."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def scrub_url(url: str) -> str:
    """The URL without query, fragment or user info: signed result URLs carry their secret there."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
