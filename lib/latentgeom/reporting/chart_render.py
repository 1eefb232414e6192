"""How the book's charts render: interactive in the published site, drawn without network access.

Every chart in a kernel that imported :mod:`latentgeom.reporting.plots` renders (altair
renderer ``"latentgeom"``, :func:`enable_offline_rendering`) as one output with several
representations:

* ``text/html`` (what the book's pages show): the chart's Vega-Lite spec, drawn in the browser by
  ``vegaEmbed`` from the Vega bundle that the site serves itself (``_static/vega-bundle.js``,
  written at build time by ``_ext/book_html.py`` from ``vl_convert.javascript_bundle``; no
  CDN), with tooltips, and zoom and pan on scatter and profile charts. Until it has drawn, and
  where JavaScript is off, the page shows the same chart as a static SVG image;
* ``image/svg+xml``: that static SVG (vl-convert), for any front end without the bundle;
* the Vega-Lite mime type, which JupyterLab draws with its own bundled Vega.

The charts share one look (altair theme ``"latentgeom"``, :func:`theme`): axis labels and
titles at 13-14 px, legends below the plot, single charts :data:`WIDTH` px wide (the book's
content column is about 750 px at a 1280 px window).
"""
from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json

import altair as alt

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
    if (!box || box.dataset.drawn) return;
    if (typeof window.vegaEmbed !== "function") { box.dataset.drawn = "no vegaEmbed"; return; }
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
