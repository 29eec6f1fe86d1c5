"""A callback received by one process for a job waiting in another: recorded in the shared journal
by the receiver, picked up by the owner's JournalCallbacks, and the job wakes (as a hint: one read)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from wan_engine.client.push import PushHub, SafetyNet
from wan_engine.clock import ScaledClock
from wan_engine.journal import open_journal
from wan_engine.journal.durable import DurableEngine
from wan_engine.receiver.app import CallbackReceiver, ReceiverServer
from wan_engine.receiver.journal_bridge import JournalCallbacks
from wan_engine.sandbox.config import SandboxConfig
from wan_engine.sandbox.server import Sandbox
from wan_engine.spec.model import SafetyPolling
from wan_engine.spec.registry import SpecRegistry

from .test_push import ENV, FACTOR, MODELS


def _journal_bytes(folder: Path) -> bytes:
    """The database and its WAL, as stored."""
    return b"".join(path.read_bytes() for path in sorted(folder.glob("journal.db*")))


async def test_a_callback_for_another_process_goes_through_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The safety poll out of reach: the job can only end through the journaled callback.
    far = SafetyNet(SafetyPolling(first_after_typical=1000.0))
    monkeypatch.setattr(SafetyNet, "for_callbacks", classmethod(lambda cls, callbacks: far))
    registry = SpecRegistry.discover()
    journal_file = tmp_path / "journal.db"
    model, params = MODELS["replicate"]
    clock = ScaledClock(FACTOR)
    async with Sandbox(registry, SandboxConfig(realistic=True, clock=clock.now)) as sandbox:
        # "Process A": a receiver with its own (empty) hub and the shared journal.
        receiving_journal = open_journal(journal_file)
        receiver = CallbackReceiver(registry, PushHub("http://a"), env=ENV, journal=receiving_journal)
        async with ReceiverServer(receiver) as server:
            # "Process B": the engine that owns the job; its callbacks go to A's receiver.
            owner_hub = PushHub(str(server.url))
            engine = DurableEngine(
                registry, journal=journal_file, base_urls=sandbox.base_urls(), env=ENV, clock=clock, push=owner_hub
            )
            async with engine:
                bridge = JournalCallbacks(engine.journal, owner_hub, interval_s=0.005)
                watching = asyncio.ensure_future(bridge.run())
                try:
                    job = await engine.submit(model, params)
                    result = await asyncio.wait_for(job.wait(), timeout=30)
                finally:
                    watching.cancel()
                late_s = (clock.now() - sandbox.jobs[job.id].completes_at) / FACTOR
                key = engine.journal_key(job)
                assert key is not None
                history = [entry.event for entry in engine.journal.history(key)]
        receiving_journal.close()
    assert [v.outcome for _, v in receiver.verdicts] == ["journaled"]
    assert "callback" in history
    assert result.video_url.endswith(".mp4")
    assert owner_hub.counts["woke"] == 1  # the journaled callback, handed on by the bridge
    assert job.polls == 1  # the hint's one read
    assert late_s < 5.0  # real seconds (loose: a loaded machine); the safety poll was 1000 typical durations away
    assert sandbox.submission_count == 1
    stored = _journal_bytes(tmp_path)
    for secret in (ENV["REPLICATE_WEBHOOK_SECRET"], ENV["REPLICATE_API_TOKEN"]):
        assert secret.encode() not in stored
