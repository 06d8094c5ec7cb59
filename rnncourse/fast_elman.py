"""The course's from-scratch Elman RNN built for speed: hoisted input, hand-written backward.

Taught in chapter 3 (its performance section) and timed by ``python -m rnncourse.bench``. The
function is the Elman recurrence of :class:`rnncourse.elman.ElmanRNN`,

    h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h),    t = 1..L,

computed so that as much of the work as possible is in large matrix products:

* forward: the input path of all L steps, X W_xh^T + b_h, is ONE (L N, H_in) x (H_in, H)
  product; the loop then adds h_{t-1} W_hh^T in place and applies tanh in place, writing
  straight into the output buffer (no per-step allocation, no autograd graph);
* backward (backpropagation through time, derived in chapter 4, ``rnncourse.bptt``): the
  loop only carries the gradient back through the recurrence,

      dz_t = (g_t + dz_{t+1} W_hh) * (1 - h_t^2)        (g_t = dLoss/dh_t from outside)

  one small product and one fused elementwise op per step, and after the loop every
  weight gradient is ONE large product over all steps at once:

      dW_xh = dZ^T X,   dW_hh = dZ_{2..L}^T H_{1..L-1} (+ dz_1^T h_0),   db_h = sum dZ,
      dX = dZ W_xh,     dh_0 = dz_1 W_hh,

  with dZ the (L N, H) stack of dz_t. Autograd would instead record and replay a few
  small ops per step and accumulate the weight gradients step by step.

Both loops are plain Python over PyTorch calls: the serial part of an RNN is L small
products, one after another, whatever language drives them.

Shapes: x (L, N, H_in) time-major, h_0 (N, H), output (L, N, H). Only first derivatives
are implemented (``once_differentiable``); ``torch.autograd.gradcheck`` checks them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.function import once_differentiable

from rnncourse._validation import check_shape, check_tensor
from rnncourse.cells import _check_dtypes, _check_weights, _check_x

__all__ = ["backward_loop", "fast_elman", "forward_loop"]

# grad * (1 - y^2) in one pass, written into ``grad_input``: PyTorch's own tanh derivative.
_tanh_backward = torch.ops.aten.tanh_backward.grad_input


def forward_loop(out: torch.Tensor, W_hh: torch.Tensor, h_0: torch.Tensor | None) -> None:
    """h_t = tanh(p_t + h_{t-1} W_hh^T) for t = 1..L, in place.

    ``out`` (L, N, H) holds p_t on entry and h_t on return. ``W_hh`` (H, H); ``h_0`` (N, H)
    or None (zeros).
    """
    W_hh_T = W_hh.T.contiguous()  # (H, H): stored as the product reads it, once per loop
    h = out.unbind(0)  # L views (N, H) into out; unbind once, not out[t] every step
    if h_0 is not None:  # with h_0 = 0 the product is skipped
        torch.addmm(h[0], h_0, W_hh_T, out=h[0])  # (N, H)
    h[0].tanh_()
    for t in range(1, len(h)):
        torch.addmm(h[t], h[t - 1], W_hh_T, out=h[t])  # (N, H): pre-activation
        h[t].tanh_()  # (N, H): h_t, in place


def backward_loop(dz: torch.Tensor, g: torch.Tensor, hs: torch.Tensor, W_hh: torch.Tensor) -> None:
    """dz_t = (g_t + dz_{t+1} W_hh) * (1 - h_t^2) for t = L..1 (no dz_{L+1} term), into ``dz``.

    ``dz``, ``g``, ``hs`` (L, N, H): output, dLoss/dh_t and h_t; ``W_hh`` (H, H). ``dz``
    first receives all of g in one copy; each step then works in place.
    """
    dz.copy_(g)  # (L, N, H): g_t at every step
    dz_t, h_t = dz.unbind(0), hs.unbind(0)  # L views (N, H) each
    L = len(dz_t)
    _tanh_backward(dz_t[L - 1], h_t[L - 1], grad_input=dz_t[L - 1])  # dz_L = g_L (1 - h_L^2)
    for t in range(L - 1, 0, -1):
        torch.addmm(dz_t[t - 1], dz_t[t], W_hh, out=dz_t[t - 1])  # (N, H): dLoss/dh_{t-1}
        _tanh_backward(dz_t[t - 1], h_t[t - 1], grad_input=dz_t[t - 1])  # (N, H), in place


class _ElmanFunction(torch.autograd.Function):
    """Forward and backward of the whole recurrence as one autograd node."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        h_0: torch.Tensor | None,
        W_xh: torch.Tensor,
        W_hh: torch.Tensor,
        b_h: torch.Tensor,
    ) -> torch.Tensor:
        L, N, H_in = x.shape
        H = W_hh.shape[0]
        out = torch.addmm(b_h, x.reshape(L * N, H_in), W_xh.T).view(L, N, H)  # (L, N, H): p_t
        forward_loop(out, W_hh.contiguous(), h_0)  # (L, N, H): h_t, in place
        ctx.save_for_backward(x, h_0, W_xh, W_hh, out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, h_0, W_xh, W_hh, hs = ctx.saved_tensors
        L, N, H_in = x.shape
        H = W_hh.shape[0]
        dz = torch.empty_like(hs)  # (L, N, H): dLoss/d(pre-activation) at every step
        backward_loop(dz, g.contiguous(), hs, W_hh.contiguous())
        dZ = dz.view(L * N, H)  # (L N, H)
        need_x, need_h0, need_W_xh, need_W_hh, need_b_h = ctx.needs_input_grad
        dx = dZ.mm(W_xh).view(L, N, H_in) if need_x else None  # (L, N, H_in)
        dh_0 = dz[0].mm(W_hh) if need_h0 else None  # (N, H)
        dW_xh = dZ.T.mm(x.reshape(L * N, H_in)) if need_W_xh else None  # (H, H_in)
        dW_hh = None
        if need_W_hh:
            dW_hh = dz[1:].reshape(-1, H).T.mm(hs[:-1].reshape(-1, H))  # (H, H)
            if h_0 is not None:
                dW_hh.addmm_(dz[0].T, h_0)
        db_h = dZ.sum(0) if need_b_h else None  # (H,)
        return dx, dh_0, dW_xh, dW_hh, db_h


def fast_elman(
    x: torch.Tensor,
    W_xh: torch.Tensor,
    W_hh: torch.Tensor,
    b_h: torch.Tensor,
    h_0: torch.Tensor | None = None,
) -> torch.Tensor:
    """Every hidden state h_1..h_L of the Elman recurrence, with the fast backward above.

    Inputs: ``x`` (L, N, H_in); ``W_xh`` (H, H_in) = ``weight_ih_l0``, ``W_hh`` (H, H) =
    ``weight_hh_l0``, ``b_h`` (H,) = ``bias_ih_l0 + bias_hh_l0``; ``h_0`` (N, H), zeros
    if omitted. Output: (L, N, H), equal to ``torch.nn.RNN``'s ``output``.

    Example:
        >>> from rnncourse.elman import ElmanRNN
        >>> rnn = ElmanRNN(3, 4)
        >>> x = torch.randn(5, 2, 3)
        >>> torch.allclose(fast_elman(x, rnn.W_xh, rnn.W_hh, rnn.b_h), rnn(x)[0], atol=1e-6)
        True
    """
    H_in, H = _check_weights(W_xh, W_hh, b_h)
    _check_x(x, H_in, W_xh.dtype)
    if h_0 is not None:
        check_shape("h_0", check_tensor("h_0", h_0), (x.shape[1], H))
        _check_dtypes("x", x, h_0=h_0)
        h_0 = h_0.contiguous()
    return _ElmanFunction.apply(x.contiguous(), h_0, W_xh, W_hh, b_h)  # (L, N, H)
