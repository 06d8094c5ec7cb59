"""The course's training loop."""

import math

import pytest
import torch
from torch import nn

from rnncourse import seed_everything, train


def test_train_fits_a_line():
    seed_everything(0)
    model = nn.Linear(1, 1)
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    y = 3 * x - 1
    result = train(model, lambda m, step: (m(x) - y).pow(2).mean(), steps=300, lr=0.1,
                   progress=False)
    assert result.losses[-1] < 1e-4
    assert len(result.losses) == len(result.grad_norms) == 300


def test_train_stops_at_a_non_finite_loss():
    model = nn.Linear(1, 1)
    def loss(m, step):
        return m(torch.ones(1, 1)).sum() * (math.inf if step == 3 else 1.0)

    result = train(model, loss, steps=10, progress=False)
    assert result.diverged
    assert len(result.losses) == 4


def test_clip_norm_bounds_the_update():
    """With clip_norm, clip_grad_norm_ is applied: the norm after clipping is at most clip_norm."""
    model = nn.Linear(2, 1)
    seen = []

    class Probe(torch.optim.SGD):
        def step(self, closure=None):
            seen.append(float(torch.cat([p.grad.flatten() for p in model.parameters()]).norm()))
            return super().step(closure)

    train(model, lambda m, s: 1000 * m(torch.ones(1, 2)).sum(), steps=3,
          optimizer=Probe(model.parameters(), lr=0.0), clip_norm=1.0, progress=False)
    assert max(seen) == pytest.approx(1.0, rel=1e-5)


def test_progress_bar_is_shown_unless_disabled(monkeypatch, capsys):
    monkeypatch.delenv("RNNCOURSE_NO_PROGRESS", raising=False)
    train(nn.Linear(1, 1), lambda m, s: m(torch.ones(1, 1)).sum(), steps=2, desc="probe")
    assert "probe" in capsys.readouterr().err
    monkeypatch.setenv("RNNCOURSE_NO_PROGRESS", "1")
    train(nn.Linear(1, 1), lambda m, s: m(torch.ones(1, 1)).sum(), steps=2, desc="probe")
    assert "probe" not in capsys.readouterr().err


def test_seed_everything_rejects_bad_seeds():
    with pytest.raises(ValueError, match=r"^seed: expected an int >= 0, got -1$"):
        seed_everything(-1)
