"""The synthetic tasks put the evidence where their docstrings say, and label it correctly."""

import re

import pytest
import torch

from rnncourse.classification_tasks import (
    NEGATION_VOCAB,
    decode_sentence,
    end_evidence_task,
    negation_task,
    position_task,
    spread_evidence_task,
)


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _check_padding(batch):
    L = batch.tokens.shape[1]
    real = torch.arange(L).unsqueeze(0) < batch.lengths.unsqueeze(1)
    assert (batch.tokens[real] > 0).all()
    assert (batch.tokens[~real] == 0).all()
    assert int(batch.lengths.max()) == L


def test_position_task_marker_and_label():
    """x_{p-1} is the only marker; the label is whether x_p is in the upper half of the ids."""
    batch = position_task(500, (4, 20), vocab_size=12, generator=_g())
    _check_padding(batch)
    rows = zip(batch.tokens, batch.lengths, batch.positions, batch.labels, strict=True)
    for tokens, T, p, y in rows:
        assert 2 <= p <= T
        assert tokens[p - 2] == 1
        assert int((tokens == 1).sum()) == 1
        assert int(y) == int(tokens[p - 1] >= 7)  # content ids 2..11, upper half 7..11
    assert 0.4 < batch.labels.double().mean() < 0.6


def test_position_task_relative_position():
    batch = position_task(10, 20, relative_position=0.1, generator=_g())
    assert batch.positions.tolist() == [2] * 10
    last = position_task(10, 20, relative_position=1.0, generator=_g())
    middle = position_task(10, 20, relative_position=0.5, generator=_g())
    assert last.positions.tolist() == [20] * 10
    assert middle.positions.tolist() == [10] * 10


def test_spread_evidence_majority():
    batch = spread_evidence_task(300, (7, 15), generator=_g())
    _check_padding(batch)
    plus, minus = (batch.tokens == 2).sum(1), (batch.tokens == 1).sum(1)
    assert set((plus + minus).tolist()) <= {3, 5, 7}
    assert torch.equal(batch.labels, (plus > minus).long())


def test_end_evidence_label_is_last_token():
    batch = end_evidence_task(300, (3, 15), generator=_g())
    _check_padding(batch)
    last = batch.tokens[torch.arange(300), batch.lengths - 1]
    assert torch.equal(batch.labels, last - 1)
    before = [t[: int(T) - 1] for t, T in zip(batch.tokens, batch.lengths, strict=True)]
    assert sum(int(((b == 1) | (b == 2)).sum()) for b in before) > 100, "distractors occur"


def test_negation_labels_flip_with_negators():
    batch = negation_task(400, generator=_g())
    _check_padding(batch)
    positive = {"good", "great", "fun", "nice", "clever"}
    for tokens, y in zip(batch.tokens, batch.labels, strict=True):
        words = decode_sentence(tokens)
        negated = "not" in words or "never" in words
        assert int(y) == int((words[-1] in positive) != negated), words
    assert NEGATION_VOCAB[0] == "<pad>"


def test_tasks_are_deterministic_given_the_generator():
    for task in (position_task, spread_evidence_task, end_evidence_task):
        a, b = task(20, (7, 12), generator=_g(3)), task(20, (7, 12), generator=_g(3))
        assert torch.equal(a.tokens, b.tokens)
        assert torch.equal(a.labels, b.labels)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: position_task(5, (1, 4)),
         "lengths: expected an int or a pair (lo, hi) with 2 <= lo <= hi, got (1, 4)"),
        (lambda: position_task(5, 10, relative_position=0),
         "relative_position: expected a number in (0, 1], got 0"),
        (lambda: spread_evidence_task(5, (3, 9)),
         "lengths: expected an int or a pair (lo, hi) with 7 <= lo <= hi, got (3, 9)"),
        (lambda: spread_evidence_task(5, 9, n_evidence=(2,)),
         "n_evidence: expected odd positive ints, got (2,)"),
        (lambda: end_evidence_task(0, 9), "n: expected a positive int, got 0"),
        (lambda: end_evidence_task(5, 9, vocab_size=3),
         "vocab_size: expected an int >= 4 (padding, two signal tokens, one noise token), got 3"),
        (lambda: decode_sentence(torch.tensor([1, 99])),
         f"tokens: expected ids in [0, {len(NEGATION_VOCAB) - 1}], got [1, 99]"),
    ],
)
def test_bad_arguments_raise_clear_value_error(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


def test_negation_tail_moves_the_adjective():
    """With tails, positions points at the adjective; the label still follows it and the negator."""
    batch = negation_task(400, tail_rate=0.5, generator=_g(2))
    _check_padding(batch)
    positive = {"good", "great", "fun", "nice", "clever"}
    negative = {"bad", "dull", "awful", "boring", "silly"}
    from_end = batch.lengths - batch.positions
    assert set(from_end.tolist()) == {0, 1, 2, 3}
    for tokens, y, p in zip(batch.tokens, batch.labels, batch.positions, strict=True):
        words = decode_sentence(tokens)
        assert words[p - 1] in positive | negative, words
        negated = "not" in words or "never" in words
        assert int(y) == int((words[p - 1] in positive) != negated), words


def test_contrast_task_label_is_the_clause_after_but():
    """The label is adj_2's sentiment (the last word); about half the adjective pairs disagree."""
    from rnncourse.classification_tasks import contrast_task
    batch = contrast_task(300, generator=_g(3))
    _check_padding(batch)
    positive = {"good", "great", "fun", "nice", "clever"}
    disagree = 0
    for tokens, y, p in zip(batch.tokens, batch.labels, batch.positions, strict=True):
        words = decode_sentence(tokens)
        assert words.count("but") == 1
        assert int(p) == len(words)
        first = words[words.index("but") - 1]
        assert int(y) == int(words[-1] in positive)
        disagree += (first in positive) != (words[-1] in positive)
    assert 100 < disagree < 200
