"""Altair charts for the book: interactive in the published site, drawn without network access.

The charts every page draws (profiles, scatters with a fit, bars, estimates against the truth,
error bars, reference lines) are here; the chapters' own charts are in
:mod:`~latentgeom.reporting.chapter_charts`, the shared pieces (tooltips, stage marks, the
paper's ranges) in :mod:`~latentgeom.reporting.chart_parts`, and how a chart renders (an
interactive chart from the site's own Vega bundle, with a static SVG fallback; the book's theme)
in :mod:`~latentgeom.reporting.chart_render`. Every name of those modules is available here, as
``lg.plots.NAME``. Importing this module enables the renderer and the theme.

Every chart has tooltips on its marks (model, layer, run, value, with readers' titles); scatter,
profile and line charts zoom (mouse wheel) and pan (drag); a ``stage`` or ``state`` column is
drawn by mark (:data:`~latentgeom.reporting.chart_parts.STAGE_MARKS`); ``paper=`` draws the
paper's values or ranges (:func:`~latentgeom.reporting.chart_parts.paper_range`).
"""
from __future__ import annotations

from typing import Sequence

import altair as alt
import numpy as np
import pandas as pd

from .chapter_charts import (distance_chart, energy_chart, mean_curve_chart, path_chart,  # noqa: F401
                             progress_chart, trajectory_chart)
from .chart_parts import (DASHES, FIELD_TITLES, HOLLOW_DIAMOND, HOLLOW_SQUARE, HOLLOW_TRIANGLE,  # noqa: F401
                          LEGEND, NAME_FIELDS, PAPER_COLOR, STAGE_FIELDS, STAGE_MARKS, _check_columns, _check_width,
                          _drop_unplottable, _fmt, _points_and_lines, _scale, _with_paper, field_title, paper_layers,
                          paper_range, stage_encodings, stage_field, tooltip, zoom)
from .chart_render import (EMBED_OPTIONS, FONT_SIZES, HEIGHT, PANEL_WIDTH, RENDERER, THEME,  # noqa: F401
                           VEGALITE_MIME, VEGALITE_VERSION, WIDTH, chart_html, enable_offline_rendering, render,
                           theme)

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
    x_title: str | None = None,
    paper=None,
    width: int | None = None,
    height: int = HEIGHT,
) -> alt.LayerChart | alt.FacetChart:
    """Per-layer profile: ``y`` against relative depth, one line per ``color`` value.

    ``frame`` is long-form (one row per model x layer). With ``log=True`` the y axis is
    logarithmic and non-positive values are dropped (with the count in the title) rather
    than silently distorting the axis. A ``stage`` or ``state`` column (checkpoint / final,
    untrained / trained) is drawn by mark (:data:`STAGE_MARKS`); ``stroke_dash`` dashes the
    lines by another column. ``paper``: the paper's values or ranges (:func:`paper_range`),
    drawn in grey and labelled. Tooltips name the model, layer, run and value; the chart zooms
    and pans (mouse wheel, drag; double click resets).
    """
    _check_columns(frame, y, x, color, stroke_dash, facet)
    data, title = _drop_unplottable(frame, title, positive=[y] if log else [])
    y_title = y_title or field_title(y)
    x_title = x_title or field_title(x)
    stage = stroke_dash if stroke_dash in STAGE_FIELDS else stage_field(data, exclude=(color, facet))
    dash = stroke_dash if stroke_dash and stroke_dash != stage else None
    xs = alt.X(f"{x}:Q", title=x_title, scale=alt.Scale(domain=[0, 1]) if x == "relative_depth" else alt.Scale())
    ys = alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(type="log") if log else alt.Scale(zero=False))
    tip = tooltip(data, x, y, dash, titles={x: x_title, y: y_title})
    layers = _points_and_lines(data, xs, ys, color=color, tip=tip, stage=stage, dash=dash, inline=not facet)
    layers[-1] = zoom(layers[-1])
    if facet:
        if paper is not None:
            raise ValueError("paper references cannot be drawn on a faceted profile chart")
        chart = alt.layer(*layers, data=data).properties(
            width=_check_width(width, PANEL_WIDTH), height=height).facet(column=alt.Column(f"{facet}:N"))
    else:
        domain = (0.0, 1.0) if x == "relative_depth" else (float(data[x].min()), float(data[x].max()))
        chart = _with_paper(alt.layer(*layers), paper, x_title=x_title, y_title=y_title, x_domain=domain).properties(
            width=_check_width(width), height=height)
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
    paper=None,
    width: int | None = None,
    height: int = HEIGHT,
) -> alt.LayerChart:
    """Scatter of ``y`` against ``x`` with the least-squares line through all points.

    A ``stage`` or ``state`` column is drawn by mark (:data:`STAGE_MARKS`); ``paper``: the
    paper's values, ranges or boxes (:func:`paper_range`, with ``x``/``x2`` for a range on the x
    axis too). Tooltips name the point; the chart zooms and pans."""
    _check_columns(frame, x, y, color)
    x_title, y_title = x_title or field_title(x), y_title or field_title(y)
    xs = alt.X(f"{x}:Q", title=x_title, scale=alt.Scale(type="log") if log_x else alt.Scale(zero=False))
    ys = alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(zero=False))
    tip = tooltip(frame, x, y, "test_accuracy", titles={x: x_title, y: y_title})
    points, hit = _points_and_lines(frame, xs, ys, color=color, tip=tip, stage=stage_field(frame, exclude=(color,)),
                                    lines=False)
    fit = alt.Chart(frame).transform_regression(x, y).mark_line(color="black", strokeDash=[4, 3]).encode(
        x=alt.X(f"{x}:Q", title=x_title), y=alt.Y(f"{y}:Q", title=y_title),
        tooltip=[alt.Tooltip(f"{x}:Q", title=f"least-squares fit: {x_title}", format=".4~g"),
                 alt.Tooltip(f"{y}:Q", title=y_title, format=".4~g")])
    domain = (float(frame[x].min()), float(frame[x].max()))
    chart = _with_paper(alt.layer(points, fit, zoom(hit)), paper, x_title=x_title, y_title=y_title,
                        x_domain=domain)
    return chart.properties(width=_check_width(width), height=height, title=title)


