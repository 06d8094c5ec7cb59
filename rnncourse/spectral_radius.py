r"""The spectral radius of a recurrent weight matrix, and rescaling a matrix to a given one.

Taught in chapter 1 (how long the state of an untrained network remembers its inputs) and
behind chapter 4 (vanishing and exploding gradients). For a square matrix W with
eigenvalues lambda_1..lambda_H,

    rho(W) = max_i |lambda_i|.

In a linear recurrence h_t = W h_{t-1} + u_t the trace of an input k steps back is W^k u,
which shrinks like rho^k when rho < 1: rho sets the memory's time scale. With entries drawn
i.i.d. uniform(-a, a) (variance a^2 / 3), the circular law gives rho ~ a sqrt(H / 3); for
PyTorch's default a = 1 / sqrt(H) that is 1 / sqrt(3) ~ 0.577, whatever H.
"""

from __future__ import annotations

import torch

from rnncourse._validation import check_tensor

__all__ = ["spectral_radius", "with_spectral_radius"]


def _check_square(W: object) -> torch.Tensor:
    W = check_tensor("W", W)
    if W.dim() != 2 or W.shape[0] != W.shape[1] or not W.is_floating_point():
        raise ValueError(f"W: expected a square floating-point (H, H) tensor, got {W.dtype} of "
                         f"shape {tuple(W.shape)}")
    return W


def spectral_radius(W: torch.Tensor) -> float:
    """rho(W) = max_i |lambda_i(W)| of a square matrix W (H, H).

    Example:
        >>> spectral_radius(torch.tensor([[0.0, 2.0], [-0.5, 0.0]]))
        1.0
    """
    W = _check_square(W)
    return float(torch.linalg.eigvals(W.detach()).abs().max())


def with_spectral_radius(W: torch.Tensor, rho: float) -> torch.Tensor:
    """W scaled by rho / rho(W), so that its spectral radius is ``rho`` (a new tensor).

    Example:
        >>> round(spectral_radius(with_spectral_radius(torch.eye(3) * 0.2, 0.9)), 6)
        0.9
    """
    W = _check_square(W)
    if isinstance(rho, bool) or not isinstance(rho, int | float) or not rho > 0:
        raise ValueError(f"rho: expected a number > 0, got {rho!r}")
    current = spectral_radius(W)
    if current == 0:
        raise ValueError("W: expected a matrix with a non-zero eigenvalue, got spectral radius 0")
    return W.detach() * (rho / current)
