r"""Character language models on real text, trained for a wall-clock or step budget.

Used in chapter 7 (Elman, GRU and LSTM on tiny Shakespeare) and by ``make charlm``. The model
is an embedding, one recurrent layer and a linear readout:

    e_t = E[x_t],   h_t = cell(e_t, h_{t-1}),   p(x_{t+1} | x_1..x_t) = softmax(W_hy h_t + b_y)

where ``cell`` is PyTorch's ``nn.RNN`` (tanh, Elman), ``nn.GRU`` or ``nn.LSTM`` (equal to the
course's from-scratch versions in :mod:`rnncourse.gated`; PyTorch's run faster).

Training is truncated backpropagation through time with the state carried: the training
text is cut into ``batch_size`` contiguous streams, each step reads the next ``seq_len``
characters of every stream and starts from the (detached) state the previous step ended in,
so the model sees context longer than ``seq_len`` while gradients stop at the chunk edge.

Two ways to evaluate on the validation text, both over every character of it:

* :func:`evaluate_carried`: the state is carried across the text (cut into a few long
  streams so it runs batched; each stream starts from a zero state once), as a model reading
  the text would be used;
* :func:`evaluate_windows`: fresh 64-character windows, each from a zero state, the way a
  Transformer with a 64-character context (nanoGPT's ``block_size = 64``) is evaluated
  (there every position sees only its window's past; here too).

Losses are mean cross-entropies in nats per character; bits = nats / ln 2.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from rnncourse._validation import check_tensor
from rnncourse.gated import set_forget_bias
from rnncourse.train import progress_enabled

__all__ = [
    "KINDS",
    "CharLMConfig",
    "CharLMRun",
    "Evaluation",
    "RecurrentLM",
    "evaluate_carried",
    "evaluate_windows",
    "hidden_size_for",
    "parameter_count",
    "sample",
    "top_k_probs",
    "train_char_lm",
]

KINDS = {"elman": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def _check_ids(ids: object, vocab_size: int, *, min_length: int = 2) -> torch.Tensor:
    ids = check_tensor("ids", ids)
    if ids.dtype != torch.long or ids.dim() != 1 or len(ids) < min_length:
        raise ValueError(f"ids: expected a 1-D torch.int64 tensor of length >= {min_length}, "
                         f"got {ids.dtype} of shape {tuple(ids.shape)}")
    if int(ids.min()) < 0 or int(ids.max()) >= vocab_size:
        raise ValueError(f"ids: expected values in [0, {vocab_size - 1}], got "
                         f"[{int(ids.min())}, {int(ids.max())}]")
    return ids


class RecurrentLM(nn.Module):
    """Embedding, one recurrent layer (``kind`` = 'elman', 'gru' or 'lstm'), linear readout.

    Args:
        vocab_size: V.
        hidden_size: H.
        kind: which recurrent layer, a key of :data:`KINDS`.
        embedding_size: size of the learned embedding e_t (default 64).
        forget_bias: LSTM only: start the forget gate's bias (b_f = bias_ih + bias_hh, rows
            H:2H) at this value instead of at random.

    Input ids (N, L) int64 and an optional state -> logits (N, L, V) and the last state
    (h_n (1, N, H), or the pair (h_n, c_n) for the LSTM).
    """

    def __init__(self, vocab_size: int, hidden_size: int, kind: str = "gru", *,
                 embedding_size: int = 64, forget_bias: float | None = None) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {sorted(KINDS)}, got {kind!r}")
        for name, value in (("vocab_size", vocab_size), ("hidden_size", hidden_size),
                            ("embedding_size", embedding_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if forget_bias is not None and kind != "lstm":
            raise ValueError(f"forget_bias: only for kind='lstm', got kind={kind!r}")
        self.kind = kind
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.rnn = KINDS[kind](embedding_size, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, vocab_size)
        if forget_bias is not None:
            set_forget_bias(self.rnn, forget_bias)

    def forward(self, ids: torch.Tensor, state: object = None) -> tuple[torch.Tensor, object]:
        """Logits (N, L, V) for the characters after ``ids`` (N, L), and the last state."""
        e = self.embedding(ids)  # (N, L, E)
        h, state = self.rnn(e, state)  # (N, L, H)
        return self.readout(h), state  # (N, L, V)


def parameter_count(module: nn.Module) -> int:
    """The number of trainable numbers in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def hidden_size_for(kind: str, n_params: int, vocab_size: int, embedding_size: int = 64) -> int:
    """The largest H for which ``RecurrentLM(vocab_size, H, kind)`` has at most ``n_params``.

    PyTorch's layer has G (H_in + H + 2) H numbers for G = 1, 3, 4 gates (Elman, GRU,
    LSTM); the embedding V E and the readout (V + 1) H come on top.

    Example:
        >>> H = hidden_size_for("lstm", 100_000, 65)
        >>> parameter_count(RecurrentLM(65, H, "lstm")) <= 100_000
        True
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {sorted(KINDS)}, got {kind!r}")
    G = {"elman": 1, "gru": 3, "lstm": 4}[kind]
    V, E = vocab_size, embedding_size

    def count(H: int) -> int:
        return V * E + G * (E + H + 2) * H + (V + 1) * H

    H = 1
    while count(H + 1) <= n_params:
        H += 1
    if count(H) > n_params:
        raise ValueError(f"n_params: expected at least {count(1)} for kind={kind!r}, "
                         f"got {n_params}")
    return H


def _detach(state: object) -> object:
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def _streams(ids: torch.Tensor, n_streams: int,
             M: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut inputs x = ids[:-1] and targets y = ids[1:] into n_streams contiguous rows (S, M).

    The rows are padded at the end; ``mask`` (S, M) is True where a target is real.
    """
    x, y = ids[:-1], ids[1:]
    M = math.ceil(len(x) / n_streams) if M is None else M
    pad = n_streams * M - len(x)
    mask = torch.ones(n_streams * M, dtype=torch.bool)
    if pad:
        x = torch.cat([x, x.new_zeros(pad)])
        y = torch.cat([y, y.new_zeros(pad)])
        mask[-pad:] = False
    return x.view(n_streams, M), y.view(n_streams, M), mask.view(n_streams, M)


