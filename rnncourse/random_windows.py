"""Training a language model on random windows of one long sequence.

Taught in chapter 1 (the character model that conditions on the whole past) and reused in
chapter 5 (a character model trained with teacher forcing). A corpus is one long sequence of
ids x_0 .. x_{L-1}; each optimiser step draws N windows of W + 1 consecutive ids at starts
s_1 .. s_N, drawn uniformly from {0, ..., L - W - 1} so that every window fits, and scores
the model's next-id predictions inside each window:

    loss = -1/(N W) sum_{n=1}^{N} sum_{t=1}^{W} log p(x_{s_n+t} | x_{s_n}, ..., x_{s_n+t-1})

The model reads x_{s_n} .. x_{s_n + W - 1} (teacher forcing: the true previous id is the
next input) and each window starts from a fresh state h_0, so a step's gradient runs
through at most W steps of the past. :meth:`rnncourse.language_model.CharRNN.loss` computes
the inner mean for a batch of windows (N, W + 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from rnncourse._validation import check_tensor

__all__ = ["random_window_loss", "random_windows"]


class WindowModel(Protocol):
    """A model with ``loss(ids)``: mean cross-entropy of ids[:, 1:] given ids[:, :-1]."""

    def loss(self, ids: torch.Tensor) -> torch.Tensor:
        """Scalar loss of a batch of windows ``ids`` (N, W + 1)."""
        ...


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return value


def _check_ids(ids: object, window: int) -> torch.Tensor:
    ids = check_tensor("ids", ids)
    if ids.dtype != torch.long or ids.dim() != 1:
        raise ValueError(
            f"ids: expected a (L,) torch.int64 tensor, got {ids.dtype} of shape {tuple(ids.shape)}"
        )
    if len(ids) < window + 1:
        raise ValueError(f"ids: expected at least window + 1 = {window + 1} ids, got {len(ids)}")
    return ids


def random_windows(
    ids: torch.Tensor,
    window: int,
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw ``batch_size`` windows of ``window + 1`` consecutive ids from ``ids``.

    Args:
        ids: the long sequence, (L,) int64, with L >= window + 1.
        window: W, the number of predictions per window.
        batch_size: N, the number of windows.
        generator: the random generator of the starts (default: torch's global one).

    Returns:
        (N, W + 1) int64: row n is ``ids[s_n : s_n + W + 1]`` with s_n uniform on
        {0, ..., L - W - 1}.

    Example:
        >>> random_windows(torch.arange(10), 3, 2, generator=torch.Generator().manual_seed(0))
        tensor([[4, 5, 6, 7],
                [3, 4, 5, 6]])
    """
    window = _check_count("window", window)
    batch_size = _check_count("batch_size", batch_size)
    ids = _check_ids(ids, window)
    starts = torch.randint(0, len(ids) - window, (batch_size,), generator=generator)  # (N,)
    offsets = torch.arange(window + 1)  # (W + 1,)
    return ids[starts.unsqueeze(1) + offsets]  # (N, W + 1)


def random_window_loss(
    ids: torch.Tensor,
    window: int,
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
) -> Callable[[WindowModel, int], torch.Tensor]:
    """A ``loss_fn`` for :func:`rnncourse.train`: each step, the loss on fresh random windows.

    Args:
        ids: the training sequence, (L,) int64, with L >= window + 1.
        window: W, the number of predictions per window.
        batch_size: N, the number of windows per step.
        generator: the random generator of the starts (default: torch's global one).

    Returns:
        ``loss_fn(model, step)``, which returns ``model.loss(random_windows(...))``.

    Example:
        >>> from rnncourse import CharRNN, train
        >>> _ = torch.manual_seed(0)
        >>> ids = torch.arange(8).repeat(20)  # (160,): 0 1 .. 7 0 1 ..
        >>> model = CharRNN(8, 16)
        >>> result = train(model, random_window_loss(ids, 8, 16), 60, lr=0.05, progress=False)
        >>> result.losses[-1] < 0.1 * result.losses[0]
        True
    """
    window = _check_count("window", window)
    batch_size = _check_count("batch_size", batch_size)
    ids = _check_ids(ids, window)

    def loss_fn(model: WindowModel, _step: int) -> torch.Tensor:
        batch = random_windows(ids, window, batch_size, generator=generator)  # (N, W + 1)
        return model.loss(batch)

    return loss_fn
