"""autocorrelation against a direct computation and its known values."""

import re

import pytest
import torch

from rnncourse.autocorrelation import autocorrelation


def test_matches_numpy_style_direct_formula():
    x = torch.randn(50, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    r = autocorrelation(x, 5)
    c = x - x.mean()
    expected = torch.stack([(c[: 50 - k] * c[k:]).sum() / (c * c).sum() for k in range(6)])
    torch.testing.assert_close(r, expected, rtol=0, atol=1e-14)
    assert r[0] == pytest.approx(1.0)


def test_alternating_series():
    """+1, -1, +1, ... : r_k = (-1)^k (L - k) / L."""
    x = torch.tensor([1.0, -1.0] * 5, dtype=torch.float64)
    r = autocorrelation(x, 3)
    torch.testing.assert_close(r, torch.tensor([1.0, -0.9, 0.8, -0.7], dtype=torch.float64))


@pytest.mark.parametrize(
    ("x", "max_lag", "message"),
    [
        (torch.zeros(3, 2), 1, "x: expected shape (L,), got (3, 2)"),
        (torch.arange(5), 1,
         "x: expected a floating-point tensor (float32 or float64), got dtype torch.int64"),
        (torch.arange(5.0), 5, "max_lag: expected an int in [0, 4], got 5"),
        (torch.ones(5), 1, "x: expected a series that is not constant, got a constant series"),
    ],
)
def test_bad_input(x, max_lag, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        autocorrelation(x, max_lag)
