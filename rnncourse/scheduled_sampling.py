r"""Scheduled sampling: the probability of feeding the ground truth, decaying over training.

Taught in chapter 5. Reference: S. Bengio, O. Vinyals, N. Jaitly and N. Shazeer,
"Scheduled sampling for sequence prediction with recurrent neural networks", NeurIPS 2015.

At training step (mini-batch) i, each input after the prompt is the ground truth with
probability :math:`\epsilon_i` and the model's own previous output otherwise (the mixing step
is :func:`rnncourse.teacher_forcing.mix`). Training starts close to teacher forcing
(:math:`\epsilon \approx 1`) and moves towards free running (:math:`\epsilon \to 0`, or a floor
:math:`\epsilon_{\min}`), the setting the model meets when it generates. The paper's three decays:

=================  ===============================================  =====================
schedule           :math:`\epsilon_i`                                parameters
=================  ===============================================  =====================
linear             :math:`\max(\epsilon_{\min},\ k - c\,i)`          0 <= eps_min < 1, c > 0
exponential        :math:`k^i`                                       0 < k < 1
inverse sigmoid    :math:`k / (k + \exp(i / k))`                     k >= 1
=================  ===============================================  =====================

Each function takes the step i and returns a float in [0, 1]; every schedule is
non-increasing in i. Use ``functools.partial`` to fix the parameters.

Schedules of different shapes feed different amounts of truth in total, which confounds a
comparison of shapes: :func:`teacher_forcing_mass` measures that amount and
:func:`with_mass` gives each shape the same. Scheduled sampling itself, for K stacked
copies (:mod:`rnncourse.stacked_rnn`) each with its own epsilon: :func:`stacked_unroll` on
real values, feeding back the prediction with or without its gradient (the differentiable
variant is closer to K. Goyal, C. Dyer and T. Berg-Kirkpatrick, "Differentiable scheduled
sampling for credit assignment", ACL 2017, than to the paper), and
:func:`token_scheduled_sampling_loss`, the paper's algorithm on tokens (sampled tokens, no
gradient through them).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from rnncourse._validation import check_tensor

if TYPE_CHECKING:
    from rnncourse.stacked_rnn import StackedCharRNNSteps, StackedNextValueRNN

__all__ = [
    "exponential_decay",
    "inverse_sigmoid_decay",
    "linear_decay",
    "stacked_unroll",
    "teacher_forcing_mass",
    "token_scheduled_sampling_loss",
    "with_mass",
]


def _check_step(step: object) -> int:
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step: expected an int >= 0, got {step!r}")
    return step


def _check_number(name: str, value: object, ok: bool, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not ok:
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return float(value)


def linear_decay(step: int, *, c: float, k: float = 1.0, eps_min: float = 0.0) -> float:
    r"""Linear decay :math:`\epsilon_i = \max(\epsilon_{\min}, k - c\, i)`, capped at 1.

    Args:
        step: i, the training step (>= 0).
        c: the slope (> 0): epsilon falls by c per step.
        k: the value at step 0, in (0, 1] (the paper's offset; 1 = start with teacher forcing).
        eps_min: the floor, in [0, 1): how much ground truth is always kept.

    Example:
        >>> [linear_decay(i, c=0.25) for i in (0, 1, 2, 4, 8)]
        [1.0, 0.75, 0.5, 0.0, 0.0]
    """
    i = _check_step(step)
    _check_number("c", c, isinstance(c, int | float) and c > 0, "a number > 0")
    _check_number("k", k, isinstance(k, int | float) and 0 < k <= 1, "a number in (0, 1]")
    _check_number("eps_min", eps_min, isinstance(eps_min, int | float) and 0 <= eps_min < 1,
                  "a number in [0, 1)")
    return max(float(eps_min), min(1.0, k - c * i))


def exponential_decay(step: int, *, k: float) -> float:
    r"""Exponential decay :math:`\epsilon_i = k^i` with 0 < k < 1.

    Example:
        >>> [round(exponential_decay(i, k=0.5), 3) for i in (0, 1, 2, 3)]
        [1.0, 0.5, 0.25, 0.125]
    """
    i = _check_step(step)
    _check_number("k", k, isinstance(k, int | float) and 0 < k < 1, "a number in (0, 1)")
    return float(k) ** i


def inverse_sigmoid_decay(step: int, *, k: float) -> float:
    r"""Inverse-sigmoid decay :math:`\epsilon_i = k / (k + \exp(i / k))` with k >= 1.

    It stays near k/(k+1) at first, falls fastest around i = k ln k (where it is 1/2), and
    reaches 0 slowly after that; a larger k means a later, slower decay.

    Example:
        >>> round(inverse_sigmoid_decay(0, k=10.0), 4), round(inverse_sigmoid_decay(23, k=10.0), 2)
        (0.9091, 0.5)
    """
    i = _check_step(step)
    _check_number("k", k, isinstance(k, int | float) and k >= 1, "a number >= 1")
    z = i / k - math.log(k)  # epsilon_i = 1 / (1 + e^z), the logistic function of -z
    if z > 0:  # written with e^{-z} so that a large i / k cannot overflow
        return math.exp(-z) / (1.0 + math.exp(-z))
    return 1.0 / (1.0 + math.exp(z))


def teacher_forcing_mass(schedule: Callable[[int], float], steps: int) -> float:
    r"""The share of true inputs a schedule feeds over S steps: :math:`\frac1S\sum_{i<S}\epsilon_i`.

    Two schedules with the same mass feed the same expected number of true inputs over S
    steps, so comparing them compares only *when* the truth is fed (the shape).

    Example:
        >>> teacher_forcing_mass(lambda i: 1.0, 10), teacher_forcing_mass(lambda i: 0.0, 10)
        (1.0, 0.0)
    """
    steps = _check_positive_steps(steps)
    return math.fsum(schedule(i) for i in range(steps)) / steps


def _check_positive_steps(steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected an int >= 1, got {steps!r}")
    return steps


def with_mass(kind: str, mass: float, steps: int) -> Callable[[int], float]:
    """The schedule of one of the paper's shapes with teacher-forcing mass ``mass`` over ``steps``.

    ``kind`` is ``"linear"`` (k = 1, eps_min = 0: the slope c is found),
    ``"exponential"`` (k is found) or ``"inverse sigmoid"`` (k is found), by bisection on
    the parameter, which moves the mass monotonically. The result is a
    ``functools.partial`` of :func:`linear_decay`, :func:`exponential_decay` or
    :func:`inverse_sigmoid_decay`.

    Example:
        >>> s = with_mass("exponential", 0.25, 100)
        >>> round(teacher_forcing_mass(s, 100), 6)
        0.25
    """
    steps = _check_positive_steps(steps)
    mass = _check_number("mass", mass, isinstance(mass, int | float) and 0 < mass < 1,
                         "a number in (0, 1)")
    shapes = {  # parameter -> schedule, and the parameter's search interval (mass increasing)
        "linear": (lambda p: functools.partial(linear_decay, c=1.0 / p), (1e-3, 1e6)),
        "exponential": (lambda p: functools.partial(exponential_decay, k=1.0 - 1.0 / p),
                        (1.0 + 1e-9, 1e9)),
        "inverse sigmoid": (lambda p: functools.partial(inverse_sigmoid_decay, k=p), (1.0, 1e6)),
    }
    if kind not in shapes:
        raise ValueError(f"kind: expected one of {sorted(shapes)}, got {kind!r}")
    make, (lo, hi) = shapes[kind]
    if not teacher_forcing_mass(make(lo), steps) < mass < teacher_forcing_mass(make(hi), steps):
        raise ValueError(f"mass: {mass} cannot be reached by the {kind} shape in {steps} steps")
    for _ in range(200):  # geometric bisection: the parameters span many orders of magnitude
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if teacher_forcing_mass(make(mid), steps) < mass else (lo, mid)
    return make(math.sqrt(lo * hi))


def stacked_unroll(
    model: StackedNextValueRNN,
    series: torch.Tensor,
    *,
    warmup: int,
    epsilon: torch.Tensor,
    detach: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Scheduled sampling on real values for K stacked copies, each with its own epsilon.

    Copy k reads the true x_1..x_C (C = ``warmup``); after that, for every copy k,
    sequence n and step t a coin :math:`c^{(k)}_{n,t} \sim \text{Bernoulli}(\epsilon_k)` picks

    .. math:: x_{n,t+1} = c_{n,t}\, x^{\text{true}}_{n,t+1} + (1 - c_{n,t})\, \tilde y_{n,t},

    where :math:`\tilde y_{n,t}` is the copy's prediction y_{n,t} itself (the gradient flows
    back through it into the earlier steps: a differentiable relaxation, the variant closest
    to Goyal et al., 2017) or, where ``detach[k]``, the prediction with its gradient cut
    (``y.detach()``: the fed-back input is treated as data, as a sampled token is in
    Bengio et al., 2015). epsilon = 1 is teacher forcing, 0 free running.

    Inputs: ``series`` (N, L, 1), the same waves for every copy, or (K, N, L, 1), copy k's
    own waves; ``epsilon`` (K,) in [0, 1]; ``detach`` (K,) bool.
    Output: predictions y_1..y_{L-1}, (K, N, L-1, 1).
    """
    K = model.size
    series = check_tensor("series", series)
    if series.dim() == 3:
        series = series.expand(K, -1, -1, -1)  # (K, N, L, 1): every copy on the same waves
    if (series.dim() != 4 or series.shape[0] != K or series.shape[3] != 1
            or not 1 <= warmup < series.shape[2]):
        raise ValueError(f"series: expected shape (N, L, 1) or (K={K}, N, L, 1) with "
                         f"L > warmup = {warmup}, got {tuple(series.shape)}")
    _, N, L, _ = series.shape
    epsilon, detach = _check_members(epsilon, detach, K)
    y, h = model(series[:, :, :warmup])  # (K, N, C, 1): the warm-up, true
    outputs, y_t = [y], y[:, :, -1]  # y_t (K, N, 1): the prediction of x_{C+1}
    for t in range(warmup, L - 1):
        fed = torch.where(detach.reshape(K, 1, 1), y_t.detach(), y_t)  # (K, N, 1)
        coin = torch.rand(K, N, 1, generator=generator) < epsilon.reshape(K, 1, 1)  # c_{n,t}
        x_t = torch.where(coin, series[:, :, t], fed)  # (K, N, 1)
        y_t, h = model.step(x_t, h)  # (K, N, 1), (K, N, H)
        outputs.append(y_t.unsqueeze(2))
    return torch.cat(outputs, dim=2)  # (K, N, L-1, 1)


def _check_members(epsilon: object, detach: object, K: int) -> tuple[torch.Tensor, torch.Tensor]:
    epsilon = check_tensor("epsilon", epsilon)
    if epsilon.shape != (K,) or not bool(((epsilon >= 0) & (epsilon <= 1)).all()):
        raise ValueError(f"epsilon: expected a (K={K},) tensor of probabilities, got "
                         f"shape {tuple(epsilon.shape)}")
    detach = check_tensor("detach", detach)
    if detach.shape != (K,) or detach.dtype != torch.bool:
        raise ValueError(f"detach: expected a (K={K},) bool tensor, got {detach.dtype} of "
                         f"shape {tuple(detach.shape)}")
    return epsilon, detach


def _sample_rows(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One id per row of ``probs`` (M, V), drawn from that row: inverse-CDF sampling, (M,).

    The id is the number of cumulative probabilities below a uniform u, so P(id = v) =
    P(F_{v-1} <= u < F_v) = p_v. The same law as ``torch.multinomial(probs, 1)``, several
    times faster for the many small rows scheduled sampling draws at every step.
    """
    u = torch.rand(probs.shape[0], 1, generator=generator, dtype=probs.dtype)  # (M, 1)
    ids = (probs.cumsum(dim=-1) <= u).sum(dim=-1)  # (M,)
    return ids.clamp(max=probs.shape[-1] - 1)  # u above a cumsum rounded below 1


def token_scheduled_sampling_loss(
    model: StackedCharRNNSteps,
    ids: torch.Tensor,
    epsilon: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Bengio et al.'s scheduled sampling on tokens, for K stacked character models.

    Every copy predicts ids[:, t+1] from its inputs x_1..x_t; x_1 is the true first id and
    for t >= 1 the input x_{t+1} is the true id with probability :math:`\epsilon_k` (a coin
    per copy, sequence and step) and otherwise a token *sampled* from the copy's own
    distribution :math:`\operatorname{softmax}(z_t)`. A sampled token is an integer: no
    gradient flows through the choice, only through the hidden states (BPTT), as in the
    paper. epsilon = 1 is the teacher-forced loss of ``CharRNN.loss``.

    Inputs: ``ids`` (N, W + 1) int64, the same windows for every copy, or (K, N, W + 1),
    copy k's own windows; ``epsilon`` (K,).
    Output: (K,), each copy's mean cross-entropy in nats; train on its sum.
    """
    K = model.size
    ids = check_tensor("ids", ids)
    if ids.dim() == 2:
        ids = ids.expand(K, -1, -1)  # (K, N, W + 1): every copy on the same windows
    if ids.dtype != torch.long or ids.dim() != 3 or ids.shape[0] != K or ids.shape[2] < 2:
        raise ValueError(f"ids: expected a (N, W + 1) or (K={K}, N, W + 1) torch.int64 tensor "
                         f"with W >= 1, got {ids.dtype} of shape {tuple(ids.shape)}")
    _, N, W1 = ids.shape
    epsilon, _ = _check_members(epsilon, torch.zeros(K, dtype=torch.bool), K)
    x_t, h, losses = ids[:, :, 0], None, []
    for t in range(W1 - 1):
        logits, h = model.step(x_t, h)  # (K, N, V), (K, N, H)
        target = ids[:, :, t + 1]  # (K, N)
        losses.append(F.cross_entropy(logits.transpose(1, 2), target, reduction="none"))  # (K, N)
        if t + 2 < W1:  # choose the next input
            with torch.no_grad():
                probs = torch.softmax(logits, dim=-1).reshape(K * N, -1)  # (K N, V)
                sampled = _sample_rows(probs, generator).reshape(K, N)
                coin = torch.rand(K, N, generator=generator) < epsilon.reshape(K, 1)  # c_{n,t}
            x_t = torch.where(coin, target, sampled)  # (K, N)
    return torch.stack(losses, dim=2).mean(dim=(1, 2))  # (K,)
