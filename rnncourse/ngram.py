"""n-gram character models: the chain rule with a context cut to the last n - 1 symbols.

Taught in chapter 1. The chain rule writes any sequence's probability exactly as

    p(x_1..x_L) = prod_t p(x_t | x_1..x_{t-1});

an n-gram model approximates each factor by p(x_t | x_{t-n+1}..x_{t-1}), estimated by
counting with add-alpha (Laplace) smoothing:

    p(c | ctx) = (count(ctx, c) + alpha) / (count(ctx) + alpha V)

n = 1 ignores order (the i.i.d. model); n = 2 is a Markov chain over characters. Cost is
measured in bits per character, -1/L sum_t log2 p(x_t | context).
"""

from __future__ import annotations

import math

import torch

from rnncourse._validation import check_int, check_tensor

__all__ = ["NGramModel"]


class NGramModel:
    """An order-n character model fitted by counting.

    Args:
        order: n >= 1; the context is the previous n - 1 symbols.
        vocab_size: V, the number of symbols; ids are 0..V-1.
        alpha: add-alpha smoothing, so unseen continuations keep some probability.

    Example:
        >>> ids = torch.tensor([0, 1, 0, 1, 0, 1])
        >>> round(NGramModel(2, 2, alpha=0.0).fit(ids).bits_per_char(ids), 3)
        0.0
    """

    def __init__(self, order: int, vocab_size: int, alpha: float = 1.0) -> None:
        check_int("order", order)
        check_int("vocab_size", vocab_size)
        if alpha < 0:
            raise ValueError(f"alpha: expected alpha >= 0, got {alpha!r}")
        self.order = order
        self.vocab_size = vocab_size
        self.alpha = alpha
        self.counts = torch.zeros((vocab_size,) * order, dtype=torch.float64)  # (V, ..., V)

    def _check_ids(self, ids: object) -> torch.Tensor:
        ids = check_tensor("ids", ids)
        if ids.dtype != torch.long or ids.dim() != 1:
            raise ValueError(f"ids: expected a 1-D torch.int64 tensor, got {ids.dtype} of shape "
                             f"{tuple(ids.shape)}")
        if len(ids) < self.order:
            raise ValueError(f"ids: expected at least order={self.order} symbols, got {len(ids)}")
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(f"ids: expected values in [0, {self.vocab_size - 1}], got "
                             f"[{int(ids.min())}, {int(ids.max())}]")
        return ids

    def _windows(self, ids: torch.Tensor) -> torch.Tensor:
        return ids.unfold(0, self.order, 1)  # (L - n + 1, n): context then next symbol

    def fit(self, ids: torch.Tensor) -> NGramModel:
        """Count every window of n symbols in ``ids`` (shape (L,)); returns self."""
        ids = self._check_ids(ids)
        flat = torch.zeros(self.vocab_size**self.order, dtype=torch.float64)
        index = torch.zeros(len(ids) - self.order + 1, dtype=torch.long)
        for column in self._windows(ids).T:
            index = index * self.vocab_size + column
        flat.index_add_(0, index, torch.ones_like(index, dtype=torch.float64))
        self.counts = flat.view((self.vocab_size,) * self.order)
        return self

    def conditional(self) -> torch.Tensor:
        """p(x_t | context) for every context: shape (V,)*(n-1) + (V,); each last axis sums to 1."""
        smoothed = self.counts + self.alpha
        total = smoothed.sum(dim=-1, keepdim=True)
        if (total == 0).any():
            # alpha = 0 and an unseen context: fall back to uniform rather than 0/0
            smoothed = torch.where(total == 0, torch.ones_like(smoothed), smoothed)
            total = smoothed.sum(dim=-1, keepdim=True)
        return smoothed / total

    def bits_per_char(self, ids: torch.Tensor) -> float:
        """-1/M sum log2 p(x_t | previous n-1 symbols) over the M = L - n + 1 predicted symbols."""
        ids = self._check_ids(ids)
        probs = self.conditional()
        windows = self._windows(ids)  # (M, n)
        p = probs[tuple(windows.T)]  # (M,)
        if (p == 0).any():
            return math.inf
        return float(-torch.log2(p).mean()) + 0.0  # + 0.0 turns -0.0 into 0.0
