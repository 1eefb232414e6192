"""The static site draws offline in a real browser (scripts/check_site.py, headless Chromium).

A tiny book (the real _config.yml, a markdown page with math, a MyST notebook drawing one
altair chart through latentgeom.reporting.plots) is built with jupyter-book -W and must pass the check;
hand-made broken pages must fail it. Without Chromium + chromedriver (scripts/setup-system.sh
installs them) these tests skip, or fail under CI=1 / LATENTGEOM_REQUIRE_BROWSER=1.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
"""

TOC = """\
format: jb-book
root: book/intro
chapters:
  - file: book/findings/tiny-chart
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


@pytest.mark.slow
def test_tiny_site_passes_browser_check(browser, tiny_site):
    result = _run_check(tiny_site)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout
    shots = tiny_site / "_screenshots"
    for name in ("landing.png", "finding.png"):
        png = shots / name
        assert png.is_file() and png.stat().st_size > 5000, png
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert str(png) in result.stdout


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

    result = _run_check(site, "--screenshots", str(tmp_path / "shots"))
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "FAILED" in out
    assert "image did not load: ../../_images/missing.svg" in out
    assert "undefinedFunctionInTheBook" in out  # the console error, with its message
    assert "off-site script: https://cdn.jsdelivr.net/npm/vega@5" in out
    assert "empty cell output" in out and "chart did not draw" in out
    assert "MathJax did not load (1 formulas on the page)" in out
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
