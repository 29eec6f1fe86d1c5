"""A Transport for the harness: the session's connector is chosen, and a replay miss is a typed error.

- the connector comes from a factory (``ProviderClient(connector_factory=...)``): replay uses a bare ``BaseConnector``
  that cannot open any connection at all (so a replay that slipped past vcrpy
  fails instead of reaching a network), and test fixtures use a TCP connector
  that keeps no idle connections, so an engine can be closed from any loop;
- vcrpy's ``CannotOverwriteExistingCassetteException`` becomes
  ``CassetteMismatchError``, naming the method, the URL and the cassette.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp

from wan_engine.client.provider_client import ProviderClient, Response
from wan_engine.errors import CassetteMismatchError, CassetteRequestMismatchError
from wan_engine.spec.model import Endpoint, ProviderSpec

MATTERING_FIELDS: tuple[str, ...] = ("model",)
"""Body fields compared by value by default: they choose what is generated. Other parameters (a prompt,
a duration) may differ, so an app's test replays the recorded answers to its own wording; name more
with ``match_on`` (``wan_replay(name, match_on=("model", "duration"))``)."""
_INPUT_WORDS = ("image", "video", "audio", "frame", "reference")
"""A body field named like these is an input medium: whether it is there decides the kind of job
(text-to-video or reference-to-video), so its presence is compared even when its value is not."""


def no_network_connector() -> aiohttp.BaseConnector:
    """A connector that has no way to connect: every request must be answered by a cassette."""
    return aiohttp.BaseConnector()


def client_connector() -> aiohttp.BaseConnector:
    """What the engine's own ProviderClient uses: keep-alive connections, as a real client talks."""
    return aiohttp.TCPConnector(limit=100)


def loopback_test_connector() -> aiohttp.BaseConnector:
    return aiohttp.TCPConnector(force_close=True, limit=100)


class HarnessClient(ProviderClient):
    def __init__(
        self,
        *,
        connector_factory: Callable[[], aiohttp.BaseConnector] = loopback_test_connector,
        cassette: str | None = None,
        recorded_submit: Mapping[str, Any] | None = None,
        match_on: Sequence[str] = MATTERING_FIELDS,
        **options: Any,
    ) -> None:
        super().__init__(connector_factory=connector_factory, **options)
        self.cassette = cassette
        self.recorded_submit = recorded_submit
        self.match_on = tuple(match_on)
        """The body the cassette's submit was recorded with: a replayed submit must be the same request."""

    async def _exchange(
        self,
        provider: ProviderSpec,
        endpoint: Endpoint,
        job_id: str | None,
        body: Any = None,
        path_vars: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Response:
        if self.recorded_submit is not None and job_id is None and isinstance(body, Mapping):  # a submit
            difference = request_difference(self.recorded_submit, body, self.match_on)
            if difference is not None:
                path, detail = difference
                url = self.url(provider, endpoint, None, path_vars)
                raise CassetteRequestMismatchError(endpoint.method, url, self.cassette or "?", path, detail)
        try:
            return await super()._exchange(provider, endpoint, job_id, body, path_vars, extra_query, extra_headers)
        except Exception as exc:
            # vcrpy is the cassettes extra: if it was never imported, no cassette is playing and the
            # error cannot be its miss (so a sandbox-only harness client works on a plain install).
            errors = sys.modules.get("vcr.errors")
            if errors is not None and isinstance(exc, errors.CannotOverwriteExistingCassetteException):
                raise mismatch_error(exc, self.cassette) from None
            raise


def _is_input(name: str) -> bool:
    return any(word in name.lower() for word in _INPUT_WORDS)


def request_difference(
    recorded: Mapping[str, Any], sent: Mapping[str, Any], match_on: Sequence[str] = MATTERING_FIELDS
) -> tuple[str, str] | None:
    """The first body field by which ``sent`` is another request than ``recorded``: (JSON path, what differs).

    Without this a text-to-video request replayed happily from a
    reference-to-video cassette (the URL is the same; vcrpy matches on URL).
    """
    for name in match_on:
        if recorded.get(name) != sent.get(name):
            return f"$.{name}", f"the app sent {sent.get(name)!r}, the cassette recorded {recorded.get(name)!r}"
    return None


def mismatch_error(exc: Any, cassette: str | None) -> CassetteMismatchError:
    request = getattr(exc, "failed_request", None)
    method = getattr(request, "method", "?")
    url = getattr(request, "uri", "?")
    where = cassette or str(getattr(getattr(exc, "cassette", None), "_path", "?"))
    return CassetteMismatchError(method, url, where, getattr(exc, "reason", None))


def close_quietly(transport: ProviderClient) -> None:
    """Close a transport's session from synchronous code (fixture teardown), whatever loop made it."""
    import asyncio
    import contextlib

    session = getattr(transport, "_session", None)
    if session is None or session.closed:
        return
    with contextlib.suppress(Exception):
        asyncio.run(transport.close())
