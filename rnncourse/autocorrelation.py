"""Autocorrelation: how strongly a series resembles itself k steps later.

Taught in chapter 1 (sequences are not i.i.d.). For a series x_1..x_L with mean m,

    r_k = sum_{t=1}^{L-k} (x_t - m)(x_{t+k} - m) / sum_{t=1}^{L} (x_t - m)^2

(the standard biased estimator, as in Box & Jenkins). For i.i.d. data r_k is near 0 for
every k >= 1, within about 2/sqrt(L); order-dependent data leaves it far from 0.
"""

from __future__ import annotations

import torch

from rnncourse._validation import check_floating, check_shape

__all__ = ["autocorrelation"]


def autocorrelation(x: torch.Tensor, max_lag: int) -> torch.Tensor:
    """Return r_0..r_max_lag of the 1-D series ``x`` (shape (max_lag + 1,), r_0 = 1).

    Example:
        >>> autocorrelation(torch.tensor([1.0, 2.0, 1.0, 2.0]), 1)
        tensor([ 1.0000, -0.7500])
    """
    check_shape("x", x, ("L",))
    check_floating("x", x)
    if isinstance(max_lag, bool) or not isinstance(max_lag, int) or not 0 <= max_lag < len(x):
        raise ValueError(f"max_lag: expected an int in [0, {len(x) - 1}], got {max_lag!r}")
    centred = x - x.mean()  # (L,)
    denom = (centred * centred).sum()
    if denom == 0:
        raise ValueError("x: expected a series that is not constant, got a constant series")
    lags = [(centred[: len(x) - k] * centred[k:]).sum() / denom for k in range(max_lag + 1)]
    return torch.stack(lags)  # (max_lag + 1,)
