"""zmesos.backoff: the registration retry schedule shared by the agent and both drivers."""

from __future__ import annotations

import random

import pytest

from zmesos.backoff import Backoff


class TopOfRange(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


def test_backoff_doubles_up_to_its_cap_and_resets():
    backoff = Backoff(1.0, 5.0, rng=TopOfRange())
    assert [backoff.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 1.0


def test_backoff_delays_stay_inside_their_jitter_range():
    backoff = Backoff(8.0, 8.0, jitter=(0.5, 1.0), rng=random.Random(3))
    delays = [backoff.next() for _ in range(200)]
    assert all(4.0 <= delay <= 8.0 for delay in delays)
    assert len(set(delays)) > 100


def test_backoff_without_jitter_is_exact():
    backoff = Backoff(1.0, 10.0, jitter=(1.0, 1.0))
    assert [backoff.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_backoff_minimum_keeps_a_zero_bound_from_spinning():
    backoff = Backoff(0.0, 60.0, minimum=0.01)
    assert backoff.next() == 0.01


@pytest.mark.parametrize(
    ("initial", "cap", "jitter"),
    [(-1.0, 1.0, (0.0, 1.0)), (1.0, -1.0, (0.0, 1.0)), (1.0, 2.0, (0.8, 0.2)), (1.0, 2.0, (0, 2))],
)
def test_backoff_refuses_bad_parameters(initial, cap, jitter):
    with pytest.raises(ValueError):
        Backoff(initial, cap, jitter=jitter)
