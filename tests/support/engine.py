"""Shared helpers for engine tests: an engine wired to a sandbox on shared virtual time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from wan_engine.client.engine import Engine
from wan_engine.client.provider_client import RetryPolicy
from wan_engine.clock import VirtualClock
from wan_engine.journal.durable import DurableEngine
from wan_engine.journal.store import JournalStore
from wan_engine.sandbox import FaultPlan, FaultRule, Sandbox, SandboxConfig
from wan_engine.spec.registry import SpecRegistry

MODEL = "alibaba/wan-2-7-r2v"
KEY = "sk-test-0123456789abcdef"
VIDEO_PARAMS = {"prompt": "Video 1 dances", "video_urls": ["https://example.com/ref.mp4"], "duration": 5}


@asynccontextmanager
async def sandbox_engine(
    registry: SpecRegistry,
    faults: Sequence[FaultRule | str] = (),
    *,
    duration_s: float = 120.0,
    api_key: str | None = KEY,
    retry: RetryPolicy | None = None,
    journal: JournalStore | None = None,
    **config: object,
) -> AsyncIterator[tuple[Engine, Sandbox, VirtualClock]]:
    """A sandbox and an engine sharing one VirtualClock: the engine's sleeps move the sandbox's time.

    With ``journal``, the engine is a DurableEngine on that journal (closed by the caller).
    """
    clock = VirtualClock()
    rules = tuple(FaultRule.parse(f) if isinstance(f, str) else f for f in faults)
    sandbox_config = SandboxConfig(
        duration_s=duration_s,
        clock=clock.now,
        wall_clock=lambda: clock.wall().timestamp(),
        api_key=api_key,
        faults=FaultPlan(rules),
        **config,  # type: ignore[arg-type]
    )
    async with Sandbox(registry, sandbox_config) as sandbox:
        options: dict[str, Any] = {
            "base_urls": sandbox.base_urls(),
            "env": {"AIMLAPI_KEY": KEY},
            "clock": clock,
            "retry": retry or RetryPolicy(),
            "strategy": "fixed",
        }
        engine = Engine(registry, **options) if journal is None else DurableEngine(registry, journal=journal, **options)
        async with engine:
            yield engine, sandbox, clock
