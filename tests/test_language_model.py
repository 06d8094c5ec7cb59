"""CharRNN: shapes, the loss it optimises, and bits per character carried across chunks."""

import math

import pytest
import torch
import torch.nn.functional as F

from rnncourse.language_model import CharRNN


def test_shapes_and_loss_is_next_character_cross_entropy():
    torch.manual_seed(0)
    model = CharRNN(5, 8)
    ids = torch.randint(0, 5, (3, 10))
    logits, h_n = model(ids)
    assert logits.shape == (3, 10, 5)
    assert h_n.shape == (1, 3, 8)
    expected = F.cross_entropy(model(ids[:, :-1])[0].reshape(-1, 5), ids[:, 1:].reshape(-1))
    torch.testing.assert_close(model.loss(ids), expected)


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_bits_per_char_does_not_depend_on_chunking(chunk):
    """Carrying h across chunks makes the result equal to one pass over the whole sequence."""
    torch.manual_seed(0)
    model = CharRNN(5, 8)
    ids = torch.randint(0, 5, (40,))
    logits, _ = model(ids[:-1].unsqueeze(0))
    whole = float(F.cross_entropy(logits[0], ids[1:]).detach()) / math.log(2)
    assert model.bits_per_char(ids, chunk=chunk) == pytest.approx(whole, rel=1e-5)


def test_bad_ids():
    with pytest.raises(ValueError,
                       match=r"ids: expected a \(N, L\) torch.int64 tensor, got torch.float32"):
        CharRNN(5, 8)(torch.zeros(2, 3))
