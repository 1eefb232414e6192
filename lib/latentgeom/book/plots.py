"""Altair charts for the book, rendered so they draw without network access.

Charts render as inline SVG through vl-convert (Vega bundled in a Python wheel), so the
published static site needs no Vega scripts from a CDN. Importing this module enables
that renderer; :func:`enable_offline_rendering` does it explicitly.
"""
from __future__ import annotations

from typing import Sequence

import altair as alt
import numpy as np
import pandas as pd

RENDERER = "svg"


def enable_offline_rendering() -> None:
    """Render every altair chart in this kernel as a static SVG (no JavaScript, no CDN)."""
    alt.renderers.enable(RENDERER)
    # Inline data sets never hit the 5000-row limit silently.
    alt.data_transformers.disable_max_rows()


def profile_chart(
    frame: pd.DataFrame,
    y: str = "mapc",
    *,
    x: str = "relative_depth",
    color: str = "model",
    stroke_dash: str | None = None,
    facet: str | None = None,
    log: bool = True,
    title: str = "",
    y_title: str | None = None,
    width: int = 300,
    height: int = 220,
) -> alt.Chart:
    """Per-layer profile: ``y`` against relative depth, one line per ``color`` value.

    ``frame`` is long-form (one row per model x layer). With ``log=True`` the y axis is
    logarithmic and non-positive values are dropped (with the count in the title) rather
    than silently distorting the axis.
    """
    data = frame.copy()
    dropped = 0
    if log:
        keep = np.isfinite(data[y]) & (data[y] > 0)
        dropped = int((~keep).sum())
        data = data[keep]
    if dropped:
        title = f"{title} ({dropped} non-positive values not shown)"
    tooltip = [c for c in (color, "layer", x, y, stroke_dash, facet) if c and c in data.columns]
    enc = dict(
        x=alt.X(f"{x}:Q", title="relative depth", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y(f"{y}:Q", title=y_title or y, scale=alt.Scale(type="log") if log else alt.Scale(zero=False)),
        color=alt.Color(f"{color}:N"),
        tooltip=tooltip,
    )
    if stroke_dash:
        enc["strokeDash"] = alt.StrokeDash(f"{stroke_dash}:N")
    chart = alt.Chart(data).mark_line(point=True).encode(**enc).properties(width=width, height=height)
    if facet:
        chart = chart.facet(column=alt.Column(f"{facet}:N"))
    return chart.properties(title=title) if title else chart


def scatter_with_fit(
    frame: pd.DataFrame,
    x: str,
    y: str,
    *,
    color: str | None = None,
    title: str = "",
    x_title: str | None = None,
    y_title: str | None = None,
    log_x: bool = False,
    width: int = 320,
    height: int = 240,
) -> alt.LayerChart:
    """Scatter of ``y`` against ``x`` with the least-squares line through all points."""
    xs = alt.Scale(type="log") if log_x else alt.Scale(zero=False)
    base = alt.Chart(frame)
    enc = dict(
        x=alt.X(f"{x}:Q", title=x_title or x, scale=xs),
        y=alt.Y(f"{y}:Q", title=y_title or y, scale=alt.Scale(zero=False)),
        tooltip=[c for c in frame.columns if frame[c].dtype != object or c == color][:8],
    )
    if color:
        enc["color"] = alt.Color(f"{color}:N")
    points = base.mark_point(filled=True, size=60).encode(**enc)
    fit = base.transform_regression(x, y).mark_line(color="black", strokeDash=[4, 3]).encode(
        x=f"{x}:Q", y=f"{y}:Q"
    )
    return (points + fit).properties(width=width, height=height, title=title)


def bar_chart(frame: pd.DataFrame, x: str, y: str, *, color: str | None = None, title: str = "",
              width: int = 320, height: int = 200) -> alt.Chart:
    """A plain bar chart (e.g. accuracies per training recipe)."""
    enc = dict(x=alt.X(f"{x}:N", sort=None), y=alt.Y(f"{y}:Q"), tooltip=list(frame.columns)[:8])
    if color:
        enc["color"] = alt.Color(f"{color}:N")
    return alt.Chart(frame).mark_bar().encode(**enc).properties(width=width, height=height, title=title)


def concat(charts: Sequence[alt.TopLevelMixin], columns: int = 2) -> alt.ConcatChart:
    """Lay charts out in a grid with independent scales."""
    return alt.concat(*charts, columns=columns).resolve_scale(color="independent")


def reference_chart(frame: pd.DataFrame, x: str, y: str, *, reference: tuple[float, float], color: str,
                    order: str, log: bool = False, title: str = "", x_title: str | None = None,
                    y_title: str | None = None, width: int = 300, height: int = 220) -> alt.LayerChart:
    """``y`` against ``x``, one line per ``color`` value through its points in ``order`` (e.g.
    a model's training checkpoints by epoch), with a reference value or range ``(low, high)``
    (e.g. the paper's) drawn as grey horizontal rules. With ``log=True`` non-positive values are
    dropped (count in the title). Used by the training-ladder page."""
    data = frame[[c for c in dict.fromkeys((x, y, color, order)) if c in frame]].dropna()
    if log:
        dropped = int((data[y] <= 0).sum())
        data = data[data[y] > 0]
        if dropped:
            title = f"{title} ({dropped} non-positive values not shown)"
    ys = alt.Scale(type="log") if log else alt.Scale(zero=False)
    lines = alt.Chart(data).mark_line(point=True).encode(
        x=alt.X(f"{x}:Q", title=x_title or x, scale=alt.Scale(zero=False)),
        y=alt.Y(f"{y}:Q", title=y_title or y, scale=ys), color=alt.Color(f"{color}:N"),
        order=alt.Order(f"{order}:Q"), tooltip=list(data.columns))
    rules = alt.Chart(pd.DataFrame({"reference": sorted(set(reference))})).mark_rule(
        color="grey", strokeDash=[6, 3]).encode(y="reference:Q")
    return (lines + rules).properties(width=width, height=height, title=title)


enable_offline_rendering()
