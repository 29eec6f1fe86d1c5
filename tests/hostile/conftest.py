"""Fixtures for the hostile-provider tests: the API, a second origin, and an engine pointed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import pytest
from support.local_server import serving

from hostile.provider import KEY, HostileApi, OtherOrigin
from wan_engine.client.engine import Engine
from wan_engine.client.provider_client import RetryPolicy
from wan_engine.clock import VirtualClock

MODEL = "alibaba/wan-2-7-r2v"
PARAMS = {"prompt": "Video 1 dances", "video_urls": ["https://example.com/ref.mp4"], "duration": 5}


@attrs.define
class Hostile:
    api: HostileApi
    other: OtherOrigin
    engine: Engine
    clock: VirtualClock


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    api, other = HostileApi(), OtherOrigin()
    async with serving(api.app()) as api_url, serving(other.app()) as other_url:
        api.base_url, other.base_url = api_url, other_url
        clock = VirtualClock()
        engine = Engine(
            base_urls={"aimlapi": api_url},
            env={"AIMLAPI_KEY": KEY},
            clock=clock,
            retry=RetryPolicy(),
            strategy="fixed",
        )
        async with engine:
            yield Hostile(api, other, engine, clock)
