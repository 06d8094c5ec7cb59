"""NGramModel: counts, normalisation and bits per character."""

import math
import re

import pytest
import torch

from rnncourse.ngram import NGramModel


def test_unigram_bits_equal_the_empirical_entropy():
    """With alpha = 0, a unigram scored on its own training data gives the entropy in bits."""
    ids = torch.tensor([0, 0, 1, 2, 2, 2, 2, 3])
    model = NGramModel(1, 4, alpha=0.0).fit(ids)
    p = torch.tensor([2, 1, 4, 1], dtype=torch.float64) / 8
    assert model.bits_per_char(ids) == pytest.approx(float(-(p * torch.log2(p)).sum()))


def test_conditionals_sum_to_one_and_match_counts():
    ids = torch.tensor([0, 1, 1, 2, 0, 1, 0])
    model = NGramModel(2, 3, alpha=1.0).fit(ids)
    probs = model.conditional()
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, dtype=torch.float64))
    # context 0 was followed by 1 twice: (2 + 1) / (2 + 3)
    assert probs[0, 1].item() == pytest.approx(3 / 5)


def test_bits_per_char_by_hand_for_a_bigram():
    ids = torch.tensor([0, 1, 0, 1, 1])
    model = NGramModel(2, 2, alpha=1.0).fit(ids)
    # counts: 0->1 twice, 1->0 once, 1->1 once
    p = {(0, 1): 3 / 4, (1, 0): 2 / 4, (1, 1): 2 / 4}
    pairs = zip(ids[:-1].tolist(), ids[1:].tolist(), strict=True)
    expected = -sum(math.log2(p[(a, b)]) for a, b in pairs) / 4
    assert model.bits_per_char(ids) == pytest.approx(expected)


def test_unseen_event_without_smoothing_costs_infinite_bits():
    model = NGramModel(2, 3, alpha=0.0).fit(torch.tensor([0, 1, 0, 1]))
    assert model.bits_per_char(torch.tensor([0, 2])) == math.inf


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (torch.tensor([0.0, 1.0]),
         "ids: expected a 1-D torch.int64 tensor, got torch.float32 of shape (2,)"),
        (torch.tensor([0]), "ids: expected at least order=2 symbols, got 1"),
        (torch.tensor([0, 5]), "ids: expected values in [0, 2], got [0, 5]"),
    ],
)
def test_bad_ids(ids, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        NGramModel(2, 3).fit(ids)
