"""GRU and LSTM from their equations against torch.nn.GRU / torch.nn.LSTM, and clear errors."""

import pytest
import torch
from torch import nn

from rnncourse.gated import GRU, GRU_GATES, LSTM, LSTM_GATES, gru_step, lstm_gates, lstm_step

H_IN, H = 4, 6


def _pair(kind: str, batch_first: bool, *, bias: bool = True, seed: int = 0):
    torch.manual_seed(seed)
    if kind == "gru":
        ref = nn.GRU(H_IN, H, batch_first=batch_first, bias=bias, dtype=torch.float64)
        return ref, GRU.from_torch(ref)
    ref = nn.LSTM(H_IN, H, batch_first=batch_first, bias=bias, dtype=torch.float64)
    return ref, LSTM.from_torch(ref)


def _initial_state(kind: str, N: int | None):
    shape = (1, H) if N is None else (1, N, H)
    h_0 = torch.randn(shape, dtype=torch.float64)
    return h_0 if kind == "gru" else (h_0, torch.randn(shape, dtype=torch.float64))


def _last(kind: str, state):
    return [state] if kind == "gru" else list(state)


def _our_grad(ours, kind: str, name: str, blocks: str) -> torch.Tensor:
    """Our gradients stacked in PyTorch's row-block order, to compare with ``name``'s grad."""
    gates = GRU_GATES if kind == "gru" else LSTM_GATES
    parts = []
    for gate in gates:
        if blocks == "W_x":
            parts.append(getattr(ours, f"W_x{gate}").grad)
        elif blocks == "W_h":
            parts.append(getattr(ours, f"W_h{gate}").grad)
        elif gate == "n":  # GRU candidate: separate input and hidden biases
            parts.append(ours.b_xn.grad if blocks == "b_ih" else ours.b_hn.grad)
        else:  # a summed bias gets the same gradient as each of PyTorch's two
            parts.append(getattr(ours, f"b_{gate}").grad)
    return torch.cat(parts)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("L", [1, 9, 300])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_matches_torch_outputs_and_gradients(kind, L, batch_first, with_state):
    """Outputs, final states and every gradient agree with PyTorch to 1e-12 in float64."""
    ref, ours = _pair(kind, batch_first)
    N = 3
    x = torch.randn((N, L, H_IN) if batch_first else (L, N, H_IN), dtype=torch.float64)
    state = _initial_state(kind, N) if with_state else None
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref, last_ref = ref(x_ref, state)
    out_ours, last_ours = ours(x_ours, state)
    torch.testing.assert_close(out_ours, out_ref, rtol=0, atol=1e-12)
    for a, b in zip(_last(kind, last_ours), _last(kind, last_ref), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    w = torch.randn_like(out_ref)
    v = [torch.randn_like(s) for s in _last(kind, last_ref)]
    for out, last in ((out_ref, last_ref), (out_ours, last_ours)):
        loss = (out * w).sum() + sum((s * vi).sum() for s, vi in zip(_last(kind, last), v,
                                                                      strict=True))
        loss.backward()
    for name, blocks in (("weight_ih_l0", "W_x"), ("weight_hh_l0", "W_h"),
                         ("bias_ih_l0", "b_ih"), ("bias_hh_l0", "b_hh")):
        torch.testing.assert_close(_our_grad(ours, kind, name, blocks),
                                   getattr(ref, name).grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(x_ours.grad, x_ref.grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_unbatched_matches_torch(kind):
    """An unbatched (L, H_in) input gives the shapes and values PyTorch gives."""
    ref, ours = _pair(kind, batch_first=False)
    x = torch.randn(5, H_IN, dtype=torch.float64)
    state = _initial_state(kind, None)
    out_ref, last_ref = ref(x, state)
    out_ours, last_ours = ours(x, state)
    assert out_ours.shape == (5, H)
    torch.testing.assert_close(out_ours, out_ref, rtol=0, atol=1e-12)
    for a, b in zip(_last(kind, last_ours), _last(kind, last_ref), strict=True):
        assert a.shape == b.shape == (1, H)
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_without_bias_matches_torch(kind):
    """A PyTorch module built with bias=False loads as zero biases."""
    ref, ours = _pair(kind, batch_first=True, bias=False)
    x = torch.randn(2, 5, H_IN, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_gradcheck(kind):
    """torch.autograd.gradcheck passes on input, initial state and every parameter."""
    torch.manual_seed(1)
    model = (GRU if kind == "gru" else LSTM)(2, 3, dtype=torch.float64)
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    h_0 = torch.randn(1, 2, 3, dtype=torch.float64, requires_grad=True)
    c_0 = torch.randn(1, 2, 3, dtype=torch.float64, requires_grad=True)
    names = [name for name, _ in model.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in model.parameters()]

    def run(x, h_0, c_0, *values):
        out = torch.func.functional_call(model, dict(zip(names, values, strict=True)),
                                         (x, h_0 if kind == "gru" else (h_0, c_0)))
        return out[0]

    assert torch.autograd.gradcheck(run, (x, h_0, c_0, *params))


def test_gru_step_is_one_step_of_the_module():
    """gru_step applied L times reproduces GRU's output; z = 1 keeps the state exactly."""
    _, ours = _pair("gru", batch_first=False)
    x = torch.randn(5, 2, H_IN, dtype=torch.float64)
    h = torch.zeros(2, H, dtype=torch.float64)
    steps = []
    for x_t in x:
        h = gru_step(x_t, h, **ours.weights())
        steps.append(h)
    torch.testing.assert_close(torch.stack(steps), ours(x)[0], rtol=0, atol=1e-12)
    weights = ours.weights()
    weights["b_z"] = torch.full((H,), 1e3, dtype=torch.float64)  # z_t = 1 to machine precision
    torch.testing.assert_close(gru_step(x[0], h, **weights), h, rtol=0, atol=0)


def test_lstm_step_is_one_step_of_the_module_and_cell_jacobian_is_diag_f():
    """lstm_step reproduces LSTM; with gates held fixed, dc_t/dc_{t-1} = diag(f_t)."""
    _, ours = _pair("lstm", batch_first=False)
    x = torch.randn(5, 1, H_IN, dtype=torch.float64)
    h = c = torch.zeros(1, H, dtype=torch.float64)
    steps = []
    for x_t in x:
        h, c = lstm_step(x_t, h, c, **ours.weights())
        steps.append(h)
    torch.testing.assert_close(torch.stack(steps), ours(x)[0], rtol=0, atol=1e-12)
    _, f, _, _ = lstm_gates(x[0], h, **ours.weights())
    jac = torch.autograd.functional.jacobian(
        lambda c_prev: lstm_step(x[0], h, c_prev, **ours.weights())[1], c)  # h held fixed
    torch.testing.assert_close(jac.reshape(H, H), torch.diag(f[0]), rtol=0, atol=1e-15)


def test_forget_bias_and_parameter_counts():
    """forget_bias fills b_f; parameter counts are 3 and 4 times Elman's (plus the GRU's b_hn)."""
    lstm = LSTM(5, 7, forget_bias=1.0)
    assert torch.equal(lstm.b_f, torch.ones(7))
    n_lstm = sum(p.numel() for p in lstm.parameters())
    n_gru = sum(p.numel() for p in GRU(5, 7).parameters())
    assert n_lstm == 4 * 7 * (5 + 7 + 1)
    assert n_gru == 3 * 7 * (5 + 7 + 1) + 7
    # PyTorch counts the GRU's and LSTM's two bias vectors separately, so it has H or 4H more
    assert sum(p.numel() for p in nn.GRU(5, 7).parameters()) == n_gru + 2 * 7
    assert sum(p.numel() for p in nn.LSTM(5, 7).parameters()) == n_lstm + 4 * 7


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m([[0.0] * H_IN]), "x: expected a torch.Tensor, got list"),
        (lambda m: m(torch.zeros(2, 3, 5)), "x: expected shape (L, N, 4) or (L, 4), got (2, 3, 5)"),
        (lambda m: m(torch.zeros(2, 3, H_IN, dtype=torch.float64)),
         "x: expected dtype torch.float32"),
        (lambda m: m(torch.zeros(2, 3, 4, 1)),
         "x: expected shape (L, N, 4) or (L, 4), got (2, 3, 4, 1)"),
        (lambda m: m(torch.zeros(0, 3, H_IN)), "expected a sequence of length L >= 1"),
    ],
)
@pytest.mark.parametrize("cls", [GRU, LSTM])
def test_bad_input_raises_value_error(cls, call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(cls(H_IN, H))


def test_bad_states_and_constructors_raise_value_error():
    x = torch.zeros(2, 3, H_IN)
    with pytest.raises(ValueError, match=r"h_0: expected shape \(1, 3, 6\), got \(1, 2, 6\)"):
        GRU(H_IN, H)(x, torch.zeros(1, 2, H))
    with pytest.raises(ValueError, match=r"c_0: expected shape \(1, 3, 6\), got \(3, 6\)"):
        LSTM(H_IN, H)(x, (torch.zeros(1, 3, H), torch.zeros(3, H)))
    with pytest.raises(ValueError, match="state: expected None or a pair"):
        LSTM(H_IN, H)(x, torch.zeros(1, 3, H))
    with pytest.raises(ValueError, match="expected both h_0 and c_0 or neither"):
        LSTM(H_IN, H)(x, (torch.zeros(1, 3, H), None))
    with pytest.raises(ValueError, match="hidden_size: expected a positive int, got 0"):
        GRU(H_IN, 0)
    with pytest.raises(ValueError, match=r"expected a torch\.nn\.GRU, got LSTM"):
        GRU.from_torch(nn.LSTM(2, 3))
    with pytest.raises(ValueError, match=r"lstm\.num_layers: expected 1, got 2"):
        LSTM.from_torch(nn.LSTM(2, 3, num_layers=2))
    with pytest.raises(ValueError, match="forget_bias: expected a number or None, got 'one'"):
        LSTM(2, 3, forget_bias="one")
