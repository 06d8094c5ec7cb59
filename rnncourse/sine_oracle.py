r"""A least-squares sine fit: the forecast of a predictor that knows the signal is one sine.

Taught in chapter 5, as the floor of unavoidable error when a model continues a noisy sine
wave (:func:`rnncourse.data.noisy_sines`) from a few values. For each angular frequency
:math:`\omega` on a grid covering the family's periods, the amplitude and phase are fitted by
linear least squares,

.. math:: \min_{a, b} \sum_{\tau=0}^{t-1} \big(v_\tau - a \sin\omega\tau - b \cos\omega\tau\big)^2,

the frequency with the smallest residual is kept, and the fitted sine is extended past the
context. It reads exactly what the model reads (the context), and it knows the family
(zero mean, one frequency in a known range): a model can expect to do little better from
the same values, so its error stands for the part that the context cannot pin down (phase
and period from a few noisy values). It is a reference level, not a strict lower bound:
the fit is not the Bayes-optimal predictor, which would average over every sine the
context allows.
"""

from __future__ import annotations

import math

import torch

from rnncourse._validation import check_int, check_tensor

__all__ = ["sine_forecast"]


def sine_forecast(
    context: torch.Tensor,
    steps: int,
    *,
    period_range: tuple[float, float],
    grid_size: int = 81,
) -> torch.Tensor:
    r"""Fit one sine to each row of ``context`` by least squares and continue it ``steps`` values.

    Args:
        context: (M, t) values at times 0..t-1, t >= 3.
        steps: how many values to forecast, at times t..t+steps-1.
        period_range: (lo, hi), the periods to search.
        grid_size: how many angular frequencies 2 pi / period to try, evenly spaced.

    Returns:
        (M, steps) float64: the fitted sine at the next ``steps`` times.

    Example:
        >>> tau = torch.arange(12, dtype=torch.float64)
        >>> wave = (0.8 * torch.sin(2 * math.pi * tau / 15 + 1.0)).unsqueeze(0)  # (1, 12)
        >>> future = 0.8 * torch.sin(2 * math.pi * torch.arange(12, 15.0).double() / 15 + 1.0)
        >>> forecast = sine_forecast(wave, 3, period_range=(14.0, 16.0), grid_size=3)  # 15 is
        >>> bool(torch.allclose(forecast, future, atol=0.05))  # near the middle of the grid
        True
    """
    context = check_tensor("context", context)
    if context.dim() != 2 or context.shape[1] < 3:
        raise ValueError(f"context: expected shape (M, t) with t >= 3, got {tuple(context.shape)}")
    check_int("steps", steps)
    lo, hi = period_range
    if not 0 < lo <= hi:
        raise ValueError(f"period_range: expected 0 < lo <= hi, got {period_range!r}")
    v = context.double()  # (M, t)
    t = v.shape[1]
    omega = torch.linspace(2 * math.pi / hi, 2 * math.pi / lo, grid_size, dtype=torch.float64)
    tau = torch.arange(t, dtype=torch.float64)  # (t,)
    S, C = torch.sin(omega[:, None] * tau), torch.cos(omega[:, None] * tau)  # (G, t)
    ss, cc, sc = (S * S).sum(1), (C * C).sum(1), (S * C).sum(1)  # (G,): the 2x2 normal matrix
    vs, vc = v @ S.T, v @ C.T  # (M, G): its right-hand side
    det = ss * cc - sc * sc  # (G,)
    a = (cc * vs - sc * vc) / det  # (M, G)
    b = (ss * vc - sc * vs) / det  # (M, G)
    explained = a * vs + b * vc  # (M, G): ||v||^2 minus the residual
    best = explained.argmax(dim=1)  # (M,): the frequency with the smallest residual
    w = omega[best].unsqueeze(1)  # (M, 1)
    a_best, b_best = a.gather(1, best[:, None]), b.gather(1, best[:, None])  # (M, 1)
    future = torch.arange(t, t + steps, dtype=torch.float64)  # (steps,)
    return a_best * torch.sin(w * future) + b_best * torch.cos(w * future)  # (M, steps)
