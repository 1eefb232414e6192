"""The static site draws offline in a real browser (scripts/check_site.py, headless Chromium).

A tiny book (the real _config.yml and _ext, a markdown page with math, a MyST notebook drawing a
profile and a scatter through latentgeom.reporting.plots, and the real API reference page) is
built with jupyter-book -W -n and must pass the check: interactive charts drawn from the site's
own Vega bundle, a tooltip on hover, no off-site request; hand-made broken pages must fail it.
Without Chromium + chromedriver (scripts/setup-system.sh installs them) these tests skip, or
fail under CI=1 / LATENTGEOM_REQUIRE_BROWSER=1.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from latentgeom.reporting import plots

ROOT = Path(__file__).resolve().parents[1]
CHECK = ROOT / "scripts" / "check_site.py"

_spec = importlib.util.spec_from_file_location("check_site", CHECK)
check_site = sys.modules["check_site"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_site)

INTRO = """\
# Tiny site

Inline math $\\kappa = \\frac{1}{r}$ and a display formula:

$$
\\operatorname{MAPC} = \\frac{1}{n} \\sum_{i=1}^{n} \\lvert H_i \\rvert
$$
"""

NOTEBOOK = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Tiny finding

The curvature $\\kappa$ falls with relative depth.

```{code-cell} ipython3
import pandas as pd
from latentgeom.reporting import plots

frame = pd.DataFrame({"relative_depth": [0.0, 0.5, 1.0], "mapc": [1.0, 0.5, 0.25],
                      "model": ["a"] * 3, "layer": ["l0", "l1", "l2"]})
plots.profile_chart(frame, title="tiny profile")
```

```{code-cell} ipython3
gaps = pd.DataFrame({"gap": [0.1, 0.2, 0.3, 0.5], "test_accuracy": [0.8, 0.85, 0.83, 0.9],
                     "model": ["vgg", "resnet"] * 2, "label": ["a", "b", "c", "d"],
                     "stage": ["final", "final", "checkpoint", "checkpoint"]})
plots.scatter_with_fit(gaps, "gap", "test_accuracy", color="model", title="gap vs accuracy")
```
"""

TOC = """\
format: jb-book
root: book/intro
chapters:
  - file: book/findings/tiny-chart
  - file: book/api/index
"""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def browser():
    """Chromium + chromedriver + selenium, installing the Debian packages when we can."""
    found = check_site.find_browser()
    if not all(found):
        subprocess.run(["bash", str(ROOT / "scripts" / "setup-system.sh")], check=False)
        found = check_site.find_browser()
    problem = None
    if not all(found):
        problem = ("Chromium and chromedriver are not installed and could not be installed: run "
                   "`sudo bash scripts/setup-system.sh` (Debian packages chromium, chromium-driver) "
                   "or set CHROME_BIN and CHROMEDRIVER")
    elif importlib.util.find_spec("selenium") is None:
        problem = "selenium is not installed: `make setup` (pip install -r requirements.txt)"
    if problem:
        if _truthy(os.environ.get("CI")) or _truthy(os.environ.get("LATENTGEOM_REQUIRE_BROWSER")):
            pytest.fail(f"browser check of the site cannot run in CI: {problem}")
        pytest.skip(problem)
    return found


