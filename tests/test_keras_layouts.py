"""keras_layouts: real Keras 3 layers (torch backend) and torch.nn agree after conversion."""

import re

import pytest
import torch
from torch import nn

from rnncourse import keras_layouts as kl  # sets KERAS_BACKEND=torch before keras is imported

keras = kl.keras  # the package, imported by kl with the torch backend

N, L, H_IN, H = 3, 5, 4, 6
TOL = {"rtol": 0, "atol": 1e-10}


def test_public_names_are_pinned():
    assert kl.__all__ == ["GATES", "from_keras", "keras_float64", "keras_gradients",
                          "keras_to_torch", "max_differences", "tf1_lstm_step",
                          "tf1_lstm_to_torch", "to_keras", "torch_to_keras"]


def _keras_layer(kind, seed, **kwargs):
    """A built float64 Keras layer with random weights (biases too, so that they are tested)."""
    layer = getattr(keras.layers, kind)(H, return_sequences=True, return_state=True,
                                        dtype="float64", **kwargs)
    layer.build((None, None, H_IN))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for variable in layer.weights:
            variable.value.copy_(0.5 * torch.randn(variable.shape, generator=g,
                                                   dtype=torch.float64))
    return layer


def _data(kind, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, L, H_IN, generator=g, dtype=torch.float64)  # (N, L, H_in): batch first
    states = [torch.randn(N, H, generator=g, dtype=torch.float64)
              for _ in range(2 if kind == "LSTM" else 1)]  # Keras: a list of (N, H)
    return x, states, torch.randn(N, L, H, generator=g, dtype=torch.float64)


def _by_hand(kind, layer, module, seed):
    """The comparison of max_differences, written out: Keras's and torch's results side by side."""
    x, states, dloss = _data(kind, seed)
    x_k, x_t = x.clone().requires_grad_(), x.clone().requires_grad_()
    with kl.keras_float64():
        out_k, *final_k = layer(x_k, initial_state=states)
    h_0 = tuple(s.unsqueeze(0) for s in states)  # torch: (num_layers, N, H) each
    out_t, final_t = module(x_t, h_0 if kind == "LSTM" else h_0[0])
    final_t = [s[0] for s in (final_t if kind == "LSTM" else (final_t,))]
    (out_k * dloss).sum().backward()
    (out_t * dloss).sum().backward()
    return (out_k, final_k, x_k.grad, kl.keras_gradients(layer)), (
        out_t, final_t, x_t.grad, {name: p.grad for name, p in module.named_parameters()})


