"""Readouts of padded batches.

Agreement with pack_padded_sequence and plain loops, masking, and clear errors on bad
lengths and shapes.
"""

import re

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnncourse.elman import ElmanRNN
from rnncourse.pooling import (
    READOUTS,
    AttentionPooling,
    LastState,
    MaskedMax,
    MaskedMean,
    last_state,
    length_mask,
    make_readout,
    masked_max,
    masked_mean,
    masked_softmax,
)

LENGTHS = torch.tensor([5, 1, 3, 5, 2])


def _padded_states(seed: int = 0, L: int = 5, H: int = 4):
    """Random states with large garbage (100 + noise) in every padding step."""
    g = torch.Generator().manual_seed(seed)
    states = torch.randn(len(LENGTHS), L, H, generator=g, dtype=torch.float64)
    pad = ~length_mask(LENGTHS, L)  # (N, L)
    return states.masked_fill(pad.unsqueeze(-1), 100.0), pad


def test_last_state_matches_pack_padded_sequence():
    """The gathered last state equals nn.RNN's h_n on a packed batch (float64, 1e-12)."""
    torch.manual_seed(0)
    ref = nn.RNN(3, 6, batch_first=True, dtype=torch.float64)
    ours = ElmanRNN.from_torch(ref)
    x = torch.randn(len(LENGTHS), 5, 3, dtype=torch.float64)
    output, _ = ours(x)  # runs through the padding too
    packed = pack_padded_sequence(x, LENGTHS, batch_first=True, enforce_sorted=False)
    packed_out, h_n = ref(packed)
    torch.testing.assert_close(last_state(output, LENGTHS), h_n[0], rtol=0, atol=1e-12)
    # and the masked mean equals the mean of the packed output over real steps
    padded, _ = pad_packed_sequence(packed_out, batch_first=True)
    expected = padded.sum(1) / LENGTHS.unsqueeze(1)
    torch.testing.assert_close(masked_mean(output, LENGTHS), expected, rtol=0, atol=1e-12)
    # the padded end is not the last state (the bug this function prevents)
    assert (output[:, -1] - h_n[0]).abs().max() > 1e-3


def test_readouts_match_plain_loops_and_ignore_padding():
    """last/mean/max equal per-sequence loops over the real steps; padding values never matter."""
    states, _ = _padded_states()
    for n, T in enumerate(LENGTHS.tolist()):
        real = states[n, :T]  # (T, H)
        torch.testing.assert_close(last_state(states, LENGTHS)[n], real[-1], rtol=0, atol=0)
        torch.testing.assert_close(masked_mean(states, LENGTHS)[n], real.mean(0),
                                   rtol=0, atol=1e-12)
        torch.testing.assert_close(masked_max(states, LENGTHS)[n], real.amax(0), rtol=0, atol=0)
    other, _ = _padded_states()
    other = other.masked_fill(~length_mask(LENGTHS, 5).unsqueeze(-1), -7.0)
    for fn in (last_state, masked_mean, masked_max):
        torch.testing.assert_close(fn(states, LENGTHS), fn(other, LENGTHS), rtol=0, atol=0)


def test_masked_softmax_gives_padding_zero_weight():
    """Rows sum to 1 over real steps, padding gets exactly 0, and a full row is a plain softmax."""
    scores = torch.randn(len(LENGTHS), 5, dtype=torch.float64)
    alpha = masked_softmax(scores, LENGTHS)
    torch.testing.assert_close(alpha.sum(1), torch.ones(len(LENGTHS), dtype=torch.float64))
    padding = ~length_mask(LENGTHS, 5)
    assert padding.sum() == 9
    assert (alpha[padding] == 0).all()
    torch.testing.assert_close(alpha[0], scores[0].softmax(0))
    torch.testing.assert_close(alpha[2, :3], scores[2, :3].softmax(0))


