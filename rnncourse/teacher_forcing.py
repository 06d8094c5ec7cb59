r"""Teacher forcing, free running and scheduled sampling: what enters an autoregressive RNN.

Taught in chapter 5. An autoregressive model predicts x_{t+1} from x_1..x_t, and at every
step its next input is either the ground truth or its own previous prediction:

* teacher forcing feeds the ground truth: the inputs are the targets shifted one step right
  (:func:`teacher_forced_inputs`), known before the model runs, so the input path of all
  steps can be computed in one call;
* free running feeds the model's own prediction y_t back as x_{t+1}, as at generation time;
* scheduled sampling chooses, for each sequence and step, the truth with probability
  epsilon and the prediction otherwise (:func:`mix`), with epsilon decaying during
  training (:mod:`rnncourse.scheduled_sampling`).

All three are trained with backpropagation through time through the hidden states; they
differ only in what enters each step. :func:`unroll` runs any of them for training with the
course's one decoding loop (:func:`rnncourse.decoding.generate`), and
:func:`horizon_errors` measures the error of free-running generation against the horizon,
beside the one-step (teacher-forced) error. The gap between them is compounding error,
not all of it exposure bias: chapter 5 separates the two with a sine-fit oracle
(:mod:`rnncourse.sine_oracle`).

References: R. J. Williams and D. Zipser, "A learning algorithm for continually running
fully recurrent neural networks", Neural Computation 1 (1989) (teacher forcing);
S. Bengio et al., "Scheduled sampling for sequence prediction with recurrent neural
networks", NeurIPS 2015; M. Ranzato et al., "Sequence level training with recurrent
neural networks", ICLR 2016 (the name "exposure bias").
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnncourse._validation import check_floating, check_shape, check_tensor
from rnncourse.decoding import generate
from rnncourse.elman import ElmanRNN

__all__ = ["NextValueRNN", "horizon_errors", "mix", "teacher_forced_inputs", "unroll"]


def teacher_forced_inputs(targets: torch.Tensor, first_input: torch.Tensor) -> torch.Tensor:
    """The inputs of teacher forcing: the targets shifted one step right.

    The model must predict y_t from inputs up to step t, so the input at step t is the
    previous target: x_1 = ``first_input`` (e.g. a start token or the first observed value)
    and x_t = y_{t-1} for t = 2..L. Feeding y_t at step t would leak the answer.

    Inputs: ``targets`` (N, L, ...), ``first_input`` (N, ...). Output: (N, L, ...).

    Example:
        >>> y = torch.tensor([[11, 12, 13]])
        >>> teacher_forced_inputs(y, torch.tensor([10])).tolist()
        [[10, 11, 12]]
    """
    targets = check_tensor("targets", targets)
    first_input = check_tensor("first_input", first_input)
    if targets.dim() < 2 or targets.shape[1] < 1:
        raise ValueError(
            f"targets: expected shape (N, L, ...) with L >= 1, got {tuple(targets.shape)}")
    want = (targets.shape[0], *targets.shape[2:])
    if tuple(first_input.shape) != want:
        raise ValueError(f"first_input: expected shape {want} (targets without the time dim), "
                         f"got {tuple(first_input.shape)}")
    first = first_input.to(targets.dtype).unsqueeze(1)  # (N, 1, ...)
    return torch.cat([first, targets[:, :-1]], dim=1)  # (N, L, ...)


def _check_epsilon(epsilon: object) -> None:
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) \
            or not math.isfinite(epsilon) or not 0 <= epsilon <= 1:
        raise ValueError(f"epsilon: expected a probability in [0, 1], got {epsilon!r}")


def mix(
    truth: torch.Tensor,
    prediction: torch.Tensor,
    epsilon: float,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Per sequence, the truth with probability epsilon, else the prediction (scheduled sampling).

    A coin c_{n,t} ~ Bernoulli(epsilon) is flipped for each of the N sequences at every call
    (one call per step t), and the next input is c_{n,t} * truth_n + (1 - c_{n,t}) *
    prediction_n. epsilon = 1 is teacher forcing, epsilon = 0 free running. Gradients flow
    through the chosen predictions (the differentiable variant; detach ``prediction`` for
    the gradient-free one, see :func:`rnncourse.scheduled_sampling.stacked_unroll`).

    Inputs: ``truth`` and ``prediction`` (N, ...) of the same shape. Output: (N, ...).

    Example:
        >>> truth, prediction = torch.ones(3), torch.zeros(3)
        >>> mix(truth, prediction, 1.0).tolist(), mix(truth, prediction, 0.0).tolist()
        ([1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    """
    truth = check_tensor("truth", truth)
    prediction = check_tensor("prediction", prediction)
    if truth.shape != prediction.shape:
        raise ValueError(f"prediction: expected the shape of truth {tuple(truth.shape)}, "
                         f"got {tuple(prediction.shape)}")
    _check_epsilon(epsilon)
    coin = torch.rand(truth.shape[0], generator=generator) < epsilon  # (N,) True: use the truth
    coin = coin.reshape(-1, *([1] * (truth.dim() - 1))).to(truth.device)  # (N, 1, ...)
    return torch.where(coin, truth, prediction)  # (N, ...)


