"""checkpointed_rnn: the same state and gradients as plain BPTT, each segment run twice."""

import pytest
import torch
from torch import nn

from rnncourse.checkpointed_bptt import checkpointed_rnn
from rnncourse.elman import ElmanRNN


@pytest.mark.parametrize("segment", [1, 3, 12])
def test_same_state_and_gradients_as_full_bptt(segment):
    """Checkpointing changes what is stored, not what is computed (float64, to rounding)."""
    torch.manual_seed(0)
    rnn = ElmanRNN(2, 5, dtype=torch.float64)
    x = torch.randn(12, 3, 2, dtype=torch.float64)
    rnn(x)[1].pow(2).sum().backward()
    expected = [p.grad.clone() for p in rnn.parameters()]
    rnn.zero_grad()
    h = checkpointed_rnn(rnn, x, segment)
    torch.testing.assert_close(h, rnn(x)[1])
    h.pow(2).sum().backward()
    for p, e in zip(rnn.parameters(), expected, strict=True):
        torch.testing.assert_close(p.grad, e, rtol=1e-12, atol=1e-12)


def test_each_segment_runs_twice_and_torch_rnn_works():
    """Forward runs L / m segment calls; backward re-runs each once. nn.RNN is accepted too."""
    rnn = nn.RNN(2, 4)
    calls = []
    rnn.register_forward_hook(lambda *_: calls.append(1))
    h = checkpointed_rnn(rnn, torch.randn(12, 3, 2), 4)
    assert len(calls) == 3
    h.sum().backward()
    assert len(calls) == 6
    assert rnn.weight_ih_l0.grad is not None  # the first segment's parameters get a gradient


def test_bad_input():
    """A segment that does not divide L, or a layer without hidden_size, raises ValueError."""
    rnn = ElmanRNN(2, 4)
    with pytest.raises(ValueError, match=r"segment: expected an int in \[1, 12\] that divides"):
        checkpointed_rnn(rnn, torch.randn(12, 3, 2), 5)
    with pytest.raises(ValueError, match="x: expected"):
        checkpointed_rnn(rnn, torch.randn(12, 2), 3)
    with pytest.raises(ValueError, match="rnn: expected a layer with an int hidden_size"):
        checkpointed_rnn(lambda x, h: (x, h), torch.randn(4, 3, 2), 2)
