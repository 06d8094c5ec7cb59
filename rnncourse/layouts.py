"""One Elman cell, three weight layouts: TensorFlow's concat kernel, Keras's and PyTorch's.

Taught in chapter 3 (the concat/split equivalence). The cell is

    h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h) = tanh(W_m [x_t; h_{t-1}] + b_h),
    W_m = [W_xh | W_hh]    (H, H_in + H): the two matrices side by side,

so W_m has exactly H (H_in + H) entries, as many as W_xh and W_hh together. Libraries
store the same numbers in different arrays. Each layout below is a frozen dataclass of
plain tensors (no TensorFlow needed), checked on construction. With x (N, H_in) and
h (N, H), rows being batch elements, one step's pre-activation is:

* ``ConcatLayout`` (TensorFlow 1.x ``BasicRNNCell``): ``concat([x, h], 1) @ kernel + bias``;
  ``kernel`` (H_in + H, H) = W_m^T, ``bias`` (H,) = b_h.
* ``KerasLayout`` (Keras ``SimpleRNN``): ``x @ kernel + bias + h @ recurrent_kernel``;
  ``kernel`` (H_in, H) = W_xh^T, ``recurrent_kernel`` (H, H) = W_hh^T, ``bias`` (H,) = b_h.
* ``TorchLayout`` (``torch.nn.RNN``):
  ``x @ weight_ih_l0.T + bias_ih_l0 + h @ weight_hh_l0.T + bias_hh_l0``;
  ``weight_ih_l0`` (H, H_in) = W_xh, ``weight_hh_l0`` (H, H) = W_hh, and two biases (H,)
  with ``bias_ih_l0 + bias_hh_l0`` = b_h.

TensorFlow and Keras store kernels (in, out), PyTorch (out, in). Conversions return views
where they can (like ``.T``): clone a result before changing it in place. PyTorch keeps two
biases for cuDNN compatibility; only their sum enters a tanh RNN, so converting to PyTorch
puts all of ``b_h`` in ``bias_ih_l0`` and zeros in ``bias_hh_l0`` (the same function).

References: TensorFlow ``tf.compat.v1.nn.rnn_cell.BasicRNNCell``; Keras
``keras.layers.SimpleRNNCell``; PyTorch ``torch.nn.RNN``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnncourse._validation import (
    check_concat_weight,
    check_floating,
    check_ndim,
    check_shape,
    check_tensor,
)

__all__ = [
    "ConcatLayout",
    "KerasLayout",
    "TorchLayout",
    "concat_weights",
    "split_weights",
    "to_concat",
    "to_keras",
    "to_torch",
]


def _check_rnn(rnn: object) -> None:
    if not isinstance(rnn, nn.RNN):  # house rule: bad input raises ValueError, hence the noqa
        raise ValueError(f"rnn: expected a torch.nn.RNN, got {type(rnn).__name__}")


def _check_matrix(name: str, value: object) -> torch.Tensor:
    value = check_tensor(name, value)
    check_ndim(name, value, (2,), "(a matrix)")
    check_floating(name, value)
    return value


def _check_same_dtype(**tensors: torch.Tensor) -> None:
    dtypes = {name: t.dtype for name, t in tensors.items()}
    first_name, first = next(iter(dtypes.items()))
    for name, dtype in dtypes.items():
        if dtype != first:
            msg = f"{name}: expected dtype {first} (the dtype of {first_name}), got {dtype}"
            raise ValueError(msg)


def concat_weights(W_xh: torch.Tensor, W_hh: torch.Tensor) -> torch.Tensor:
    """W_m = [W_xh | W_hh]: (H, H_in) and (H, H) side by side -> (H, H_in + H).

    Example:
        >>> W_m = concat_weights(torch.ones(2, 3), torch.zeros(2, 2))
        >>> tuple(W_m.shape), W_m.numel() == 2 * 3 + 2 * 2
        ((2, 5), True)
    """
    W_xh = _check_matrix("W_xh", W_xh)
    W_hh = _check_matrix("W_hh", W_hh)
    H = W_xh.shape[0]
    check_shape("W_hh", W_hh, (H, H))
    _check_same_dtype(W_xh=W_xh, W_hh=W_hh)
    return torch.cat([W_xh, W_hh], dim=1)  # (H, H_in + H)


def split_weights(W_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Undo :func:`concat_weights`: W_m (H, H_in + H) -> W_xh (H, H_in), W_hh (H, H).

    H is the number of rows; the last H columns are W_hh, the first H_in columns W_xh.
    """
    n, _ = check_concat_weight("W_m", W_m)  # (H_in, H)
    return W_m[:, :n], W_m[:, n:]  # (H, H_in), (H, H)


@dataclass(frozen=True)
class ConcatLayout:
    """TensorFlow's single kernel on the concatenation: ``concat([x, h], 1) @ kernel + bias``.

    Attributes:
        kernel: (H_in + H, H), equal to W_m^T: rows 0..H_in-1 act on x, the last H on h.
        bias: (H,), equal to b_h.
    """

    kernel: torch.Tensor
    bias: torch.Tensor

    def __post_init__(self) -> None:
        kernel = _check_matrix("kernel", self.kernel)
        rows, H = kernel.shape
        if rows <= H:
            raise ValueError(
                f"kernel: expected shape (H_in + H, H) with H_in >= 1, so more rows than "
                f"columns, got {tuple(kernel.shape)}"
            )
        check_shape("bias", check_tensor("bias", self.bias), (H,))
        _check_same_dtype(kernel=kernel, bias=self.bias)

    @property
    def input_size(self) -> int:
        """H_in: the kernel's rows that act on x (the rest act on h)."""
        return self.kernel.shape[0] - self.kernel.shape[1]


