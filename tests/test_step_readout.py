"""StepReadout: a recurrence read out at every step, checked against nn.RNN + nn.Linear."""

import re

import pytest
import torch
from torch import nn

import rnncourse.step_readout
from rnncourse.elman import ElmanRNN
from rnncourse.step_readout import StepReadout
from rnncourse.unshared import UnsharedRNN


def test_public_names():
    """The module exports exactly its one class."""
    assert rnncourse.step_readout.__all__ == ["StepReadout"]


@pytest.mark.parametrize("batch_first", [False, True])
def test_equals_torch_rnn_followed_by_linear(batch_first):
    """With nn.RNN inside, y_t = W_hy h_t + b_y for every step, in the recurrence's layout."""
    torch.manual_seed(0)
    rnn = nn.RNN(3, 5, batch_first=batch_first, dtype=torch.float64)
    model = StepReadout(rnn, 2).double()
    x = torch.randn((4, 6, 3) if batch_first else (6, 4, 3), dtype=torch.float64)
    h, _ = rnn(x)  # (N, L, 5) or (L, N, 5)
    expected = h @ model.readout.weight.T + model.readout.bias  # (..., 2)
    torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-12)
    assert model(x).shape == (*x.shape[:2], 2)


def test_elman_inside_equals_torch_rnn_inside():
    """The from-scratch ElmanRNN with nn.RNN's weights gives the same outputs (float64)."""
    torch.manual_seed(1)
    reference = StepReadout(nn.RNN(3, 4, batch_first=True, dtype=torch.float64), 3).double()
    ours = StepReadout(ElmanRNN.from_torch(reference.rnn), 3).double()
    ours.readout.load_state_dict(reference.readout.state_dict())
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=1e-12)


def test_readout_is_built_after_the_recurrence():
    """A seed fixes both: the readout's weights are the next draw after the recurrence's."""
    torch.manual_seed(2)
    model = StepReadout(ElmanRNN(3, 4, batch_first=True), 1)
    torch.manual_seed(2)
    rnn = ElmanRNN(3, 4, batch_first=True)
    readout = nn.Linear(4, 1)
    assert torch.equal(model.rnn.W_hh, rnn.W_hh)
    assert torch.equal(model.readout.weight, readout.weight)


def test_unshared_recurrence_and_gradients_reach_both_parts():
    """Any recurrence with hidden_size works; the loss trains the recurrence and the readout."""
    model = StepReadout(UnsharedRNN(3, 4, max_length=5, batch_first=True), 3)
    y = model(torch.randn(2, 5, 3))  # (N, L, 3)
    assert y.shape == (2, 5, 3)
    y.pow(2).sum().backward()
    assert model.readout.weight.grad.abs().sum() > 0
    assert model.rnn.W_xh.grad[-1].abs().sum() > 0  # the last step's own copy


@pytest.mark.parametrize(
    ("rnn", "output_size", "message"),
    [
        (nn.Linear(3, 4), 2, ("rnn: expected a recurrence with a positive int attribute "
                              "hidden_size, got Linear with hidden_size None")),
        ("ElmanRNN", 2, "rnn: expected a torch.nn.Module, got str"),
        (ElmanRNN(3, 4), 0, "output_size: expected a positive int, got 0"),
        (ElmanRNN(3, 4), True, "output_size: expected a positive int, got True"),
    ],
)
def test_bad_arguments_raise_value_error(rnn, output_size, message):
    """Bad arguments name what was expected and what came."""
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        StepReadout(rnn, output_size)


def test_bad_input_is_reported_by_the_recurrence():
    """A wrong input shape raises the recurrence's own ValueError (expected, got), unchanged."""
    rnn = ElmanRNN(3, 4, batch_first=True)
    x = torch.zeros(2, 5, 7)  # H_in = 7 where the recurrence takes 3
    try:
        rnn(x)
    except ValueError as error:
        message = str(error)
    else:
        pytest.fail("ElmanRNN accepted an input of the wrong size")
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        StepReadout(rnn, 2)(x)
