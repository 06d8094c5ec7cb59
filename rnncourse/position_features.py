"""Position features: telling a weight-shared RNN *where* in the sequence it is.

Taught in chapter 2 (weight sharing across time). A shared RNN applies the same function
at every step, so it has no built-in notion of absolute position or phase. When a task
needs one, the weights can stay shared and the *input* carries the position instead:
x~_t = [x_t; f(t)] with one of

    sinusoidal encoding   f(t)_{2i} = sin(t / base^{2i/F}),  f(t)_{2i+1} = cos(t / base^{2i/F})
    normalised position   f(t) = t / T
    known period P        f(t) = [sin(2 pi t / P), cos(2 pi t / P)]
    learned embedding     f(t) = one_hot(t), read by a learned matrix: W_xh f(t) = E[t]

Every function takes the step numbers ``t`` explicitly (a 1-D tensor, e.g.
``torch.arange(1, L + 1)`` or absolute timestamps) and returns (L, F) float features;
:func:`with_position_features` concatenates them to a batch of inputs. References:
A. Vaswani et al., "Attention is all you need" (2017), section 3.5 (the sinusoidal
encoding, added there rather than concatenated); I. Goodfellow, Y. Bengio, A. Courville,
*Deep Learning* (2016), section 10.2.
"""

from __future__ import annotations

import math

import torch

from rnncourse._validation import check_int, check_shape

__all__ = [
    "normalised_position",
    "one_hot_position",
    "periodic_features",
    "sinusoidal_encoding",
    "with_position_features",
]


def _steps(t: object) -> torch.Tensor:
    check_shape("t", t, ("L",))  # step numbers
    return t if t.is_floating_point() else t.to(torch.get_default_dtype())


def sinusoidal_encoding(t: torch.Tensor, dim: int, *, base: float = 10_000.0) -> torch.Tensor:
    """Sines and cosines of t at ``dim / 2`` geometrically spaced frequencies.

    Feature pair i (columns 2i, 2i + 1) is sin and cos of t · base^(-2i / dim): the first
    pair turns once every 2 pi steps, the last one about ``base`` times slower.

    Args:
        t: (L,) step numbers.
        dim: F, the number of features (even).
        base: the ratio of the slowest to the fastest wavelength, roughly.

    Returns:
        (L, F), in ``t``'s dtype (the default dtype for integer ``t``).

    Example:
        >>> sinusoidal_encoding(torch.arange(3), 4)[0].tolist()  # t = 0: sin 0, cos 0, ...
        [0.0, 1.0, 0.0, 1.0]
    """
    t = _steps(t)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2 or dim % 2:
        raise ValueError(f"dim: expected a positive even int, got {dim!r}")
    if not base > 1:
        raise ValueError(f"base: expected a number > 1, got {base!r}")
    i = torch.arange(0, dim, 2, dtype=t.dtype)  # (F/2,): 2i
    angle = t[:, None] * base ** (-i / dim)  # (L, F/2)
    features = torch.empty(len(t), dim, dtype=t.dtype)  # (L, F)
    features[:, 0::2] = torch.sin(angle)
    features[:, 1::2] = torch.cos(angle)
    return features


def normalised_position(t: torch.Tensor, total: int) -> torch.Tensor:
    """t / T as one feature: 1/T at the first step and 1 at step T of t = 1..T.

    ``total`` is T, the length the position is measured against (usually the sequence's
    own length, so the feature means "how far through the sequence").

    Returns:
        (L, 1).

    Example:
        >>> normalised_position(torch.arange(1, 5), 4).flatten().tolist()
        [0.25, 0.5, 0.75, 1.0]
    """
    t = _steps(t)
    check_int("total", total)
    return (t / total)[:, None]  # (L, 1)


def periodic_features(t: torch.Tensor, period: float) -> torch.Tensor:
    """The phase of a known period P as a point on the circle: sin and cos of 2 pi t / P.

    Two features, not one, so that every phase has its own value (sin alone is the same
    at t and P/2 - t).

    Returns:
        (L, 2).

    Example:
        >>> periodic_features(torch.tensor([0, 3]), 12).round(decimals=6).add(0.0).tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """
    t = _steps(t)
    if isinstance(period, bool) or not isinstance(period, int | float) or not period > 0:
        raise ValueError(f"period: expected a positive number, got {period!r}")
    angle = 2 * math.pi * t / period  # (L,)
    return torch.stack([torch.sin(angle), torch.cos(angle)], dim=1)  # (L, 2)


def one_hot_position(t: torch.Tensor, max_length: int) -> torch.Tensor:
    """Position t in 1..T_max as a one-hot row: the input of a *learned* position embedding.

    A learned embedding is a table E with one trained row per position; feeding one_hot(t)
    into a layer that multiplies it by a learned matrix W gives W one_hot(t) = column t of
    W, the same thing. Like the weights of an unshared RNN, row t is trained only by
    sequences that reach step t, and there is no row at all past ``max_length``.

    Returns:
        (L, T_max) float, row i holding a 1 in column t_i - 1.

    Example:
        >>> one_hot_position(torch.tensor([1, 3]), 3).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    check_shape("t", t, ("L",))
    check_int("max_length", max_length)
    if t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f"t: expected integer positions, got dtype {t.dtype}")
    if len(t) and (t.min() < 1 or t.max() > max_length):
        raise ValueError(f"t: expected positions in 1..{max_length} (a learned table has no row "
                         f"past max_length), got values in {int(t.min())}..{int(t.max())}")
    return torch.nn.functional.one_hot(t.long() - 1, max_length).to(torch.get_default_dtype())


def with_position_features(x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Concatenate the same (L, F) position features to every sequence of ``x``.

    Args:
        x: (N, L, H_in) batch-first inputs.
        features: (L, F), one row per step.

    Returns:
        (N, L, H_in + F): x~_t = [x_t; f(t)].

    Example:
        >>> with_position_features(torch.zeros(2, 5, 3), torch.ones(5, 2)).shape
        torch.Size([2, 5, 5])
    """
    N, L, _ = check_shape("x", x, ("N", "L", "H_in"))
    check_shape("features", features, (L, "F"))  # one row per step of x
    if features.dtype != x.dtype:
        raise ValueError(f"features: expected dtype {x.dtype} (x's dtype), got {features.dtype}")
    return torch.cat([x, features.expand(N, -1, -1)], dim=2)  # (N, L, H_in + F)
