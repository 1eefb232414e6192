"""The pieces every chart of :mod:`latentgeom.reporting.plots` shares: readers' titles for
fields, tooltips, the marks of a model's stage, the paper's values and ranges, input checks.

Stage marks (:data:`STAGE_MARKS`) are the same on every page: final or trained models are filled
circles on solid lines, checkpoints hollow triangles on dashed lines, untrained networks hollow
squares on dotted lines.
"""
from __future__ import annotations

import itertools
from typing import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from ..validation import check_choice
from .chart_render import HEIGHT, PANEL_WIDTH, WIDTH

__all__ = ["FIELD_TITLES", "HEIGHT", "NAME_FIELDS", "PANEL_WIDTH", "PAPER_COLOR", "STAGE_FIELDS", "STAGE_MARKS",
           "WIDTH", "field_title", "paper_layers", "paper_range", "stage_encodings", "stage_field", "tooltip",
           "zoom"]

# --------------------------------------------------------------------------------------------
# Shared pieces: field titles, tooltips, stage marks, paper references, layout.

#: Titles that readers understand, for the fields the chapters' frames carry.
FIELD_TITLES = {
    "label": "model", "model": "architecture", "relative_depth": "relative depth", "layer": "layer",
    "run": "run", "epoch": "epoch", "stage": "stage", "state": "state", "recipe": "recipe", "width": "width",
    "test_accuracy": "test accuracy", "test_error": "test error", "mapc": "MAPC", "scale_free": "scale-free MAPC",
    "rms_radius": "RMS radius", "id_mean": "ID", "id_std": "ID std", "mode": "estimator", "seed": "seed",
    "class_label": "class", "architecture": "architecture", "n_points": "points", "layer_width": "layer width",
}
#: Fields that name what a mark is, in the order a tooltip lists them.
NAME_FIELDS = ("label", "model", "recipe", "architecture", "run", "layer", "stage", "state", "epoch", "mode",
               "class_label", "series", "setting")

#: Hollow symbols as filled rings (Vega custom shapes, unit square): they stay hollow in legends too.
HOLLOW_TRIANGLE = "M 0 -1 L 1 0.8 L -1 0.8 Z M 0 -0.38 L -0.5 0.45 L 0.5 0.45 Z"
HOLLOW_SQUARE = "M -1 -1 L 1 -1 L 1 1 L -1 1 Z M -0.5 -0.5 L -0.5 0.5 L 0.5 0.5 L 0.5 -0.5 Z"
HOLLOW_DIAMOND = "M 0 -1 L 1 0 L 0 1 L -1 0 Z M 0 -0.5 L -0.5 0 L 0 0.5 L 0.5 0 Z"
#: How a model's stage is drawn on every page: point shape, line dash. Final and trained
#: models: filled circles on solid lines; checkpoints: hollow triangles on dashed lines;
#: untrained networks: hollow squares on dotted lines.
STAGE_MARKS = {
    "final": ("circle", [1, 0]),
    "trained": ("circle", [1, 0]),
    "checkpoint": (HOLLOW_TRIANGLE, [6, 3]),
    "untrained": (HOLLOW_SQUARE, [2, 2]),
}
#: Columns that carry a stage (``stage``: final / checkpoint; ``state``: trained / untrained).
STAGE_FIELDS = ("stage", "state")
#: How the paper's values are drawn: grey, dashed, labelled "paper ...".
PAPER_COLOR = "#555555"


def field_title(field: str) -> str:
    """A reader's title for a frame column (:data:`FIELD_TITLES`, else the name with spaces)."""
    return FIELD_TITLES.get(field, field.replace("_", " "))


def _number_format(series: pd.Series) -> str | None:
    return ".4~g" if pd.api.types.is_float_dtype(series) else None


def tooltip(frame: pd.DataFrame, *fields: str | None, titles: Mapping[str, str] | None = None) -> list:
    """Tooltip entries: the frame's name fields (model, layer, run, stage, ...: :data:`NAME_FIELDS`)
    first, then ``fields`` (the values drawn), each with a reader's title and numbers to 4
    significant digits. Fields the frame lacks are skipped."""
    titles = dict(titles or {})
    names = [f for f in NAME_FIELDS if f in frame.columns]
    out = []
    for f in dict.fromkeys([*names, *(f for f in fields if f)]):
        if f not in frame.columns or f.startswith("_"):
            continue
        kind = "quantitative" if pd.api.types.is_numeric_dtype(frame[f]) and f not in ("epoch", "seed") else "nominal"
        kwargs = dict(title=titles.get(f) or field_title(f), type=kind)
        fmt = _number_format(frame[f])
        if fmt and kind == "quantitative":
            kwargs["format"] = fmt
        out.append(alt.Tooltip(f, **kwargs))
    return out


