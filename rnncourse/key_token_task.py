"""The key-token task: evidence for the label sits at one random position of a sequence.

Taught in chapter 2 (weight sharing across time), where a shared and an unshared RNN are
trained on it to measure what sharing buys: a network whose weights differ per step must
learn to recognise the key separately at every position, a shared one learns it once.

A sequence of ``length`` tokens holds random *distractor* tokens (ids ``0 .. D-1``) and,
at one position p (1-based), a *key*: token ``D`` (key A, label 0) or ``D + 1`` (key B,
label 1). The label of the sequence is which key it holds (or, with ``flip_from``, the
opposite from a given position on). Read left to right, the
per-step target is "no key yet" (class 0) before p and ``1 + label`` from p on, so a
model is told at every step what it should remember; the sequence label is its
prediction at the last step. Positions are drawn by the caller, which is how a training
set can leave some positions rare (:func:`skewed_positions`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rnncourse._validation import check_int, check_shape, check_tensor

__all__ = [
    "KeyTokenBatch",
    "accuracy_by_position",
    "key_token_batch",
    "skewed_positions",
]

N_DISTRACTORS = 6  # D: enough variety that a key cannot be found by counting token types


@dataclass(frozen=True)
class KeyTokenBatch:
    """Sequences of the key-token task (N sequences of length L, vocabulary V = D + 2).

    Attributes:
        x: one-hot inputs, (N, L, V) float32.
        tokens: the token ids, (N, L) int64.
        label: which key each sequence holds, 0 (A) or 1 (B), (N,) int64.
        position: where the key is, 1..L, (N,) int64.
        targets: per-step class, 0 before the key and ``1 + label`` from it on, (N, L) int64.
    """

    x: torch.Tensor
    tokens: torch.Tensor
    label: torch.Tensor
    position: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return len(self.label)

    def __getitem__(self, index: torch.Tensor | slice) -> KeyTokenBatch:
        """The sequences at ``index`` (a LongTensor of rows or a slice)."""
        return KeyTokenBatch(self.x[index], self.tokens[index], self.label[index],
                             self.position[index], self.targets[index])


def _check_length(length: object) -> int:
    return check_int("length", length)


def key_token_batch(
    position: torch.Tensor,
    length: int,
    *,
    n_distractors: int = N_DISTRACTORS,
    generator: torch.Generator | None = None,
    flip_from: int | None = None,
) -> KeyTokenBatch:
    """One sequence per entry of ``position``, with a random key (A or B) at that position.

    With ``flip_from`` = q, the keys mean the opposite from position q on (key A is label 1,
    key B label 0 when p >= q): a rule that depends on position, which a network with
    weights per step can learn directly and a shared one only by keeping track of time.

    Args:
        position: (N,) int64, the key's position in each sequence, each in 1..``length``.
        length: L, the number of tokens per sequence.
        n_distractors: D, the number of distractor token types (ids 0..D-1).
        generator: a ``torch.Generator`` for the distractors and labels.
        flip_from: q in 1..``length``, or None (default: the keys mean the same everywhere).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> batch = key_token_batch(torch.tensor([1, 3]), 4, generator=g)
        >>> tuple(batch.x.shape), batch.position.tolist()
        ((2, 4, 8), [1, 3])
        >>> (batch.tokens[[0, 1], [0, 2]] - 6 == batch.label).all().item()  # keys are ids 6, 7
        True
    """
    length = _check_length(length)
    check_shape("position", position, ("N",))
    if position.dtype != torch.long:
        raise ValueError(f"position: expected dtype torch.int64, got {position.dtype}")
    if len(position) and (position.min() < 1 or position.max() > length):
        raise ValueError(f"position: expected values in 1..{length} (the sequence length), "
                         f"got values in {int(position.min())}..{int(position.max())}")
    check_int("n_distractors", n_distractors)
    if flip_from is not None and (check_int("flip_from", flip_from) > length):
        raise ValueError(f"flip_from: expected a position in 1..{length} or None, got {flip_from}")
    N = len(position)
    tokens = torch.randint(0, n_distractors, (N, length), generator=generator)  # (N, L)
    label = torch.randint(0, 2, (N,), generator=generator)  # (N,)
    key = label if flip_from is None else label ^ (position >= flip_from).long()  # 0 = A, 1 = B
    tokens[torch.arange(N), position - 1] = n_distractors + key
    steps = torch.arange(1, length + 1)  # (L,): 1-based step numbers
    seen = steps[None, :] >= position[:, None]  # (N, L): has the key appeared by step t?
    targets = torch.where(seen, 1 + label[:, None], 0)  # (N, L)
    x = F.one_hot(tokens, n_distractors + 2).float()  # (N, L, V)
    return KeyTokenBatch(x, tokens, label, position.clone(), targets)


def skewed_positions(
    n: int, length: int, scale: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``n`` key positions in 1..L with P(p) proportional to exp(-(p - 1) / scale).

    A small ``scale`` puts most keys near the start, so late positions are rare: with
    L = 50 and scale = 10, positions 41..50 get under 2% of the keys between them.
    Returns (n,) int64.
    """
    n, length = check_int("n", n), _check_length(length)
    if not scale > 0:
        raise ValueError(f"scale: expected a positive number, got {scale!r}")
    weights = torch.exp(-torch.arange(length, dtype=torch.float64) / scale)  # (L,)
    return torch.multinomial(weights, n, replacement=True, generator=generator) + 1  # (n,)


def accuracy_by_position(
    correct: torch.Tensor, position: torch.Tensor, length: int
) -> torch.Tensor:
    """Fraction of ``correct`` among the sequences whose key is at each position 1..L.

    Args:
        correct: (N,) bool, whether each sequence was classified correctly.
        position: (N,) int64, where each sequence's key is.
        length: L.

    Returns:
        (L,) float64; entry p - 1 is the accuracy at position p (NaN if no sequence has it).
    """
    length = _check_length(length)
    correct, position = check_tensor("correct", correct), check_tensor("position", position)
    if correct.shape != position.shape or correct.dim() != 1:
        raise ValueError(f"correct, position: expected two (N,) tensors, got shapes "
                         f"{tuple(correct.shape)} and {tuple(position.shape)}")
    if len(position) and (position.min() < 1 or position.max() > length):
        raise ValueError(f"position: expected values in 1..{length}, got values in "
                         f"{int(position.min())}..{int(position.max())}")
    index = position - 1  # (N,)
    hits = torch.zeros(length, dtype=torch.float64).index_add_(0, index, correct.double())  # (L,)
    counts = torch.bincount(index, minlength=length).double()  # (L,)
    return hits / counts  # (L,), NaN where counts == 0
