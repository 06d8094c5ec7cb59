"""One figure style for the whole course, applied without touching global state.

``import rnncourse`` changes no rcParams: the style lives in :data:`STYLE` and is applied
only inside :func:`course_style` (a ``matplotlib.rc_context``) or by :func:`subplots`,
which makes a figure under that context and returns it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt

__all__ = ["STYLE", "course_style", "subplots"]

STYLE: dict[str, Any] = {
    "figure.dpi": 80,  # small PNGs keep the notebooks light
    "figure.figsize": (6.4, 3.6),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "axes.prop_cycle": mpl.cycler(
        color=["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    ),
    "savefig.bbox": "tight",
}


@contextmanager
def course_style() -> Iterator[None]:
    """Context manager: draw with the course style, restoring the previous rcParams after."""
    with mpl.rc_context(STYLE):
        yield


def subplots(*args: Any, **kwargs: Any) -> tuple[plt.Figure, Any]:
    """``plt.subplots`` in the course style; returns ``(fig, axes)``.

    The style is baked into the figure and its axes at creation, so the caller draws on
    them as usual and global rcParams stay as they were.
    """
    with course_style():
        kwargs.setdefault("layout", "constrained")
        return plt.subplots(*args, **kwargs)