class NextValueRNN(nn.Module):
    r"""An autoregressive model of a real-valued signal: Elman recurrence and a linear readout.

    .. math:: h_t = \tanh(W_{xh} x_t + W_{hh} h_{t-1} + b_h), \qquad y_t = W_{hy} h_t + b_y

    y_t is the prediction of x_{t+1}. ``W_hy``/``b_y`` are ``self.readout.weight``/``.bias``.

    Inputs: ``x`` (N, L, 1), ``h_0`` (1, N, H) or None. Outputs: ``y`` (N, L, 1), ``h_n`` (1, N, H).

    Example:
        >>> y, h_n = NextValueRNN(16)(torch.zeros(2, 5, 1))
        >>> tuple(y.shape), tuple(h_n.shape)
        ((2, 5, 1), (1, 2, 16))
    """

    def __init__(self, hidden_size: int, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.rnn = ElmanRNN(1, hidden_size, batch_first=True, generator=generator)
        self.readout = nn.Linear(hidden_size, 1)
        if generator is not None:  # seed the readout from the same generator
            bound = 1.0 / math.sqrt(hidden_size)  # nn.Linear's default bound
            with torch.no_grad():
                self.readout.weight.uniform_(-bound, bound, generator=generator)
                self.readout.bias.uniform_(-bound, bound, generator=generator)

    def forward(
        self, x: torch.Tensor, h_0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """y_t = W_hy h_t + b_y, the prediction of x_{t+1}: y (N, L, 1), and h_n (1, N, H)."""
        h, h_n = self.rnn(x, h_0)  # (N, L, H), (1, N, H)
        return self.readout(h), h_n  # (N, L, 1), (1, N, H)


def _check_series(series: object, warmup: object) -> tuple[torch.Tensor, int]:
    check_shape("series", series, ("N", "L", 1))
    check_floating("series", series)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or not 1 <= warmup < series.shape[1]:
        raise ValueError(f"warmup: expected an int in [1, L-1] = [1, {series.shape[1] - 1}], "
                         f"got {warmup!r}")
    return series, warmup


def unroll(
    model: nn.Module,
    series: torch.Tensor,
    *,
    warmup: int,
    epsilon: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Predict series[:, 1:]: the first ``warmup`` inputs true, the rest mixed by ``epsilon``.

    Inputs x_1..x_C (C = ``warmup``) are the ground truth, read in one call: the model needs
    some of the signal before it can know its period, phase and amplitude. For t > C the
    input x_t is the truth s_t with probability epsilon and the model's own y_{t-1}
    otherwise (:func:`mix`): epsilon = 1 is teacher forcing, 0 free running, in between
    scheduled sampling. Differentiable: train on ``mse(unroll(...), series[:, 1:])``.
    With epsilon = 1 every input is known before the model runs, so the whole series is
    read in one call; otherwise the steps after the warm-up go through
    :func:`rnncourse.decoding.generate` one at a time.

    Inputs: ``series`` (N, L, 1). Output: predictions y_1..y_{L-1}, (N, L-1, 1).
    """
    series, warmup = _check_series(series, warmup)
    _check_epsilon(epsilon)
    if epsilon == 1:  # teacher forcing: every input is known in advance, so one call does it
        outputs, _ = model(series[:, :-1])  # (N, L-1, 1)
        return outputs
    truth = series[:, warmup:-1]  # (N, L-1-C, 1): the true inputs x_{C+1}..x_{L-1}

    def choose(y_t: torch.Tensor, k: int) -> torch.Tensor:
        return mix(truth[:, k], y_t, epsilon, generator=generator)  # (N, 1)

    outputs, _ = generate(model, series[:, :warmup], series.shape[1] - 1 - warmup, choose)
    return outputs  # (N, L-1, 1)


@torch.no_grad()
def horizon_errors(
    model: nn.Module, series: torch.Tensor, *, warmup: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Root-mean-square error against the horizon: one-step (teacher-forced) and free-running.

    After reading the first C = ``warmup`` values, the model predicts s_{C+k} for
    k = 1..K (K = L - C) in two ways: one step ahead from the true past (teacher forcing),
    and by free-running generation from its own predictions. Each is averaged over the N
    series at each k.

    Inputs: ``series`` (N, L, 1). Outputs: ``one_step`` (K,), ``free_running`` (K,).
    """
    series, warmup = _check_series(series, warmup)
    target = series[:, warmup:, 0]  # (N, K): s_{C+1}..s_L
    one_step, _ = model(series[:, :-1])  # (N, L-1, 1), y_t predicts s_{t+1}
    one_step = one_step[:, warmup - 1 :, 0]  # (N, K)
    generated, _ = generate(model, series[:, :warmup], series.shape[1] - 1 - warmup)
    free = generated[:, warmup - 1 :, 0]  # (N, K)
    rmse_one = (one_step - target).pow(2).mean(0).sqrt()  # (K,)
    rmse_free = (free - target).pow(2).mean(0).sqrt()  # (K,)
    return rmse_one, rmse_free
