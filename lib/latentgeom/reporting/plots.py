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

from ..validation import check_choice

RENDERER = "svg"


def enable_offline_rendering() -> None:
    """Render every altair chart in this kernel as a static SVG (no JavaScript, no CDN)."""
    alt.renderers.enable(RENDERER)
    # Inline data sets never hit the 5000-row limit silently.
    alt.data_transformers.disable_max_rows()


def _drop_unplottable(frame: pd.DataFrame, title: str, *, finite=(), positive=()) -> tuple[pd.DataFrame, str]:
    """The rows a chart can draw, and its title: rows with a non-finite value in ``finite`` or
    ``positive`` columns, or a non-positive one in ``positive`` columns (log axes), are dropped
    and counted in the title rather than silently distorting the axis."""
    keep = np.ones(len(frame), dtype=bool)
    for column in dict.fromkeys([*finite, *positive]):
        keep &= np.isfinite(frame[column].to_numpy(float))
    for column in positive:
        keep &= frame[column].to_numpy(float) > 0
    if keep.all():
        return frame, title
    return frame[keep], f"{title} ({int((~keep).sum())} non-positive values not shown)"


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
    data, title = _drop_unplottable(frame, title, positive=[y] if log else [])
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


# --------------------------------------------------------------------------------------------
# Estimates against ground truth (the methods pages "Measuring curvature" and "Measuring
# intrinsic dimension") and error-bar profiles (the intrinsic-dimension finding page).

#: Legends show long series names in full.
LEGEND = alt.Legend(labelLimit=0)
#: Dash patterns of the ``dash`` field of :func:`line_chart`, in the order its levels appear.
DASHES = (("solid", [1, 0]), ("dashed", [6, 3]), ("dotted", [2, 2]))


def _scale(values, log: bool) -> alt.Scale:
    """A log scale fitted to the data (no padding to whole decades), or a linear one."""
    if not log:
        return alt.Scale(zero=False)
    values = np.asarray(values, dtype=float)
    return alt.Scale(type="log", nice=False, domain=[float(np.min(values)), float(np.max(values))])


def _check_columns(frame: pd.DataFrame, *columns) -> None:
    missing = [c for c in columns if c is not None and c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}; columns: {list(frame.columns)}")


def _check_width(width: int) -> int:
    if width < 300:
        raise ValueError(f"width must be >= 300 px (charts narrower are hard to read), got {width}")
    return width


def vs_truth(frame: pd.DataFrame, x: str, y: str, color: str, *, title: str, x_title: str, y_title: str,
             log: bool = True, width: int = 300, height: int = 240) -> alt.LayerChart:
    """An estimate (column ``y``) against the ground truth (column ``x``), one line per ``color``
    value, with the diagonal ``estimate = truth`` dashed. Both axes logarithmic with ``log``."""
    _check_columns(frame, x, y, color)
    lo, hi = float(frame[x].min()), float(frame[x].max())
    both = np.concatenate([frame[x].to_numpy(float), frame[y].to_numpy(float)])
    diagonal = alt.Chart(pd.DataFrame({x: [lo, hi], y: [lo, hi]})).mark_line(
        color="gray", strokeDash=[4, 3]).encode(x=alt.X(f"{x}:Q"), y=alt.Y(f"{y}:Q"))
    points = alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X(f"{x}:Q", title=x_title, scale=_scale(frame[x], log)),
        y=alt.Y(f"{y}:Q", title=y_title, scale=_scale(both, log)),
        color=alt.Color(f"{color}:N", legend=LEGEND), tooltip=list(frame.columns)[:8])
    return (diagonal + points).properties(title=title, width=_check_width(width), height=height)


