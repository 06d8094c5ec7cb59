"""Truncated BPTT: chunks of k steps, state carried and detached.

Also the missing-detach bug and the k-vs-L trade-off.
"""

import re

import pytest
import torch
import torch.nn.functional as F

from rnncourse.bptt import ElmanWithReadout
from rnncourse.reproducibility import seed_everything
from rnncourse.train import train
from rnncourse.truncated_bptt import OverlappingTruncatedBPTT, TruncatedBPTT


def _mse(y, z):
    return (y - z).pow(2).mean()


def _data(S=12, N=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(S, N, 3, generator=g, dtype=torch.float64)  # (S, N, H_in)
    target = torch.randn(S, N, 2, generator=g, dtype=torch.float64)  # (S, N, H_out)
    return x, target


def test_forward_sees_the_whole_past_and_gradient_stops_at_the_chunk():
    """Chunk c's output equals the full run's; its gradient, a run's from a constant h."""
    x, z = _data()
    model = ElmanWithReadout(3, 4, 2, dtype=torch.float64)
    y_full, _ = model(x)
    _, h_boundary = model(x[:8])
    tbptt = TruncatedBPTT(x, z, k=4, loss=_mse)
    for step in range(3):
        model.zero_grad()
        loss = tbptt(model, step)
        loss.backward()
    torch.testing.assert_close(loss, _mse(y_full[8:], z[8:]), rtol=0, atol=1e-12)
    got = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    y_chunk, _ = model(x[8:], h_boundary.detach())
    _mse(y_chunk, z[8:]).backward()
    for a, b in zip(got, [p.grad for p in model.parameters()], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_state_is_reset_at_the_start_of_each_pass():
    x, z = _data()
    model = ElmanWithReadout(3, 4, 2, dtype=torch.float64)
    tbptt = TruncatedBPTT(x, z, k=6, loss=_mse)
    first = [float(tbptt(model, s).detach()) for s in range(2)]
    again = [float(tbptt(model, s).detach()) for s in range(2, 4)]
    assert first == again


def test_missing_detach_fails_on_the_second_backward():
    """Carrying h without detach() links to a freed graph: the second backward raises."""
    x, z = _data()
    model = ElmanWithReadout(3, 4, 2, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        train(model, TruncatedBPTT(x, z, k=4, loss=_mse, detach=False), steps=2, progress=False)
    train(model, TruncatedBPTT(x, z, k=4, loss=_mse), steps=6, progress=False)


def _delay_accuracy(k: int, L: int = 3, S: int = 1200, N: int = 16) -> float:
    g = seed_everything(0)

    def stream(S, N):
        bits = torch.randint(0, 2, (S + L, N, 1), generator=g).float()  # (S + L, N, 1)
        return 2 * bits[L:] - 1, bits[:-L]  # x_t = +-1, target: the bit of step t - L

    x, z = stream(S, N)
    model = ElmanWithReadout(1, 16, 1)
    tbptt = TruncatedBPTT(x, z, k, loss=F.binary_cross_entropy_with_logits)
    train(model, tbptt, tbptt.n_chunks, lr=1e-2, progress=False)
    x_test, z_test = stream(500, 32)
    with torch.no_grad():
        y, _ = model(x_test)
    return float(((y[L:] > 0).float() == z_test[L:]).float().mean())


def test_a_dependency_of_L_steps_needs_k_greater_than_L():
    """Recall the input L = 3 steps back: k = 2 stays near chance, k = 6 learns it."""
    assert _delay_accuracy(k=2) < 0.6
    assert _delay_accuracy(k=6) > 0.95


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 5}, "k: expected an int in [1, 12] that divides S = 12, got 5"),
        ({"k": 0}, "k: expected an int in [1, 12] that divides S = 12, got 0"),
        ({"target": torch.zeros(12, 3, 2)},
         "target: expected leading shape (12, 2) (S, N) like x, got (12, 3)"),
        ({"x": torch.zeros(12, 3)}, "x: expected shape (S, N, H_in), got (12, 3)"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    x, z = _data()
    args = {"x": x, "target": z, "k": 4, "loss": _mse, **kwargs}
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        TruncatedBPTT(**args)


def test_parallel_streams_layout():
    """Column n is the n-th contiguous piece, in order; the tail that does not fit is dropped."""
    from rnncourse.truncated_bptt import parallel_streams

    corpus = torch.arange(23)
    streams = parallel_streams(corpus, 4)  # S = 5, 3 items dropped
    assert streams.shape == (5, 4)
    for n in range(4):
        assert torch.equal(streams[:, n], corpus[5 * n: 5 * n + 5])
    features = torch.randn(12, 3)
    assert torch.equal(parallel_streams(features, 2)[:, 1], features[6:12])


def test_parallel_streams_bad_input():
    """n_streams outside [1, M] raises ValueError naming expected and got."""
    from rnncourse.truncated_bptt import parallel_streams

    with pytest.raises(ValueError, match=r"n_streams: expected an int in \[1, 5\], got 6"):
        parallel_streams(torch.arange(5), 6)
    with pytest.raises(ValueError, match="sequence: expected at least 1 dimension"):
        parallel_streams(torch.tensor(3.0), 1)


def _grads(model):
    return [p.grad.clone() for p in model.parameters()]


def test_k1_equal_to_k2_is_truncated_bptt():
    x, z = _data()
    model = ElmanWithReadout(3, 4, 2, dtype=torch.float64)
    plain, overlapping = TruncatedBPTT(x, z, k=4, loss=_mse), OverlappingTruncatedBPTT(
        x, z, k1=4, k2=4, loss=_mse)
    for step in range(6):  # two passes
        model.zero_grad()
        a = plain(model, step)
        a.backward()
        grads_a = _grads(model)
        model.zero_grad()
        b = overlapping(model, step)
        b.backward()
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
        for ga, gb in zip(grads_a, _grads(model), strict=True):
            torch.testing.assert_close(ga, gb, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("k1", "k2"), [(2, 5), (3, 4), (3, 7), (4, 12)])
def test_gradient_is_the_last_k1_losses_through_the_last_k2_steps(k1, k2):
    """Update c: autograd of the loss of steps e-k1..e-1 from the detached state at e - k2."""
    x, z = _data(S=12)
    model = ElmanWithReadout(3, 4, 2, dtype=torch.float64)
    tbptt = OverlappingTruncatedBPTT(x, z, k1=k1, k2=k2, loss=_mse)
    for c in range(12 // k1):
        model.zero_grad()
        got_loss = tbptt(model, c)
        got_loss.backward()
        got = _grads(model)
        end = (c + 1) * k1
        start = max(0, end - k2)
        model.zero_grad()
        with torch.no_grad():
            h_start = model(x[:start])[1] if start else None  # the state the window starts from
        y, _ = model(x[start:end], h_start)
        want_loss = _mse(y[-k1:], z[end - k1:end])
        want_loss.backward()
        torch.testing.assert_close(got_loss, want_loss, rtol=0, atol=1e-12)
        for a, b in zip(got, _grads(model), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_overlapping_reaches_further_back_than_its_k1():
    """The first loss step of a window gets gradient from k2 - k1 earlier steps; k = k1 none."""
    x, z = _data(S=12)
    model = ElmanWithReadout(3, 4, 2, dtype=torch.float64)
    x = x.clone().requires_grad_()
    for k2, reaches in ((3, False), (6, True)):
        tbptt = OverlappingTruncatedBPTT(x, z, k1=3, k2=k2, loss=_mse)
        tbptt(model, 0)
        loss = tbptt(model, 1)  # loss on steps 3..5
        (g,) = torch.autograd.grad(loss, x)
        assert bool(g[:3].abs().sum() > 0) == reaches


@pytest.mark.parametrize(("k1", "k2", "match"), [(5, 6, "k1"), (0, 3, "k1"), (4, 3, "k2"),
                                                 (4, 13, "k2"), (4, 4.0, "k2")])
def test_overlapping_rejects_bad_lengths(k1, k2, match):
    x, z = _data(S=12)
    with pytest.raises(ValueError, match=match):
        OverlappingTruncatedBPTT(x, z, k1=k1, k2=k2, loss=_mse)