def stage_field(frame: pd.DataFrame, exclude: Sequence[str | None] = ()) -> str | None:
    """The frame's stage column (:data:`STAGE_FIELDS`), or ``None``."""
    return next((f for f in STAGE_FIELDS if f in frame.columns and f not in exclude), None)


def _stage_levels(frame: pd.DataFrame, field: str) -> list:
    present = list(pd.unique(frame[field].dropna()))
    return [s for s in STAGE_MARKS if s in present] + [s for s in present if s not in STAGE_MARKS]


def stage_encodings(frame: pd.DataFrame, field: str, *, lines: bool = False) -> dict:
    """Encodings that tell a model's stage by mark (:data:`STAGE_MARKS`): the point shape, or
    with ``lines`` the line dash. Both carry the same legend, so the two merge into one."""
    levels = _stage_levels(frame, field)
    marks = [STAGE_MARKS.get(level, (HOLLOW_DIAMOND, [4, 2])) for level in levels]
    legend = alt.Legend(title=field_title(field), orient="bottom", direction="horizontal", columns=0,
                        symbolSize=120)
    if lines:
        return {"strokeDash": alt.StrokeDash(f"{field}:N", scale=alt.Scale(domain=levels, range=[m[1] for m in marks]),
                                             legend=legend)}
    return {"shape": alt.Shape(f"{field}:N", scale=alt.Scale(domain=levels, range=[m[0] for m in marks]),
                               legend=legend)}


def paper_range(label: str, low: float, high: float | None = None, *, x: float | None = None,
                x2: float | None = None, align: str | None = None) -> dict:
    """A paper value (``high`` None) or range ``[low, high]`` on a chart's y axis, optionally
    only over ``[x, x2]`` on the x axis: one entry of the ``paper`` argument of the charts.
    ``label`` is shown above it, e.g. ``"paper, CIFAR-10: plateau"``, starting at ``x``
    (``align="left"``) or ending at ``x2`` (``"right"``, for a range at the right edge; ``None``:
    whichever keeps it inside the chart)."""
    if align is not None:
        check_choice(align, "align", ("left", "right"))
    entry = {"label": label, "low": float(low), "high": float(low if high is None else high), "align": align}
    if x is not None:
        entry.update(x=float(x), x2=float(x if x2 is None else x2))
    return entry


def _paper_frame(paper) -> pd.DataFrame:
    if isinstance(paper, pd.DataFrame):
        frame = paper.copy()
    else:
        entries = [paper] if isinstance(paper, Mapping) else list(paper)
        frame = pd.DataFrame(entries)
    missing = [c for c in ("label", "low", "high") if c not in frame.columns]
    if missing:
        raise ValueError(f"paper references need the columns label, low, high (paper_range); missing {missing}")
    frame["text"] = [f"{lab}: {_fmt(lo)}" + ("" if lo == hi else f"–{_fmt(hi)}")
                     for lab, lo, hi in zip(frame["label"], frame["low"], frame["high"])]
    if "x" in frame:  # a box's label is its name; its numbers are in the tooltip
        frame["text"] = frame["text"].where(frame["x"].isna(), frame["label"])
        frame["x_text"] = [f"{_fmt(a)}" + ("" if a == b else f"–{_fmt(b)}") if pd.notna(a) else ""
                           for a, b in zip(frame["x"], frame["x2"])]
    return frame


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def paper_layers(paper, *, x_title: str, y_title: str, x_domain: tuple[float, float] | None = None) -> list:
    """The paper's values or ranges (``paper``: :func:`paper_range` entries, or a frame with
    their columns) as grey layers with a label and a tooltip: a dashed rule for a value, a shaded
    band for a range, across the whole chart or over ``[x, x2]`` (a box, for a range on both
    axes). The axis titles are the data's, so that the layers share its axes; ``x_domain`` (the
    chart's x range) places the labels of entries without an ``align`` inside the chart."""
    frame = _paper_frame(paper)
    spans = frame["x"].notna() if "x" in frame else pd.Series(False, index=frame.index)
    if "align" not in frame:
        frame["align"] = None
    if x_domain is not None and "x" in frame:
        lo, hi = min(x_domain[0], frame["x"].min()), max(x_domain[1], frame["x2"].max())
        auto = frame["align"].isna() & frame["x"].notna()
        frame.loc[auto, "align"] = np.where(frame.loc[auto, "x"] > (lo + hi) / 2, "right", "left")
    tip = [alt.Tooltip("label:N", title="paper"), alt.Tooltip("low:Q", title=f"{y_title} from", format=".4~g"),
           alt.Tooltip("high:Q", title="to", format=".4~g")]
    if spans.any():
        tip.append(alt.Tooltip("x_text:N", title=x_title))
    y = alt.Y("low:Q", title=y_title)
    layers = []
    for spanned, part in frame.groupby(spans, sort=False):
        enc = {"y": y}
        if spanned:
            enc.update(x=alt.X("x:Q", title=x_title), x2=alt.X2("x2:Q"))
        bands, rules = part[part["low"] != part["high"]], part[part["low"] == part["high"]]
        if len(bands):
            layers.append(alt.Chart(bands).mark_rect(
                color=PAPER_COLOR, opacity=0.14, stroke=PAPER_COLOR, strokeDash=[4, 3], strokeOpacity=0.7,
            ).encode(**enc, y2=alt.Y2("high:Q"), tooltip=tip))
        if len(rules):
            layers.append(alt.Chart(rules).mark_rule(color=PAPER_COLOR, strokeDash=[6, 3], strokeWidth=1.5).encode(
                **enc, tooltip=tip))
        right = part["align"] == "right"
        for align, labels in part.groupby(right.map({True: "right", False: "left"}), sort=False):
            at = "x2" if align == "right" else "x"
            # Across the chart: the label above the line or band; over [x, x2]: below the box,
            # where boxes side by side (the paper's models) do not overlap their labels.
            label_at = {"y": alt.Y("low:Q" if spanned else "high:Q", title=y_title),
                        "x": alt.X(f"{at}:Q", title=x_title) if spanned else alt.value(4)}
            layers.append(alt.Chart(labels).mark_text(
                align=align, baseline="top" if spanned else "bottom", dx=2 if align == "left" else -2,
                dy=3 if spanned else -2, color=PAPER_COLOR, fontStyle="italic",
            ).encode(**label_at, text="text:N", tooltip=tip))
    return layers


