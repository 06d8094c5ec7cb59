"""The delay task: remember a key seen ``lag`` steps ago, through distractors, and recall it.

Used in chapter 7 (gated units) and meant for chapter 4's lag sweep: a pure test of how
far back a recurrent network can carry information, because nothing between the key and
the question helps. A sequence has ``lag + 1`` tokens:

    step 0:            a key k in 0..K-1 (the token to remember)
    steps 1..lag:      random distractors, ids K..K+D-1 (they carry no information)
    after step lag:    the model outputs k (one classification from the last state)

so the answer depends on step 0 only, and the gradient of the loss reaches the key's input
through exactly ``lag`` recurrent steps. Chance accuracy is 1/K.

:func:`train_delay` trains a PyTorch recurrent layer ('elman' = ``nn.RNN`` with tanh,
'gru', 'lstm') with full backpropagation through time and reports accuracy on fresh
sequences; :func:`key_gradient_norm` measures the gradient that reaches the key step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnncourse.gated import set_forget_bias
from rnncourse.train import train

__all__ = [
    "N_DISTRACTORS",
    "N_KEYS",
    "DelayBatch",
    "DelayClassifier",
    "DelayResult",
    "delay_accuracy",
    "delay_batch",
    "key_gradient_norm",
    "train_delay",
]

N_KEYS = 4  # K: chance accuracy 1/4
N_DISTRACTORS = 4  # D

_LAYERS = {"elman": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


@dataclass(frozen=True)
class DelayBatch:
    """N sequences of the delay task, batch first.

    Attributes:
        x: one-hot inputs, (N, lag + 1, K + D) float32.
        tokens: token ids, (N, lag + 1) int64; column 0 is the key.
        key: the answer, (N,) int64 in 0..K-1.
    """

    x: torch.Tensor
    tokens: torch.Tensor
    key: torch.Tensor


def _check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return value


def delay_batch(n: int, lag: int, *, n_keys: int = N_KEYS, n_distractors: int = N_DISTRACTORS,
                generator: torch.Generator | None = None) -> DelayBatch:
    """``n`` sequences with a random key at step 0 and ``lag`` random distractors after it.

    Example:
        >>> b = delay_batch(2, 3, generator=torch.Generator().manual_seed(0))
        >>> tuple(b.x.shape), bool((b.tokens[:, 0] == b.key).all()), int(b.tokens[:, 1:].min())
        ((2, 4, 8), True, 4)
    """
    _check_positive_int("n", n)
    _check_positive_int("lag", lag)
    _check_positive_int("n_keys", n_keys, 2)
    _check_positive_int("n_distractors", n_distractors)
    key = torch.randint(0, n_keys, (n,), generator=generator)  # (N,)
    distractors = torch.randint(n_keys, n_keys + n_distractors, (n, lag), generator=generator)
    tokens = torch.cat([key.unsqueeze(1), distractors], dim=1)  # (N, lag + 1)
    x = F.one_hot(tokens, n_keys + n_distractors).float()  # (N, lag + 1, K + D)
    return DelayBatch(x, tokens, key)


class DelayClassifier(nn.Module):
    """A recurrent layer (``kind`` 'elman', 'gru' or 'lstm') and a readout of its last state.

    Input x (N, L, K + D) -> logits over the K keys, (N, K).
    """

    def __init__(self, kind: str, hidden_size: int, *, n_keys: int = N_KEYS,
                 n_distractors: int = N_DISTRACTORS) -> None:
        super().__init__()
        if kind not in _LAYERS:
            raise ValueError(f"kind: expected one of {sorted(_LAYERS)}, got {kind!r}")
        _check_positive_int("hidden_size", hidden_size)
        self.kind = kind
        self.rnn = _LAYERS[kind](n_keys + n_distractors, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, n_keys)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, K) from the state after the last step of ``x`` (N, L, K + D)."""
        h, _ = self.rnn(x)  # (N, L, H)
        return self.readout(h[:, -1])  # (N, K)


@torch.no_grad()
def delay_accuracy(model: DelayClassifier, batch: DelayBatch) -> float:
    """Fraction of ``batch`` whose key the model recalls."""
    return float((model(batch.x).argmax(-1) == batch.key).float().mean())


def key_gradient_norm(model: DelayClassifier, batch: DelayBatch) -> float:
    """Mean over the batch of ||dloss/dx_0||: how much of the loss's gradient reaches the key.

    The loss is the cross-entropy of recalling the key; x_0 is the key's one-hot input,
    ``lag`` recurrent steps before the readout.
    """
    x = batch.x.clone().requires_grad_()
    loss = F.cross_entropy(model(x), batch.key, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return float(grad[:, 0].norm(dim=-1).mean())


@dataclass(frozen=True)
class DelayResult:
    """What :func:`train_delay` returns: the trained model and its accuracy on fresh sequences."""

    model: DelayClassifier
    accuracy: float
    losses: list[float]


def train_delay(kind: str, lag: int, *, seed: int = 0, hidden_size: int = 32, steps: int = 300,
                batch_size: int = 64, lr: float = 1e-2, forget_bias: float | None = None,
                test_size: int = 1000, progress: bool | None = None) -> DelayResult:
    """Train a :class:`DelayClassifier` on fresh batches (full BPTT, Adam, clipping at 1).

    ``forget_bias`` (LSTM only) starts the forget gate's summed bias at that value.
    Accuracy is measured on ``test_size`` sequences drawn from a separate generator.
    """
    _check_positive_int("lag", lag)
    if forget_bias is not None and kind != "lstm":
        raise ValueError(f"forget_bias: only for kind='lstm', got kind={kind!r}")
    torch.manual_seed(seed)
    model = DelayClassifier(kind, hidden_size)
    if forget_bias is not None:
        set_forget_bias(model.rnn, forget_bias)
    data = torch.Generator().manual_seed(10_000 + seed)

    def loss_fn(m: nn.Module, _step: int) -> torch.Tensor:
        b = delay_batch(batch_size, lag, generator=data)
        return F.cross_entropy(m(b.x), b.key)

    result = train(model, loss_fn, steps, lr=lr, clip_norm=1.0, desc=f"{kind} lag {lag}",
                   progress=progress)
    test = delay_batch(test_size, lag, generator=torch.Generator().manual_seed(20_000 + seed))
    return DelayResult(model, delay_accuracy(model, test), result.losses)
