"""Random windows of a long sequence: what is drawn, from where, and clear errors."""

import pytest
import torch

from rnncourse import random_windows as module
from rnncourse.random_windows import random_window_loss, random_windows


def test_all_is_pinned():
    assert module.__all__ == ["random_window_loss", "random_windows"]


def test_each_row_is_a_run_of_consecutive_ids():
    ids = torch.arange(100, 200)  # (100,): an id's value says where it sits
    batch = random_windows(ids, 7, 32, generator=torch.Generator().manual_seed(0))
    assert batch.shape == (32, 8)
    assert batch.dtype == torch.long
    assert torch.equal(batch - batch[:, :1], torch.arange(8).expand(32, 8))


def test_every_start_that_fits_is_drawn_and_no_other():
    """L = 6, W = 3: the starts are 0, 1 and 2; the last window ends at the last id."""
    batch = random_windows(torch.arange(6), 3, 300, generator=torch.Generator().manual_seed(0))
    assert set(batch[:, 0].tolist()) == {0, 1, 2}


def test_a_sequence_of_exactly_one_window():
    batch = random_windows(torch.arange(4), 3, 5)
    assert torch.equal(batch, torch.arange(4).expand(5, 4))


def test_starts_are_uniform_draws_from_the_generator():
    ids = torch.arange(50)
    batch = random_windows(ids, 9, 16, generator=torch.Generator().manual_seed(3))
    starts = torch.randint(0, 50 - 9, (16,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(batch[:, 0], starts)


def test_without_a_generator_the_global_seed_decides():
    torch.manual_seed(1)
    first = random_windows(torch.arange(50), 4, 8)
    torch.manual_seed(1)
    assert torch.equal(random_windows(torch.arange(50), 4, 8), first)


class _Recorder:
    """Stands in for a model: remembers the batches its loss was asked for."""

    def __init__(self):
        self.batches = []

    def loss(self, ids):
        self.batches.append(ids)
        return ids.double().mean()


def test_loss_draws_fresh_windows_every_step_and_scores_them_with_model_loss():
    ids = torch.arange(40)
    loss_fn = random_window_loss(ids, 5, 4, generator=torch.Generator().manual_seed(0))
    model = _Recorder()
    losses = [loss_fn(model, step) for step in range(3)]
    reference = torch.Generator().manual_seed(0)
    for batch, loss in zip(model.batches, losses, strict=True):
        expected = random_windows(ids, 5, 4, generator=reference)
        assert torch.equal(batch, expected)
        assert loss == expected.double().mean()
    assert not torch.equal(model.batches[0], model.batches[1])


def test_loss_trains_a_char_model_on_a_cycle():
    """A cycle of 8 ids is predictable after one id: the loss falls well below log 8."""
    from rnncourse import CharRNN, train

    torch.manual_seed(0)
    model = CharRNN(8, 16)
    ids = torch.arange(8).repeat(20)
    result = train(model, random_window_loss(ids, 8, 16), 60, lr=0.05, progress=False)
    assert result.losses[0] > 1.5  # about log 8 = 2.08 at the start
    assert result.losses[-1] < 0.2


@pytest.mark.parametrize(
    ("ids", "window", "batch_size", "message"),
    [
        (torch.arange(10.0), 3, 2, r"ids: expected a \(L,\) torch.int64 tensor, got torch.float32"),
        (torch.arange(10).view(2, 5), 3, 2, r"ids: expected .* got torch.int64 of shape \(2, 5\)"),
        ([1, 2, 3, 4, 5], 3, 2, "ids: expected a torch.Tensor, got list"),
        (torch.arange(3), 3, 2, r"ids: expected at least window \+ 1 = 4 ids, got 3"),
        (torch.arange(10), 0, 2, "window: expected a positive int, got 0"),
        (torch.arange(10), 2.0, 2, "window: expected a positive int, got 2.0"),
        (torch.arange(10), True, 2, "window: expected a positive int, got True"),
        (torch.arange(10), 3, -1, "batch_size: expected a positive int, got -1"),
    ],
)
def test_bad_input_raises_value_error(ids, window, batch_size, message):
    with pytest.raises(ValueError, match=message):
        random_windows(ids, window, batch_size)
    with pytest.raises(ValueError, match=message):
        random_window_loss(ids, window, batch_size)
