"""Several independently initialised copies of one model, run and trained as one batch.

Used in chapter 6 to repeat every experiment over several seeds within its time budget.
A claim about training ("the mean readout beats the last state") should hold across
random initialisations, but small recurrent models spend most of their time in Python
overhead per step, not in arithmetic; running K copies one after another costs K times
that overhead. :class:`StackedModels` stacks the K copies' parameters along a new leading
dimension and evaluates them with ``torch.func.vmap``, so one forward pass runs all K.

Training the stack with a summed loss is training each copy on its own: copy k's loss
depends only on copy k's parameters, so each gradient is the one it would get alone, and
Adam's update is elementwise. (Global gradient clipping would couple the copies; do not
clip a stack.) All copies see the same batches; they differ in their initial weights.

Reference: ``torch.func.stack_module_state`` and the model-ensembling tutorial of
PyTorch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

__all__ = ["StackedModels"]


class StackedModels(nn.Module):
    """K copies of a model with stacked parameters; ``forward`` returns the K outputs stacked.

    Args:
        models: K >= 1 modules of the same architecture (typically built under K seeds).

    Inputs: whatever one model takes; the same inputs go to every copy.
    Outputs: the model's output with a leading K dimension, e.g. logits (K, N, C).

    Example:
        >>> stack = StackedModels([nn.Linear(3, 2) for _ in range(4)])
        >>> tuple(stack(torch.zeros(5, 3)).shape)
        (4, 5, 2)
        >>> tuple(stack.member(1)(torch.zeros(5, 3)).shape)
        (5, 2)
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        models = list(models)
        if not models or not all(isinstance(m, nn.Module) for m in models):
            raise ValueError(
                f"models: expected a non-empty sequence of nn.Module, got {models!r:.80}")
        names = [tuple(n for n, _ in m.named_parameters()) for m in models]
        if any(n != names[0] for n in names):
            raise ValueError("models: expected copies of one architecture (same parameter names), "
                             f"got {sorted(set(names))}")
        params, buffers = stack_module_state(models)
        # parameters are stored flat: "." is not allowed in a Parameter's name
        self._names = list(params)
        self.stacked = nn.ParameterList(
            nn.Parameter(params[n].detach().clone()) for n in self._names
        )
        self._buffers_stacked = buffers
        self._template = copy.deepcopy(models[0]).to("meta")  # structure only, no storage
        self.size = len(models)

    def _params(self) -> dict[str, torch.Tensor]:
        return dict(zip(self._names, self.stacked, strict=True))

    def forward(self, *args: object, **kwargs: object) -> torch.Tensor:
        """Every copy on the same inputs at once: the outputs stacked, (K, ...)."""
        def one(params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor]) -> torch.Tensor:
            return functional_call(self._template, (params, buffers), args, kwargs)

        return vmap(one, randomness="different")(self._params(), self._buffers_stacked)  # (K, ...)

    def member(self, k: int) -> nn.Module:
        """An ordinary module holding copy k's current weights.

        It is a copy: later training of the stack does not change it.
        """
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < self.size:
            raise ValueError(f"k: expected an int in [0, {self.size - 1}], got {k!r}")
        model = copy.deepcopy(self._template).to_empty(device="cpu")
        state = {n: p[k].detach().clone() for n, p in self._params().items()}
        state |= {n: b[k].clone() for n, b in self._buffers_stacked.items()}
        model.load_state_dict(state)
        return model.eval()

    def map(self, fn: Callable[[nn.Module], object]) -> list[object]:
        """``[fn(member(k)) for k in range(K)]``."""
        return [fn(self.member(k)) for k in range(self.size)]