def line_chart(frame: pd.DataFrame, x: str, y: str, color: str, *, title: str, x_title: str, y_title: str,
               log_x: bool = False, log_y: bool = True, reference: float | pd.DataFrame | None = None,
               dash: str | None = None, hollow: str | None = None, integer_x: bool = False,
               width: int = 300, height: int = 240) -> alt.LayerChart:
    """``y`` against ``x``, one line per ``color`` value.

    Parameters
    ----------
    reference : float or DataFrame, optional
        The ground truth, dashed grey: a number draws a horizontal rule at it; a frame with the
        columns ``x`` and ``y`` draws a curve (e.g. a theoretical prediction).
    dash : str, optional
        A second field (at most three levels) told apart by dash pattern; the title names them.
    hollow : str, optional
        A value of ``color`` drawn as large hollow points without a line, so that a series which
        coincides with another stays visible.
    integer_x : bool
        Integer ticks (e.g. a dimension on the x axis). With ``log_x`` and at most ten distinct
        x values, the ticks sit at the measured values.

    Non-finite values, and non-positive ones on a log axis, are dropped, with their count in
    the title. Used by the methods pages (curvature, intrinsic dimension, curvature under noise).
    """
    _check_columns(frame, x, y, color, dash)
    frame, title = _drop_unplottable(frame, title, finite=[x, y],
                                     positive=[c for c, log in ((x, log_x), (y, log_y)) if log])
    values = np.unique(frame[x].to_numpy(float))
    if integer_x:
        x_axis = alt.Axis(tickMinStep=1, format="d")
    elif log_x and len(values) <= 10:
        x_axis = alt.Axis(values=[float(v) for v in values], format="~g")
    else:
        x_axis = alt.Axis()
    enc = dict(x=alt.X(f"{x}:Q", title=x_title, scale=_scale(frame[x], log_x), axis=x_axis),
               y=alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(type="log") if log_y else alt.Scale(zero=False)),
               color=alt.Color(f"{color}:N", legend=LEGEND), tooltip=list(frame.columns)[:8])
    if dash:
        levels = list(pd.unique(frame[dash]))
        if len(levels) > len(DASHES):
            raise ValueError(f"dash field {dash!r} has {len(levels)} levels; at most {len(DASHES)} can be drawn")
        styles = DASHES[:len(levels)]
        enc["strokeDash"] = alt.StrokeDash(f"{dash}:N", legend=None, scale=alt.Scale(
            domain=levels, range=[pattern for _, pattern in styles]))
        title = f"{title} ({', '.join(f'{name}: {level}' for (name, _), level in zip(styles, levels))})"
    base = alt.Chart(frame).encode(**enc)
    if hollow is None:
        chart = base.mark_line(point=True)
    else:
        chart = (base.transform_filter(alt.datum[color] != hollow).mark_line(point=True)
                 + base.transform_filter(alt.datum[color] == hollow).mark_point(filled=False, size=200,
                                                                                 strokeWidth=2))
    if isinstance(reference, pd.DataFrame):
        _check_columns(reference, x, y)
        chart = alt.Chart(reference).mark_line(color="gray", strokeDash=[4, 3]).encode(
            x=f"{x}:Q", y=f"{y}:Q") + chart
    elif reference is not None:
        chart = alt.Chart(pd.DataFrame({"truth": [float(reference)]})).mark_rule(
            color="gray", strokeDash=[4, 3]).encode(y="truth:Q") + chart
    return chart.properties(title=title, width=_check_width(width), height=height)


def errorbar_chart(frame: pd.DataFrame, x: str = "relative_depth", y: str = "id_mean", err: str = "id_std", *,
                   color: str | None = "label", title: str = "", x_title: str = "relative depth",
                   y_title: str = "TwoNN ID", log_x: bool = False, width: int = 300,
                   height: int = 220) -> alt.LayerChart:
    """``y`` ± ``err`` against ``x``, one line per ``color`` value (e.g. an ID profile with the
    TwoNN resampling error bars). With ``x="relative_depth"`` the axis spans [0, 1]."""
    _check_columns(frame, x, y, err, color)
    data = frame.assign(_lo=frame[y] - frame[err], _hi=frame[y] + frame[err])
    scale = alt.Scale(domain=[0, 1]) if x == "relative_depth" else _scale(data[x], log_x)
    enc = dict(x=alt.X(f"{x}:Q", title=x_title, scale=scale))
    if color:
        enc["color"] = alt.Color(f"{color}:N", legend=LEGEND)
    base = alt.Chart(data).encode(**enc)
    tooltip = [c for c in (color, "layer", x, y, err) if c and c in data.columns]
    lines = base.mark_line(point=True).encode(y=alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(zero=False)),
                                              tooltip=tooltip)
    bars = base.mark_errorbar().encode(y="_lo:Q", y2="_hi:Q")
    return (lines + bars).properties(width=_check_width(width), height=height, title=title)
