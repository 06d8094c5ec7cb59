"""The reversal task, the masked loss (against ignore_index) and the encoder-decoder."""

import pytest
import torch
import torch.nn.functional as F

from rnncourse.seq2seq import BOS, EOS, PAD, Seq2SeqRNN, masked_sequence_loss, reversal_batch


def test_reversal_batch_targets_are_the_reversed_sources():
    b = reversal_batch(50, 1, 6, generator=torch.Generator().manual_seed(0))
    for n in range(50):
        m = int(b.lengths[n])
        src = b.source[n, :m].tolist()
        assert b.source[n, m:].eq(PAD).all()
        assert b.target_out[n, :m].tolist() == src[::-1]
        assert b.target_out[n, m] == EOS
        assert b.target_out[n, m + 1 :].eq(PAD).all()
        assert b.target_in[n, 0] == BOS
        assert b.target_in[n, 1 : m + 1].tolist() == src[::-1]
    assert set(b.lengths.tolist()) <= set(range(1, 7))


def test_masked_loss_equals_ignore_index_and_ignores_padding_length():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 6, 13, generator=g)
    targets = torch.randint(3, 13, (4, 6), generator=g)
    targets[0, 3:] = PAD
    targets[2, 1:] = PAD
    expected = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=PAD)
    torch.testing.assert_close(masked_sequence_loss(logits, targets), expected)
    longer = F.pad(logits, (0, 0, 0, 3)), F.pad(targets, (0, 3), value=PAD)
    torch.testing.assert_close(masked_sequence_loss(*longer), expected)


def test_encoder_reads_each_source_up_to_its_own_length():
    """Padding after a source does not change the decoder's start state."""
    model = Seq2SeqRNN(8, generator=torch.Generator().manual_seed(0))
    src = torch.tensor([[4, 5, 6]])
    h_short = model.encode(src, torch.tensor([3]))
    h_padded = model.encode(F.pad(src, (0, 2), value=PAD), torch.tensor([3]))
    torch.testing.assert_close(h_short, h_padded)


def test_step_log_probs_match_the_teacher_forced_forward():
    model = Seq2SeqRNN(8, generator=torch.Generator().manual_seed(1))
    b = reversal_batch(2, 3, 3, generator=torch.Generator().manual_seed(2))
    logits = model(b.source, b.lengths, b.target_in)  # (2, 4, V)
    h = model.encode(b.source, b.lengths)
    for t in range(4):
        log_p, h = model.step(b.target_in[:, t], h)
        torch.testing.assert_close(log_p, torch.log_softmax(logits[:, t], -1))


@pytest.mark.parametrize(("args", "message"), [
    ((torch.zeros(2, 3, 5), torch.zeros(2, 3)), "targets: expected a torch.int64"),
    ((torch.zeros(2, 3, 5), torch.zeros(2, 4, dtype=torch.long)), r"shape \(2, 3\)"),
    ((torch.zeros(1, 2, 5), torch.zeros(1, 2, dtype=torch.long)), "not padding"),
])
def test_masked_loss_bad_input_raises(args, message):
    with pytest.raises(ValueError, match=message):
        masked_sequence_loss(*args)


def test_reversal_batch_bad_lengths_raise():
    with pytest.raises(ValueError, match="max_length"):
        reversal_batch(3, 4, 2)
