"""StackedCharRNN trains K CharRNN copies as if each were trained alone."""

import pytest
import torch

from rnncourse import train
from rnncourse.language_model import CharRNN
from rnncourse.random_windows import random_window_loss
from rnncourse.stacked_char_rnn import StackedCharRNN


def _copies(k: int = 3) -> list[CharRNN]:
    models = []
    for seed in range(k):
        torch.manual_seed(seed)
        models.append(CharRNN(6, 8, embedding_size=4).double())
    return models


def test_loss_is_the_sum_of_the_copies_losses() -> None:
    models = _copies()
    stack = StackedCharRNN(models)
    ids = torch.randint(0, 6, (5, 9), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(stack.loss(ids), sum(m.loss(ids) for m in models))


def test_training_the_stack_is_training_each_copy_alone() -> None:
    ids = torch.randint(0, 6, (200,), generator=torch.Generator().manual_seed(1))
    models = _copies()
    stack = StackedCharRNN(models)
    train(stack, random_window_loss(ids, 8, 4, generator=torch.Generator().manual_seed(2)), 5,
          lr=1e-2, progress=False)
    for k, model in enumerate(_copies()):
        train(model, random_window_loss(ids, 8, 4, generator=torch.Generator().manual_seed(2)), 5,
              lr=1e-2, progress=False)
        member = stack.member(k)
        for (name, p), q in zip(model.named_parameters(), member.parameters(), strict=True):
            torch.testing.assert_close(q, p, rtol=1e-9, atol=1e-12, msg=name)


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="models: expected a non-empty sequence of CharRNN"):
        StackedCharRNN([torch.nn.Linear(2, 2)])
    stack = StackedCharRNN(_copies(2))
    with pytest.raises(ValueError, match=r"ids: expected a \(N, W \+ 1\) torch.int64 tensor"):
        stack.loss(torch.zeros(3, 1, dtype=torch.long))
