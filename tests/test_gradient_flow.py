"""dh_T/dh_k as a product of diag(tanh') W_hh factors, against autograd; spectral scaling."""

import re

import numpy as np
import pytest
import torch

from rnncourse.elman import ElmanRNN
from rnncourse.gradient_flow import jacobian_norms, scale_to_spectral_radius, spectral_radius


def _trajectory(rho: float, T: int = 12, H: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    model = ElmanRNN(2, H, dtype=torch.float64, generator=g)
    with torch.no_grad():
        W = torch.randn(H, H, generator=g, dtype=torch.float64)
        model.W_hh.copy_(scale_to_spectral_radius(W, rho))
    x = torch.randn(T, 2, generator=g, dtype=torch.float64)
    return model, x


@pytest.mark.parametrize("rho", [0.5, 1.5])
def test_jacobian_norms_match_autograd(rho):
    """Entry d equals the 2-norm of the autograd Jacobian of h_T with respect to h_{T-d}."""
    model, x = _trajectory(rho)
    T = x.shape[0]
    with torch.no_grad():
        h, _ = model(x)
    norms = jacobian_norms(model.W_hh.detach(), h)
    assert norms.shape == (T + 1,)
    states = torch.cat([torch.zeros(1, 6, dtype=torch.float64), h])  # h_0..h_T

    for d in [0, 1, 5, T]:
        k = T - d

        def h_T_from(h_k, k=k):
            if k == T:
                return h_k
            _, h_n = model(x[k:], h_k.reshape(1, 6))  # run steps k+1..T from h_k
            return h_n[0]

        J = torch.autograd.functional.jacobian(h_T_from, states[k])  # (H, H)
        expected = float(norms[d])
        got = float(torch.linalg.matrix_norm(J, ord=2))
        assert abs(got - expected) < 1e-10 * max(1.0, expected)


@pytest.mark.parametrize("rho", [0.5, 0.9, 1.1, 2.0])
def test_norms_never_exceed_sigma_max_to_the_distance(rho):
    """|tanh'| <= 1, so ||dh_T/dh_{T-d}|| <= sigma_max(W_hh)^d (Pascanu et al., 2013)."""
    model, x = _trajectory(rho, T=40)
    with torch.no_grad():
        h, _ = model(x)
    W = model.W_hh.detach()
    sigma = float(torch.linalg.matrix_norm(W, ord=2))
    norms = jacobian_norms(W, h)
    bound = sigma ** torch.arange(41, dtype=torch.float64)
    assert bool((norms <= bound * (1 + 1e-10)).all())


def test_linear_regime_is_the_power_of_w_hh():
    """With h_t = 0 (tanh' = 1) the product is W_hh^d: a diagonal 0.5 gives 0.5^d."""
    norms = jacobian_norms(torch.diag(torch.tensor([0.5, -0.25], dtype=torch.float64)),
                           torch.zeros(4, 2, dtype=torch.float64))
    halving = torch.tensor([1.0, 0.5, 0.25, 0.125, 0.0625], dtype=torch.float64)
    torch.testing.assert_close(norms, halving)


def test_scale_to_spectral_radius():
    W = torch.randn(8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for rho in [0.5, 1.0, 1.5]:
        assert abs(spectral_radius(scale_to_spectral_radius(W, rho)) - rho) < 1e-12


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: spectral_radius(torch.zeros(2, 3)), "W: expected shape (H, H), got (2, 3)"),
        (lambda: spectral_radius(torch.zeros(3)), "W: expected shape (H, H), got (3,)"),
        (lambda: scale_to_spectral_radius(torch.eye(2), 0),
         "rho: expected a positive number, got 0"),
        (lambda: scale_to_spectral_radius(torch.zeros(2, 2), 1.0),
         "W: expected a matrix with a nonzero eigenvalue, got spectral radius 0"),
        (lambda: jacobian_norms(torch.eye(2), torch.zeros(3, 4)),
         "h: expected shape (T, 2), got (3, 4)"),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


def test_spectral_radius_matches_numpy():
    """rho(W) equals the largest |eigenvalue| NumPy finds, for non-symmetric matrices too."""
    g = torch.Generator().manual_seed(0)
    for size in (1, 3, 10):
        W = torch.randn(size, size, generator=g, dtype=torch.float64)
        expected = np.abs(np.linalg.eigvals(W.numpy())).max()
        assert spectral_radius(W) == pytest.approx(expected, rel=1e-12)


def test_default_torch_init_is_near_one_over_sqrt3():
    """PyTorch's uniform(+-1/sqrt(H)) init gives rho near 1/sqrt(3) (the circular law)."""
    torch.manual_seed(0)
    rho = spectral_radius(torch.nn.RNN(4, 256).weight_hh_l0)
    assert abs(rho - 3**-0.5) < 0.1
