"""Altair charts for the book: interactive in the published site, drawn without network access.

Every chart in a kernel that imported this module renders (renderer ``"latentgeom"``, see
:func:`enable_offline_rendering`) as one output with several representations:

* ``text/html`` (what the book's pages show): the chart's Vega-Lite spec, drawn in the browser by
  ``vegaEmbed`` from the Vega bundle that the site serves itself (``_static/vega-bundle.js``,
  written at build time by ``_ext/book_html.py`` from :func:`vl_convert.javascript_bundle`; no
  CDN), with tooltips, and zoom and pan on scatter and profile charts. Until it has drawn, and
  where JavaScript is off, the page shows the same chart as a static SVG image;
* ``image/svg+xml``: that static SVG (vl-convert), for any front end without the bundle;
* the Vega-Lite mime type, which JupyterLab draws with its own bundled Vega.

The charts share one look (theme ``"latentgeom"``): axis labels and titles at 13-14 px, legends
below the plot, single charts :data:`WIDTH` px wide (the book's content column at 1280 px is
about 750 px), and one set of marks for a model's stage (:data:`STAGE_MARKS`: final or trained
models filled circles on solid lines, checkpoints hollow triangles on dashed lines, untrained
networks hollow squares on dotted lines).
"""
from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
from typing import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from ..validation import check_choice

RENDERER = "latentgeom"
THEME = "latentgeom"
#: Width of a single chart's plot area, px (the content column is ~750 px at a 1280 px window).
WIDTH = 600
#: Height of a chart's plot area, px.
HEIGHT = 300
#: Width of a panel of a two-column grid (:func:`concat` puts panels this narrow side by side).
PANEL_WIDTH = 300
#: Font sizes, px: tick labels and legend labels; axis and legend titles; chart titles.
FONT_SIZES = {"label": 13, "title": 14, "chart": 15}
#: Vega-Lite version of the specs (the bundle is written for the same).
VEGALITE_VERSION = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
VEGALITE_MIME = f"application/vnd.vegalite.v{VEGALITE_VERSION.split('.')[0]}+json"
#: vegaEmbed options of the live charts: no action menu, SVG marks (a hover test can find them).
EMBED_OPTIONS = {"actions": False, "renderer": "svg", "tooltip": {"theme": "light"}}


def theme() -> dict:
    """The book's chart configuration (registered as altair theme ``"latentgeom"``)."""
    label, title, chart = FONT_SIZES["label"], FONT_SIZES["title"], FONT_SIZES["chart"]
    return {"config": {
        "view": {"continuousWidth": WIDTH, "continuousHeight": HEIGHT},
        "axis": {"labelFontSize": label, "titleFontSize": title, "titleFontWeight": "normal", "labelOverlap": True},
        "axisQuantitative": {"tickCount": 8},
        "legend": {"labelFontSize": label, "titleFontSize": label, "orient": "bottom", "direction": "horizontal",
                   "columns": 3, "labelLimit": 0, "symbolSize": 80},
        "header": {"labelFontSize": title, "titleFontSize": title},
        "title": {"fontSize": chart, "anchor": "start", "limit": 0, "offset": 10},
        "text": {"fontSize": label},
        "concat": {"spacing": 30},
        # Points at the ends of an axis stay whole (the zoomable charts clip to the plot).
        "scale": {"continuousPadding": 10},
    }}


_counter = itertools.count(1)


def _static_svg(spec: dict) -> str:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(spec, vl_version=f"v{VEGALITE_VERSION.replace('.', '_')}")


#: The script after each chart: draws it with the page's vegaEmbed, then drops the static image.
#: A chart that cannot be drawn keeps its image and says why on the console.
_DRAW_JS = """<script>(function () {
  var id = "@ID@";
  function draw() {
    var box = document.getElementById(id);
    if (!box || box.dataset.drawn || typeof window.vegaEmbed !== "function") return;
    var spec = JSON.parse(document.getElementById(id + "-spec").textContent);
    var live = document.createElement("div");
    live.className = "lg-chart-live";
    box.appendChild(live);
    window.vegaEmbed(live, spec, @OPTIONS@).then(function () {
      var still = box.querySelector(".lg-chart-static");
      if (still) still.remove();
      box.dataset.drawn = "1";
    }).catch(function (error) {
      live.remove();
      box.dataset.drawn = "failed";
      console.error("latentgeom chart " + id + " did not draw: " + error);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();</script>"""


def chart_html(spec: dict, svg: str | None = None) -> str:
    """The ``text/html`` of a chart: a ``<div class="lg-chart">`` holding the static SVG as an
    image, the spec as JSON, and a script that draws the live chart with ``vegaEmbed`` (from the
    page's own Vega bundle) and then removes the image. Without ``vegaEmbed`` (JavaScript off,
    or a front end without the bundle) the image stays."""
    svg = _static_svg(spec) if svg is None else svg
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    ident = f"lg-chart-{hashlib.sha1(text.encode()).hexdigest()[:10]}-{next(_counter)}"
    title = spec.get("title")
    title = title.get("text") if isinstance(title, dict) else title
    alt_text = html.escape(f"{title or 'chart'} (static image; the interactive chart needs JavaScript)")
    data_uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    script = _DRAW_JS.replace("@ID@", ident).replace("@OPTIONS@", json.dumps(EMBED_OPTIONS))
    return (f'<div class="lg-chart" id="{ident}">'
            f'<img class="lg-chart-static" alt="{alt_text}" src="{data_uri}"></div>\n'
            f'<script type="application/json" id="{ident}-spec">' + text.replace("</", "<\\/") + "</script>\n"
            + script)