def bar_chart(frame: pd.DataFrame, x: str, y: str, *, color: str | None = None, title: str = "",
              x_title: str | None = None, y_title: str | None = None, paper: str | None = None,
              paper_label: str = "paper", width: int | None = None, height: int = HEIGHT) -> alt.LayerChart:
    """A bar chart (e.g. accuracies per training recipe). ``paper``: a column of the paper's
    value per bar, drawn as a black tick across the bar and listed in the tooltip as
    ``paper_label``."""
    _check_columns(frame, x, y, color, paper)
    x_title, y_title = x_title or field_title(x), y_title or field_title(y)
    tip = tooltip(frame, x, y, titles={x: x_title, y: y_title})
    if paper:
        tip.append(alt.Tooltip(f"{paper}:Q", title=paper_label, format=".4~g"))
    xs = alt.X(f"{x}:N", sort=None, title=x_title, axis=alt.Axis(labelAngle=0))
    # Bars start at zero: no padding below them (the theme pads the other charts' axes).
    enc = dict(x=xs, y=alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(padding=0)), tooltip=tip)
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=field_title(color))
    layers = [alt.Chart(frame).mark_bar(width={"band": 0.6}).encode(**enc)]
    if paper:
        marks = frame.assign(_paper=paper_label)
        layers.append(alt.Chart(marks).mark_tick(thickness=3, size=60, opacity=1).encode(
            x=xs, y=alt.Y(f"{paper}:Q", title=y_title), tooltip=tip,
            color=alt.Color("_paper:N", scale=alt.Scale(domain=[paper_label], range=["black"]),
                            legend=alt.Legend(title=None, symbolType="stroke", symbolStrokeWidth=3,
                                              symbolStrokeColor="black"))))
    chart = alt.layer(*layers)
    if paper and color:
        chart = chart.resolve_scale(color="independent")
    return chart.properties(width=_check_width(width), height=height, title=title)


def _panel_width(chart) -> int:
    """The width of a chart's plot area (0 when it cannot be read)."""
    spec = chart.to_dict(validate=False)
    for key in ("width", "spec"):
        value = spec.get(key)
        if isinstance(value, (int, float)):
            return int(value)
        if isinstance(value, dict) and isinstance(value.get("width"), (int, float)):
            return int(value["width"])
    return WIDTH


