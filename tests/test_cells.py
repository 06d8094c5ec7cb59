"""Split and concat cells and the lab's loops: the same function and gradients as torch.nn.RNN."""

import re

import pytest
import torch
from torch import nn

from rnncourse import cells
from rnncourse.bench import count_ops
from rnncourse.cells import (
    concat_loop,
    concat_step,
    hoisted_input_projection,
    indexed_hoisted_loop,
    split_loop,
)
from rnncourse.elman import ElmanRNN, elman_step
from rnncourse.layouts import concat_weights, split_weights

H_IN, H, N, L = 4, 6, 3, 7


def _reference(seed: int = 0):
    torch.manual_seed(seed)
    rnn = nn.RNN(H_IN, H, dtype=torch.float64)
    x = torch.randn(L, N, H_IN, dtype=torch.float64)
    h_0 = torch.randn(N, H, dtype=torch.float64)
    return rnn, x, h_0


def _leaf(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone().requires_grad_()


def test_public_names_are_pinned():
    assert sorted(cells.__all__) == ["concat_loop", "concat_step", "hoisted_input_projection",
                                     "indexed_hoisted_loop", "split_loop"]


def test_concat_step_equals_split_step():
    """tanh(W_m [x; h] + b) = tanh(W_xh x + W_hh h + b) with W_m = [W_xh | W_hh]."""
    rnn, x, h_0 = _reference()
    W_m = concat_weights(rnn.weight_ih_l0, rnn.weight_hh_l0)
    b_h = rnn.bias_ih_l0 + rnn.bias_hh_l0
    torch.testing.assert_close(concat_step(x[0], h_0, W_m, b_h),
                               elman_step(x[0], h_0, rnn.weight_ih_l0, rnn.weight_hh_l0, b_h),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("loop", ["split", "concat", "indexed"])
@pytest.mark.parametrize("with_h0", [False, True])
def test_loops_match_torch_outputs_and_gradients(loop, with_h0):
    """Outputs and gradients (x, h_0, weights, both biases) agree with nn.RNN to 1e-10 (float64)."""
    rnn, x, h_0 = _reference()
    x_ref, x_ours = _leaf(x), _leaf(x)
    h_ref, h_ours = (_leaf(h_0), _leaf(h_0)) if with_h0 else (None, None)
    out_ref, _ = rnn(x_ref, None if h_ref is None else h_ref.unsqueeze(0))
    W_xh, W_hh = _leaf(rnn.weight_ih_l0), _leaf(rnn.weight_hh_l0)
    b_h = _leaf(rnn.bias_ih_l0 + rnn.bias_hh_l0)
    if loop == "concat":
        W_m = _leaf(concat_weights(W_xh, W_hh))
        out = concat_loop(x_ours, W_m, b_h, h_ours)
    else:
        run = split_loop if loop == "split" else indexed_hoisted_loop
        out = run(x_ours, W_xh, W_hh, b_h, h_ours)
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-10)
    weights = torch.randn_like(out)
    (out_ref * weights).sum().backward()
    (out * weights).sum().backward()
    if loop == "concat":
        dW_xh, dW_hh = split_weights(W_m.grad)
    else:
        dW_xh, dW_hh = W_xh.grad, W_hh.grad
    torch.testing.assert_close(dW_xh, rnn.weight_ih_l0.grad, rtol=0, atol=1e-10)
    torch.testing.assert_close(dW_hh, rnn.weight_hh_l0.grad, rtol=0, atol=1e-10)
    torch.testing.assert_close(b_h.grad, rnn.bias_ih_l0.grad, rtol=0, atol=1e-10)
    torch.testing.assert_close(b_h.grad, rnn.bias_hh_l0.grad, rtol=0, atol=1e-10)
    torch.testing.assert_close(x_ours.grad, x_ref.grad, rtol=0, atol=1e-10)
    if with_h0:
        torch.testing.assert_close(h_ours.grad, h_ref.grad, rtol=0, atol=1e-10)


def test_hoisted_input_projection_is_every_step_of_the_input_path():
    """xp[t] = W_xh x_t + b_h for every t, the input half of elman_step."""
    rnn, x, h_0 = _reference()
    b_h = rnn.bias_ih_l0 + rnn.bias_hh_l0
    xp = hoisted_input_projection(x, rnn.weight_ih_l0, b_h)
    assert xp.shape == (L, N, H)
    zero_W_hh = torch.zeros(H, H, dtype=torch.float64)
    for t in range(L):  # with W_hh = 0, elman_step is tanh(W_xh x_t + b_h)
        torch.testing.assert_close(torch.tanh(xp[t]),
                                   elman_step(x[t], h_0, rnn.weight_ih_l0, zero_W_hh, b_h),
                                   rtol=0, atol=1e-12)


def test_gradcheck_concat_loop():
    """torch.autograd.gradcheck on the concat loop (x, W_m, b_h, h_0), float64."""
    g = torch.Generator().manual_seed(0)
    args = [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True)
            for s in [(3, 2, 2), (3, 5), (3,), (2, 3)]]
    assert torch.autograd.gradcheck(concat_loop, args)


