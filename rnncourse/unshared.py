"""A non-stationary (unshared) RNN: separate weights for every time step.

Taught in chapter 2 (weight sharing across time), as the model that sharing is measured
against. It is the Elman recurrence with a time index on every parameter,

    h_t = tanh(W_xh^(t) x_t + W_hh^(t) h_{t-1} + b_h^(t)),        t = 1, ..., T_max,

so it has T_max times the parameters of :class:`rnncourse.elman.ElmanRNN` and no weights
at all for a step past ``max_length`` (T_max): asked to run longer, it raises
``ValueError``. References: the Q&A "Why do RNNs share weight?" (non-stationary RNNs) and
I. Goodfellow, Y. Bengio, A. Courville, *Deep Learning* (2016), section 10.1.

The per-step weights are stacked along a leading time axis, in PyTorch's (out, in)
orientation; index ``t - 1`` holds the weights of step t:

===========  ====================  =====================================================
symbol       shape                 shared counterpart (``ElmanRNN`` / ``torch.nn.RNN``)
===========  ====================  =====================================================
``W_xh``     (T_max, H, H_in)      ``W_xh`` / ``weight_ih_l0``, (H, H_in)
``W_hh``     (T_max, H, H)         ``W_hh`` / ``weight_hh_l0``, (H, H)
``b_h``      (T_max, H)            ``b_h`` / ``bias_ih_l0 + bias_hh_l0``, (H,)
===========  ====================  =====================================================

Shapes use PyTorch's symbols: N batch size, L sequence length, H_in input size, H hidden
size, T_max the longest sequence the model has weights for.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnncourse._validation import check_int
from rnncourse.elman import ElmanRNN, _check_rnn_inputs, _from_time_major, _to_time_major

__all__ = ["UnsharedRNN"]


class UnsharedRNN(nn.Module):
    r"""A one-layer tanh RNN with its own weights at every step, up to ``max_length`` steps.

    .. math:: h_t = \tanh(W_{xh}^{(t)} x_t + W_{hh}^{(t)} h_{t-1} + b_h^{(t)})

    where :math:`x_t` is the input at step t, :math:`h_{t-1}` the previous hidden state
    (:math:`h_0` is zero unless given) and step t uses only its own parameters. With all
    T_max copies equal it computes exactly what :class:`~rnncourse.elman.ElmanRNN` does
    (see :meth:`from_shared`).

    Args:
        input_size: H_in, the size of each input vector x_t.
        hidden_size: H, the size of the hidden state h_t.
        max_length: T_max, the number of steps that have weights (the longest input).
        batch_first: if True, batched inputs and outputs are (N, L, ·) instead of (L, N, ·).
        dtype: parameter dtype (default: PyTorch's default dtype).
        generator: a ``torch.Generator`` for the initial weights (default: the global one).

    Inputs: ``x, h_0``, as for ``ElmanRNN``
        * ``x``: (L, N, H_in), or (N, L, H_in) when ``batch_first``, or (L, H_in)
          unbatched, with 1 <= L <= T_max. A shorter input uses the weights of steps 1..L.
        * ``h_0``: (1, N, H), or (1, H) unbatched; zeros if omitted.

    Outputs: ``output, h_n``
        * ``output``: every hidden state h_1..h_L, (L, N, H) or (N, L, H) or (L, H).
        * ``h_n``: the last hidden state h_L, (1, N, H) or (1, H).

    Example:
        >>> rnn = UnsharedRNN(3, 5, max_length=10, batch_first=True)
        >>> sum(p.numel() for p in rnn.parameters())  # T_max * H * (H + H_in + 1)
        450
        >>> output, h_n = rnn(torch.zeros(2, 7, 3))
        >>> tuple(output.shape), tuple(h_n.shape)
        ((2, 7, 5), (1, 2, 5))

    The plain loop it computes is::

        for t in range(1, L + 1):
            h = torch.tanh(x[t-1] @ W_xh[t-1].T + h @ W_hh[t-1].T + b_h[t-1])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        max_length: int,
        *,
        batch_first: bool = False,
        dtype: torch.dtype | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        sizes = (("input_size", input_size), ("hidden_size", hidden_size),
                 ("max_length", max_length))
        for name, value in sizes:
            check_int(name, value)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.max_length = max_length
        self.batch_first = batch_first
        T, H, H_in = max_length, hidden_size, input_size
        self.W_xh = nn.Parameter(torch.empty(T, H, H_in, dtype=dtype))  # (T_max, H, H_in)
        self.W_hh = nn.Parameter(torch.empty(T, H, H, dtype=dtype))  # (T_max, H, H)
        self.b_h = nn.Parameter(torch.empty(T, H, dtype=dtype))  # (T_max, H)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)) for every step's weights, as ``ElmanRNN`` does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-bound, bound, generator=generator)

    @classmethod
    def from_shared(cls, rnn: ElmanRNN, max_length: int) -> UnsharedRNN:
        """Untie a shared ``ElmanRNN``: every step gets its own copy of the same weights.

        The result computes the same outputs as ``rnn`` on inputs of up to ``max_length``
        steps, but each copy has its own gradient: the gradient of the shared weight is the
        sum of the copies' gradients (chapter 2 checks this).
        """
        if not isinstance(rnn, ElmanRNN):
            raise ValueError(f"rnn: expected an ElmanRNN, got {type(rnn).__name__}")
        model = cls(rnn.input_size, rnn.hidden_size, max_length, batch_first=rnn.batch_first,
                    dtype=rnn.W_xh.dtype)
        with torch.no_grad():
            model.W_xh.copy_(rnn.W_xh.expand(max_length, -1, -1))
            model.W_hh.copy_(rnn.W_hh.expand(max_length, -1, -1))
            model.b_h.copy_(rnn.b_h.expand(max_length, -1))
        return model

    def extra_repr(self) -> str:
        """The sizes, shown by ``print(model)`` as ``torch.nn.RNN`` shows its own."""
        return (f"{self.input_size}, {self.hidden_size}, max_length={self.max_length}, "
                f"batch_first={self.batch_first}")

    def _check_inputs(self, x: object, h_0: object) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, h_0 = _check_rnn_inputs(x, h_0, input_size=self.input_size,
                                   hidden_size=self.hidden_size, batch_first=self.batch_first,
                                   dtype=self.W_xh.dtype)
        L = x.shape[1 if (self.batch_first and x.dim() == 3) else 0]
        if L > self.max_length:
            raise ValueError(
                f"x: expected a sequence of length L <= max_length = {self.max_length} "
                f"(this network has weights only for steps 1..{self.max_length}), got L = {L}"
            )
        return x, h_0

    def forward(
        self, x: torch.Tensor, h_0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run step t of ``x`` with the weights of step t; see the class docstring for shapes."""
        x, h_0 = self._check_inputs(x, h_0)
        x, h_0, unbatched = _to_time_major(x, h_0, self.batch_first)  # x: (L, N, H_in)
        L, N, _ = x.shape
        h = x.new_zeros(N, self.hidden_size) if h_0 is None else h_0[0]  # (N, H)
        # Input path of all steps at once, each step with its own W_xh^(t) and b_h^(t).
        xp = torch.einsum("lni,lhi->lnh", x, self.W_xh[:L]) + self.b_h[:L, None, :]  # (L, N, H)
        hs = []
        for xp_t, W_hh_t in zip(xp.unbind(0), self.W_hh[:L].unbind(0), strict=True):
            h = torch.tanh(xp_t + h @ W_hh_t.T)  # (N, H)
            hs.append(h)
        output = torch.stack(hs)  # (L, N, H)
        return _from_time_major(output, h, unbatched, self.batch_first)
