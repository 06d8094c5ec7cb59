"""Initialising W_hh so that gradients survive many steps: orthogonal and identity.

Taught in chapter 4 (backpropagation through time), as one answer to vanishing gradients.
References: A. M. Saxe, J. L. McClelland and S. Ganguli, "Exact solutions to the nonlinear
dynamics of learning in deep linear neural networks", ICLR 2014 (orthogonal); Q. V. Le,
N. Jaitly and G. E. Hinton, "A simple way to initialize recurrent networks of rectified
linear units", arXiv:1504.00941 (identity).

Near h = 0 one step's Jacobian is W_hh, so d steps multiply a gradient by W_hh^d. PyTorch's
default for ``nn.RNN`` draws W_hh uniformly from (-1/sqrt(H), 1/sqrt(H)): spectral radius
about 1/sqrt(3), so the gradient shrinks by roughly that factor per step. An orthogonal W_hh
(W_hh^T W_hh = I) has every singular value equal to 1, and so does the identity:

    ||W_hh^d v|| = ||v||   for every d and v,

so near h = 0 the gradient keeps its norm however far it travels (tanh' < 1 still damps it
where the states are large).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["RECURRENT_INITS", "init_recurrent"]

RECURRENT_INITS = ("default", "orthogonal", "identity")


@torch.no_grad()
def init_recurrent(rnn: nn.RNN, scheme: str, *, generator: torch.Generator | None = None) -> nn.RNN:
    """Set ``rnn.weight_hh_l0`` (W_hh, (H, H)) by ``scheme`` and zero its recurrent bias.

    ``scheme``: 'default' leaves the layer untouched; 'orthogonal' draws W_hh = Q from the
    QR decomposition of a Gaussian matrix (signs fixed so Q is uniformly distributed);
    'identity' sets W_hh = I. Only single-layer ``nn.RNN`` layers are accepted. Returns ``rnn``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> rnn = init_recurrent(nn.RNN(3, 4), "orthogonal", generator=g)
        >>> W = rnn.weight_hh_l0
        >>> bool(torch.allclose(W.T @ W, torch.eye(4), atol=1e-6))
        True
    """
    if scheme not in RECURRENT_INITS:
        raise ValueError(f"scheme: expected one of {RECURRENT_INITS}, got {scheme!r}")
    if not isinstance(rnn, nn.RNN) or rnn.num_layers != 1:
        raise ValueError(f"rnn: expected a single-layer torch.nn.RNN, got {rnn!r}")
    if scheme == "default":
        return rnn
    W_hh = rnn.weight_hh_l0  # (H, H)
    H = W_hh.shape[0]
    if scheme == "identity":
        W_hh.copy_(torch.eye(H))
    else:
        A = torch.randn(H, H, generator=generator)  # (H, H)
        Q, R = torch.linalg.qr(A)  # (H, H), (H, H)
        W_hh.copy_(Q * torch.sign(torch.diagonal(R)))  # sign fix: Q Haar-distributed
    if rnn.bias:
        rnn.bias_hh_l0.zero_()
    return rnn
