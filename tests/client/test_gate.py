"""The request gate: never more holders than slots, no slot or wake-up lost to a cancellation."""

from __future__ import annotations

import asyncio

import pytest

from wan_engine.client.gate import Gate


async def test_never_more_holders_than_slots_and_everyone_gets_through() -> None:
    gate = Gate(3)
    inside = peak = done = 0

    async def worker() -> None:
        nonlocal inside, peak, done
        async with gate:
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0)
            inside -= 1
        done += 1

    await asyncio.gather(*(worker() for _ in range(200)))
    assert (peak, done, gate.free, gate.waiting) == (3, 200, 3, 0)


async def test_a_waiter_cancelled_after_being_woken_passes_the_wake_up_on() -> None:
    gate = Gate(1)
    order: list[str] = []
    await gate.__aenter__()  # the one slot is taken

    async def waiter(name: str) -> None:
        async with gate:
            order.append(name)

    first = asyncio.ensure_future(waiter("first"))
    second = asyncio.ensure_future(waiter("second"))
    await asyncio.sleep(0)
    assert gate.waiting == 2
    await gate.__aexit__(None, None, None)  # wakes "first"...
    first.cancel()  # ...which is cancelled before it runs
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 1)
    assert order == ["second"] and gate.free == 1


async def test_a_cancelled_waiter_is_skipped_and_takes_no_slot() -> None:
    gate = Gate(1)
    await gate.__aenter__()
    gone = asyncio.ensure_future(gate.__aenter__())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    await gate.__aexit__(None, None, None)
    assert gate.free == 1
    async with gate:
        assert gate.free == 0


async def test_a_waiter_that_loses_the_race_keeps_its_place_at_the_head() -> None:
    gate = Gate(1)
    order: list[str] = []
    await gate.__aenter__()

    async def waiter(name: str) -> None:
        async with gate:
            order.append(name)
            await asyncio.sleep(0)

    old = asyncio.ensure_future(waiter("old"))
    await asyncio.sleep(0)
    younger = asyncio.ensure_future(waiter("younger"))
    await asyncio.sleep(0)
    await gate.__aexit__(None, None, None)  # the slot is free; "old" is woken but has not run yet
    async with gate:  # a newcomer barges in first (as aiohttp's pool lets it)
        order.append("newcomer")
    await asyncio.gather(old, younger)
    assert order == ["newcomer", "old", "younger"]


def test_a_gate_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        Gate(0)
