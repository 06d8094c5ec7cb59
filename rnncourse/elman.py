"""The Elman recurrent network, written from scratch with weights shared across time.

Taught in chapter 1 (memory as state) and used by every later chapter. Reference:
J. L. Elman, "Finding structure in time", Cognitive Science 14 (1990).

One step of the network is

    h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h),        t = 1, ..., L

with the *same* ``W_xh``, ``W_hh`` and ``b_h`` at every step. The names follow the text;
this table maps them to the other libraries (weights stored (out, in), as PyTorch does):

===========  ===========  ==============================  ==================================
symbol       shape        ``torch.nn.RNN``                Keras ``SimpleRNN``
===========  ===========  ==============================  ==================================
``W_xh``     (H, H_in)    ``weight_ih_l0``                ``kernel.T`` (kernel is (H_in, H))
``W_hh``     (H, H)       ``weight_hh_l0``                ``recurrent_kernel.T``
``b_h``      (H,)         ``bias_ih_l0 + bias_hh_l0``     ``bias``
===========  ===========  ==============================  ==================================

Shapes use PyTorch's symbols: N batch size, L sequence length, H_in input size, H hidden
size.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnncourse._validation import check_int, check_sequence, check_shape, check_tensor

__all__ = ["ElmanRNN", "elman_step"]


def elman_step(
    x_t: torch.Tensor,
    h_prev: torch.Tensor,
    W_xh: torch.Tensor,
    W_hh: torch.Tensor,
    b_h: torch.Tensor,
) -> torch.Tensor:
    """One Elman step, h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h).

    Inputs: ``x_t`` (N, H_in), ``h_prev`` (N, H). Output: ``h_t`` (N, H).
    Rows are batch elements, so the products are written ``x_t @ W_xh.T``.
    """
    return torch.tanh(x_t @ W_xh.T + h_prev @ W_hh.T + b_h)  # (N, H)


def _check_rnn_inputs(
    x: object,
    h_0: object,
    *,
    input_size: int,
    hidden_size: int,
    batch_first: bool,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Check ``x`` and ``h_0`` for a one-layer RNN laid out as ``torch.nn.RNN``.

    Shared by :class:`ElmanRNN` and :class:`rnncourse.unshared.UnsharedRNN`; returns both
    as tensors.
    """
    x = check_sequence("x", x, input_size, dtype, batch_first=batch_first, unbatched=True)
    if h_0 is None:
        return x, None
    if x.dim() == 3:
        batch = x.shape[0] if batch_first else x.shape[1]
        check_shape("h_0", h_0, (1, batch, hidden_size))
    else:
        check_shape("h_0", h_0, (1, hidden_size))
    h_0 = check_tensor("h_0", h_0)
    if h_0.dtype != x.dtype:
        raise ValueError(f"h_0: expected dtype {x.dtype} (the input's dtype), got {h_0.dtype}")
    return x, h_0


def _to_time_major(
    x: torch.Tensor, h_0: torch.Tensor | None, batch_first: bool
) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
    """Checked inputs in any accepted layout -> x (L, N, H_in), h_0 (1, N, H) or None, unbatched."""
    unbatched = x.dim() == 2
    if unbatched:
        x = x.unsqueeze(1)  # (L, 1, H_in)
        h_0 = None if h_0 is None else h_0.unsqueeze(1)  # (1, 1, H)
    elif batch_first:
        x = x.transpose(0, 1)  # (L, N, H_in)
    return x, h_0, unbatched


