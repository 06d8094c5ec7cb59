"""The least-squares sine fit recovers a clean sine and continues it; bad input raises."""

import math

import pytest
import torch

from rnncourse.sine_oracle import sine_forecast


def test_recovers_clean_sines_of_the_family():
    """On noise-free sines with periods on the grid, the forecast is exact."""
    g = torch.Generator().manual_seed(0)
    omega = torch.linspace(2 * math.pi / 18.0, 2 * math.pi / 14.0, 9, dtype=torch.float64)
    periods = 2 * math.pi / omega[[0, 3, 8]]  # three frequencies of the 9-point grid
    phase, amp = 2 * math.pi * torch.rand(3, generator=g), 0.5 + torch.rand(3, generator=g)
    tau = torch.arange(25, dtype=torch.float64)
    waves = amp[:, None] * torch.sin(2 * math.pi * tau / periods[:, None] + phase[:, None])
    got = sine_forecast(waves[:, :10], 15, period_range=(14.0, 18.0), grid_size=9)
    torch.testing.assert_close(got, waves[:, 10:].double(), rtol=0, atol=1e-6)


def test_noisy_context_gives_a_close_forecast():
    """From 12 values with noise 0.1 and a period between grid points, the next value is close."""
    g = torch.Generator().manual_seed(1)
    tau = torch.arange(12, dtype=torch.float64)
    clean = torch.sin(2 * math.pi * tau / 15.3 + 0.4)
    noisy = (clean + 0.1 * torch.randn(12, generator=g, dtype=torch.float64)).unsqueeze(0)
    pred = sine_forecast(noisy, 1, period_range=(14.0, 18.0), grid_size=401)
    assert abs(pred.item() - math.sin(2 * math.pi * 12 / 15.3 + 0.4)) < 0.15


@pytest.mark.parametrize(("args", "message"), [
    ((torch.zeros(3),), "context: expected shape"),
    ((torch.zeros(2, 2),), "t >= 3"),
])
def test_bad_input_raises(args, message):
    with pytest.raises(ValueError, match=message):
        sine_forecast(*args, 2, period_range=(14.0, 18.0))


def test_bad_period_range_raises():
    with pytest.raises(ValueError, match="period_range"):
        sine_forecast(torch.zeros(1, 5), 2, period_range=(18.0, 14.0))