def reference_chart(frame: pd.DataFrame, x: str, y: str, *, reference: tuple[float, float], color: str,
                    order: str, log: bool = False, title: str = "", x_title: str | None = None,
                    y_title: str | None = None, width: int = 300, height: int = 220) -> alt.LayerChart:
    """``y`` against ``x``, one line per ``color`` value through its points in ``order`` (e.g.
    a model's training checkpoints by epoch), with a reference value or range ``(low, high)``
    (e.g. the paper's) drawn as grey horizontal rules. With ``log=True`` non-positive values are
    dropped (count in the title). Used by the training-ladder page."""
    data = frame[[c for c in dict.fromkeys((x, y, color, order)) if c in frame]].dropna()
    data, title = _drop_unplottable(data, title, positive=[y] if log else [])
    ys = alt.Scale(type="log") if log else alt.Scale(zero=False)
    lines = alt.Chart(data).mark_line(point=True).encode(
        x=alt.X(f"{x}:Q", title=x_title or x, scale=alt.Scale(zero=False)),
        y=alt.Y(f"{y}:Q", title=y_title or y, scale=ys), color=alt.Color(f"{color}:N"),
        order=alt.Order(f"{order}:Q"), tooltip=list(data.columns))
    rules = alt.Chart(pd.DataFrame({"reference": sorted(set(reference))})).mark_rule(
        color="grey", strokeDash=[6, 3]).encode(y="reference:Q")
    return (lines + rules).properties(width=width, height=height, title=title)



# --------------------------------------------------------------------------------------------
# Means over runs along a curve, one panel per group (the toroidal-landscapes page).


def mean_curve_chart(frame: pd.DataFrame, x: str, y: str, *, color: str, column: str, x_title: str,
                     y_title: str, title: str = "", width: int = 320, height: int = 220) -> alt.Chart:
    """The mean of ``y`` at every ``x`` (over the rows that share ``x``, ``color`` and ``column``),
    one line per ``color`` value and one panel per ``column`` value."""
    _check_columns(frame, x, y, color, column)
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X(f"{x}:Q", title=x_title), y=alt.Y(f"mean({y}):Q", title=y_title),
        color=alt.Color(f"{color}:N"), column=alt.Column(f"{column}:N"),
    ).properties(width=width, height=height, title=title)


def energy_chart(networks: pd.DataFrame, title: str = "", width: int = 320, prefix: str = "dE_") -> alt.Chart:
    """Local energy dE(sigma) against sigma, mean per recipe (one panel per architecture).

    ``networks``: one row per network with ``architecture``, ``recipe``, ``seed`` and one column
    ``<prefix><sigma>`` per noise level (as :func:`latentgeom.chapters.toroid_grid.run` gives)."""
    cols = [c for c in networks.columns if c.startswith(prefix)]
    long = networks.melt(id_vars=["architecture", "recipe", "seed"], value_vars=cols, value_name="dE")
    long["sigma"] = long["variable"].str[len(prefix):].astype(float)
    return mean_curve_chart(long, "sigma", "dE", color="recipe", column="architecture",
                            x_title="relative weight noise sigma", y_title="local energy dE (train error rise)",
                            title=title, width=width)


