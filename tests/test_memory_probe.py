"""Tests of rnncourse.memory_probe on states whose memory is known by construction."""

import pytest
import torch

from rnncourse.memory_probe import majority_accuracy, memory_curve, probe_accuracy


def _shift_register(T: int = 400, depth: int = 3, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """States that hold one-hot(x_t), .., one-hot(x_{t-depth+1}) exactly, and nothing older.

    Rank-deficient on purpose (each block sums to 1, like the bias column): the probe must
    still find the exact read-out.
    """
    symbols = torch.randint(0, n, (T,), generator=torch.Generator().manual_seed(0))
    onehot = torch.nn.functional.one_hot(symbols, n).double()  # (T, n)
    blocks = [
        torch.cat([torch.zeros(j, n, dtype=torch.float64), onehot[: T - j]]) for j in range(depth)
    ]
    return torch.cat(blocks, 1), symbols  # (T, depth n), (T,)


def test_reads_exactly_what_the_state_holds() -> None:
    states, symbols = _shift_register()
    curve = memory_curve(states, symbols, range(6), 4)
    assert curve[:3] == [1.0, 1.0, 1.0]
    assert max(curve[3:]) < 0.4  # older symbols are independent of the state: about 1/4


def test_curve_is_the_list_of_probes() -> None:
    states, symbols = _shift_register()
    assert memory_curve(states, symbols, [0, 4], 4) == [
        probe_accuracy(states, symbols, 0, 4),
        probe_accuracy(states, symbols, 4, 4),
    ]


def test_majority_accuracy() -> None:
    assert majority_accuracy(torch.tensor([2, 2, 0, 1, 2]), 3) == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("states", "symbols", "k", "match"),
    [
        (torch.zeros(10), torch.zeros(10, dtype=torch.long), 0, "states: expected a floating"),
        (torch.zeros(10, 2), torch.zeros(9, dtype=torch.long), 0, r"symbols: expected .* \(10,\)"),
        (torch.zeros(10, 2), torch.full((10,), 7), 0, r"values in \[0, 3\], got \[7, 7\]"),
        (torch.zeros(10, 2), torch.zeros(10, dtype=torch.long), 7, r"k: expected an int in \[0, 6"),
    ],
)
def test_bad_input_raises(states: torch.Tensor, symbols: torch.Tensor, k: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        probe_accuracy(states, symbols, k, 4)


def test_bad_n_classes_raises() -> None:
    with pytest.raises(ValueError, match="n_classes: expected an int >= 2, got 1"):
        majority_accuracy(torch.tensor([0, 0]), 1)
