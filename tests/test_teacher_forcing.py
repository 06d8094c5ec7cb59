"""Teacher-forced inputs (the shift), the mixing step, unroll() in three regimes, horizon errors."""

import pytest
import torch
from torch import nn

from rnncourse.decoding import generate
from rnncourse.elman import ElmanRNN
from rnncourse.teacher_forcing import (
    NextValueRNN,
    horizon_errors,
    mix,
    teacher_forced_inputs,
    unroll,
)


def _model(seed=0, H=8):
    return NextValueRNN(H, generator=torch.Generator().manual_seed(seed)).double()


def _series(N=4, L=12, seed=1):
    return torch.randn(N, L, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


# --- the shift -------------------------------------------------------------------------------

def test_teacher_forced_inputs_shift_targets_one_step_right():
    """x_1 = first_input, x_t = y_{t-1}: for every batch row, for ids and for vectors."""
    targets = torch.tensor([[11, 12, 13, 14], [21, 22, 23, 24]])
    inputs = teacher_forced_inputs(targets, torch.tensor([10, 20]))
    assert inputs.tolist() == [[10, 11, 12, 13], [20, 21, 22, 23]]
    y = torch.randn(3, 5, 2)
    x = teacher_forced_inputs(y, torch.zeros(3, 2))
    assert torch.equal(x[:, 1:], y[:, :-1])
    assert torch.equal(x[:, 0], torch.zeros(3, 2))


def test_teacher_forced_inputs_length_one():
    assert teacher_forced_inputs(torch.tensor([[7]]), torch.tensor([3])).tolist() == [[3]]


def test_teacher_forced_inputs_match_the_language_model_convention():
    """For a text ids, inputs built from ids[:, 1:] are ids[:, :-1] (what CharRNN.loss feeds)."""
    ids = torch.randint(0, 9, (2, 10))
    assert torch.equal(teacher_forced_inputs(ids[:, 1:], ids[:, 0]), ids[:, :-1])


def test_teacher_forced_inputs_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"first_input: expected shape \(2,\) \(targets "
                                         r"without the time dim\), got \(2, 1\)"):
        teacher_forced_inputs(torch.zeros(2, 5), torch.zeros(2, 1))
    with pytest.raises(ValueError, match=r"targets: expected shape \(N, L, \.\.\.\) with L >= 1, "
                                         r"got \(5,\)"):
        teacher_forced_inputs(torch.zeros(5), torch.zeros(5))


# --- the mixing step -------------------------------------------------------------------------

def test_mix_extremes_are_teacher_forcing_and_free_running():
    truth, pred = torch.ones(50, 1), torch.zeros(50, 1)
    assert torch.equal(mix(truth, pred, 1.0), truth)
    assert torch.equal(mix(truth, pred, 0.0), pred)


def test_mix_chooses_whole_rows_with_probability_epsilon():
    """Each row is all truth or all prediction, and the share of truth rows is about epsilon."""
    truth, pred = torch.ones(20_000, 3), torch.zeros(20_000, 3)
    out = mix(truth, pred, 0.3, generator=torch.Generator().manual_seed(0))
    row = out.mean(1)
    assert set(row.unique().tolist()) <= {0.0, 1.0}
    assert abs(row.mean().item() - 0.3) < 0.015


def test_mix_passes_gradients_to_the_chosen_predictions():
    pred = torch.zeros(6, 1, requires_grad=True)
    out = mix(torch.ones(6, 1), pred, 0.5, generator=torch.Generator().manual_seed(4))
    out.sum().backward()
    chosen_pred = (out == 0).float()
    assert torch.equal(pred.grad, chosen_pred)


@pytest.mark.parametrize("eps", [-0.1, 1.5, float("nan"), True, "0.5"])
def test_mix_rejects_bad_epsilon(eps):
    with pytest.raises(ValueError, match=r"epsilon: expected a probability in \[0, 1\], got"):
        mix(torch.ones(2), torch.zeros(2), eps)


def test_mix_rejects_shape_mismatch():
    with pytest.raises(ValueError, match=r"prediction: expected the shape of truth \(4, 1\), "
                                         r"got \(4,\)"):
        mix(torch.ones(4, 1), torch.zeros(4), 0.5)


# --- the model -------------------------------------------------------------------------------

