"""A recurrence read out at every step: one prediction y_t per input x_t.

Taught in chapter 2 (weight sharing across time). Both of its per-step classifiers are this
one pattern, a recurrence followed by a linear readout of every hidden state:

    h_1, ..., h_L = rnn(x_1, ..., x_L),        y_t = W_hy h_t + b_y,

where the recurrence is any module called as ``rnn(x) -> (output, h_n)`` whose ``output``
holds h_1..h_L: ``rnncourse.ElmanRNN`` (weights shared across steps),
``rnncourse.unshared.UnsharedRNN`` (a separate copy per step) or ``torch.nn.RNN``. The key-
token task reads the state into three classes ("no key yet", key A, key B), the time-of-day
task into one logit ("high" or not). Only the recurrence differs between the models a
chapter compares; the readout is the same ``nn.Linear``, built after the recurrence, so a
seed fixes both.

Names: W_hy is ``self.readout.weight`` (H_out, H), b_y is ``self.readout.bias`` (H_out,).
Chapter 4's ``rnncourse.bptt.ElmanWithReadout`` is the same pattern for a time-major
``ElmanRNN``, returning h_n as well, as its hand-written BPTT needs.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["StepReadout"]


class StepReadout(nn.Module):
    """A recurrence read out at every step: y_t = W_hy h_t + b_y.

    Args:
        rnn: the recurrence; a module called as ``rnn(x) -> (output, h_n)`` with an int
            attribute ``hidden_size`` (H), such as ``rnncourse.ElmanRNN``.
        output_size: H_out, the number of outputs per step (classes, or 1 for one logit).

    Inputs: ``x`` as ``rnn`` takes it, e.g. (N, L, H_in) for a ``batch_first`` recurrence.
    Outputs: ``y`` in ``rnn``'s layout with H_out in place of H, e.g. (N, L, H_out).

    Example:
        >>> from rnncourse import ElmanRNN
        >>> model = StepReadout(ElmanRNN(4, 8, batch_first=True), 3)
        >>> tuple(model(torch.zeros(2, 5, 4)).shape)
        (2, 5, 3)
    """

    def __init__(self, rnn: nn.Module, output_size: int) -> None:
        super().__init__()
        if not isinstance(rnn, nn.Module):
            raise ValueError(f"rnn: expected a torch.nn.Module, got {type(rnn).__name__}")
        hidden_size = getattr(rnn, "hidden_size", None)
        if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 1:
            raise ValueError("rnn: expected a recurrence with a positive int attribute "
                             f"hidden_size, got {type(rnn).__name__} with hidden_size "
                             f"{hidden_size!r}")
        if isinstance(output_size, bool) or not isinstance(output_size, int) or output_size < 1:
            raise ValueError(f"output_size: expected a positive int, got {output_size!r}")
        self.rnn = rnn
        self.readout = nn.Linear(hidden_size, output_size)  # y_t = W_hy h_t + b_y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The per-step outputs y_1..y_L of the input sequence(s) ``x``."""
        output, _ = self.rnn(x)  # (N, L, H) when batch_first, else (L, N, H)
        return self.readout(output)  # (N, L, H_out), or (L, N, H_out)