def _from_time_major(
    output: torch.Tensor, h: torch.Tensor, unbatched: bool, batch_first: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """output (L, N, H) and last state h (N, H) -> the caller's layout, as torch.nn.RNN returns."""
    h_n = h.unsqueeze(0)  # (1, N, H)
    if unbatched:
        return output.squeeze(1), h_n.squeeze(1)  # (L, H), (1, H)
    if batch_first:
        output = output.transpose(0, 1)  # (N, L, H)
    return output, h_n


class ElmanRNN(nn.Module):
    r"""A one-layer tanh RNN with weights shared across time, equal to ``torch.nn.RNN``.

    .. math:: h_t = \tanh(W_{xh} x_t + W_{hh} h_{t-1} + b_h)

    where :math:`x_t` is the input at step t, :math:`h_{t-1}` the previous hidden state
    (:math:`h_0` is zero unless given) and the parameters are the same at every step.

    Args:
        input_size: H_in, the size of each input vector x_t.
        hidden_size: H, the size of the hidden state h_t.
        batch_first: if True, batched inputs and outputs are (N, L, ·) instead of (L, N, ·).
        dtype: parameter dtype (default: PyTorch's default dtype).
        generator: a ``torch.Generator`` for the initial weights (default: the global one).

    Inputs: ``x, h_0``
        * ``x``: (L, N, H_in), or (N, L, H_in) when ``batch_first``, or (L, H_in) unbatched.
        * ``h_0``: (1, N, H), or (1, H) unbatched; zeros if omitted. As in ``torch.nn.RNN``
          the leading 1 (the number of layers) is there even when ``batch_first``.

    Outputs: ``output, h_n``
        * ``output``: every hidden state h_1..h_L, (L, N, H) or (N, L, H) or (L, H).
        * ``h_n``: the last hidden state h_L, (1, N, H) or (1, H).

    Example:
        >>> rnn = ElmanRNN(3, 5, batch_first=True)
        >>> output, h_n = rnn(torch.zeros(2, 7, 3))
        >>> tuple(output.shape), tuple(h_n.shape)
        ((2, 7, 5), (1, 2, 5))

    The loop in :meth:`forward` is the plain per-step recurrence; only the input projection
    W_xh x_t + b_h is computed for all steps at once before it, which is allowed because
    W_xh is shared (chapter 3 measures why that is faster).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        batch_first: bool = False,
        dtype: torch.dtype | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_int("input_size", input_size)
        check_int("hidden_size", hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.batch_first = batch_first
        self.W_xh = nn.Parameter(torch.empty(hidden_size, input_size, dtype=dtype))  # (H, H_in)
        self.W_hh = nn.Parameter(torch.empty(hidden_size, hidden_size, dtype=dtype))  # (H, H)
        self.b_h = nn.Parameter(torch.empty(hidden_size, dtype=dtype))  # (H,)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)) for every parameter, as ``torch.nn.RNN`` does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-bound, bound, generator=generator)

    @classmethod
    def from_torch(cls, rnn: nn.RNN) -> ElmanRNN:
        """Build an ``ElmanRNN`` with the weights of a one-layer tanh ``torch.nn.RNN``.

        ``b_h`` is ``bias_ih_l0 + bias_hh_l0``: only the sum of PyTorch's two biases matters.
        """
        if not isinstance(rnn, nn.RNN):
            raise ValueError(f"rnn: expected a torch.nn.RNN, got {type(rnn).__name__}")
        unsupported = {
            "num_layers": (rnn.num_layers, 1),
            "bidirectional": (rnn.bidirectional, False),
            "nonlinearity": (rnn.nonlinearity, "tanh"),
            "proj_size": (getattr(rnn, "proj_size", 0), 0),
        }
        for name, (got, expected) in unsupported.items():
            if got != expected:
                raise ValueError(f"rnn.{name}: expected {expected!r}, got {got!r}")
        model = cls(rnn.input_size, rnn.hidden_size, batch_first=rnn.batch_first,
                    dtype=rnn.weight_ih_l0.dtype)
        with torch.no_grad():
            model.W_xh.copy_(rnn.weight_ih_l0)
            model.W_hh.copy_(rnn.weight_hh_l0)
            if rnn.bias:
                model.b_h.copy_(rnn.bias_ih_l0 + rnn.bias_hh_l0)
            else:
                model.b_h.zero_()
        return model

    def extra_repr(self) -> str:
        """The sizes, shown by ``print(model)`` as ``torch.nn.RNN`` shows its own."""
        return f"{self.input_size}, {self.hidden_size}, batch_first={self.batch_first}"

    def _check_inputs(self, x: object, h_0: object) -> tuple[torch.Tensor, torch.Tensor | None]:
        return _check_rnn_inputs(x, h_0, input_size=self.input_size, hidden_size=self.hidden_size,
                                 batch_first=self.batch_first, dtype=self.W_xh.dtype)

    def forward(
        self, x: torch.Tensor, h_0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the recurrence over every step of ``x``; see the class docstring for shapes."""
        x, h_0 = self._check_inputs(x, h_0)
        x, h_0, unbatched = _to_time_major(x, h_0, self.batch_first)  # x: (L, N, H_in)
        N = x.shape[1]
        h = x.new_zeros(N, self.hidden_size) if h_0 is None else h_0[0]  # (N, H)
        xp = x @ self.W_xh.T + self.b_h  # (L, N, H): the input path of all steps at once
        hs = []
        for xp_t in xp.unbind(0):  # unbind, not xp[t]: see chapter 3's performance section
            h = torch.tanh(xp_t + h @ self.W_hh.T)  # (N, H)
            hs.append(h)
        output = torch.stack(hs)  # (L, N, H)
        return _from_time_major(output, h, unbatched, self.batch_first)