def render(spec: dict, **metadata) -> dict:
    """The altair renderer ``"latentgeom"``: a mime bundle with the live chart (``text/html``,
    :func:`chart_html`), the static SVG, the Vega-Lite spec and a plain-text stand-in."""
    svg = _static_svg(spec)
    return {"text/html": chart_html(spec, svg), "image/svg+xml": svg, VEGALITE_MIME: spec,
            "text/plain": f"<latentgeom chart: {spec.get('title') or 'untitled'}>"}


def enable_offline_rendering() -> None:
    """Render every altair chart in this kernel through :func:`render` (an interactive chart with
    a static SVG fallback, no CDN) in the book's theme (:func:`theme`)."""
    if RENDERER not in alt.renderers.names():
        alt.renderers.register(RENDERER, render)
    alt.renderers.enable(RENDERER)
    if THEME not in alt.theme.names():
        alt.theme.register(THEME, enable=False)(theme)
    alt.theme.enable(THEME)
    # Inline data sets never hit the 5000-row limit silently.
    alt.data_transformers.disable_max_rows()


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
            label_at = {"y": alt.Y("high:Q", title=y_title),
                        "x": alt.X(f"{at}:Q", title=x_title) if spanned else alt.value(4)}
            layers.append(alt.Chart(labels).mark_text(
                align=align, baseline="bottom", dx=2 if align == "left" else -2, dy=-2, color=PAPER_COLOR,
                fontStyle="italic").encode(**label_at, text="text:N", tooltip=tip))
    return layers


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
        layers.append(base.mark_line(strokeWidth=2).encode(**enc))
    enc = {**colour, "tooltip": tip}
    if stage:
        enc.update(stage_encodings(data, stage))
    layers.append(base.mark_point(filled=True, size=size, opacity=1).encode(**enc))
    # An invisible filled disc over every point: the mouse finds a hollow point's tooltip too.
    layers.append(base.mark_point(filled=True, size=2 * size, opacity=0, shape="circle").encode(tooltip=tip))
    return layers


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
    layers[-1] = layers[-1].interactive()
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
    chart = _with_paper(alt.layer(points, fit, hit.interactive()), paper, x_title=x_title, y_title=y_title,
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
    enc = dict(x=xs, y=alt.Y(f"{y}:Q", title=y_title), tooltip=tip)
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
        tooltip=tooltip(frame, color, x, y, titles={x: x_title, y: y_title})).interactive()
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
        chart = base.mark_line(point=alt.OverlayMarkDef(size=50)).interactive()
    else:
        chart = (base.transform_filter(alt.datum[color] != hollow).mark_line(point=alt.OverlayMarkDef(size=50))
                 .interactive()
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
    lines[-1] = lines[-1].interactive()
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
    layers[-1] = layers[-1].interactive()
    values = sorted(set(float(v) for v in reference))
    text = f"{reference_label}: " + "–".join(_fmt(v) for v in values)
    rules = alt.Chart(pd.DataFrame({"reference": values, "text": text})).mark_rule(
        color=PAPER_COLOR, strokeDash=[6, 3], strokeWidth=1.5).encode(
        y=alt.Y("reference:Q", title=y_title), tooltip=[alt.Tooltip("text:N", title=reference_label)])
    label = alt.Chart(pd.DataFrame({"reference": [values[-1]], "text": [text]})).mark_text(
        align="left", baseline="bottom", dx=2, dy=-2, color=PAPER_COLOR, fontStyle="italic").encode(
        y=alt.Y("reference:Q", title=y_title), x=alt.value(4), text="text:N")
    return alt.layer(*layers, rules, label).properties(width=_check_width(width), height=height, title=title)


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
            tooltip=tip).interactive()
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
    y = alt.Y("distance:Q", title="trajectory distance (d_B, nats/example)")
    pts = alt.Chart(pairs).mark_circle(size=60, opacity=0.7).encode(
        x=x, y=y, color=alt.Color("architecture:N", title="architecture"),
        tooltip=[alt.Tooltip("run_a:N", title="run"), alt.Tooltip("run_b:N", title="against run"),
                 alt.Tooltip("factor:N", title="differs in"),
                 alt.Tooltip("distance:Q", title="distance (nats/example)", format=".4~g")])
    med = alt.Chart(pairs).mark_tick(color="black", thickness=2, size=30).encode(
        x=x, y=alt.Y("median(distance):Q", title=y.title),
        tooltip=[alt.Tooltip("factor:N", title="differs in"),
                 alt.Tooltip("median(distance):Q", title="median distance", format=".4~g")])
    return (pts + med).properties(width=_check_width(width), height=HEIGHT, title=title)


def progress_chart(points: pd.DataFrame, title: str = "", width: int | None = None) -> alt.Chart:
    """Progress along the P0 -> P* geodesic against epochs, one line per run (colour: architecture,
    dashes: width); ``points`` as for :func:`trajectory_chart`."""
    return alt.Chart(points).mark_line(point=alt.OverlayMarkDef(size=40)).encode(
        x=alt.X("epoch:Q", title="epoch"), y=alt.Y("progress:Q", title="progress t along P0 → P*"),
        color=alt.Color("architecture:N", title="architecture"),
        strokeDash=alt.StrokeDash("width:N", title="width"), detail="run:N",
        tooltip=[alt.Tooltip("run:N", title="run"), alt.Tooltip("epoch:Q", title="epoch", format=".3~g"),
                 alt.Tooltip("progress:Q", title="progress t", format=".3f")],
    ).interactive().properties(width=_check_width(width), height=HEIGHT, title=title)


enable_offline_rendering()
