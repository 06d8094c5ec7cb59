"""How gradients travel back through time: the Jacobian dh_T/dh_k and why it vanishes or explodes.

Taught in chapter 4 (backpropagation through time). Reference: R. Pascanu, T. Mikolov and
Y. Bengio, "On the difficulty of training recurrent neural networks", ICML 2013.

For h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h) one step's Jacobian is

    dh_t/dh_{t-1} = diag(1 - h_t^2) W_hh,   so   dh_T/dh_k = prod_{t=T}^{k+1} diag(1 - h_t^2) W_hh

(the backward pass multiplies a gradient row by the transpose, W_hh^T diag(1 - h_t^2),
which has the same 2-norm). Because |tanh'| <= gamma = 1, each factor has 2-norm at most
sigma_max(W_hh), so ||dh_T/dh_k|| <= sigma_max(W_hh)^(T-k): a largest singular value below
1/gamma = 1 is sufficient for the gradient to vanish exponentially (Pascanu et al., 2013),
and above 1 is necessary for it to explode.

The spectral radius rho(W) = max_i |lambda_i(W)| also sets how long an untrained network
remembers (chapter 1): in a linear recurrence h_t = W h_{t-1} + u_t an input k steps back
survives as W^k u, which shrinks like rho^k when rho < 1. With entries i.i.d. uniform(-a, a)
(variance a^2 / 3) the circular law gives rho ~ a sqrt(H / 3); for PyTorch's default
a = 1 / sqrt(H) that is 1 / sqrt(3) ~ 0.577, whatever H.
"""

from __future__ import annotations

import torch

from rnncourse._validation import check_floating, check_shape

__all__ = ["jacobian_norms", "scale_to_spectral_radius", "spectral_radius"]


def _check_square(name: str, W: object) -> torch.Tensor:
    check_shape(name, W, ("H", "H"))
    check_floating(name, W)
    return W


def spectral_radius(W: torch.Tensor) -> float:
    """rho(W) = max |eigenvalue of W| for a square matrix ``W`` (H, H).

    Example:
        >>> spectral_radius(torch.tensor([[0.0, 2.0], [0.5, 0.0]]))
        1.0
    """
    W = _check_square("W", W)
    return float(torch.linalg.eigvals(W.detach()).abs().max())


def scale_to_spectral_radius(W: torch.Tensor, rho: float) -> torch.Tensor:
    """Return ``W * rho / spectral_radius(W)``: the same directions, spectral radius ``rho``.

    Example:
        >>> round(spectral_radius(scale_to_spectral_radius(torch.eye(3) * 4, 0.9)), 6)
        0.9
    """
    W = _check_square("W", W)
    if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not rho > 0:
        raise ValueError(f"rho: expected a positive number, got {rho!r}")
    current = spectral_radius(W)
    if current == 0:
        raise ValueError("W: expected a matrix with a nonzero eigenvalue, got spectral radius 0")
    return W * (rho / current)  # (H, H)


def jacobian_norms(W_hh: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """||dh_T/dh_{T-d}||_2 for d = 0, 1, ..., T along one trajectory of a tanh RNN.

    Args:
        W_hh: (H, H), the recurrent weights.
        h: (T, H), the hidden states h_1..h_T of one sequence (only tanh'(a_t) = 1 - h_t^2
           is needed from them).

    Returns:
        (T + 1,) float tensor; entry d is the spectral norm of the product of the d factors
        diag(1 - h_t^2) W_hh for t = T, ..., T - d + 1 (entry 0 is ||I|| = 1).

    Example:
        >>> jacobian_norms(0.5 * torch.eye(2), torch.zeros(3, 2))
        tensor([1.0000, 0.5000, 0.2500, 0.1250])
    """
    W_hh = _check_square("W_hh", W_hh)
    check_shape("h", h, ("T", W_hh.shape[0]))  # the states h_1..h_T of one sequence
    J = torch.eye(W_hh.shape[0], dtype=W_hh.dtype)  # (H, H): dh_T/dh_T
    norms = [torch.linalg.matrix_norm(J, ord=2)]
    for i in range(h.shape[0] - 1, -1, -1):  # h[i] is h_{i+1}: step t = i + 1, from T down to 1
        J = J @ ((1 - h[i] ** 2)[:, None] * W_hh)  # (H, H): dh_T/dh_{t-1}, one factor more
        norms.append(torch.linalg.matrix_norm(J, ord=2))
    return torch.stack(norms)  # (T + 1,)
