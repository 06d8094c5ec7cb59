"""Position features: values from their definitions, shapes, and clear errors."""

import math
import re

import pytest
import torch

import rnncourse.position_features
from rnncourse.position_features import (
    normalised_position,
    one_hot_position,
    periodic_features,
    sinusoidal_encoding,
    with_position_features,
)


def test_public_names():
    assert rnncourse.position_features.__all__ == [
        "normalised_position", "one_hot_position", "periodic_features", "sinusoidal_encoding",
        "with_position_features",
    ]


def test_sinusoidal_matches_the_definition():
    """PE[t, 2i] = sin(t / base^(2i/F)), PE[t, 2i+1] = cos(t / base^(2i/F)), entry by entry."""
    t = torch.arange(7, dtype=torch.float64)
    pe = sinusoidal_encoding(t, 6, base=100.0)
    assert pe.shape == (7, 6)
    assert pe.dtype == torch.float64
    for step in range(7):
        for i in range(3):
            angle = step / 100.0 ** (2 * i / 6)
            assert pe[step, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-12)
            assert pe[step, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-12)


def test_sinusoidal_integer_steps_use_default_dtype():
    assert sinusoidal_encoding(torch.arange(3), 4).dtype == torch.get_default_dtype()


def test_normalised_position_runs_from_1_over_T_to_1():
    f = normalised_position(torch.arange(1, 11), 10)
    assert f.shape == (10, 1)
    torch.testing.assert_close(f[:, 0], torch.arange(1, 11) / 10)


def test_periodic_features_repeat_with_the_period_and_separate_phases():
    """Steps P apart get the same features; steps in one period all get different ones."""
    f = periodic_features(torch.arange(24, dtype=torch.float64), 12)
    assert f.shape == (24, 2)
    torch.testing.assert_close(f[:12], f[12:], rtol=0, atol=1e-12)
    torch.testing.assert_close(f.pow(2).sum(1), torch.ones(24, dtype=torch.float64))
    assert torch.cdist(f[:12], f[:12]).add(torch.eye(12)).min() > 0.5


def test_one_hot_position_through_a_matrix_is_a_learned_table():
    """W one_hot(t) is column t of W: a learned embedding with one row per position."""
    t = torch.tensor([3, 1, 3])
    e = one_hot_position(t, 4)  # (3, 4)
    assert e.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 1, 0]]
    W = torch.randn(5, 4)
    torch.testing.assert_close(e @ W.T, W[:, t - 1].T, rtol=0, atol=0)


def test_with_position_features_concatenates_to_every_sequence():
    x = torch.randn(3, 5, 2)
    feats = torch.randn(5, 4)
    out = with_position_features(x, feats)
    assert out.shape == (3, 5, 6)
    torch.testing.assert_close(out[..., :2], x, rtol=0, atol=0)
    torch.testing.assert_close(out[1, :, 2:], feats, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sinusoidal_encoding(torch.arange(3), 5),
         "dim: expected a positive even int, got 5"),
        (lambda: sinusoidal_encoding(torch.arange(3), 4, base=1.0),
         "base: expected a number > 1, got 1.0"),
        (lambda: sinusoidal_encoding(torch.zeros(2, 3), 4), "t: expected shape (L,), got (2, 3)"),
        (lambda: sinusoidal_encoding([0, 1], 4), "t: expected a torch.Tensor, got list"),
        (lambda: normalised_position(torch.arange(3), 0), "total: expected a positive int, got 0"),
        (lambda: periodic_features(torch.arange(3), -12),
         "period: expected a positive number, got -12"),
        (lambda: one_hot_position(torch.tensor([1, 5]), 4),
         ("t: expected positions in 1..4 (a learned table has no row past max_length), "
         "got values in 1..5")),
        (lambda: one_hot_position(torch.tensor([1.0]), 4),
         "t: expected integer positions, got dtype torch.float32"),
        (lambda: with_position_features(torch.zeros(2, 5, 3), torch.zeros(4, 1)),
         "features: expected shape (5, F), got (4, 1)"),
        (lambda: with_position_features(torch.zeros(5, 3), torch.zeros(5, 1)),
         "x: expected shape (N, L, H_in), got (5, 3)"),
        (lambda: with_position_features(torch.zeros(2, 5, 3),
                                        torch.zeros(5, 1, dtype=torch.float64)),
         "features: expected dtype torch.float32 (x's dtype), got torch.float64"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()
