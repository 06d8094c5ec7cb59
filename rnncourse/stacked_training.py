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

import copy
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from rnncourse._validation import check_int
from rnncourse.classification_tasks import LabelledBatch
from rnncourse.classifier import SequenceClassifier
from rnncourse.ensemble import StackedModels
from rnncourse.train import train

__all__ = ["accuracy", "stack_accuracy", "train_readouts", "train_stack"]

Task = Callable[..., LabelledBatch]  # called as task(n, generator=g) -> a batch of n sequences


def _check_training(task: object, readouts: Sequence[object], seeds: object, steps: object,
                    batch_size: object, lr: object) -> None:
    """The checks :func:`train_stack` and :func:`train_readouts` share (ValueError if bad)."""
    if not callable(task):
        raise ValueError(f"task: expected a callable task(n, generator=g), got {task!r}")
    for readout in readouts:
        if not isinstance(readout, str) and not (
            isinstance(readout, type) and issubclass(readout, nn.Module)
        ):
            raise ValueError("readout: expected a readout name or an nn.Module class, got "
                             f"{type(readout).__name__} {readout!r:.60}")
    if (not isinstance(seeds, Sequence) or isinstance(seeds, str) or not seeds
            or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds)):
        raise ValueError(f"seeds: expected a non-empty sequence of ints, got {seeds!r}")
    check_int("steps", steps)
    check_int("batch_size", batch_size)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr: expected a positive number, got {lr!r}")


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
    _check_training(task, [readout], seeds, steps, batch_size, lr)
    stack = StackedModels([_build(readout, seed, vocab_size, embedding_size, hidden_size,
                                  num_classes, recurrent=recurrent, mlp_size=mlp_size)
                           for seed in seeds])
    _train(stack, task, steps=steps, batch_size=batch_size, lr=lr, data_seed=data_seed,
           on_step=on_step, desc=getattr(readout, "__name__", str(readout)))
    return stack


def _build(readout: str | type[nn.Module], seed: int, vocab_size: int, embedding_size: int,
           hidden_size: int, num_classes: int, *, recurrent: bool = True,
           mlp_size: int | None = None) -> SequenceClassifier:
    """The classifier of one seed: built under ``torch.manual_seed(seed)``, readout included."""
    torch.manual_seed(seed)  # the copy's initial weights (and its readout's)
    return SequenceClassifier(
        vocab_size, embedding_size, hidden_size, num_classes,
        readout=readout if isinstance(readout, str) else readout(), recurrent=recurrent,
        mlp_size=mlp_size)


def _train(stack: nn.Module, task: Task, *, steps: int, batch_size: int, lr: float,
           data_seed: int, on_step: Callable[[nn.Module, int], object] | None,
           desc: str) -> None:
    """Adam on the summed per-copy mean cross-entropy, one fresh batch of ``task`` per step."""
    data_g = torch.Generator().manual_seed(data_seed)
    def loss_fn(model: nn.Module, step: int) -> torch.Tensor:  # train calls (model, step)
        if on_step is not None:
            with torch.no_grad():
                on_step(model, step)
        batch = task(batch_size, generator=data_g)
        logits = model(batch.tokens, batch.lengths)  # (K, N, C), K copies in all
        return F.cross_entropy(logits.flatten(0, 1), batch.labels.repeat(len(logits)),
                               reduction="sum") / len(batch.labels)

    train(stack, loss_fn, steps, lr=lr, desc=desc)
    if on_step is not None:
        with torch.no_grad():
            on_step(stack, steps)


class _Method(nn.Module):
    """``module.<name>(*args)`` as a forward, so that ``functional_call`` can run that method."""

    def __init__(self, module: nn.Module, name: str) -> None:
        super().__init__()
        self.module, self.name = module, name

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        """``module.<name>(*args)``."""
        return getattr(self.module, self.name)(*args)


