"""The time-of-day sensor task: labels compare each reading with the level of its time."""

import math
import re

import pytest
import torch

import rnncourse.sensor_task
from rnncourse.sensor_task import sensor_windows


def test_public_names():
    """The module exports the batch type and its generator."""
    assert rnncourse.sensor_task.__all__ == ["SensorWindows", "sensor_windows"]


def test_labels_follow_the_level_of_each_reading_s_time():
    """y = [x > sin(2 pi tau / P)] at every reading, with consecutive times per window."""
    w = sensor_windows(50, 30, 12, generator=torch.Generator().manual_seed(0))
    assert w.readings.shape == (50, 30, 1)
    assert w.tau.shape == w.labels.shape == (50, 30)
    assert (w.tau.diff(dim=1) == 1).all()
    assert (w.tau[:, 0] >= 0).all()
    assert (w.tau[:, 0] < 10_000).all()
    level = torch.sin(2 * math.pi * w.tau / 12)
    assert torch.equal(w.labels, (w.readings[..., 0] > level).float())
    assert len(set(w.tau[:, 0].tolist())) > 40  # random starts


def test_a_given_start_fixes_every_window_s_times():
    """start=s gives tau = s, s + 1, ... in every window."""
    w = sensor_windows(4, 6, 12, generator=torch.Generator().manual_seed(1), start=3)
    assert w.tau.tolist() == [list(range(3, 9))] * 4


def test_same_seed_same_windows():
    """Seeded generators reproduce the windows exactly."""
    a, b = (sensor_windows(3, 5, 12, generator=torch.Generator().manual_seed(2)) for _ in range(2))
    assert torch.equal(a.readings, b.readings)
    assert torch.equal(a.tau, b.tau)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: sensor_windows(0, 5, 12), "n_windows: expected a positive int, got 0"),
    (lambda: sensor_windows(2, 5, 0), "period: expected a positive number, got 0"),
    (lambda: sensor_windows(2, 5, 12, start=-1), "start: expected an int >= 0, got -1"),
])
def test_bad_arguments_raise_clear_errors(call, message):
    """Bad input raises ValueError naming what was expected and what came."""
    with pytest.raises(ValueError, match=re.escape(message)):
        call()
