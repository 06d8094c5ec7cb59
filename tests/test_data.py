"""The shipped corpus and the synthetic generators."""

import pytest
import torch

from rnncourse import CharVocab, ar_process, load_corpus, make_corpus, noisy_sines


def test_shipped_corpus_is_what_the_grammar_generates():
    """data/corpus.txt is make_corpus() bit for bit: anyone can regenerate it."""
    assert load_corpus() == make_corpus()


def test_corpus_size_and_alphabet():
    text = load_corpus()
    assert 30_000 < len(text) < 60_000
    assert set(text) <= set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,?"\n')


def test_vocab_round_trip():
    text = load_corpus()[:500]
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    assert ids.dtype == torch.long
    assert ids.shape == (500,)
    assert vocab.decode(ids) == text


def test_vocab_rejects_unknown_characters():
    vocab = CharVocab.from_text("abc")
    with pytest.raises(ValueError, match=r"unknown \['z'\]"):
        vocab.encode("abz")


def test_ar_process_matches_its_recurrence():
    """Least squares on the generated series recovers the AR coefficients."""
    x = ar_process(20_000, (0.6, 0.3), generator=torch.Generator().manual_seed(0))
    X = torch.stack([x[1:-1], x[:-2]], dim=1)
    a = torch.linalg.lstsq(X, x[2:].unsqueeze(1)).solution.squeeze()
    torch.testing.assert_close(a, torch.tensor([0.6, 0.3], dtype=torch.float64), atol=0.02, rtol=0)


def test_generators_are_reproducible_and_shaped():
    a = noisy_sines(3, 50, generator=torch.Generator().manual_seed(1))
    b = noisy_sines(3, 50, generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 50)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="length: expected a positive int, got 0"):
        ar_process(0)
