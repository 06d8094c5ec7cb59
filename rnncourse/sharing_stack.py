"""Many Elman RNNs, each sharing a chosen part of its weights across steps, run as one batch.

Taught in chapter 2 (weight sharing across time), which compares shared, unshared, partly
shared and softly tied recurrences over several seeds and learning rates. Member k of the
stack computes, at every step t = 1..L of its own input,

    h_t = tanh(W_xh^(t) x_t + W_hh^(t) h_{t-1} + b_h^(t)),        y_t = W_hy h_t + b_y,

where each of the three recurrent parameters is either *tied* (one copy used at every step,
W^(1) = ... = W^(T), as in :class:`rnncourse.ElmanRNN`) or *untied* (T_max copies, as in
:class:`rnncourse.unshared.UnsharedRNN`); :class:`Sharing` says which. The readout
(W_hy, b_y) is shared by every model: only the recurrence differs. Untied copies may be
pulled towards their mean by the *soft-tying penalty*

    Omega = sum over untied parameters theta of  sum_t || theta^(t) - theta_bar ||^2,

theta_bar the mean of the copies (:meth:`SharingStack.tying_penalty`); a loss
``task_loss + lam * Omega`` goes from unshared (lam = 0) to shared (lam -> infinity).

Why not :class:`rnncourse.ensemble.StackedModels`: that runs copies of *one* architecture on
*the same* inputs; here the members differ in what they share, each reads its own training
set, and each has its own learning rate (step them with
:class:`rnncourse.stacked_rnn.MemberwiseAdam`, Adam with one learning rate per member).

Why one batch: small recurrent models spend their time in Python overhead per step, not in
arithmetic, so K models run one after another cost K times that overhead. Here the K
members' weights are stacked along a leading axis and one loop over steps runs them all,
each on its own inputs. A summed loss trains each member exactly as it would be trained
alone: its loss depends only on its own slice of the weights, and
:class:`rnncourse.stacked_rnn.MemberwiseAdam` updates every slice with its own learning rate
(its optional ``clip_norm`` clips each member's gradient on its own).

Storage: every parameter holds T_max copies for every member, ``W_xh`` (K, T_max, H, H_in),
``W_hh`` (K, T_max, H, H), ``b_h`` (K, T_max, H), and the readout ``W_hy`` (K, C, H),
``b_y`` (K, C), stored (out, in) as PyTorch does. A member that ties a parameter uses its
copy 1 at every step (``W[k, :1].expand(...)``): that copy's gradient is then the sum of the
per-step gradients, exactly the gradient of a shared weight, and copies 2..T_max get no
gradient and never move (they are storage, not parameters of that model:
:meth:`SharingStack.member_parameter_count` counts what the model uses). Shapes: K members,
N batch, L length, H_in input size, H hidden size, C outputs per step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from rnncourse._validation import check_int, check_shape, check_tensor
from rnncourse.elman import ElmanRNN
from rnncourse.unshared import UnsharedRNN

__all__ = ["PARTLY_SHARED", "RECURRENT_NAMES", "SHARED", "UNSHARED", "Sharing", "SharingStack"]

RECURRENT_NAMES = ("W_xh", "W_hh", "b_h")


@dataclass(frozen=True)
class Sharing:
    """Which recurrent parameters of one model are tied across steps (True = one copy)."""

    W_xh: bool = True
    W_hh: bool = True
    b_h: bool = True

    @property
    def label(self) -> str:
        """"shared", "unshared", or which parameters are untied, e.g. "untied W_xh"."""
        untied = [name for name in RECURRENT_NAMES if not getattr(self, name)]
        if not untied:
            return "shared"
        if len(untied) == len(RECURRENT_NAMES):
            return "unshared"
        return "untied " + ", ".join(untied)


SHARED = Sharing()
UNSHARED = Sharing(W_xh=False, W_hh=False, b_h=False)
PARTLY_SHARED = Sharing(W_xh=False, W_hh=True, b_h=True)  # W_xh per step; W_hh and b_h shared


class SharingStack(nn.Module):
    """K one-layer tanh RNNs with per-step readouts, each tying the parameters ``sharing[k]`` says.

    Args:
        input_size: H_in.
        hidden_size: H.
        output_size: C, outputs per step (classes, or 1 for one logit).
        max_length: T_max, the number of steps untied parameters have copies for.
        sharing: one :class:`Sharing` per member (K = its length).
        seeds: one int per member; member k's initial weights are drawn from a generator
            seeded with ``seeds[k]``, so members with the same seed start from the same
            weights whatever they share (untied copies start equal to one another).
        identity_W_hh: start every W_hh (every copy) at the identity matrix.

    Inputs: ``x`` (K, N, L, H_in) with L <= T_max: member k reads ``x[k]``.
    Outputs: ``y`` (K, N, L, C).

    Example:
        >>> stack = SharingStack(3, 4, 2, 6, [SHARED, UNSHARED], seeds=[0, 0])
        >>> tuple(stack(torch.zeros(2, 5, 4, 3)).shape)
        (2, 5, 4, 2)
        >>> [stack.member_parameter_count(k) for k in range(2)]  # readout 10 + recurrence
        [42, 202]

    Member k computes ``member_rnn(k)``'s states followed by its readout; the plain loop, for
    one member, is::

        for t in range(1, L + 1):
            h = torch.tanh(x[:, t-1] @ W_xh[t-1].T + h @ W_hh[t-1].T + b_h[t-1])
            y[:, t-1] = h @ W_hy.T + b_y
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        max_length: int,
        sharing: Sequence[Sharing],
        *,
        seeds: Sequence[int],
        identity_W_hh: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("output_size", output_size), ("max_length", max_length)):
            check_int(name, value)
        sharing, seeds = list(sharing), list(seeds)
        if not sharing or not all(isinstance(s, Sharing) for s in sharing):
            raise ValueError("sharing: expected a non-empty sequence of Sharing, "
                             f"got {sharing!r:.80}")
        if len(seeds) != len(sharing):
            raise ValueError(f"seeds: expected one seed per member ({len(sharing)}), "
                             f"got {len(seeds)}")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.max_length, self.sharing, self.size = max_length, sharing, len(sharing)
        H, H_in, C, T = hidden_size, input_size, output_size, max_length
        bound = 1.0 / math.sqrt(H)  # as ElmanRNN and nn.Linear(H, C) draw their weights
        shapes = {"W_xh": (H, H_in), "W_hh": (H, H), "b_h": (H,), "W_hy": (C, H), "b_y": (C,)}
        values: dict[str, list[torch.Tensor]] = {name: [] for name in shapes}
        for seed in seeds:
            g = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
            for name, shape in shapes.items():
                value = torch.empty(shape).uniform_(-bound, bound, generator=g)
                if name == "W_hh" and identity_W_hh:
                    value = torch.eye(H)
                if name in RECURRENT_NAMES:  # T copies, equal at the start
                    value = value.expand(T, *shape)
                values[name].append(value)
        self.W_xh = nn.Parameter(torch.stack(values["W_xh"]))  # (K, T_max, H, H_in)
        self.W_hh = nn.Parameter(torch.stack(values["W_hh"]))  # (K, T_max, H, H)
        self.b_h = nn.Parameter(torch.stack(values["b_h"]))  # (K, T_max, H)
        self.W_hy = nn.Parameter(torch.stack(values["W_hy"]))  # (K, C, H)
        self.b_y = nn.Parameter(torch.stack(values["b_y"]))  # (K, C)
        for name in RECURRENT_NAMES:  # (K,) bool: does member k tie this parameter?
            self.register_buffer(f"_tied_{name}",
                                 torch.tensor([getattr(m, name) for m in sharing]),
                                 persistent=False)

    def member_parameter_count(self, k: int) -> int:
        """The number of scalars member k uses (a tied parameter counts once, not T_max times)."""
        k = self._check_member(k)
        total = self.W_hy[k].numel() + self.b_y[k].numel()
        for name in RECURRENT_NAMES:
            copies = getattr(self, name)[k]  # (T_max, ...)
            total += copies[0].numel() if getattr(self.sharing[k], name) else copies.numel()
        return total

    def tying_penalty(self) -> torch.Tensor:
        """Omega_k = sum over untied theta of sum_t ||theta^(t) - mean_t theta^(t)||^2: (K,)."""
        total = self.W_xh.new_zeros(self.size)
        for name in RECURRENT_NAMES:
            theta = getattr(self, name)  # (K, T_max, ...)
            spread = (theta - theta.mean(1, keepdim=True)).pow(2).flatten(1).sum(1)  # (K,)
            total = total + torch.where(getattr(self, f"_tied_{name}"), 0.0, spread)
        return total  # (K,)

    def _check_member(self, k: object) -> int:
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < self.size:
            raise ValueError(f"k: expected an int in [0, {self.size - 1}], got {k!r}")
        return k

    def _per_step(self, name: str, L: int) -> torch.Tensor:
        """Every member's weights of parameter ``name`` for steps 1..L: (K, L, ...)."""
        theta = getattr(self, name)  # (K, T_max, ...)
        tied = getattr(self, f"_tied_{name}").view(-1, *[1] * (theta.dim() - 1))  # (K, 1, ...)
        return torch.where(tied, theta[:, :1].expand(-1, L, *theta.shape[2:]), theta[:, :L])

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """Every member's states h_1..h_L: (K, N, L, H)."""
        x = check_tensor("x", x)
        K, N, L, _ = check_shape("x", x, (self.size, "N", "L", self.input_size))
        if x.dtype != self.W_xh.dtype:
            raise ValueError(f"x: expected dtype {self.W_xh.dtype} (the weights' dtype), "
                             f"got {x.dtype}")
        if not 1 <= L <= self.max_length:
            raise ValueError(f"x: expected a sequence of length 1 <= L <= max_length = "
                             f"{self.max_length}, got L = {L}")
        W_xh, W_hh, b_h = (self._per_step(name, L) for name in RECURRENT_NAMES)
        # Input path of all steps at once, each with its own W_xh^(t) and b_h^(t).
        xp = torch.einsum("knli,klhi->klnh", x, W_xh) + b_h[:, :, None, :]  # (K, L, N, H)
        h = x.new_zeros(K, N, self.hidden_size)  # (K, N, H): h_0 = 0
        states = []
        # unbind, not xp[:, t]: the backward of one indexing per step would fill a whole
        # (K, L, N, H) gradient each time; unbind's backward stacks the L pieces once.
        for xp_t, W_hh_t in zip(xp.unbind(1), W_hh.transpose(2, 3).unbind(1), strict=True):
            h = torch.tanh(xp_t + torch.bmm(h, W_hh_t))  # (K, N, H)
            states.append(h)
        return torch.stack(states, dim=2)  # (K, N, L, H)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Every member's per-step outputs y_1..y_L on its own inputs: (K, N, L, C)."""
        h = self.hidden_states(x)  # (K, N, L, H)
        return torch.einsum("knlh,kch->knlc", h, self.W_hy) + self.b_y[:, None, None, :]

    def member_rnn(self, k: int) -> ElmanRNN | UnsharedRNN:
        """Member k's recurrence as an ordinary ``batch_first`` module (a copy of its weights).

        An ``ElmanRNN`` if every parameter is tied, else an ``UnsharedRNN`` (a tied parameter
        copied to every step).
        """
        k = self._check_member(k)
        H, H_in, T = self.hidden_size, self.input_size, self.max_length
        tied = self.sharing[k] == SHARED
        dtype = self.W_xh.dtype
        rnn = (ElmanRNN(H_in, H, batch_first=True, dtype=dtype) if tied
               else UnsharedRNN(H_in, H, max_length=T, batch_first=True, dtype=dtype))
        with torch.no_grad():
            for name in RECURRENT_NAMES:
                value = self._per_step(name, T)[k]  # (T_max, ...)
                getattr(rnn, name).copy_(value[0] if tied else value)
        return rnn
