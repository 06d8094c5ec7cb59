"""NGramModel.generate (Shannon's series) and distinct_ngrams (what an n-gram stores)."""

import itertools

import pytest
import torch

from rnncourse.ngram import NGramModel, distinct_ngrams


def test_deterministic_chain_is_reproduced() -> None:
    model = NGramModel(3, 3, alpha=0.0).fit(torch.tensor([0, 1, 2] * 5))
    assert model.generate(torch.tensor([1, 2]), 6).tolist() == [0, 1, 2, 0, 1, 2]


def test_samples_follow_the_conditional() -> None:
    ids = torch.randint(0, 3, (300,), generator=torch.Generator().manual_seed(0))
    model = NGramModel(2, 3, alpha=0.5).fit(ids)
    out = model.generate(torch.tensor([0]), 20000, generator=torch.Generator().manual_seed(1))
    seq = torch.cat([torch.tensor([0]), out])
    pairs = NGramModel(2, 3, alpha=0.0).fit(seq).conditional()
    torch.testing.assert_close(pairs, model.conditional(), atol=0.02, rtol=0)


def test_same_generator_same_text_and_unigram_needs_no_prompt() -> None:
    model = NGramModel(1, 4, alpha=1.0).fit(torch.tensor([0, 1, 1, 3]))
    empty = torch.tensor([], dtype=torch.long)
    a = model.generate(empty, 30, generator=torch.Generator().manual_seed(5))
    b = model.generate(empty, 30, generator=torch.Generator().manual_seed(5))
    assert a.tolist() == b.tolist()
    assert len(a) == 30


def test_distinct_ngrams_matches_a_set() -> None:
    ids = torch.randint(0, 4, (500,), generator=torch.Generator().manual_seed(0))
    values = ids.tolist()
    for n in range(1, 6):
        expected = len({tuple(values[i : i + n]) for i in range(len(values) - n + 1)})
        assert distinct_ngrams(ids, n) == expected
    assert distinct_ngrams(ids, 0) == 1
    assert distinct_ngrams(torch.tensor([1, 2]), 3) == 0
    pairs = itertools.product(range(3), repeat=2)
    all_pairs = torch.tensor(list(itertools.chain.from_iterable(pairs)))
    assert distinct_ngrams(all_pairs, 1) == 3


def test_bad_input_raises() -> None:
    model = NGramModel(3, 3).fit(torch.tensor([0, 1, 2, 0]))
    with pytest.raises(ValueError, match=r"prompt: expected .* at least order - 1 = 2 ids"):
        model.generate(torch.tensor([0]), 3)
    with pytest.raises(ValueError, match=r"prompt: expected values in \[0, 2\], got \[0, 5\]"):
        model.generate(torch.tensor([0, 5]), 3)
    with pytest.raises(ValueError, match="length: expected an int >= 0, got -1"):
        model.generate(torch.tensor([0, 1]), -1)
    with pytest.raises(ValueError, match="n: expected an int >= 0, got -2"):
        distinct_ngrams(torch.tensor([0, 1]), -2)
    with pytest.raises(ValueError, match=r"ids: expected a 1-D torch\.int64 tensor"):
        distinct_ngrams(torch.zeros(3), 1)