@torch.no_grad()
def evaluate_carried(model: RecurrentLM, ids: torch.Tensor, *, n_streams: int = 16,
                     chunk: int = 512) -> float:
    """Mean nats per character of ids[1:] given everything before it in its stream.

    The text is cut into ``n_streams`` contiguous streams, read in parallel; the state is
    carried from chunk to chunk, so each prediction sees its stream's whole past (only the
    first characters of each stream see little). ``n_streams=1`` reads the text as one.
    """
    ids = _check_ids(ids, model.vocab_size)
    was_training = model.training
    model.eval()
    x, y, mask = _streams(ids, n_streams)  # (S, M) each
    state, total = None, 0.0
    for start in range(0, x.shape[1], chunk):
        logits, state = model(x[:, start:start + chunk], state)  # (S, C, V)
        nll = F.cross_entropy(logits.transpose(1, 2), y[:, start:start + chunk],
                              reduction="none")  # (S, C)
        total += float(nll[mask[:, start:start + chunk]].sum())
    model.train(was_training)
    return total / int(mask.sum())


@torch.no_grad()
def evaluate_windows(model: RecurrentLM, ids: torch.Tensor, *, window: int = 64,
                     batch: int = 1024) -> float:
    """Mean nats per character of ids[1:] when the model reads fresh ``window``-long windows.

    The inputs ids[:-1] are cut into consecutive windows of ``window`` characters (the
    last may be shorter), each read from a zero state; every target is predicted once,
    from the part of its window before it.
    """
    ids = _check_ids(ids, model.vocab_size)
    was_training = model.training
    model.eval()
    x, y, mask = _streams(ids, math.ceil((len(ids) - 1) / window), window)  # (W, window)
    total = 0.0
    for start in range(0, x.shape[0], batch):
        logits, _ = model(x[start:start + batch])  # (B, window, V)
        nll = F.cross_entropy(logits.transpose(1, 2), y[start:start + batch], reduction="none")
        total += float(nll[mask[start:start + batch]].sum())
    model.train(was_training)
    return total / int(mask.sum())


