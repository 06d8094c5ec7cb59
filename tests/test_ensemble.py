"""StackedModels: K copies run at once equal the copies run one by one, in outputs and training."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnncourse.classifier import SequenceClassifier
from rnncourse.ensemble import StackedModels
from rnncourse.train import train


def _copies(K=3, readout="attention"):
    models = []
    for seed in range(K):
        torch.manual_seed(seed)
        models.append(SequenceClassifier(9, 4, 5, 2, readout=readout))
    return models


TOKENS = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0], [1, 2, 3, 0]])
LENGTHS = torch.tensor([4, 2, 3])
LABELS = torch.tensor([1, 0, 1])


def test_stacked_outputs_equal_each_copy():
    """Output k of the stack is model k's output (and member(k) gives model k back)."""
    models = _copies()
    stack = StackedModels(models)
    out = stack(TOKENS, LENGTHS)  # (K, N, C)
    assert out.shape == (3, 3, 2)
    for k, model in enumerate(models):
        torch.testing.assert_close(out[k], model(TOKENS, LENGTHS), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(stack.member(k)(TOKENS, LENGTHS), model(TOKENS, LENGTHS),
                                   rtol=1e-6, atol=1e-6)


def test_training_the_stack_is_training_each_copy():
    """Summed-loss Adam on the stack gives each copy the weights it gets when trained alone."""
    models = _copies(K=2, readout="mean")
    stack = StackedModels(models)

    def stack_loss(model, step):
        logits = model(TOKENS, LENGTHS)  # (K, N, C)
        return F.cross_entropy(logits.flatten(0, 1), LABELS.repeat(2), reduction="sum")

    train(stack, stack_loss, 5, lr=0.05, progress=False)
    for k, model in enumerate(models):
        train(model, lambda m, s: F.cross_entropy(m(TOKENS, LENGTHS), LABELS, reduction="sum"),
              5, lr=0.05, progress=False)
        trained = stack.member(k)
        for (name, p), q in zip(model.named_parameters(), trained.parameters(), strict=True):
            torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6, msg=name)


def test_rejects_mixed_architectures_and_bad_member():
    with pytest.raises(ValueError, match="expected copies of one architecture"):
        StackedModels([nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2))])
    with pytest.raises(ValueError, match=r"expected a non-empty sequence of nn\.Module"):
        StackedModels([])
    with pytest.raises(ValueError, match=r"k: expected an int in \[0, 1\], got 2"):
        StackedModels([nn.Linear(2, 2), nn.Linear(2, 2)]).member(2)
