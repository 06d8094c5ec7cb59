r"""K copies of a small autoregressive RNN, run as one model with batched matrix products.

Taught in chapter 5, which trains every regime x learning rate x seed of its experiments
at once. Copy k has its own parameters (a leading dimension K on every weight) and its own
inputs; nothing couples the copies, so a loss that is the sum of the copies' losses gives
each copy exactly the gradient it would get alone (and :class:`MemberwiseAdam` steps each
with its own learning rate). Unlike :class:`rnncourse.ensemble.StackedModels` (``vmap``
over one module, every copy on the same inputs), each copy here reads its own inputs, which
scheduled sampling needs: copy k feeds back its own predictions. One step of copy k is

.. math:: h^{(k)}_t = \tanh(W^{(k)}_{xh} x^{(k)}_t + W^{(k)}_{hh} h^{(k)}_{t-1} + b^{(k)}_h),
   \qquad y^{(k)}_t = W^{(k)}_{hy} h^{(k)}_t + b^{(k)}_y

computed for all k by ``torch.baddbmm``. Copy k equals the ordinary model it was built
from (:meth:`StackedElman.from_models`, ``member(k)``), which the tests check.

=========================  ==========================  ===========================
here (copy k)              ordinary module             ``torch.nn.RNN``
=========================  ==========================  ===========================
``W_xh[k]`` (H, H_in)      ``ElmanRNN.W_xh``           ``weight_ih_l0``
``W_hh[k]`` (H, H)         ``ElmanRNN.W_hh``           ``weight_hh_l0``
``b_h[k]`` (H,)            ``ElmanRNN.b_h``            ``bias_ih_l0 + bias_hh_l0``
``W_hy[k]``, ``b_y[k]``    ``readout.weight/.bias``    (an ``nn.Linear``)
=========================  ==========================  ===========================
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rnncourse._validation import check_tensor
from rnncourse.elman import ElmanRNN
from rnncourse.language_model import CharRNN
from rnncourse.teacher_forcing import NextValueRNN

__all__ = ["MemberwiseAdam", "StackedCharRNNSteps", "StackedElman", "StackedNextValueRNN"]


def _check_models(models: object, kind: type) -> list:
    models = list(models) if isinstance(models, Sequence) else models
    if not isinstance(models, list) or not models or not all(isinstance(m, kind) for m in models):
        raise ValueError(f"models: expected a non-empty sequence of {kind.__name__}, "
                         f"got {models!r:.80}")
    return models


def _stack(tensors: list[torch.Tensor]) -> nn.Parameter:
    return nn.Parameter(torch.stack([t.detach().clone() for t in tensors]))


class StackedElman(nn.Module):
    """K copies of :class:`rnncourse.elman.ElmanRNN`, each on its own inputs.

    Inputs: ``x`` (K, N, L, H_in), ``h_0`` (K, N, H) or None.
    Outputs: ``h`` (K, N, L, H), every hidden state, and ``h_n`` (K, N, H).

    Example:
        >>> rnns = [ElmanRNN(2, 4, batch_first=True) for _ in range(3)]
        >>> stack = StackedElman.from_models(rnns)
        >>> h, h_n = stack(torch.ones(3, 5, 7, 2))
        >>> tuple(h.shape), torch.allclose(h[1], rnns[1](torch.ones(5, 7, 2))[0], atol=1e-6)
        ((3, 5, 7, 4), True)
    """

    def __init__(self, W_xh: torch.Tensor, W_hh: torch.Tensor, b_h: torch.Tensor) -> None:
        super().__init__()
        self.W_xh = nn.Parameter(W_xh)  # (K, H, H_in)
        self.W_hh = nn.Parameter(W_hh)  # (K, H, H)
        self.b_h = nn.Parameter(b_h)  # (K, H)
        self.size, self.hidden_size, self.input_size = W_xh.shape

    @classmethod
    def from_models(cls, rnns: Sequence[ElmanRNN]) -> StackedElman:
        """Stack the weights of K ``ElmanRNN`` of one size (copies, not shared)."""
        rnns = _check_models(rnns, ElmanRNN)
        return cls(*(_stack([getattr(r, n) for r in rnns]).data for n in ("W_xh", "W_hh", "b_h")))

    def step(self, x_t: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        """One step for every copy: x_t (K, N, H_in), h (K, N, H) or None -> h_t (K, N, H)."""
        if self.input_size == 1:  # a scalar input: a broadcast product is cheaper than bmm
            pre = self.b_h.unsqueeze(1) + x_t * self.W_xh.transpose(1, 2)  # (K, N, H)
        else:
            pre = torch.baddbmm(self.b_h.unsqueeze(1), x_t, self.W_xh.transpose(1, 2))  # (K, N, H)
        if h is not None:
            pre = torch.baddbmm(pre, h, self.W_hh.transpose(1, 2))  # (K, N, H)
        return torch.tanh(pre)

    def forward(
        self, x: torch.Tensor, h_0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run every copy over every step of its own x; see the class docstring for shapes."""
        x = check_tensor("x", x)
        K, _, L, H_in = x.shape if x.dim() == 4 else (None, None, None, None)
        if x.dim() != 4 or K != self.size or H_in != self.input_size or L < 1:
            raise ValueError(f"x: expected shape (K={self.size}, N, L >= 1, "
                             f"H_in={self.input_size}), got {tuple(x.shape)}")
        xp = torch.einsum("knli,khi->lknh", x, self.W_xh) + self.b_h.unsqueeze(1)  # (L, K, N, H)
        h = h_0
        hs = []
        for xp_t in xp.unbind(0):  # the input path of all steps was computed at once above
            h = torch.tanh(xp_t if h is None else torch.baddbmm(xp_t, h, self.W_hh.transpose(1, 2)))
            hs.append(h)  # (K, N, H)
        return torch.stack(hs, dim=2), h  # (K, N, L, H), (K, N, H)


