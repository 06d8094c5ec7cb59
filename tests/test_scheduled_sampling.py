"""The three decay schedules of Bengio et al. (2015): values, monotonicity, range and errors."""

import itertools
import math

import pytest

from rnncourse.scheduled_sampling import exponential_decay, inverse_sigmoid_decay, linear_decay


def test_linear_values_and_floor():
    """max(eps_min, k - c i), capped at 1."""
    assert [linear_decay(i, c=0.1) for i in (0, 5, 10, 20)] == pytest.approx([1.0, 0.5, 0.0, 0.0])
    assert linear_decay(100, c=0.1, eps_min=0.2) == 0.2
    assert linear_decay(2, c=0.1, k=0.9) == pytest.approx(0.7)


def test_exponential_values():
    assert exponential_decay(0, k=0.9) == 1.0
    assert exponential_decay(10, k=0.9) == pytest.approx(0.9**10)


def test_inverse_sigmoid_values_and_midpoint():
    """k/(k+exp(i/k)); equals 1/2 at i = k ln k."""
    k = 10.0
    assert inverse_sigmoid_decay(0, k=k) == pytest.approx(k / (k + 1))
    assert inverse_sigmoid_decay(37, k=k) == pytest.approx(k / (k + math.exp(3.7)))
    k = 50.0
    midpoint = k * math.log(k)  # 195.6
    i = int(midpoint)
    assert inverse_sigmoid_decay(i, k=k) > 0.5 > inverse_sigmoid_decay(i + 1, k=k)


def test_inverse_sigmoid_does_not_overflow_for_large_steps():
    """k / (k + exp(i / k)) for i / k beyond exp's range is a tiny positive number, no error."""
    assert 0.0 <= inverse_sigmoid_decay(10**6, k=1.0) < 1e-300
    assert inverse_sigmoid_decay(700, k=1.0) == pytest.approx(math.exp(-700), rel=1e-9)


