"""Hand-written BPTT against autograd and finite differences.

In float64: relative error < 1e-10 against autograd, < 1e-6 against finite differences.
"""

import re

import pytest
import torch

from rnncourse.bptt import (
    PARAMETER_NAMES,
    ElmanWithReadout,
    finite_difference_gradient,
    relative_error,
    rnn_backward,
    rnn_forward,
    squared_error,
)


def _setup(many_to_one: bool, with_h0: bool, L: int = 7, N: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    model = ElmanWithReadout(3, 5, 2, dtype=torch.float64, generator=g)
    with torch.no_grad():
        model.readout.weight.normal_(generator=g)
        model.readout.bias.normal_(generator=g)
    x = torch.randn(L, N, 3, generator=g, dtype=torch.float64)
    h_0 = torch.randn(N, 5, generator=g, dtype=torch.float64) if with_h0 else None
    shape = (N, 2) if many_to_one else (L, N, 2)
    target = torch.randn(shape, generator=g, dtype=torch.float64)
    return model, x, h_0, target


@pytest.mark.parametrize("many_to_one", [False, True])
@pytest.mark.parametrize("with_h0", [False, True])
def test_matches_autograd(many_to_one, with_h0):
    """Every parameter gradient and dL/dh_0 agree with autograd on ElmanRNN + nn.Linear."""
    model, x, h_0, target = _setup(many_to_one, with_h0)
    weights = {k: w.detach() for k, w in model.named_weights().items()}
    y, cache = rnn_forward(x, **weights, h_0=h_0)
    loss, dy = squared_error(y, target, many_to_one=many_to_one)
    grads = rnn_backward(cache, dy)

    h_0_auto = None if h_0 is None else h_0.clone().requires_grad_()
    y_auto, _ = model(x, None if h_0_auto is None else h_0_auto.unsqueeze(0))
    loss_auto, _ = squared_error(y_auto, target, many_to_one=many_to_one)
    loss_auto.backward()
    assert abs(float(loss) - float(loss_auto.detach())) < 1e-12
    for name, w in model.named_weights().items():
        assert relative_error(getattr(grads, name), w.grad) < 1e-10, name
    if h_0_auto is not None:
        assert relative_error(grads.h_0, h_0_auto.grad) < 1e-10


@pytest.mark.parametrize("many_to_one", [False, True])
def test_matches_central_finite_differences(many_to_one):
    """Relative error below 1e-6 against (f(p + eps) - f(p - eps)) / 2 eps for every entry."""
    model, x, h_0, target = _setup(many_to_one, with_h0=True, L=5, N=2)
    weights = {k: w.detach().clone() for k, w in model.named_weights().items()}
    y, cache = rnn_forward(x, **weights, h_0=h_0)
    grads = rnn_backward(cache, squared_error(y, target, many_to_one=many_to_one)[1])

    def loss():
        y = rnn_forward(x, **weights, h_0=h_0)[0]
        return squared_error(y, target, many_to_one=many_to_one)[0]

    for name in PARAMETER_NAMES:
        numeric = finite_difference_gradient(loss, weights[name])
        assert relative_error(getattr(grads, name), numeric) < 1e-6, name


def test_per_step_contributions_sum_to_the_gradient():
    """Shared weights: one contribution per step, and their sum is the gradient."""
    model, x, h_0, target = _setup(many_to_one=False, with_h0=True)
    y, cache = rnn_forward(x, **{k: w.detach() for k, w in model.named_weights().items()}, h_0=h_0)
    grads = rnn_backward(cache, squared_error(y, target)[1], per_step=True)
    for name in PARAMETER_NAMES:
        steps = grads.per_step[name]
        assert steps.shape == (7, *getattr(grads, name).shape)
        torch.testing.assert_close(steps.sum(0), getattr(grads, name), rtol=0, atol=1e-14)
        assert all(float(s.norm()) > 0 for s in steps), name
    assert rnn_backward(cache, squared_error(y, target)[1]).per_step is None


def test_many_to_one_readout_gradient_comes_from_the_last_step_only():
    """With the loss on y_L alone, W_hy and b_y get nothing from steps 1..L-1.

    W_hh gets something from each step.
    """
    model, x, h_0, target = _setup(many_to_one=True, with_h0=True)
    y, cache = rnn_forward(x, **{k: w.detach() for k, w in model.named_weights().items()}, h_0=h_0)
    _, dy = squared_error(y, target, many_to_one=True)
    assert float(dy[:-1].abs().max()) == 0.0
    grads = rnn_backward(cache, dy, per_step=True)
    assert float(grads.per_step["W_hy"][:-1].abs().max()) == 0.0
    assert float(grads.per_step["W_hy"][-1].norm()) > 0
    assert float(grads.per_step["W_hh"].flatten(1).norm(dim=1).min()) > 0


def test_forward_matches_the_module():
    """rnn_forward's outputs equal ElmanWithReadout's, and its cache holds h_0..h_L."""
    model, x, h_0, _ = _setup(many_to_one=False, with_h0=True)
    y, cache = rnn_forward(x, **{k: w.detach() for k, w in model.named_weights().items()}, h_0=h_0)
    y_ref, h_n = model(x, h_0.unsqueeze(0))
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(cache.h[0], h_0)
    torch.testing.assert_close(cache.h[-1], h_n[0], rtol=0, atol=1e-12)


def _weights(H_in=3, H=5, H_out=2):
    return {"W_xh": torch.zeros(H, H_in), "W_hh": torch.zeros(H, H), "b_h": torch.zeros(H),
            "W_hy": torch.zeros(H_out, H), "b_y": torch.zeros(H_out)}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x": torch.zeros(4, 3)}, "x: expected shape (L, N, H_in), got (4, 3)"),
        ({"W_xh": torch.zeros(5, 4)}, "W_xh: expected shape (5, 3), got (5, 4)"),
        ({"W_hh": torch.zeros(5, 4)}, "W_hh: expected shape (H, H), got (5, 4)"),
        ({"b_y": torch.zeros(3)}, "b_y: expected shape (2,), got (3,)"),
        ({"h_0": torch.zeros(1, 2, 5)}, "h_0: expected shape (2, 5), got (1, 2, 5)"),
    ],
)
def test_forward_rejects_bad_shapes(change, message):
    args = {"x": torch.zeros(4, 2, 3), **_weights(), "h_0": None, **change}
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        rnn_forward(**args)