def path_chart(paths: pd.DataFrame, split: str = "train", width: int = 320) -> alt.Chart:
    """Mean 0-1 error along the paths (one line per ``kind``: geodesic, linear, one bend) against
    the position t, per architecture. ``split``: ``"train"`` or ``"test"`` (column ``<split>_error``)."""
    check_choice(split, "split", ("train", "test"))
    return mean_curve_chart(paths, "t", f"{split}_error", color="kind", column="architecture",
                            x_title="position along the path t", y_title=f"mean {split} error",
                            title=f"{split} error along the paths (mean over pairs)", width=width)
def trajectory_chart(points: pd.DataFrame, references: pd.DataFrame, *, color: str = "architecture",
                     pairs=((1, 2), (1, 3), (2, 3)), title: str = "", width: int = 300) -> alt.ConcatChart:
    """Trajectories in pairs of InPCA components (one panel per pair), with P0, P* and the geodesic.

    ``points``: one row per checkpoint with ``run``, ``step``, ``epoch``, ``progress``, the
    column named by ``color`` and the coordinates ``c1, c2, ...``; ``references``: ``t``, ``point`` (``"P0"``,
    ``"geodesic"``, ``"P*"``) and the same coordinates (both from
    :func:`latentgeom.chapters.trajectory_tables.embed`). Used by the training-trajectories page."""
    panels = []
    data = points.assign(epoch=points.epoch.round(3))
    for i, j in pairs:
        x, y = f"c{i}", f"c{j}"
        if x not in points or y not in points:
            continue
        enc = dict(x=alt.X(f"{x}:Q", title=f"InPCA {i}"), y=alt.Y(f"{y}:Q", title=f"InPCA {j}"))
        lines = alt.Chart(data).mark_line(point=alt.OverlayMarkDef(size=12), opacity=0.7).encode(
            **enc, color=alt.Color(f"{color}:N"), detail="run:N", order="step:Q",
            tooltip=["run", "epoch", "progress"])
        geo = alt.Chart(references).mark_line(color="black", strokeDash=[4, 3]).encode(**enc, order="t:Q")
        ends = alt.Chart(references[references.point != "geodesic"]).mark_point(
            color="black", filled=True, size=70, shape="diamond").encode(**enc, tooltip=["point"])
        labels = alt.Chart(references[references.point != "geodesic"]).mark_text(dx=12, dy=-8).encode(
            **enc, text="point:N")
        panels.append((geo + lines + ends + labels).properties(width=width, height=width))
    return alt.concat(*panels, columns=3).properties(title=title)


def distance_chart(pairs: pd.DataFrame, title: str = "", width: int = 360) -> alt.LayerChart:
    """Trajectory distance of every one-factor pair (points) and the median per factor (ticks).

    ``pairs``: one row per pair with ``factor``, ``run_a``, ``run_b``, ``distance`` (nats per
    example) and ``architecture`` (:func:`latentgeom.chapters.trajectory_tables.pair_distances`)."""
    order = list(pairs.groupby("factor")["distance"].median().sort_values(ascending=False).index)
    x = alt.X("factor:N", sort=order, title="what differs between the two runs")
    pts = alt.Chart(pairs).mark_circle(size=50, opacity=0.7).encode(
        x=x, y=alt.Y("distance:Q", title="trajectory distance (d_B, nats/example)"),
        color=alt.Color("architecture:N"), tooltip=["run_a", "run_b", "distance"])
    med = alt.Chart(pairs).mark_tick(color="black", thickness=2, size=30).encode(x=x, y="median(distance):Q")
    return (pts + med).properties(width=width, height=240, title=title)


def progress_chart(points: pd.DataFrame, title: str = "", width: int = 340) -> alt.Chart:
    """Progress along the P0 -> P* geodesic against epochs, one line per run (colour: architecture,
    dashes: width); ``points`` as for :func:`trajectory_chart`."""
    return alt.Chart(points).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epoch"), y=alt.Y("progress:Q", title="progress t along P0 → P*"),
        color=alt.Color("architecture:N"), strokeDash=alt.StrokeDash("width:N"), detail="run:N",
        tooltip=["run", "epoch", "progress"]).properties(width=width, height=240, title=title)


enable_offline_rendering()