def test_next_value_rnn_is_elman_plus_linear_and_matches_torch_rnn():
    """NextValueRNN = ElmanRNN(1, H) then Linear(H, 1); its recurrence equals torch.nn.RNN's."""
    model = _model()
    assert isinstance(model.rnn, ElmanRNN)
    assert isinstance(model.readout, nn.Linear)
    ref = nn.RNN(1, 8, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(model.rnn.W_xh)
        ref.weight_hh_l0.copy_(model.rnn.W_hh)
        ref.bias_ih_l0.copy_(model.rnn.b_h)
        ref.bias_hh_l0.zero_()
    x = _series()
    y, h_n = model(x)
    h_ref, hn_ref = ref(x)
    torch.testing.assert_close(y, model.readout(h_ref), rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n, hn_ref, rtol=0, atol=1e-12)


def test_next_value_rnn_generator_makes_it_reproducible():
    a, b = _model(seed=5), _model(seed=5)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


# --- unroll ----------------------------------------------------------------------------------

def test_unroll_teacher_forcing_is_one_call_on_the_shifted_series():
    model, s = _model(), _series()
    torch.testing.assert_close(unroll(model, s, warmup=3, epsilon=1.0), model(s[:, :-1])[0],
                               rtol=0, atol=0)


def test_unroll_teacher_forcing_equals_the_step_loop_fed_the_truth():
    """The one-call path and the decoding loop fed the true inputs give the same predictions."""
    model, s = _model(), _series()
    truth = s[:, 4:-1]
    looped, _ = generate(model, s[:, :4], truth.shape[1], lambda y, k: truth[:, k])
    torch.testing.assert_close(unroll(model, s, warmup=4, epsilon=1.0), looped, rtol=0, atol=1e-12)


def test_unroll_free_running_feeds_back_its_own_predictions():
    """epsilon = 0: after the warm-up, predictions do not depend on the true inputs at all."""
    model, s = _model(), _series()
    out = unroll(model, s, warmup=4, epsilon=0.0)
    other = s.clone()
    other[:, 4:] = 100.0  # change every value after the warm-up
    torch.testing.assert_close(unroll(model, other, warmup=4, epsilon=0.0), out, rtol=0, atol=0)
    generated, _ = generate(model, s[:, :4], s.shape[1] - 5)
    torch.testing.assert_close(out, generated, rtol=0, atol=0)
    # while teacher-forced predictions do depend on them
    assert not torch.allclose(unroll(model, other, warmup=4, epsilon=1.0),
                              unroll(model, s, warmup=4, epsilon=1.0))


def test_unroll_free_running_gradient_includes_the_feedback_path():
    """BPTT through fed-back outputs: the loss gradient differs if the feedback is detached."""
    model, s = _model(), _series()
    loss = (unroll(model, s, warmup=3, epsilon=0.0) - s[:, 1:]).pow(2).mean()
    (g_full,) = torch.autograd.grad(loss, model.rnn.W_hh)
    detached, _ = generate(model, s[:, :3], s.shape[1] - 4, lambda y, k: y.detach())
    (g_det,) = torch.autograd.grad((detached - s[:, 1:]).pow(2).mean(), model.rnn.W_hh)
    assert not torch.allclose(g_full, g_det)


def test_unroll_scheduled_sampling_mixes_per_sequence():
    """With 0 < epsilon < 1 some sequences follow teacher forcing at a step and others do not."""
    model, s = _model(), _series(N=64)
    tf = unroll(model, s, warmup=3, epsilon=1.0)
    fr = unroll(model, s, warmup=3, epsilon=0.0)
    ss = unroll(model, s, warmup=3, epsilon=0.5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ss[:, :3], tf[:, :3], rtol=0, atol=1e-12)  # warm-up and first
    same_as_tf = (ss - tf).abs().amax(dim=(1, 2)) < 1e-12
    same_as_fr = (ss - fr).abs().amax(dim=(1, 2)) < 1e-12
    assert not same_as_tf.all()
    assert not same_as_fr.all()


def test_unroll_rejects_bad_input():
    model = _model()
    with pytest.raises(ValueError,
                       match=r"warmup: expected an int in \[1, L-1\] = \[1, 11\], got 12"):
        unroll(model, _series(), warmup=12, epsilon=1.0)
    with pytest.raises(ValueError, match=r"^series: expected shape \(N, L, 1\), got \(3, 12\)$"):
        unroll(model, torch.zeros(3, 12, dtype=torch.float64), warmup=2, epsilon=1.0)
    with pytest.raises(ValueError, match=r"epsilon: expected a probability in \[0, 1\], got 2"):
        unroll(model, _series(), warmup=2, epsilon=2)


# --- horizon errors --------------------------------------------------------------------------

def test_horizon_errors_against_a_direct_computation():
    model, s = _model(), _series(N=16, L=20)
    one, free = horizon_errors(model, s, warmup=5)
    assert one.shape == free.shape == (15,)
    with torch.no_grad():
        y, _ = model(s[:, :-1])
        gen, _ = generate(model, s[:, :5], 14)
    target = s[:, 5:, 0]
    torch.testing.assert_close(one, (y[:, 4:, 0] - target).pow(2).mean(0).sqrt())
    torch.testing.assert_close(free, (gen[:, 4:, 0] - target).pow(2).mean(0).sqrt())
    torch.testing.assert_close(one[0], free[0], rtol=0, atol=1e-12)  # step 1 is the same prediction
