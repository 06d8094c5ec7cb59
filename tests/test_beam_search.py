"""Greedy and beam search against exhaustive search on small random decoders."""

import itertools
import math

import pytest
import torch

from rnncourse.beam_search import beam_search, greedy_search


def _random_table(V, seed):
    """A bigram decoder: log p(next | last token) from a random table; token 0 is <eos>/<bos>."""
    g = torch.Generator().manual_seed(seed)
    table = torch.log_softmax(2 * torch.randn(V, V, generator=g, dtype=torch.float64), dim=-1)
    return table, lambda tokens, state: (table[tokens], state)


def _exhaustive(table, V, max_length):
    """Every sequence that ends with <eos> within max_length, or is cut at max_length."""
    best = []
    for length in range(1, max_length + 1):
        for body in itertools.product(range(1, V), repeat=length - 1):
            for last in range(V):
                if length < max_length and last != 0:
                    continue
                seq = [*body, last]
                prev, lp = 0, 0.0
                for tok in seq:
                    lp += float(table[prev, tok])
                    prev = tok
                best.append((seq, lp))
    return sorted(best, key=lambda item: -item[1])


@pytest.mark.parametrize("seed", range(6))
def test_wide_beam_finds_the_most_probable_sequence(seed):
    """With a beam as wide as the vocabulary^length, beam search is exact."""
    V, L = 4, 4
    table, step = _random_table(V, seed)
    exact = _exhaustive(table, V, L)
    found = beam_search(step, torch.zeros(1, 1), bos=0, eos=0, max_length=L, beam_width=64)
    assert found[0][0] == exact[0][0]
    assert found[0][1] == pytest.approx(exact[0][1])
    greedy_seq, greedy_lp = greedy_search(step, torch.zeros(1, 1), bos=0, eos=0, max_length=L)
    assert greedy_lp <= exact[0][1] + 1e-12
    assert {tuple(s): lp for s, lp in exact}[tuple(greedy_seq)] == pytest.approx(greedy_lp)


def test_beam_width_one_is_greedy():
    for seed in range(5):
        _, step = _random_table(5, seed)
        g = greedy_search(step, torch.zeros(1, 1), bos=0, eos=0, max_length=5)
        (b, *_) = beam_search(step, torch.zeros(1, 1), bos=0, eos=0, max_length=5, beam_width=1)
        assert b[0] == g[0]
        assert b[1] == pytest.approx(g[1])


def test_greedy_misses_the_best_sequence_on_a_built_case():
    table = torch.log(torch.tensor([[0.0, 0.6, 0.4], [0.5, 0.0, 0.5], [0.9, 0.1, 0.0]]))
    step = lambda tokens, s: (table[tokens], s)  # noqa: E731
    g_seq, g_lp = greedy_search(step, torch.zeros(1, 1), bos=0, eos=0, max_length=3)
    (b_seq, b_lp), _ = beam_search(step, torch.zeros(1, 1), bos=0, eos=0, max_length=3,
                                   beam_width=2)
    assert g_seq == [1, 0]
    assert g_lp == pytest.approx(math.log(0.3))
    assert b_seq == [2, 0]
    assert b_lp == pytest.approx(math.log(0.36))


def test_state_follows_each_prefix():
    """A decoder whose state counts steps: the carried state must be re-indexed per prefix."""
    def step(tokens, state):  # state (1, B, 1): how many tokens this prefix has read
        V = 3
        logits = torch.full((len(tokens), V), -5.0)
        logits[:, 0] = torch.where(state[0, :, 0] >= 2, 0.0, -5.0)  # <eos> likely after 2 tokens
        logits[:, 1] = 0.0
        return torch.log_softmax(logits, -1), state + 1

    (seq, _), *_ = beam_search(step, torch.zeros(1, 1, 1), bos=0, eos=0, max_length=6, beam_width=2)
    assert seq == [1, 1, 0]


def test_bad_widths_raise():
    _, step = _random_table(3, 0)
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(step, torch.zeros(1, 1), bos=0, eos=0, max_length=3, beam_width=0)
