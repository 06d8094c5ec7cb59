"""Interpolated Kneser-Ney (rnncourse.ngram.KneserNeyModel) against nltk.lm on a small text."""

import math
from collections import Counter

import pytest
import torch
from nltk.lm import KneserNeyInterpolated
from nltk.util import everygrams

from rnncourse.data import CharVocab
from rnncourse.ngram import KneserNeyModel, NGramModel

TEXT = "the cat sat on the mat. the dog sat on the log. a cat and a dog met on a mat by the mill."
TEST = "the dog sat on a mat. the cat met a log by a mat."


@pytest.mark.parametrize("order", [2, 3, 5])
@pytest.mark.parametrize("discount", [0.1, 0.75])
def test_matches_nltk(order, discount):
    """Every log-probability equals nltk.lm.KneserNeyInterpolated's to 1e-12."""
    vocab = CharVocab.from_text(TEXT)
    lm = KneserNeyInterpolated(order, discount=discount)
    lm.fit([list(everygrams(list(TEXT), max_len=order))], vocabulary_text=list(TEXT))
    expected = [math.log(lm.score(TEST[t], list(TEST[max(0, t - order + 1):t])))
                for t in range(1, len(TEST))]
    model = KneserNeyModel(order, len(vocab), discount).fit(vocab.encode(TEXT))
    got = model.log_probs(vocab.encode(TEST))
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64),
                               rtol=0, atol=1e-12)
    assert model.bits_per_char(vocab.encode(TEST)) == pytest.approx(
        -sum(expected) / len(expected) / math.log(2), abs=1e-12)


@pytest.mark.parametrize("context", ["the ", "on a", "xyz!", "t"])
def test_each_context_gives_a_distribution(context):
    """For a seen or unseen context, p(. | context) sums to 1 over the vocabulary."""
    vocab = CharVocab.from_text(TEXT + "xyz!")
    model = KneserNeyModel(4, len(vocab), 0.75).fit(vocab.encode(TEXT))
    total = 0.0
    for c in vocab.chars:
        ids = vocab.encode(context + c)
        total += math.exp(float(model.log_probs(ids)[-1]))
    # symbols never seen in training ("x", "y", "z", "!") get 0 and the rest still sum to 1
    assert total == pytest.approx(1.0, abs=1e-12)


def test_smoothing_beats_add_alpha_on_held_out_text():
    """On text it did not see, KN of order 4 costs fewer bits than add-1 of order 4."""
    vocab = CharVocab.from_text(TEXT)
    train, test = vocab.encode(TEXT), vocab.encode(TEST)
    kn = KneserNeyModel(4, len(vocab), 0.75).fit(train).bits_per_char(test)
    add_one = NGramModel(4, len(vocab), alpha=1.0).fit(train).bits_per_char(test)
    assert kn < add_one - 0.5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: KneserNeyModel(1, 5), "order: expected an int >= 2, got 1"),
        (lambda: KneserNeyModel(3, 5, discount=0), "discount: expected 0 < discount <= 1"),
        (lambda: KneserNeyModel(12, 65), "order: expected vocab_size"),
        (lambda: KneserNeyModel(3, 5).fit(torch.tensor([0, 7])), r"values in \[0, 4\]"),
        (lambda: KneserNeyModel(3, 5).log_probs(torch.tensor([0, 1])), "a fitted model"),
        (lambda: KneserNeyModel(3, 5).fit(torch.zeros(4)), "1-D torch.int64"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_count_tables_match_counting_by_hand():
    """fit's tables hold c(u w), c(u .), N_1+(u .) and N_1+(. u w), as a dictionary count gives."""
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(0, 4, (300,), generator=g)
    order, V = 3, 4
    model = KneserNeyModel(order, V).fit(ids)
    seq = ids.tolist()

    def code(gram):
        value = 0
        for symbol in gram:
            value = value * V + symbol
        return value

    def as_dict(table):
        keys, values = table
        return dict(zip(keys.tolist(), values.tolist(), strict=True))

    for k in range(2, order + 1):
        grams = Counter(tuple(seq[i:i + k]) for i in range(len(seq) - k + 1))
        contexts, types = Counter(), Counter()
        for gram, count in grams.items():
            contexts[code(gram[:-1])] += count
            types[code(gram[:-1])] += 1
        assert as_dict(model._tables[f"ctx{k}"]) == contexts  # c(u .)
        assert as_dict(model._tables[f"types{k}"]) == types  # N_1+(u .)
        continuation = Counter(code(gram[1:]) for gram in grams)  # N_1+(. u w)
        assert as_dict(model._tables[f"cont{k - 1}"]) == continuation
    top = Counter(code(tuple(seq[i:i + order])) for i in range(len(seq) - order + 1))
    assert as_dict(model._tables[f"c{order}"]) == top  # c(u w)
