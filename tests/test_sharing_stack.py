"""SharingStack, checked against ElmanRNN, UnsharedRNN and members trained alone with Adam."""

import copy
import re

import pytest
import torch

import rnncourse.sharing_stack
from rnncourse.elman import ElmanRNN
from rnncourse.sharing_stack import (
    PARTLY_SHARED,
    SHARED,
    UNSHARED,
    Sharing,
    SharingStack,
)
from rnncourse.stacked_rnn import MemberwiseAdam
from rnncourse.unshared import UnsharedRNN

H_IN, H, C, T = 3, 4, 2, 6


def _stack(sharing, seeds=None, **kwargs):
    seeds = list(range(len(sharing))) if seeds is None else seeds
    return SharingStack(H_IN, H, C, T, sharing, seeds=seeds, **kwargs).double()


def test_public_names():
    """The module exports its classes and the three named sharings."""
    assert set(rnncourse.sharing_stack.__all__) == {
        "PARTLY_SHARED", "RECURRENT_NAMES", "SHARED", "UNSHARED", "Sharing", "SharingStack",
    }


def test_labels_name_what_is_untied():
    """A Sharing's label says shared, unshared, or which parameters are untied."""
    assert [s.label for s in (SHARED, UNSHARED, PARTLY_SHARED)] == [
        "shared", "unshared", "untied W_xh"]


@pytest.mark.parametrize("sharing", [SHARED, UNSHARED, PARTLY_SHARED])
def test_each_member_equals_its_plain_module_and_readout(sharing):
    """Member k's outputs are member_rnn(k)'s states through its readout (float64)."""
    torch.manual_seed(0)
    stack = _stack([sharing, UNSHARED, SHARED])
    with torch.no_grad():  # make the per-step copies differ, so a wrong step index shows
        stack.W_xh.add_(0.3 * torch.randn_like(stack.W_xh))
        stack.W_hh.add_(0.3 * torch.randn_like(stack.W_hh))
        stack.b_h.add_(0.3 * torch.randn_like(stack.b_h))
    x = torch.randn(3, 5, T - 1, H_IN, dtype=torch.float64)  # (K, N, L, H_in), L < T
    y = stack(x)  # (K, N, L, C)
    for k in range(3):
        rnn = stack.member_rnn(k)
        assert isinstance(rnn, ElmanRNN if stack.sharing[k] == SHARED else UnsharedRNN)
        h, _ = rnn(x[k])  # (N, L, H)
        expected = h @ stack.W_hy[k].T + stack.b_y[k]
        torch.testing.assert_close(y[k], expected, rtol=0, atol=1e-12)


def test_a_tied_member_gets_the_shared_gradient():
    """A shared member's W_hh gradient equals ElmanRNN's, i.e. the sum over steps."""
    torch.manual_seed(1)
    stack = _stack([SHARED])
    x = torch.randn(1, 4, T, H_IN, dtype=torch.float64)
    stack(x).pow(2).sum().backward()
    rnn = stack.member_rnn(0).requires_grad_()
    h, _ = rnn(x[0])
    (h @ stack.W_hy[0].detach().T + stack.b_y[0].detach()).pow(2).sum().backward()
    torch.testing.assert_close(stack.W_hh.grad[0, 0], rnn.W_hh.grad, rtol=0, atol=1e-12)
    assert stack.W_hh.grad[0, 1:].abs().max() == 0  # unused copies get nothing


def test_same_seed_same_start_whatever_is_shared():
    """Members with one seed start from the same weights; untied copies start equal."""
    stack = _stack([SHARED, UNSHARED], seeds=[7, 7], identity_W_hh=True)
    for name in ("W_xh", "W_hh", "b_h", "W_hy", "b_y"):
        p = getattr(stack, name)
        torch.testing.assert_close(p[0], p[1], rtol=0, atol=0)
    assert torch.equal(stack.W_hh[0, 3], torch.eye(H, dtype=torch.float64))
    assert float(stack.tying_penalty().detach().abs().max()) == 0.0


def test_parameter_counts_match_the_plain_modules():
    """Counts: ElmanRNN or UnsharedRNN plus the readout; partial sharing in between."""
    stack = _stack([SHARED, UNSHARED, PARTLY_SHARED])
    readout = C * H + C
    shared = sum(p.numel() for p in ElmanRNN(H_IN, H).parameters())
    unshared = sum(p.numel() for p in UnsharedRNN(H_IN, H, max_length=T).parameters())
    counts = [stack.member_parameter_count(k) for k in range(3)]
    assert counts[:2] == [shared + readout, unshared + readout]
    assert counts[2] == readout + H * H + H + T * H * H_IN


