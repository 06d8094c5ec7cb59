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
from tqdm.auto import tqdm

from rnncourse.gated import set_forget_bias
from rnncourse.recurrent_init import init_recurrent
from rnncourse.train import progress_enabled, train

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
    "train_delay_copies",
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
                test_size: int = 1000, progress: bool | None = None,
                recurrent_init: str = "default") -> DelayResult:
    """Train a :class:`DelayClassifier` on fresh batches (full BPTT, Adam, clipping at 1).

    ``forget_bias`` (LSTM only) starts the forget gate's summed bias at that value.
    ``recurrent_init`` (Elman only): 'default', 'orthogonal' or 'identity' W_hh, by
    :func:`rnncourse.recurrent_init.init_recurrent` (chapter 4).
    Accuracy is measured on ``test_size`` sequences drawn from a separate generator.
    """
    _check_positive_int("lag", lag)
    if forget_bias is not None and kind != "lstm":
        raise ValueError(f"forget_bias: only for kind='lstm', got kind={kind!r}")
    torch.manual_seed(seed)
    model = DelayClassifier(kind, hidden_size)
    if forget_bias is not None:
        set_forget_bias(model.rnn, forget_bias)
    if recurrent_init != "default":
        if kind != "elman":
            raise ValueError(f"recurrent_init: only for kind='elman', got kind={kind!r}")
        init_recurrent(model.rnn, recurrent_init, generator=torch.Generator().manual_seed(seed))
    data = torch.Generator().manual_seed(10_000 + seed)

    def loss_fn(m: nn.Module, _step: int) -> torch.Tensor:
        b = delay_batch(batch_size, lag, generator=data)
        return F.cross_entropy(m(b.x), b.key)

    result = train(model, loss_fn, steps, lr=lr, clip_norm=1.0, desc=f"{kind} lag {lag}",
                   progress=progress)
    test = delay_batch(test_size, lag, generator=torch.Generator().manual_seed(20_000 + seed))
    return DelayResult(model, delay_accuracy(model, test), result.losses)


def _stacked_forward(kind: str, params: dict[str, torch.Tensor], x: torch.Tensor,
                     lags: torch.Tensor) -> torch.Tensor:
    """Logits (C, N, K) of C copies, copy c read out after step ``lags[c]`` of its x[c].

    ``params`` holds each copy's PyTorch-layout weights stacked along a leading C dimension:
    weight_ih (C, G H, K + D), weight_hh (C, G H, H), bias_ih and bias_hh (C, G H),
    readout weight (C, K, H) and bias (C, K). x is (C, N, L, K + D).
    """
    C, N = x.shape[0], x.shape[1]
    W_hh_T = params["weight_hh"].transpose(1, 2).contiguous()  # (C, H, G H)
    H = W_hh_T.shape[1]
    b_ih, b_hh = params["bias_ih"], params["bias_hh"]  # (C, G H)
    if kind == "gru":  # b_hn stays inside the reset gate's product; the rest is summed once
        b_x = b_ih + torch.cat([b_hh[:, :2 * H], torch.zeros_like(b_hh[:, 2 * H:])], dim=1)
        b_hn = b_hh[:, 2 * H:].unsqueeze(1)  # (C, 1, H)
    else:
        b_x = b_ih + b_hh
    xp = torch.einsum("cnld,cgd->lcng", x, params["weight_ih"]) + b_x.unsqueeze(1)  # (L, C, N, GH)
    h = x.new_zeros(C, N, H)
    c = x.new_zeros(C, N, H)
    hs = []
    for xp_t in xp.unbind(0):  # (C, N, G H); few, fused operations: the loop's cost is their number
        if kind == "elman":
            h = torch.tanh(torch.baddbmm(xp_t, h, W_hh_T))  # (C, N, H)
        elif kind == "gru":
            x_rz, x_n = xp_t.split([2 * H, H], dim=-1)
            h_rz, h_n = torch.bmm(h, W_hh_T).split([2 * H, H], dim=-1)
            r, z = torch.sigmoid(x_rz + h_rz).chunk(2, dim=-1)
            n = torch.tanh(x_n + r * (h_n + b_hn))
            h = n + z * (h - n)  # = (1 - z) n + z h
        else:
            a = torch.baddbmm(xp_t, h, W_hh_T)  # (C, N, 4H): blocks i, f, g, o
            i, f, _, o = torch.sigmoid(a).chunk(4, dim=-1)
            c = f * c + i * torch.tanh(a.chunk(4, dim=-1)[2])
            h = o * torch.tanh(c)
        hs.append(h)
    h_read = torch.stack(hs)[lags, torch.arange(C)]  # (C, N, H): each copy at its own lag
    return torch.baddbmm(params["readout_bias"].unsqueeze(1), h_read,
                         params["readout_weight"].transpose(1, 2))  # (C, N, K)


