"""Polling efficiency: how late each strategy notices completion, and how many requests it spends.

Runs the engine's real wait loop (Job.wait) on a VirtualClock against a
simulated provider whose jobs finish at durations drawn from a log-normal
distribution around the seed document's example run (8 min 42 s = 522 s).
The baseline is the seed's own loop: a status read every 15 s.

    python bench/polling.py [--jobs 1000] [--seed 1] [--spreads 0.05,0.1,0.2,0.4,0.8] [--budget 10]

Strategies, each on the same stream of jobs (the same durations, in order):

* ``fixed-15s``, ``exponential``, ``adaptive`` (today's);
* ``learned``: starts from the spec's hint and, after each job, is told that
  job's duration as the engine saw it (the middle of the last gap between
  status reads, since nothing else is known), so learning is measured, not
  assumed; its budget is ``--budget`` reads per job;
* ``oracle``: the same optimal schedule with the *true* distribution given,
  at the learned strategy's measured reads per job: the reference the
  ``vs oracle`` column divides by.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import time

from wan_engine.client.duration_model import LogNormal
from wan_engine.client.engine import Engine
from wan_engine.client.learned_polling import Learned
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
    submitted = clock.now()
    job = engine.job(MODEL, simulated.id, submitted_at=submitted)
    before = transport.reads
    # A learning strategy is taught by the engine's own wait loop (the job finished between its last
    # two reads), exactly as in an application: the benchmark adds no knowledge of its own.
    await job.wait(strategy=strategy)
    return clock.now() - simulated.completes_at, transport.reads - before


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


WARM_UP = 100
"""Jobs after which the strategies are also compared once the learned one has learned (the last column)."""


async def run(
    registry: SpecRegistry, strategy: PollingStrategy, durations: list[float]
) -> tuple[float, float, float, float]:
    """Mean delay, p95 delay, mean reads per job, and mean delay after the warm-up, over the stream of jobs."""
    clock = VirtualClock()
    transport = SimulatedProvider(clock)
    engine = Engine(registry, client=transport, clock=clock)
    delays, requests = [], []
    for duration in durations:
        delay, reads = await detection(engine, transport, strategy, duration)
        delays.append(delay)
        requests.append(reads)
    later = delays[WARM_UP:] or delays
    return statistics.mean(delays), p95(delays), statistics.mean(requests), statistics.mean(later)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--spreads", default="0.05,0.1,0.2,0.4,0.8")
    parser.add_argument("--budget", type=float, default=10.0, help="the learned strategy's reads per job")
    args = parser.parse_args()
    registry = SpecRegistry.discover()
    started = time.perf_counter()
    print(f"{args.jobs} simulated jobs per row, log-normal durations around {TYPICAL_S:.0f} s (virtual time)\n")
    header = (
        f"{'spread':>6} {'strategy':<12} {'mean delay s':>12} {'p95 delay s':>11} "
        f"{'requests/job':>12} {'req vs fixed':>12} {'delay vs oracle':>15} {'after ' + str(WARM_UP) + ' jobs':>14}"
    )
    for spread in (float(s) for s in args.spreads.split(",")):
        rng = random.Random(args.seed)
        durations = [rng.lognormvariate(math.log(TYPICAL_S), spread) for _ in range(args.jobs)]
        print(
            f"durations: spread (log sd) {spread:.2f}, mean {statistics.mean(durations):.0f} s, "
            f"sd {statistics.pstdev(durations):.0f} s; adaptive assumes its default spread 0.10"
        )
        print(header)
        learned = Learned(requests_per_job=args.budget, model=MODEL)
        rows: dict[str, tuple[float, float, float, float]] = {
            "fixed-15s": await run(registry, FixedInterval(15.0), durations),
            "exponential": await run(registry, ExponentialBackoff(rng=random.Random(args.seed)), durations),
            "adaptive": await run(registry, Adaptive(), durations),
            "learned": await run(registry, learned, durations),
        }
        # The oracle at the learned strategy's measured reads per job: its budget is corrected once by
        # what the wait loop adds (its first read) so both spend the same number of reads.
        truth, target = LogNormal(math.log(TYPICAL_S), spread), rows["learned"][2]
        rows["oracle"] = await run(registry, Learned(requests_per_job=target, known=truth), durations)
        budget = target + (target - rows["oracle"][2])
        rows["oracle"] = await run(registry, Learned(requests_per_job=budget, known=truth), durations)
        fixed_requests, oracle_delay, oracle_later = rows["fixed-15s"][2], rows["oracle"][0], rows["oracle"][3]
        for name, (mean_delay, p95_delay, mean_requests, later) in rows.items():
            print(
                f"{spread:>6.2f} {name:<12} {mean_delay:>12.2f} {p95_delay:>11.2f} {mean_requests:>12.2f} "
                f"{mean_requests / fixed_requests:>12.3f} {mean_delay / oracle_delay:>15.3f} "
                f"{later / oracle_later:>14.3f}"
            )
        estimate = learned.durations.estimate(MODEL, None, typical_s=TYPICAL_S)
        print(f"       learned estimate after {args.jobs} jobs: median {estimate.median_s:.0f} s, "
              f"spread {estimate.sigma:.3f} (true {TYPICAL_S:.0f} s, {spread:.3f})\n")  # fmt: skip
    print(f"(ratios in the same run: requests against fixed-15s, delay against the oracle; "
          f"wall time {time.perf_counter() - started:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
