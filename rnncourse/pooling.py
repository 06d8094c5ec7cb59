"""Readouts: turning the hidden states h_1..h_T of a padded batch into one vector per sequence.

Taught in chapter 6 (classifying sequences). An RNN gives one hidden state per step; a
classifier needs one vector c per sequence, which then goes through o = W_o c + b_o. The
readouts here all take the same inputs, a padded batch of states and the true lengths:

* ``states``: (N, L, H), row n holds h_1..h_{T_n} of sequence n followed by L - T_n
  padding steps whose values are ignored;
* ``lengths``: (N,) integer tensor of the true lengths T_n, with 1 <= T_n <= L;

and return c of shape (N, H):

===================  ====================================================================
readout              c_n
===================  ====================================================================
:func:`last_state`   h_{T_n}, the state at the sequence's own last step (not at step L)
:func:`masked_mean`  (1 / T_n) sum_{t=1}^{T_n} h_t, averaged over real steps only
:func:`masked_max`   max_{t <= T_n} h_t, elementwise
attention            sum_{t=1}^{T_n} alpha_t h_t with alpha = softmax over real steps of
                     learned scores e_t (:class:`AttentionPooling`)
===================  ====================================================================

The two classic mistakes with padded batches are ``states[:, -1]`` (the state after the
padding, not at T_n) and ``states.mean(1)`` (averaging the padding in); chapter 6
measures what they cost. ``last_state`` equals the ``h_n`` that ``torch.nn.RNN`` returns
for a ``pack_padded_sequence`` input (the tests check it).

References: the last-state and mean readouts as in the UvA Deep Learning lecture on RNNs;
attention pooling after Z. Yang et al., "Hierarchical attention networks for document
classification", NAACL 2016.
"""

from __future__ import annotations

import torch
from torch import nn

from rnncourse._validation import check_floating, check_int, check_shape, check_tensor

__all__ = [
    "READOUTS",
    "AttentionPooling",
    "LastState",
    "MaskedMax",
    "MaskedMean",
    "last_state",
    "length_mask",
    "make_readout",
    "masked_max",
    "masked_mean",
    "masked_softmax",
]


def _check_lengths(lengths: object, n: int, max_len: int) -> torch.Tensor:
    lengths = check_tensor("lengths", lengths)
    if lengths.dtype.is_floating_point or lengths.dtype.is_complex or lengths.dtype == torch.bool:
        raise ValueError(
            f"lengths: expected an integer tensor (torch.int64), got dtype {lengths.dtype}")
    if tuple(lengths.shape) != (n,):
        raise ValueError(f"lengths: expected shape ({n},), one length per sequence, "
                         f"got {tuple(lengths.shape)}")
    if n > 0:
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 1 or hi > max_len:
            raise ValueError(f"lengths: expected values in [1, {max_len}] (the padded length L), "
                             f"got values in [{lo}, {hi}]")
    return lengths


def _check_states(states: object, lengths: object) -> tuple[torch.Tensor, torch.Tensor]:
    n, max_len, _ = check_shape("states", states, ("N", "L", "H"))
    check_floating("states", states)
    return states, _check_lengths(lengths, n, max_len)


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Boolean (N, L) mask, True at real steps: ``mask[n, t] = t < lengths[n]`` (t from 0).

    Example:
        >>> length_mask(torch.tensor([1, 3]), 4)
        tensor([[ True, False, False, False],
                [ True,  True,  True, False]])
    """
    check_int("max_len", max_len)
    (n,) = check_shape("lengths", lengths, ("N",))
    lengths = _check_lengths(lengths, n, max_len)
    steps = torch.arange(max_len, device=lengths.device)  # (L,)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)  # (N, L)


def last_state(states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """h_{T_n} for each sequence: the state at index ``lengths[n] - 1``, gathered per row.

    Equivalent loop: ``torch.stack([states[n, lengths[n] - 1] for n in range(N)])``.

    Inputs: ``states`` (N, L, H), ``lengths`` (N,). Output: (N, H).
    """
    states, lengths = _check_states(states, lengths)
    N, _, H = states.shape
    index = (lengths - 1).to(states.device).view(N, 1, 1).expand(N, 1, H)  # (N, 1, H)
    return states.gather(1, index).squeeze(1)  # (N, H)


def masked_mean(states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    r"""Mean over real steps only, c_n = (1/T_n) \sum_{t=1}^{T_n} h_t.

    Padding is zeroed before summing and the sum is divided by T_n, not by L.

    Inputs: ``states`` (N, L, H), ``lengths`` (N,). Output: (N, H).
    """
    states, lengths = _check_states(states, lengths)
    mask = length_mask(lengths, states.shape[1]).to(states.dtype)  # (N, L)
    total = (states * mask.unsqueeze(-1)).sum(1)  # (N, H)
    return total / lengths.to(states.dtype).unsqueeze(1)  # (N, H)


def masked_max(states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Elementwise max over real steps, c_n[j] = max_{t <= T_n} h_t[j].

    Padding is filled with -inf before the max, so it can never win.

    Inputs: ``states`` (N, L, H), ``lengths`` (N,). Output: (N, H).
    """
    states, lengths = _check_states(states, lengths)
    mask = length_mask(lengths, states.shape[1]).unsqueeze(-1)  # (N, L, 1)
    return states.masked_fill(~mask, float("-inf")).amax(1)  # (N, H)


