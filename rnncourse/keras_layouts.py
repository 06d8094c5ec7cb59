"""Keras 3 recurrent layers and PyTorch's: the same cells, stored differently, converted.

Taught in chapter 3 (three layouts of one model). Keras 3 runs on the PyTorch backend
(``KERAS_BACKEND=torch``; importing this module sets it when it is unset), so its layers
take and return torch tensors and their weights are ``torch.nn.Parameter``s. Per layer,
with H units and H_in inputs, Keras keeps three arrays and PyTorch four:

=========  ===================================  =====================================
layer      Keras 3: kernel, recurrent_kernel,    PyTorch: weight_ih_l0, weight_hh_l0,
           bias (gates along the last axis)      bias_ih_l0, bias_hh_l0 (gates on rows)
=========  ===================================  =====================================
SimpleRNN  (H_in, H), (H, H), (H,)              (H, H_in), (H, H), (H,), (H,)
GRU        (H_in, 3H), (H, 3H), (2, 3H); z r h  (3H, H_in), (3H, H), (3H,), (3H,); r z n
LSTM       (H_in, 4H), (H, 4H), (4H,); i f c o  (4H, H_in), (4H, H), (4H,), (4H,); i f g o
=========  ===================================  =====================================

The traps, each handled here: kernels are (in, out) in Keras and (out, in) in PyTorch
(transpose); the GRU's gate blocks come in another order (z, r vs r, z: swap the first two);
the LSTM's come in the same order under other names (Keras's c is PyTorch's g); a Keras
GRU with ``reset_after=True`` (the default) has one bias row for the input product and one
for the recurrent product, exactly PyTorch's two, while Keras's one-bias layers become
``bias_ih = bias``, ``bias_hh = 0`` (only the sum enters those cells). A Keras GRU with
``reset_after=False`` applies r before the recurrent matrix, W_h (r * h), as Cho et al.
(2014) did; ``torch.nn.GRU`` applies it after, r * (W_hn h + b_hn) (cuDNN's variant), so no
``nn.GRU`` computes it, and converting it raises ``ValueError``.

The TensorFlow 1.x LSTM cell (``tf.compat.v1.nn.rnn_cell.LSTMCell``) is also converted
(TensorFlow itself is not installed here; :func:`tf1_lstm_step` is the course's reading of
its formula): one kernel (H_in + H, 4H) on [x; h], gates i, j, f, o with j the candidate,
and ``forget_bias`` (default 1.0) added to f at run time, not stored in ``bias``.

One more trap, of Keras on the torch backend rather than of layouts: ``keras.ops`` follows
JAX's default type promotion and demotes 64-bit results to 32 bits, so a float64
``SimpleRNN`` computes its products in float32 (keras-team/keras issue 23704; the GRU with
``reset_after=True`` and the LSTM, in their fused torch-backend code path (no mask, default
activations), call ``torch.matmul`` directly and stay float64). :func:`keras_float64` turns
that demotion off for a ``with`` block, for checks at float64 precision.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported: no TensorFlow

import keras
import torch
from keras.src.backend.common import dtypes as _keras_dtypes
from torch import nn

from rnncourse._validation import check_shape, check_tensor

if keras.backend.backend() != "torch":  # keras was imported earlier with another backend
    raise ImportError("rnncourse.keras_layouts: expected Keras on the torch backend "
                      f"(KERAS_BACKEND=torch), got {keras.backend.backend()!r}")

__all__ = [
    "GATES",
    "from_keras",
    "keras_float64",
    "keras_gradients",
    "keras_to_torch",
    "max_differences",
    "tf1_lstm_step",
    "tf1_lstm_to_torch",
    "to_keras",
    "torch_to_keras",
]

GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}  # gate blocks of H rows (PyTorch) or columns
_TORCH_MODULES = {"SimpleRNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}
_TORCH_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
TorchWeights = dict[str, torch.Tensor]


def _check_kind(kind: object) -> str:
    if kind not in GATES:
        raise ValueError(f"kind: expected one of {sorted(GATES)}, got {kind!r}")
    return kind


def _gate_order(kind: str, blocks: list[torch.Tensor]) -> list[torch.Tensor]:
    """Keras's gate blocks in PyTorch's order, or back: the map is its own inverse."""
    if kind == "GRU":  # Keras z, r, h; PyTorch r, z, n
        return [blocks[1], blocks[0], blocks[2]]
    return blocks  # SimpleRNN: one block; LSTM: i, f, c, o = i, f, g, o


def _reorder_rows(kind: str, value: torch.Tensor) -> torch.Tensor:
    """Reorder the gate blocks along dim 0 (PyTorch's gates are rows)."""
    return torch.cat(_gate_order(kind, list(value.chunk(GATES[kind], dim=0))), dim=0)


def _check_keras_arrays(kind: str, kernel: object, recurrent_kernel: object, bias: object
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    kernel = check_tensor("kernel", kernel)
    recurrent_kernel = check_tensor("recurrent_kernel", recurrent_kernel)
    bias = check_tensor("bias", bias)
    if recurrent_kernel.ndim != 2 or recurrent_kernel.shape[1] % GATES[kind]:
        raise ValueError(f"recurrent_kernel: expected shape (H, {GATES[kind]} H) for a {kind}, "
                         f"got {tuple(recurrent_kernel.shape)}")
    H = recurrent_kernel.shape[0]
    G = GATES[kind] * H
    check_shape("recurrent_kernel", recurrent_kernel, (H, G))
    if kernel.ndim != 2:
        raise ValueError(f"kernel: expected shape (H_in, {G}), got {tuple(kernel.shape)}")
    check_shape("kernel", kernel, (kernel.shape[0], G))
    check_shape("bias", bias, (2, G) if kind == "GRU" else (G,))
    return kernel, recurrent_kernel, bias


def from_keras(
    kind: str, kernel: torch.Tensor, recurrent_kernel: torch.Tensor, bias: torch.Tensor
) -> TorchWeights:
    """Keras arrays -> PyTorch's four, by name: W_ih = kernel^T with gates reordered, etc.

    ``kind``: ``"SimpleRNN"``, ``"GRU"`` (``reset_after=True``: ``bias`` (2, 3H), row 0 on
    the input product, row 1 on the recurrent one) or ``"LSTM"``. One Keras bias (SimpleRNN,
    LSTM) becomes ``bias_ih_l0``, with zeros in ``bias_hh_l0``: the cell sees only the sum.

    Example:
        >>> w = from_keras("SimpleRNN", torch.ones(3, 2), torch.eye(2), torch.zeros(2))
        >>> {name: tuple(t.shape) for name, t in w.items()}
        {'weight_ih_l0': (2, 3), 'weight_hh_l0': (2, 2), 'bias_ih_l0': (2,), 'bias_hh_l0': (2,)}
    """
    kind = _check_kind(kind)
    kernel, recurrent_kernel, bias = _check_keras_arrays(kind, kernel, recurrent_kernel, bias)
    if kind == "GRU":
        b_ih, b_hh = bias[0], bias[1]  # (3H,), (3H,)
    else:
        b_ih, b_hh = bias, torch.zeros_like(bias)  # (G,), (G,)
    arrays = (kernel.T, recurrent_kernel.T, b_ih, b_hh)  # (G, H_in), (G, H), (G,), (G,)
    return {name: _reorder_rows(kind, a).detach().clone()
            for name, a in zip(_TORCH_NAMES, arrays, strict=True)}


def to_keras(kind: str, weights: TorchWeights) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PyTorch's four arrays (one layer's state dict) -> (kernel, recurrent_kernel, bias).

    The inverse of :func:`from_keras`; for SimpleRNN and LSTM the two biases are summed
    (Keras has one), for the GRU they become the rows of the (2, 3H) bias.
    """
    kind = _check_kind(kind)
    if not isinstance(weights, dict) or set(_TORCH_NAMES) - set(weights):
        got = sorted(weights) if isinstance(weights, dict) else type(weights).__name__
        raise ValueError(f"weights: expected a dict with keys {list(_TORCH_NAMES)}, got {got}")
    W_ih, W_hh, b_ih, b_hh = (_reorder_rows(kind, check_tensor(name, weights[name]))
                              for name in _TORCH_NAMES)
    bias = torch.stack([b_ih, b_hh]) if kind == "GRU" else b_ih + b_hh  # (2, G) or (G,)
    kernel, recurrent_kernel = W_ih.T, W_hh.T  # (H_in, G), (H, G)
    _check_keras_arrays(kind, kernel, recurrent_kernel, bias)
    return kernel.detach().clone(), recurrent_kernel.detach().clone(), bias.detach().clone()


@contextlib.contextmanager
def keras_float64() -> Iterator[None]:
    """Inside the block, ``keras.ops`` keeps float64 results float64 (outside, float32).

    Keras's promotion table maps float64 to float32 on every backend but TensorFlow; this
    sets that one entry to float64 and restores it on exit.
    """
    table = _keras_dtypes.BIT64_TO_BIT32_DTYPE
    saved = table["float64"]
    table["float64"] = "float64"
    try:
        yield
    finally:
        table["float64"] = saved


def _layer_kind(layer: object) -> str:
    for kind in GATES:
        if isinstance(layer, getattr(keras.layers, kind)):
            break
    else:
        raise ValueError("layer: expected a keras.layers.SimpleRNN, GRU or LSTM, "
                         f"got {type(layer).__name__}")
    cell = layer.cell
    if not cell.built:
        raise ValueError(f"layer: expected a built {kind} (call it once or layer.build(shape)), "
                         "got an unbuilt one")
    expected = {"activation": "tanh", "use_bias": True}
    got = {"activation": keras.activations.serialize(cell.activation), "use_bias": cell.use_bias}
    if kind != "SimpleRNN":
        expected["recurrent_activation"] = "sigmoid"
        got["recurrent_activation"] = keras.activations.serialize(cell.recurrent_activation)
    if kind == "GRU":
        expected["reset_after"] = True  # False is Cho et al.'s r-before-the-matrix GRU
        got["reset_after"] = cell.reset_after
    if got != expected:
        raise ValueError(f"layer: expected a {kind} with {expected} (what torch.nn computes), "
                         f"got {got}")
    return kind


def _keras_arrays(layer: object) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    cell = layer.cell
    return cell.kernel.value, cell.recurrent_kernel.value, cell.bias.value


def keras_to_torch(layer: object) -> nn.RNN | nn.GRU | nn.LSTM:
    """A new ``torch.nn.RNN``/``GRU``/``LSTM`` computing what the built Keras ``layer`` computes.

    It is ``batch_first=True`` (Keras's inputs are (N, L, H_in)) and has the layer's dtype.
    Its ``h_0`` is (1, N, H), num_layers first even with ``batch_first``; Keras's
    ``initial_state`` is a list of (N, H).
    """
    kind = _layer_kind(layer)
    weights = from_keras(kind, *_keras_arrays(layer))
    G, H_in = weights["weight_ih_l0"].shape
    module = _TORCH_MODULES[kind](H_in, G // GATES[kind], batch_first=True,
                                  dtype=weights["weight_ih_l0"].dtype)
    module.load_state_dict(weights)
    return module


def torch_to_keras(module: nn.RNN | nn.GRU | nn.LSTM, layer: object) -> None:
    """Load a one-layer ``torch.nn.RNN``/``GRU``/``LSTM`` into the built Keras ``layer``."""
    kind = _layer_kind(layer)
    expected = _TORCH_MODULES[kind]
    if type(module) is not expected:
        raise ValueError(f"module: expected a torch.nn.{expected.__name__} for a Keras {kind}, "
                         f"got {type(module).__name__}")
    if module.num_layers != 1 or module.bidirectional or not module.bias:
        raise ValueError("module: expected one layer, one direction and bias=True, got "
                         f"num_layers={module.num_layers}, bidirectional={module.bidirectional}, "
                         f"bias={module.bias}")
    if kind == "SimpleRNN" and module.nonlinearity != "tanh":
        raise ValueError(f"module: expected nonlinearity='tanh', got {module.nonlinearity!r}")
    arrays = to_keras(kind, dict(module.named_parameters()))
    for variable, value in zip(_keras_arrays(layer), arrays, strict=True):
        check_shape(f"layer's {kind} weights", value, tuple(variable.shape))
        with torch.no_grad():
            variable.copy_(value)


def keras_gradients(layer: object) -> TorchWeights:
    """The gradients held by the Keras ``layer``'s weights, named and shaped as PyTorch's.

    The chain rule through :func:`from_keras`: a transpose and a reorder move the gradient
    the same way, and where PyTorch's two biases are only added (SimpleRNN, LSTM) each of
    them has the gradient of Keras's one bias. Raises ``ValueError`` before any backward.
    """
    kind = _layer_kind(layer)
    grads = [a.grad for a in _keras_arrays(layer)]
    if any(g is None for g in grads):
        raise ValueError("layer: expected gradients on kernel, recurrent_kernel and bias "
                         "(run backward first), got None")
    out = from_keras(kind, *grads)
    if kind != "GRU":
        out["bias_hh_l0"] = out["bias_ih_l0"].clone()  # dL/db_hh = dL/db_ih = dL/db
    return out


def max_differences(
    layer: object,
    module: nn.RNN | nn.GRU | nn.LSTM,
    x: torch.Tensor,
    initial_state: list[torch.Tensor],
    dloss: torch.Tensor,
) -> dict[str, float]:
    """Run the Keras ``layer`` and the torch ``module`` on the same data; largest |difference|.

    ``x`` (N, L, H_in) batch first, ``initial_state`` Keras's list of (N, H) (two for an
    LSTM: h and c), ``dloss`` (N, L, H) a fixed dLoss/d(output). The layer must return
    sequences and states (``return_sequences=True, return_state=True``); it runs inside
    :func:`keras_float64`, the module with ``h_0`` as (num_layers = 1, N, H). Returns the
    differences of the outputs, the final states, dLoss/dx and the gradient of each of the
    module's parameters (PyTorch's names, :func:`keras_gradients` on the Keras side).
    """
    kind = _layer_kind(layer)
    if type(module) is not _TORCH_MODULES[kind] or not module.batch_first:
        flag = "" if getattr(module, "batch_first", True) else " (batch_first=False)"
        raise ValueError(f"module: expected a batch_first torch.nn.{_TORCH_MODULES[kind].__name__}"
                         f", got {type(module).__name__}{flag}")
    for p in [*module.parameters(), *_keras_arrays(layer)]:
        p.grad = None
    x_keras = check_tensor("x", x).detach().clone().requires_grad_()
    x_torch = x.detach().clone().requires_grad_()
    with keras_float64():
        out_keras, *final_keras = layer(x_keras, initial_state=list(initial_state))
    h_0 = tuple(s.unsqueeze(0) for s in initial_state)  # (1, N, H) each: num_layers first
    out_torch, final_torch = module(x_torch, h_0 if kind == "LSTM" else h_0[0])
    final_torch = final_torch if kind == "LSTM" else (final_torch,)
    (out_keras * dloss).sum().backward()
    (out_torch * dloss).sum().backward()
    grads = keras_gradients(layer)

    def gap(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).detach().abs().max())

    result = {"output": gap(out_keras, out_torch),
              "final state": max(gap(a, b[0]) for a, b in zip(final_keras, final_torch,
                                                              strict=True)),
              "dx": gap(x_keras.grad, x_torch.grad)}
    result.update({name: gap(grads[name], p.grad) for name, p in module.named_parameters()})
    return result


def tf1_lstm_step(
    x: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor],
    kernel: torch.Tensor,
    bias: torch.Tensor,
    forget_bias: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of TensorFlow 1.x's LSTM cell: (h, c) from x (N, H_in) and (h, c) (N, H).

        i, j, f, o = split(concat([x, h]) @ kernel + bias, 4)       kernel (H_in + H, 4H)
        c' = c * sigmoid(f + forget_bias) + sigmoid(i) * tanh(j)     bias (4H,)
        h' = tanh(c') * sigmoid(o)

    ``forget_bias`` is added at run time; it is not part of ``bias``.
    """
    h, c = state
    i, j, f, o = (torch.cat([x, h], dim=1) @ kernel + bias).chunk(4, dim=1)  # (N, H) each
    c = c * torch.sigmoid(f + forget_bias) + torch.sigmoid(i) * torch.tanh(j)  # (N, H)
    return torch.tanh(c) * torch.sigmoid(o), c


