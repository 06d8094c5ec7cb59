"""fast_elman: the hand-written backward equals torch.nn.RNN's autograd, in float64."""

import re

import pytest
import torch
from torch import nn

import rnncourse.fast_elman as fast_module
from rnncourse.fast_elman import fast_elman


def test_public_names_are_pinned():
    assert fast_module.__all__ == ["backward_loop", "fast_elman", "forward_loop"]


@pytest.mark.parametrize("L", [1, 2, 9])
@pytest.mark.parametrize("with_h0", [False, True])
def test_matches_torch_outputs_and_gradients(L, with_h0):
    """Outputs and gradients w.r.t. x, h_0 and every parameter agree with nn.RNN to 1e-10."""
    torch.manual_seed(0)
    N, H_in, H = 3, 4, 5
    rnn = nn.RNN(H_in, H, dtype=torch.float64)
    x = torch.randn(L, N, H_in, dtype=torch.float64)
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    h_ref = h_ours = None
    if with_h0:
        h_0 = torch.randn(N, H, dtype=torch.float64)
        h_ref, h_ours = h_0.clone().requires_grad_(), h_0.clone().requires_grad_()
    W_xh = rnn.weight_ih_l0.detach().clone().requires_grad_()
    W_hh = rnn.weight_hh_l0.detach().clone().requires_grad_()
    b_h = (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach().requires_grad_()
    out_ref, _ = rnn(x_ref, None if h_ref is None else h_ref.unsqueeze(0))
    out = fast_elman(x_ours, W_xh, W_hh, b_h, h_ours)
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-10)
    grad_out = torch.randn_like(out)
    out_ref.backward(grad_out)
    out.backward(grad_out)
    torch.testing.assert_close(W_xh.grad, rnn.weight_ih_l0.grad, rtol=0, atol=1e-10)
    torch.testing.assert_close(W_hh.grad, rnn.weight_hh_l0.grad, rtol=0, atol=1e-10)
    torch.testing.assert_close(b_h.grad, rnn.bias_ih_l0.grad, rtol=0, atol=1e-10)
    torch.testing.assert_close(x_ours.grad, x_ref.grad, rtol=0, atol=1e-10)
    if with_h0:
        torch.testing.assert_close(h_ours.grad, h_ref.grad, rtol=0, atol=1e-10)


@pytest.mark.parametrize("with_h0", [False, True])
def test_gradcheck(with_h0):
    """torch.autograd.gradcheck: the hand-written backward matches finite differences."""
    g = torch.Generator().manual_seed(1)
    shapes = [(4, 2, 3), (5, 3), (5, 5), (5,)] + ([(2, 5)] if with_h0 else [])
    args = [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True) for s in shapes]
    assert torch.autograd.gradcheck(fast_elman, args)


def test_non_contiguous_input_and_partial_gradients():
    """A batch-first tensor transposed to time-major works; only requested gradients are made."""
    torch.manual_seed(0)
    W_xh, W_hh, b_h = torch.randn(5, 3), torch.randn(5, 5) * 0.3, torch.randn(5)
    W_hh.requires_grad_()
    x = torch.randn(2, 6, 3).transpose(0, 1)  # (L, N, H_in), not contiguous
    out = fast_elman(x, W_xh, W_hh, b_h)
    expected = torch.stack(_plain(x, W_xh, W_hh.detach(), b_h))
    torch.testing.assert_close(out.detach(), expected, rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert W_hh.grad is not None
    assert W_hh.grad.shape == (5, 5)


def _plain(x, W_xh, W_hh, b_h):
    h = torch.zeros(x.shape[1], W_hh.shape[0])
    hs = []
    for x_t in x:
        h = torch.tanh(x_t @ W_xh.T + h @ W_hh.T + b_h)
        hs.append(h)
    return hs


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fast_elman(torch.zeros(3, 2, 4), torch.zeros(5, 3), torch.zeros(5, 5),
                            torch.zeros(5)),
         "x: expected shape (L, N, 3), got (3, 2, 4)"),
        (lambda: fast_elman(torch.zeros(3, 2, 3), torch.zeros(5, 3), torch.zeros(5, 5),
                            torch.zeros(5), torch.zeros(1, 2, 5)),
         "h_0: expected shape (2, 5), got (1, 2, 5)"),
        (lambda: fast_elman(torch.zeros(3, 2, 3), torch.zeros(5, 3), torch.zeros(3, 3),
                            torch.zeros(5)),
         "W_hh: expected shape (5, 5), got (3, 3)"),
        (lambda: fast_elman(torch.zeros(3, 2, 3), torch.zeros(5, 3),
                            torch.zeros(5, 5, dtype=torch.float64), torch.zeros(5)),
         "W_hh: expected dtype torch.float32 (the dtype of W_xh), got torch.float64"),
    ],
)
def test_bad_input_raises_clear_value_error(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()
