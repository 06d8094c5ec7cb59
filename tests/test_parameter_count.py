"""Parameter-count formulas agree with the real modules they describe."""

import re

import pytest
import torch
from torch import nn

import rnncourse.parameter_count
from rnncourse.elman import ElmanRNN
from rnncourse.parameter_count import (
    conv2d_parameters,
    count_parameters,
    shared_rnn_parameters,
    torch_rnn_parameters,
    unshared_rnn_parameters,
)
from rnncourse.unshared import UnsharedRNN


def test_public_names():
    assert rnncourse.parameter_count.__all__ == [
        "conv2d_parameters", "count_parameters", "shared_rnn_parameters",
        "torch_rnn_parameters", "unshared_rnn_parameters",
    ]


@pytest.mark.parametrize(("n", "d"), [(1, 1), (3, 5), (128, 256)])
def test_shared_formula_matches_elman_and_torch(n, d):
    """d(d+n+1) for ElmanRNN; d(d+n+2) for nn.RNN with its two bias vectors."""
    with torch.device("meta"):
        assert count_parameters(ElmanRNN(n, d)) == shared_rnn_parameters(n, d) == d * (d + n + 1)
        assert count_parameters(nn.RNN(n, d)) == torch_rnn_parameters(n, d) == d * (d + n + 2)


@pytest.mark.parametrize("T", [1, 10, 100, 1000])
def test_unshared_formula_matches_the_module(T):
    """T d(d+n+1), counted on a meta-device UnsharedRNN."""
    with torch.device("meta"):
        model = UnsharedRNN(128, 256, max_length=T)
        assert count_parameters(model) == unshared_rnn_parameters(128, 256, T)


def test_the_textbook_numbers():
    """d = 256, n = 128, T = 100: 98,560 shared against 9,856,000 unshared."""
    assert shared_rnn_parameters(128, 256) == 98_560
    assert unshared_rnn_parameters(128, 256, 100) == 9_856_000


@pytest.mark.parametrize(("c_in", "c_out", "k"), [(1, 1, 1), (3, 16, 3), (8, 4, 5)])
def test_conv2d_formula_matches_the_module(c_in, c_out, k):
    assert count_parameters(nn.Conv2d(c_in, c_out, k)) == conv2d_parameters(c_in, c_out, k)


def test_count_parameters_includes_frozen_parameters():
    """Frozen parameters are still parameters of the model."""
    layer = nn.Linear(2, 2)
    layer.bias.requires_grad_(False)
    assert count_parameters(layer) == 6


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: shared_rnn_parameters(0, 4), "input_size: expected a positive int, got 0"),
        (lambda: shared_rnn_parameters(4, 2.0), "hidden_size: expected a positive int, got 2.0"),
        (lambda: unshared_rnn_parameters(4, 4, -1), "max_length: expected a positive int, got -1"),
        (lambda: conv2d_parameters(3, 16, True), "kernel_size: expected a positive int, got True"),
        (lambda: count_parameters("model"), "module: expected a torch.nn.Module, got str"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()
