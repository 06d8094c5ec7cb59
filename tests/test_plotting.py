"""The course style: applied inside a context or a figure, never to global state."""

import matplotlib as mpl
import matplotlib.pyplot as plt
import pytest

from rnncourse.plotting import STYLE, course_style, subplots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_style_holds_valid_rcparams():
    validated = mpl.RcParams(STYLE)  # raises on an unknown key or a bad value
    assert validated["axes.grid"] is True
    assert validated["figure.dpi"] == STYLE["figure.dpi"]


def test_course_style_applies_inside_and_restores_after_an_error():
    before = {key: mpl.rcParams[key] for key in STYLE}
    inside = {}

    def draw_and_fail():
        with course_style():
            inside.update({key: mpl.rcParams[key] for key in STYLE})
            raise RuntimeError

    with pytest.raises(RuntimeError):
        draw_and_fail()
    assert inside["axes.spines.top"] is False
    assert inside["lines.linewidth"] == STYLE["lines.linewidth"]
    assert {key: mpl.rcParams[key] for key in STYLE} == before


def test_subplots_bakes_the_style_into_the_figure_only():
    grid_before = mpl.rcParams["axes.grid"]
    fig, axes = subplots(1, 2)
    assert len(axes) == 2
    assert fig.get_layout_engine() is not None  # constrained layout by default
    assert fig.dpi == STYLE["figure.dpi"]
    assert all(ax.xaxis.get_gridlines()[0].get_visible() for ax in axes)  # grid from the style
    assert not axes[0].spines["top"].get_visible()
    assert mpl.rcParams["axes.grid"] == grid_before


def test_subplots_passes_arguments_through():
    fig, ax = subplots(figsize=(2, 1), layout=None)
    assert tuple(fig.get_size_inches()) == (2, 1)
    assert fig.get_layout_engine() is None
    assert ax.get_subplotspec() is not None
