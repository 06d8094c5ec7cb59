"""RegimeGrid lays out regime x lr x seed, chooses rates on validation, reads spreads back."""

import pytest
import torch

from rnncourse.regime_comparison import Regime, RegimeGrid, SeedSpread, separated


def _grid():
    regimes = (Regime("tf", lambda i: 1.0), Regime("ss", lambda i: max(0.0, 1 - i / 10), True))
    return RegimeGrid(regimes, lrs=(0.1, 0.01), seeds=(7, 8, 9))


def test_layout_epsilon_detach_and_lr():
    """Copy k = (r A + a) S + s; per-copy epsilon, detach and lr follow the layout."""
    grid = _grid()
    assert grid.size == 12
    assert grid.members()[grid.index("ss", 0.01, 8)] == (grid.regimes[1], 0.01, 8)
    assert grid.epsilon(5).tolist() == [1.0] * 6 + [0.5] * 6
    assert grid.detach().tolist() == [False] * 6 + [True] * 6
    assert grid.lr().tolist() == pytest.approx([0.1] * 3 + [0.01] * 3 + [0.1] * 3 + [0.01] * 3)


def test_chosen_lrs_take_the_best_mean_and_skip_diverged_runs():
    """The rate with the lowest mean over seeds; a non-finite seed disqualifies its rate."""
    grid = _grid()
    val = torch.tensor([1.0, 1.0, 1.0, 2.0, 2.0, 2.0,  # tf: lr 0.1 better
                        0.1, 0.1, float("nan"), 0.5, 0.5, 0.5])  # ss: 0.1 diverged once
    assert grid.chosen_lrs(val) == {"tf": 0.1, "ss": 0.01}
    spread = grid.at_lrs(torch.arange(12.0), grid.chosen_lrs(val))
    assert spread["tf"].values == (0.0, 1.0, 2.0)
    assert spread["ss"].values == (9.0, 10.0, 11.0)
    assert spread["ss"].mean == 10.0
    assert spread["ss"].spread == 2.0


def test_separated_means_disjoint_ranges():
    a, b, c = SeedSpread((1.0, 2.0)), SeedSpread((2.5, 3.0)), SeedSpread((1.5, 2.6))
    assert separated(a, b)
    assert separated(b, a)
    assert not separated(a, c)
    assert not separated(b, c)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: RegimeGrid((), (0.1,), (0,)), "regimes: expected a non-empty"),
    (lambda: RegimeGrid((Regime("a", float), Regime("a", float)), (0.1,), (0,)), "distinct names"),
    (lambda: RegimeGrid((Regime("a", float),), (0.0,), (0,)), "lrs: expected positive"),
    (lambda: _grid().chosen_lrs(torch.zeros(5)), r"values: expected shape \(12,\)"),
    (lambda: _grid().at_lrs(torch.zeros(12), {"tf": 0.3, "ss": 0.1}), "lrs: expected one of"),
    (lambda: _grid().index("nope", 0.1, 7), "expected a regime of"),
])
def test_bad_input_raises(make, message):
    with pytest.raises(ValueError, match=message):
        make()
