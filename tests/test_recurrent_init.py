"""Orthogonal and identity W_hh: singular values 1, the layer's other weights untouched."""

import pytest
import torch
from torch import nn

from rnncourse.recurrent_init import RECURRENT_INITS, init_recurrent


def test_orthogonal_has_unit_singular_values_and_is_seeded():
    """Q^T Q = I, so every singular value is 1; the same generator seed gives the same Q."""
    a = init_recurrent(nn.RNN(3, 16), "orthogonal", generator=torch.Generator().manual_seed(1))
    b = init_recurrent(nn.RNN(3, 16), "orthogonal", generator=torch.Generator().manual_seed(1))
    W = a.weight_hh_l0.detach()
    torch.testing.assert_close(torch.linalg.svdvals(W), torch.ones(16), atol=1e-5, rtol=0)
    assert torch.equal(W, b.weight_hh_l0.detach())
    assert float(a.bias_hh_l0.detach().abs().max()) == 0.0


def test_identity_and_default():
    """'identity' sets W_hh = I; 'default' changes nothing; W_xh is never touched."""
    torch.manual_seed(0)
    rnn = nn.RNN(3, 5)
    before = {k: v.detach().clone() for k, v in rnn.state_dict().items()}
    init_recurrent(rnn, "default")
    assert all(torch.equal(before[k], v) for k, v in rnn.state_dict().items())
    init_recurrent(rnn, "identity")
    assert torch.equal(rnn.weight_hh_l0.detach(), torch.eye(5))
    assert torch.equal(rnn.weight_ih_l0.detach(), before["weight_ih_l0"])


def test_orthogonal_keeps_a_vector_norm_through_many_steps():
    """||W^d v|| = ||v||: what keeps the gradient from shrinking near h = 0."""
    rnn = init_recurrent(nn.RNN(1, 32), "orthogonal", generator=torch.Generator().manual_seed(0))
    W = rnn.weight_hh_l0.detach().double()
    v = torch.randn(32, dtype=torch.float64)
    ratio = float((torch.linalg.matrix_power(W, 50) @ v).norm() / v.norm())
    assert abs(ratio - 1) < 1e-4
    default = nn.RNN(1, 32).weight_hh_l0.detach().double()  # PyTorch's uniform init shrinks it
    assert float((torch.linalg.matrix_power(default, 50) @ v).norm() / v.norm()) < 1e-3


def test_bad_input():
    """An unknown scheme or a non-RNN layer raises ValueError naming expected and got."""
    assert RECURRENT_INITS == ("default", "orthogonal", "identity")
    with pytest.raises(ValueError, match=r"scheme: expected one of .*got 'xavier'"):
        init_recurrent(nn.RNN(1, 2), "xavier")
    with pytest.raises(ValueError, match=r"rnn: expected a single-layer torch\.nn\.RNN, got GRU"):
        init_recurrent(nn.GRU(1, 2), "identity")
    with pytest.raises(ValueError, match="single-layer"):
        init_recurrent(nn.RNN(1, 2, num_layers=2), "identity")
