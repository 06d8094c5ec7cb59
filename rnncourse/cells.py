"""The Elman cell written two ways, split and concatenated, and the loops the performance lab times.

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
``unbind``); the fastest version, with a hand-written backward, is
:mod:`rnncourse.fast_elman`. Sequences are time-major: x is (L, N, H_in), the state (N, H).
"""

from __future__ import annotations

import torch

from rnncourse._validation import check_floating, check_ndim, check_shape, check_tensor
from rnncourse.elman import elman_step

__all__ = [
    "concat_loop",
    "concat_step",
    "hoisted_input_projection",
    "indexed_hoisted_loop",
    "split_loop",
]


def _check_dtypes(name: str, first: torch.Tensor, **others: torch.Tensor) -> None:
    """``first`` is floating point and every tensor in ``others`` has its dtype."""
    check_floating(name, first)
    for other, value in others.items():
        if value.dtype != first.dtype:
            raise ValueError(f"{other}: expected dtype {first.dtype} (the dtype of {name}), "
                             f"got {value.dtype}")


def _check_weights(W_xh: object, W_hh: object, b_h: object) -> tuple[int, int]:
    """Check W_xh (H, H_in), W_hh (H, H), b_h (H,); return (H_in, H)."""
    W_xh = check_tensor("W_xh", W_xh)
    check_ndim("W_xh", W_xh, (2,), "(H, H_in)")
    H, H_in = W_xh.shape
    check_shape("W_hh", check_tensor("W_hh", W_hh), (H, H))
    check_shape("b_h", check_tensor("b_h", b_h), (H,))
    _check_dtypes("W_xh", W_xh, W_hh=W_hh, b_h=b_h)
    return H_in, H


def _check_concat_weights(W_m: object, b_h: object) -> tuple[int, int]:
    """Check W_m (H, H_in + H) and b_h (H,); return (H_in, H)."""
    W_m = check_tensor("W_m", W_m)
    check_ndim("W_m", W_m, (2,), "(H, H_in + H)")
    H, columns = W_m.shape
    if columns <= H:
        raise ValueError(
            f"W_m: expected shape (H, H_in + H) with H_in >= 1, so more columns than rows, "
            f"got {tuple(W_m.shape)}"
        )
    check_shape("b_h", check_tensor("b_h", b_h), (H,))
    _check_dtypes("W_m", W_m, b_h=b_h)
    return columns - H, H


def _check_x(x: object, H_in: int, dtype: torch.dtype) -> torch.Tensor:
    """Check x (L, N, H_in) with L >= 1 and the weights' dtype."""
    x = check_tensor("x", x)
    check_ndim("x", x, (3,), "(L, N, H_in)")
    L, _, got = x.shape
    if got != H_in:
        raise ValueError(f"x.size(-1) must be equal to input_size. Expected {H_in}, got {got}")
    if L == 0:
        raise ValueError(f"x: expected a sequence of length L >= 1, got shape {tuple(x.shape)}")
    check_floating("x", x)
    if x.dtype != dtype:
        raise ValueError(f"x: expected dtype {dtype} (the weights' dtype), got {x.dtype}")
    return x


def _check_sequence(x: object, h_0: object, H_in: int, H: int, dtype: torch.dtype) -> torch.Tensor:
    """Check x (L, N, H_in) and h_0 (N, H) or None; return the initial state (N, H)."""
    x = _check_x(x, H_in, dtype)
    N = x.shape[1]
    if h_0 is None:
        return x.new_zeros(N, H)  # (N, H)
    h_0 = check_tensor("h_0", h_0)
    check_shape("h_0", h_0, (N, H))
    _check_dtypes("x", x, h_0=h_0)
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
        >>> torch.allclose(concat_step(x_t, h, W_m, b_h), elman_step(x_t, h, W_xh, W_hh, b_h))
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
    W_xh = check_tensor("W_xh", W_xh)
    check_ndim("W_xh", W_xh, (2,), "(H, H_in)")
    H, H_in = W_xh.shape
    check_shape("b_h", check_tensor("b_h", b_h), (H,))
    _check_dtypes("W_xh", W_xh, b_h=b_h)
    _check_x(x, H_in, W_xh.dtype)
    return x @ W_xh.T + b_h  # (L, N, H)


def split_loop(
    x: torch.Tensor,
    W_xh: torch.Tensor,
    W_hh: torch.Tensor,
    b_h: torch.Tensor,
    h_0: torch.Tensor | None = None,
) -> torch.Tensor:
    """Every hidden state with two matmuls per step: (a) in the performance lab.

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
    """Every hidden state with one matmul on [x_t; h_{t-1}] per step: (b) in the lab.

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
    """The hoisted loop with the pitfall: correct values, slow backward.

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
