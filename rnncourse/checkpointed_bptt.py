"""Gradient checkpointing through time: keep every m-th state, recompute the rest in backward.

Taught in chapter 4 (backpropagation through time), as the third answer to BPTT's memory
(after full BPTT's O(L) and truncation's O(k)). References: A. Griewank, "Achieving
logarithmic growth of temporal and spatial complexity in reverse automatic differentiation",
Optimization Methods and Software 1 (1992); T. Chen, B. Xu, C. Zhang and C. Guestrin,
"Training deep nets with sublinear memory cost", arXiv:1604.06174 (2016).

Full BPTT keeps what every one of the L steps saved, b bytes a step: L b. Cut the sequence
into segments of m steps and run each under ``torch.utils.checkpoint.checkpoint``: the
forward pass keeps only each segment's input state (s bytes), and the backward pass re-runs
one segment at a time to rebuild its graph. The memory held is then about

    (L / m) s  +  m b,        smallest at  m = sqrt(L s / b),  where it is 2 sqrt(L s b),

so it grows like sqrt(L) instead of L, for the price of one more forward pass. The gradient
is the same: checkpointing changes what is stored, not what is computed.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from rnncourse._validation import check_ndim, check_tensor

__all__ = ["checkpointed_rnn"]


def checkpointed_rnn(rnn: nn.Module, x: torch.Tensor, segment: int,
                     h_0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``rnn`` over ``x`` in checkpointed segments of ``segment`` steps; return h_L.

    Args:
        rnn: called as ``rnn(x_segment, h) -> (output, h_n)``, like ``nn.RNN`` or
            :class:`rnncourse.elman.ElmanRNN` (time-major), with a ``hidden_size`` attribute.
        x: (L, N, H_in), L a multiple of ``segment``.
        segment: m, the steps per checkpointed segment, 1 <= m <= L.
        h_0: (1, N, H) initial state, zeros if None.

    Returns:
        h_L, (1, N, H): the last state, for a many-to-one loss (a loss on every step would
        have to keep every output, L N H floats, whatever m is). Its backward re-runs each
        segment once (``torch.utils.checkpoint`` with ``use_reentrant=True``, whose saved
        tensors are exactly the segment inputs, so the chapter can count them).

    Example:
        >>> from rnncourse.elman import ElmanRNN
        >>> rnn = ElmanRNN(2, 3)
        >>> x = torch.randn(6, 4, 2)
        >>> h = checkpointed_rnn(rnn, x, 2)
        >>> bool(torch.allclose(h, rnn(x)[1]))
        True
    """
    x = check_tensor("x", x)
    check_ndim("x", x, (3,), "(L, N, H_in)")
    L = x.shape[0]
    if isinstance(segment, bool) or not isinstance(segment, int) or not 1 <= segment <= L \
            or L % segment:
        raise ValueError(f"segment: expected an int in [1, {L}] that divides L = {L}, "
                         f"got {segment!r}")
    if h_0 is None:
        hidden = getattr(rnn, "hidden_size", None)
        if not isinstance(hidden, int):
            raise ValueError(f"rnn: expected a layer with an int hidden_size (or pass h_0), "
                             f"got {type(rnn).__name__}")
        h_0 = x.new_zeros(1, x.shape[1], hidden)  # (1, N, H)
    # The reentrant form passes gradients only through inputs that require them: make the
    # first state one, so the first segment's parameters get theirs too.
    h = h_0 if h_0.requires_grad else h_0.detach().requires_grad_()

    def run(x_segment: torch.Tensor, h_in: torch.Tensor) -> torch.Tensor:
        return rnn(x_segment, h_in)[1]  # (1, N, H)

    for start in range(0, L, segment):
        h = checkpoint(run, x[start:start + segment], h, use_reentrant=True)  # (1, N, H)
    return h
