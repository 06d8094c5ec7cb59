r"""A small encoder-decoder RNN on a toy transduction: reversing a string of digits.

Taught in chapter 5 (teacher forcing for sequence-to-sequence models). The encoder reads
the source x_1..x_S and its last hidden state starts the decoder, which models the
target with the chain rule,

.. math:: p(y_1, \dots, y_M, \texttt{<eos>} \mid x) = \prod_{m=1}^{M+1} p(y_m \mid y_{<m}, x),

reading ``<bos>`` y_1 .. y_M (teacher forcing: the target shifted right) and predicting
y_1 .. y_M ``<eos>``. Strings in a batch have different lengths, so targets are padded
with ``<pad>``, and the loss averages only over the real tokens (:func:`masked_sequence_loss`).

Token ids: 0 ``<pad>``, 1 ``<bos>``, 2 ``<eos>``, 3 + d the digit d.
Reference: I. Sutskever, O. Vinyals and Q. V. Le, "Sequence to sequence learning with neural
networks", NeurIPS 2014 (which also reversed the source, and decoded with a beam).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnncourse._validation import check_int, check_tensor
from rnncourse.elman import ElmanRNN

__all__ = ["BOS", "EOS", "PAD", "ReversalBatch", "Seq2SeqRNN", "masked_sequence_loss",
           "reversal_batch"]

PAD, BOS, EOS = 0, 1, 2
DIGIT0 = 3  # id of the digit 0
VOCAB_SIZE = DIGIT0 + 10


@dataclass(frozen=True)
class ReversalBatch:
    """Sources, their lengths, and the decoder's inputs and targets (all padded with ``<pad>``).

    ``source`` (N, S_max), ``lengths`` (N,), ``target_in`` (N, T) = <bos> y_1..y_M <pad>...,
    ``target_out`` (N, T) = y_1..y_M <eos> <pad>..., with T = S_max + 1.
    """

    source: torch.Tensor
    lengths: torch.Tensor
    target_in: torch.Tensor
    target_out: torch.Tensor


def reversal_batch(
    n: int, min_length: int, max_length: int, *, generator: torch.Generator | None = None
) -> ReversalBatch:
    """``n`` random digit strings of length in [min_length, max_length] and their reversals.

    Example:
        >>> b = reversal_batch(2, 3, 3, generator=torch.Generator().manual_seed(0))
        >>> (b.source - 3).tolist(), (b.target_out[:, :3] - 3).tolist(), b.target_out[:, 3].tolist()
        ([[3, 0, 3], [9, 7, 3]], [[3, 0, 3], [3, 7, 9]], [2, 2])
    """
    check_int("n", n)
    check_int("min_length", min_length)
    check_int("max_length", max_length, min_length, "(at least min_length)")
    lengths = torch.randint(min_length, max_length + 1, (n,), generator=generator)  # (N,)
    digits = torch.randint(0, 10, (n, max_length), generator=generator)  # (N, S)
    pos = torch.arange(max_length)  # (S,)
    real = pos < lengths.unsqueeze(1)  # (N, S)
    source = torch.where(real, digits + DIGIT0, PAD)  # (N, S)
    rev_index = (lengths.unsqueeze(1) - 1 - pos).clamp(min=0)  # (N, S): position M-1-m
    reversed_ = torch.where(real, source.gather(1, rev_index), PAD)  # (N, S)
    target_out = torch.cat([reversed_, torch.full((n, 1), PAD)], dim=1)  # (N, T)
    target_out[torch.arange(n), lengths] = EOS
    target_in = torch.cat([torch.full((n, 1), BOS), reversed_], dim=1)  # (N, T)
    return ReversalBatch(source, lengths, target_in, target_out)


def masked_sequence_loss(
    logits: torch.Tensor, targets: torch.Tensor, pad_id: int = PAD
) -> torch.Tensor:
    r"""Mean cross-entropy over the real tokens only, the padded positions left out.

    .. math:: \mathcal L = \frac{\sum_{n,t} m_{n,t}\,(-\ln p(y_{n,t}))}{\sum_{n,t} m_{n,t}},
       \qquad m_{n,t} = [y_{n,t} \neq \texttt{<pad>}]

    Every real token of the batch counts once, whatever the length of its string (the same
    as ``F.cross_entropy(..., ignore_index=pad_id)``).

    Inputs: ``logits`` (N, T, V), ``targets`` (N, T) int64. Output: a scalar (nats).
    """
    logits, targets = check_tensor("logits", logits), check_tensor("targets", targets)
    if logits.dim() != 3 or targets.shape != logits.shape[:2] or targets.dtype != torch.long:
        raise ValueError(f"targets: expected a torch.int64 tensor of shape "
                         f"{tuple(logits.shape[:2])} (logits (N, T, V)), got {targets.dtype} "
                         f"of shape {tuple(targets.shape)}")
    mask = targets != pad_id  # (N, T)
    if not bool(mask.any()):
        raise ValueError("targets: expected at least one token that is not padding, got none")
    nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (N, T)
    return (nll * mask).sum() / mask.sum()


class Seq2SeqRNN(nn.Module):
    r"""Encoder and decoder Elman RNNs with embeddings; the encoder state starts the decoder.

    .. math:: h^{enc}_s = \tanh(W^{e}_{xh} e(x_s) + W^{e}_{hh} h^{enc}_{s-1} + b^{e}_h),\quad
       h^{dec}_0 = h^{enc}_{S_n},\quad
       p(y_m \mid y_{<m}, x) = \operatorname{softmax}(W_{hy} h^{dec}_m + b_y)

    where S_n is source n's own length (its padding is not read into the state).

    Example:
        >>> model = Seq2SeqRNN(32, generator=torch.Generator().manual_seed(0))
        >>> b = reversal_batch(4, 1, 5, generator=torch.Generator().manual_seed(0))
        >>> tuple(model(b.source, b.lengths, b.target_in).shape)
        (4, 6, 13)
    """

    def __init__(self, hidden_size: int, embedding_size: int = 16, *,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.vocab_size = VOCAB_SIZE
        self.source_embedding = nn.Embedding(VOCAB_SIZE, embedding_size, padding_idx=PAD)
        self.target_embedding = nn.Embedding(VOCAB_SIZE, embedding_size, padding_idx=PAD)
        self.encoder = ElmanRNN(embedding_size, hidden_size, batch_first=True, generator=generator)
        self.decoder = ElmanRNN(embedding_size, hidden_size, batch_first=True, generator=generator)
        self.readout = nn.Linear(hidden_size, VOCAB_SIZE)
        if generator is not None:  # every weight from the one generator
            with torch.no_grad():
                for emb in (self.source_embedding, self.target_embedding):
                    emb.weight.normal_(generator=generator)
                    emb.weight[PAD] = 0
                bound = hidden_size ** -0.5
                self.readout.weight.uniform_(-bound, bound, generator=generator)
                self.readout.bias.uniform_(-bound, bound, generator=generator)

    def encode(self, source: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """h_0 of the decoder: the encoder state after each source's last real token, (1, N, H)."""
        h, _ = self.encoder(self.source_embedding(source))  # (N, S, H)
        return h[torch.arange(len(lengths)), lengths - 1].unsqueeze(0)  # (1, N, H)

    def decode(self, target_in: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of the next target token at each step, (N, T, V), and the last state (1, N, H)."""
        out, h_n = self.decoder(self.target_embedding(target_in), h)  # (N, T, H)
        return self.readout(out), h_n

    def forward(self, source: torch.Tensor, lengths: torch.Tensor,
                target_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (N, T, V) of target_out given the source and target_in."""
        return self.decode(target_in, self.encode(source, lengths))[0]

    def step(self, token: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One decoding step: log p(next | token, h) (B, V) and the new state (1, B, H)."""
        logits, h = self.decode(token.unsqueeze(1), h)  # (B, 1, V)
        return torch.log_softmax(logits[:, 0], dim=-1), h
