r"""A bidirectional GRU classifier, and why a padded batch must be packed for it.

Taught in chapter 6 (classifying sequences). A bidirectional network runs one recurrence
forwards, h^f_t = GRU_f(e_t, h^f_{t-1}) for t = 1..T, and one backwards,
h^b_t = GRU_b(e_t, h^b_{t+1}) for t = T..1, and classifies from

    c = [h^f_T ; h^b_1],    o = W_o c + b_o,

the forward state that has read the whole sentence and the backward state that has read it
from the end to the start. On a padded batch the forward part is easy to get right (read
h^f at T_n: :func:`rnncourse.pooling.last_state`), but the backward recurrence, run over the
padded rows, starts at step L, not at T_n: it reads the L - T_n padding steps *before* the
sentence, so h^b_1 depends on how much padding the batch happened to need. Masking the
output (reading h^b at step 1) does not help: the damage is inside the recurrence.
``torch.nn.utils.rnn.pack_padded_sequence`` fixes it: each direction then runs over each
sequence's own T_n steps, and ``h_n`` holds [h^f_{T_n}; h^b_1] for every row.

:class:`BiGRUClassifier` does either (``packed=True`` is right; ``packed=False`` is the bug,
kept to measure it); :func:`bidirectional_last` is the masked readout of a padded output;
:func:`train_each` trains one model per seed (packed sequences do not batch over seeds with
``torch.func.vmap``, so seeds run one after another, or side by side in threads).

Reference: M. Schuster and K. K. Paliwal, "Bidirectional recurrent neural networks", IEEE
Transactions on Signal Processing, 1997.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from rnncourse._validation import check_int, check_shape
from rnncourse.classification_tasks import LabelledBatch
from rnncourse.pooling import last_state
from rnncourse.train import train

__all__ = ["BiGRUClassifier", "bidirectional_last", "train_each"]


def bidirectional_last(output: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """[h^f_{T_n} ; h^b_1] from a bidirectional output (N, L, 2H): (N, 2H).

    ``output[..., :H]`` is the forward direction, ``output[..., H:]`` the backward one (as
    ``nn.GRU(bidirectional=True, batch_first=True)`` returns them). For the output of a
    packed batch this equals ``torch.cat([h_n[0], h_n[1]], 1)``; for a padded batch run
    without packing, the backward half is the state after reading the padding first.
    """
    _, _, two_h = check_shape("output", output, ("N", "L", "D"))
    if two_h % 2:
        raise ValueError(f"output: expected an even last size (2H), got {two_h}")
    H = two_h // 2
    forward_last = last_state(output[..., :H], lengths)  # (N, H), h^f at T_n
    return torch.cat([forward_last, output[:, 0, H:]], dim=1)  # (N, 2H)


class BiGRUClassifier(nn.Module):
    """Token ids (N, L) and lengths (N,) -> logits (N, C) from [h^f_{T_n} ; h^b_1].

    Args:
        vocab_size: V, including the padding id 0 (its embedding is fixed at zero).
        embedding_size: E.
        hidden_size: H, per direction (c has size 2H).
        num_classes: C.
        packed: run the GRU on ``pack_padded_sequence`` input (right); if False, on the
            padded batch, reading the output with :func:`bidirectional_last` (the bug).

    Example:
        >>> model = BiGRUClassifier(10, 4, 3, 2)
        >>> tuple(model(torch.tensor([[3, 4, 0], [5, 6, 7]]), torch.tensor([2, 3])).shape)
        (2, 2)
    """

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int,
                 num_classes: int, *, packed: bool = True) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embedding_size", embedding_size),
                            ("hidden_size", hidden_size), ("num_classes", num_classes)):
            check_int(name, value)
        self.vocab_size, self.packed = vocab_size, packed
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=0)
        self.gru = nn.GRU(embedding_size, hidden_size, batch_first=True, bidirectional=True)
        self.W_o = nn.Linear(2 * hidden_size, num_classes)  # o = W_o c + b_o

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """c = [h^f_{T_n} ; h^b_1], (N, 2H)."""
        check_shape("tokens", tokens, ("N", "L"))
        if tokens.dtype != torch.long or (tokens.numel() and (
                int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size)):
            raise ValueError(f"tokens: expected int64 ids in [0, {self.vocab_size - 1}], got "
                             f"{tokens.dtype} values")
        e = self.embedding(tokens)  # (N, L, E)
        if self.packed:
            packed = pack_padded_sequence(e, lengths.cpu(), batch_first=True,
                                          enforce_sorted=False)
            _, h_n = self.gru(packed)  # h_n: (2, N, H), rows in the batch's own order
            return torch.cat([h_n[0], h_n[1]], dim=1)  # (N, 2H)
        output, _ = self.gru(e)  # (N, L, 2H): the backward direction starts at step L
        return bidirectional_last(output, lengths)  # (N, 2H)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits W_o c + b_o, (N, C)."""
        return self.W_o(self.encode(tokens, lengths))  # (N, C)