def concat(charts: Sequence[alt.TopLevelMixin], columns: int | None = None) -> alt.ConcatChart:
    """Lay charts out with independent scales: two columns when every panel is at most
    :data:`PANEL_WIDTH` px wide (they fit the content column side by side), else one."""
    charts = list(charts)
    if columns is None:
        columns = 2 if all(_panel_width(c) <= PANEL_WIDTH for c in charts) else 1
    return alt.concat(*charts, columns=columns).resolve_scale(color="independent")


# --------------------------------------------------------------------------------------------
# Estimates against ground truth (the methods pages "Measuring curvature" and "Measuring
# intrinsic dimension") and error-bar profiles (the intrinsic-dimension finding page).

def vs_truth(frame: pd.DataFrame, x: str, y: str, color: str, *, title: str, x_title: str, y_title: str,
             log: bool = True, width: int | None = None, height: int = HEIGHT) -> alt.LayerChart:
    """An estimate (column ``y``) against the ground truth (column ``x``), one line per ``color``
    value, with the diagonal ``estimate = truth`` dashed. Both axes logarithmic with ``log``."""
    _check_columns(frame, x, y, color)
    lo, hi = float(frame[x].min()), float(frame[x].max())
    both = np.concatenate([frame[x].to_numpy(float), frame[y].to_numpy(float)])
    diagonal = alt.Chart(pd.DataFrame({x: [lo, hi], y: [lo, hi]})).mark_line(
        color="gray", strokeDash=[4, 3]).encode(x=alt.X(f"{x}:Q", title=x_title), y=alt.Y(f"{y}:Q", title=y_title),
                                                tooltip=[alt.Tooltip(f"{x}:Q", title="estimate = truth")])
    points = alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=60)).encode(
        x=alt.X(f"{x}:Q", title=x_title, scale=_scale(frame[x], log)),
        y=alt.Y(f"{y}:Q", title=y_title, scale=_scale(both, log)),
        color=alt.Color(f"{color}:N", legend=LEGEND, title=field_title(color)),
        tooltip=tooltip(frame, color, x, y, titles={x: x_title, y: y_title}))
    points = zoom(points)
    return (diagonal + points).properties(title=title, width=_check_width(width), height=height)


def line_chart(frame: pd.DataFrame, x: str, y: str, color: str, *, title: str, x_title: str, y_title: str,
               log_x: bool = False, log_y: bool = True, reference: float | pd.DataFrame | None = None,
               dash: str | None = None, hollow: str | None = None, integer_x: bool = False,
               width: int | None = None, height: int = HEIGHT) -> alt.LayerChart:
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
    Tooltips name the series and the values; the chart zooms and pans.
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
               color=alt.Color(f"{color}:N", legend=LEGEND, title=field_title(color)),
               tooltip=tooltip(frame, color, dash, x, y, titles={x: x_title, y: y_title}))
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
        chart = zoom(base.mark_line(point=alt.OverlayMarkDef(size=50)))
    else:
        chart = (zoom(base.transform_filter(alt.datum[color] != hollow).mark_line(point=alt.OverlayMarkDef(size=50)))
                 + base.transform_filter(alt.datum[color] == hollow).mark_point(filled=False, size=200,
                                                                                 strokeWidth=2))
    if isinstance(reference, pd.DataFrame):
        _check_columns(reference, x, y)
        chart = alt.Chart(reference).mark_line(color="gray", strokeDash=[4, 3]).encode(
            x=alt.X(f"{x}:Q", title=x_title), y=alt.Y(f"{y}:Q", title=y_title),
            tooltip=[alt.Tooltip(f"{x}:Q", title=f"reference: {x_title}", format=".4~g"),
                     alt.Tooltip(f"{y}:Q", title=y_title, format=".4~g")]) + chart
    elif reference is not None:
        chart = alt.Chart(pd.DataFrame({"truth": [float(reference)]})).mark_rule(
            color="gray", strokeDash=[4, 3]).encode(
            y=alt.Y("truth:Q", title=y_title), tooltip=[alt.Tooltip("truth:Q", title="truth")]) + chart
    return chart.properties(title=title, width=_check_width(width), height=height)