def top_k_probs(logits: torch.Tensor, k: int | None = None,
                temperature: float = 1.0) -> torch.Tensor:
    """The distribution :func:`sample` draws from: softmax(logits / T) over the k largest logits.

    p_v = exp(l_v / T) / sum_{u in top_k} exp(l_u / T) for v among the k largest logits of
    its row, 0 otherwise (logits tied with the k-th largest are kept too). ``k=None`` keeps
    every entry. Input logits (..., V); output the same shape and dtype.

    Example:
        >>> top_k_probs(torch.tensor([[2.0, 0.0, 1.0]]), k=2, temperature=1.0).round(decimals=3)
        tensor([[0.7310, 0.0000, 0.2690]])
    """
    logits = check_tensor("logits", logits)
    if not logits.is_floating_point() or logits.dim() < 1:
        raise ValueError(f"logits: expected a floating-point tensor (..., V), got {logits.dtype} "
                         f"of shape {tuple(logits.shape)}")
    V = logits.shape[-1]
    if not (isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
            and temperature > 0):
        raise ValueError(f"temperature: expected a positive number, got {temperature!r}")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= V):
        raise ValueError(f"k: expected None or an int in 1..{V}, got {k!r}")
    scaled = logits / temperature  # (..., V)
    if k is not None:
        cut = torch.topk(scaled, k, dim=-1).values[..., -1:]  # (..., 1): the k-th largest
        scaled = scaled.masked_fill(scaled < cut, -math.inf)
    return torch.softmax(scaled, dim=-1)


