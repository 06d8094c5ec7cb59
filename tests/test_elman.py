"""ElmanRNN against torch.nn.RNN: same outputs and gradients, and clear errors on bad input."""

import re

import pytest
import torch
from torch import nn

from rnncourse import ElmanRNN, elman_step


def _pair(batch_first: bool, H_in: int = 4, H: int = 6, seed: int = 0):
    torch.manual_seed(seed)
    ref = nn.RNN(H_in, H, batch_first=batch_first, dtype=torch.float64)
    return ref, ElmanRNN.from_torch(ref)


@pytest.mark.parametrize("L", [1, 7, 1000])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_h0", [False, True])
def test_matches_torch_outputs_and_gradients(L, batch_first, with_h0):
    """Outputs and every parameter/input gradient agree with torch.nn.RNN to 1e-10 (float64)."""
    ref, ours = _pair(batch_first)
    N = 3
    shape = (N, L, 4) if batch_first else (L, N, 4)
    x = torch.randn(shape, dtype=torch.float64)
    h_0 = torch.randn(1, N, 6, dtype=torch.float64) if with_h0 else None
    x_ref = x.clone().requires_grad_()
    x_ours = x.clone().requires_grad_()
    out_ref, hn_ref = ref(x_ref, h_0)
    out_ours, hn_ours = ours(x_ours, h_0)
    torch.testing.assert_close(out_ours, out_ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(hn_ours, hn_ref, rtol=0, atol=1e-10)
    weights = torch.randn_like(out_ref)
    ((out_ref * weights).sum() + hn_ref.sum()).backward()
    ((out_ours * weights).sum() + hn_ours.sum()).backward()
    torch.testing.assert_close(ours.W_xh.grad, ref.weight_ih_l0.grad, rtol=0, atol=1e-10)
    torch.testing.assert_close(ours.W_hh.grad, ref.weight_hh_l0.grad, rtol=0, atol=1e-10)
    torch.testing.assert_close(ours.b_h.grad, ref.bias_ih_l0.grad, rtol=0, atol=1e-10)
    torch.testing.assert_close(ours.b_h.grad, ref.bias_hh_l0.grad, rtol=0, atol=1e-10)
    torch.testing.assert_close(x_ours.grad, x_ref.grad, rtol=0, atol=1e-10)


def test_unbatched_matches_torch():
    """An unbatched (L, H_in) input gives (L, H) and (1, H), as torch.nn.RNN does."""
    ref, ours = _pair(batch_first=False)
    x = torch.randn(5, 4, dtype=torch.float64)
    h_0 = torch.randn(1, 6, dtype=torch.float64)
    out_ref, hn_ref = ref(x, h_0)
    out_ours, hn_ours = ours(x, h_0)
    assert out_ours.shape == (5, 6)
    assert hn_ours.shape == (1, 6)
    torch.testing.assert_close(out_ours, out_ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(hn_ours, hn_ref, rtol=0, atol=1e-10)


def test_gradcheck():
    """torch.autograd.gradcheck passes on the from-scratch recurrence."""
    _, ours = _pair(batch_first=True, H_in=2, H=3)
    x = torch.randn(2, 5, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: ours(inp)[0], (x,))


def test_elman_step_is_one_step_of_the_module():
    """elman_step applied L times reproduces the module's output."""
    _, ours = _pair(batch_first=False)
    x = torch.randn(4, 2, 4, dtype=torch.float64)
    h = torch.zeros(2, 6, dtype=torch.float64)
    steps = []
    for x_t in x:
        h = elman_step(x_t, h, ours.W_xh, ours.W_hh, ours.b_h)
        steps.append(h)
    torch.testing.assert_close(torch.stack(steps), ours(x)[0], rtol=0, atol=1e-12)


def test_parameter_count_does_not_depend_on_length():
    """d(d + n + 1) parameters, whatever the length of the input."""
    model = ElmanRNN(128, 256)
    assert sum(p.numel() for p in model.parameters()) == 256 * (256 + 128 + 1)


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda: torch.zeros(5, 2, 7), "x: expected shape (L, N, 4) or (L, 4), got (5, 2, 7)"),
        (lambda: torch.zeros(5), "x: expected shape (L, N, 4) or (L, 4), got (5,)"),
        (lambda: torch.zeros(0, 2, 4),
         "x: expected a sequence of length L >= 1, got shape (0, 2, 4)"),
        (lambda: torch.zeros(5, 2, 4, dtype=torch.long),
         "x: expected a floating-point tensor (float32 or float64), got dtype torch.int64"),
        (lambda: torch.zeros(5, 2, 4, dtype=torch.float64),
         "x: expected dtype torch.float32 (the weights' dtype), got torch.float64"),
        (lambda: [[0.0] * 4], "x: expected a torch.Tensor, got list"),
    ],
)
def test_bad_input_raises_clear_value_error(make_input, message):
    """Wrong size, rank, length, dtype or type: a ValueError naming expected and got."""
    model = ElmanRNN(4, 6)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        model(make_input())


def test_wrong_h0_shape_names_expected_and_got():
    """h_0 must be (1, N, H) even when batch_first, as in torch.nn.RNN."""
    model = ElmanRNN(4, 16, batch_first=True)
    with pytest.raises(ValueError, match=r"^h_0: expected shape \(1, 3, 16\), got \(3, 16\)$"):
        model(torch.zeros(3, 5, 4), torch.zeros(3, 16))


def test_from_torch_rejects_unsupported_configurations():
    """Two layers or a ReLU RNN cannot be loaded into a one-layer tanh ElmanRNN."""
    with pytest.raises(ValueError, match=r"rnn.num_layers: expected 1, got 2"):
        ElmanRNN.from_torch(nn.RNN(2, 3, num_layers=2))
    with pytest.raises(ValueError, match=r"rnn.nonlinearity: expected 'tanh', got 'relu'"):
        ElmanRNN.from_torch(nn.RNN(2, 3, nonlinearity="relu"))
    with pytest.raises(ValueError, match=r"rnn: expected a torch.nn.RNN, got LSTM"):
        ElmanRNN.from_torch(nn.LSTM(2, 3))


@pytest.mark.parametrize("size", [0, -1, 2.5, True])
def test_sizes_must_be_positive_ints(size):
    with pytest.raises(ValueError, match="input_size: expected a positive int"):
        ElmanRNN(size, 3)