def _run_check(html: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECK), str(html), *extra],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tiny_site(tmp_path_factory) -> Path:
    """A small book built with the real configuration; returns its _build/html."""
    src = tmp_path_factory.mktemp("site")
    shutil.copy(ROOT / "_config.yml", src / "_config.yml")
    shutil.copytree(ROOT / "_ext", src / "_ext")
    (src / "_toc.yml").write_text(TOC)
    (src / "book" / "findings").mkdir(parents=True)
    (src / "book" / "intro.md").write_text(INTRO)
    (src / "book" / "findings" / "tiny-chart.md").write_text(NOTEBOOK)
    (src / "book" / "api").mkdir()
    shutil.copy(ROOT / "book" / "api" / "index.md", src / "book" / "api" / "index.md")
    env = dict(os.environ, LATENTGEOM_HOME=str(ROOT))
    jb = Path(sys.executable).parent / "jupyter-book"
    build = subprocess.run([str(jb), "build", str(src), "-W", "-n", "--keep-going"], cwd=src, env=env,
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, f"jupyter-book build failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}"
    return src / "_build" / "html"


@pytest.mark.slow
def test_tiny_site_has_no_cdn_scripts(tiny_site):
    for page in tiny_site.rglob("*.html"):
        if "_static" in page.parts:
            continue
        html = page.read_text()
        assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html, page
    assert (tiny_site / "_static" / "mathjax" / "tex-chtml.js").is_file()
    bundle = tiny_site / "_static" / "vega-bundle.js"
    assert bundle.is_file() and bundle.stat().st_size > 500_000  # Vega + Vega-Lite + vega-embed, served here
    page = (tiny_site / "book" / "findings" / "tiny-chart.html").read_text()
    assert page.count('<div class="lg-chart"') == 2 and "_static/vega-bundle.js" in page
    assert "vega-bundle.js" not in (tiny_site / "book" / "intro.html").read_text()  # only where a chart is


@pytest.mark.slow
def test_tiny_site_passes_browser_check(browser, tiny_site):
    result = _run_check(tiny_site)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout
    assert "tooltips shown on hover: 2 " in result.stdout  # one point of each chart, hovered
    shots = tiny_site / "_screenshots"
    for name in ("landing.png", "finding.png"):
        png = shots / name
        assert png.is_file() and png.stat().st_size > 5000, png
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert str(png) in result.stdout


TINY_SPEC = {"$schema": "https://vega.github.io/schema/vega-lite/v6.json", "mark": "point",
             "data": {"values": [{"x": 1, "y": 2}]},
             "encoding": {"x": {"field": "x", "type": "quantitative"}, "y": {"field": "y", "type": "quantitative"}}}
TINY_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><rect width="20" height="20"/></svg>'


def _page(body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>"


@pytest.mark.slow
def test_broken_pages_fail_browser_check(tmp_path, browser):
    site = tmp_path / "html"
    (site / "book" / "findings").mkdir(parents=True)
    (site / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/intro.html" />')
    (site / "book" / "intro.html").write_text(_page("<h1>fine</h1><p>nothing wrong here</p>"))
    (site / "book" / "findings" / "broken-image.html").write_text(
        _page('<div class="cell_output"><img src="../../_images/missing.svg" alt="chart"></div>'))
    (site / "book" / "findings" / "script-error.html").write_text(
        _page("<p>text</p><script>undefinedFunctionInTheBook();</script>"))
    (site / "book" / "findings" / "cdn.html").write_text(
        _page("<p>text</p>", head='<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>'))
    (site / "book" / "findings" / "cdn-mathjax.html").write_text(
        _page('<p>Math: <span class="math notranslate nohighlight">\\(\\kappa\\)</span></p>',
              head='<script defer src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>'))
    (site / "book" / "findings" / "empty-chart.html").write_text(
        _page('<div class="cell_output docutils container"></div><div id="altair-viz-1"></div>'))
    (site / "book" / "findings" / "progress-bar.html").write_text(_page(
        '<div class="cell_output"><pre>train vgg_small w8:  50%|█████     | 2/4 '
        '[00:03&lt;00:03,  1.52s/it]</pre></div>'))
    (site / "book" / "findings" / "wide-code.html").write_text(_page(
        '<div class="cell_input"><pre style="width: 300px; overflow: auto">x = "' + "a" * 120 + '"</pre></div>'))
    (site / "book" / "findings" / "undrawn-chart.html").write_text(_page(
        '<div class="cell_output">' + plots.chart_html(TINY_SPEC, svg=TINY_SVG) + "</div>"))

    result = _run_check(site, "--screenshots", str(tmp_path / "shots"))
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "FAILED" in out
    assert "image did not load: ../../_images/missing.svg" in out
    assert "undefinedFunctionInTheBook" in out  # the console error, with its message
    assert "off-site script: https://cdn.jsdelivr.net/npm/vega@5" in out
    assert "empty cell output" in out and "chart did not draw" in out
    assert "MathJax did not load (1 formulas on the page)" in out
    assert "progress-bar (tqdm) text in the page" in out
    assert "code cell wider than the column (" in out and "126 characters" in out
    assert "interactive chart did not draw" in out and "no vegaEmbed" in out  # a page without the bundle
    # The good page is not reported, and the screenshots were still taken.
    assert "book/intro.html\n" not in out
    assert (tmp_path / "shots" / "landing.png").is_file()
    assert (tmp_path / "shots" / "finding.png").is_file()


@pytest.mark.slow
def test_every_page_shows_its_provenance(tiny_site):
    for name in ("book/intro.html", "book/findings/tiny-chart.html"):
        html = (tiny_site / name).read_text()
        footer = html[html.index('class="lg-provenance"'):]
        assert "Built from commit <code>" in footer and " UTC" in footer
        assert "CPU core" in footer and "GPU" in footer


@pytest.mark.slow
def test_tiny_site_has_no_broken_internal_links(tiny_site):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_links.py"), str(tiny_site)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_browser_check_runs_against_the_served_site(browser, tiny_site, tmp_path):
    """`make serve` (scripts/serve.py) serves the site, and the site check reads it by URL."""
    import re

    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "serve.py"), "--port", "0",
                             "--dir", str(tiny_site)], stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline()).group(0)
        result = _run_check(tiny_site, "--url", url, "--screenshots", str(tmp_path / "shots"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "shots" / "landing.png").is_file()


@pytest.mark.slow
def test_api_page_lists_every_public_name(tiny_site):
    """Every name of ``latentgeom.__all__`` has an entry (signature and docstring) on the API page,
    built nitpicky: a cross-reference that names nothing would have failed the build."""
    import re

    import latentgeom as lg

    html = (tiny_site / "book" / "api" / "index.html").read_text()
    ids = set(re.findall(r'id="([^"]+)"', html))
    missing = []
    for name in lg.__all__:
        obj = getattr(lg, name)
        target = f"module-{obj.__name__}" if isinstance(obj, type(lg)) else f"latentgeom.{name}"
        if target not in ids:
            missing.append(name)
    assert not missing, f"public names without an entry on the API page: {missing}"
    entry = html[html.index('id="latentgeom.curvature_profile"'):]
    assert "Parameters" in entry[:4000] and "images" in entry[:4000]  # the docstring, as numpydoc


@pytest.mark.slow
def test_notebook_pages_have_repository_launch_and_download_buttons(tiny_site):
    import yaml

    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    page = (tiny_site / "book" / "findings" / "tiny-chart.html").read_text()
    assert f'href="{url}"' in page  # the repository button
    assert f"{url}/edit/main/book/findings/tiny-chart.md" in page and f"{url}/issues/new" in page
    assert "https://mybinder.org/v2/gh/" in page and "https://colab.research.google.com/github/" in page
    assert "_sources/book/findings/tiny-chart.md" in page and "_sources/book/findings/tiny-chart.ipynb" in page
    assert (tiny_site / "_sources" / "book" / "findings" / "tiny-chart.ipynb").is_file()
