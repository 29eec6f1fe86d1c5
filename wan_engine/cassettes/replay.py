"""Replaying a cassette: the engine runs a recorded session with no network and on virtual time.

Status reads are answered in recorded order whatever the polling strategy
asks (vcrpy's default matchers see identical polls as one request, played in
order, each answer once), so any strategy can be tried against any cassette.
A request the cassette does not hold raises ``CassetteMismatchError``.

    async with replay_engine("cassettes/alibaba/wan-2-7-r2v/success-reference-videos.yaml") as engine:
        result = await engine.run("alibaba/wan-2-7-r2v", prompt="...")
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

from vcr.errors import CannotOverwriteExistingCassetteException

from wan_engine.cassettes.provenance import CassetteOrigin
from wan_engine.cassettes.serializer import harness_vcr, read_cassette
from wan_engine.cassettes.session import SessionOutcome, run_session
from wan_engine.cassettes.transport import (
    MATTERING_FIELDS,
    HarnessClient,
    close_quietly,
    mismatch_error,
    no_network_connector,
)
from wan_engine.client.engine import Engine
from wan_engine.client.polling import PollingStrategy
from wan_engine.clock import Clock, VirtualClock
from wan_engine.spec.registry import SpecRegistry

DUMMY_KEY = "replay-key-not-a-secret"


class CassetteReplay:
    """A context manager (sync or async) holding vcrpy's patch and an engine wired to the cassette.

    Only one replay can be active in a process at a time: vcrpy patches
    aiohttp globally, and every aiohttp request made meanwhile is answered from
    the cassette (or refused).
    """

    def __init__(
        self,
        cassette: str | Path,
        registry: SpecRegistry | None = None,
        *,
        strategy: PollingStrategy | str = "fixed",
        clock: Clock | None = None,
        match_on: Sequence[str] = MATTERING_FIELDS,
    ) -> None:
        self.path = Path(cassette)
        self.match_on = tuple(match_on)
        document = read_cassette(self.path)
        self.provenance: CassetteOrigin = document.provenance
        self.recorded_submit = next(
            (
                x["request"]["body"]
                for x in document.interactions
                if x["request"].get("method") == "POST" and isinstance(x["request"].get("body"), dict)
            ),
            None,
        )
        """The recorded submit's body: a replay of another request (another model) is refused, naming the field."""
        self.registry = registry or SpecRegistry.discover()
        self.spec = self.registry.model(self.provenance.model)
        self.clock = clock or VirtualClock()
        self.strategy = strategy
        self.engine: Engine | None = None
        self._stack: ExitStack | None = None

    def __enter__(self) -> Engine:
        provider = self.spec.provider
        env = {provider.auth.env: DUMMY_KEY} if provider.auth.env else {}
        transport = HarnessClient(
            connector_factory=no_network_connector,
            cassette=str(self.path),
            recorded_submit=self.recorded_submit,
            match_on=self.match_on,
            base_urls={provider.id: self.provenance.base_url},
            env=env,
            clock=self.clock,
        )
        stack = ExitStack()
        stack.enter_context(
            harness_vcr(record_mode="none").use_cassette(str(self.path), allow_playback_repeats=False)
        )
        self._stack = stack
        self.engine = Engine(self.registry, client=transport, clock=self.clock, strategy=self.strategy)
        return self.engine

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.engine is not None:
            close_quietly(self.engine.client)
        self._leave(exc)

    async def __aenter__(self) -> Engine:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.engine is not None:
            await self.engine.close()
        self._leave(exc)

    def _leave(self, exc: BaseException | None) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()
        if isinstance(exc, CannotOverwriteExistingCassetteException):
            raise mismatch_error(exc, str(self.path)) from exc


def replay_engine(
    cassette: str | Path,
    registry: SpecRegistry | None = None,
    *,
    strategy: PollingStrategy | str = "fixed",
    clock: Clock | None = None,
    match_on: Sequence[str] = MATTERING_FIELDS,
) -> CassetteReplay:
    """An engine answering from ``cassette``: ``async with replay_engine(path) as engine: ...``.

    The base URL comes from the cassette's provenance and the key is a dummy. A submit must be the
    recorded request in the ``match_on`` body fields (the model by default; name more, e.g.
    ``("model", "video_urls")``); a difference is a CassetteRequestMismatchError naming the field.
    """
    return CassetteReplay(cassette, registry, strategy=strategy, clock=clock, match_on=match_on)


async def replay_session(
    cassette: str | Path,
    registry: SpecRegistry | None = None,
    *,
    strategy: PollingStrategy | str = "fixed",
    params: dict[str, Any] | None = None,
) -> SessionOutcome:
    """Replay the whole recorded session (the recorded parameters unless given) and say how it ended."""
    replay = replay_engine(cassette, registry, strategy=strategy)
    provenance = replay.provenance
    async with replay as engine:
        return await run_session(
            engine,
            provenance.model,
            params if params is not None else dict(provenance.params or {}),
            validate=provenance.validated,
        )
