"""The key-token task: sequences hold exactly one key where asked, targets follow it."""

import re

import pytest
import torch

import rnncourse.key_token_task
from rnncourse.key_token_task import (
    accuracy_by_position,
    key_token_batch,
    skewed_positions,
)


def test_public_names():
    assert rnncourse.key_token_task.__all__ == [
        "KeyTokenBatch", "accuracy_by_position", "key_token_batch", "skewed_positions",
    ]


def test_one_key_at_the_requested_position_and_its_label():
    """Exactly one key token per sequence, at `position`, and it is key A or B per label."""
    position = torch.arange(1, 21)
    batch = key_token_batch(position, 20, generator=torch.Generator().manual_seed(0))
    is_key = batch.tokens >= 6  # (N, L)
    assert is_key.sum(1).tolist() == [1] * 20
    assert (is_key.float().argmax(1) + 1).tolist() == position.tolist()
    assert (batch.tokens[torch.arange(20), position - 1] - 6).tolist() == batch.label.tolist()
    assert set(batch.label.tolist()) == {0, 1}


def test_targets_say_no_key_before_it_and_the_key_from_it_on():
    batch = key_token_batch(torch.tensor([3]), 6, generator=torch.Generator().manual_seed(1))
    k = 1 + batch.label.item()
    assert batch.targets[0].tolist() == [0, 0, k, k, k, k]


def test_one_hot_inputs_match_tokens():
    batch = key_token_batch(torch.tensor([2, 5]), 5, n_distractors=3,
                            generator=torch.Generator().manual_seed(2))
    assert batch.x.shape == (2, 5, 5)
    assert batch.x.dtype == torch.float32
    assert torch.equal(batch.x.argmax(-1), batch.tokens)
    assert torch.equal(batch.x.sum(-1), torch.ones(2, 5))


def test_indexing_selects_whole_sequences():
    batch = key_token_batch(torch.tensor([1, 2, 3]), 4, generator=torch.Generator().manual_seed(3))
    sub = batch[torch.tensor([2, 0])]
    assert len(sub) == 2
    assert sub.position.tolist() == [3, 1]
    assert torch.equal(sub.tokens, batch.tokens[[2, 0]])


def test_same_generator_seed_same_batch():
    a = key_token_batch(torch.tensor([1, 4]), 8, generator=torch.Generator().manual_seed(5))
    b = key_token_batch(torch.tensor([1, 4]), 8, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.tokens, b.tokens)
    assert torch.equal(a.label, b.label)


def test_flip_from_swaps_the_keys_meaning_from_that_position_on():
    """With flip_from = q the label is the key's id before q and the other one from q on."""
    position = torch.arange(1, 11).repeat(5)
    batch = key_token_batch(position, 10, generator=torch.Generator().manual_seed(3), flip_from=6)
    key = batch.tokens[torch.arange(50), position - 1] - 6  # 0 = A, 1 = B
    flipped = position >= 6
    assert torch.equal(batch.label, torch.where(flipped, 1 - key, key))
    assert torch.equal(batch.targets[:, -1], 1 + batch.label)
    same = key_token_batch(position, 10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(same.label, batch.label)  # the same draws; only the key tokens differ


def test_skewed_positions_follow_the_exponential_weights():
    """Empirical frequencies match exp(-(p-1)/scale), normalised, within sampling error."""
    p = skewed_positions(200_000, 30, 5.0, generator=torch.Generator().manual_seed(0))
    assert p.min() >= 1
    assert p.max() <= 30
    freq = torch.bincount(p - 1, minlength=30).double() / len(p)
    w = torch.exp(-torch.arange(30, dtype=torch.float64) / 5.0)
    torch.testing.assert_close(freq, w / w.sum(), rtol=0, atol=0.005)


def test_accuracy_by_position_averages_within_each_position():
    correct = torch.tensor([True, False, True, True, False])
    position = torch.tensor([1, 1, 2, 2, 4])
    acc = accuracy_by_position(correct, position, 4)
    assert acc[:2].tolist() == [0.5, 1.0]
    assert acc[3].item() == 0.0
    assert torch.isnan(acc[2])  # no sequence had its key at position 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: key_token_batch(torch.tensor([0, 2]), 5),
         "position: expected values in 1..5 (the sequence length), got values in 0..2"),
        (lambda: key_token_batch(torch.tensor([6]), 5),
         "position: expected values in 1..5 (the sequence length), got values in 6..6"),
        (lambda: key_token_batch(torch.tensor([1.0]), 5),
         "position: expected dtype torch.int64, got torch.float32"),
        (lambda: key_token_batch(torch.tensor([[1]]), 5),
         "position: expected shape (N,), got (1, 1)"),
        (lambda: key_token_batch(torch.tensor([1]), 0), "length: expected a positive int, got 0"),
        (lambda: key_token_batch(torch.tensor([1]), 5, n_distractors=0),
         "n_distractors: expected a positive int, got 0"),
        (lambda: key_token_batch(torch.tensor([1]), 5, flip_from=6),
         "flip_from: expected a position in 1..5 or None, got 6"),
        (lambda: skewed_positions(3, 5, 0.0), "scale: expected a positive number, got 0.0"),
        (lambda: skewed_positions(-1, 5, 2.0), "n: expected a positive int, got -1"),
        (lambda: skewed_positions(2.5, 5, 2.0), "n: expected a positive int, got 2.5"),
        (lambda: accuracy_by_position(torch.ones(1, dtype=torch.bool), torch.tensor([7]), 5),
         "position: expected values in 1..5, got values in 7..7"),
        (lambda: accuracy_by_position(torch.ones(1, dtype=torch.bool), torch.tensor([0]), 5),
         "position: expected values in 1..5, got values in 0..0"),
        (lambda: accuracy_by_position(torch.ones(3, dtype=torch.bool),
                                      torch.ones(2, dtype=torch.long), 4),
         "correct, position: expected two (N,) tensors, got shapes (3,) and (2,)"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()
