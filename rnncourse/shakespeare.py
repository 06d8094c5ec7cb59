"""Tiny Shakespeare: a real character corpus, split as nanoGPT's ``shakespeare_char`` splits it.

Used in chapter 7 (gated units on real text) and by ``make charlm``. The file
``data/tinyshakespeare.txt`` (1,115,394 characters, 65 distinct, MD5
6fb458f1232090904fb40fe944165e91) is the "tiny Shakespeare" corpus distributed with
Karpathy's char-rnn (A. Karpathy, "The Unreasonable Effectiveness of Recurrent Neural
Networks", 2015): extracts of Shakespeare's plays in dialogue form. The text is
Shakespeare's and in the public domain. nanoGPT's ``data/shakespeare_char/prepare.py``
uses the same file with the first 90% of the characters as training text and the last 10%
as validation text; :func:`load_shakespeare` makes the same split, so validation losses are
comparable with the ones nanoGPT reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import torch

from rnncourse.data import CharVocab

__all__ = ["TRAIN_FRACTION", "ShakespeareSplit", "load_shakespeare", "shakespeare_text"]

TRAIN_FRACTION = 0.9  # nanoGPT's shakespeare_char: first 90% train, last 10% validation


def shakespeare_text() -> str:
    """The whole corpus as one string (1,115,394 characters)."""
    return resources.files("rnncourse").joinpath("data/tinyshakespeare.txt").read_text("utf-8")


@dataclass(frozen=True)
class ShakespeareSplit:
    """The corpus encoded with its 65-character vocabulary and split in two.

    Attributes:
        vocab: the characters in sorted order (ids 0..64), as nanoGPT's ``stoi``.
        train: ids of the first 90% of the text, (1,003,854,) int64.
        val: ids of the last 10%, (111,540,) int64.
    """

    vocab: CharVocab
    train: torch.Tensor
    val: torch.Tensor


def load_shakespeare() -> ShakespeareSplit:
    """Encode the corpus and split it at ``int(0.9 * len(text))``, as nanoGPT does.

    Example:
        >>> split = load_shakespeare()
        >>> len(split.vocab), len(split.train), len(split.val)
        (65, 1003854, 111540)
    """
    text = shakespeare_text()
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)  # (1115394,)
    n = int(TRAIN_FRACTION * len(ids))
    return ShakespeareSplit(vocab, ids[:n], ids[n:])
