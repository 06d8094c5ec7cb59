"""The packed bidirectional classifier equals nn.GRU's h_n; unpacked, the backward half is wrong."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnncourse.bidirectional import BiGRUClassifier, bidirectional_last, train_each
from rnncourse.classification_tasks import end_evidence_task
from rnncourse.labelled_sentences import EpochBatches


def test_bidirectional_last_of_a_packed_output_is_h_n():
    """On the padded output of a packed run, the masked readout is [h_n[0]; h_n[1]]."""
    torch.manual_seed(0)
    gru = nn.GRU(3, 4, batch_first=True, bidirectional=True, dtype=torch.float64)
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 4])
    out, h_n = gru(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    padded, _ = pad_packed_sequence(out, batch_first=True)
    assert torch.allclose(bidirectional_last(padded, lengths), torch.cat([h_n[0], h_n[1]], 1))
    unpacked, _ = gru(x)
    wrong = bidirectional_last(unpacked, lengths)
    assert torch.allclose(wrong[0], torch.cat([h_n[0], h_n[1]], 1)[0])  # no padding in row 0
    assert (wrong[1:, 4:] - h_n[1][1:]).abs().max() > 1e-3  # the backward half read padding
    with pytest.raises(ValueError, match="output: expected an even last size"):
        bidirectional_last(torch.zeros(2, 3, 5), torch.tensor([1, 2]))


def test_classifier_packed_ignores_padding_and_unpacked_does_not():
    """Extra padding changes nothing packed; unpacked, it changes the logits."""
    torch.manual_seed(0)
    model = BiGRUClassifier(12, 4, 5, 2)
    tokens = torch.tensor([[3, 4, 5, 0], [6, 7, 0, 0]])
    lengths = torch.tensor([3, 2])
    longer = torch.nn.functional.pad(tokens, (0, 5))
    assert torch.allclose(model(tokens, lengths), model(longer, lengths), atol=1e-6)
    model.packed = False
    assert (model(tokens, lengths) - model(longer, lengths)).abs().max() > 1e-4
    with pytest.raises(ValueError, match=r"tokens: expected int64 ids in \[0, 11\]"):
        model(torch.tensor([[12]]), torch.tensor([1]))


def test_train_each_builds_one_model_per_seed_on_the_same_batches():
    steps_seen = []

    def task(n, generator):
        return end_evidence_task(n, (2, 6), generator=generator)

    models = train_each(lambda: BiGRUClassifier(12, 4, 3, 2), lambda: task, seeds=(0, 1),
                        steps=3, batch_size=8, lr=1e-2,
                        on_step=lambda m, k, step: steps_seen.append((k, step)))
    assert len(models) == 2
    assert not models[0].training
    assert steps_seen == [(k, s) for k in (0, 1) for s in range(4)]
    torch.manual_seed(0)
    alone = train_each(lambda: BiGRUClassifier(12, 4, 3, 2), lambda: task, seeds=(0,),
                       steps=3, batch_size=8, lr=1e-2)[0]
    for a, b in zip(alone.parameters(), models[0].parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="seeds: expected a non-empty sequence of ints"):
        train_each(lambda: BiGRUClassifier(12, 4, 3, 2), lambda: task, seeds=(), steps=1,
                   batch_size=8, lr=1e-2)


def test_train_each_in_two_threads_trains_the_same_models():
    """workers=2 gives each model the weights it gets one after another, bit for bit."""
    data = end_evidence_task(40, (2, 9), generator=torch.Generator().manual_seed(0))
    kwargs = {"seeds": (0, 1, 2), "steps": 7, "batch_size": 16, "lr": 1e-2}
    steps_seen = {1: [], 2: []}

    def run(workers):
        return train_each(lambda: BiGRUClassifier(12, 4, 3, 2),
                          lambda: EpochBatches(data, 16, bucketed=True), workers=workers,
                          on_step=lambda m, k, step: steps_seen[workers].append((k, step)),
                          **kwargs)

    one_by_one, threaded = run(1), run(2)
    for alone, side_by_side in zip(one_by_one, threaded, strict=True):
        assert not side_by_side.training
        for a, b in zip(alone.parameters(), side_by_side.parameters(), strict=True):
            assert torch.equal(a, b)
    assert one_by_one[0].W_o.weight.ne(one_by_one[1].W_o.weight).any()  # the seeds differ
    for k in range(3):  # each model's calls in order, whatever the interleaving
        assert [s for j, s in steps_seen[2] if j == k] == list(range(8))
    assert sorted(steps_seen[2]) == sorted(steps_seen[1])
    with pytest.raises(ValueError, match="workers: expected a positive int, got 0"):
        train_each(lambda: BiGRUClassifier(12, 4, 3, 2), lambda: data, workers=0, **kwargs)
