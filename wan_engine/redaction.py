"""Keeping secrets out of everything the engine says: messages, logs, journal, command output.

A provider may echo the API key back (in an error body, in a URL it returns) and
signed result URLs carry their credential in the query. Base layer, so the HTTP
client, the journal and the cassettes all redact the same way:

- ``redact(text, secrets)``: every spelling of each known secret (raw, JSON-escaped,
  URL-encoded) becomes ``<filtered>``, and every URL's credential-looking query
  values (``X-Amz-Signature``, ``x-oss-signature``, ``Signature``, session tokens...)
  become ``FILTERED``;
- ``redact_document(value, secrets)``: the same for every string in a JSON-like value,
  except that URLs keep their query (a signed video URL must stay usable): only the
  secrets themselves are removed there.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

PLACEHOLDER: Final = "<filtered>"
URL_PLACEHOLDER: Final = "FILTERED"
MIN_SECRET: Final = 4
"""Shorter strings would blank out ordinary words."""

CREDENTIAL_QUERY_KEYS: Final = frozenset(
    {
        "key",
        "api_key",
        "apikey",
        "api-key",
        "access_token",
        "token",
        "auth",
        "sig",
        "signature",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",
        "x-goog-credential",
        "x-oss-signature",
        "x-oss-credential",
        "x-oss-security-token",
        "ossaccesskeyid",
        "security-token",
        "securitytoken",
        "x-security-token",
        "session_token",
        "sessiontoken",
        "x-ms-signature",
        "sv-signature",
        "policy",
        "key-pair-id",
    }
)
"""Query parameters whose value is a credential (signed-URL schemes of S3, GCS, OSS, CloudFront, ...)."""

URL_PATTERN: Final = re.compile(r"(?i)\b(?:https?|ftp|file)://[^\s\"'<>\\)]+")
"""A URL inside free text (an exception message, a log line): what the functions below rewrite."""


def spellings(secret: str) -> set[str]:
    return {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}


def secret_spellings(secrets: Iterable[str | None]) -> list[str]:
    """Every spelling of every usable secret, longest first (a secret containing another goes whole)."""
    return list(_spellings_of(tuple(secret for secret in secrets if secret and len(secret) >= MIN_SECRET)))


@functools.lru_cache(maxsize=64)
def _escaped_of(spellings: tuple[str, ...]) -> frozenset[str]:
    """Each spelling as JSON writes it inside a string (ensure_ascii), once per set of secrets."""
    return frozenset(json.dumps(spelling)[1:-1] for spelling in spellings)


@functools.lru_cache(maxsize=64)
def _spellings_of(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """Computed once per set of secrets: every status read of every job asks again."""
    found: set[str] = set()
    for secret in secrets:
        found |= spellings(secret)
    return tuple(sorted(found, key=len, reverse=True))


def redact_url_query(url: str) -> str:
    """The URL with user info and credential-looking query values replaced (order and other values kept)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" in parts.netloc:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{URL_PLACEHOLDER}@{host}")
        url = urlunsplit(parts)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(key.lower() in CREDENTIAL_QUERY_KEYS for key, _ in pairs):
        return url
    cleaned = [(k, URL_PLACEHOLDER if k.lower() in CREDENTIAL_QUERY_KEYS else v) for k, v in pairs]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(cleaned, safe="/:"), parts.fragment))


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """A message safe to show: signed-URL credentials and the given secrets removed."""
    text = URL_PATTERN.sub(lambda m: redact_url_query(m.group(0)), text)
    for spelling in secret_spellings(secrets):
        text = text.replace(spelling, PLACEHOLDER)
    return text


def redact_document(value: Any, secrets: Iterable[str | None]) -> Any:
    """Every string of a JSON-like value without the given secrets (URL queries otherwise kept)."""
    found = secret_spellings(secrets)
    if not found:
        return value
    # The common case, no secret anywhere, found in one pass of C code: JSON escaping works character by
    # character, so a string holding a secret holds its escaped spelling in the document's JSON text
    # (ensure_ascii, as json.dumps(secret) spells it). Only a hit pays for the walk below.
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = None
    if text is not None and not any(spelling in text for spelling in _escaped_of(tuple(found))):
        return value

    def walk(node: Any) -> Any:
        """The node with the secrets out; the very same object when it holds none (no copy per status read)."""
        if isinstance(node, str):
            for spelling in found:
                if spelling in node:
                    node = node.replace(spelling, PLACEHOLDER)
            return node
        if isinstance(node, dict):
            pairs = [(walk(k) if isinstance(k, str) else k, walk(v)) for k, v in node.items()]
            if all(new_k is k and new_v is v for (new_k, new_v), (k, v) in zip(pairs, node.items(), strict=True)):
                return node
            return dict(pairs)
        if isinstance(node, list):
            items = [walk(v) for v in node]
            return node if all(new is old for new, old in zip(items, node, strict=True)) else items
        return node

    return walk(value)


def scrub_url(url: str) -> str:
    """The URL without query, fragment or user info: for naming a URL in a message, where (unlike
    ``redact_url_query``) nothing of the query is needed and a signed URL's secret lives there."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def scrub_urls_in(text: str) -> str:
    """``text`` with every URL in it reduced by :func:`scrub_url`."""
    return URL_PATTERN.sub(lambda m: scrub_url(m.group(0)), text)
