"""Train one sequence classifier per seed, all at once, and score every seed.

Taught in chapter 6 (classifying sequences), where each readout is compared on each task
over several seeds within the chapter's time budget. :func:`train_stack` builds one
:class:`rnncourse.classifier.SequenceClassifier` per seed, stacks the K copies in a
:class:`rnncourse.ensemble.StackedModels`, and trains them with the course's
:func:`rnncourse.train.train` on fresh batches of a task, every copy on the same batches.
The loss is the sum over copies of each copy's mean cross-entropy,

    L = sum_{k=1}^{K} (1/N) sum_{n=1}^{N} CE(o_{k,n}, y_n),

so copy k's gradient is the one it would get trained alone (its term is the only one that
depends on its weights), and Adam's update is elementwise: K independent trainings.
:func:`stack_accuracy` returns each copy's test accuracy, (K,), optionally after padding the
test batch further, which a correct (masked) readout must not notice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rnncourse._validation import check_int
from rnncourse.classification_tasks import LabelledBatch
from rnncourse.classifier import SequenceClassifier
from rnncourse.ensemble import StackedModels
from rnncourse.pooling import ReadoutChoice, make_readout
from rnncourse.train import train

__all__ = ["accuracy", "stack_accuracy", "train_readouts", "train_stack"]

Task = Callable[..., LabelledBatch]  # called as task(n, generator=g) -> a batch of n sequences


def _check_seeds(seeds: object) -> Sequence[int]:
    if (not isinstance(seeds, Sequence) or isinstance(seeds, str) or not seeds
            or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds)):
        raise ValueError(f"seeds: expected a non-empty sequence of ints, got {seeds!r}")
    return seeds


def train_stack(
    task: Task,
    readout: str | type[nn.Module],
    *,
    seeds: Sequence[int],
    vocab_size: int,
    embedding_size: int,
    hidden_size: int,
    steps: int,
    batch_size: int,
    lr: float,
    num_classes: int = 2,
    recurrent: bool = True,
    data_seed: int = 1234,
    mlp_size: int | None = None,
    on_step: Callable[[StackedModels, int], object] | None = None,
) -> StackedModels:
    """Train one ``SequenceClassifier`` per seed, stacked, on fresh batches of ``task``.

    Args:
        task: called as ``task(batch_size, generator=g)`` for a :class:`LabelledBatch`; one
            batch per step, drawn from one generator seeded with ``data_seed``, so every
            readout trained with the same ``data_seed`` sees the same batches.
        readout: a readout name ("last", "mean", "max", "attention") or a module class,
            instantiated once per seed (its ``__name__`` labels the progress bar).
        seeds: one copy per seed; ``torch.manual_seed(seed)`` precedes building copy k.
        vocab_size: V, including the padding id (as in :class:`SequenceClassifier`).
        embedding_size: E, the size of each token's embedding e_t.
        hidden_size: H, the size of h_t.
        steps: Adam steps.
        batch_size: sequences per batch (per step).
        lr: Adam's learning rate.
        num_classes: C.
        recurrent: if False, the copies pool the embeddings (the bag-of-embeddings baseline).
        data_seed: seed of the batches' generator.
        mlp_size: if given, a tanh layer of this size before the output (with
            ``recurrent=False``: the deep averaging network).
        on_step: if given, called as ``on_step(stack, step)`` before every step and once
            more as ``on_step(stack, steps)`` after the last, without gradients (to record a
            validation accuracy per epoch, for example).

    Returns:
        The trained :class:`StackedModels`; ``stack(tokens, lengths)`` gives logits (K, N, C).

    Example:
        >>> from rnncourse.classification_tasks import end_evidence_task
        >>> stack = train_stack(lambda n, generator: end_evidence_task(n, 5, generator=generator),
        ...                     "last", seeds=(0, 1), vocab_size=12, embedding_size=4,
        ...                     hidden_size=8, steps=2, batch_size=16, lr=1e-2)
        >>> stack.size
        2
    """
    if not callable(task):
        raise ValueError(f"task: expected a callable task(n, generator=g), got {task!r}")
    if not isinstance(readout, str) and not (
        isinstance(readout, type) and issubclass(readout, nn.Module)
    ):
        raise ValueError("readout: expected a readout name or an nn.Module class, got "
                         f"{type(readout).__name__} {readout!r:.60}")
    _check_seeds(seeds)
    steps, batch_size = check_int("steps", steps), check_int("batch_size", batch_size)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr: expected a positive number, got {lr!r}")

    models = []
    for seed in seeds:
        torch.manual_seed(seed)  # copy k's initial weights (and its readout's)
        models.append(SequenceClassifier(
            vocab_size, embedding_size, hidden_size, num_classes,
            readout=readout if isinstance(readout, str) else readout(), recurrent=recurrent,
            mlp_size=mlp_size))
    stack = StackedModels(models)
    _train(stack, task, steps=steps, batch_size=batch_size, lr=lr, data_seed=data_seed,
           on_step=on_step, desc=getattr(readout, "__name__", str(readout)))
    return stack


def _train(stack: StackedModels, task: Task, *, steps: int, batch_size: int, lr: float,
           data_seed: int, on_step: Callable[[StackedModels, int], object] | None,
           desc: str) -> None:
    """Adam on the summed per-copy mean cross-entropy, one fresh batch of ``task`` per step."""
    data_g = torch.Generator().manual_seed(data_seed)
    K = stack.size

    def loss_fn(model: StackedModels, step: int) -> torch.Tensor:  # train calls (model, step)
        if on_step is not None:
            with torch.no_grad():
                on_step(model, step)
        batch = task(batch_size, generator=data_g)
        logits = model(batch.tokens, batch.lengths)  # (K, N, C)
        return F.cross_entropy(logits.flatten(0, 1), batch.labels.repeat(K),  # (K * N, C)
                               reduction="sum") / len(batch.labels)

    train(stack, loss_fn, steps, lr=lr, desc=desc)
    if on_step is not None:
        with torch.no_grad():
            on_step(stack, steps)


def train_readouts(
    task: Task,
    readouts: Sequence[str | type[nn.Module]],
    *,
    seeds: Sequence[int],
    vocab_size: int,
    embedding_size: int,
    hidden_size: int,
    steps: int,
    batch_size: int,
    lr: float,
    num_classes: int = 2,
    data_seed: int = 1234,
    on_step: Callable[[StackedModels, int], object] | None = None,
) -> dict[str, StackedModels]:
    """:func:`train_stack` for several readouts at once: one stack of R * K copies.

    Copy (r, k) is built under ``torch.manual_seed(seeds[k])`` with a
    :class:`rnncourse.pooling.ReadoutChoice` holding every readout and using readout r, so
    the copies of one seed start from the same embedding and recurrent weights whatever
    their readout, and all R * K train as one batched model (one forward and backward pass
    per step) on the same batches. ``on_step`` sees the whole stack, copies in the order
    (readout 0: seeds..., readout 1: seeds..., ...).

    Returns:
        readout name (a class's ``__name__``) -> its K trained copies, as a
        :class:`StackedModels` of ordinary :class:`SequenceClassifier` copies.
    """
    if isinstance(readouts, str) or not readouts:
        raise ValueError(f"readouts: expected a non-empty sequence of readouts, got {readouts!r}")
    names = [r if isinstance(r, str) else getattr(r, "__name__", repr(r)) for r in readouts]
    if len(set(names)) != len(names):
        raise ValueError(f"readouts: expected distinct readouts, got {names}")
    _check_seeds(seeds)
    steps, batch_size = check_int("steps", steps), check_int("batch_size", batch_size)

    def build(readout: str | type[nn.Module]) -> nn.Module:
        return make_readout(readout, hidden_size) if isinstance(readout, str) else readout()

    models = []
    for choice in names:
        for seed in seeds:
            torch.manual_seed(seed)
            models.append(SequenceClassifier(
                vocab_size, embedding_size, hidden_size, num_classes,
                readout=ReadoutChoice({n: build(r) for n, r in zip(names, readouts, strict=True)},
                                      choice)))
    stack = StackedModels(models)
    _train(stack, task, steps=steps, batch_size=batch_size, lr=lr, data_seed=data_seed,
           on_step=on_step, desc="+".join(names))
    K = len(seeds)
    return {name: StackedModels([stack.member(r * K + k) for k in range(K)])
            for r, name in enumerate(names)}


@torch.no_grad()
def stack_accuracy(
    stack: StackedModels, batch: LabelledBatch, pad_to: int | None = None
) -> torch.Tensor:
    """Each copy's accuracy on ``batch``, (K,) float64; with ``pad_to``, padded to that length.

    Args:
        stack: K stacked classifiers, as :func:`train_stack` returns.
        batch: the test sequences.
        pad_to: if given, append padding (token 0) up to ``pad_to`` steps first, as happens
            when a longer sequence shares the batch; a masked readout's accuracy is unchanged.

    Example:
        >>> from rnncourse.classification_tasks import end_evidence_task
        >>> stack = StackedModels([SequenceClassifier(12, 4, 8, 2) for _ in range(3)])
        >>> test = end_evidence_task(10, 5, generator=torch.Generator().manual_seed(0))
        >>> tuple(stack_accuracy(stack, test, pad_to=9).shape)
        (3,)
    """
    if not isinstance(stack, StackedModels):
        raise ValueError(f"stack: expected a StackedModels, got {type(stack).__name__}")
    if not isinstance(batch, LabelledBatch):
        raise ValueError(f"batch: expected a LabelledBatch, got {type(batch).__name__}")
    tokens = batch.tokens  # (N, L)
    if pad_to is not None:
        if isinstance(pad_to, bool) or not isinstance(pad_to, int) or pad_to < tokens.shape[1]:
            raise ValueError(f"pad_to: expected an int >= the batch's length {tokens.shape[1]}, "
                             f"got {pad_to!r}")
        tokens = F.pad(tokens, (0, pad_to - tokens.shape[1]))  # (N, pad_to), extra zeros
    predicted = stack(tokens, batch.lengths).argmax(-1)  # (K, N)
    return (predicted == batch.labels).double().mean(1)  # (K,)


@torch.no_grad()
def accuracy(model: nn.Module, batch: LabelledBatch, batch_size: int | None = None) -> torch.Tensor:
    """Accuracy of ``model(tokens, lengths)`` on ``batch``: (K,) for a stack, () for one model.

    The model is put in eval mode first. With ``batch_size``, the sequences are sorted by
    length and run in chunks of that many, each trimmed to its longest sequence (less
    padding, so faster for a recurrent model; a masked readout gives the same result).
    Float64.

    Example:
        >>> from rnncourse.classification_tasks import end_evidence_task
        >>> test = end_evidence_task(10, (2, 9), generator=torch.Generator().manual_seed(0))
        >>> model = SequenceClassifier(12, 4, 8, 2)
        >>> bool(accuracy(model, test) == accuracy(model, test, batch_size=3))
        True
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected an nn.Module, got {type(model).__name__}")
    if not isinstance(batch, LabelledBatch):
        raise ValueError(f"batch: expected a LabelledBatch, got {type(batch).__name__}")
    model.eval()
    n = len(batch.labels)
    chunks = [torch.arange(n)] if batch_size is None else batch.lengths.argsort(
        stable=True).split(check_int("batch_size", batch_size))
    right = 0
    for index in chunks:
        lengths = batch.lengths[index]  # (n_b,)
        tokens = batch.tokens[index, : int(lengths.max())]  # (n_b, L_b)
        predicted = model(tokens, lengths).argmax(-1)  # (K, n_b) or (n_b,)
        right = right + (predicted == batch.labels[index]).double().sum(-1)  # (K,) or ()
    return right / n  # (K,) or ()
