"""Weight layouts: the three libraries' arrays describe one cell, and conversions round-trip."""

import re

import pytest
import torch
from torch import nn

from rnncourse import layouts
from rnncourse.layouts import (
    ConcatLayout,
    KerasLayout,
    TorchLayout,
    concat_weights,
    split_weights,
    to_concat,
    to_keras,
    to_torch,
)

H_IN, H, N = 3, 5, 4


def _torch_layout(seed: int = 0) -> TorchLayout:
    g = torch.Generator().manual_seed(seed)
    return TorchLayout(*(torch.randn(shape, generator=g, dtype=torch.float64)
                         for shape in [(H, H_IN), (H, H), (H,), (H,)]))


def _step_inputs(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, H_IN, generator=g, dtype=torch.float64)  # (N, H_in)
    h = torch.randn(N, H, generator=g, dtype=torch.float64)  # (N, H)
    return x, h


def _pre_activation(layout, x, h):
    """Each library's own formula for W_xh x + W_hh h + b_h, written from its convention."""
    if isinstance(layout, ConcatLayout):  # TensorFlow BasicRNNCell
        return torch.cat([x, h], dim=1) @ layout.kernel + layout.bias
    if isinstance(layout, KerasLayout):  # Keras SimpleRNNCell
        return x @ layout.kernel + layout.bias + h @ layout.recurrent_kernel
    return (x @ layout.weight_ih_l0.T + layout.bias_ih_l0
            + h @ layout.weight_hh_l0.T + layout.bias_hh_l0)  # torch.nn.RNN


def test_public_names_are_pinned():
    assert sorted(layouts.__all__) == sorted([
        "ConcatLayout", "KerasLayout", "TorchLayout", "concat_weights", "split_weights",
        "to_concat", "to_keras", "to_torch"])


def test_concat_weights_is_side_by_side_and_splits_back():
    """W_m = [W_xh | W_hh] has H (H_in + H) entries, as many as the two matrices together."""
    W_xh, W_hh = torch.randn(H, H_IN), torch.randn(H, H)
    W_m = concat_weights(W_xh, W_hh)
    assert W_m.shape == (H, H_IN + H)
    assert W_m.numel() == W_xh.numel() + W_hh.numel() == H * (H_IN + H)
    back_xh, back_hh = split_weights(W_m)
    assert torch.equal(back_xh, W_xh)
    assert torch.equal(back_hh, W_hh)


