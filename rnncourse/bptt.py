"""Backpropagation through time (BPTT) written out by hand, without autograd.

Taught in chapter 4 (backpropagation through time). References: P. J. Werbos,
"Backpropagation through time: what it does and how to do it", Proc. IEEE 78 (1990);
D. E. Rumelhart, G. E. Hinton and R. J. Williams, "Learning representations by
back-propagating errors", Nature 323 (1986).

The network is the Elman recurrence with a linear readout, the same weights at every step:

    a_t = W_xh x_t + W_hh h_{t-1} + b_h,    h_t = tanh(a_t),    y_t = W_hy h_t + b_y

Unrolled for L steps it is a feed-forward graph with no cycle. Given dL/dy_t for every step
(zero at steps that carry no loss), the backward pass runs from t = L down to 1:

    dh_t  = W_hy^T dL/dy_t + dh_next           (the loss at t, plus what flows back from t+1)
    da_t  = (1 - h_t^2) * dh_t                 (tanh'(a_t) = 1 - tanh(a_t)^2 = 1 - h_t^2)
    dh_next = W_hh^T da_t                      (handed to step t-1)

and every shared weight collects one contribution per step, summed:

    dW_xh = sum_t da_t x_t^T,   dW_hh = sum_t da_t h_{t-1}^T,   db_h = sum_t da_t,
    dW_hy = sum_t dL/dy_t h_t^T,   db_y = sum_t dL/dy_t.

===========  ============  ======================================  ==========================
symbol       shape         PyTorch                                 Keras ``SimpleRNN``+Dense
===========  ============  ======================================  ==========================
``W_xh``     (H, H_in)     ``nn.RNN.weight_ih_l0``                 ``kernel.T``
``W_hh``     (H, H)        ``nn.RNN.weight_hh_l0``                 ``recurrent_kernel.T``
``b_h``      (H,)          ``bias_ih_l0 + bias_hh_l0``             ``bias``
``W_hy``     (H_out, H)    ``nn.Linear.weight``                    ``Dense.kernel.T``
``b_y``      (H_out,)      ``nn.Linear.bias``                      ``Dense.bias``
===========  ============  ======================================  ==========================

Shapes use PyTorch's symbols: L steps, N batch, H_in input size, H hidden size, H_out
output size. Sequences are time-major, (L, N, ·), as in ``rnncourse.elman.ElmanRNN``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from rnncourse._validation import check_sequence, check_shape, check_tensor
from rnncourse.elman import ElmanRNN

__all__ = [
    "PARAMETER_NAMES",
    "ElmanWithReadout",
    "ForwardCache",
    "Gradients",
    "finite_difference_gradient",
    "relative_error",
    "rnn_backward",
    "rnn_forward",
    "squared_error",
]

PARAMETER_NAMES = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")


@dataclass(frozen=True)
class ForwardCache:
    """What the backward pass needs from the forward pass.

    ``x`` (L, N, H_in); ``h`` (L + 1, N, H) holds h_0, h_1, ..., h_L (``h[t]`` is h_t);
    ``W_hh`` (H, H) and ``W_hy`` (H_out, H), the weights the backward multiplies by.
    """

    x: torch.Tensor
    h: torch.Tensor
    W_hh: torch.Tensor
    W_hy: torch.Tensor


@dataclass(frozen=True)
class Gradients:
    """dL/dparameter for every parameter, dL/dh_0, and optionally each step's contribution.

    ``per_step`` (if asked for) maps each parameter name to a tensor (L, *parameter shape)
    whose entry t-1 is the contribution of step t; summed over steps it gives the gradient.
    """

    W_xh: torch.Tensor
    W_hh: torch.Tensor
    b_h: torch.Tensor
    W_hy: torch.Tensor
    b_y: torch.Tensor
    h_0: torch.Tensor
    per_step: dict[str, torch.Tensor] | None = None

    def as_dict(self) -> dict[str, torch.Tensor]:
        """The five parameter gradients, keyed by :data:`PARAMETER_NAMES`."""
        return {name: getattr(self, name) for name in PARAMETER_NAMES}


class ElmanWithReadout(nn.Module):
    """``rnncourse.elman.ElmanRNN`` followed by a linear readout y_t = W_hy h_t + b_y.

    The autograd twin of :func:`rnn_forward`: ``model(x, h_0)`` returns ``(y, h_n)`` with
    ``y`` (L, N, H_out) and ``h_n`` (1, N, H), time-major like ``torch.nn.RNN``.
    ``W_hy``/``b_y`` are ``self.readout.weight``/``.bias``.

    Example:
        >>> model = ElmanWithReadout(2, 4, 3, dtype=torch.float64)
        >>> y, h_n = model(torch.zeros(5, 1, 2, dtype=torch.float64))
        >>> tuple(y.shape), tuple(h_n.shape), list(model.named_weights())
        ((5, 1, 3), (1, 1, 4), ['W_xh', 'W_hh', 'b_h', 'W_hy', 'b_y'])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        dtype: torch.dtype | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.rnn = ElmanRNN(input_size, hidden_size, dtype=dtype, generator=generator)
        self.readout = nn.Linear(hidden_size, output_size, dtype=dtype)

    def named_weights(self) -> dict[str, torch.Tensor]:
        """The five parameters under their names in the text, in :data:`PARAMETER_NAMES` order."""
        return {"W_xh": self.rnn.W_xh, "W_hh": self.rnn.W_hh, "b_h": self.rnn.b_h,
                "W_hy": self.readout.weight, "b_y": self.readout.bias}

    def forward(
        self, x: torch.Tensor, h_0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """y_t = W_hy h_t + b_y at every step: y (L, N, H_out), and h_n (1, N, H)."""
        h, h_n = self.rnn(x, h_0)  # (L, N, H), (1, N, H)
        return self.readout(h), h_n  # (L, N, H_out), (1, N, H)


def _check_parameters(
    x: object,
    h_0: object,
    W_xh: object,
    W_hh: object,
    b_h: object,
    W_hy: object,
    b_y: object,
) -> None:
    _, N, H_in = check_sequence("x", x, "H_in", None).shape
    H, _ = check_shape("W_hh", W_hh, ("H", "H"))
    check_shape("W_xh", W_xh, (H, H_in))
    check_shape("b_h", b_h, (H,))
    H_out, _ = check_shape("W_hy", W_hy, ("H_out", H))
    check_shape("b_y", b_y, (H_out,))
    if h_0 is not None:
        check_shape("h_0", h_0, (N, H))


def rnn_forward(
    x: torch.Tensor,
    W_xh: torch.Tensor,
    W_hh: torch.Tensor,
    b_h: torch.Tensor,
    W_hy: torch.Tensor,
    b_y: torch.Tensor,
    h_0: torch.Tensor | None = None,
) -> tuple[torch.Tensor, ForwardCache]:
    """Run the recurrence and readout over every step; return y_1..y_L and the cache.

    Inputs: ``x`` (L, N, H_in); parameters as in the module table; ``h_0`` (N, H) or None
    for zeros. Outputs: ``y`` (L, N, H_out) and a :class:`ForwardCache`.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> p = [torch.randn(*s, generator=g) for s in [(4, 2), (4, 4), (4,), (3, 4), (3,)]]
        >>> y, cache = rnn_forward(torch.randn(5, 2, 2, generator=g), *p)
        >>> tuple(y.shape), tuple(cache.h.shape)
        ((5, 2, 3), (6, 2, 4))
    """
    _check_parameters(x, h_0, W_xh, W_hh, b_h, W_hy, b_y)
    L, N, _ = x.shape
    h_t = x.new_zeros(N, W_hh.shape[0]) if h_0 is None else h_0  # (N, H)
    hs = [h_t]
    for t in range(L):
        h_t = torch.tanh(x[t] @ W_xh.T + h_t @ W_hh.T + b_h)  # (N, H)
        hs.append(h_t)
    h = torch.stack(hs)  # (L + 1, N, H): h_0 .. h_L
    y = h[1:] @ W_hy.T + b_y  # (L, N, H_out)
    return y, ForwardCache(x=x, h=h, W_hh=W_hh, W_hy=W_hy)


def rnn_backward(cache: ForwardCache, dy: torch.Tensor, *, per_step: bool = False) -> Gradients:
    """BPTT by hand: from dL/dy_t (all t) to the gradient of every shared parameter.

    Runs t = L, L-1, ..., 1 with the recurrence in the module docstring; no autograd.

    Args:
        cache: from :func:`rnn_forward`.
        dy: dL/dy_t, (L, N, H_out). For a loss on the last step only (many-to-one) every
            row but the last is zero.
        per_step: also return each step's contribution to each parameter's gradient.
    """
    if not isinstance(cache, ForwardCache):
        # ValueError, not TypeError: the course's one exception type for bad input (STYLE.md 5)
        raise ValueError(f"cache: expected a ForwardCache, got {type(cache).__name__}")
    L, N, _ = cache.x.shape
    H_out, H = cache.W_hy.shape
    check_shape("dy", dy, (L, N, H_out))
    x, h, W_hh, W_hy = cache.x, cache.h, cache.W_hh, cache.W_hy
    steps: dict[str, list[torch.Tensor]] = {name: [] for name in PARAMETER_NAMES}
    dh_next = x.new_zeros(N, H)  # (N, H): dL/dh_t arriving from step t+1; zero after h_L
    for t in range(L, 0, -1):  # h[t] is h_t, x[t - 1] is x_t, dy[t - 1] is dL/dy_t
        dh = dy[t - 1] @ W_hy + dh_next  # (N, H): rows are W_hy^T dL/dy_t + dh_next
        da = (1 - h[t] ** 2) * dh  # (N, H): through tanh'
        steps["W_hy"].append(dy[t - 1].T @ h[t])  # (H_out, H)
        steps["b_y"].append(dy[t - 1].sum(0))  # (H_out,)
        steps["W_xh"].append(da.T @ x[t - 1])  # (H, H_in)
        steps["W_hh"].append(da.T @ h[t - 1])  # (H, H)
        steps["b_h"].append(da.sum(0))  # (H,)
        dh_next = da @ W_hh  # (N, H): rows are W_hh^T da_t
    stacked = {name: torch.stack(v[::-1]) for name, v in steps.items()}  # (L, *shape), step 1 first
    totals = {name: v.sum(0) for name, v in stacked.items()}
    return Gradients(**totals, h_0=dh_next, per_step=stacked if per_step else None)


def squared_error(
    y: torch.Tensor, target: torch.Tensor, *, many_to_one: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Half squared error averaged over the batch; return the loss and dL/dy.

    Many-to-many: L = (1/N) sum_n sum_t 1/2 ||y_t - z_t||^2 with ``target`` (L, N, H_out).
    Many-to-one:  L = (1/N) sum_n 1/2 ||y_L - z||^2 with ``target`` (N, H_out); dL/dy_t is
    zero for t < L.

    Returns: ``loss`` (a scalar) and ``dy`` (L, N, H_out).
    """
    L, N, H_out = check_shape("y", y, ("L", "N", "H_out"))
    if many_to_one:
        check_shape("target", target, (N, H_out))
        diff = y[-1] - target  # (N, H_out)
        dy = torch.zeros_like(y)  # (L, N, H_out)
        dy[-1] = diff / N
    else:
        check_shape("target", target, (L, N, H_out))
        diff = y - target  # (L, N, H_out)
        dy = diff / N  # (L, N, H_out)
    return 0.5 * diff.pow(2).sum() / N, dy


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / max(||a||, ||b||) (Frobenius norms); 0 when both are zero.

    Example:
        >>> relative_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]))
        0.0
    """
    a, b = check_tensor("a", a), check_tensor("b", b)
    check_shape("b", b, tuple(a.shape))
    scale = max(float(a.norm()), float(b.norm()))
    return 0.0 if scale == 0 else float((a - b).norm()) / scale


def finite_difference_gradient(
    f: Callable[[], torch.Tensor], param: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """Central differences, (f(p + eps e_i) - f(p - eps e_i)) / (2 eps), for every entry i.

    ``f`` takes no arguments and returns a scalar tensor computed from ``param``, which is
    changed in place and restored. Error O(eps^2) plus rounding O(machine eps / eps): use
    float64. Returns a tensor shaped like ``param``.
    """
    param = check_tensor("param", param)
    if param.dtype != torch.float64:
        raise ValueError(f"param: expected dtype torch.float64 (finite differences need it), "
                         f"got {param.dtype}")
    grad = torch.zeros_like(param)
    flat, flat_grad = param.data.view(-1), grad.view(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            old = float(flat[i])
            flat[i] = old + eps
            plus = float(f())
            flat[i] = old - eps
            minus = float(f())
            flat[i] = old
            flat_grad[i] = (plus - minus) / (2 * eps)
    return grad
