"""The total gradient and its long-range part: what vanishes when a network cannot learn a lag.

Taught in chapter 4 (backpropagation through time). Reference: R. Pascanu, T. Mikolov and
Y. Bengio, "On the difficulty of training recurrent neural networks", ICML 2013, section 2.

With the loss read after the last step L of a sequence, the gradient with respect to the
input at step t travels L - t recurrent steps:

    dloss/dx_t = W_xh^T diag(tanh'(a_t)) (dh_L/dh_t)^T dloss/dh_L,

and every parameter's gradient is a sum over t of such terms. When the factors of dh_L/dh_t
shrink, the terms from early steps (the *long-range* part) vanish while the terms from the
last steps (the *short-range* part) do not: the total gradient keeps a normal size, and
nearly all of it pulls the weights toward what the last few inputs can explain.
:func:`gradient_reach` measures the three sizes on one batch of the delay task.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rnncourse.delay_task import DelayBatch, DelayClassifier

__all__ = ["GradientReach", "gradient_reach"]


@dataclass(frozen=True)
class GradientReach:
    """Gradient sizes of the mean cross-entropy on one batch.

    Attributes:
        key_step: mean over the batch of ||dloss/dx_0||, the key's input, L steps back.
        last_step: mean over the batch of ||dloss/dx_L||, the last input, 0 steps back.
        total: ||dloss/dtheta|| over all parameters together (what clipping measures).
    """

    key_step: float
    last_step: float
    total: float


def gradient_reach(model: DelayClassifier, batch: DelayBatch) -> GradientReach:
    """Measure :class:`GradientReach` for ``model`` on ``batch`` (x: (N, L + 1, K + D)).

    Leaves the parameters' ``.grad`` untouched.

    Example:
        >>> from rnncourse.delay_task import delay_batch
        >>> _ = torch.manual_seed(0)
        >>> r = gradient_reach(DelayClassifier("elman", 8), delay_batch(16, 30))
        >>> r.key_step < 1e-3 * r.last_step, r.total > 0.01
        (True, True)
    """
    if not isinstance(model, DelayClassifier):
        raise ValueError(f"model: expected a DelayClassifier, got {type(model).__name__}")
    if not isinstance(batch, DelayBatch):
        raise ValueError(f"batch: expected a DelayBatch, got {type(batch).__name__}")
    x = batch.x.clone().requires_grad_()  # (N, L + 1, K + D)
    params = list(model.parameters())
    loss = F.cross_entropy(model(x), batch.key)  # mean over the batch
    grad_x, *grad_params = torch.autograd.grad(loss, [x, *params])  # (N, L + 1, K + D), ...
    per_input = grad_x.norm(dim=-1) * x.shape[0]  # (N, L + 1): per sequence, undo the mean
    total = torch.sqrt(sum(g.pow(2).sum() for g in grad_params))
    return GradientReach(float(per_input[:, 0].mean()), float(per_input[:, -1].mean()),
                         float(total))
