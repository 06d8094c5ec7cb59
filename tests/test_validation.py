"""The one place for input checks: its message style, and the modules that use it."""

import re

import pytest
import torch

from rnncourse._validation import (
    check_concat_weight,
    check_int,
    check_same_dtype,
    check_sequence,
    check_shape,
    check_tensor,
)
from rnncourse.classifier import SequenceClassifier
from rnncourse.data import ar_process, make_corpus, noisy_sines
from rnncourse.elman import ElmanRNN
from rnncourse.key_token_task import key_token_batch
from rnncourse.ngram import NGramModel
from rnncourse.parameter_count import conv2d_parameters, unshared_rnn_parameters
from rnncourse.pooling import AttentionPooling, length_mask
from rnncourse.position_features import normalised_position
from rnncourse.train import train
from rnncourse.unshared import UnsharedRNN


def _raises(message):
    """Expect a ValueError with exactly ``message``."""
    return pytest.raises(ValueError, match=f"^{re.escape(message)}$")


@pytest.mark.parametrize(
    ("value", "shapes", "message"),
    [
        (torch.zeros(5, 3), [("L", "N", 8)], "x: expected shape (L, N, 8), got (5, 3)"),
        (torch.zeros(5, 2, 3), [("L", "N", 8)], "x: expected shape (L, N, 8), got (5, 2, 3)"),
        (torch.zeros(3, 4), [("H", "H")], "x: expected shape (H, H), got (3, 4)"),
        (torch.zeros(2, 3), [("N",)], "x: expected shape (N,), got (2, 3)"),
        (torch.zeros(()), [("N",)], "x: expected shape (N,), got ()"),
        (torch.zeros(1), [("L", "N", 8), ("L", 8)],
         "x: expected shape (L, N, 8) or (L, 8), got (1,)"),
        ([1.0], [("N",)], "x: expected a torch.Tensor, got list"),
    ],
)
def test_check_shape_names_expected_and_got(value, shapes, message):
    with _raises(message):
        check_shape("x", value, *shapes)


def test_check_shape_returns_the_shape_and_binds_repeated_symbols():
    assert check_shape("W", torch.zeros(3, 3), ("H", "H")) == (3, 3)
    assert check_shape("x", torch.zeros(4, 8), ("L", "N", 8), ("L", 8)) == (4, 8)
    assert check_shape("x", torch.zeros(0, 2), ("L", 2)) == (0, 2)


@pytest.mark.parametrize("bad", [0, -3, 2.0, True, "3", None])
def test_check_int_rejects_non_ints_bools_and_small_values(bad):
    with _raises(f"n: expected a positive int, got {bad!r}"):
        check_int("n", bad)


def test_check_int_minimum_and_reason():
    assert check_int("n", 0, 0) == 0
    with _raises("steps: expected an int >= 0, got -1"):
        check_int("steps", -1, 0)
    with _raises("V: expected an int >= 4 (padding, marker, two tokens), got 3"):
        check_int("V", 3, 4, "padding, marker, two tokens")


@pytest.mark.parametrize(
    ("x", "kwargs", "message"),
    [
        (torch.zeros(2, 5, 3), {"batch_first": True},
         "x: expected shape (N, L, 4), got (2, 5, 3)"),
        (torch.zeros(2, 0, 4), {"batch_first": True},
         "x: expected a sequence of length L >= 1, got shape (2, 0, 4)"),
        (torch.zeros(0, 4), {"unbatched": True},
         "x: expected a sequence of length L >= 1, got shape (0, 4)"),
        (torch.zeros(5, 4), {}, "x: expected shape (L, N, 4), got (5, 4)"),
        (torch.zeros(5, 2, 4, dtype=torch.long), {},
         "x: expected a floating-point tensor (float32 or float64), got dtype torch.int64"),
        (torch.zeros(5, 2, 4, dtype=torch.float64), {},
         "x: expected dtype torch.float32 (the weights' dtype), got torch.float64"),
    ],
)
def test_check_sequence(x, kwargs, message):
    with _raises(message):
        check_sequence("x", x, 4, torch.float32, **kwargs)


def test_check_sequence_accepts_a_symbolic_size_and_any_float_dtype():
    x = torch.zeros(5, 2, 7, dtype=torch.float64)
    assert check_sequence("x", x, "H_in", None) is x
    with _raises("x: expected shape (L, N, H_in), got (5, 7)"):
        check_sequence("x", torch.zeros(5, 7), "H_in", None)


def test_check_concat_weight():
    assert check_concat_weight("W_m", torch.zeros(4, 7)) == (3, 4)
    with _raises("W_m: expected shape (H, H_in + H) with H_in >= 1, so more columns than rows, "
                 "got (4, 4)"):
        check_concat_weight("W_m", torch.zeros(4, 4))
    with _raises("W_m: expected shape (H, H_in + H), got (8,)"):
        check_concat_weight("W_m", torch.zeros(8))
    with _raises("W_m: expected a floating-point tensor (float32 or float64), "
                 "got dtype torch.int64"):
        check_concat_weight("W_m", torch.zeros(2, 3, dtype=torch.long))


def test_check_same_dtype_and_check_tensor():
    a, b = torch.zeros(2), torch.zeros(2, dtype=torch.float64)
    with _raises("b: expected dtype torch.float32 (the dtype of a), got torch.float64"):
        check_same_dtype("a", a, b=b)
    t = torch.zeros(1)
    assert check_tensor("t", t) is t


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda n: ElmanRNN(n, 3), "input_size"),
        (lambda n: ElmanRNN(3, n), "hidden_size"),
        (lambda n: UnsharedRNN(3, 4, max_length=n), "max_length"),
        (lambda n: SequenceClassifier(10, 4, 8, n), "num_classes"),
        (lambda n: NGramModel(n, 5), "order"),
        (lambda n: NGramModel(2, n), "vocab_size"),
        (AttentionPooling, "hidden_size"),
        (lambda n: AttentionPooling(4, n), "attention_size"),
        (lambda n: length_mask(torch.tensor([1]), n), "max_len"),
        (make_corpus, "n_chars"),
        (lambda n: ar_process(n, [0.5]), "length"),
        (lambda n: noisy_sines(n, 10), "n_series"),
        (lambda n: noisy_sines(2, n), "length"),
        (lambda n: key_token_batch(torch.tensor([1]), n), "length"),
        (lambda n: key_token_batch(torch.tensor([1]), 4, n_distractors=n), "n_distractors"),
        (lambda n: normalised_position(torch.arange(1, 4), n), "total"),
        (lambda n: unshared_rnn_parameters(2, 3, n), "max_length"),
        (lambda n: conv2d_parameters(1, 2, n), "kernel_size"),
        (lambda n: train(torch.nn.Linear(1, 1), lambda m, s: m.weight.sum(), n), "steps"),
    ],
)
@pytest.mark.parametrize("bad", [0, 2.5, True])
def test_every_size_argument_has_the_one_positive_int_message(call, name, bad):
    with _raises(f"{name}: expected a positive int, got {bad!r}"):
        call(bad)
