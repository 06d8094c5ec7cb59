"""The decoding loop: greedy and temperature sampling; generate() against a hand-written loop."""

import pytest
import torch

from rnncourse.decoding import generate, greedy, sample, token_chooser
from rnncourse.language_model import CharRNN
from rnncourse.teacher_forcing import NextValueRNN


def test_greedy_is_the_argmax():
    """greedy returns the index of the largest logit in each row, as int64."""
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0], [-5.0, -4.0, -3.0]])
    out = greedy(logits)
    assert out.dtype == torch.int64
    assert out.tolist() == [1, 0, 2]


def test_sample_frequencies_follow_softmax_at_temperature():
    """Empirical frequencies of sample() match softmax(logits / T) for T = 0.5, 1, 2."""
    logits = torch.tensor([1.0, 0.0, -1.0])
    g = torch.Generator().manual_seed(0)
    for T in (0.5, 1.0, 2.0):
        draws = sample(logits.expand(20_000, 3), T, generator=g)  # (20000,)
        freq = torch.bincount(draws, minlength=3).double() / len(draws)
        expected = torch.softmax(logits.double() / T, dim=0)
        torch.testing.assert_close(freq, expected, rtol=0, atol=0.015)


def test_temperature_orders_entropy():
    """A higher temperature gives samples of higher empirical entropy."""
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0]).expand(20_000, 4)
    g = torch.Generator().manual_seed(1)

    def entropy(T):
        freq = torch.bincount(sample(logits, T, generator=g), minlength=4).double() / 20_000
        freq = freq[freq > 0]
        return float(-(freq * freq.log()).sum())

    assert entropy(0.3) < entropy(1.0) < entropy(3.0)


def test_sample_is_reproducible_with_a_generator():
    logits = torch.randn(5, 7)
    a = sample(logits, 1.0, generator=torch.Generator().manual_seed(3))
    b = sample(logits, 1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize("T", [0, -1.0, float("nan"), float("inf"), "1"])
def test_sample_rejects_bad_temperatures(T):
    with pytest.raises(ValueError, match=r"temperature: expected a finite number > 0, got"):
        sample(torch.zeros(1, 3), T)


def test_token_chooser_rejects_negative_temperature_and_zero_means_greedy():
    with pytest.raises(ValueError, match=r"temperature: expected a finite number >= 0, got -0.5"):
        token_chooser(-0.5)
    logits = torch.randn(4, 6)
    assert torch.equal(token_chooser(0.0)(logits, 0), greedy(logits))


def test_logits_must_be_2d_float():
    with pytest.raises(ValueError, match=r"logits: expected a floating-point \(N, V\) tensor, "
                                         r"got torch.float32 of shape \(3,\)"):
        greedy(torch.zeros(3))
    with pytest.raises(ValueError, match=r"logits: expected a floating-point \(N, V\) tensor, "
                                         r"got torch.int64"):
        sample(torch.zeros(2, 3, dtype=torch.long))


def _reference_char_generation(model, prompt, steps):
    """A plain greedy loop: re-read the whole text at every step (no hidden state kept)."""
    ids = prompt.clone()
    for _ in range(steps):
        logits, _ = model(ids)  # (N, L, V)
        ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids[:, prompt.shape[1]:]


def test_generate_greedy_matches_rereading_the_whole_text():
    """Carrying h step by step gives the greedy text that re-running on the whole prefix gives."""
    torch.manual_seed(0)
    model = CharRNN(6, 16).double()
    prompt = torch.randint(0, 6, (3, 4))
    with torch.no_grad():
        outputs, chosen = generate(model, prompt, 12, token_chooser(0.0))
        expected = _reference_char_generation(model, prompt, 12)
        full_logits, _ = model(torch.cat([prompt, chosen], 1))
    assert chosen.shape == (3, 12)
    assert outputs.shape == (3, 16, 6)
    assert torch.equal(chosen, expected)
    torch.testing.assert_close(outputs, full_logits, rtol=0, atol=1e-12)


def test_generate_real_values_feeds_predictions_back_and_passes_gradients():
    """With the default choice, each chosen input is the previous output, and gradients flow."""
    model = NextValueRNN(8, generator=torch.Generator().manual_seed(0)).double()
    prompt = torch.randn(2, 5, 1, dtype=torch.float64)
    outputs, chosen = generate(model, prompt, 7)
    assert outputs.shape == (2, 12, 1)
    assert chosen.shape == (2, 7, 1)
    torch.testing.assert_close(chosen, outputs[:, 4:11], rtol=0, atol=0)
    outputs[:, -1].sum().backward()
    assert model.rnn.W_hh.grad is not None
    assert model.readout.weight.grad.abs().sum() > 0


def test_generate_zero_steps_returns_the_prompt_outputs():
    model = NextValueRNN(4)
    outputs, chosen = generate(model, torch.zeros(2, 3, 1), 0)
    assert outputs.shape == (2, 3, 1)
    assert chosen.shape == (2, 0, 1)


def test_generate_passes_the_step_index_to_choose():
    seen = []
    model = NextValueRNN(4)
    generate(model, torch.zeros(1, 2, 1), 3, lambda y, k: seen.append(k) or y)
    assert seen == [0, 1, 2]


def test_generate_rejects_bad_input():
    model = NextValueRNN(4)
    with pytest.raises(ValueError, match=r"prompt: expected shape \(N, P, \.\.\.\) with P >= 1, "
                                         r"got \(2, 0, 1\)"):
        generate(model, torch.zeros(2, 0, 1), 3)
    with pytest.raises(ValueError, match=r"steps: expected an int >= 0, got -1"):
        generate(model, torch.zeros(2, 3, 1), -1)
    with pytest.raises(ValueError, match=r"prompt: expected a torch.Tensor, got list"):
        generate(model, [[0.0]], 1)


def test_top_k_keeps_the_k_most_probable():
    from rnncourse.decoding import top_k_filter

    z = torch.tensor([[0.1, 3.0, -1.0, 2.0], [5.0, 4.0, 3.0, 2.0]])
    kept = torch.isfinite(top_k_filter(z, 2))
    assert kept.tolist() == [[False, True, False, True], [True, True, False, False]]
    assert torch.isfinite(top_k_filter(z, 10)).all()


def test_top_p_keeps_the_smallest_set_reaching_p():
    from rnncourse.decoding import top_p_filter

    z = torch.log(torch.tensor([[0.1, 0.5, 0.15, 0.25]]))
    assert torch.isfinite(top_p_filter(z, 0.5)).tolist() == [[False, True, False, False]]
    assert torch.isfinite(top_p_filter(z, 0.6)).tolist() == [[False, True, False, True]]
    assert torch.isfinite(top_p_filter(z, 1.0)).all()
    with pytest.raises(ValueError, match="p: expected a number in"):
        top_p_filter(z, 0.0)


def test_token_chooser_with_top_k_samples_only_kept_tokens():
    from rnncourse.decoding import token_chooser

    choose = token_chooser(1.0, top_k=2, generator=torch.Generator().manual_seed(0))
    z = torch.tensor([[1.0, 0.9, 0.8, 0.7]]).expand(500, -1)
    assert set(choose(z, 0).tolist()) == {0, 1}
    nucleus = token_chooser(1.0, top_p=0.3, generator=torch.Generator().manual_seed(0))
    assert set(nucleus(z, 0).tolist()) == {0, 1}
