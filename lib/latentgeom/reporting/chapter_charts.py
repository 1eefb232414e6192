"""The chapters' own charts: means over runs along a curve per group (toroidal landscapes) and
trajectories in prediction space (training trajectories). Re-exported by
:mod:`latentgeom.reporting.plots` (``lg.plots``)."""
from __future__ import annotations

import altair as alt
import pandas as pd

from ..validation import check_choice
from .chart_parts import _check_columns, _check_width, field_title, zoom
from .chart_render import HEIGHT, PANEL_WIDTH

# --------------------------------------------------------------------------------------------
# Means over runs along a curve, one panel per group (the toroidal-landscapes page).


def mean_curve_chart(frame: pd.DataFrame, x: str, y: str, *, color: str, column: str, x_title: str,
                     y_title: str, title: str = "", width: int | None = None, height: int = HEIGHT,
                     columns: int = 2) -> alt.Chart:
    """The mean of ``y`` at every ``x`` (over the rows that share ``x``, ``color`` and ``column``),
    one line per ``color`` value and one panel per ``column`` value (``columns`` panels a row)."""
    _check_columns(frame, x, y, color, column)
    return alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=50)).encode(
        x=alt.X(f"{x}:Q", title=x_title), y=alt.Y(f"mean({y}):Q", title=y_title),
        color=alt.Color(f"{color}:N", title=field_title(color)),
        facet=alt.Facet(f"{column}:N", columns=columns, title=field_title(column)),
        tooltip=[alt.Tooltip(f"{column}:N", title=field_title(column)),
                 alt.Tooltip(f"{color}:N", title=field_title(color)),
                 alt.Tooltip(f"{x}:Q", title=x_title, format=".4~g"),
                 alt.Tooltip(f"mean({y}):Q", title=y_title, format=".4~g")],
    ).properties(width=_check_width(width, PANEL_WIDTH), height=height, title=title)


def energy_chart(networks: pd.DataFrame, title: str = "", width: int | None = None, prefix: str = "dE_") -> alt.Chart:
    """Local energy dE(sigma) against sigma, mean per recipe (one panel per architecture).

    ``networks``: one row per network with ``architecture``, ``recipe``, ``seed`` and one column
    ``<prefix><sigma>`` per noise level (as :func:`latentgeom.chapters.toroid_grid.run` gives)."""
    cols = [c for c in networks.columns if c.startswith(prefix)]
    long = networks.melt(id_vars=["architecture", "recipe", "seed"], value_vars=cols, value_name="dE")
    long["sigma"] = long["variable"].str[len(prefix):].astype(float)
    return mean_curve_chart(long, "sigma", "dE", color="recipe", column="architecture",
                            x_title="relative weight noise sigma", y_title="local energy dE (train error rise)",
                            title=title, width=width)


def path_chart(paths: pd.DataFrame, split: str = "train", width: int | None = None) -> alt.Chart:
    """Mean 0-1 error along the paths (one line per ``kind``: geodesic, linear, one bend) against
    the position t, per architecture. ``split``: ``"train"`` or ``"test"`` (column ``<split>_error``)."""
    check_choice(split, "split", ("train", "test"))
    return mean_curve_chart(paths, "t", f"{split}_error", color="kind", column="architecture",
                            x_title="position along the path t", y_title=f"mean {split} error",
                            title=f"{split} error along the paths (mean over pairs)", width=width)


def trajectory_chart(points: pd.DataFrame, references: pd.DataFrame, *, color: str = "architecture",
                     pairs=((1, 2), (1, 3), (2, 3)), title: str = "", width: int = PANEL_WIDTH) -> alt.ConcatChart:
    """Trajectories in pairs of InPCA components (one panel per pair, two a row), with P0, P*
    and the geodesic.

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
        tip = [alt.Tooltip("run:N", title="run"), alt.Tooltip(f"{color}:N", title=field_title(color)),
               alt.Tooltip("epoch:Q", title="epoch"), alt.Tooltip("progress:Q", title="progress t", format=".3f")]
        lines = alt.Chart(data).mark_line(point=alt.OverlayMarkDef(size=30), opacity=0.7).encode(
            **enc, color=alt.Color(f"{color}:N", title=field_title(color)), detail="run:N", order="step:Q",
            tooltip=tip)
        lines = zoom(lines)
        geo = alt.Chart(references).mark_line(color="black", strokeDash=[4, 3]).encode(
            **enc, order="t:Q", tooltip=[alt.Tooltip("point:N", title="P0 → P* geodesic")])
        ends = alt.Chart(references[references.point != "geodesic"]).mark_point(
            color="black", filled=True, size=70, shape="diamond").encode(**enc, tooltip=[alt.Tooltip("point:N")])
        labels = alt.Chart(references[references.point != "geodesic"]).mark_text(dx=12, dy=-8).encode(
            **enc, text="point:N")
        panels.append((geo + lines + ends + labels).properties(width=_check_width(width, PANEL_WIDTH),
                                                               height=width))
    return alt.concat(*panels, columns=2 if width <= PANEL_WIDTH else 1).properties(title=title)


def distance_chart(pairs: pd.DataFrame, title: str = "", width: int | None = None) -> alt.LayerChart:
    """Trajectory distance of every one-factor pair (points) and the median per factor (ticks).

    ``pairs``: one row per pair with ``factor``, ``run_a``, ``run_b``, ``distance`` (nats per
    example) and ``architecture`` (:func:`latentgeom.chapters.trajectory_tables.pair_distances`)."""
    order = list(pairs.groupby("factor")["distance"].median().sort_values(ascending=False).index)
    x = alt.X("factor:N", sort=order, title="what differs between the two runs", axis=alt.Axis(labelAngle=0))
    y_title = "trajectory distance (d_B, nats/example)"  # a channel's .title is altair's setter, not the text
    y = alt.Y("distance:Q", title=y_title)
    pts = alt.Chart(pairs).mark_circle(size=60, opacity=0.7).encode(
        x=x, y=y, color=alt.Color("architecture:N", title="architecture"),
        tooltip=[alt.Tooltip("run_a:N", title="run"), alt.Tooltip("run_b:N", title="against run"),
                 alt.Tooltip("factor:N", title="differs in"),
                 alt.Tooltip("distance:Q", title="distance (nats/example)", format=".4~g")])
    med = alt.Chart(pairs).mark_tick(color="black", thickness=2, size=30).encode(
        x=x, y=alt.Y("median(distance):Q", title=y_title),
        tooltip=[alt.Tooltip("factor:N", title="differs in"),
                 alt.Tooltip("median(distance):Q", title="median distance", format=".4~g")])
    return (pts + med).properties(width=_check_width(width), height=HEIGHT, title=title)


def progress_chart(points: pd.DataFrame, title: str = "", width: int | None = None) -> alt.Chart:
    """Progress along the P0 -> P* geodesic against epochs, one line per run (colour: architecture,
    dashes: width); ``points`` as for :func:`trajectory_chart`."""
    chart = alt.Chart(points).mark_line(point=alt.OverlayMarkDef(size=40)).encode(
        x=alt.X("epoch:Q", title="epoch"), y=alt.Y("progress:Q", title="progress t along P0 → P*"),
        color=alt.Color("architecture:N", title="architecture"),
        strokeDash=alt.StrokeDash("width:N", title="width"), detail="run:N",
        tooltip=[alt.Tooltip("run:N", title="run"), alt.Tooltip("epoch:Q", title="epoch", format=".3~g"),
                 alt.Tooltip("progress:Q", title="progress t", format=".3f")],
    )
    return zoom(chart).properties(width=_check_width(width), height=HEIGHT, title=title)