def train_delay_copies(kind: str, lags: list[int], seeds: list[int], *, hidden_size: int = 32,
                       steps: int = 300, batch_size: int = 64, lr: float | list[float] = 1e-2,
                       forget_bias: float | list[float | None] | None = None,
                       test_size: int = 1000,
                       progress: bool | None = None) -> list[DelayResult]:
    """:func:`train_delay` for many (lag, seed) pairs at once, as one batched model.

    Copy c is the model ``train_delay(kind, lags[c], seed=seeds[c], ...)`` would train: the
    same initial weights, the same batches (its own data generator), Adam at its learning
    rate (``lr``: one for all, or one per copy; ``forget_bias`` likewise, LSTM only), its own
    gradient norm clipped at 1. The
    copies' weights are stacked along a leading dimension and all run in one recurrence over
    the longest sequence; copy c reads its state out after step ``lags[c]``, so the later
    steps never reach its loss. Training them together is training each alone (the summed
    loss's gradient with respect to copy c is copy c's own, clipping and Adam act per copy),
    up to float rounding, in about the time of one. Returns one :class:`DelayResult` per
    copy, its model a :class:`DelayClassifier` holding the trained weights.
    """
    if kind not in _LAYERS:
        raise ValueError(f"kind: expected one of {sorted(_LAYERS)}, got {kind!r}")
    if not isinstance(lags, (list, tuple)) or not isinstance(seeds, (list, tuple)) \
            or len(lags) != len(seeds) or not lags:
        raise ValueError(f"lags, seeds: expected two non-empty lists of one length, got "
                         f"{lags!r} and {seeds!r}")
    for lag in lags:
        _check_positive_int("lag", lag)
    lrs = list(lr) if isinstance(lr, (list, tuple)) else [lr] * len(lags)
    if len(lrs) != len(lags) or not all(isinstance(v, (int, float)) and v > 0 for v in lrs):
        raise ValueError(f"lr: expected a positive number or one per copy ({len(lags)}), "
                         f"got {lr!r}")
    biases = list(forget_bias) if isinstance(forget_bias, (list, tuple)) \
        else [forget_bias] * len(lags)
    if len(biases) != len(lags):
        raise ValueError(f"forget_bias: expected a number, None or one per copy ({len(lags)}), "
                         f"got {forget_bias!r}")
    if any(b is not None for b in biases) and kind != "lstm":
        raise ValueError(f"forget_bias: only for kind='lstm', got kind={kind!r}")
    _check_positive_int("steps", steps)
    models = []
    for seed, bias in zip(seeds, biases, strict=True):
        torch.manual_seed(seed)
        model = DelayClassifier(kind, hidden_size)
        if bias is not None:
            set_forget_bias(model.rnn, bias)
        models.append(model)
    names = {"weight_ih": "rnn.weight_ih_l0", "weight_hh": "rnn.weight_hh_l0",
             "bias_ih": "rnn.bias_ih_l0", "bias_hh": "rnn.bias_hh_l0",
             "readout_weight": "readout.weight", "readout_bias": "readout.bias"}
    params = {k: torch.stack([dict(m.named_parameters())[v].detach() for m in models])
              .requires_grad_() for k, v in names.items()}  # each (C, ...)
    C, L = len(lags), max(lags) + 1
    lag_index = torch.tensor(lags)
    # Adam's step is lr times an lr-free update, so one Adam at lr = 1 and each copy's update
    # scaled by its own lr is Adam at that lr for every copy
    optimizer = torch.optim.Adam(list(params.values()), lr=1.0)
    lr_per_copy = torch.tensor(lrs)  # (C,)
    generators = [torch.Generator().manual_seed(10_000 + seed) for seed in seeds]
    losses: list[list[float]] = [[] for _ in range(C)]
    show = progress_enabled() if progress is None else progress
    for _ in tqdm(range(steps), desc=f"{kind}, {C} copies", disable=not show, leave=False):
        xs, keys = [], []
        for lag, g in zip(lags, generators, strict=True):
            b = delay_batch(batch_size, lag, generator=g)
            xs.append(F.pad(b.x, (0, 0, 0, L - lag - 1)))  # (N, L, K + D): padded, never read
            keys.append(b.key)
        logits = _stacked_forward(kind, params, torch.stack(xs), lag_index)  # (C, N, K)
        per_copy = F.cross_entropy(logits.flatten(0, 1), torch.cat(keys),
                                   reduction="none").view(C, batch_size).mean(1)  # (C,)
        for c, value in enumerate(per_copy.detach().tolist()):
            losses[c].append(value)
        for p in params.values():
            p.grad = None
        per_copy.sum().backward()
        with torch.no_grad():  # clip each copy's own gradient norm at 1, as train_delay does
            norms = torch.stack([p.grad.flatten(1).pow(2).sum(1) for p in params.values()])
            clip = (1.0 / (norms.sum(0).sqrt() + 1e-6)).clamp(max=1.0)  # (C,)
            for p in params.values():
                p.grad.mul_(clip.view(-1, *([1] * (p.dim() - 1))))
        before = [p.detach().clone() for p in params.values()]
        optimizer.step()
        with torch.no_grad():
            for p, old in zip(params.values(), before, strict=True):
                p.copy_(old + (p - old) * lr_per_copy.view(-1, *([1] * (p.dim() - 1))))
    results = []
    for c, (model, lag, seed) in enumerate(zip(models, lags, seeds, strict=True)):
        with torch.no_grad():
            for k, v in names.items():
                dict(model.named_parameters())[v].copy_(params[k][c])
        model.eval()
        test = delay_batch(test_size, lag, generator=torch.Generator().manual_seed(20_000 + seed))
        results.append(DelayResult(model, delay_accuracy(model, test), losses[c]))
    return results
