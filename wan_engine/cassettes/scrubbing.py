"""Keeping credentials out of cassettes: request AND response, headers, query strings and bodies.

vcrpy's ``filter_headers`` only touches request headers; a provider that
echoes a key in an error body, a header or a signed result URL would leak it.
The scrubber runs as both ``before_record_request`` and
``before_record_response`` and replaces:

- every known secret (the API key in use, and any other value given), wherever
  it appears, also in its JSON-escaped and URL-encoded spellings;
- the value of credential headers (Authorization, X-Api-Key, Cookie, ...),
  keeping the scheme word so a reader sees a key was sent;
- the value of credential-looking query parameters (key, token, signature,
  X-Amz-Signature, ...) in request URLs and in every URL inside a body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

PLACEHOLDER: Final = "<filtered>"
URL_PLACEHOLDER: Final = "FILTERED"
CREDENTIAL_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "cookie",
        "set-cookie",
        "x-amz-security-token",
    }
)
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
    }
)
_URL = re.compile(r"https?://[^\s\"'<>\\]+")
_MIN_SECRET = 4  # shorter strings would blank out ordinary words


def _spellings(secret: str) -> set[str]:
    return {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}


class Scrubber:
    def __init__(self, secrets: Iterable[str | None] = (), *, headers: Iterable[str] = ()) -> None:
        values = {s for s in secrets if s and len(s) >= _MIN_SECRET}
        spellings: set[str] = set()
        for value in values:
            spellings |= _spellings(value)
        # Longest first, so a secret that contains another is replaced whole.
        self._spellings = sorted(spellings, key=len, reverse=True)
        self.headers = CREDENTIAL_HEADERS | {h.lower() for h in headers}

    # -- strings ------------------------------------------------------------------------

    def text(self, value: str) -> str:
        value = _URL.sub(lambda m: self.url(m.group(0)), value)
        for spelling in self._spellings:
            value = value.replace(spelling, PLACEHOLDER)
        return value

    def url(self, value: str) -> str:
        value = scrub_url_query(value)
        for spelling in self._spellings:
            value = value.replace(spelling, URL_PLACEHOLDER)
        return value

    def header_value(self, name: str, value: str) -> str:
        if name.lower() in self.headers:
            scheme, space, _rest = value.partition(" ")
            return f"{scheme} {PLACEHOLDER}" if space and scheme.isalpha() else PLACEHOLDER
        return self.text(value)

    def data(self, value: Any) -> Any:
        """Any JSON-like value with every string scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.body_bytes(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value

    def body_bytes(self, body: bytes) -> bytes:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            for spelling in self._spellings:
                body = body.replace(spelling.encode(), PLACEHOLDER.encode())
            return body
        scrubbed = self.text(text)
        return body if scrubbed == text else scrubbed.encode("utf-8")

    # -- vcrpy hooks ----------------------------------------------------------------------

    def request(self, request: Any) -> Any:
        """``before_record_request``: the request as it may be written."""
        request.uri = self.url(request.uri)
        request.headers = {name: self.header_value(name, str(value)) for name, value in request.headers.items()}
        body = request.body
        if body is not None and not hasattr(body, "read"):
            request.body = self.data(body)
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        """``before_record_response``: headers (lists of values) and the body string."""
        headers = response.get("headers") or {}
        response["headers"] = {
            name: [self.header_value(name, str(v)) for v in (values if isinstance(values, list) else [values])]
            for name, values in headers.items()
        }
        body = response.get("body")
        if isinstance(body, dict) and body.get("string") is not None:
            string = body["string"]
            body["string"] = self.body_bytes(string) if isinstance(string, bytes) else self.data(string)
        return response


def scrub_url_query(url: str) -> str:
    """The URL with credential-looking query values replaced (order and other values kept)."""
    parts = urlsplit(url)
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
