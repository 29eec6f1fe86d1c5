"""The learned polling strategy: its estimate converges, its schedule is optimal for its budget, it obeys bounds."""

from __future__ import annotations

import math
import random

import pytest

from wan_engine.client.duration_model import DurationModel, LogNormal
from wan_engine.client.learned_polling import Learned, expected_cost, gap, solve_lambda
from wan_engine.client.polling import PollContext, bounded_delay, from_name
from wan_engine.spec.model import PollingHints
from wan_engine.states import JobState

HINTS = PollingHints(typical_duration_s=522.0)


def ctx(elapsed: float, hints: PollingHints = HINTS, **extra: object) -> PollContext:
    return PollContext(elapsed_s=elapsed, polls=1, state=JobState.RUNNING, hints=hints, **extra)  # type: ignore[arg-type]


def test_it_is_a_registered_strategy() -> None:
    strategy = from_name("learned", requests_per_job=8)
    assert isinstance(strategy, Learned) and strategy.requests_per_job == 8


@pytest.mark.parametrize("spread", [0.05, 0.2, 0.8])
def test_the_estimate_converges_from_interval_observations(spread: float) -> None:
    rng = random.Random(7)
    model = DurationModel()
    for _ in range(400):
        duration = rng.lognormvariate(math.log(300), spread)
        after = duration - rng.uniform(0, 0.05 * duration)  # known only to within a read's gap
        model.observe_between("m", None, after, after + 0.05 * duration)
    estimate = model.estimate("m", None, typical_s=330.0)  # a hint 10 % off
    assert estimate.median_s == pytest.approx(300, rel=0.03 + spread / 10)
    assert estimate.sigma == pytest.approx(spread, rel=0.15, abs=0.015)


def test_with_no_history_the_hint_is_the_estimate() -> None:
    estimate = DurationModel().estimate("m", None, typical_s=522.0, spread=0.2)
    assert (estimate.median_s, estimate.sigma) == (pytest.approx(522.0), 0.2)


def test_parameters_that_move_the_duration_get_their_own_estimate() -> None:
    model = DurationModel()
    for _ in range(50):
        model.observe("m", {"duration": 5, "prompt": "a"}, 100.0)
        model.observe("m", {"duration": 10, "prompt": "b"}, 400.0)
    short = model.estimate("m", {"duration": 5, "prompt": "zzz"}, typical_s=522.0)
    long = model.estimate("m", {"duration": 10}, typical_s=522.0)
    assert short.median_s < 130 < 300 < long.median_s
    unseen = model.estimate("m", {"duration": 15}, typical_s=522.0)
    assert 100 < unseen.median_s < 400, "a new bucket starts from the model's overall estimate"


def test_nonsense_observations_are_ignored() -> None:
    model = DurationModel()
    for bad in (0.0, -1.0, math.nan, math.inf):
        model.observe("m", None, bad)
    model.observe_between("m", None, 10.0, 5.0)
    assert model.estimate("m", None, typical_s=60.0).observations == 0


@pytest.mark.parametrize("spread", [0.05, 0.4])
def test_the_budget_is_spent_as_asked(spread: float) -> None:
    distribution = LogNormal(math.log(522), spread)
    for budget in (6.0, 12.0):
        lam = solve_lambda(distribution, budget, min_gap=1.0, max_gap=174.0)
        assert expected_cost(distribution, lam, min_gap=1.0, max_gap=174.0).requests == pytest.approx(budget, rel=0.01)


def test_the_hazard_schedule_beats_a_fixed_interval_with_the_same_reads() -> None:
    """Against the exact expected cost of every fixed interval spending as many reads."""
    distribution = LogNormal(math.log(522), 0.2)
    lam = solve_lambda(distribution, 10.0, min_gap=1.0, max_gap=174.0)
    learned = expected_cost(distribution, lam, min_gap=1.0, max_gap=174.0)
    fixed = expected_cost(distribution, 0.0, min_gap=distribution.mean_s / 10, max_gap=distribution.mean_s / 10)
    assert fixed.requests == pytest.approx(learned.requests, rel=0.2)
    assert learned.delay_s < 0.5 * fixed.delay_s


def test_reads_are_dense_around_the_typical_duration_and_sparse_early() -> None:
    strategy = Learned(requests_per_job=10)
    early, middle = strategy.next_delay(ctx(10.0)), strategy.next_delay(ctx(522.0))
    assert early > 3 * middle
    assert early <= 522.0 / 3, "no gap longer than a third of the typical duration"


def test_min_interval_and_retry_after_still_bound_it() -> None:
    hints = PollingHints(typical_duration_s=522.0, min_interval_s=30.0)
    strategy = Learned(requests_per_job=50)
    context = ctx(522.0, hints, retry_after_s=45.0)
    assert strategy.next_delay(context) >= 30.0
    assert bounded_delay(strategy.next_delay(context), context) == 45.0


def test_without_a_typical_duration_it_backs_off() -> None:
    strategy = Learned()
    assert strategy.next_delay(ctx(0.0, PollingHints())) == pytest.approx(2.0, rel=0.25)


def test_learning_moves_the_schedule() -> None:
    strategy = Learned(requests_per_job=10, model="m")
    before = strategy.next_delay(ctx(200.0))
    for _ in range(200):
        strategy.observe("m", None, 200.0 * random.Random(1).uniform(0.99, 1.01))
    after = strategy.next_delay(ctx(200.0))
    assert after < before / 3, "jobs finish around 200 s, not 522 s: read densely there now"
    assert strategy.expected(ctx(0.0)) is not None


def test_gaps_never_leap_over_the_dense_window() -> None:
    """With a narrow spread, early gaps are long, but the first read near the end lands before the window."""
    distribution = LogNormal(math.log(522), 0.05)
    lam = solve_lambda(distribution, 10.0, min_gap=1.0, max_gap=174.0)
    times, t = [], 0.0
    while t < 600:
        t += gap(distribution, t, lam, min_gap=1.0, max_gap=174.0)
        times.append(t)
    low, high = 522 * math.exp(-2 * 0.05), 522 * math.exp(2 * 0.05)
    assert times[0] > 100, "sparse early"
    assert any(time <= low for time in times[1:]) and min(t for t in times if t > low) - low < 30
    assert sum(low <= time <= high for time in times) >= 8, "dense across the window"
