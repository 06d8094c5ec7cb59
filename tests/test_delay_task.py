"""The delay task: sequences, the gradient reaching the key, and training that learns it."""

import pytest
import torch
from torch import nn

from rnncourse.delay_task import (
    N_DISTRACTORS,
    N_KEYS,
    DelayClassifier,
    delay_accuracy,
    delay_batch,
    key_gradient_norm,
    train_delay,
    train_delay_copies,
)
from rnncourse.gated import set_forget_bias


def test_batch_layout():
    """Key at step 0 (ids < K), lag distractors after it (ids >= K), one-hot x."""
    b = delay_batch(500, 7, generator=torch.Generator().manual_seed(0))
    assert b.x.shape == (500, 8, N_KEYS + N_DISTRACTORS)
    assert torch.equal(b.x.argmax(-1), b.tokens)
    assert torch.equal(b.tokens[:, 0], b.key)
    assert int(b.key.max()) == N_KEYS - 1
    assert int(b.tokens[:, 1:].min()) == N_KEYS
    assert int(b.tokens[:, 1:].max()) == N_KEYS + N_DISTRACTORS - 1
    again = delay_batch(500, 7, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.tokens, b.tokens)


def test_key_gradient_norm_is_the_input_gradient_at_step_0():
    torch.manual_seed(0)
    model = DelayClassifier("gru", 8)
    b = delay_batch(5, 4, generator=torch.Generator().manual_seed(1))
    x = b.x.clone().requires_grad_()
    nn.functional.cross_entropy(model(x), b.key, reduction="sum").backward()
    expected = float(x.grad[:, 0].norm(dim=-1).mean())
    assert key_gradient_norm(model, b) == pytest.approx(expected, rel=1e-6)
    assert expected > 0
    # a later step's distractor does not change a key gradient of an untrained model to 0
    assert key_gradient_norm(model, delay_batch(5, 30)) > 0


def test_a_gru_learns_a_short_delay_and_a_fixed_model_is_at_chance():
    """Lag 3: a GRU recalls the key; an untrained model is near chance 1/K."""
    result = train_delay("gru", 3, hidden_size=16, steps=150, progress=False)
    assert result.accuracy > 0.95
    test = delay_batch(2000, 3, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(0)
    assert abs(delay_accuracy(DelayClassifier("gru", 16), test) - 1 / N_KEYS) < 0.15


def test_forget_bias():
    lstm = nn.LSTM(3, 4)
    set_forget_bias(lstm, 1.0)
    assert torch.equal((lstm.bias_ih_l0 + lstm.bias_hh_l0)[4:8], torch.ones(4))
    result = train_delay("lstm", 2, steps=1, forget_bias=1.0, progress=False)
    rnn = result.model.rnn
    # one Adam step (lr 0.01) moves each bias by at most about 0.01, the two summed by 0.02
    b_f = (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach()[32:64]
    assert float((b_f - 1).abs().max()) <= 0.021
    b_i = (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach()[:32]
    assert float((b_i - 1).abs().min()) > 0.021  # the other gates are left at random


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: delay_batch(0, 3), "n: expected an int >= 1, got 0"),
        (lambda: delay_batch(2, 2.5), "lag: expected an int >= 1, got 2.5"),
        (lambda: delay_batch(2, 2, n_keys=1), "n_keys: expected an int >= 2, got 1"),
        (lambda: DelayClassifier("rnn", 3), "kind: expected one of"),
        (lambda: train_delay("gru", 3, forget_bias=1.0), "forget_bias: only for kind='lstm'"),
        (lambda: set_forget_bias(nn.GRU(2, 2), 1.0), "lstm: expected a torch.nn.LSTM, got GRU"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("kind", ["elman", "gru", "lstm"])
def test_copies_trained_together_are_the_models_train_delay_trains(kind):
    """Each (lag, seed, lr) copy equals train_delay's run: losses, weights, test accuracy."""
    copies = [(3, 0, 1e-2), (7, 0, 3e-2), (3, 1, 1e-2)]
    together = train_delay_copies(kind, [c[0] for c in copies], [c[1] for c in copies],
                                  hidden_size=8, steps=15, batch_size=16,
                                  lr=[c[2] for c in copies], progress=False)
    for result, (lag, seed, lr) in zip(together, copies, strict=True):
        alone = train_delay(kind, lag, seed=seed, hidden_size=8, steps=15, batch_size=16, lr=lr,
                            progress=False)
        assert result.losses == pytest.approx(alone.losses, abs=1e-5)
        for p, q in zip(result.model.parameters(), alone.model.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-5)
        assert result.accuracy == pytest.approx(alone.accuracy, abs=0.002)
    # the copies differ: another lag or seed is another run
    assert together[0].losses != together[2].losses


def test_copies_forget_bias_and_bad_input():
    (result,) = train_delay_copies("lstm", [2], [0], hidden_size=4, steps=1, forget_bias=1.0,
                                   progress=False)
    b_f = (result.model.rnn.bias_ih_l0 + result.model.rnn.bias_hh_l0).detach()[4:8]
    assert float((b_f - 1).abs().max()) < 0.03
    first, second = train_delay_copies("lstm", [2, 2], [0, 0], hidden_size=4, steps=1,
                                       forget_bias=[None, 3.0], progress=False)
    b_f = [(r.model.rnn.bias_ih_l0 + r.model.rnn.bias_hh_l0).detach()[4:8] for r in (first, second)]
    assert float(b_f[0].abs().max()) < 1.05  # at random: two U(-1/2, 1/2) summed, one step
    assert float((b_f[1] - 3).abs().max()) < 0.03
    with pytest.raises(ValueError, match="forget_bias: expected a number, None or one per copy"):
        train_delay_copies("lstm", [2, 3], [0, 1], forget_bias=[1.0], steps=1)
    with pytest.raises(ValueError, match="two non-empty lists of one length"):
        train_delay_copies("gru", [2, 3], [0], steps=1)
    with pytest.raises(ValueError, match="lr: expected a positive number or one per copy"):
        train_delay_copies("gru", [2, 3], [0, 1], lr=[1e-2], steps=1)
    with pytest.raises(ValueError, match="forget_bias: only for kind='lstm'"):
        train_delay_copies("gru", [2], [0], forget_bias=1.0, steps=1)
    with pytest.raises(ValueError, match="kind: expected one of"):
        train_delay_copies("rnn", [2], [0], steps=1)
