r"""Several character models, one per seed, trained as one (a spread over seeds in one run).

Taught in chapter 1, where the recurrent network's bits per character are reported over
several seeds. The K copies of :class:`rnncourse.language_model.CharRNN` share nothing but
their batches; :class:`rnncourse.ensemble.StackedModels` runs them as one vectorised model.
Its loss is the sum of the copies' losses,

    loss = sum_{k=1}^{K} CE_k,   CE_k = -1/(N W) sum_{n,t} ln p_k(x_{n,t+1} | x_{n,1..t}),

so the gradient for copy k's parameters is exactly CE_k's gradient, and Adam (elementwise)
updates each copy as if it were trained alone on the same batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from rnncourse._validation import check_tensor
from rnncourse.ensemble import StackedModels
from rnncourse.language_model import CharRNN

__all__ = ["StackedCharRNN"]


class StackedCharRNN(StackedModels):
    """K :class:`CharRNN` copies trained together; ``loss`` works with ``random_window_loss``.

    Args:
        models: K >= 1 ``CharRNN`` of the same sizes (typically built under K seeds).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> stack = StackedCharRNN([CharRNN(5, 8), CharRNN(5, 8)])
        >>> ids = torch.tensor([[0, 1, 2, 3], [4, 3, 2, 1]])
        >>> torch.allclose(stack.loss(ids), sum(stack.member(k).loss(ids) for k in range(2)))
        True
    """

    def __init__(self, models: Sequence[CharRNN]) -> None:
        models = list(models)
        if not models or not all(isinstance(m, CharRNN) for m in models):
            raise ValueError(
                f"models: expected a non-empty sequence of CharRNN, got {models!r:.80}"
            )
        super().__init__(models)
        self.vocab_size = models[0].vocab_size

    def loss(self, ids: torch.Tensor) -> torch.Tensor:
        """Sum over the K copies of each one's mean cross-entropy (nats) on ids (N, W + 1)."""
        ids = check_tensor("ids", ids)
        if ids.dtype != torch.long or ids.dim() != 2 or ids.shape[1] < 2:
            raise ValueError(f"ids: expected a (N, W + 1) torch.int64 tensor with W >= 1, got "
                             f"{ids.dtype} of shape {tuple(ids.shape)}")
        logits, _ = self(ids[:, :-1])  # (K, N, W, V)
        K = logits.shape[0]
        targets = ids[:, 1:].expand(K, -1, -1)  # (K, N, W)
        per_copy = F.cross_entropy(
            logits.reshape(-1, self.vocab_size), targets.reshape(-1), reduction="none"
        ).view(K, -1)  # (K, N W)
        return per_copy.mean(1).sum()