@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
def test_keras_to_torch_outputs_and_gradients_agree(kind):
    layer = _keras_layer(kind, seed=1)
    module = kl.keras_to_torch(layer)
    assert type(module) is {"SimpleRNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}[kind]
    assert module.batch_first
    assert module.weight_ih_l0.dtype == torch.float64
    keras_side, torch_side = _by_hand(kind, layer, module, seed=2)
    torch.testing.assert_close(keras_side[0], torch_side[0], **TOL)
    for ours, theirs in zip(keras_side[1], torch_side[1], strict=True):
        torch.testing.assert_close(ours, theirs, **TOL)
    torch.testing.assert_close(keras_side[2], torch_side[2], **TOL)
    for name, grad in torch_side[3].items():
        torch.testing.assert_close(keras_side[3][name], grad, **TOL, msg=name)


@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
def test_torch_to_keras_outputs_and_gradients_agree(kind):
    torch.manual_seed(3)
    module = {"SimpleRNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}[kind](
        H_IN, H, batch_first=True, dtype=torch.float64)  # both of PyTorch's biases random
    layer = _keras_layer(kind, seed=4)
    kl.torch_to_keras(module, layer)
    keras_side, torch_side = _by_hand(kind, layer, module, seed=5)
    torch.testing.assert_close(keras_side[0], torch_side[0], **TOL)
    for name, grad in torch_side[3].items():
        torch.testing.assert_close(keras_side[3][name], grad, **TOL, msg=name)


@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
def test_max_differences(kind):
    """Tiny after a correct conversion, large after a wrong one; gradients are reset each call."""
    layer = _keras_layer(kind, seed=10)
    module = kl.keras_to_torch(layer)
    for _ in range(2):  # the second call must not see the first call's gradients
        gaps = kl.max_differences(layer, module, *_data(kind, seed=11))
        assert set(gaps) == {"output", "final state", "dx", "weight_ih_l0", "weight_hh_l0",
                             "bias_ih_l0", "bias_hh_l0"}
        assert max(gaps.values()) < 1e-10
    with torch.no_grad():
        module.weight_hh_l0.mul_(0.5)
    gaps = kl.max_differences(layer, module, *_data(kind, seed=11))
    assert gaps["output"] > 1e-3
    assert gaps["weight_hh_l0"] > 1e-3
    with pytest.raises(ValueError, match=r"^module: expected a batch_first torch.nn"):
        kl.max_differences(layer, type(module)(H_IN, H, dtype=torch.float64),
                           *_data(kind, seed=11))


@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
def test_array_round_trip(kind):
    """to_keras(from_keras(a)) == a; from_keras(to_keras(w)) == w up to moving b_hh into b_ih."""
    layer = _keras_layer(kind, seed=6)
    arrays = [v.value.detach() for v in layer.weights]
    for ours, theirs in zip(kl.to_keras(kind, kl.from_keras(kind, *arrays)), arrays, strict=True):
        assert torch.equal(ours, theirs)


@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
def test_array_round_trip_from_torch(kind):
    torch.manual_seed(12)
    module = {"SimpleRNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}[kind](H_IN, H)
    weights = {name: p.detach() for name, p in module.named_parameters()}
    back = kl.from_keras(kind, *kl.to_keras(kind, weights))
    for name in ("weight_ih_l0", "weight_hh_l0"):
        assert torch.equal(back[name], weights[name])
    torch.testing.assert_close(back["bias_ih_l0"] + back["bias_hh_l0"],
                               weights["bias_ih_l0"] + weights["bias_hh_l0"])
    if kind == "GRU":  # two Keras bias rows: both of PyTorch's biases kept as they are
        assert torch.equal(back["bias_hh_l0"], weights["bias_hh_l0"])


def test_gate_orders():
    """GRU: Keras z, r, h -> PyTorch r, z, n; LSTM: the same order; kernels transposed."""
    H_ = 2
    blocks = torch.arange(3.0).repeat_interleave(H_)  # block k holds the value k
    kernel = blocks.expand(1, -1)  # (H_in = 1, 3H)
    w = kl.from_keras("GRU", kernel, torch.zeros(H_, 3 * H_), torch.stack([blocks, blocks]))
    assert w["weight_ih_l0"].flatten().tolist() == [1.0, 1.0, 0.0, 0.0, 2.0, 2.0]
    assert w["bias_hh_l0"].tolist() == [1.0, 1.0, 0.0, 0.0, 2.0, 2.0]
    blocks4 = torch.arange(4.0).repeat_interleave(H_)
    w = kl.from_keras("LSTM", blocks4.expand(1, -1), torch.zeros(H_, 4 * H_), blocks4)
    assert w["weight_ih_l0"].flatten().tolist() == blocks4.tolist()
    assert w["bias_hh_l0"].abs().sum() == 0  # one Keras bias: all of it in bias_ih_l0


def test_keras_float64_is_needed_for_simple_rnn_and_restored():
    """Outside the block a float64 SimpleRNN rounds its products to float32; inside it does not."""
    layer = _keras_layer("SimpleRNN", seed=7)
    module = kl.keras_to_torch(layer)
    x = torch.randn(N, L, H_IN, dtype=torch.float64)
    with torch.no_grad():
        expected = module(x)[0]
        outside = float((layer(x)[0] - expected).abs().max())
        with kl.keras_float64():
            inside = float((layer(x)[0] - expected).abs().max())
        after = float((layer(x)[0] - expected).abs().max())
    assert 1e-10 < outside < 1e-5
    assert inside < 1e-12
    assert after == outside


def test_reset_before_gru_is_refused():
    layer = keras.layers.GRU(H, reset_after=False, dtype="float64")
    layer.build((None, None, H_IN))
    with pytest.raises(ValueError, match=r"'reset_after': True.*got .*'reset_after': False"):
        kl.keras_to_torch(layer)


def test_tf1_lstm_matches_torch_lstm():
    """TF1's i, j, f, o kernel on [x; h], forget_bias=1.0 at run time == nn.LSTM, converted."""
    g = torch.Generator().manual_seed(8)
    kernel = torch.randn(H_IN + H, 4 * H, generator=g, dtype=torch.float64)
    bias = torch.randn(4 * H, generator=g, dtype=torch.float64)
    x = torch.randn(L, N, H_IN, generator=g, dtype=torch.float64)
    h = c = torch.zeros(N, H, dtype=torch.float64)
    hs = []
    for x_t in x:
        h, c = kl.tf1_lstm_step(x_t, (h, c), kernel, bias)
        hs.append(h)
    lstm = nn.LSTM(H_IN, H, dtype=torch.float64)
    lstm.load_state_dict(kl.tf1_lstm_to_torch(kernel, bias, H_IN))
    with torch.no_grad():
        torch.testing.assert_close(lstm(x)[0], torch.stack(hs), **TOL)
        lstm.load_state_dict(kl.tf1_lstm_to_torch(kernel, bias, H_IN, forget_bias=0.0))
        assert (lstm(x)[0] - torch.stack(hs)).abs().max() > 1e-3  # forget_bias is not optional


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: kl.from_keras("RNN", torch.ones(3, 2), torch.eye(2), torch.zeros(2)),
         "kind: expected one of ['GRU', 'LSTM', 'SimpleRNN'], got 'RNN'"),
        (lambda: kl.from_keras("GRU", torch.ones(3, 6), torch.ones(2, 6), torch.zeros(6)),
         "bias: expected shape (2, 6), got (6,)"),
        (lambda: kl.from_keras("LSTM", torch.ones(3, 6), torch.ones(2, 6), torch.zeros(6)),
         "recurrent_kernel: expected shape (H, 4 H) for a LSTM, got (2, 6)"),
        (lambda: kl.to_keras("GRU", {"weight_ih_l0": torch.ones(6, 3)}),
         ("weights: expected a dict with keys ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', "
          "'bias_hh_l0'], got ['weight_ih_l0']")),
        (lambda: kl.keras_to_torch(nn.GRU(2, 3)),
         "layer: expected a keras.layers.SimpleRNN, GRU or LSTM, got GRU"),
        (lambda: kl.keras_to_torch(keras.layers.LSTM(3)),
         "layer: expected a built LSTM (call it once or layer.build(shape)), got an unbuilt one"),
        (lambda: kl.tf1_lstm_to_torch(torch.ones(5, 8), torch.ones(8), 4),
         "kernel: expected shape (6, 8), got (5, 8)"),
    ],
)
def test_bad_input_raises_clear_value_error(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


def test_torch_to_keras_checks_the_module():
    layer = _keras_layer("GRU", seed=9)
    with pytest.raises(ValueError,
                       match=r"^module: expected a torch.nn.GRU for a Keras GRU, got LSTM$"):
        kl.torch_to_keras(nn.LSTM(H_IN, H, dtype=torch.float64), layer)
    with pytest.raises(ValueError,
                       match=r"^layer's GRU weights: expected shape \(5, 18\), got \(4, 18\)$"):
        kl.torch_to_keras(nn.GRU(H_IN, H, dtype=torch.float64), _keras_layer_other_input())


def _keras_layer_other_input():
    layer = keras.layers.GRU(H, dtype="float64")
    layer.build((None, None, H_IN + 1))
    return layer