def test_concat_identity_holds_numerically():
    """W_m [x; h] = W_xh x + W_hh h for a batch of rows, in float64."""
    layout = _torch_layout()
    x, h = _step_inputs()
    W_m = concat_weights(layout.weight_ih_l0, layout.weight_hh_l0)
    torch.testing.assert_close(torch.cat([x, h], 1) @ W_m.T,
                               x @ layout.weight_ih_l0.T + h @ layout.weight_hh_l0.T,
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("start", ["torch", "keras", "concat"])
@pytest.mark.parametrize("target", [to_torch, to_keras, to_concat])
def test_every_layout_computes_the_same_pre_activation(start, target):
    """Converting from any layout to any other keeps the function, each in its library's formula."""
    original = _torch_layout()
    source = {"torch": original, "keras": to_keras(original), "concat": to_concat(original)}[start]
    x, h = _step_inputs()
    torch.testing.assert_close(_pre_activation(target(source), x, h),
                               _pre_activation(original, x, h), rtol=0, atol=1e-12)


def test_shapes_of_each_layout():
    t = _torch_layout()
    k, c = to_keras(t), to_concat(t)
    assert (k.kernel.shape, k.recurrent_kernel.shape, k.bias.shape) == ((H_IN, H), (H, H), (H,))
    assert (c.kernel.shape, c.bias.shape, c.input_size) == ((H_IN + H, H), (H,), H_IN)


def test_keras_and_concat_round_trips_are_exact():
    """keras -> torch -> keras and concat -> keras -> concat return the same arrays."""
    keras = to_keras(_torch_layout())
    back = to_keras(to_torch(keras))
    for name in ("kernel", "recurrent_kernel", "bias"):
        assert torch.equal(getattr(back, name), getattr(keras, name)), name
    concat = to_concat(keras)
    again = to_concat(to_keras(concat))
    assert torch.equal(again.kernel, concat.kernel)
    assert torch.equal(again.bias, concat.bias)


def test_torch_round_trip_keeps_weights_and_bias_sum():
    """torch -> keras -> torch: same weights; the biases come back as (sum, 0)."""
    t = _torch_layout()
    back = to_torch(to_keras(t))
    assert torch.equal(back.weight_ih_l0, t.weight_ih_l0)
    assert torch.equal(back.weight_hh_l0, t.weight_hh_l0)
    torch.testing.assert_close(back.bias_ih_l0, t.bias_ih_l0 + t.bias_hh_l0, rtol=0, atol=0)
    assert torch.equal(back.bias_hh_l0, torch.zeros(H, dtype=torch.float64))


def test_from_module_and_load_into_move_a_torch_rnn():
    """A torch.nn.RNN's weights, through the concat layout and back, give the same outputs."""
    torch.manual_seed(0)
    rnn = nn.RNN(H_IN, H, dtype=torch.float64)
    other = nn.RNN(H_IN, H, dtype=torch.float64)
    to_torch(to_concat(TorchLayout.from_module(rnn))).load_into(other)
    x = torch.randn(6, N, H_IN, dtype=torch.float64)
    torch.testing.assert_close(other(x)[0], rnn(x)[0], rtol=0, atol=1e-12)
    assert not torch.equal(other.bias_hh_l0, rnn.bias_hh_l0)  # moved into bias_ih_l0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: KerasLayout(torch.zeros(3, 5), torch.zeros(5, 4), torch.zeros(5)),
         "recurrent_kernel: expected shape (5, 5), got (5, 4)"),
        (lambda: KerasLayout(torch.zeros(5, 3), torch.zeros(5, 5), torch.zeros(5)),
         "recurrent_kernel: expected shape (3, 3), got (5, 5)"),
        (lambda: KerasLayout(torch.zeros(3, 5), torch.zeros(5, 5), torch.zeros(3)),
         "bias: expected shape (5,), got (3,)"),
        (lambda: KerasLayout(torch.zeros(3, 5), torch.zeros(5, 5, dtype=torch.float64),
                             torch.zeros(5)),
         "recurrent_kernel: expected dtype torch.float32 (the dtype of kernel), got torch.float64"),
        (lambda: ConcatLayout(torch.zeros(5, 5), torch.zeros(5)),
         ("kernel: expected shape (H_in + H, H) with H_in >= 1, so more rows than columns, "
         "got (5, 5)")),
        (lambda: ConcatLayout(torch.zeros(8), torch.zeros(5)),
         "kernel: expected 2 dimensions (a matrix), got 1 (shape (8,))"),
        (lambda: TorchLayout(torch.zeros(5, 3), torch.zeros(5, 5), torch.zeros(5), torch.zeros(4)),
         "bias_hh_l0: expected shape (5,), got (4,)"),
        (lambda: TorchLayout(torch.zeros(5, 3), torch.zeros(3, 3), torch.zeros(5), torch.zeros(5)),
         "weight_hh_l0: expected shape (5, 5), got (3, 3)"),
        (lambda: TorchLayout([[0.0]], torch.zeros(1, 1), torch.zeros(1), torch.zeros(1)),
         "weight_ih_l0: expected a torch.Tensor, got list"),
        (lambda: concat_weights(torch.zeros(5, 3), torch.zeros(3, 3)),
         "W_hh: expected shape (5, 5), got (3, 3)"),
        (lambda: split_weights(torch.zeros(5, 5)),
         "W_m: expected shape (H, H_in + H) with H_in >= 1, so more columns than rows, got (5, 5)"),
        (lambda: to_keras({"kernel": torch.zeros(3, 5)}),
         "layout: expected a ConcatLayout, KerasLayout or TorchLayout, got dict"),
        (lambda: TorchLayout.from_module(nn.RNN(3, 5, num_layers=2)),
         ("rnn: expected one layer, one direction and bias=True, got num_layers=2, "
         "bidirectional=False, bias=True")),
        (lambda: TorchLayout.from_module(nn.GRU(3, 5)), "rnn: expected a torch.nn.RNN, got GRU"),
        (lambda: to_torch(to_keras(_torch_layout())).load_into(nn.RNN(4, 5, dtype=torch.float64)),
         "rnn.weight_ih_l0: expected shape (5, 3), got (5, 4)"),
    ],
)
def test_wrong_shapes_raise_clear_value_errors(make, message):
    """Every layout checks its arrays on construction; messages name expected and got."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        make()
