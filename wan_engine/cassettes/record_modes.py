"""Record modes for an app's own test suite, as pytest-recording has them: none, once, new, all.

``none`` (the default) replays and nothing reaches the network; ``once`` records a cassette that
does not exist yet and replays it from then on; ``new`` replays what is recorded and records
requests the cassette does not hold; ``all`` records again in place. A recording goes to the
provider (or the ``base_url`` given: a sandbox), scrubbed and labelled like every cassette here,
and recording in place keeps the cassette's earlier provenance in ``history``.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, get_args

from wan_engine.cassettes.provenance import CassetteOrigin, decide_source
from wan_engine.cassettes.recording import _PassThrough, _versions
from wan_engine.cassettes.scrubbing import Scrubber
from wan_engine.cassettes.serializer import harness_vcr, read_cassette
from wan_engine.cassettes.transport import HarnessClient, client_connector, close_quietly
from wan_engine.client.engine import Engine
from wan_engine.client.polling import PollingStrategy
from wan_engine.clock import Clock, SystemClock
from wan_engine.errors import UsageError
from wan_engine.spec.registry import SpecRegistry

RecordMode = Literal["none", "once", "new", "all"]
RECORD_MODES: tuple[RecordMode, ...] = get_args(RecordMode)
_VCR_MODES = {"once": "once", "new": "new_episodes", "all": "all"}


def needs_recording(mode: str, cassette: Path) -> bool:
    """Whether ``mode`` sends this test's requests to the network rather than only replaying them."""
    if mode not in RECORD_MODES:
        raise UsageError(f"unknown record mode {mode!r}; use one of {', '.join(RECORD_MODES)}")
    return mode in ("new", "all") or (mode == "once" and not cassette.exists())


class CassetteRecorder:
    """An Engine whose exchanges with the provider are recorded into ``cassette`` (``with ... as engine``)."""

    def __init__(
        self,
        cassette: str | os.PathLike[str],
        registry: SpecRegistry,
        model: str,
        *,
        mode: RecordMode = "once",
        base_url: str | None = None,
        api_key: str | None = None,
        clock: Clock | None = None,
        strategy: PollingStrategy | str = "fixed",
    ) -> None:
        self.path = Path(cassette)
        self.registry, self.spec = registry, registry.model(model)
        self.mode, self.strategy = mode, strategy
        provider = self.spec.provider
        self.base = (base_url or provider.base_url).rstrip("/")
        self.key = api_key if api_key is not None else os.environ.get(provider.auth.env or "", "")
        if provider.auth.env and not self.key:
            raise UsageError(f"recording {model} needs its API key in {provider.auth.env} (or a base_url to a sandbox)")
        self.clock = clock or SystemClock()
        self.engine: Engine | None = None
        self._stack: ExitStack | None = None

    def _origin(self, scrubber: Scrubber) -> CassetteOrigin:
        provider = self.spec.provider
        history: list[dict[str, Any]] | None = None
        if self.path.exists():  # recorded again in place: the earlier provenance is kept, newest first
            earlier = read_cassette(self.path).provenance_block
            if isinstance(earlier, dict):
                history = [{k: v for k, v in earlier.items() if k != "history"}, *(earlier.get("history") or [])]
        return CassetteOrigin(
            source=decide_source(None, self.base, provider.base_url, in_process_sandbox=False),
            model=self.spec.id,
            provider=provider.id,
            spec_version=self.spec.spec_version,
            base_url=scrubber.url(self.base),
            note=f"recorded by an app's test suite (record mode {self.mode})",
            strategy=self.strategy if isinstance(self.strategy, str) else type(self.strategy).__name__,
            recorded_with=_versions(),
            history=history,
        )

    def __enter__(self) -> Engine:
        provider = self.spec.provider
        scrubber = Scrubber([self.key], headers=[provider.auth.header] if provider.auth.header else [])
        recorder = harness_vcr(
            self._origin(scrubber),
            record_mode=_VCR_MODES[self.mode],
            before_record_request=_PassThrough(scrubber),
            before_record_response=scrubber.response,
            decode_compressed_response=True,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stack = ExitStack()
        stack.enter_context(recorder.use_cassette(str(self.path)))
        self._stack = stack
        env = {provider.auth.env: self.key} if provider.auth.env else {}
        client = HarnessClient(
            connector_factory=client_connector, cassette=str(self.path), base_urls={provider.id: self.base},
            env=env, clock=self.clock,
        )  # fmt: skip
        self.engine = Engine(self.registry, client=client, clock=self.clock, strategy=self.strategy)
        return self.engine

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.engine is not None:
            close_quietly(self.engine.client)
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()  # vcrpy writes the cassette here