@dataclass(frozen=True)
class KerasLayout:
    """Keras ``SimpleRNN``: ``x @ kernel + h @ recurrent_kernel + bias``.

    Attributes:
        kernel: (H_in, H), equal to W_xh^T.
        recurrent_kernel: (H, H), equal to W_hh^T.
        bias: (H,), equal to b_h.
    """

    kernel: torch.Tensor
    recurrent_kernel: torch.Tensor
    bias: torch.Tensor

    def __post_init__(self) -> None:
        kernel = _check_matrix("kernel", self.kernel)
        H = kernel.shape[1]
        check_shape("recurrent_kernel", _check_matrix("recurrent_kernel", self.recurrent_kernel),
                    (H, H))
        check_shape("bias", check_tensor("bias", self.bias), (H,))
        _check_same_dtype(kernel=kernel, recurrent_kernel=self.recurrent_kernel, bias=self.bias)


@dataclass(frozen=True)
class TorchLayout:
    """``torch.nn.RNN`` (one layer): ``x @ W_ih.T + b_ih + h @ W_hh.T + b_hh``.

    Attributes use PyTorch's names: ``weight_ih_l0`` (H, H_in) = W_xh, ``weight_hh_l0``
    (H, H) = W_hh, ``bias_ih_l0`` and ``bias_hh_l0`` (H,) with sum b_h.
    """

    weight_ih_l0: torch.Tensor
    weight_hh_l0: torch.Tensor
    bias_ih_l0: torch.Tensor
    bias_hh_l0: torch.Tensor

    def __post_init__(self) -> None:
        W_ih = _check_matrix("weight_ih_l0", self.weight_ih_l0)
        H = W_ih.shape[0]
        check_shape("weight_hh_l0", _check_matrix("weight_hh_l0", self.weight_hh_l0), (H, H))
        check_shape("bias_ih_l0", check_tensor("bias_ih_l0", self.bias_ih_l0), (H,))
        check_shape("bias_hh_l0", check_tensor("bias_hh_l0", self.bias_hh_l0), (H,))
        _check_same_dtype(weight_ih_l0=W_ih, weight_hh_l0=self.weight_hh_l0,
                          bias_ih_l0=self.bias_ih_l0, bias_hh_l0=self.bias_hh_l0)

    @classmethod
    def from_module(cls, rnn: nn.RNN) -> TorchLayout:
        """Copy (detached) the four arrays of a one-layer, biased ``torch.nn.RNN``."""
        _check_rnn(rnn)
        if rnn.num_layers != 1 or rnn.bidirectional or not rnn.bias:
            raise ValueError(
                "rnn: expected one layer, one direction and bias=True, got "
                f"num_layers={rnn.num_layers}, bidirectional={rnn.bidirectional}, bias={rnn.bias}"
            )
        return cls(*(getattr(rnn, name).detach().clone() for name in _TORCH_NAMES))

    def load_into(self, rnn: nn.RNN) -> None:
        """Copy the four arrays into ``rnn`` (which must have matching sizes), in place."""
        _check_rnn(rnn)
        with torch.no_grad():
            for name in _TORCH_NAMES:
                target = getattr(rnn, name, None)
                if target is None:
                    raise ValueError(f"rnn: expected a parameter {name}, got none (bias=False?)")
                value = getattr(self, name)
                check_shape(f"rnn.{name}", target, tuple(value.shape))
                target.copy_(value)


_TORCH_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
Layout = ConcatLayout | KerasLayout | TorchLayout


def _check_layout(layout: object) -> Layout:
    if not isinstance(layout, ConcatLayout | KerasLayout | TorchLayout):
        raise ValueError(
            "layout: expected a ConcatLayout, KerasLayout or TorchLayout, "
            f"got {type(layout).__name__}"
        )
    return layout


def to_keras(layout: Layout) -> KerasLayout:
    """Any layout -> Keras: kernel = W_xh^T, recurrent_kernel = W_hh^T, bias = b_h.

    From PyTorch the two biases are summed (only the sum matters).
    """
    layout = _check_layout(layout)
    if isinstance(layout, KerasLayout):
        return layout
    if isinstance(layout, ConcatLayout):
        n = layout.input_size
        return KerasLayout(layout.kernel[:n], layout.kernel[n:], layout.bias)  # (n, H), (H, H)
    return KerasLayout(layout.weight_ih_l0.T, layout.weight_hh_l0.T,  # (H_in, H), (H, H)
                       layout.bias_ih_l0 + layout.bias_hh_l0)  # (H,)


def to_concat(layout: Layout) -> ConcatLayout:
    """Any layout -> TensorFlow's concat kernel, (H_in + H, H) = [W_xh | W_hh]^T."""
    keras = to_keras(layout)
    kernel = torch.cat([keras.kernel, keras.recurrent_kernel], dim=0)  # (H_in + H, H)
    return ConcatLayout(kernel, keras.bias)


def to_torch(layout: Layout) -> TorchLayout:
    """Any layout -> PyTorch: one bias goes all in ``bias_ih_l0``, zeros in ``bias_hh_l0``.

    A PyTorch layout is returned as it is (both biases kept).
    """
    layout = _check_layout(layout)
    if isinstance(layout, TorchLayout):
        return layout
    keras = to_keras(layout)
    return TorchLayout(keras.kernel.T, keras.recurrent_kernel.T,  # (H, H_in), (H, H)
                       keras.bias, torch.zeros_like(keras.bias))  # (H,), (H,)