def tf1_lstm_to_torch(
    kernel: torch.Tensor, bias: torch.Tensor, input_size: int, forget_bias: float = 1.0
) -> TorchWeights:
    """TF1 LSTM arrays -> ``torch.nn.LSTM``'s four (a state dict).

    The kernel's first ``input_size`` rows are W_ih^T, the rest W_hh^T; the gates are
    reordered i, j, f, o -> i, f, g, o; ``forget_bias`` is added to f's block of
    ``bias_ih_l0`` (TensorFlow adds it at run time).
    """
    kernel, bias = check_tensor("kernel", kernel), check_tensor("bias", bias)
    if kernel.ndim != 2 or kernel.shape[1] % 4:
        raise ValueError(f"kernel: expected shape (H_in + H, 4H), got {tuple(kernel.shape)}")
    H = kernel.shape[1] // 4
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
        raise ValueError(f"input_size: expected a positive int, got {input_size!r}")
    check_shape("kernel", kernel, (input_size + H, 4 * H))
    check_shape("bias", bias, (4 * H,))

    def reorder(value: torch.Tensor) -> torch.Tensor:  # rows i, j, f, o -> i, f, g=j, o
        i, j, f, o = value.chunk(4, dim=0)
        return torch.cat([i, f, j, o], dim=0)

    b_ih = reorder(bias).clone()
    b_ih[H:2 * H] += forget_bias  # f's block: the run-time constant becomes a stored bias
    return {
        "weight_ih_l0": reorder(kernel[:input_size].T).clone(),  # (4H, H_in)
        "weight_hh_l0": reorder(kernel[input_size:].T).clone(),  # (4H, H)
        "bias_ih_l0": b_ih,  # (4H,)
        "bias_hh_l0": torch.zeros_like(b_ih),  # (4H,)
    }
