"""Reproducibility: one call that seeds every random number generator a notebook uses.

Every chapter calls :func:`seed_everything` in its first code cell, so that the numbers
printed in the book are the numbers a learner gets when re-running the notebook.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from rnncourse._validation import check_int

__all__ = ["seed_everything"]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch, and return a seeded ``torch.Generator``.

    Args:
        seed: a non-negative integer.

    Returns:
        A ``torch.Generator`` seeded with ``seed``, for code that takes ``generator=``
        explicitly (the course's data generators do).

    Example:
        >>> g = seed_everything(0)
        >>> torch.rand(1, generator=g).item() == torch.rand(1, generator=seed_everything(0)).item()
        True
    """
    check_int("seed", seed, 0)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (seeding the legacy global generator is the point)
    torch.manual_seed(seed)
    # Hash randomisation only affects child processes started after this point.
    os.environ["PYTHONHASHSEED"] = str(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
