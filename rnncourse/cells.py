"""The Elman cell written two ways, split and concatenated, and the loops chapter 3 counts.

Taught in chapter 3 (the concat/split equivalence). For W_m = [W_xh | W_hh] (H, H_in + H),

    split:   h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h)          (two matmuls per step)
    concat:  h_t = tanh(W_m [x_t; h_{t-1}] + b_h)               (one matmul per step)

are the same function: W_m [x; h] = W_xh x + W_hh h by block multiplication. The split step
is :func:`rnncourse.elman.elman_step`; this module adds the concat step and plain loops over
a whole sequence:

=============================  =============================================================
function                       what each step computes
=============================  =============================================================
:func:`split_loop`             ``elman_step``: x_t W_xh^T + h W_hh^T + b_h, two matmuls
:func:`concat_loop`            :func:`concat_step`: [x_t, h] W_m^T + b_h, one matmul
:func:`indexed_hoisted_loop`   xp[t] + h W_hh^T, with xp = x W_xh^T + b_h for all steps
                               at once, read by indexing ``xp[t]`` (the autograd pitfall)
=============================  =============================================================

The hoisted loop done right is :class:`rnncourse.elman.ElmanRNN` (it reads xp with
``unbind``); the version with a hand-written backward, fewest operations and fewest
matrix products, is :mod:`rnncourse.fast_elman`. Sequences are time-major: x is
(L, N, H_in), the state (N, H).
"""

from __future__ import annotations

import torch

from rnncourse._validation import (
    check_concat_weight,
    check_same_dtype,
    check_sequence,
    check_shape,
)
from rnncourse.elman import elman_step

__all__ = [
    "concat_loop",
    "concat_step",
    "hoisted_input_projection",
    "indexed_hoisted_loop",
    "split_loop",
]


_check_dtypes = check_same_dtype  # the name rnncourse.fast_elman imports


def _check_x(x: object, H_in: int, dtype: torch.dtype) -> torch.Tensor:
    """Check x (L, N, H_in) with L >= 1 and the weights' dtype (rnncourse.fast_elman's too)."""
    return check_sequence("x", x, H_in, dtype)


def _check_weights(W_xh: object, W_hh: object, b_h: object) -> tuple[int, int]:
    """Check W_xh (H, H_in), W_hh (H, H), b_h (H,); return (H_in, H)."""
    H, H_in = check_shape("W_xh", W_xh, ("H", "H_in"))
    check_shape("W_hh", W_hh, (H, H))
    check_shape("b_h", b_h, (H,))
    check_same_dtype("W_xh", W_xh, W_hh=W_hh, b_h=b_h)
    return H_in, H


def _check_concat_weights(W_m: object, b_h: object) -> tuple[int, int]:
    """Check W_m (H, H_in + H) and b_h (H,); return (H_in, H)."""
    H_in, H = check_concat_weight("W_m", W_m)
    check_shape("b_h", b_h, (H,))
    check_same_dtype("W_m", W_m, b_h=b_h)
    return H_in, H


def _check_sequence(x: object, h_0: object, H_in: int, H: int, dtype: torch.dtype) -> torch.Tensor:
    """Check x (L, N, H_in) and h_0 (N, H) or None; return the initial state (N, H)."""
    x = check_sequence("x", x, H_in, dtype)
    N = x.shape[1]
    if h_0 is None:
        return x.new_zeros(N, H)  # (N, H)
    check_shape("h_0", h_0, (N, H))
    check_same_dtype("x", x, h_0=h_0)
    return h_0


def concat_step(
    x_t: torch.Tensor, h_prev: torch.Tensor, W_m: torch.Tensor, b_h: torch.Tensor
) -> torch.Tensor:
    """One step on the concatenation, h_t = tanh(W_m [x_t; h_{t-1}] + b_h).

    Inputs: ``x_t`` (N, H_in), ``h_prev`` (N, H), ``W_m`` (H, H_in + H), ``b_h`` (H,).
    Output: ``h_t`` (N, H). Equal to ``elman_step(x_t, h_prev, W_xh, W_hh, b_h)`` when
    ``W_m = [W_xh | W_hh]``.

    Example:
        >>> W_xh, W_hh, b_h = torch.randn(4, 3), torch.randn(4, 4), torch.randn(4)
        >>> x_t, h = torch.randn(2, 3), torch.randn(2, 4)
        >>> W_m = torch.cat([W_xh, W_hh], dim=1)
        >>> h_t = concat_step(x_t, h, W_m, b_h)  # float32: equal up to rounding
        >>> torch.allclose(h_t, elman_step(x_t, h, W_xh, W_hh, b_h), atol=1e-5)
        True
    """
    xh = torch.cat([x_t, h_prev], dim=1)  # (N, H_in + H)
    return torch.tanh(xh @ W_m.T + b_h)  # (N, H)


