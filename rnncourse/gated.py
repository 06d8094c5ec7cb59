r"""Gated recurrent units, GRU and LSTM, written from their equations.

Taught in chapter 7 (gated units). References: K. Cho et al., "Learning phrase
representations using RNN encoder-decoder for statistical machine translation", EMNLP 2014
(the GRU); S. Hochreiter and J. Schmidhuber, "Long short-term memory", Neural Computation 9
(1997) and F. A. Gers, J. Schmidhuber and F. Cummins, "Learning to forget", Neural
Computation 12 (2000) (the LSTM with a forget gate).

GRU, in PyTorch's convention (sigma is the logistic function, * is the element-wise product)::

    r_t = sigma(W_xr x_t + W_hr h_{t-1} + b_r)                 reset gate
    z_t = sigma(W_xz x_t + W_hz h_{t-1} + b_z)                 update gate
    n_t = tanh(W_xn x_t + b_xn + r_t * (W_hn h_{t-1} + b_hn))  candidate
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}

so z_t near 1 *keeps* the old state and z_t near 0 takes the candidate, as in Cho et al.
(Chung et al., 2014, and some texts after them swap z and 1 - z; Cho et al. apply r_t to
h_{t-1} before W_hn, PyTorch after it). ``b_hn`` sits inside the reset gate's product, so
it cannot be folded into ``b_xn``; the other two gates have one bias each.

LSTM::

    i_t = sigma(W_xi x_t + W_hi h_{t-1} + b_i)      input gate
    f_t = sigma(W_xf x_t + W_hf h_{t-1} + b_f)      forget gate
    g_t = tanh(W_xg x_t + W_hg h_{t-1} + b_g)       candidate cell
    o_t = sigma(W_xo x_t + W_ho h_{t-1} + b_o)      output gate
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)

The cell state's update is additive: with the gates held fixed, dc_t/dc_{t-1} = diag(f_t).

PyTorch stores each layer's gate matrices stacked along the rows, in its gate order (GRU
r, z, n; LSTM i, f, g, o). For hidden size H the blocks are rows ``k*H:(k+1)*H``:

============  ==========  ===================================  ==================================
unit, gate k  symbols     rows of weight_ih_l0, weight_hh_l0   bias (same rows of bias_*_l0)
============  ==========  ===================================  ==================================
GRU r (0)     W_xr, W_hr  0:H                                  b_r = bias_ih + bias_hh
GRU z (1)     W_xz, W_hz  H:2H                                 b_z = bias_ih + bias_hh
GRU n (2)     W_xn, W_hn  2H:3H                                b_xn = bias_ih, b_hn = bias_hh
LSTM i (0)    W_xi, W_hi  0:H                                  b_i = bias_ih + bias_hh
LSTM f (1)    W_xf, W_hf  H:2H                                 b_f (same rule)
LSTM g (2)    W_xg, W_hg  2H:3H                                b_g
LSTM o (3)    W_xo, W_ho  3H:4H                                b_o
============  ==========  ===================================  ==================================

W_x* are (H, H_in), W_h* are (H, H), biases (H,). Shapes use PyTorch's symbols: N batch
size, L sequence length, H_in input size, H hidden size.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnncourse._validation import check_shape, check_tensor
from rnncourse.elman import _check_rnn_inputs, _from_time_major, _to_time_major

__all__ = [
    "GRU",
    "GRU_GATES",
    "LSTM",
    "LSTM_GATES",
    "gru_gates",
    "gru_step",
    "lstm_gates",
    "lstm_step",
    "set_forget_bias",
]

GRU_GATES = ("r", "z", "n")  # PyTorch's order of the row blocks of weight_ih_l0 / weight_hh_l0
LSTM_GATES = ("i", "f", "g", "o")


def gru_gates(
    x_t: torch.Tensor, h_prev: torch.Tensor, *, W_xr: torch.Tensor, W_hr: torch.Tensor,
    b_r: torch.Tensor, W_xz: torch.Tensor, W_hz: torch.Tensor, b_z: torch.Tensor,
    W_xn: torch.Tensor, W_hn: torch.Tensor, b_xn: torch.Tensor, b_hn: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The GRU's reset gate r_t, update gate z_t and candidate n_t, each (N, H).

    Inputs: ``x_t`` (N, H_in), ``h_prev`` (N, H); weights as in the module docstring.
    """
    r = torch.sigmoid(x_t @ W_xr.T + h_prev @ W_hr.T + b_r)  # (N, H)
    z = torch.sigmoid(x_t @ W_xz.T + h_prev @ W_hz.T + b_z)  # (N, H)
    n = torch.tanh(x_t @ W_xn.T + b_xn + r * (h_prev @ W_hn.T + b_hn))  # (N, H)
    return r, z, n