def test_indexed_loop_backward_writes_one_full_size_gradient_per_step():
    """xp[t] costs a select_backward (a zero tensor the size of xp) per step; unbind costs none."""
    rnn, x, _ = _reference()
    ours = ElmanRNN.from_torch(rnn)
    for run, expected in [
        (lambda: indexed_hoisted_loop(x, ours.W_xh, ours.W_hh, ours.b_h), L),
        (lambda: ours(x)[0], 0),
    ]:
        out = run()
        assert count_ops(out.sum().backward)["select_backward"] == expected


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda w: split_loop(torch.zeros(5, 2, 3), *w),
         "x: expected shape (L, N, 4), got (5, 2, 3)"),
        (lambda w: split_loop(torch.zeros(2, 4), *w),
         "x: expected shape (L, N, 4), got (2, 4)"),
        (lambda w: split_loop(torch.zeros(0, 2, 4), *w),
         "x: expected a sequence of length L >= 1, got shape (0, 2, 4)"),
        (lambda w: split_loop(torch.zeros(5, 2, 4, dtype=torch.float64), *w),
         "x: expected dtype torch.float32 (the weights' dtype), got torch.float64"),
        (lambda w: split_loop(torch.zeros(5, 2, 4), *w, torch.zeros(1, 2, 6)),
         "h_0: expected shape (2, 6), got (1, 2, 6)"),
        (lambda w: split_loop(torch.zeros(5, 2, 4), w[0], w[1][:, :4], w[2]),
         "W_hh: expected shape (6, 6), got (6, 4)"),
        (lambda w: split_loop(torch.zeros(5, 2, 4), w[0], w[1], w[2].double()),
         "b_h: expected dtype torch.float32 (the dtype of W_xh), got torch.float64"),
        (lambda w: concat_loop(torch.zeros(5, 2, 4), w[1], w[2]),
         "W_m: expected shape (H, H_in + H) with H_in >= 1, so more columns than rows, got (6, 6)"),
        (lambda w: concat_loop(torch.zeros(5, 2, 4), concat_weights(w[0], w[1]), torch.zeros(4)),
         "b_h: expected shape (6,), got (4,)"),
        (lambda w: indexed_hoisted_loop(torch.zeros(5, 2, 4), *w, torch.zeros(2, 6).long()),
         "h_0: expected dtype torch.float32 (the dtype of x), got torch.int64"),
        (lambda w: hoisted_input_projection(torch.zeros(5, 2, 4), w[0].T, w[2]),
         "b_h: expected shape (4,), got (6,)"),
    ],
)
def test_bad_input_raises_clear_value_error(call, message):
    """Wrong shapes, lengths and dtypes: a ValueError naming expected and got."""
    weights = (torch.zeros(6, 4), torch.zeros(6, 6), torch.zeros(6))
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call(weights)
