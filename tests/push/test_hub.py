"""The hub and the safety net alone, on injected clocks: deterministic and fast."""

from __future__ import annotations

import asyncio

from wan_engine.client.polling import PollContext
from wan_engine.client.push import Callback, PushHub, SafetyNet, callback_placement, sleep_or_wake
from wan_engine.clock import VirtualClock
from wan_engine.spec.model import (
    CallbackEvents,
    CallbackSignature,
    CallbackSpec,
    CallbackUrl,
    PollingHints,
    SafetyPolling,
)
from wan_engine.states import JobState


def test_the_hub_wakes_only_known_jobs_once_per_event() -> None:
    hub = PushHub("https://hooks.example/wan/")
    assert hub.callback_url("replicate") == "https://hooks.example/wan/replicate"
    assert PushHub("https://h.example/cb?k=1").callback_url("fal") == "https://h.example/cb/fal?k=1"
    box = hub.mailbox("replicate", "j1")
    first = Callback("replicate", "j1", "e1", trusted=True, state=JobState.SUCCEEDED)
    assert hub.deliver(first) == "woke"
    assert hub.deliver(first) == "duplicate"
    assert hub.deliver(Callback("replicate", "j2", "e2", trusted=True)) == "unknown"
    assert hub.deliver(Callback("lumalabs", "j1", "e3", trusted=False)) == "unknown"  # same id, other provider
    assert [c.event_id for c in box.take()] == ["e1"]
    hub.finished("replicate", "j1")
    assert hub.deliver(Callback("replicate", "j1", "e4", trusted=True)) == "finished"
    assert hub.counts == {"woke": 1, "duplicate": 1, "unknown": 2, "finished": 1}


def test_the_hub_forgets_old_events_within_its_bound() -> None:
    hub = PushHub("http://x", remember=2)
    hub.mailbox("p", "j")
    for event in ("a", "b", "c"):
        assert hub.deliver(Callback("p", "j", event, trusted=False)) == "woke"
    assert hub.deliver(Callback("p", "j", "c", trusted=False)) == "duplicate"


async def test_a_callback_cuts_a_sleep_short() -> None:
    hub = PushHub("http://x")
    box = hub.mailbox("p", "j")

    class SlowClock(VirtualClock):
        async def sleep(self, seconds: float) -> None:
            await asyncio.sleep(3600)  # a sleep only a callback can end

    async def later() -> None:
        await asyncio.sleep(0.01)
        hub.deliver(Callback("p", "j", "e", trusted=False))

    sender = asyncio.ensure_future(later())
    got = await asyncio.wait_for(sleep_or_wake(SlowClock(), 600, box), timeout=5)
    await sender
    assert [c.event_id for c in got] == ["e"]


def test_the_safety_net_polls_once_late_then_sparsely() -> None:
    net = SafetyNet(SafetyPolling(first_after_typical=1.5))
    hints = PollingHints(typical_duration_s=522)

    def at(elapsed: float, polls: int) -> float:
        return net.next_delay(PollContext(elapsed_s=elapsed, polls=polls, state=JobState.RUNNING, hints=hints))

    assert at(0, 0) == 783
    assert at(700, 0) == 83
    assert at(783, 1) == 261
    assert SafetyNet(SafetyPolling(interval_s=60)).next_delay(
        PollContext(elapsed_s=10_000, polls=5, state=JobState.RUNNING, hints=hints)
    ) == 60


def test_callback_placement_in_query_or_body_leaves_the_template_alone() -> None:
    signature = CallbackSignature("none")
    query_spec = CallbackSpec(CallbackUrl("query", name="fal_webhook"), signature)
    body = {"prompt": "x"}
    placed, query = callback_placement(query_spec, body, "https://h/fal")
    assert placed == {"prompt": "x"} and query == {"fal_webhook": "https://h/fal"}
    events = CallbackEvents("/webhook_events_filter", ["completed"])
    body_spec = CallbackSpec(CallbackUrl("body", pointer="/webhook"), signature, events=events)
    placed, query = callback_placement(body_spec, body, "https://h/replicate")
    assert placed == {"prompt": "x", "webhook": "https://h/replicate", "webhook_events_filter": ["completed"]}
    assert query == {} and body == {"prompt": "x"}