def gru_step(x_t: torch.Tensor, h_prev: torch.Tensor, **weights: torch.Tensor) -> torch.Tensor:
    """One GRU step, h_t = (1 - z_t) * n_t + z_t * h_{t-1}; ``weights`` as for :func:`gru_gates`.

    Inputs: ``x_t`` (N, H_in), ``h_prev`` (N, H). Output: ``h_t`` (N, H).
    """
    _, z, n = gru_gates(x_t, h_prev, **weights)
    return (1 - z) * n + z * h_prev  # (N, H)


def lstm_gates(
    x_t: torch.Tensor, h_prev: torch.Tensor, *, W_xi: torch.Tensor, W_hi: torch.Tensor,
    b_i: torch.Tensor, W_xf: torch.Tensor, W_hf: torch.Tensor, b_f: torch.Tensor,
    W_xg: torch.Tensor, W_hg: torch.Tensor, b_g: torch.Tensor, W_xo: torch.Tensor,
    W_ho: torch.Tensor, b_o: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The LSTM's input gate i_t, forget gate f_t, candidate g_t and output gate o_t, (N, H)."""
    i = torch.sigmoid(x_t @ W_xi.T + h_prev @ W_hi.T + b_i)  # (N, H)
    f = torch.sigmoid(x_t @ W_xf.T + h_prev @ W_hf.T + b_f)  # (N, H)
    g = torch.tanh(x_t @ W_xg.T + h_prev @ W_hg.T + b_g)  # (N, H)
    o = torch.sigmoid(x_t @ W_xo.T + h_prev @ W_ho.T + b_o)  # (N, H)
    return i, f, g, o


def lstm_step(
    x_t: torch.Tensor, h_prev: torch.Tensor, c_prev: torch.Tensor, **weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step: c_t = f_t * c_{t-1} + i_t * g_t, h_t = o_t * tanh(c_t).

    Inputs: ``x_t`` (N, H_in), ``h_prev`` and ``c_prev`` (N, H); ``weights`` as for
    :func:`lstm_gates`. Outputs: ``h_t``, ``c_t``, each (N, H).
    """
    i, f, g, o = lstm_gates(x_t, h_prev, **weights)
    c = f * c_prev + i * g  # (N, H)
    return o * torch.tanh(c), c


def set_forget_bias(lstm: nn.LSTM, value: float) -> None:
    """Set a ``torch.nn.LSTM``'s forget-gate bias b_f = bias_ih + bias_hh (rows H:2H) to ``value``.

    PyTorch adds its two bias vectors, so the value goes into ``bias_ih`` and ``bias_hh``'s
    forget rows are zeroed. Jozefowicz et al. (2015) recommend 1.0.
    """
    if not isinstance(lstm, nn.LSTM):
        raise ValueError(f"lstm: expected a torch.nn.LSTM, got {type(lstm).__name__}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"value: expected a number, got {value!r}")
    H = lstm.hidden_size
    with torch.no_grad():
        for layer in range(lstm.num_layers):
            getattr(lstm, f"bias_ih_l{layer}")[H:2 * H] = float(value)
            getattr(lstm, f"bias_hh_l{layer}")[H:2 * H] = 0.0


def _check_sizes(input_size: object, hidden_size: object) -> None:
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")


def _check_torch_module(module: object, kind: type[nn.RNNBase]) -> None:
    """``module`` is a one-layer, one-direction ``kind`` (torch.nn.GRU or torch.nn.LSTM)."""
    if not isinstance(module, kind):
        raise ValueError(f"expected a torch.nn.{kind.__name__}, got {type(module).__name__}")
    unsupported = {
        "num_layers": (module.num_layers, 1),
        "bidirectional": (module.bidirectional, False),
        "proj_size": (getattr(module, "proj_size", 0), 0),
    }
    for name, (got, expected) in unsupported.items():
        if got != expected:
            raise ValueError(f"{kind.__name__.lower()}.{name}: expected {expected!r}, got {got!r}")


class _GatedRNN(nn.Module):
    """Shared by :class:`GRU` and :class:`LSTM`: parameters named per gate, init, from_torch."""

    gates: tuple[str, ...] = ()

    def __init__(self, input_size: int, hidden_size: int, *, batch_first: bool = False,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        _check_sizes(input_size, hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.batch_first = batch_first
        H, H_in = hidden_size, input_size
        for name, shape in self._parameter_shapes(H_in, H):
            setattr(self, name, nn.Parameter(torch.empty(shape, dtype=dtype)))
        self.reset_parameters(generator)

    def _parameter_shapes(self, H_in: int, H: int) -> list[tuple[str, tuple[int, ...]]]:
        shapes = []
        for k in self.gates:
            shapes += [(f"W_x{k}", (H, H_in)), (f"W_h{k}", (H, H)), (f"b_{k}", (H,))]
        return shapes

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)) for every parameter, as PyTorch's GRU and LSTM do."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-bound, bound, generator=generator)

    def weights(self) -> dict[str, torch.Tensor]:
        """The parameters by their course names, ready for :func:`gru_step` / :func:`lstm_step`."""
        return dict(self.named_parameters())

    def _load_torch(self, module: nn.RNNBase) -> None:
        H = self.hidden_size
        with torch.no_grad():
            for k, gate in enumerate(self.gates):
                rows = slice(k * H, (k + 1) * H)
                getattr(self, f"W_x{gate}").copy_(module.weight_ih_l0[rows])
                getattr(self, f"W_h{gate}").copy_(module.weight_hh_l0[rows])
                if module.bias:
                    b_ih, b_hh = module.bias_ih_l0[rows], module.bias_hh_l0[rows]
                else:
                    b_ih = b_hh = torch.zeros(H, dtype=module.weight_ih_l0.dtype)
                if gate == "n":  # the GRU candidate keeps its two biases apart
                    self.b_xn.copy_(b_ih)
                    self.b_hn.copy_(b_hh)
                else:
                    getattr(self, f"b_{gate}").copy_(b_ih + b_hh)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, batch_first={self.batch_first}"

    def _check_inputs(self, x: object, h_0: object) -> tuple[torch.Tensor, torch.Tensor | None]:
        return _check_rnn_inputs(x, h_0, input_size=self.input_size, hidden_size=self.hidden_size,
                                 batch_first=self.batch_first,
                                 dtype=next(self.parameters()).dtype)


class GRU(_GatedRNN):
    r"""A one-layer GRU written from its equations, equal to ``torch.nn.GRU``.

    .. math::
        r_t = \sigma(W_{xr} x_t + W_{hr} h_{t-1} + b_r),\quad
        z_t = \sigma(W_{xz} x_t + W_{hz} h_{t-1} + b_z),

        n_t = \tanh(W_{xn} x_t + b_{xn} + r_t \odot (W_{hn} h_{t-1} + b_{hn})),\quad
        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    Args, inputs and outputs as :class:`rnncourse.elman.ElmanRNN`: ``x`` (L, N, H_in), or
    (N, L, H_in) when ``batch_first``, or (L, H_in) unbatched; ``h_0`` (1, N, H) or (1, H).
    Returns ``output`` (every h_t) and ``h_n`` (the last).

    Example:
        >>> gru = GRU(3, 5, batch_first=True)
        >>> output, h_n = gru(torch.zeros(2, 7, 3))
        >>> tuple(output.shape), tuple(h_n.shape)
        ((2, 7, 5), (1, 2, 5))
    """

    gates = GRU_GATES

    def _parameter_shapes(self, H_in: int, H: int) -> list[tuple[str, tuple[int, ...]]]:
        return [("W_xr", (H, H_in)), ("W_hr", (H, H)), ("b_r", (H,)),
                ("W_xz", (H, H_in)), ("W_hz", (H, H)), ("b_z", (H,)),
                ("W_xn", (H, H_in)), ("W_hn", (H, H)), ("b_xn", (H,)), ("b_hn", (H,))]

    @classmethod
    def from_torch(cls, gru: nn.GRU) -> GRU:
        """A ``GRU`` with the weights of a one-layer ``torch.nn.GRU`` (row blocks r, z, n)."""
        _check_torch_module(gru, nn.GRU)
        model = cls(gru.input_size, gru.hidden_size, batch_first=gru.batch_first,
                    dtype=gru.weight_ih_l0.dtype)
        model._load_torch(gru)
        return model

    def forward(
        self, x: torch.Tensor, h_0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the recurrence over every step of ``x``; see the class docstring for shapes."""
        x, h_0 = self._check_inputs(x, h_0)
        x, h_0, unbatched = _to_time_major(x, h_0, self.batch_first)  # x: (L, N, H_in)
        h = x.new_zeros(x.shape[1], self.hidden_size) if h_0 is None else h_0[0]  # (N, H)
        # the input path of all steps and gates at once (W_x* are shared across time)
        W_x = torch.cat([self.W_xr, self.W_xz, self.W_xn])  # (3H, H_in)
        b_x = torch.cat([self.b_r, self.b_z, self.b_xn])  # (3H,)
        W_h = torch.cat([self.W_hr, self.W_hz, self.W_hn])  # (3H, H)
        b_h = torch.cat([torch.zeros_like(self.b_r), torch.zeros_like(self.b_z), self.b_hn])
        xp = x @ W_x.T + b_x  # (L, N, 3H)
        hs = []
        for xp_t in xp.unbind(0):
            xr, xz, xn = xp_t.chunk(3, dim=-1)  # (N, H) each
            hr, hz, hn = (h @ W_h.T + b_h).chunk(3, dim=-1)  # (N, H) each
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            h = (1 - z) * n + z * h  # (N, H)
            hs.append(h)
        return _from_time_major(torch.stack(hs), h, unbatched, self.batch_first)


class LSTM(_GatedRNN):
    r"""A one-layer LSTM written from its equations, equal to ``torch.nn.LSTM``.

    .. math::
        c_t = f_t \odot c_{t-1} + i_t \odot g_t,\qquad h_t = o_t \odot \tanh(c_t)

    with the gates of :func:`lstm_gates`. Inputs ``x`` as :class:`GRU` and an optional
    ``(h_0, c_0)``, each (1, N, H) or (1, H); outputs ``output, (h_n, c_n)`` as
    ``torch.nn.LSTM``.

    Args:
        forget_bias: if given, b_f starts at this value instead of at random: 1.0 is the
            initialisation Jozefowicz et al. (2015) recommend, so that f_t starts near
            sigma(1) = 0.73 and the cell state is kept by default.

    Example:
        >>> lstm = LSTM(3, 5)
        >>> output, (h_n, c_n) = lstm(torch.zeros(7, 2, 3))
        >>> tuple(output.shape), tuple(c_n.shape)
        ((7, 2, 5), (1, 2, 5))
    """

    gates = LSTM_GATES

    def __init__(self, input_size: int, hidden_size: int, *, batch_first: bool = False,
                 dtype: torch.dtype | None = None, generator: torch.Generator | None = None,
                 forget_bias: float | None = None) -> None:
        super().__init__(input_size, hidden_size, batch_first=batch_first, dtype=dtype,
                         generator=generator)
        if forget_bias is not None:
            if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float)):
                raise ValueError(f"forget_bias: expected a number or None, got {forget_bias!r}")
            with torch.no_grad():
                self.b_f.fill_(float(forget_bias))

    @classmethod
    def from_torch(cls, lstm: nn.LSTM) -> LSTM:
        """An ``LSTM`` with the weights of a one-layer ``torch.nn.LSTM`` (row blocks i, f, g, o)."""
        _check_torch_module(lstm, nn.LSTM)
        model = cls(lstm.input_size, lstm.hidden_size, batch_first=lstm.batch_first,
                    dtype=lstm.weight_ih_l0.dtype)
        model._load_torch(lstm)
        return model

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Run the recurrence over every step of ``x``; see the class docstring for shapes."""
        if state is None:
            h_0 = c_0 = None
        elif isinstance(state, (tuple, list)) and len(state) == 2:
            h_0, c_0 = state
        else:
            raise ValueError(f"state: expected None or a pair (h_0, c_0), got "
                             f"{type(state).__name__}")
        x, h_0 = self._check_inputs(x, h_0)
        if (h_0 is None) != (c_0 is None):
            raise ValueError("state: expected both h_0 and c_0 or neither, got one of them")
        if c_0 is not None:
            check_shape("c_0", check_tensor("c_0", c_0), tuple(h_0.shape))
            if c_0.dtype != x.dtype:
                raise ValueError(f"c_0: expected dtype {x.dtype} (the input's dtype), "
                                 f"got {c_0.dtype}")
        unbatched = x.dim() == 2
        x, h_0, _ = _to_time_major(x, h_0, self.batch_first)  # x: (L, N, H_in)
        if c_0 is not None and unbatched:
            c_0 = c_0.unsqueeze(1)  # (1, 1, H)
        N = x.shape[1]
        h = x.new_zeros(N, self.hidden_size) if h_0 is None else h_0[0]  # (N, H)
        c = x.new_zeros(N, self.hidden_size) if c_0 is None else c_0[0]  # (N, H)
        W_x = torch.cat([self.W_xi, self.W_xf, self.W_xg, self.W_xo])  # (4H, H_in)
        W_h = torch.cat([self.W_hi, self.W_hf, self.W_hg, self.W_ho])  # (4H, H)
        b = torch.cat([self.b_i, self.b_f, self.b_g, self.b_o])  # (4H,)
        xp = x @ W_x.T + b  # (L, N, 4H): the input path of all steps and gates at once
        hs = []
        for xp_t in xp.unbind(0):
            a_i, a_f, a_g, a_o = (xp_t + h @ W_h.T).chunk(4, dim=-1)  # (N, H) each
            c = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)  # (N, H)
            h = torch.sigmoid(a_o) * torch.tanh(c)  # (N, H)
            hs.append(h)
        output, h_n = _from_time_major(torch.stack(hs), h, unbatched, self.batch_first)
        c_n = c.unsqueeze(0)  # (1, N, H)
        return output, (h_n, c_n.squeeze(1) if unbatched else c_n)