@pytest.mark.parametrize("schedule", [
    lambda i: linear_decay(i, c=0.003, eps_min=0.05),
    lambda i: exponential_decay(i, k=0.99),
    lambda i: inverse_sigmoid_decay(i, k=30.0),
])
def test_every_schedule_is_a_non_increasing_probability(schedule):
    """Each schedule stays in [0, 1] and never increases with the step (a decay, not a warm-up)."""
    values = [schedule(i) for i in range(1000)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert values[0] > 0.9
    assert values[-1] < 0.1


@pytest.mark.parametrize(("call", "message"), [
    (lambda: linear_decay(-1, c=0.1), r"step: expected an int >= 0, got -1"),
    (lambda: linear_decay(1.5, c=0.1), r"step: expected an int >= 0, got 1.5"),
    (lambda: linear_decay(True, c=0.1), r"step: expected an int >= 0, got True"),
    (lambda: linear_decay(1, c=0), r"c: expected a number > 0, got 0"),
    (lambda: linear_decay(1, c=0.1, k=1.5), r"k: expected a number in \(0, 1\], got 1.5"),
    (lambda: linear_decay(1, c=0.1, eps_min=1), r"eps_min: expected a number in \[0, 1\), got 1"),
    (lambda: exponential_decay(1, k=1.0), r"k: expected a number in \(0, 1\), got 1.0"),
    (lambda: exponential_decay(1, k=1.01), r"k: expected a number in \(0, 1\), got 1.01"),
    (lambda: inverse_sigmoid_decay(1, k=0.5), r"k: expected a number >= 1, got 0.5"),
    (lambda: inverse_sigmoid_decay(1, k=float("nan")), r"k: expected a number >= 1, got nan"),
])
def test_bad_parameters_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- teacher-forcing mass, equal-mass schedules, and scheduled sampling on stacked models ---

import torch  # noqa: E402

from rnncourse.language_model import CharRNN  # noqa: E402
from rnncourse.scheduled_sampling import (  # noqa: E402
    _sample_rows,
    stacked_unroll,
    teacher_forcing_mass,
    token_scheduled_sampling_loss,
    with_mass,
)
from rnncourse.stacked_rnn import StackedCharRNNSteps, StackedNextValueRNN  # noqa: E402
from rnncourse.teacher_forcing import NextValueRNN, unroll  # noqa: E402


def test_mass_is_the_mean_epsilon():
    assert teacher_forcing_mass(lambda i: linear_decay(i, c=0.1), 10) == pytest.approx(0.55)


@pytest.mark.parametrize("kind", ["linear", "exponential", "inverse sigmoid"])
@pytest.mark.parametrize("mass", [0.2, 0.5, 0.8])
def test_with_mass_reaches_the_mass_and_decays(kind, mass):
    schedule = with_mass(kind, mass, 300)
    assert teacher_forcing_mass(schedule, 300) == pytest.approx(mass, abs=1e-9)
    eps = [schedule(i) for i in range(300)]
    assert all(a >= b for a, b in itertools.pairwise(eps))


def test_with_mass_bad_input_raises():
    with pytest.raises(ValueError, match="kind: expected one of"):
        with_mass("cosine", 0.5, 100)
    with pytest.raises(ValueError, match="mass: expected a number in"):
        with_mass("linear", 1.0, 100)


def _stack(K=3):
    models = [NextValueRNN(5, generator=torch.Generator().manual_seed(s)).double()
              for s in range(K)]
    return models, StackedNextValueRNN(models)


def test_stacked_unroll_with_epsilon_one_or_zero_is_unroll_per_copy():
    """epsilon = 1: teacher forcing; epsilon = 0: free running; each equal to unroll on copy k."""
    models, stack = _stack()
    series = torch.randn(4, 9, 1, dtype=torch.float64)
    eps = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    got = stacked_unroll(stack, series, warmup=3, epsilon=eps,
                         detach=torch.zeros(3, dtype=torch.bool))
    for k, m in enumerate(models):
        torch.testing.assert_close(got[k], unroll(m, series, warmup=3, epsilon=float(eps[k])))


def test_detach_cuts_the_gradient_through_the_fed_back_prediction_only():
    """Same values; with detach, the gradient of the last output no longer reaches W_xh via y."""
    series = torch.randn(2, 8, 1, dtype=torch.float64)
    _, same = _stack(K=1)
    same2 = StackedNextValueRNN([same.member(0).double(), same.member(0).double()])
    out = stacked_unroll(same2, series, warmup=2, epsilon=torch.zeros(2),
                         detach=torch.tensor([False, True]))
    torch.testing.assert_close(out[0], out[1])  # the values do not depend on detach
    out[:, :, -1].sum().backward()
    g = same2.rnn.W_xh.grad
    assert not torch.allclose(g[0], g[1])  # the gradients do


def test_stacked_unroll_coins_are_per_copy_sequence_and_step():
    """With 0 < epsilon < 1 the inputs mix truth and prediction within one sequence."""
    _, stack = _stack(K=1)
    series = torch.randn(200, 12, 1, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    out = stacked_unroll(stack, series, warmup=2, epsilon=torch.tensor([0.5]),
                         detach=torch.tensor([True]), generator=gen)
    tf = stacked_unroll(stack, series, warmup=2, epsilon=torch.tensor([1.0]),
                        detach=torch.tensor([True]))
    differs = ~torch.isclose(out, tf)[0, :, 2:, 0]  # (200, 9): steps after the first mixed input
    assert 0.2 < differs.float().mean() < 0.9


def test_token_loss_with_epsilon_one_is_the_teacher_forced_loss():
    torch.manual_seed(0)
    models = [CharRNN(6, 8, 4) for _ in range(2)]
    stack = StackedCharRNNSteps(models)
    ids = torch.randint(0, 6, (5, 9))
    got = token_scheduled_sampling_loss(stack, ids, torch.ones(2))
    for k, m in enumerate(models):
        assert got[k].item() == pytest.approx(m.loss(ids).item(), rel=1e-5)


def test_sampled_tokens_follow_the_model_distribution():
    """The inverse-CDF draw has the law of torch.multinomial: frequencies p_v, never a p_v = 0."""
    probs = torch.tensor([[0.1, 0.0, 0.6, 0.3], [0.0, 0.0, 0.0, 1.0]]).repeat(20_000, 1)
    ids = _sample_rows(probs, torch.Generator().manual_seed(0)).reshape(20_000, 2)  # (M, 2)
    freq = torch.stack([torch.bincount(ids[:, j], minlength=4) / 20_000 for j in range(2)])
    assert torch.allclose(freq, probs[:2], atol=0.01)  # at least 3 standard errors, each p_v
    assert (ids[:, 0] != 1).all()
    assert (ids[:, 1] == 3).all()


def test_token_loss_with_sampling_feeds_sampled_tokens_without_gradient_through_them():
    """epsilon = 0: the loss differs from teacher forcing, and it is still differentiable."""
    torch.manual_seed(0)
    stack = StackedCharRNNSteps([CharRNN(6, 8, 4)])
    ids = torch.randint(0, 6, (50, 9))
    tf = token_scheduled_sampling_loss(stack, ids, torch.ones(1))
    ss = token_scheduled_sampling_loss(stack, ids, torch.zeros(1),
                                       generator=torch.Generator().manual_seed(0))
    assert abs(tf.item() - ss.item()) > 1e-4
    ss.sum().backward()
    assert stack.rnn.W_hh.grad.abs().sum() > 0


def test_stacked_bad_input_raises():
    _, stack = _stack()
    series = torch.randn(2, 6, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"epsilon: expected a \(K=3,\)"):
        stacked_unroll(stack, series, warmup=2, epsilon=torch.ones(2),
                       detach=torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="detach: expected"):
        stacked_unroll(stack, series, warmup=2, epsilon=torch.ones(3), detach=torch.zeros(3))
    with pytest.raises(ValueError, match="series: expected shape"):
        stacked_unroll(stack, series, warmup=6, epsilon=torch.ones(3),
                       detach=torch.zeros(3, dtype=torch.bool))


def test_stacked_unroll_takes_each_copys_own_waves():
    """series (K, N, L, 1): copy k on its own waves equals copy k on shared waves series[k]."""
    _, stack = _stack()
    own = torch.randn(3, 4, 9, 1, dtype=torch.float64)
    flags = {"epsilon": torch.ones(3), "detach": torch.zeros(3, dtype=torch.bool)}
    got = stacked_unroll(stack, own, warmup=3, **flags)
    for k in range(3):
        torch.testing.assert_close(got[k], stacked_unroll(stack, own[k], warmup=3, **flags)[k])


def test_token_loss_takes_each_copys_own_windows():
    """ids (K, N, W + 1): copy k's loss is its teacher-forced loss on its own windows."""
    torch.manual_seed(0)
    models = [CharRNN(6, 8, 4) for _ in range(2)]
    stack = StackedCharRNNSteps(models)
    ids = torch.randint(0, 6, (2, 5, 9))
    got = token_scheduled_sampling_loss(stack, ids, torch.ones(2))
    for k, m in enumerate(models):
        assert got[k].item() == pytest.approx(m.loss(ids[k]).item(), rel=1e-5)
