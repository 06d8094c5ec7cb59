"""Attention weights drawn on the words they weigh, as HTML.

Used in chapter 6 to show where an attention readout looks: each word of a sentence is
shaded by its weight alpha_t (and the weight printed under it), so a learner can scroll
through test sentences with a slider. Returns a string; displaying it is the caller's.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

__all__ = ["alpha_html"]


def alpha_html(words: Sequence[str], alpha: Sequence[float], *, label: str | None = None,
               predicted: str | None = None) -> str:
    """One ``<div>`` per line: the label and prediction (if given), then the shaded words.

    Args:
        words: the sentence's T words.
        alpha: T weights in [0, 1] (a row of attention weights, padding cut off).
        label: the true class's name, shown first if given.
        predicted: the model's class, shown after the label if given.

    Example:
        >>> "0.75" in alpha_html(["not", "good"], [0.25, 0.75])
        True
    """
    words, alpha = list(words), [float(a) for a in alpha]
    if len(words) != len(alpha):
        raise ValueError(f"alpha: expected one weight per word ({len(words)}), got {len(alpha)}")
    if any(not 0 <= a <= 1 for a in alpha):
        raise ValueError(f"alpha: expected weights in [0, 1], got {alpha}")
    spans = "".join(
        '<span style="display:inline-block; text-align:center; margin:2px; padding:2px 6px; '
        f'background:rgba(214, 39, 40, {a:.2f})">{html.escape(w)}<br><small>{a:.2f}</small>'
        "</span>" for w, a in zip(words, alpha, strict=True))
    head = ", ".join(f"{name}: {html.escape(value)}" for name, value in
                     (("label", label), ("predicted", predicted)) if value is not None)
    return (f"<div>{head}</div>" if head else "") + f"<div>{spans}</div>"
