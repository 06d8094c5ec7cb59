"""gradient_reach: the key's gradient against autograd by hand, and what vanishes with the lag."""

import pytest
import torch
import torch.nn.functional as F

from rnncourse.delay_task import DelayClassifier, delay_batch, key_gradient_norm, train_delay
from rnncourse.long_range_gradient import gradient_reach
from rnncourse.recurrent_init import init_recurrent


def _model(seed=0, init="default"):
    torch.manual_seed(seed)
    model = DelayClassifier("elman", 16)
    init_recurrent(model.rnn, init, generator=torch.Generator().manual_seed(seed))
    return model


def test_matches_autograd_per_sequence_and_total():
    """key_step equals delay_task.key_gradient_norm (sum loss); total is the global grad norm."""
    model, batch = _model(), delay_batch(32, 6, generator=torch.Generator().manual_seed(1))
    r = gradient_reach(model, batch)
    assert r.key_step == pytest.approx(key_gradient_norm(model, batch), rel=1e-5)
    model.zero_grad()
    F.cross_entropy(model(batch.x), batch.key).backward()
    norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
    assert r.total == pytest.approx(float(norm), rel=1e-5)
    model.zero_grad(set_to_none=True)
    gradient_reach(model, batch)
    assert all(p.grad is None for p in model.parameters())  # .grad left alone


def test_long_range_part_vanishes_total_does_not():
    """Default init: the key's gradient falls by orders of magnitude with the lag, the total not."""
    short = gradient_reach(_model(), delay_batch(64, 5, generator=torch.Generator().manual_seed(2)))
    long = gradient_reach(_model(), delay_batch(64, 40, generator=torch.Generator().manual_seed(2)))
    assert long.key_step < 1e-6 * short.key_step
    assert 0.5 < long.total / short.total < 2
    assert long.last_step > 0.5 * short.last_step
    ortho = gradient_reach(_model(init="orthogonal"),
                           delay_batch(64, 40, generator=torch.Generator().manual_seed(2)))
    assert ortho.key_step > 1e4 * long.key_step


def test_train_delay_recurrent_init():
    """train_delay's recurrent_init reaches the layer; it is refused for gated layers."""
    result = train_delay("elman", 3, steps=1, test_size=4, recurrent_init="identity",
                         progress=False)
    assert result.model.rnn.weight_hh_l0.shape == (32, 32)
    with pytest.raises(ValueError, match="recurrent_init: only for kind='elman', got kind='gru'"):
        train_delay("gru", 3, steps=1, recurrent_init="orthogonal", progress=False)


def test_bad_input():
    """Wrong types raise ValueError naming expected and got."""
    batch = delay_batch(2, 3)
    with pytest.raises(ValueError, match="model: expected a DelayClassifier, got Linear"):
        gradient_reach(torch.nn.Linear(2, 2), batch)
    with pytest.raises(ValueError, match="batch: expected a DelayBatch, got Tensor"):
        gradient_reach(_model(), batch.x)