def test_backward_and_loss_reject_bad_shapes():
    y, cache = rnn_forward(torch.zeros(4, 2, 3), **_weights())
    with pytest.raises(ValueError, match=r"^dy: expected shape \(4, 2, 2\), got \(2, 2\)$"):
        rnn_backward(cache, torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"^target: expected shape \(2, 2\), got \(4, 2, 2\)$"):
        squared_error(y, torch.zeros(4, 2, 2), many_to_one=True)
    with pytest.raises(ValueError, match=r"^cache: expected a ForwardCache, got tuple$"):
        rnn_backward((y, cache), torch.zeros(4, 2, 2))


def test_finite_differences_need_float64():
    with pytest.raises(ValueError, match=r"^param: expected dtype torch.float64 \(finite "
                                         r"differences need it\), got torch.float32$"):
        finite_difference_gradient(lambda: torch.zeros(()), torch.zeros(3))


def test_relative_error():
    assert relative_error(torch.tensor([3.0, 4.0]), torch.tensor([3.0, 4.0])) == 0.0
    assert relative_error(torch.tensor([0.0, 0.0]), torch.tensor([3.0, 4.0])) == 1.0
    with pytest.raises(ValueError, match=r"^b: expected shape \(2,\), got \(3,\)$"):
        relative_error(torch.zeros(2), torch.zeros(3))
