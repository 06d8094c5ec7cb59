"""The time-of-day sensor task: a reading means "high" relative to the usual level at its time.

Taught in chapter 2 (weight sharing across time), where it breaks the assumption behind
sharing, that the same rule applies at every step. A reading x_tau ~ N(0, 1) at time tau is
labelled high when it exceeds a level that cycles with period P,

    y_tau = [x_tau > sin(2 pi tau / P)],

so the right threshold depends on the time of day, which the readings alone do not reveal.
A window of L readings starts at a random time (or at a given one), and its timestamps
are returned with it, for position features (:mod:`rnncourse.position_features`) to use.
Reference: I. Goodfellow, Y. Bengio, A. Courville, *Deep Learning* (2016), section 10.2,
on giving a shared RNN its time step as an input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rnncourse._validation import check_int

__all__ = ["SensorWindows", "sensor_windows"]

LATEST_START = 10_000  # random windows start at a time in 0..9,999: many periods apart


@dataclass(frozen=True)
class SensorWindows:
    """N windows of L readings.

    Attributes:
        readings: x, (N, L, 1) float32.
        tau: the absolute time of every reading, (N, L) int64.
        labels: y, 1.0 where the reading is above the level of its time, (N, L) float32.
    """

    readings: torch.Tensor
    tau: torch.Tensor
    labels: torch.Tensor


def sensor_windows(
    n_windows: int,
    length: int,
    period: float,
    *,
    generator: torch.Generator | None = None,
    start: int | None = None,
) -> SensorWindows:
    """``n_windows`` windows of ``length`` readings, labelled against the level of period P.

    Args:
        n_windows: N.
        length: L, readings per window.
        period: P, in steps.
        generator: for the start times and the readings.
        start: if given, every window starts at this time (tau = start, ..., start + L - 1);
            otherwise each starts at a random time in 0..9,999.

    Example:
        >>> w = sensor_windows(2, 5, 12, generator=torch.Generator().manual_seed(0), start=0)
        >>> w.tau.tolist()
        [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]
        >>> tuple(w.readings.shape), tuple(w.labels.shape)
        ((2, 5, 1), (2, 5))
    """
    check_int("n_windows", n_windows)
    check_int("length", length)
    if isinstance(period, bool) or not isinstance(period, int | float) or not period > 0:
        raise ValueError(f"period: expected a positive number, got {period!r}")
    if start is None:
        first = torch.randint(0, LATEST_START, (n_windows, 1), generator=generator)  # (N, 1)
    else:
        first = torch.full((n_windows, 1), check_int("start", start, minimum=0))  # (N, 1)
    tau = first + torch.arange(length)  # (N, L)
    readings = torch.randn(n_windows, length, 1, generator=generator)  # (N, L, 1)
    labels = (readings[..., 0] > torch.sin(2 * math.pi * tau / period)).float()  # (N, L)
    return SensorWindows(readings, tau, labels)
