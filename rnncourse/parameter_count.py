"""Parameter counts of shared and unshared recurrent networks, and of a convolution.

Taught in chapter 2 (weight sharing across time). With input size n (H_in) and hidden
size d (H), one Elman step has d·n input weights, d·d recurrent weights and d biases:

    shared (the same weights at every step):     d (d + n + 1)
    unshared (own weights at each of T steps):   T · d (d + n + 1)
    torch.nn.RNN (two bias vectors per layer):   d (d + n + 2)

A 2-D convolution with C_in input and C_out output channels and a k × k kernel has
C_out (C_in k^2 + 1) parameters, whatever the image size: the spatial analogue of the
first line. The chapter checks each formula against :func:`count_parameters` of a real
module. Reference: I. Goodfellow, Y. Bengio, A. Courville, *Deep Learning* (2016),
sections 9.2 and 10.1.
"""

from __future__ import annotations

from torch import nn

from rnncourse._validation import check_int

__all__ = [
    "conv2d_parameters",
    "count_parameters",
    "shared_rnn_parameters",
    "torch_rnn_parameters",
    "unshared_rnn_parameters",
]


def count_parameters(module: nn.Module) -> int:
    """The number of scalars in ``module.parameters()`` (trainable or not).

    Works on modules built on the ``meta`` device, which have shapes but no storage.

    Example:
        >>> count_parameters(nn.Linear(3, 2))
        8
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    return sum(p.numel() for p in module.parameters())


def shared_rnn_parameters(input_size: int, hidden_size: int) -> int:
    """d (d + n + 1): W_xh (d, n), W_hh (d, d) and b_h (d,), used at every step.

    Example:
        >>> shared_rnn_parameters(128, 256)
        98560
    """
    n, d = check_int("input_size", input_size), check_int("hidden_size", hidden_size)
    return d * (d + n + 1)


def unshared_rnn_parameters(input_size: int, hidden_size: int, max_length: int) -> int:
    """T · d (d + n + 1): a separate W_xh^(t), W_hh^(t), b_h^(t) for each of T steps.

    Example:
        >>> unshared_rnn_parameters(128, 256, 100)
        9856000
    """
    T = check_int("max_length", max_length)
    return T * shared_rnn_parameters(input_size, hidden_size)


def torch_rnn_parameters(input_size: int, hidden_size: int) -> int:
    """d (d + n + 2): ``torch.nn.RNN`` keeps two bias vectors, ``bias_ih`` and ``bias_hh``.

    Only their sum acts in the recurrence, so it has d more parameters than it needs.

    Example:
        >>> torch_rnn_parameters(128, 256)
        98816
    """
    n, d = check_int("input_size", input_size), check_int("hidden_size", hidden_size)
    return d * (d + n + 2)


def conv2d_parameters(in_channels: int, out_channels: int, kernel_size: int) -> int:
    """C_out (C_in k^2 + 1): one k × k kernel per (input, output) channel pair, one bias each.

    Example:
        >>> conv2d_parameters(3, 16, 3)
        448
    """
    c_in = check_int("in_channels", in_channels)
    c_out = check_int("out_channels", out_channels)
    k = check_int("kernel_size", kernel_size)
    return c_out * (c_in * k * k + 1)