def errorbar_chart(frame: pd.DataFrame, x: str = "relative_depth", y: str = "id_mean", err: str = "id_std", *,
                   color: str | None = "label", title: str = "", x_title: str = "relative depth",
                   y_title: str = "TwoNN ID", log_x: bool = False, width: int | None = None,
                   height: int = HEIGHT) -> alt.LayerChart:
    """``y`` ± ``err`` against ``x``, one line per ``color`` value (e.g. an ID profile with the
    TwoNN resampling error bars). With ``x="relative_depth"`` the axis spans [0, 1]. A
    ``stage`` or ``state`` column is drawn by mark; tooltips name the point; it zooms and pans."""
    _check_columns(frame, x, y, err, color)
    data = frame.assign(_lo=frame[y] - frame[err], _hi=frame[y] + frame[err])
    scale = alt.Scale(domain=[0, 1]) if x == "relative_depth" else _scale(data[x], log_x)
    xs = alt.X(f"{x}:Q", title=x_title, scale=scale)
    ys = alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(zero=False))
    tip = tooltip(data, x, y, err, titles={x: x_title, y: y_title, err: "± (resampling std)"})
    lines = _points_and_lines(data, xs, ys, color=color, tip=tip, stage=stage_field(data, exclude=(color,)))
    lines[-1] = zoom(lines[-1])
    enc = dict(x=xs, y=alt.Y("_lo:Q", title=y_title), y2="_hi:Q", tooltip=tip)
    if color:
        enc["color"] = alt.Color(f"{color}:N", legend=LEGEND, title=field_title(color))
    bars = alt.Chart(data).mark_errorbar().encode(**enc)
    return alt.layer(lines[0], bars, *lines[1:]).properties(width=_check_width(width), height=height, title=title)


def reference_chart(frame: pd.DataFrame, x: str, y: str, *, reference: tuple[float, float], color: str,
                    order: str, log: bool = False, title: str = "", x_title: str | None = None,
                    y_title: str | None = None, reference_label: str = "paper", width: int | None = None,
                    height: int = HEIGHT) -> alt.LayerChart:
    """``y`` against ``x``, one line per ``color`` value through its points in ``order`` (e.g.
    a model's training checkpoints by epoch), with a reference value or range ``(low, high)``
    (e.g. the paper's, labelled ``reference_label``) drawn as grey dashed rules. A ``stage``
    column is drawn by mark. With ``log=True`` non-positive values are dropped (count in the
    title). Used by the training-ladder page."""
    keep = [c for c in dict.fromkeys((x, y, color, order, *NAME_FIELDS)) if c in frame]
    data = frame[keep].dropna(subset=[x, y])
    data, title = _drop_unplottable(data, title, positive=[y] if log else [])
    x_title, y_title = x_title or field_title(x), y_title or field_title(y)
    ys = alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(type="log") if log else alt.Scale(zero=False))
    xs = alt.X(f"{x}:Q", title=x_title, scale=alt.Scale(zero=False))
    tip = tooltip(data, order, x, y, titles={x: x_title, y: y_title})
    layers = _points_and_lines(data, xs, ys, color=color, tip=tip, stage=stage_field(data, exclude=(color,)),
                               order=order)
    layers[-1] = zoom(layers[-1])
    values = sorted(set(float(v) for v in reference))
    text = f"{reference_label}: " + "–".join(_fmt(v) for v in values)
    rules = alt.Chart(pd.DataFrame({"reference": values, "text": text})).mark_rule(
        color=PAPER_COLOR, strokeDash=[6, 3], strokeWidth=1.5).encode(
        y=alt.Y("reference:Q", title=y_title), tooltip=[alt.Tooltip("text:N", title=reference_label)])
    label = alt.Chart(pd.DataFrame({"reference": [values[-1]], "text": [text]})).mark_text(
        align="left", baseline="bottom", dx=2, dy=-2, color=PAPER_COLOR, fontStyle="italic").encode(
        y=alt.Y("reference:Q", title=y_title), x=alt.value(4), text="text:N",
        tooltip=[alt.Tooltip("text:N", title=reference_label)])
    return alt.layer(*layers, rules, label).properties(width=_check_width(width), height=height, title=title)


enable_offline_rendering()
