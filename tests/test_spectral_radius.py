"""Tests of rnncourse.spectral_radius against numpy's eigenvalues and torch.nn.RNN's init."""

import numpy as np
import pytest
import torch

from rnncourse.spectral_radius import spectral_radius, with_spectral_radius


def test_matches_numpy_on_random_matrices() -> None:
    g = torch.Generator().manual_seed(0)
    for size in (1, 3, 10):
        W = torch.randn(size, size, generator=g, dtype=torch.float64)
        expected = np.abs(np.linalg.eigvals(W.numpy())).max()
        assert spectral_radius(W) == pytest.approx(expected, rel=1e-12)


def test_rotation_has_radius_of_its_scale() -> None:
    theta = torch.tensor(0.7, dtype=torch.float64)
    c, s = theta.cos(), theta.sin()
    R = torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
    assert spectral_radius(3.0 * R) == pytest.approx(3.0, rel=1e-12)


def test_with_spectral_radius_rescales_and_keeps_directions() -> None:
    W = torch.randn(8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for rho in (0.5, 0.9, 1.2):
        scaled = with_spectral_radius(W, rho)
        assert spectral_radius(scaled) == pytest.approx(rho, rel=1e-10)
        torch.testing.assert_close(scaled / scaled.norm(), W / W.norm())


def test_default_torch_init_is_near_one_over_sqrt3() -> None:
    torch.manual_seed(0)
    rho = spectral_radius(torch.nn.RNN(4, 256).weight_hh_l0)
    assert abs(rho - 3**-0.5) < 0.1


@pytest.mark.parametrize(
    ("W", "match"),
    [
        (torch.zeros(2, 3), "square"),
        (torch.zeros(2, 2, dtype=torch.long), "floating"),
        ([[1.0]], "W"),
    ],
)
def test_bad_matrix_raises(W: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        spectral_radius(W)


def test_bad_rho_and_zero_matrix_raise() -> None:
    with pytest.raises(ValueError, match="rho: expected a number > 0, got -1"):
        with_spectral_radius(torch.eye(2), -1)
    with pytest.raises(ValueError, match="spectral radius 0"):
        with_spectral_radius(torch.zeros(2, 2), 0.5)