def test_attention_pooling_is_a_weighted_mean_and_equal_scores_give_the_mean():
    """c = sum_t alpha_t h_t; with u = 0 every score is equal and c is the masked mean."""
    torch.manual_seed(0)
    states, _ = _padded_states()
    pool = AttentionPooling(4, 3).double()
    alpha = pool.weights(states, LENGTHS)
    real_states = states.masked_fill(~length_mask(LENGTHS, 5).unsqueeze(-1), 0.0)
    torch.testing.assert_close(pool(states, LENGTHS), (alpha.unsqueeze(-1) * real_states).sum(1))
    with torch.no_grad():
        pool.u.zero_()
    torch.testing.assert_close(pool(states, LENGTHS), masked_mean(states, LENGTHS))


def test_attention_gradcheck():
    """Gradients of the attention readout (through the masked softmax) pass gradcheck."""
    torch.manual_seed(0)
    pool = AttentionPooling(3, 2).double()
    states = torch.randn(3, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: pool(s, torch.tensor([4, 2, 1])), (states,))


def test_modules_and_factory_share_one_interface():
    """Every named readout maps (N, L, H) states and (N,) lengths to (N, H)."""
    states, _ = _padded_states()
    expected_types = {"last": LastState, "mean": MaskedMean, "max": MaskedMax,
                      "attention": AttentionPooling}
    for name in READOUTS:
        readout = make_readout(name, 4).double()
        assert isinstance(readout, expected_types[name])
        assert readout(states, LENGTHS).shape == (len(LENGTHS), 4)
    with pytest.raises(ValueError, match=r"name: expected one of \('last', 'mean', 'max', "
                                         r"'attention'\), got 'sum'"):
        make_readout("sum", 4)


def test_length_mask():
    assert length_mask(torch.tensor([1, 3]), 3).tolist() == [[True, False, False],
                                                             [True, True, True]]


@pytest.mark.parametrize(
    ("states", "lengths", "message"),
    [
        (torch.zeros(2, 4, 3), torch.tensor([4, 5]),
         "lengths: expected values in [1, 4] (the padded length L), got values in [4, 5]"),
        (torch.zeros(2, 4, 3), torch.tensor([0, 2]),
         "lengths: expected values in [1, 4] (the padded length L), got values in [0, 2]"),
        (torch.zeros(2, 4, 3), torch.tensor([4, 2, 1]),
         "lengths: expected shape (2,), one length per sequence, got (3,)"),
        (torch.zeros(2, 4, 3), torch.tensor([4.0, 2.0]),
         "lengths: expected an integer tensor (torch.int64), got dtype torch.float32"),
        (torch.zeros(2, 4, 3), [4, 2], "lengths: expected a torch.Tensor, got list"),
        (torch.zeros(4, 3), torch.tensor([4, 2]),
         "states: expected shape (N, L, H), got (4, 3)"),
        (torch.zeros(2, 4, 3, dtype=torch.long), torch.tensor([4, 2]),
         "states: expected a floating-point tensor (float32 or float64), got dtype torch.int64"),
    ],
)
@pytest.mark.parametrize("readout", [last_state, masked_mean, masked_max])
def test_bad_input_raises_clear_value_error(readout, states, lengths, message):
    """Out-of-range, mis-shaped or non-integer lengths, mis-shaped states: expected and got."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        readout(states, lengths)


def test_attention_checks_hidden_size_and_scores_shape():
    pool = AttentionPooling(4)
    with pytest.raises(ValueError, match=r"^states: expected shape \(N, L, 4\), got \(2, 3, 5\)$"):
        pool(torch.zeros(2, 3, 5), torch.tensor([3, 1]))
    with pytest.raises(ValueError, match=r"^scores: expected shape \(N, L\), got \(2, 3, 1\)$"):
        masked_softmax(torch.zeros(2, 3, 1), torch.tensor([3, 1]))
    with pytest.raises(ValueError, match=r"hidden_size: expected a positive int, got 0"):
        AttentionPooling(0)
