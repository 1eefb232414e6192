"""Tables for the book's pages, shown with sensible significant figures."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["show", "significant"]


def significant(value, digits: int = 3) -> str:
    """``value`` with ``digits`` significant figures (scientific notation only when very large
    or small); integers, booleans and text unchanged; NaN and None as an em dash; a tuple or list
    (an interval) element by element, in parentheses."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(significant(v, digits) for v in value) + ")"
    if isinstance(value, (bool, np.bool_, str)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return str(v)
        if v == 0:
            return "0"
        if 10 ** digits <= abs(v) < 1e6:
            return f"{v:,.0f}"  # 12,346 rather than 1.23e+04
        if 1e-3 <= abs(v) < 1e6:
            return f"{v:.{digits}g}"
        return f"{v:.{digits - 1}e}"
    return str(value)


def show(frame: pd.DataFrame, digits: int = 3, caption: str | None = None, index: bool = True):
    """A pandas Styler of ``frame`` with every number to ``digits`` significant figures.

    (``frame.round(3)`` keeps six decimals on a Styler and rounds small values to 0; this does
    neither.) Used by every page that shows a table of measured numbers.
    """
    styler = frame.style.format(lambda v: significant(v, digits))
    if frame.index.nlevels == 1 and not isinstance(frame.index, pd.RangeIndex):
        styler = styler.format_index(lambda v: significant(v, digits))
    if not index:
        styler = styler.hide(axis="index")
    if caption:
        styler = styler.set_caption(caption)
    return styler
