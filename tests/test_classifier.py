"""SequenceClassifier: built from ElmanRNN and a readout; padding never changes a prediction."""

import re

import pytest
import torch

from rnncourse.classifier import SequenceClassifier
from rnncourse.pooling import READOUTS, masked_mean


@pytest.mark.parametrize("readout", READOUTS)
def test_extra_padding_changes_nothing(readout):
    """The logits of a sequence do not depend on how much padding follows it."""
    torch.manual_seed(0)
    model = SequenceClassifier(9, 4, 6, 3, readout=readout)
    tokens = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 2]])
    lengths = torch.tensor([3, 4])
    longer = torch.nn.functional.pad(tokens, (0, 5))  # five more padding steps
    torch.testing.assert_close(model(tokens, lengths), model(longer, lengths), rtol=0, atol=1e-6)


def test_forward_is_embedding_rnn_readout_linear():
    """o = W_o c + b_o with c the masked mean of the ElmanRNN states of the embeddings."""
    torch.manual_seed(0)
    model = SequenceClassifier(9, 4, 6, 2, readout="mean")
    tokens = torch.tensor([[3, 4, 0], [5, 6, 7]])
    lengths = torch.tensor([2, 3])
    h, _ = model.rnn(model.embedding(tokens))
    expected = masked_mean(h, lengths) @ model.W_o.weight.T + model.W_o.bias
    torch.testing.assert_close(model(tokens, lengths), expected)


def test_bag_of_embeddings_ignores_order():
    """recurrent=False pools the embeddings: a permutation of the words gives the same logits."""
    torch.manual_seed(0)
    model = SequenceClassifier(9, 4, 6, 2, readout="mean", recurrent=False)
    assert model.rnn is None
    a = model(torch.tensor([[3, 4, 5]]), torch.tensor([3]))
    b = model(torch.tensor([[5, 3, 4]]), torch.tensor([3]))
    torch.testing.assert_close(a, b)
    recurrent = SequenceClassifier(9, 4, 6, 2, readout="mean")
    a = recurrent(torch.tensor([[3, 4, 5]]), torch.tensor([3]))
    b = recurrent(torch.tensor([[5, 3, 4]]), torch.tensor([3]))
    assert (a - b).abs().max() > 1e-4, "with the recurrence, order matters"


def test_padding_embedding_is_zero():
    model = SequenceClassifier(9, 4, 6, 2)
    assert torch.equal(model.embedding.weight[0], torch.zeros(4))


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (torch.tensor([[1, 2, 9]]), "tokens: expected ids in [0, 8], got values in [1, 9]"),
        (torch.tensor([1, 2, 3]), "tokens: expected shape (N, L), got (3,)"),
        (torch.tensor([[1.0, 2.0]]), "tokens: expected dtype torch.int64, got torch.float32"),
    ],
)
def test_bad_tokens_raise_clear_value_error(tokens, message):
    model = SequenceClassifier(9, 4, 6, 2)
    n = tokens.shape[0] if tokens.dim() == 2 else 1
    lengths = torch.tensor([tokens.shape[-1]] * n)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        model(tokens, lengths)


def test_bad_sizes_and_readout():
    with pytest.raises(ValueError, match=r"num_classes: expected a positive int, got 0"):
        SequenceClassifier(9, 4, 6, 0)
    with pytest.raises(ValueError, match=r"name: expected one of"):
        SequenceClassifier(9, 4, 6, 2, readout="median")
