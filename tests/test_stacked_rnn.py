"""Stacked copies equal the ordinary models they were built from; MemberwiseAdam equals Adam."""

import copy

import pytest
import torch

from rnncourse.language_model import CharRNN
from rnncourse.stacked_rnn import (
    MemberwiseAdam,
    StackedCharRNNSteps,
    StackedElman,
    StackedNextValueRNN,
)
from rnncourse.teacher_forcing import NextValueRNN


def _next_value_models(K=3, H=6):
    return [NextValueRNN(H, generator=torch.Generator().manual_seed(s)).double() for s in range(K)]


def test_stacked_next_value_equals_each_model_on_its_own_inputs():
    """Copy k on input k gives model k's outputs, values and gradients."""
    models = _next_value_models()
    stack = StackedNextValueRNN(models)
    x = torch.randn(3, 4, 7, 1, dtype=torch.float64)  # each copy its own inputs
    y, h_n = stack(x)
    for k, m in enumerate(models):
        y_k, h_k = m(x[k])
        torch.testing.assert_close(y[k], y_k)
        torch.testing.assert_close(h_n[k], h_k[0])
    y.pow(2).sum().backward()
    models[1](x[1])[0].pow(2).sum().backward()
    torch.testing.assert_close(stack.rnn.W_hh.grad[1], models[1].rnn.W_hh.grad)
    torch.testing.assert_close(stack.W_hy.grad[1], models[1].readout.weight.grad)


def test_step_equals_forward_and_member_round_trips():
    """Stepping one value at a time equals the whole-sequence forward; member(k) is copy k."""
    stack = StackedNextValueRNN(_next_value_models())
    x = torch.randn(3, 2, 5, 1, dtype=torch.float64)
    y, _ = stack(x)
    h, steps = None, []
    for t in range(5):
        y_t, h = stack.step(x[:, :, t], h)
        steps.append(y_t)
    torch.testing.assert_close(torch.stack(steps, 2), y)
    member = stack.member(2).double()
    torch.testing.assert_close(member(x[2])[0], y[2])


def test_stacked_elman_matches_torch_rnn():
    """Each copy of StackedElman equals torch.nn.RNN with the same weights."""
    rnns = [torch.nn.RNN(3, 5, batch_first=True).double() for _ in range(2)]
    from rnncourse.elman import ElmanRNN

    stack = StackedElman.from_models([ElmanRNN.from_torch(r) for r in rnns])
    x = torch.randn(2, 4, 6, 3, dtype=torch.float64)
    h, _ = stack(x)
    for k, r in enumerate(rnns):
        torch.testing.assert_close(h[k], r(x[k])[0])


def test_stacked_char_rnn_logits_bits_and_member():
    """Logits per copy, bits_per_char per copy, and member(k), against CharRNN itself."""
    torch.manual_seed(0)
    models = [CharRNN(7, 8, 4) for _ in range(3)]
    stack = StackedCharRNNSteps(models)
    ids = torch.randint(0, 7, (3, 2, 9))
    logits, _ = stack(ids)
    for k, m in enumerate(models):
        torch.testing.assert_close(logits[k], m(ids[k])[0], rtol=1e-5, atol=1e-5)
    text = torch.randint(0, 7, (50,))
    bits = stack.bits_per_char(text)
    for k, m in enumerate(models):
        assert bits[k].item() == pytest.approx(m.bits_per_char(text), rel=1e-5)
        torch.testing.assert_close(stack.member(k)(ids[k])[0], m(ids[k])[0])
    drawn = stack.sample(ids[0, :, :3], 4, generator=torch.Generator().manual_seed(0))
    assert drawn.shape == (3, 2, 4)


def test_memberwise_adam_equals_adam_with_each_learning_rate():
    """Copy k stepped by MemberwiseAdam equals model k stepped by torch.optim.Adam(lr=lr[k])."""
    models = _next_value_models(K=2)
    alone = copy.deepcopy(models)
    stack = StackedNextValueRNN(models)
    lr = torch.tensor([0.01, 0.1])
    opt = MemberwiseAdam(stack.parameters(), lr)
    opts = [torch.optim.Adam(m.parameters(), lr=float(r)) for m, r in zip(alone, lr, strict=True)]
    x = torch.randn(2, 3, 4, 1, dtype=torch.float64)
    for _ in range(3):
        opt.zero_grad()
        stack(x)[0].pow(2).mean(dim=(1, 2, 3)).sum().backward()
        opt.step()
        for k, (m, o) in enumerate(zip(alone, opts, strict=True)):
            o.zero_grad()
            m(x[k])[0].pow(2).mean().backward()
            o.step()
    for k, m in enumerate(alone):
        torch.testing.assert_close(stack.rnn.W_hh[k], m.rnn.W_hh)
        torch.testing.assert_close(stack.b_y[k], m.readout.bias)


def test_memberwise_clip_equals_clip_grad_norm_per_copy():
    """With clip_norm, copy k's step is Adam's step after clip_grad_norm_ on model k alone."""
    models = _next_value_models(K=2)
    alone = copy.deepcopy(models)
    stack = StackedNextValueRNN(models)
    opt = MemberwiseAdam(stack.parameters(), torch.tensor([0.05, 0.05]), clip_norm=0.01)
    x = torch.randn(2, 3, 4, 1, dtype=torch.float64)
    # SGD-like check: after one Adam step the update does not depend on the scale, so compare
    # the clipped gradients through m after two steps of different scales
    for scale in (1.0, 100.0):
        opt.zero_grad()
        (scale * stack(x)[0].pow(2).mean(dim=(1, 2, 3))).sum().backward()
        opt.step()
    for k, m in enumerate(alone):
        o = torch.optim.Adam(m.parameters(), lr=0.05)
        for scale in (1.0, 100.0):
            o.zero_grad()
            (scale * m(x[k])[0].pow(2).mean()).backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 0.01)
            o.step()
        torch.testing.assert_close(stack.rnn.W_xh[k], m.rnn.W_xh, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: StackedNextValueRNN([]), "non-empty sequence of NextValueRNN"),
    (lambda: StackedNextValueRNN(_next_value_models()).member(3), "k: expected an int in"),
    (lambda: StackedNextValueRNN(_next_value_models())(torch.zeros(2, 1, 3, 1)),
     "x: expected shape"),
    (lambda: MemberwiseAdam([torch.nn.Parameter(torch.zeros(2, 3))], torch.tensor([0.1, -1.0])),
     "lr: expected"),
    (lambda: MemberwiseAdam([torch.nn.Parameter(torch.zeros(3, 3))], torch.tensor([0.1, 0.1])),
     "dim 0 = K = 2"),
])
def test_bad_input_raises(make, message):
    with pytest.raises(ValueError, match=message):
        make()
