r"""Greedy decoding and beam search for the most probable output sequence.

Taught in chapter 5 (sequence-to-sequence decoding). A decoder gives the log-probability of
a whole output through the chain rule, :math:`\ln p(y \mid x) = \sum_m \ln p(y_m \mid y_{<m}, x)`
with the last token ``<eos>``. The most probable sequence maximises that sum; no cheap
algorithm finds it in general, and two approximations are in use:

* **greedy**: at every step the single most probable next token. It can miss the best
  sequence: a likely first token may leave only unlikely continuations;
* **beam search** with width B: keep the B prefixes of highest log-probability, extend each
  by every token, keep the B best again; a prefix that emits ``<eos>`` is finished. B = 1 is
  greedy. It stops when no unfinished prefix can beat the best finished sequence (a
  log-probability only falls as tokens are added) or at ``max_length`` tokens.

Both work with any ``step(tokens, state) -> (log_probs, state)``: ``tokens`` (B,) the last
token of each of B prefixes, ``state`` whatever the decoder carries with the prefixes in
dim 1 (an RNN's (1, B, H)), ``log_probs`` (B, V) of the next token. The log-probability
of each finished sequence is returned so it can be checked against the teacher-forced score.

Reference: the beam of Sutskever et al. (2014); A. Graves, "Sequence transduction with
recurrent neural networks" (2012).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from rnncourse._validation import check_int

__all__ = ["beam_search", "greedy_search"]

Step = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@torch.no_grad()
def greedy_search(
    step: Step, state: torch.Tensor, *, bos: int, eos: int, max_length: int
) -> tuple[list[int], float]:
    """The argmax token at every step, from ``<bos>`` until ``<eos>`` or ``max_length`` tokens.

    ``state`` is the decoder's start state for one source (dim 1 of size 1). Returns the
    tokens (with the final ``<eos>`` if one was emitted) and their total log-probability.
    """
    check_int("max_length", max_length)
    token, total, out = torch.tensor([bos]), 0.0, []
    for _ in range(max_length):
        log_probs, state = step(token, state)  # (1, V)
        best = int(log_probs[0].argmax())
        total += float(log_probs[0, best])
        out.append(best)
        if best == eos:
            break
        token = torch.tensor([best])
    return out, total


@torch.no_grad()
def beam_search(
    step: Step, state: torch.Tensor, *, bos: int, eos: int, max_length: int, beam_width: int
) -> list[tuple[list[int], float]]:
    """The ``beam_width`` best sequences beam search finds, best first, as (tokens, log p).

    ``state`` is the decoder's start state for one source (dim 1 of size 1). Sequences end
    with ``<eos>``, unless ``max_length`` tokens were reached first. Scores are plain sums of
    log-probabilities (no length normalisation): the search approximates the most probable
    sequence.

    Example:
        >>> table = torch.log(torch.tensor([[0.0, 0.6, 0.4],    # after <bos> (0): a 0.6, b 0.4
        ...                                 [0.5, 0.1, 0.4],    # after a: <eos> 0.5
        ...                                 [0.9, 0.1, 0.0]]))  # after b: <eos> 0.9
        >>> step = lambda tokens, s: (table[tokens], s)
        >>> greedy_search(step, torch.zeros(1, 1), bos=0, eos=0, max_length=3)[0]
        [1, 0]
        >>> [(seq, round(lp, 3)) for seq, lp in beam_search(step, torch.zeros(1, 1), bos=0, eos=0,
        ...                                                 max_length=3, beam_width=2)]
        [([2, 0], -1.022), ([1, 0], -1.204)]
    """
    check_int("max_length", max_length)
    check_int("beam_width", beam_width)
    prefixes: list[list[int]] = [[]]
    scores = torch.zeros(1, dtype=torch.float64)  # (B,) log p of each live prefix
    tokens = torch.tensor([bos])
    finished: list[tuple[list[int], float]] = []
    for length in range(1, max_length + 1):
        log_probs, state = step(tokens, state)  # (B, V), state with B in dim 1
        candidates = scores.unsqueeze(1) + log_probs.double()  # (B, V)
        flat = candidates.flatten()
        order = flat.argsort(descending=True)
        keep, keep_scores = [], []
        for idx in order.tolist():
            b, v = divmod(idx, log_probs.shape[1])
            if not torch.isfinite(flat[idx]):
                break
            if v == eos or length == max_length:
                finished.append(([*prefixes[b], v], float(flat[idx])))
            else:
                keep.append((b, v))
                keep_scores.append(flat[idx])
            if len(keep) == beam_width:
                break
        finished.sort(key=lambda item: -item[1])
        best_done = finished[min(beam_width, len(finished)) - 1][1] if finished else -float("inf")
        if not keep or (len(finished) >= beam_width and float(keep_scores[0]) <= best_done):
            break  # no live prefix can still beat the beam_width-th finished sequence
        rows = torch.tensor([b for b, _ in keep])
        prefixes = [[*prefixes[b], v] for b, v in keep]
        scores = torch.stack(keep_scores)
        tokens = torch.tensor([v for _, v in keep])
        state = state.index_select(1, rows)  # each live prefix carries its own state
    finished.sort(key=lambda item: -item[1])
    return finished[:beam_width]
