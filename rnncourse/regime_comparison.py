"""Comparing training regimes fairly: every regime x learning rate x seed, one stacked run.

Taught in chapter 5 (teacher forcing against free running and scheduled sampling). A fair
comparison of regimes gives each the same model, data and budget, and the same tuning: the
learning rate is chosen **per regime** on validation data (the best mean over seeds), and
only then is the test metric read, at that learning rate. The result of a regime is the
spread of its seeds, not one number. :func:`separated` is the coarse test (the seeds'
ranges do not overlap); since copies of one seed share their initial weights and batches
in every regime, chapter 5 also compares regimes paired by seed.

:class:`RegimeGrid` lays the K = R x A x S copies of a stacked model out in that order
(regime-major, then learning rate, then seed), gives each copy its epsilon at every step,
its detach flag and its learning rate (for :class:`rnncourse.stacked_rnn.MemberwiseAdam`),
and reads per-copy metrics back per regime.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from rnncourse._validation import check_tensor

__all__ = ["Regime", "RegimeGrid", "SeedSpread", "separated"]


@dataclass(frozen=True)
class Regime:
    """A training regime: the share of true inputs at each step, and whether feedback is detached.

    Args:
        name: how tables and figures call it.
        schedule: step i -> epsilon_i in [0, 1] (1: teacher forcing, 0: free running).
        detach: feed back the prediction with its gradient cut (no gradient through the
            fed-back input, as with a sampled token).
    """

    name: str
    schedule: Callable[[int], float]
    detach: bool = False


@dataclass(frozen=True)
class SeedSpread:
    """One regime's metric over its seeds: the values, their mean and their range."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        """The mean over seeds."""
        return math.fsum(self.values) / len(self.values)

    @property
    def low(self) -> float:
        """The smallest seed's value."""
        return min(self.values)

    @property
    def high(self) -> float:
        """The largest seed's value."""
        return max(self.values)

    @property
    def spread(self) -> float:
        """high - low: how far apart the seeds are."""
        return self.high - self.low


def separated(a: SeedSpread, b: SeedSpread) -> bool:
    """True when every seed of one regime is below every seed of the other (ranges disjoint).

    Example:
        >>> separated(SeedSpread((1.0, 1.2)), SeedSpread((1.3, 1.5)))
        True
        >>> separated(SeedSpread((1.0, 1.4)), SeedSpread((1.3, 1.5)))
        False
    """
    return a.high < b.low or b.high < a.low


@dataclass(frozen=True)
class RegimeGrid:
    """K = R x A x S copies: every regime with every learning rate and every seed.

    Copy ``k`` is ``(regime r, learning rate a, seed s)`` with k = (r A + a) S + s.

    Example:
        >>> grid = RegimeGrid((Regime("tf", lambda i: 1.0), Regime("free", lambda i: 0.0)),
        ...                   lrs=(0.01, 0.03), seeds=(0, 1, 2))
        >>> grid.size, grid.epsilon(0).tolist()[:3], grid.epsilon(0).tolist()[6:9]
        (12, [1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    """

    regimes: tuple[Regime, ...]
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]

    def __post_init__(self) -> None:
        """Check that there is at least one of each, with distinct names and rates > 0."""
        for name in ("regimes", "lrs", "seeds"):
            value = getattr(self, name)
            if not isinstance(value, Sequence) or not value:
                raise ValueError(f"{name}: expected a non-empty sequence, got {value!r:.80}")
        if not all(isinstance(r, Regime) for r in self.regimes):
            raise ValueError(f"regimes: expected Regime objects, got {self.regimes!r:.80}")
        names = [r.name for r in self.regimes]
        if len(set(names)) != len(names):
            raise ValueError(f"regimes: expected distinct names, got {names}")
        if not all(isinstance(v, int | float) and v > 0 for v in self.lrs):
            raise ValueError(f"lrs: expected positive numbers, got {self.lrs!r}")

    @property
    def size(self) -> int:
        """K, the number of copies."""
        return len(self.regimes) * len(self.lrs) * len(self.seeds)

    def members(self) -> list[tuple[Regime, float, int]]:
        """``(regime, lr, seed)`` of copy k, for k = 0..K-1."""
        return list(itertools.product(self.regimes, self.lrs, self.seeds))

    def epsilon(self, step: int) -> torch.Tensor:
        """(K,) float32: each copy's epsilon at training step ``step``."""
        per_regime = [float(r.schedule(step)) for r in self.regimes]
        return torch.tensor(per_regime).repeat_interleave(len(self.lrs) * len(self.seeds))

    def detach(self) -> torch.Tensor:
        """(K,) bool: which copies feed back detached predictions."""
        return torch.tensor([r.detach for r, _, _ in self.members()])

    def lr(self) -> torch.Tensor:
        """(K,) float32: each copy's learning rate."""
        return torch.tensor([lr for _, lr, _ in self.members()])

    def _table(self, values: object) -> torch.Tensor:
        values = check_tensor("values", values)
        if values.dim() != 1 or len(values) != self.size:
            raise ValueError(f"values: expected shape ({self.size},), one per copy, got "
                             f"{tuple(values.shape)}")
        return values.detach().double().reshape(len(self.regimes), len(self.lrs), len(self.seeds))

    def chosen_lrs(self, validation: torch.Tensor) -> dict[str, float]:
        """Per regime, the learning rate with the lowest mean validation metric over seeds.

        A copy whose metric is not finite (it diverged) makes its rate's mean infinite.
        """
        table = self._table(validation)  # (R, A, S)
        table = torch.where(torch.isfinite(table), table, torch.inf)
        best = table.mean(dim=2).argmin(dim=1)  # (R,)
        return {r.name: self.lrs[int(a)] for r, a in zip(self.regimes, best, strict=True)}

    def at_lrs(self, values: torch.Tensor, lrs: dict[str, float]) -> dict[str, SeedSpread]:
        """Per regime, the seeds' values (K,) at that regime's learning rate in ``lrs``."""
        table = self._table(values)  # (R, A, S)
        out = {}
        for r, regime in enumerate(self.regimes):
            if lrs.get(regime.name) not in self.lrs:
                raise ValueError(f"lrs: expected one of {self.lrs} for {regime.name!r}, got "
                                 f"{lrs.get(regime.name)!r}")
            a = self.lrs.index(lrs[regime.name])
            out[regime.name] = SeedSpread(tuple(table[r, a].tolist()))
        return out

    def index(self, name: str, lr: float, seed: int) -> int:
        """k of the copy (regime ``name``, ``lr``, ``seed``)."""
        names = [r.name for r in self.regimes]
        if name not in names or lr not in self.lrs or seed not in self.seeds:
            raise ValueError(f"expected a regime of {names}, an lr of {self.lrs} and a seed "
                             f"of {self.seeds}, got {name!r}, {lr!r}, {seed!r}")
        r, a, s = names.index(name), self.lrs.index(lr), self.seeds.index(seed)
        return (r * len(self.lrs) + a) * len(self.seeds) + s
