"""A character-level language model: embedding, Elman recurrence, linear readout.

Taught in chapter 1 (the chain rule, with the whole past summarised in h_t) and reused in
chapter 5 (teacher forcing). At each step the model outputs a distribution over the next
character:

    h_t = tanh(W_xh e(x_t) + W_hh h_{t-1} + b_h),    p(x_{t+1} | x_1..x_t) = softmax(W_hy h_t + b_y)

where e(x_t) is a learned embedding of character x_t. ``W_hy``/``b_y`` are the readout
(``self.readout.weight``/``.bias``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rnncourse._validation import check_tensor
from rnncourse.elman import ElmanRNN

__all__ = ["CharRNN"]


class CharRNN(nn.Module):
    """Next-character model. Input ids (N, L) -> logits (N, L, V) for the following characters.

    Args:
        vocab_size: V.
        hidden_size: H.
        embedding_size: size of e(x_t) (default: 32).
    """

    def __init__(self, vocab_size: int, hidden_size: int, embedding_size: int = 32) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.rnn = ElmanRNN(embedding_size, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, vocab_size)

    def forward(
        self, ids: torch.Tensor, h_0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Next-character logits at every step, (N, L, V), and h_n (1, N, H)."""
        ids = check_tensor("ids", ids)
        if ids.dtype != torch.long or ids.dim() != 2:
            raise ValueError(f"ids: expected a (N, L) torch.int64 tensor, got {ids.dtype} of shape "
                             f"{tuple(ids.shape)}")
        e = self.embedding(ids)  # (N, L, E)
        h, h_n = self.rnn(e, h_0)  # (N, L, H), (1, N, H)
        return self.readout(h), h_n  # (N, L, V), (1, N, H)

    def loss(self, ids: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (nats) of predicting ids[:, 1:] from ids[:, :-1]."""
        logits, _ = self(ids[:, :-1])  # (N, L-1, V)
        return F.cross_entropy(logits.reshape(-1, self.vocab_size), ids[:, 1:].reshape(-1))

    @torch.no_grad()
    def bits_per_char(self, ids: torch.Tensor, chunk: int = 256) -> float:
        """Bits per character on one long sequence ``ids`` (L,), carrying h across chunks.

        Each character after the first is predicted from the whole past, as the chain rule
        asks; chunks only bound memory.
        """
        ids = check_tensor("ids", ids)
        if ids.dim() != 1 or len(ids) < 2:
            raise ValueError(f"ids: expected shape (L,) with L >= 2, got {tuple(ids.shape)}")
        h = None
        total, count = 0.0, 0
        for start in range(0, len(ids) - 1, chunk):
            x = ids[start : start + chunk].unsqueeze(0)  # (1, C)
            y = ids[start + 1 : start + chunk + 1].unsqueeze(0)  # (1, C') with C' <= C
            x = x[:, : y.shape[1]]
            logits, h = self(x, h)
            total += float(F.cross_entropy(logits[0], y[0], reduction="sum"))
            count += y.shape[1]
        return total / count / math.log(2)
