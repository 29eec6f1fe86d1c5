"""One webhook receiver for every test that needs one: verifies like a real Standard Webhooks consumer.

Tests import the ``receiver`` fixture from here (``from support.webhook_receiver import receiver``).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from support.local_server import serving

SECRET = "whsec_" + base64.b64encode(b"a-very-secret-signing-key-123456").decode()
RAW_SECRET = SECRET.removeprefix("whsec_")


@attrs.define
class Receiver:
    """Verifies each POST like a real consumer would; answers from a script of statuses first.

    ``verified`` holds ``{"event": ..., "id": webhook-id}`` per accepted notice, ``rejected``
    the verification errors (answered 400), ``raw`` every body and header set as received.
    """

    secret: str = SECRET
    script: list[int] = attrs.field(factory=list)
    delay_s: float = 0.0
    verified: list[dict[str, Any]] = attrs.field(factory=list)
    rejected: list[str] = attrs.field(factory=list)
    raw: list[tuple[bytes, dict[str, str]]] = attrs.field(factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        self.raw.append((body, headers))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.script:
            return web.Response(status=self.script.pop(0))
        try:
            event = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as exc:
            self.rejected.append(str(exc))
            return web.Response(status=400, text=str(exc))
        self.verified.append({"event": event, "id": headers["webhook-id"]})
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rx = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", rx.handle)
    async with serving(app) as base:
        rx.url = base + "/hooks"
        yield rx
