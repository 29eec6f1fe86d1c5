"""The sandbox's jobs: created by submits, they age along a timeline of simulated time.

A job stores when it started rather than a state, so its state is always the
one its age implies: tests advance the clock and never wait for the server.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs

from wan_engine.sandbox.faults import FaultRule
from wan_engine.spec.model import ModelSpec
from wan_engine.states import JobState

QUEUED_FRACTION = 0.1
ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
ID_LENGTH = 21
TOKEN_LENGTH = 32


@attrs.define
class SandboxJob:
    id: str
    model: ModelSpec
    params: dict[str, Any]
    created_at: float
    duration_s: float
    media_token: str
    clock: Callable[[], float] = attrs.field(repr=False)
    failure: FaultRule | None = None
    """The job_fails fault that dooms this job, if one fired on its submit."""
    cancelled_at: float | None = None

    @property
    def model_id(self) -> str:
        return self.model.id

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    @property
    def completes_at(self) -> float:
        return self.created_at + self.duration_s

    def state_at(self, now: float) -> JobState:
        if self.cancelled_at is not None:
            return JobState.CANCELLED
        age = now - self.created_at
        if age >= self.duration_s:
            return JobState.FAILED if self.failure is not None else JobState.SUCCEEDED
        return JobState.RUNNING if age >= QUEUED_FRACTION * self.duration_s else JobState.QUEUED

    @property
    def state(self) -> JobState:
        return self.state_at(self.clock())


def _random_id(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(ID_ALPHABET) for _ in range(length))


class JobBook:
    """Every job, and the counts tests check to prove a submit was (or was not) paid for."""

    def __init__(self, seed: int, clock: Callable[[], float]) -> None:
        self.jobs: dict[str, SandboxJob] = {}
        self.submissions: Counter[str] = Counter()
        self.submit_requests = 0
        self._clock = clock
        self._by_token: dict[str, SandboxJob] = {}
        # Separate generators, so a token drawn never shifts the next job id.
        self._ids = random.Random(f"{seed}:job-ids")
        self._tokens = random.Random(f"{seed}:media-tokens")

    def create(
        self, model: ModelSpec, params: dict[str, Any], duration_s: float, failure: FaultRule | None
    ) -> SandboxJob:
        job_id = _random_id(self._ids, ID_LENGTH)
        while job_id in self.jobs:
            job_id = _random_id(self._ids, ID_LENGTH)
        job = SandboxJob(
            id=job_id,
            model=model,
            params=params,
            created_at=self._clock(),
            duration_s=duration_s,
            media_token=_random_id(self._tokens, TOKEN_LENGTH),
            clock=self._clock,
            failure=failure,
        )
        self.jobs[job.id] = job
        self._by_token[job.media_token] = job
        self.submissions[model.id] += 1
        return job

    def by_token(self, token: str) -> SandboxJob | None:
        return self._by_token.get(token)