def test_tying_penalty_is_the_spread_of_the_untied_copies():
    """Omega = sum_t ||theta_t - mean||^2 over untied parameters only."""
    stack = _stack([UNSHARED, PARTLY_SHARED, SHARED])
    with torch.no_grad():
        stack.W_hh[:, 2] += 1.0  # step 3's W_hh differs by 1 in every entry
        stack.W_xh[:, 0] += 2.0
    spread_hh = (T - 1) * H * H * (1 / T) ** 2 + H * H * (1 - 1 / T) ** 2
    spread_xh = 4 * ((T - 1) * H * H_IN * (1 / T) ** 2 + H * H_IN * (1 - 1 / T) ** 2)
    torch.testing.assert_close(stack.tying_penalty(), torch.tensor(
        [spread_hh + spread_xh, spread_xh, 0.0], dtype=torch.float64))


def test_one_stack_trains_each_member_as_alone():
    """Chapter 2's use of MemberwiseAdam trains each member as if it were alone.

    A summed loss (task loss + lam_k Omega_k) stepped by MemberwiseAdam with one learning rate
    per member moves each member as torch.optim.Adam(lr=lr[k]) moves that member trained alone,
    in a stack of its own (float64; the rates in float64 too, since MemberwiseAdam computes
    the step size in the dtype of ``lr``).
    """
    torch.manual_seed(3)
    sharing = [SHARED, UNSHARED, PARTLY_SHARED]
    stack = _stack(sharing, seeds=[0, 0, 1], identity_W_hh=True)
    alone = []
    for k, member in enumerate(sharing):
        single = _stack([member], seeds=[0])
        with torch.no_grad():
            for p, q in zip(single.parameters(), stack.parameters(), strict=True):
                p.copy_(q[k : k + 1])
        alone.append(single)
    lrs = torch.tensor([1e-2, 3e-2, 1e-1], dtype=torch.float64)
    lam = torch.tensor([0.0, 0.5, 2.0], dtype=torch.float64)
    ours = MemberwiseAdam(stack.parameters(), lrs)
    theirs = [torch.optim.Adam(m.parameters(), lr=float(lr)) for m, lr in zip(alone, lrs,
                                                                               strict=True)]
    x = torch.randn(3, 5, T, H_IN, dtype=torch.float64)  # (K, N, L, H_in): each member its own

    def loss(model, xs, lams):  # (K,) per-member losses, summed
        return (model(xs).pow(2).mean((1, 2, 3)) + lams * model.tying_penalty()).sum()

    for _ in range(5):
        ours.zero_grad()
        loss(stack, x, lam).backward()
        ours.step()
        for k, (m, opt) in enumerate(zip(alone, theirs, strict=True)):
            opt.zero_grad()
            loss(m, x[k : k + 1], lam[k : k + 1]).backward()
            opt.step()
    moved = copy.deepcopy(stack)
    for k, m in enumerate(alone):
        for name, p in m.named_parameters():
            torch.testing.assert_close(getattr(moved, name)[k : k + 1], p, rtol=1e-10,
                                       atol=1e-12)
    assert (stack.W_hh[1] - torch.eye(H, dtype=torch.float64)).abs().max() > 1e-3  # it moved


@pytest.mark.parametrize(("call", "message"), [
    (lambda: SharingStack(3, 4, 2, 5, [], seeds=[]), "sharing: expected a non-empty sequence"),
    (lambda: SharingStack(3, 4, 2, 5, [SHARED], seeds=[0, 1]),
     "seeds: expected one seed per member (1), got 2"),
    (lambda: SharingStack(3, 0, 2, 5, [SHARED], seeds=[0]), "hidden_size: expected a positive int"),
    (lambda: SharingStack(3, 4, 2, 5, [SHARED], seeds=[0])(torch.zeros(1, 2, 6, 3)),
     "x: expected a sequence of length 1 <= L <= max_length = 5, got L = 6"),
    (lambda: SharingStack(3, 4, 2, 5, [SHARED], seeds=[0])(torch.zeros(2, 2, 4, 3)),
     "x: expected shape"),
    (lambda: SharingStack(3, 4, 2, 5, [SHARED], seeds=[0])(torch.zeros(1, 2, 4, 3).double()),
     "x: expected dtype torch.float32 (the weights' dtype), got torch.float64"),
    (lambda: SharingStack(3, 4, 2, 5, [SHARED], seeds=[0]).member_rnn(1),
     "k: expected an int in [0, 0], got 1"),
])
def test_bad_arguments_raise_clear_errors(call, message):
    """Bad input raises ValueError naming what was expected and what came."""
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_sharing_is_a_frozen_dataclass():
    """A Sharing cannot be changed after it is made (members keep what they were built with)."""
    with pytest.raises(AttributeError):
        Sharing().W_xh = False  # type: ignore[misc]