@torch.no_grad()
def sample(model: RecurrentLM, prompt: torch.Tensor, n: int, *, temperature: float = 1.0,
           top_k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Continue ``prompt`` (L,) by ``n`` characters, drawing each from softmax(logits / T).

    ``top_k`` keeps only the k most probable characters at each step. Returns (n,) int64.
    """
    prompt = _check_ids(prompt, model.vocab_size, min_length=1)
    if not temperature > 0:
        raise ValueError(f"temperature: expected a positive number, got {temperature!r}")
    if top_k is not None and not 1 <= top_k <= model.vocab_size:
        raise ValueError(f"top_k: expected None or 1..{model.vocab_size}, got {top_k!r}")
    was_training = model.training
    model.eval()
    logits, state = model(prompt.unsqueeze(0))  # (1, L, V)
    last = logits[0, -1]  # (V,)
    out = []
    for _ in range(n):
        probs = top_k_probs(last, top_k, temperature)  # (V,)
        nxt = torch.multinomial(probs, 1, generator=generator)  # (1,)
        out.append(int(nxt))
        logits, state = model(nxt.view(1, 1), state)
        last = logits[0, -1]
    model.train(was_training)
    return torch.tensor(out, dtype=torch.long)


@dataclass(frozen=True)
class CharLMConfig:
    """A training configuration: the model, the batches, the optimiser and the budget.

    The learning rate warms up linearly over ``warmup_steps`` and then decays on a cosine
    from ``lr`` to ``lr * final_lr_fraction`` over the budget (the fraction of ``seconds``
    or of ``steps`` used, whichever is larger). Gradients are clipped to norm ``clip``.
    """

    kind: str = "gru"
    hidden_size: int = 256
    embedding_size: int = 64
    forget_bias: float | None = None
    batch_size: int = 64
    seq_len: int = 64
    lr: float = 5e-3
    final_lr_fraction: float = 1.0
    warmup_steps: int = 0
    clip: float | None = 1.0
    seconds: float | None = 10.0
    steps: int | None = None
    eval_every: int = 100
    threads: int | None = None
    seed: int = 0


@dataclass
class Evaluation:
    """One evaluation during training: after ``step`` steps and ``train_seconds`` of training."""

    step: int
    train_seconds: float
    val_loss: float


@dataclass
class CharLMRun:
    """What :func:`train_char_lm` returns."""

    config: CharLMConfig
    model: RecurrentLM
    steps: int = 0
    train_seconds: float = 0.0
    train_losses: list[float] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)

    @property
    def val_loss(self) -> float:
        """The last evaluation's validation loss (nats per character)."""
        return self.evaluations[-1].val_loss

    def seconds_to(self, target: float) -> float | None:
        """Training seconds (evaluations excluded) up to the first evaluation <= ``target``."""
        for e in self.evaluations:
            if e.val_loss <= target:
                return e.train_seconds
        return None

    def summary(self) -> dict[str, object]:
        """The configuration, the steps and seconds trained and the last validation loss."""
        return {**asdict(self.config), "steps": self.steps,
                "train_seconds": round(self.train_seconds, 2), "val_loss": self.val_loss}


def train_char_lm(
    config: CharLMConfig,
    train_ids: torch.Tensor,
    val_ids: torch.Tensor,
    vocab_size: int,
    *,
    evaluate: Callable[[RecurrentLM, torch.Tensor], float] = evaluate_carried,
    should_evaluate: Callable[[int, list[Evaluation]], bool] | None = None,
    progress: bool | None = None,
    desc: str = "char LM",
) -> CharLMRun:
    """Train a :class:`RecurrentLM` on ``train_ids`` for the budget in ``config``.

    Stops at ``config.steps`` steps or ``config.seconds`` seconds of training, whichever
    comes first (give one or both). ``evaluate(model, val_ids)`` runs every
    ``config.eval_every`` steps (or after the steps where ``should_evaluate(step,
    evaluations_so_far)`` is true) and at the end; its time is not counted as training.
    """
    if config.seconds is None and config.steps is None:
        raise ValueError("config: expected a budget, seconds or steps, got neither")
    train_ids = _check_ids(train_ids, vocab_size)
    val_ids = _check_ids(val_ids, vocab_size)
    B, T = config.batch_size, config.seq_len
    if len(train_ids) < B * (T + 1):
        raise ValueError(f"train_ids: expected at least batch_size * (seq_len + 1) = "
                         f"{B * (T + 1)} characters, got {len(train_ids)}")
    old_threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        torch.manual_seed(config.seed)
        model = RecurrentLM(vocab_size, config.hidden_size, config.kind,
                            embedding_size=config.embedding_size, forget_bias=config.forget_bias)
        run = CharLMRun(config, model)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        M = (len(train_ids) - 1) // B
        xs = train_ids[: B * M].view(B, M)  # (B, M): B contiguous streams
        ys = train_ids[1: B * M + 1].view(B, M)
        offset = int(torch.randint(0, T, (1,)))  # a random phase, so seeds differ in chunks too
        state = None
        total = config.steps if config.steps is not None else 10**9
        show = progress_enabled() if progress is None else progress
        bar = tqdm(total=config.steps if config.steps is not None else round(config.seconds),
                   desc=desc, disable=not show, leave=False,
                   unit="step" if config.steps is not None else "s")
        model.train()
        while run.steps < total and (config.seconds is None
                                     or run.train_seconds < config.seconds):
            started = time.perf_counter()
            fraction = max(run.steps / config.steps if config.steps else 0.0,
                           run.train_seconds / config.seconds if config.seconds else 0.0)
            lr = config.lr * (config.final_lr_fraction + (1 - config.final_lr_fraction)
                              * 0.5 * (1 + math.cos(math.pi * min(fraction, 1.0))))
            if run.steps < config.warmup_steps:
                lr *= (run.steps + 1) / config.warmup_steps
            for group in optimizer.param_groups:
                group["lr"] = lr
            if offset + T > M:
                offset, state = 0, None  # end of the streams: start again from a zero state
            x, y = xs[:, offset:offset + T], ys[:, offset:offset + T]  # (B, T)
            offset += T
            logits, state = model(x, state)
            state = _detach(state)
            loss = F.cross_entropy(logits.reshape(-1, vocab_size), y.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimizer.step()
            run.steps += 1
            elapsed = time.perf_counter() - started
            run.train_seconds += elapsed
            run.train_losses.append(float(loss.detach()))
            bar.update(1 if config.steps is not None
                       else min(elapsed, max(bar.total - bar.n, 0.0)))
            due = (run.steps % config.eval_every == 0 if should_evaluate is None
                   else should_evaluate(run.steps, run.evaluations))
            if due:
                run.evaluations.append(Evaluation(run.steps, run.train_seconds,
                                                  evaluate(model, val_ids)))
                bar.set_postfix(val=f"{run.evaluations[-1].val_loss:.3f}")
        bar.close()
        if not run.evaluations or run.evaluations[-1].step != run.steps:
            run.evaluations.append(Evaluation(run.steps, run.train_seconds,
                                              evaluate(model, val_ids)))
        model.eval()
        return run
    finally:
        torch.set_num_threads(old_threads)