def masked_softmax(scores: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    r"""Softmax over the real steps of each row: alpha_t = exp(e_t) / \sum_{s <= T_n} exp(e_s).

    Padding gets weight exactly 0 and each row's weights sum to 1.

    Inputs: ``scores`` (N, L), ``lengths`` (N,). Output: ``alpha`` (N, L).
    """
    check_shape("scores", scores, ("N", "L"))
    check_floating("scores", scores)
    lengths = _check_lengths(lengths, scores.shape[0], scores.shape[1])
    mask = length_mask(lengths, scores.shape[1])  # (N, L)
    return scores.masked_fill(~mask, float("-inf")).softmax(dim=1)  # (N, L)


class LastState(nn.Module):
    """Readout module: :func:`last_state`. No parameters."""

    def forward(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """c = h_{T_n}, (N, H): see :func:`last_state`."""
        return last_state(states, lengths)  # (N, H)


class MaskedMean(nn.Module):
    """Readout module: :func:`masked_mean`. No parameters."""

    def forward(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """c = the mean of h_1..h_{T_n}, (N, H): see :func:`masked_mean`."""
        return masked_mean(states, lengths)  # (N, H)


class MaskedMax(nn.Module):
    """Readout module: :func:`masked_max`. No parameters."""

    def forward(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """c = the elementwise max of h_1..h_{T_n}, (N, H): see :func:`masked_max`."""
        return masked_max(states, lengths)  # (N, H)


class AttentionPooling(nn.Module):
    r"""Learned attention pooling: a weighted mean with weights the model chooses per step.

    .. math::
        e_t = u^\top \tanh(W_a h_t + b_a), \qquad
        \alpha_t = \frac{\exp e_t}{\sum_{s=1}^{T_n} \exp e_s}, \qquad
        c = \sum_{t=1}^{T_n} \alpha_t h_t

    where ``W_a`` (A, H) and ``b_a`` (A,) are ``self.W_a.weight``/``.bias`` and ``u`` (A,)
    is a learned query ("which kind of step matters?"). With all scores equal, alpha_t =
    1/T_n and this is :func:`masked_mean`.

    Args:
        hidden_size: H.
        attention_size: A (default: H).

    Inputs: ``states`` (N, L, H), ``lengths`` (N,). Output: c (N, H).
    Call :meth:`weights` for alpha (N, L).
    """

    def __init__(self, hidden_size: int, attention_size: int | None = None) -> None:
        super().__init__()
        attention_size = hidden_size if attention_size is None else attention_size
        check_int("hidden_size", hidden_size)
        check_int("attention_size", attention_size)
        self.hidden_size = hidden_size
        self.W_a = nn.Linear(hidden_size, attention_size)
        self.u = nn.Parameter(torch.randn(attention_size) / attention_size**0.5)  # (A,)

    def weights(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """alpha (N, L): the masked softmax of the scores e_t; zero on padding."""
        states, lengths = _check_states(states, lengths)
        check_shape("states", states, ("N", "L", self.hidden_size))
        scores = torch.tanh(self.W_a(states)) @ self.u  # (N, L)
        return masked_softmax(scores, lengths)  # (N, L)

    def forward(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """c = sum_t alpha_t h_t, (N, H), with alpha from :meth:`weights`."""
        alpha = self.weights(states, lengths)  # (N, L)
        return (alpha.unsqueeze(-1) * states).sum(1)  # (N, H)


READOUTS = ("last", "mean", "max", "attention")


def make_readout(name: str, hidden_size: int) -> nn.Module:
    """The readout called ``name`` (one of :data:`READOUTS`) for states of size ``hidden_size``."""
    if name == "last":
        return LastState()
    if name == "mean":
        return MaskedMean()
    if name == "max":
        return MaskedMax()
    if name == "attention":
        return AttentionPooling(hidden_size)
    raise ValueError(f"name: expected one of {READOUTS}, got {name!r}")