_zooms = itertools.count(1)


def zoom(chart):
    """``chart`` with zoom (mouse wheel) and pan (drag) on its scales; a double click resets.
    Each chart gets its own parameter, so that panels of a grid zoom apart (altair would merge
    identical unnamed ones, and one panel's zoom would set the others' axes)."""
    return chart.add_params(alt.selection_interval(bind="scales", name=f"zoom_{next(_zooms)}"))


def _check_columns(frame: pd.DataFrame, *columns) -> None:
    missing = [c for c in columns if c is not None and c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}; columns: {list(frame.columns)}")


def _check_width(width: int | None, default: int = WIDTH) -> int:
    width = default if width is None else width
    if width < 300:
        raise ValueError(f"width must be >= 300 px (charts narrower are hard to read), got {width}")
    return width


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


def _with_paper(chart, paper, *, x_title: str, y_title: str, x_domain=None):
    """``chart`` under the paper's values or ranges (:func:`paper_layers`), when there are any."""
    if paper is None or (hasattr(paper, "__len__") and len(paper) == 0):
        return chart
    return alt.layer(*paper_layers(paper, x_title=x_title, y_title=y_title, x_domain=x_domain), chart)


def _points_and_lines(data: pd.DataFrame, x: alt.X, y: alt.Y, *, color: str | None, tip: list,
                      stage: str | None, dash: str | None = None, lines: bool = True, order: str | None = None,
                      size: int = 80, inline: bool = True) -> list:
    """A line per series (dashed by stage) with its points on top (shape and fill by stage),
    the points carrying the tooltip. ``inline=False``: the layers take their data from the
    chart around them (a facet)."""
    base = (alt.Chart(data) if inline else alt.Chart()).encode(x=x, y=y)
    layers = []
    if color:
        colour = {"color": alt.Color(f"{color}:N", title=field_title(color))}
    else:
        colour = {}
    if lines:
        enc = dict(colour)
        if stage:
            enc.update(stage_encodings(data, stage, lines=True))
        elif dash:
            enc["strokeDash"] = alt.StrokeDash(f"{dash}:N", title=field_title(dash))
        if order:
            enc["order"] = alt.Order(f"{order}:Q")
        # A line's tooltip names its series (its values are on its points).
        series = [f for f in dict.fromkeys((color, stage, dash)) if f]
        enc["tooltip"] = tooltip(data[series], *series) if series else alt.Undefined
        layers.append(base.mark_line(strokeWidth=2).encode(**enc))
    enc = {**colour, "tooltip": tip}
    if stage:
        enc.update(stage_encodings(data, stage))
    layers.append(base.mark_point(filled=True, size=size, opacity=1).encode(**enc))
    # An invisible filled disc over every point: the mouse finds a hollow point's tooltip too.
    layers.append(base.mark_point(filled=True, size=2 * size, opacity=0, shape="circle").encode(tooltip=tip))
    return layers


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
