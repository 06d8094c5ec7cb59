"""The course's one training loop, with a progress bar and optional gradient clipping.

Every chapter trains through :func:`train`; what differs between experiments is the model,
the loss and the batches, which the caller passes in. Gradient clipping uses
``torch.nn.utils.clip_grad_norm_`` (chapter 4 explains it and checks a hand-written one
against it).

Progress bars go to stderr and are switched off when the environment variable
``RNNCOURSE_NO_PROGRESS`` is set to a non-empty value other than ``0``: the Makefile sets
it when it executes or tests notebooks, so the stored outputs hold no timings.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from rnncourse._validation import check_int

__all__ = ["TrainResult", "progress_enabled", "train"]


def progress_enabled() -> bool:
    """False when ``RNNCOURSE_NO_PROGRESS`` asks for no progress bars."""
    return os.environ.get("RNNCOURSE_NO_PROGRESS", "") in ("", "0")


@dataclass
class TrainResult:
    """What :func:`train` returns: the loss at every step and the gradient norm before clipping."""

    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)

    @property
    def diverged(self) -> bool:
        """True if any loss was not finite (training stopped there)."""
        return any(not math.isfinite(v) for v in self.losses)


def train(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, int], torch.Tensor],
    steps: int,
    *,
    lr: float = 1e-2,
    optimizer: torch.optim.Optimizer | None = None,
    clip_norm: float | None = None,
    desc: str = "train",
    progress: bool | None = None,
) -> TrainResult:
    """Minimise ``loss_fn(model, step)`` for ``steps`` optimiser steps.

    Args:
        model: the module whose parameters are trained.
        loss_fn: called as ``loss_fn(model, step)``; it draws or indexes its own batch for
            that step and returns a scalar loss tensor.
        steps: number of optimiser steps.
        lr: learning rate of the default optimiser, Adam.
        optimizer: use this optimiser instead of Adam (``lr`` is then ignored).
        clip_norm: if given, clip the global gradient norm to this value with
            ``torch.nn.utils.clip_grad_norm_`` before each step.
        desc: label of the progress bar.
        progress: show a progress bar; default: unless ``RNNCOURSE_NO_PROGRESS`` is set.

    Returns:
        A :class:`TrainResult`. Training stops early, without stepping, at the first loss
        that is not finite, so a diverging run is reported rather than hidden.

    Example:
        >>> model = nn.Linear(1, 1)
        >>> result = train(model, lambda m, step: (m(torch.ones(1, 1)) - 3).pow(2).mean(),
        ...                steps=200, lr=0.1, progress=False)
        >>> result.losses[-1] < 1e-3
        True
    """
    check_int("steps", steps)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    show = progress_enabled() if progress is None else progress
    result = TrainResult()
    bar = tqdm(range(steps), desc=desc, disable=not show, leave=False)
    model.train()
    for step in bar:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model, step)
        value = float(loss.detach())
        result.losses.append(value)
        if not math.isfinite(value):
            break
        loss.backward()
        if clip_norm is None:
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            norm = nn.utils.get_total_norm(grads) if grads else torch.tensor(0.0)
        else:
            norm = nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        result.grad_norms.append(float(norm))
        optimizer.step()
        if show and step % 10 == 0:
            bar.set_postfix(loss=f"{value:.4f}")
    bar.close()
    model.eval()
    return result
