"""Truncated backpropagation through time: chunks of k steps, the hidden state carried and detached.

Taught in chapter 4 (backpropagation through time). References: R. J. Williams and J. Peng,
"An efficient gradient-based algorithm for on-line training of recurrent network
trajectories", Neural Computation 2 (1990); I. Sutskever, "Training recurrent neural
networks", PhD thesis, Toronto (2013), section 2.8.6.

A long sequence x_1..x_S is cut into chunks of k steps. Each chunk is one optimiser step:
the forward pass starts from the state the previous chunk ended in, so the model still
*sees* the whole past, but that state is ``detach()``-ed, so the gradient stops at the
chunk's start. A loss term at step t therefore trains the weights only through the steps
since its chunk began (between 1 and k of them), and the graph kept for ``backward()``
holds k steps, whatever S is.

Forgetting the ``detach()`` links each chunk's graph to the previous chunk's, whose saved
tensors the previous ``backward()`` has already freed: the second ``backward()`` raises
"Trying to backward through the graph a second time".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import nn

from rnncourse._validation import check_shape, check_tensor

__all__ = ["OverlappingTruncatedBPTT", "TruncatedBPTT", "parallel_streams"]


class TruncatedBPTT:
    """A ``loss_fn`` for :func:`rnncourse.train.train` that walks a long sequence k steps at a time.

    Step s of training takes chunk ``s % n_chunks`` (x_{ck+1}..x_{ck+k} for chunk c), runs
    ``model(x_chunk, h)`` from the carried state ``h`` (zeros at the start of the sequence,
    chunk 0), keeps the new state detached for the next call, and returns
    ``loss(output, target_chunk)``.

    Args:
        x: (S, N, H_in), the long sequence (time-major, as ``ElmanRNN`` with
            ``batch_first=False`` takes it).
        target: (S, N, ...) targets aligned with ``x``.
        k: the truncation length, 1 <= k <= S; S must be a multiple of k.
        loss: ``loss(output, target_chunk) -> scalar``; ``output`` is the first thing the
            model returns, (k, N, ·).
        detach: keep True. False reproduces the bug the chapter demonstrates.

    The model must be called as ``model(x_chunk, h_0) -> (output, h_n)`` like ``nn.RNN``
    (e.g. ``rnncourse.elman.ElmanRNN`` followed by a readout).

    Example:
        >>> from rnncourse.elman import ElmanRNN
        >>> tbptt = TruncatedBPTT(torch.zeros(12, 2, 1), torch.zeros(12, 2, 3), k=4,
        ...                       loss=lambda out, z: (out - z).pow(2).mean())
        >>> tbptt.n_chunks
        3
        >>> tbptt(ElmanRNN(1, 3), step=0).item() >= 0
        True
    """

    def __init__(
        self,
        x: torch.Tensor,
        target: torch.Tensor,
        k: int,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        *,
        detach: bool = True,
    ) -> None:
        S = _check_stream(x, target, "k", k)
        self.x, self.target, self.k, self.loss, self.detach = x, target, k, loss, detach
        self.n_chunks = S // k
        self.h: torch.Tensor | None = None  # the carried state, (1, N, H)

    def __call__(self, model: nn.Module, step: int) -> torch.Tensor:
        """The loss of chunk ``step % n_chunks``, from the carried state; stores the new state."""
        c = step % self.n_chunks
        if c == 0:
            self.h = None  # a new pass over the sequence starts from h_0 = 0
        chunk = slice(c * self.k, (c + 1) * self.k)
        output, h_n = model(self.x[chunk], self.h)  # (k, N, ·), (1, N, H)
        self.h = h_n.detach() if self.detach else h_n
        return self.loss(output, self.target[chunk])


class OverlappingTruncatedBPTT:
    """The k1/k2 form (Williams and Peng 1990): every k1 steps, backpropagate through the last k2.

    Update c ends at step e = (c + 1) k1. Its loss is the loss of the k1 new steps
    e - k1 + 1..e, and its graph runs from the detached state at step s = max(0, e - k2):

        loss_c = loss(y_{e-k1+1..e}, z_{e-k1+1..e}),  y computed from h_s.detach(),

    so the gradient of a loss term at step t reaches the inputs x_{s+1}..x_t: back k2 - k1
    steps for the window's first loss term, k2 - 1 for its last (windows overlap by k2 - k1
    steps: each step is run forward k2 / k1 times on average).
    With k1 = k2 = k it is :class:`TruncatedBPTT`. Like it, the state is carried within one
    pass over the sequence and reset to zeros at the start of each pass.

    Args:
        x: (S, N, H_in), the long sequence, time-major.
        target: (S, N, ...) targets aligned with ``x``.
        k1: steps between updates, 1 <= k1 <= S; S must be a multiple of k1.
        k2: steps backpropagated, k1 <= k2 <= S.
        loss: ``loss(output, target_chunk) -> scalar``; ``output`` is (k1, N, ·).

    The model is called as ``model(x_piece, h_0) -> (output, h_n)`` on consecutive pieces
    of the window (so that the state at the next window's start can be kept).

    Example:
        >>> from rnncourse.bptt import ElmanWithReadout
        >>> mse = lambda out, z: (out - z).pow(2).mean()
        >>> tbptt = OverlappingTruncatedBPTT(torch.zeros(12, 2, 1), torch.zeros(12, 2, 3),
        ...                                  k1=3, k2=5, loss=mse)
        >>> tbptt.n_chunks
        4
        >>> tbptt(ElmanWithReadout(1, 4, 3), step=0).item() >= 0
        True
    """

    def __init__(
        self,
        x: torch.Tensor,
        target: torch.Tensor,
        k1: int,
        k2: int,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> None:
        S = _check_stream(x, target, "k1", k1)
        if isinstance(k2, bool) or not isinstance(k2, int) or not k1 <= k2 <= S:
            raise ValueError(f"k2: expected an int in [k1, S] = [{k1}, {S}], got {k2!r}")
        self.x, self.target, self.k1, self.k2, self.loss = x, target, k1, k2, loss
        self.n_chunks = S // k1
        self.h_start: torch.Tensor | None = None  # detached state at the next window's start

    def __call__(self, model: nn.Module, step: int) -> torch.Tensor:
        """The loss of the k1 steps ending at (c + 1) k1, c = step % n_chunks, over k2 steps."""
        c = step % self.n_chunks
        if c == 0:
            self.h_start = None  # a new pass starts from h_0 = 0
        first, end = c * self.k1, (c + 1) * self.k1  # the loss covers steps first..end-1
        start = max(0, end - self.k2)  # the graph starts here
        following = max(0, end + self.k1 - self.k2)  # the next window's start, in [start, end]
        cuts = sorted({start, following, first, end})
        h, next_h_start, outputs = self.h_start, self.h_start, []
        for a, b in itertools.pairwise(cuts):
            output, h = model(self.x[a:b], h)  # (b - a, N, ·), (1, N, H)
            if a >= first:
                outputs.append(output)
            if b == following:
                next_h_start = h.detach()
        self.h_start = next_h_start
        return self.loss(torch.cat(outputs), self.target[first:end])


def parallel_streams(sequence: torch.Tensor, n_streams: int) -> torch.Tensor:
    """Cut one long sequence into ``n_streams`` contiguous pieces laid side by side.

    A corpus x_1..x_M becomes a batch of N streams of S = M // N steps each (the last
    M - N S items are dropped): column n holds x_{nS+1}..x_{nS+S}, in order,

        streams[s, n] = sequence[n * S + s],

    so chunk c of every column continues chunk c - 1 of the same column, and a state carried
    from chunk to chunk (as :class:`TruncatedBPTT` carries it) always belongs to its own
    stream. Batching by any other cut (e.g. ``sequence.view(N, S)`` read column-wise as
    time) would hand each row a state from another part of the text.

    Args:
        sequence: (M, ...) the corpus as ids or feature vectors, time first.
        n_streams: N, 1 <= N <= M.

    Returns:
        (S, N, ...) time-major, as :class:`TruncatedBPTT` takes it.

    Example:
        >>> parallel_streams(torch.arange(10), 3)
        tensor([[0, 3, 6],
                [1, 4, 7],
                [2, 5, 8]])
    """
    sequence = check_tensor("sequence", sequence)
    if sequence.ndim < 1:
        raise ValueError(
            f"sequence: expected at least 1 dimension (M, ...), got shape {tuple(sequence.shape)}")
    M = sequence.shape[0]
    if isinstance(n_streams, bool) or not isinstance(n_streams, int) or not 1 <= n_streams <= M:
        raise ValueError(f"n_streams: expected an int in [1, {M}], got {n_streams!r}")
    S = M // n_streams
    pieces = sequence[: S * n_streams].reshape(n_streams, S, *sequence.shape[1:])  # (N, S, ...)
    return pieces.transpose(0, 1)  # (S, N, ...)


def _check_stream(x: object, target: object, name: str, k: object) -> int:
    """Check x (S, N, H_in), target (S, N, ...) and a chunk length k dividing S; return S."""
    check_shape("x", x, ("S", "N", "H_in"))
    target = check_tensor("target", target)
    S = x.shape[0]
    if tuple(target.shape[:2]) != tuple(x.shape[:2]):
        raise ValueError(f"target: expected leading shape {tuple(x.shape[:2])} (S, N) "
                         f"like x, got {tuple(target.shape[:2])}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= S or S % k:
        raise ValueError(f"{name}: expected an int in [1, {S}] that divides S = {S}, got {k!r}")
    return S