class _Member:
    """Shared by the stacked models: copy k's weights into an ordinary module."""

    def _check_k(self, k: object) -> int:
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < self.size:
            raise ValueError(f"k: expected an int in [0, {self.size - 1}], got {k!r}")
        return k


class StackedNextValueRNN(nn.Module, _Member):
    """K copies of :class:`rnncourse.teacher_forcing.NextValueRNN`, each on its own inputs.

    Inputs: ``x`` (K, N, L, 1), ``h_0`` (K, N, H) or None.
    Outputs: ``y`` (K, N, L, 1), the predictions of the next values, and ``h_n`` (K, N, H).

    Example:
        >>> models = [NextValueRNN(8, generator=torch.Generator().manual_seed(s)) for s in (0, 1)]
        >>> stack = StackedNextValueRNN(models)
        >>> x = torch.randn(5, 6, 1)
        >>> y, _ = stack(x.expand(2, -1, -1, -1))
        >>> torch.allclose(y[1], models[1](x)[0], atol=1e-6)
        True
    """

    def __init__(self, models: Sequence[NextValueRNN]) -> None:
        super().__init__()
        models = _check_models(models, NextValueRNN)
        self.rnn = StackedElman.from_models([m.rnn for m in models])
        self.W_hy = _stack([m.readout.weight for m in models])  # (K, 1, H)
        self.b_y = _stack([m.readout.bias for m in models])  # (K, 1)
        self.size = len(models)

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        """y = W_hy h + b_y for every copy: h (K, N, ..., H) -> (K, N, ..., 1)."""
        K = h.shape[0]
        W_hy = self.W_hy.reshape(K, *([1] * (h.dim() - 2)), -1)  # (K, 1, ..., H)
        b_y = self.b_y.reshape(K, *([1] * (h.dim() - 1)))  # (K, 1, ..., 1)
        return (h * W_hy).sum(dim=-1, keepdim=True) + b_y  # (K, N, ..., 1): one output, no bmm

    def step(self, x_t: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: x_t (K, N, 1), h (K, N, H) or None -> y_t (K, N, 1), h_t (K, N, H)."""
        h = self.rnn.step(x_t, h)
        return self.readout(h), h

    def forward(
        self, x: torch.Tensor, h_0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictions at every step of every copy: y (K, N, L, 1), h_n (K, N, H)."""
        h, h_n = self.rnn(x, h_0)  # (K, N, L, H), (K, N, H)
        return self.readout(h), h_n

    def member(self, k: int) -> NextValueRNN:
        """An ordinary ``NextValueRNN`` holding copy k's current weights (a copy)."""
        k = self._check_k(k)
        model = NextValueRNN(self.rnn.hidden_size)
        with torch.no_grad():
            for name in ("W_xh", "W_hh", "b_h"):
                getattr(model.rnn, name).copy_(getattr(self.rnn, name)[k])
            model.readout.weight.copy_(self.W_hy[k])
            model.readout.bias.copy_(self.b_y[k])
        return model


class StackedCharRNNSteps(nn.Module, _Member):
    """K copies of :class:`rnncourse.language_model.CharRNN`, each on its own ids.

    Inputs: ``ids`` (K, N, L) int64, ``h_0`` (K, N, H) or None.
    Outputs: logits (K, N, L, V) of the next characters and ``h_n`` (K, N, H).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> models = [CharRNN(5, 8), CharRNN(5, 8)]
        >>> ids = torch.randint(0, 5, (2, 3, 4))
        >>> logits, _ = StackedCharRNNSteps(models)(ids)
        >>> torch.allclose(logits[1], models[1](ids[1])[0], atol=1e-6)
        True
    """

    def __init__(self, models: Sequence[CharRNN]) -> None:
        super().__init__()
        models = _check_models(models, CharRNN)
        self.embedding = _stack([m.embedding.weight for m in models])  # (K, V, E)
        self.rnn = StackedElman.from_models([m.rnn for m in models])
        self.W_hy = _stack([m.readout.weight for m in models])  # (K, V, H)
        self.b_y = _stack([m.readout.bias for m in models])  # (K, V)
        self.size, self.vocab_size = len(models), models[0].vocab_size

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """e(x) for every copy: ids (K, N, ...) -> (K, N, ..., E)."""
        K, V, E = self.embedding.shape
        offset = (torch.arange(K) * V).reshape(K, *([1] * (ids.dim() - 1)))  # (K, 1, ...)
        return F.embedding(ids + offset, self.embedding.reshape(K * V, E))  # copy k's table

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        """Logits W_hy h + b_y: h (K, N, ..., H) -> (K, N, ..., V)."""
        K = h.shape[0]
        z = torch.baddbmm(self.b_y.unsqueeze(1), h.reshape(K, -1, h.shape[-1]),
                          self.W_hy.transpose(1, 2))  # (K, N..., V)
        return z.reshape(*h.shape[:-1], self.vocab_size)

    def step(
        self, ids_t: torch.Tensor, h: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: ids_t (K, N), h (K, N, H) or None -> logits (K, N, V), h_t (K, N, H)."""
        h = self.rnn.step(self.embed(ids_t), h)
        return self.readout(h), h

    def forward(
        self, ids: torch.Tensor, h_0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits at every step of every copy: (K, N, L, V), and h_n (K, N, H)."""
        ids = check_tensor("ids", ids)
        if ids.dtype != torch.long or ids.dim() != 3 or ids.shape[0] != self.size:
            raise ValueError(f"ids: expected a (K={self.size}, N, L) torch.int64 tensor, got "
                             f"{ids.dtype} of shape {tuple(ids.shape)}")
        h, h_n = self.rnn(self.embed(ids), h_0)  # (K, N, L, H)
        return self.readout(h), h_n

    @torch.no_grad()
    def bits_per_char(self, ids: torch.Tensor) -> torch.Tensor:
        """Each copy's bits per character on one long sequence ``ids`` (L,), from the whole past.

        The stacked form of :meth:`rnncourse.language_model.CharRNN.bits_per_char`. Output (K,).
        """
        ids = check_tensor("ids", ids)
        if ids.dim() != 1 or len(ids) < 2 or ids.dtype != torch.long:
            raise ValueError(f"ids: expected a (L,) torch.int64 tensor with L >= 2, got "
                             f"{ids.dtype} of shape {tuple(ids.shape)}")
        logits, _ = self(ids[:-1].expand(self.size, 1, -1))  # (K, 1, L-1, V)
        nll = F.cross_entropy(logits[:, 0].transpose(1, 2), ids[1:].expand(self.size, -1),
                              reduction="none")  # (K, L-1)
        return nll.mean(dim=1) / math.log(2)

    @torch.no_grad()
    def sample(self, prompt: torch.Tensor, steps: int, temperature: float = 1.0, *,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Each copy reads ``prompt`` (N, P), then samples ``steps`` ids at ``temperature``.

        Output: (K, N, steps).
        """
        logits, h = self(prompt.expand(self.size, -1, -1))  # (K, N, P, V)
        z, out = logits[:, :, -1], []
        for _ in range(steps):
            probs = torch.softmax(z / temperature, dim=-1).reshape(-1, self.vocab_size)
            ids_t = torch.multinomial(probs, 1, generator=generator).reshape(self.size, -1)
            out.append(ids_t)
            z, h = self.step(ids_t, h)  # (K, N, V)
        return torch.stack(out, dim=2)  # (K, N, steps)

    def member(self, k: int) -> CharRNN:
        """An ordinary ``CharRNN`` holding copy k's current weights (a copy)."""
        k = self._check_k(k)
        model = CharRNN(self.vocab_size, self.rnn.hidden_size, self.embedding.shape[-1])
        with torch.no_grad():
            model.embedding.weight.copy_(self.embedding[k])
            for name in ("W_xh", "W_hh", "b_h"):
                getattr(model.rnn, name).copy_(getattr(self.rnn, name)[k])
            model.readout.weight.copy_(self.W_hy[k])
            model.readout.bias.copy_(self.b_y[k])
        return model


class MemberwiseAdam(torch.optim.Optimizer):
    r"""Adam with one learning rate per copy of a stacked model, and per-copy gradient clipping.

    Every parameter has the copies in dim 0. For copy k, with g its gradient over all
    parameters, the gradient is first scaled to norm at most ``clip_norm`` (what
    ``clip_grad_norm_`` does to one model alone; a global clip would couple the copies), then

    .. math:: m \leftarrow \beta_1 m + (1-\beta_1) g,\quad v \leftarrow \beta_2 v + (1-\beta_2) g^2,
       \quad \theta \leftarrow \theta
       - \eta_k \frac{m / (1-\beta_1^i)}{\sqrt{v / (1-\beta_2^i)} + \varepsilon}

    which is ``torch.optim.Adam`` with lr = ``lr[k]`` (checked in the tests).

    Args:
        params: the stacked parameters, each (K, ...).
        lr: (K,) learning rates.
        clip_norm: per-copy gradient-norm clip, or None.
    """

    def __init__(
        self,
        params: object,
        lr: torch.Tensor,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        clip_norm: float | None = None,
    ) -> None:
        lr = check_tensor("lr", lr)
        if lr.dim() != 1 or not bool((lr > 0).all()):
            raise ValueError(f"lr: expected a (K,) tensor of positive rates, got {lr!r:.80}")
        if clip_norm is not None and (not isinstance(clip_norm, int | float) or clip_norm <= 0):
            raise ValueError(f"clip_norm: expected a number > 0 or None, got {clip_norm!r}")
        super().__init__(params, {"betas": betas, "eps": eps})
        self.lr, self.clip_norm = lr.detach().clone(), clip_norm
        for p in self.param_groups[0]["params"]:
            if p.shape[0] != len(self.lr):
                raise ValueError(f"params: expected dim 0 = K = {len(self.lr)} on every "
                                 f"parameter, got shape {tuple(p.shape)}")

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # noqa: ARG002 - the signature of Optimizer.step
        """One Adam step for every copy, each with its own learning rate."""
        group = self.param_groups[0]
        params = [p for p in group["params"] if p.grad is not None]
        beta1, beta2 = group["betas"]
        if self.clip_norm is not None:
            sq = sum(p.grad.pow(2).reshape(len(self.lr), -1).sum(1) for p in params)  # (K,)
            scale = (self.clip_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)  # (K,)
        for p in params:
            g = p.grad
            if self.clip_norm is not None:
                g = g * scale.reshape(-1, *([1] * (g.dim() - 1)))
            state = self.state[p]
            if not state:
                state["i"], state["m"], state["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
            state["i"] += 1
            i = state["i"]
            state["m"].mul_(beta1).add_(g, alpha=1 - beta1)
            state["v"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = (state["v"] / (1 - beta2**i)).sqrt_().add_(group["eps"])
            lr = self.lr.reshape(-1, *([1] * (p.dim() - 1))) / (1 - beta1**i)
            p.sub_(lr * state["m"] / denom)
