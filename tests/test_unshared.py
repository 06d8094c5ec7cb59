"""UnsharedRNN: per-step weights, equal to ElmanRNN/nn.RNN when untied, clear errors."""

import re

import pytest
import torch
from torch import nn

import rnncourse.unshared
from rnncourse.elman import ElmanRNN, elman_step
from rnncourse.unshared import UnsharedRNN


def test_public_names():
    """The module exports exactly its one class."""
    assert rnncourse.unshared.__all__ == ["UnsharedRNN"]


def test_parameter_shapes_and_count():
    """W_xh (T, H, H_in), W_hh (T, H, H), b_h (T, H): T * H * (H + H_in + 1) numbers."""
    rnn = UnsharedRNN(4, 6, max_length=7)
    assert tuple(rnn.W_xh.shape) == (7, 6, 4)
    assert tuple(rnn.W_hh.shape) == (7, 6, 6)
    assert tuple(rnn.b_h.shape) == (7, 6)
    assert sum(p.numel() for p in rnn.parameters()) == 7 * 6 * (6 + 4 + 1)


def test_per_step_weights_are_independent_draws():
    """Each step's weights are initialised separately, within the nn.RNN bound 1/sqrt(H)."""
    rnn = UnsharedRNN(3, 4, max_length=5, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(rnn.W_hh[0], rnn.W_hh[1])
    assert rnn.W_hh.abs().max() <= 0.5
    assert rnn.W_xh.abs().max() <= 0.5


@pytest.mark.parametrize("batch_first", [False, True])
def test_matches_the_plain_per_step_loop(batch_first):
    """Step t uses W_xh[t-1], W_hh[t-1], b_h[t-1]: compared with elman_step in float64."""
    rnn = UnsharedRNN(3, 5, max_length=9, batch_first=batch_first, dtype=torch.float64)
    x = torch.randn(6, 2, 3, dtype=torch.float64)  # (L, N, H_in), shorter than max_length
    h_0 = torch.randn(1, 2, 5, dtype=torch.float64)
    h, expected = h_0[0], []
    for t in range(6):
        h = elman_step(x[t], h, rnn.W_xh[t], rnn.W_hh[t], rnn.b_h[t])
        expected.append(h)
    expected = torch.stack(expected)  # (L, N, H)
    inp = x.transpose(0, 1) if batch_first else x
    output, h_n = rnn(inp, h_0)
    if batch_first:
        output = output.transpose(0, 1)
    torch.testing.assert_close(output, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n[0], expected[-1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("batch_first", [False, True])
def test_untied_copy_of_a_shared_rnn_equals_torch_rnn(batch_first):
    """from_shared gives the same outputs as the ElmanRNN and as torch.nn.RNN (float64)."""
    torch.manual_seed(0)
    ref = nn.RNN(4, 6, batch_first=batch_first, dtype=torch.float64)
    untied = UnsharedRNN.from_shared(ElmanRNN.from_torch(ref), max_length=12)
    x = torch.randn(3, 12, 4, dtype=torch.float64)
    if not batch_first:
        x = x.transpose(0, 1)
    out_ref, hn_ref = ref(x)
    out, h_n = untied(x)
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(h_n, hn_ref, rtol=0, atol=1e-10)


def test_gradients_of_the_copies_sum_to_the_shared_gradient():
    """dL/dW = sum_t dL/dW^(t) for W_xh, W_hh and b_h, to 1e-12 in float64."""
    torch.manual_seed(1)
    tied = ElmanRNN(3, 4, dtype=torch.float64)
    untied = UnsharedRNN.from_shared(tied, max_length=10)
    x = torch.randn(10, 2, 3, dtype=torch.float64)
    weights = torch.randn(10, 2, 4, dtype=torch.float64)
    (tied(x)[0] * weights).sum().backward()
    (untied(x)[0] * weights).sum().backward()
    for name in ("W_xh", "W_hh", "b_h"):
        torch.testing.assert_close(getattr(untied, name).grad.sum(0), getattr(tied, name).grad,
                                   rtol=0, atol=1e-12)


def test_a_short_input_leaves_later_steps_untrained():
    """An input of L < T_max steps gives zero gradient to the weights of steps L+1..T_max."""
    rnn = UnsharedRNN(2, 3, max_length=8)
    rnn(torch.randn(5, 1, 2))[0].sum().backward()
    assert rnn.W_hh.grad[:5].abs().sum() > 0
    assert rnn.W_hh.grad[5:].abs().sum() == 0
    assert rnn.b_h.grad[5:].abs().sum() == 0


def test_changing_one_steps_weights_changes_only_that_step_and_later():
    """Editing W_hh^(4) leaves h_1..h_3 unchanged and changes h_4."""
    rnn = UnsharedRNN(2, 3, max_length=6, dtype=torch.float64)
    x = torch.randn(6, 2, dtype=torch.float64)  # unbatched (L, H_in)
    before, _ = rnn(x, torch.ones(1, 3, dtype=torch.float64))
    with torch.no_grad():
        rnn.W_hh[3] += 0.5
    after, _ = rnn(x, torch.ones(1, 3, dtype=torch.float64))
    torch.testing.assert_close(after[:3], before[:3], rtol=0, atol=0)
    assert not torch.allclose(after[3], before[3])


def test_gradcheck():
    """torch.autograd.gradcheck passes with respect to the input."""
    rnn = UnsharedRNN(2, 3, max_length=4, batch_first=True, dtype=torch.float64)
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: rnn(inp)[0], (x,))


def test_meta_device_counts_without_memory():
    """Built on the meta device, a huge model has shapes and a count but no storage."""
    with torch.device("meta"):
        rnn = UnsharedRNN(128, 256, max_length=1000)
    assert rnn.W_hh.is_meta
    assert sum(p.numel() for p in rnn.parameters()) == 1000 * 256 * (256 + 128 + 1)


def test_longer_than_max_length_raises_clear_error():
    """Step T_max + 1 has no weights: a ValueError naming the limit and the length."""
    rnn = UnsharedRNN(3, 4, max_length=100, batch_first=True)
    message = ("x: expected a sequence of length L <= max_length = 100 (this network has weights "
               "only for steps 1..100), got L = 101")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        rnn(torch.zeros(2, 101, 3))
    rnn(torch.zeros(2, 100, 3))  # exactly T_max is fine


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda: torch.zeros(5, 2, 7), "x: expected shape (L, N, 3) or (L, 3), got (5, 2, 7)"),
        (lambda: torch.zeros(5), "x: expected shape (L, N, 3) or (L, 3), got (5,)"),
        (lambda: torch.zeros(0, 2, 3),
         "x: expected a sequence of length L >= 1, got shape (0, 2, 3)"),
        (lambda: torch.zeros(5, 2, 3, dtype=torch.long),
         "x: expected a floating-point tensor (float32 or float64), got dtype torch.int64"),
        (lambda: torch.zeros(5, 2, 3, dtype=torch.float64),
         "x: expected dtype torch.float32 (the weights' dtype), got torch.float64"),
        (lambda: [[0.0] * 3], "x: expected a torch.Tensor, got list"),
    ],
)
def test_bad_input_raises_clear_value_error(make_input, message):
    """Wrong size, rank, length, dtype or type: the same messages as ElmanRNN."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        UnsharedRNN(3, 4, max_length=10)(make_input())


def test_wrong_h0_shape_names_expected_and_got():
    """h_0 is (1, N, H) even when batch_first."""
    rnn = UnsharedRNN(3, 4, max_length=10, batch_first=True)
    with pytest.raises(ValueError, match=r"^h_0: expected shape \(1, 2, 4\), got \(2, 4\)$"):
        rnn(torch.zeros(2, 5, 3), torch.zeros(2, 4))


@pytest.mark.parametrize("name", ["input_size", "hidden_size", "max_length"])
@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_sizes_must_be_positive_ints(name, bad):
    """Every size is a positive int; the message names the argument."""
    sizes = {"input_size": 2, "hidden_size": 3, "max_length": 4, name: bad}
    with pytest.raises(ValueError, match=f"{name}: expected a positive int, got {bad!r}"):
        UnsharedRNN(**sizes)


def test_from_shared_rejects_other_modules():
    """Only an ElmanRNN can be untied."""
    with pytest.raises(ValueError, match="rnn: expected an ElmanRNN, got RNN"):
        UnsharedRNN.from_shared(nn.RNN(2, 3), max_length=4)