def hoisted_input_projection(
    x: torch.Tensor, W_xh: torch.Tensor, b_h: torch.Tensor
) -> torch.Tensor:
    """The input path of every step at once: xp_t = W_xh x_t + b_h for t = 1..L.

    Allowed because W_xh and b_h are shared across time: one (L N, H_in) x (H_in, H)
    product instead of L small ones. Inputs: ``x`` (L, N, H_in), ``W_xh`` (H, H_in),
    ``b_h`` (H,). Output: ``xp`` (L, N, H).

    Example:
        >>> x, W_xh, b_h = torch.randn(5, 2, 3), torch.randn(4, 3), torch.randn(4)
        >>> torch.allclose(hoisted_input_projection(x, W_xh, b_h)[2], x[2] @ W_xh.T + b_h)
        True
    """
    H, H_in = check_shape("W_xh", W_xh, ("H", "H_in"))
    check_shape("b_h", b_h, (H,))
    check_same_dtype("W_xh", W_xh, b_h=b_h)
    check_sequence("x", x, H_in, W_xh.dtype)
    return x @ W_xh.T + b_h  # (L, N, H)


def split_loop(
    x: torch.Tensor,
    W_xh: torch.Tensor,
    W_hh: torch.Tensor,
    b_h: torch.Tensor,
    h_0: torch.Tensor | None = None,
) -> torch.Tensor:
    """Every hidden state with two matmuls per step (``split_loop`` in ``rnncourse.bench``).

    Inputs: ``x`` (L, N, H_in); ``W_xh`` (H, H_in), ``W_hh`` (H, H), ``b_h`` (H,);
    ``h_0`` (N, H), zeros if omitted. Output: h_1..h_L, (L, N, H).
    """
    H_in, H = _check_weights(W_xh, W_hh, b_h)
    h = _check_sequence(x, h_0, H_in, H, W_xh.dtype)  # (N, H)
    hs = []
    for x_t in x.unbind(0):  # (N, H_in) each
        h = elman_step(x_t, h, W_xh, W_hh, b_h)  # (N, H)
        hs.append(h)
    return torch.stack(hs)  # (L, N, H)


def concat_loop(
    x: torch.Tensor, W_m: torch.Tensor, b_h: torch.Tensor, h_0: torch.Tensor | None = None
) -> torch.Tensor:
    """Every hidden state with one matmul on [x_t; h_{t-1}] per step (``concat_loop`` in bench).

    Inputs: ``x`` (L, N, H_in); ``W_m`` (H, H_in + H), ``b_h`` (H,); ``h_0`` (N, H), zeros
    if omitted. Output: h_1..h_L, (L, N, H).
    """
    H_in, H = _check_concat_weights(W_m, b_h)
    h = _check_sequence(x, h_0, H_in, H, W_m.dtype)  # (N, H)
    hs = []
    for x_t in x.unbind(0):  # (N, H_in) each
        h = concat_step(x_t, h, W_m, b_h)  # (N, H)
        hs.append(h)
    return torch.stack(hs)  # (L, N, H)


def indexed_hoisted_loop(
    x: torch.Tensor,
    W_xh: torch.Tensor,
    W_hh: torch.Tensor,
    b_h: torch.Tensor,
    h_0: torch.Tensor | None = None,
) -> torch.Tensor:
    """The hoisted loop with the pitfall: correct values, a backward that writes O(L^2) memory.

    The input projection of all L steps is one matmul before the loop (allowed because
    W_xh is shared), but the loop reads it as ``xp[t]``. Autograd's backward of each
    ``xp[t]`` makes a zero tensor the size of all of xp, (L, N, H), and writes one slice
    of it, so the backward does O(L^2 N H) work instead of O(L N H).
    :class:`rnncourse.elman.ElmanRNN` reads xp with ``unbind`` and avoids it.

    Inputs and output as :func:`split_loop`.
    """
    H_in, H = _check_weights(W_xh, W_hh, b_h)
    h = _check_sequence(x, h_0, H_in, H, W_xh.dtype)  # (N, H)
    xp = hoisted_input_projection(x, W_xh, b_h)  # (L, N, H): all steps at once
    hs = []
    for t in range(x.shape[0]):
        h = torch.tanh(xp[t] + h @ W_hh.T)  # (N, H); xp[t] is the pitfall
        hs.append(h)
    return torch.stack(hs)  # (L, N, H)
