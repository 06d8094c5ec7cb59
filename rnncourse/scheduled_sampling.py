r"""Scheduled sampling: the probability of feeding the ground truth, decaying over training.

Taught in chapter 5. Reference: S. Bengio, O. Vinyals, N. Jaitly and N. Shazeer,
"Scheduled sampling for sequence prediction with recurrent neural networks", NeurIPS 2015.

At training step (mini-batch) i, each input after the prompt is the ground truth with
probability :math:`\epsilon_i` and the model's own previous output otherwise (the mixing step
is :func:`rnncourse.teacher_forcing.mix`). Training starts close to teacher forcing
(:math:`\epsilon \approx 1`) and moves towards free running (:math:`\epsilon \to 0`, or a floor
:math:`\epsilon_{\min}`), the setting the model meets when it generates. The paper's three decays:

=================  ===============================================  =====================
schedule           :math:`\epsilon_i`                                parameters
=================  ===============================================  =====================
linear             :math:`\max(\epsilon_{\min},\ k - c\,i)`          0 <= eps_min < 1, c > 0
exponential        :math:`k^i`                                       0 < k < 1
inverse sigmoid    :math:`k / (k + \exp(i / k))`                     k >= 1
=================  ===============================================  =====================

Each function takes the step i and returns a float in [0, 1]; every schedule is
non-increasing in i. Use ``functools.partial`` to fix the parameters.
"""

from __future__ import annotations

import math

__all__ = ["exponential_decay", "inverse_sigmoid_decay", "linear_decay"]


def _check_step(step: object) -> int:
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step: expected an int >= 0, got {step!r}")
    return step


def _check_number(name: str, value: object, ok: bool, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not ok:
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return float(value)


def linear_decay(step: int, *, c: float, k: float = 1.0, eps_min: float = 0.0) -> float:
    r"""Linear decay :math:`\epsilon_i = \max(\epsilon_{\min}, k - c\, i)`, capped at 1.

    Args:
        step: i, the training step (>= 0).
        c: the slope (> 0): epsilon falls by c per step.
        k: the value at step 0, in (0, 1] (the paper's offset; 1 = start with teacher forcing).
        eps_min: the floor, in [0, 1): how much ground truth is always kept.

    Example:
        >>> [linear_decay(i, c=0.25) for i in (0, 1, 2, 4, 8)]
        [1.0, 0.75, 0.5, 0.0, 0.0]
    """
    i = _check_step(step)
    _check_number("c", c, isinstance(c, int | float) and c > 0, "a number > 0")
    _check_number("k", k, isinstance(k, int | float) and 0 < k <= 1, "a number in (0, 1]")
    _check_number("eps_min", eps_min, isinstance(eps_min, int | float) and 0 <= eps_min < 1,
                  "a number in [0, 1)")
    return max(float(eps_min), min(1.0, k - c * i))


def exponential_decay(step: int, *, k: float) -> float:
    r"""Exponential decay :math:`\epsilon_i = k^i` with 0 < k < 1.

    Example:
        >>> [round(exponential_decay(i, k=0.5), 3) for i in (0, 1, 2, 3)]
        [1.0, 0.5, 0.25, 0.125]
    """
    i = _check_step(step)
    _check_number("k", k, isinstance(k, int | float) and 0 < k < 1, "a number in (0, 1)")
    return float(k) ** i


def inverse_sigmoid_decay(step: int, *, k: float) -> float:
    r"""Inverse-sigmoid decay :math:`\epsilon_i = k / (k + \exp(i / k))` with k >= 1.

    It stays near k/(k+1) at first, falls fastest around i = k ln k (where it is 1/2), and
    reaches 0 slowly after that; a larger k means a later, slower decay.

    Example:
        >>> round(inverse_sigmoid_decay(0, k=10.0), 4), round(inverse_sigmoid_decay(23, k=10.0), 2)
        (0.9091, 0.5)
    """
    i = _check_step(step)
    _check_number("k", k, isinstance(k, int | float) and k >= 1, "a number >= 1")
    z = i / k - math.log(k)  # epsilon_i = 1 / (1 + e^z), the logistic function of -z
    if z > 0:  # written with e^{-z} so that a large i / k cannot overflow
        return math.exp(-z) / (1.0 + math.exp(-z))
    return 1.0 / (1.0 + math.exp(z))
