"""Polling efficiency: how late each strategy notices completion, and how many requests it spends.

Runs the engine's real wait loop (Job.wait) on a VirtualClock against a
simulated provider whose jobs finish at durations drawn from a log-normal
distribution around the seed document's example run (8 min 42 s = 522 s).
The baseline is the seed's own loop: a status read every 15 s.

    python bench/polling.py [--jobs 1000] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import time

from wan_engine.client.engine import Engine
from wan_engine.client.polling import Adaptive, ExponentialBackoff, FixedInterval, PollingStrategy
from wan_engine.client.provider_client import ProviderClient, Response
from wan_engine.clock import VirtualClock
from wan_engine.sandbox.jobs import SandboxJob
from wan_engine.sandbox.responses import status_document
from wan_engine.spec.model import ModelSpec
from wan_engine.spec.registry import SpecRegistry

MODEL = "alibaba/wan-2-7-r2v"
TYPICAL_S = 522.0


class SimulatedProvider(ProviderClient):
    """Answers status reads as the sandbox would, from the same job model and response builder.

    Jobs walk queued -> running -> succeeded over their duration on the virtual
    clock; no HTTP, so a thousand nine-minute jobs simulate in seconds.
    """

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock=clock, env={})
        self.jobs: dict[str, SandboxJob] = {}
        self.reads = 0

    def start(self, spec: ModelSpec, duration: float) -> SandboxJob:
        job_id = f"job-{len(self.jobs)}"
        job = SandboxJob(job_id, spec, {}, self.clock.now(), duration, "media", self.clock.now)
        self.jobs[job_id] = job
        return job

    async def status(self, spec: ModelSpec, job_id: str) -> Response:
        self.reads += 1
        job = self.jobs[job_id]
        state = job.state_at(self.clock.now())
        return Response(200, status_document(job, state, "https://example.invalid/v.mp4", 0), {})


async def detection(
    engine: Engine, transport: SimulatedProvider, strategy: PollingStrategy, duration: float
) -> tuple[float, int]:
    clock = engine.clock
    assert isinstance(clock, VirtualClock)
    simulated = transport.start(engine.spec(MODEL), duration)
    job = engine.job(MODEL, simulated.id, submitted_at=clock.now())
    before = transport.reads
    await job.wait(strategy=strategy)
    return clock.now() - simulated.completes_at, transport.reads - before


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    registry = SpecRegistry.discover()
    started = time.perf_counter()
    print(f"{args.jobs} simulated jobs per row, log-normal durations around {TYPICAL_S:.0f} s (virtual time)\n")
    header = (
        f"{'spread':>6} {'strategy':<12} {'mean delay s':>12} {'p95 delay s':>11} "
        f"{'requests/job':>12} {'req ratio':>9} {'delay ratio':>11}"
    )
    for spread in (0.05, 0.10, 0.20):
        rng = random.Random(args.seed)
        durations = [rng.lognormvariate(math.log(TYPICAL_S), spread) for _ in range(args.jobs)]
        strategies: dict[str, PollingStrategy] = {
            "fixed-15s": FixedInterval(15.0),
            "exponential": ExponentialBackoff(rng=random.Random(args.seed)),
            "adaptive": Adaptive(),
        }
        print(
            f"durations: spread (log sd) {spread:.2f}, mean {statistics.mean(durations):.0f} s, "
            f"sd {statistics.pstdev(durations):.0f} s; adaptive assumes its default spread 0.10"
        )
        print(header)
        baseline: tuple[float, float] | None = None
        for name, strategy in strategies.items():
            clock = VirtualClock()
            transport = SimulatedProvider(clock)
            engine = Engine(registry, client=transport, clock=clock)
            delays, requests = [], []
            for duration in durations:
                delay, reads = await detection(engine, transport, strategy, duration)
                delays.append(delay)
                requests.append(reads)
            mean_delay, mean_requests = statistics.mean(delays), statistics.mean(requests)
            if baseline is None:
                baseline = (mean_delay, mean_requests)
            print(
                f"{spread:>6.2f} {name:<12} {mean_delay:>12.2f} {p95(delays):>11.2f} {mean_requests:>12.2f} "
                f"{mean_requests / baseline[1]:>9.3f} {mean_delay / baseline[0]:>11.3f}"
            )
        print()
    print(f"(ratios against fixed-15s in the same run; wall time {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    asyncio.run(main())
