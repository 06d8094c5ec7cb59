"""seed_everything: one call makes Python's, NumPy's and PyTorch's draws repeat."""

import os
import random
import re

import numpy as np
import pytest
import torch

from rnncourse.reproducibility import seed_everything


def _numpy_global_draw():
    return float(np.random.rand())  # noqa: NPY002 (the legacy global generator is what is seeded)


def _draws(generator):
    return (random.random(), _numpy_global_draw(), float(torch.rand(1)),
            float(torch.rand(1, generator=generator)))


def test_same_seed_same_draws_from_every_generator(monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    first = _draws(seed_everything(7))
    again = _draws(seed_everything(7))
    other = _draws(seed_everything(8))
    assert first == again
    assert all(a != b for a, b in zip(first, other, strict=True))  # each source reseeded


def test_returns_a_fresh_generator_seeded_like_the_global_one():
    g = seed_everything(3)
    assert isinstance(g, torch.Generator)
    assert g.initial_seed() == 3
    assert torch.equal(torch.rand(4, generator=g), torch.rand(4, generator=seed_everything(3)))


def test_sets_pythonhashseed_for_child_processes(monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    seed_everything(11)
    assert os.environ["PYTHONHASHSEED"] == "11"


def test_seeds_beyond_numpys_range_wrap_for_numpy_only():
    seed_everything(2**32 + 5)
    wrapped = _numpy_global_draw()
    seed_everything(5)
    assert wrapped == _numpy_global_draw()
    assert seed_everything(2**32 + 5).initial_seed() == 2**32 + 5


@pytest.mark.parametrize("bad", [-1, 1.5, True, "0", None])
def test_bad_seed_raises_clear_value_error(bad):
    message = f"seed: expected an int >= 0, got {bad!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        seed_everything(bad)
