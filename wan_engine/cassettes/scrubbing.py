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
  X-Amz-Signature, x-oss-signature, x-oss-credential, session tokens, ...) in
  request URLs and in every URL inside a body (the list is shared with the
  engine's messages: wan_engine/redaction.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from wan_engine.redaction import CREDENTIAL_QUERY_KEYS as CREDENTIAL_QUERY_KEYS  # re-exported
from wan_engine.redaction import PLACEHOLDER as PLACEHOLDER  # re-exported: cassettes/contract.py reads it
from wan_engine.redaction import URL_PATTERN, URL_PLACEHOLDER, redact_url_query, spellings

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
        "x-oss-security-token",
        "x-goog-api-key",
        "x-security-token",
        "x-session-token",
    }
)
_MIN_SECRET = 4  # shorter strings would blank out ordinary words
_spellings = spellings


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
        value = URL_PATTERN.sub(lambda m: self.url(m.group(0)), value)
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


scrub_url_query = redact_url_query
"""The URL with credential-looking query values replaced (see wan_engine/redaction.py, shared with messages)."""