class _ReadoutGroups(nn.Module):
    """R groups of K classifiers that differ only in their readout, trained as one model.

    The embedding and the recurrence have one architecture in every copy, so their
    parameters are stacked over all R * K copies and :meth:`SequenceClassifier.states` runs
    as one ``vmap``; each group's head (:meth:`SequenceClassifier.head`: the readout, W_m,
    W_o) is stacked over the group's K copies and runs as one ``vmap`` over those copies'
    states only, so a readout is computed only by the copies that use it. The output is
    every copy's logits, (R * K, N, C), group after group.
    """

    def __init__(self, groups: Sequence[Sequence[SequenceClassifier]]) -> None:
        super().__init__()
        self._groups = [list(group) for group in groups]  # not submodules: the weights are below
        models = [m for group in self._groups for m in group]
        body = [n for n, _ in models[0].named_parameters() if n.startswith(("embedding.", "rnn."))]
        self._body_names = body
        self.body = nn.ParameterList(  # (R * K, ...) each
            torch.stack([dict(m.named_parameters())[n].detach() for m in models]) for n in body)
        # structure only, on the meta device, and kept in a tuple and a list, not as submodules,
        # so that parameters() holds only the stacked weights
        self._body = (_Method(copy.deepcopy(models[0]).to("meta"), "states"),)
        self._head_names, self._heads = [], []
        self.heads = nn.ModuleList()
        for group in self._groups:
            names = [n for n, _ in group[0].named_parameters() if n not in body]
            self._head_names.append(names)
            self.heads.append(nn.ParameterList(  # (K, ...) each
                torch.stack([dict(m.named_parameters())[n].detach() for m in group])
                for n in names))
            self._heads.append(_Method(copy.deepcopy(group[0]).to("meta"), "head"))

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Every copy's logits, (R * K, N, C)."""
        def states(params: dict[str, torch.Tensor]) -> torch.Tensor:
            return functional_call(self._body[0], params, (tokens,))  # (N, L, H)

        h = vmap(states)({f"module.{n}": p for n, p in zip(self._body_names, self.body,
                                                             strict=True)})  # (R * K, N, L, H)
        # split, not slices: its backward is one cat, a slice's is a zero (R * K, N, L, H) each
        h_groups = h.split([len(group) for group in self._groups])  # R x (K, N, L, H)
        logits = []
        for template, names, stacked, h_k in zip(self._heads, self._head_names, self.heads,
                                                 h_groups, strict=True):
            def head(params: dict[str, torch.Tensor], h_k: torch.Tensor,
                     template: nn.Module = template) -> torch.Tensor:
                return functional_call(template, params, (h_k, lengths))  # (N, C)

            params = {f"module.{n}": p for n, p in zip(names, stacked, strict=True)}
            logits.append(vmap(head)(params, h_k))  # (K, N, C)
        return torch.cat(logits)  # (R * K, N, C)

    @torch.no_grad()
    def trained(self) -> list[StackedModels]:
        """The groups as :class:`StackedModels` of ordinary classifiers with the trained weights."""
        i = 0
        for names, stacked, group in zip(self._head_names, self.heads, self._groups, strict=True):
            for k, model in enumerate(group):
                state = {n: p[i] for n, p in zip(self._body_names, self.body, strict=True)}
                state |= {n: p[k] for n, p in zip(names, stacked, strict=True)}
                model.load_state_dict(state)
                i += 1
        return [StackedModels(group) for group in self._groups]


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
    on_step: Callable[[nn.Module, int], object] | None = None,
    workers: int = 1,
) -> dict[str, StackedModels]:
    """:func:`train_stack` for several readouts at once: R * K copies as one batched model.

    Copy (r, k) is the classifier ``train_stack(task, readouts[r], ...)`` builds for
    ``seeds[k]``, under ``torch.manual_seed(seeds[k])`` with readout r only, so it starts
    from the same weights as there (a parameter-free readout also leaves the embedding and
    recurrent weights of a seed the same whatever the readout). All R * K copies train on
    the same batches with one forward and backward pass per step: the embedding and the
    recurrence run vmapped over all R * K copies, and each readout and its output layer only
    over its own K copies. ``on_step`` sees the whole group as one model whose output is
    (R * K, N, C), copies in the order (readout 0: seeds..., readout 1: seeds..., ...).

    With ``workers`` > 1 (and no ``on_step``), the readouts are dealt into
    ``min(workers, R)`` groups (readout r into group r mod workers), all built first, one
    after another, and trained side by side in threads (PyTorch releases the GIL inside its
    operations, so two threads use two cores). The ``steps`` batches are drawn from ``task``
    first, in the calling thread, exactly as one group would draw them, and every group
    trains on that same list. Every copy then computes exactly what it computes in one
    group, since its gradient is its own loss's and Adam is elementwise (tested), unless a
    loss stops being finite: :func:`rnncourse.train.train` stops a group there, so one
    diverging copy stops its own group only.

    Returns:
        readout name (a class's ``__name__``) -> its K trained copies, as a
        :class:`StackedModels` of ordinary :class:`SequenceClassifier` copies.

    Example:
        >>> from rnncourse.classification_tasks import end_evidence_task
        >>> stacks = train_readouts(
        ...     lambda n, generator: end_evidence_task(n, 5, generator=generator),
        ...     ("last", "attention"), seeds=(0, 1), vocab_size=12, embedding_size=4,
        ...     hidden_size=8, steps=2, batch_size=16, lr=1e-2)
        >>> {name: stack.size for name, stack in stacks.items()}
        {'last': 2, 'attention': 2}
    """
    if isinstance(readouts, str) or not readouts:
        raise ValueError(f"readouts: expected a non-empty sequence of readouts, got {readouts!r}")
    names = [r if isinstance(r, str) else getattr(r, "__name__", repr(r)) for r in readouts]
    if len(set(names)) != len(names):
        raise ValueError(f"readouts: expected distinct readouts, got {names}")
    _check_training(task, readouts, seeds, steps, batch_size, lr)
    check_int("workers", workers)
    if workers > 1 and on_step is not None:
        raise ValueError("on_step: expected None with workers > 1 (it sees one group, "
                         f"not all {len(readouts)} readouts), got {on_step!r}")
    chunks = [list(range(len(readouts)))[w::workers] for w in range(min(workers, len(readouts)))]
    groups = [_ReadoutGroups([[_build(readouts[r], seed, vocab_size, embedding_size, hidden_size,
                                      num_classes) for seed in seeds] for r in chunk])
              for chunk in chunks]  # built one after another: _build seeds the global generator

    if len(chunks) == 1:
        _train(groups[0], task, steps=steps, batch_size=batch_size, lr=lr, data_seed=data_seed,
               on_step=on_step, desc="+".join(names))
        results = [groups[0].trained()]
    else:
        data_g = torch.Generator().manual_seed(data_seed)  # the batches one group would draw
        batches = [task(batch_size, generator=data_g) for _ in range(steps)]

        def trained(chunk: list[int], group: _ReadoutGroups) -> list[StackedModels]:
            replay = iter(batches)  # the replay ignores _train's own generator
            _train(group, lambda _n, **_kwargs: next(replay), steps=steps, batch_size=batch_size,
                   lr=lr, data_seed=data_seed, on_step=None,
                   desc="+".join(names[r] for r in chunk))
            return group.trained()

        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            results = list(pool.map(trained, chunks, groups))
    stacks = {r: stack for chunk, result in zip(chunks, results, strict=True)
              for r, stack in zip(chunk, result, strict=True)}
    return {names[r]: stacks[r] for r in range(len(readouts))}


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