def train_each(
    build: Callable[[], nn.Module],
    make_task: Callable[[], Callable[..., LabelledBatch]],
    *,
    seeds: Sequence[int],
    steps: int,
    batch_size: int,
    lr: float,
    data_seed: int = 1234,
    on_step: Callable[[nn.Module, int, int], object] | None = None,
    workers: int = 1,
) -> list[nn.Module]:
    """One model per seed, ``torch.manual_seed(seed); build()``, trained with Adam on a task.

    ``make_task()`` is called once per model and must return a task called as
    ``task(batch_size, generator=g)``, with ``g`` seeded by ``data_seed`` afresh for each
    model, so every model sees the same batches (a stateful task such as
    :class:`rnncourse.labelled_sentences.EpochBatches` is built anew each time).
    ``on_step``, if given, is called as ``on_step(model, k, step)`` (model k of the list)
    before every step and once more after the last, without gradients, as in
    :func:`rnncourse.stacked_training.train_stack`. Returns the models in eval mode.

    With ``workers`` > 1, every model and its task are made first, in the order of the
    seeds (``manual_seed(seed); build()``, then ``make_task()``), and then that many threads
    train them side by side (PyTorch releases the GIL inside its operations, so two threads
    use two cores). Each model still computes exactly what it would alone, provided that
    its training draws nothing from the global random generator (no dropout): its batches
    come from its own task and generator. ``on_step`` is then called from the threads,
    each model's calls in order.
    """
    if isinstance(seeds, str) or not seeds or any(
            isinstance(s, bool) or not isinstance(s, int) for s in seeds):
        raise ValueError(f"seeds: expected a non-empty sequence of ints, got {seeds!r}")
    check_int("workers", workers)

    def made(seed: int) -> tuple[nn.Module, Callable[..., LabelledBatch]]:
        torch.manual_seed(seed)
        model = build()
        return model, make_task()

    def trained(k: int, model: nn.Module, task: Callable[..., LabelledBatch]) -> nn.Module:
        data_g = torch.Generator().manual_seed(data_seed)

        def loss_fn(m: nn.Module, step: int) -> torch.Tensor:
            if on_step is not None:
                with torch.no_grad():
                    on_step(m, k, step)
            batch = task(batch_size, generator=data_g)
            return F.cross_entropy(m(batch.tokens, batch.lengths), batch.labels)

        train(model, loss_fn, steps, lr=lr, desc=f"seed {seeds[k]}")
        if on_step is not None:
            with torch.no_grad():
                on_step(model, k, steps)
        return model.eval()

    if workers == 1:
        return [trained(k, *made(seed)) for k, seed in enumerate(seeds)]
    models, tasks = zip(*[made(seed) for seed in seeds], strict=True)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(trained, range(len(models)), models, tasks))
