"""A sequence classifier: embedding, Elman recurrence, a readout, and o = W_o c + b_o.

Taught in chapter 6 (classifying sequences). For token ids x_1..x_{T} the model computes

    e_t = E[x_t],    h_t = tanh(W_xh e_t + W_hh h_{t-1} + b_h),
    c = readout(h_1..h_T),    o = W_o c + b_o   (logits over the classes)

with one shared set of weights for every step (not a separate U_t per step). The readout
is one of :mod:`rnncourse.pooling`. With ``recurrent=False`` the recurrence is skipped and
the readout pools the embeddings e_t themselves: the "bag of embeddings" baseline the
chapter compares against (it cannot tell "not good" from "good, not").

Padding uses token id ``padding_idx`` (default 0), whose embedding is fixed at zero.
"""

from __future__ import annotations

import torch
from torch import nn

from rnncourse._validation import check_int, check_shape
from rnncourse.elman import ElmanRNN
from rnncourse.pooling import make_readout

__all__ = ["SequenceClassifier"]


class SequenceClassifier(nn.Module):
    """Token ids (N, L) and lengths (N,) -> class logits (N, C).

    Args:
        vocab_size: V, including the padding id.
        embedding_size: E, the size of e_t.
        hidden_size: H, the size of h_t (ignored when ``recurrent=False``: c then has size E).
        num_classes: C.
        readout: a name from :data:`rnncourse.pooling.READOUTS` ("last", "mean", "max",
            "attention") or any module called as ``readout(states, lengths) -> (N, H)``.
        recurrent: if False, pool the embeddings instead of hidden states.
        padding_idx: the padding token id.
        mlp_size: if given, M: a tanh layer of M units between c and the output (``W_m``).

    Example:
        >>> model = SequenceClassifier(10, 4, 8, 2, readout="mean")
        >>> tuple(model(torch.tensor([[3, 4, 0], [5, 6, 7]]), torch.tensor([2, 3])).shape)
        (2, 2)
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        hidden_size: int,
        num_classes: int,
        *,
        readout: str | nn.Module = "last",
        recurrent: bool = True,
        padding_idx: int = 0,
        mlp_size: int | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embedding_size", embedding_size),
                            ("hidden_size", hidden_size), ("num_classes", num_classes)):
            check_int(name, value)
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=padding_idx)
        self.rnn = ElmanRNN(embedding_size, hidden_size, batch_first=True) if recurrent else None
        size = hidden_size if recurrent else embedding_size
        self.readout = make_readout(readout, size) if isinstance(readout, str) else readout
        if mlp_size is not None:
            check_int("mlp_size", mlp_size)
            self.W_m = nn.Linear(size, mlp_size)  # the deep averaging network's hidden layer
            size = mlp_size
        self.W_o = nn.Linear(size, num_classes)  # o = W_o c + b_o (weight, bias)

    def states(self, tokens: torch.Tensor) -> torch.Tensor:
        """The vectors the readout pools: h_1..h_L (N, L, H), or e_1..e_L if not recurrent."""
        check_shape("tokens", tokens, ("N", "L"))
        if tokens.dtype != torch.long:
            raise ValueError(f"tokens: expected dtype torch.int64, got {tokens.dtype}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise ValueError(f"tokens: expected ids in [0, {self.vocab_size - 1}], "
                             f"got values in [{int(tokens.min())}, {int(tokens.max())}]")
        e = self.embedding(tokens)  # (N, L, E)
        if self.rnn is None:
            return e  # (N, L, E)
        h, _ = self.rnn(e)  # (N, L, H); steps after T_n see padding and are ignored by the readout
        return h

    def head(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Class logits from the states (N, L, H): c = readout(states), then W_o c + b_o: (N, C)."""
        c = self.readout(states, lengths)  # (N, H)
        if hasattr(self, "W_m"):
            c = torch.tanh(self.W_m(c))  # (N, M)
        return self.W_o(c)  # (N, C)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Class logits W_o c + b_o, with c the readout of the states: (N, C)."""
        return self.head(self.states(tokens), lengths)  # (N, C)
