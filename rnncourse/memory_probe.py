r"""A linear probe that reads a past input back off a recurrent state.

Taught in chapter 1 (memory as state). Given the states h_1..h_T of a network that read the
symbols x_1..x_T, the probe for lag k fits, by least squares on the first half of the
pairs (h_t, x_{t-k}),

    W* = argmin_W sum_t || [h_t; 1] W - onehot(x_{t-k}) ||^2,

and predicts x_{t-k} as argmax_c ([h_t; 1] W*)_c on the second half. Its accuracy there,
against the accuracy of always guessing the most frequent symbol, measures how much of the
input k steps back is still *linearly* readable from the state.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from rnncourse._validation import check_tensor

__all__ = ["majority_accuracy", "memory_curve", "probe_accuracy"]


def _check(states: object, symbols: object, n_classes: object) -> tuple[torch.Tensor, torch.Tensor]:
    states = check_tensor("states", states)
    symbols = check_tensor("symbols", symbols)
    if states.dim() != 2 or not states.is_floating_point():
        raise ValueError(f"states: expected a floating-point (T, H) tensor, got {states.dtype} "
                         f"of shape {tuple(states.shape)}")
    if symbols.dtype != torch.long or symbols.shape != states.shape[:1]:
        raise ValueError(f"symbols: expected a torch.int64 tensor of shape ({states.shape[0]},), "
                         f"got {symbols.dtype} of shape {tuple(symbols.shape)}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes: expected an int >= 2, got {n_classes!r}")
    if symbols.min() < 0 or symbols.max() >= n_classes:
        raise ValueError(f"symbols: expected values in [0, {n_classes - 1}], got "
                         f"[{int(symbols.min())}, {int(symbols.max())}]")
    return states, symbols


def probe_accuracy(states: torch.Tensor, symbols: torch.Tensor, k: int, n_classes: int) -> float:
    """Held-out accuracy of recovering x_{t-k} from h_t (states (T, H), symbols (T,)).

    ``states[t]`` is the state after reading ``symbols[t]``; k = 0 reads the current input.
    """
    states, symbols = _check(states, symbols, n_classes)
    T = len(states)
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= T - 4:
        raise ValueError(f"k: expected an int in [0, {T - 4}], got {k!r}")
    features = torch.cat([states[k:], torch.ones(T - k, 1, dtype=states.dtype)], 1)  # (M, H+1)
    past = symbols[: T - k]  # (M,) x_{t-k} for each h_t
    target = torch.nn.functional.one_hot(past, n_classes).to(states.dtype)  # (M, C)
    half = len(features) // 2
    # gelsd (SVD): the minimum-norm solution, stable when the features are rank-deficient
    coef = torch.linalg.lstsq(features[:half], target[:half], driver="gelsd").solution  # (H+1, C)
    predicted = (features[half:] @ coef).argmax(1)  # (M - half,)
    return float((predicted == past[half:]).double().mean())


def memory_curve(
    states: torch.Tensor, symbols: torch.Tensor, ks: Iterable[int], n_classes: int
) -> list[float]:
    """``[probe_accuracy(states, symbols, k, n_classes) for k in ks]``."""
    return [probe_accuracy(states, symbols, k, n_classes) for k in ks]


def majority_accuracy(symbols: torch.Tensor, n_classes: int) -> float:
    """The accuracy of always guessing the most frequent symbol of ``symbols`` (T,).

    It is the chance level a probe must beat.

    Example:
        >>> majority_accuracy(torch.tensor([0, 1, 1, 1]), 2)
        0.75
    """
    symbols = check_tensor("symbols", symbols)
    if symbols.dtype != torch.long or symbols.dim() != 1 or len(symbols) == 0:
        raise ValueError(f"symbols: expected a non-empty 1-D torch.int64 tensor, got "
                         f"{symbols.dtype} of shape {tuple(symbols.shape)}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes: expected an int >= 2, got {n_classes!r}")
    return float(torch.bincount(symbols, minlength=n_classes).max()) / len(symbols)
