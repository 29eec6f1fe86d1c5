"""Push + poll vs polling: detection delay and status reads per job, on the sandbox, in one run.

    python bench/push.py [--jobs 20] [--factor 1000] [--seed 0]

Every job runs the seed document's typical duration (522 s) on a time-scaled sandbox
(ScaledClock: ``--factor`` times faster, 200 by default, so 522 s take 2.6 s) over real
sockets: the engine, the sandbox that ages jobs and calls back, and the callback
receiver on its own port. The model is Replicate's minimax/video-01 spec (signed,
Standard Webhooks callbacks) with its hints set to 522 s, written to a temporary
spec folder.

Rows: ``push+poll`` (callbacks on), ``push+poll, unsigned`` (Luma's own API with its hints
set likewise: unsigned callbacks are hints, each answered by one status read), ``push, all
dropped`` (every callback lost: the safety net alone), and the polling strategies with no receiver (``fixed-15s``,
``exponential``, ``adaptive``, ``learned``; the jobs run side by side, so ``learned``
has only the spec's hint to go on, not earlier jobs: bench/polling.py measures its learning).
Status reads are counted from the sandbox's request log.

How delay is measured: a polling strategy's delay is set by its schedule, in the
simulated seconds of the scaled clock. A callback's delay is not a schedule but real
latency (the sandbox noticing the end, one HTTP POST, verification, waking the wait);
scaling it up by ``--factor`` would charge it for time that does not scale with the
job's length, so push rows give the measured wall-clock delay. Conversely each status
read's own round trip (a few ms) is scaled up on the polling rows (about 0.4 s of
simulated time a read at x200), which slightly lengthens their effective intervals.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path

from wan_engine.client.engine import Engine
from wan_engine.client.learned_polling import Learned
from wan_engine.client.polling import Adaptive, ExponentialBackoff, FixedInterval, PollingStrategy
from wan_engine.client.push import PushHub
from wan_engine.clock import ScaledClock
from wan_engine.receiver.app import CallbackReceiver, ReceiverServer
from wan_engine.sandbox.callbacks import DEFAULT_SECRET, CallbackFaults
from wan_engine.sandbox.config import SandboxConfig
from wan_engine.sandbox.server import Sandbox
from wan_engine.spec.files import bundled_specs_dir
from wan_engine.spec.registry import SpecRegistry

TYPICAL_S = 522.0
MODEL = "replicate/bench-522"
ENV = {"REPLICATE_API_TOKEN": "bench", "LUMAAI_API_KEY": "bench", "REPLICATE_WEBHOOK_SECRET": DEFAULT_SECRET}


HINT_MODEL = "lumalabs/bench-522"


def bench_registry(folder: Path) -> SpecRegistry:
    """The two bench models: Replicate's (signed callbacks) and Luma's (unsigned: hints), hinted at 522 s."""
    (folder / "bench").mkdir()
    for source_file, model_id in (("replicate/minimax-video-01.json", MODEL), ("lumalabs/ray-2.json", HINT_MODEL)):
        source = json.loads((bundled_specs_dir() / "models" / source_file).read_text())
        source["id"] = model_id
        source["polling"] = {"typical_duration_s": TYPICAL_S, "duration_spread": 0.1, "recommended_interval_s": 15,
                             "source": "The seed document's example run (8 min 42 s)."}  # fmt: skip
        (folder / "bench" / f"{model_id.replace('/', '-')}.json").write_text(json.dumps(source))
    return SpecRegistry.discover([folder])


async def run(
    registry: SpecRegistry, jobs: int, factor: float, seed: int, *, push: bool, drop: bool = False,
    strategy: PollingStrategy | None = None, model: str = MODEL,
) -> tuple[float, float, float]:
    """Mean detection delay (s, see module doc), mean wall delay (s), mean status reads per job."""
    clock = ScaledClock(factor)
    faults = CallbackFaults(drop=1.0 if drop else 0.0)
    config = SandboxConfig(duration_s=TYPICAL_S, clock=clock.now, seed=seed, callback_faults=faults)
    async with Sandbox(registry, config) as sandbox:
        hub = PushHub("http://unset") if push else None
        server = ReceiverServer(CallbackReceiver(registry, hub, env=ENV)) if hub is not None else None
        if server is not None and hub is not None:
            await server.__aenter__()
            hub.public_url = str(server.url)
        try:
            async with Engine(
                registry, base_urls=sandbox.base_urls(), env=ENV, clock=clock, push=hub,
                strategy=strategy or "adaptive",
            ) as engine:  # fmt: skip

                async def one() -> tuple[float, int]:
                    job = await engine.submit(model, {"prompt": "bench"})
                    await job.wait()
                    late = clock.now() - sandbox.jobs[job.id].completes_at
                    reads = sum(1 for r in sandbox.request_log if r.method == "GET" and job.id in r.path)
                    return late, reads

                results = await asyncio.gather(*(one() for _ in range(jobs)))
        finally:
            if server is not None:
                await server.__aexit__(None, None, None)
    lates = [late for late, _ in results]
    wall = statistics.mean(lates) / factor
    virtual = statistics.mean(lates)
    reads = statistics.mean(r for _, r in results)
    return (wall if push and not drop else virtual), wall, reads


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--factor", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        registry = bench_registry(Path(folder))
        rows: list[tuple[str, dict[str, object]]] = [
            ("push+poll", {"push": True}),
            ("push+poll, unsigned", {"push": True, "model": HINT_MODEL}),  # Luma: each callback costs a read
            ("push, all dropped", {"push": True, "drop": True}),
            ("fixed-15s", {"push": False, "strategy": FixedInterval(15.0)}),
            ("exponential", {"push": False, "strategy": ExponentialBackoff()}),
            ("adaptive", {"push": False, "strategy": Adaptive()}),
            ("learned", {"push": False, "strategy": Learned()}),  # from the hint alone: jobs run side by side
        ]
        print(f"{args.jobs} jobs of {TYPICAL_S:g} s each, time x{args.factor:g}, seed {args.seed}")
        print(f"{'strategy':<20} {'mean delay s':>12} {'measured as':>16} {'reads/job':>10}")
        for name, options in rows:
            delay, _wall, reads = await run(registry, args.jobs, args.factor, args.seed, **options)  # type: ignore[arg-type]
            how = "wall clock" if name.startswith("push+poll") else "simulated time"
            print(f"{name:<20} {delay:>12.3f} {how:>16} {reads:>10.2f}")


if __name__ == "__main__":
    asyncio.run(main())
