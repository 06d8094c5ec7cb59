"""Decoding: generating from an autoregressive RNN by feeding its own outputs back in.

Taught in chapter 5 (teacher forcing, free running and exposure bias), which uses this one
loop for generating characters, for generating real-valued signals and, with the ground
truth mixed in, for training with free running and scheduled sampling
(:func:`rnncourse.teacher_forcing.unroll`).

An autoregressive model reads x_1..x_t and outputs y_t, its prediction of x_{t+1}. Generation
first reads a prompt x_1..x_P (all steps in one call, as in teacher forcing), then repeats

    x_{t+1} = choose(y_t, k),        (y_{t+1}, h_{t+1}) = model(x_{t+1}, h_t)

for k = 0, 1, ..., steps-1 (k counts the steps after the prompt, t = P + k). ``choose`` turns
an output into the next input:

* for logits over a vocabulary, :func:`greedy` takes the argmax and :func:`sample` draws from
  softmax(y_t / T) at temperature T (T -> 0 approaches greedy, T = 1 is the model's own
  distribution, T > 1 flattens it); :func:`token_chooser` picks one of them from T;
* :func:`top_k_filter` and :func:`top_p_filter` cut the tail of the distribution before
  sampling (top-k: the k most probable tokens; top-p or nucleus: the smallest set whose
  probability reaches p); :func:`token_chooser` takes them as ``top_k`` / ``top_p``;
* for a model that predicts a real value, the prediction itself (the default, identity).

The model is any module called as ``model(x, h) -> (outputs, h_n)`` with time in dim 1:
``CharRNN`` (ids (N, L) -> logits (N, L, V)) and ``NextValueRNN`` ((N, L, 1) -> (N, L, 1)).

References: A. Graves, "Generating sequences with recurrent neural networks" (2013);
A. Holtzman et al., "The curious case of neural text degeneration", ICLR 2020 (temperature,
greedy repetition, nucleus sampling); A. Fan, M. Lewis and Y. Dauphin, "Hierarchical neural
story generation", ACL 2018 (top-k sampling).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from rnncourse._validation import check_int, check_tensor

__all__ = ["generate", "greedy", "sample", "token_chooser", "top_k_filter", "top_p_filter"]

Chooser = Callable[[torch.Tensor, int], torch.Tensor]


def _check_logits(logits: object) -> torch.Tensor:
    logits = check_tensor("logits", logits)
    if logits.dim() != 2 or not logits.is_floating_point():
        raise ValueError(f"logits: expected a floating-point (N, V) tensor, got {logits.dtype} "
                         f"of shape {tuple(logits.shape)}")
    return logits


def greedy(logits: torch.Tensor) -> torch.Tensor:
    """The most probable token of each row: argmax_v logits[n, v]. (N, V) -> (N,) int64.

    Example:
        >>> greedy(torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0]])).tolist()
        [1, 0]
    """
    return _check_logits(logits).argmax(dim=-1)  # (N,)


def sample(
    logits: torch.Tensor, temperature: float = 1.0, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""Draw one token per row from softmax(logits / T). (N, V) -> (N,) int64.

    .. math:: p_T(v) = \frac{\exp(z_v / T)}{\sum_u \exp(z_u / T)}

    where z are the logits and T > 0 the temperature: T = 1 samples the model's
    distribution, T < 1 sharpens it towards the argmax, T > 1 flattens it towards uniform.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> sample(torch.tensor([[0.0, 50.0]]), 1.0, generator=g).tolist()
        [1]
    """
    logits = _check_logits(logits)
    if (not isinstance(temperature, int | float) or not math.isfinite(temperature)
            or temperature <= 0):
        raise ValueError(f"temperature: expected a finite number > 0, got {temperature!r}")
    probs = torch.softmax(logits / temperature, dim=-1)  # (N, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (N,)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row, set the rest to -inf. (N, V) -> (N, V).

    Sampling from softmax of the result draws among the k most probable tokens only, with
    their probabilities renormalised (ties at the k-th value are all kept).

    Example:
        >>> top_k_filter(torch.tensor([[1.0, 3.0, 2.0]]), 2).tolist()
        [[-inf, 3.0, 2.0]]
    """
    logits = _check_logits(logits)
    check_int("k", k)
    kth = logits.topk(min(k, logits.shape[-1]), dim=-1).values[:, -1:]  # (N, 1)
    return logits.masked_fill(logits < kth, -math.inf)


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    r"""Nucleus filtering: keep the fewest most probable tokens whose probability reaches p.

    Tokens are sorted by probability; a token is kept when the probability of the tokens
    before it is still below p, so the most probable token is always kept. (N, V) -> (N, V),
    the dropped logits set to -inf.

    Example:
        >>> z = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
        >>> torch.isfinite(top_p_filter(z, 0.75)).tolist()
        [[True, True, False, False]]
    """
    logits = _check_logits(logits)
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p <= 1:
        raise ValueError(f"p: expected a number in (0, 1], got {p!r}")
    probs, order = torch.softmax(logits, dim=-1).sort(dim=-1, descending=True)  # (N, V)
    before = probs.cumsum(dim=-1) - probs  # (N, V): the mass of the more probable tokens
    keep_sorted = before < p  # (N, V)
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)  # back to vocab order
    return logits.masked_fill(~keep, -math.inf)


def token_chooser(
    temperature: float,
    *,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Chooser:
    """A ``choose`` for :func:`generate`: greedy when ``temperature == 0``, else :func:`sample`.

    With ``top_k`` and/or ``top_p`` the logits are filtered (:func:`top_k_filter`,
    :func:`top_p_filter`, after dividing by the temperature) before sampling.
    """
    if (not isinstance(temperature, int | float) or not math.isfinite(temperature)
            or temperature < 0):
        raise ValueError(f"temperature: expected a finite number >= 0, got {temperature!r}")
    if temperature == 0:
        return lambda logits, _k: greedy(logits)

    def choose(logits: torch.Tensor, _k: int) -> torch.Tensor:
        z = _check_logits(logits) / temperature
        if top_k is not None:
            z = top_k_filter(z, top_k)
        if top_p is not None:
            z = top_p_filter(z, top_p)
        return sample(z, 1.0, generator=generator)

    if top_k is None and top_p is None:  # the old path: the same draws as before
        return lambda logits, _k: sample(logits, temperature, generator=generator)
    return choose


def _identity(y_t: torch.Tensor, _k: int) -> torch.Tensor:
    return y_t


def generate(
    model: nn.Module,
    prompt: torch.Tensor,
    steps: int,
    choose: Chooser | None = None,
    *,
    h_0: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read ``prompt``, then feed ``steps`` chosen outputs back in, one step at a time.

    Args:
        model: called as ``model(x, h) -> (outputs, h_n)``, time in dim 1.
        prompt: (N, P, ...) the first P inputs, P >= 1, read in one call.
        steps: how many inputs to choose and feed back after the prompt (>= 0).
        choose: ``choose(y_t, k) -> x_{t+1}``, k = 0..steps-1; default: the output itself
            (a model that predicts the next real value). Use :func:`token_chooser` for tokens.
        h_0: initial hidden state, as the model takes it.

    Returns:
        ``(outputs, chosen)``: ``outputs`` (N, P + steps, ...) is y_1..y_{P+steps}, every
        output the model made; ``chosen`` (N, steps, ...) holds x_{P+1}..x_{P+steps}, the
        inputs that were fed back (for tokens: the generated text).

    Gradients flow through the loop unless the caller wraps it in ``torch.no_grad()``, so
    the same loop trains a free-running model with backpropagation through time.

    Example:
        >>> from rnncourse.language_model import CharRNN
        >>> _ = torch.manual_seed(0)
        >>> outputs, chosen = generate(CharRNN(5, 8), torch.zeros(1, 3, dtype=torch.long), 4,
        ...                            token_chooser(0.0))
        >>> tuple(outputs.shape), tuple(chosen.shape)
        ((1, 7, 5), (1, 4))
    """
    prompt = check_tensor("prompt", prompt)
    if prompt.dim() < 2 or prompt.shape[1] < 1:
        raise ValueError(
            f"prompt: expected shape (N, P, ...) with P >= 1, got {tuple(prompt.shape)}")
    check_int("steps", steps, 0)
    choose = _identity if choose is None else choose
    y, h = model(prompt, h_0)  # (N, P, ...): the prompt is read teacher-forced, all at once
    outputs = [y]
    chosen = []
    y_t = y[:, -1]  # (N, ...): the prediction of x_{P+1}
    for k in range(steps):
        x_next = choose(y_t, k)  # (N, ...) the next input
        chosen.append(x_next)
        y, h = model(x_next.unsqueeze(1), h)  # (N, 1, ...)
        y_t = y[:, 0]
        outputs.append(y)
    outputs_all = torch.cat(outputs, dim=1)  # (N, P + steps, ...)
    if chosen:
        chosen_all = torch.stack(chosen, dim=1)  # (N, steps, ...)
    else:
        chosen_all = prompt.new_empty((prompt.shape[0], 0, *prompt.shape[2:]))
    return outputs_all, chosen_all
