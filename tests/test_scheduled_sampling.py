"""The three decay schedules of Bengio et al. (2015): values, monotonicity, range and errors."""

import itertools
import math

import pytest

from rnncourse.scheduled_sampling import exponential_decay, inverse_sigmoid_decay, linear_decay


def test_linear_values_and_floor():
    """max(eps_min, k - c i), capped at 1."""
    assert [linear_decay(i, c=0.1) for i in (0, 5, 10, 20)] == pytest.approx([1.0, 0.5, 0.0, 0.0])
    assert linear_decay(100, c=0.1, eps_min=0.2) == 0.2
    assert linear_decay(2, c=0.1, k=0.9) == pytest.approx(0.7)


def test_exponential_values():
    assert exponential_decay(0, k=0.9) == 1.0
    assert exponential_decay(10, k=0.9) == pytest.approx(0.9**10)


def test_inverse_sigmoid_values_and_midpoint():
    """k/(k+exp(i/k)); equals 1/2 at i = k ln k."""
    k = 10.0
    assert inverse_sigmoid_decay(0, k=k) == pytest.approx(k / (k + 1))
    assert inverse_sigmoid_decay(37, k=k) == pytest.approx(k / (k + math.exp(3.7)))
    k = 50.0
    midpoint = k * math.log(k)  # 195.6
    i = int(midpoint)
    assert inverse_sigmoid_decay(i, k=k) > 0.5 > inverse_sigmoid_decay(i + 1, k=k)


def test_inverse_sigmoid_does_not_overflow_for_large_steps():
    """k / (k + exp(i / k)) for i / k beyond exp's range is a tiny positive number, no error."""
    assert 0.0 <= inverse_sigmoid_decay(10**6, k=1.0) < 1e-300
    assert inverse_sigmoid_decay(700, k=1.0) == pytest.approx(math.exp(-700), rel=1e-9)


@pytest.mark.parametrize("schedule", [
    lambda i: linear_decay(i, c=0.003, eps_min=0.05),
    lambda i: exponential_decay(i, k=0.99),
    lambda i: inverse_sigmoid_decay(i, k=30.0),
])
def test_every_schedule_is_a_non_increasing_probability(schedule):
    """Each schedule stays in [0, 1] and never increases with the step (a decay, not a warm-up)."""
    values = [schedule(i) for i in range(1000)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert values[0] > 0.9
    assert values[-1] < 0.1


@pytest.mark.parametrize(("call", "message"), [
    (lambda: linear_decay(-1, c=0.1), r"step: expected an int >= 0, got -1"),
    (lambda: linear_decay(1.5, c=0.1), r"step: expected an int >= 0, got 1.5"),
    (lambda: linear_decay(True, c=0.1), r"step: expected an int >= 0, got True"),
    (lambda: linear_decay(1, c=0), r"c: expected a number > 0, got 0"),
    (lambda: linear_decay(1, c=0.1, k=1.5), r"k: expected a number in \(0, 1\], got 1.5"),
    (lambda: linear_decay(1, c=0.1, eps_min=1), r"eps_min: expected a number in \[0, 1\), got 1"),
    (lambda: exponential_decay(1, k=1.0), r"k: expected a number in \(0, 1\), got 1.0"),
    (lambda: exponential_decay(1, k=1.01), r"k: expected a number in \(0, 1\), got 1.01"),
    (lambda: inverse_sigmoid_decay(1, k=0.5), r"k: expected a number >= 1, got 0.5"),
    (lambda: inverse_sigmoid_decay(1, k=float("nan")), r"k: expected a number >= 1, got nan"),
])
def test_bad_parameters_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()
