"""Open every page of the built book in headless Chromium and check that it draws offline.

    python scripts/check_site.py _build/html [--screenshots DIR] [--url http://127.0.0.1:PORT]

The site is served from a local HTTP server on 127.0.0.1 (or read from ``--url``, a server
already running on this machine, e.g. ``make serve``), and Chromium resolves no other host, so
anything that would need the network shows up as a failure. One browser session
visits every HTML page and the check fails (exit status 1, with a list per page) on:

* any console error (uncaught exceptions, failed resource loads, console.error),
* any <img> that did not load (naturalWidth 0),
* any chart that did not draw: an interactive chart of latentgeom.reporting.plots
  (``<div class="lg-chart">``) that vega-embed did not draw from the site's own Vega bundle, an
  altair/vega placeholder without SVG or canvas, a chart image or inline SVG of zero size, a
  chart printed as its text repr, an empty cell output,
* an interactive chart whose points show no tooltip: the mouse is moved onto one point of every
  chart that has points, and the tooltip must appear with text,
* a code cell wider than the column on a page under book/findings/ (a horizontal scrollbar
  at the 1280 px window),
* progress-bar (tqdm) text anywhere in a page,
* any formula MathJax did not typeset (or a TeX error), MathJax not loading,
* any off-site <script src>, stylesheet/font/preload <link href> or <iframe src>, and any
  request the page made to another host.

It saves screenshots of the landing page (index.html, followed to the root page) and of
the first page under book/findings/ into DIR (default: BUILD_HTML_DIR/_screenshots).
Exit status 2 means the check could not run (no browser, no selenium, no such directory).
Needs the Debian packages chromium and chromium-driver (scripts/setup-system.sh), or
CHROME_BIN / CHROMEDRIVER pointing at a Chrome/Chromium and its chromedriver.
"""
from __future__ import annotations

import argparse
import base64
import http.server
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import start_server  # noqa: E402 - the one static-site server of scripts/

BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--no-first-run",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--window-size=1280,900",
    # Offline for real: no host but the local server resolves, so a CDN reference fails.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
SKIP_DIRS = {"_static", "_sources", "_images", "_screenshots", ".doctrees", "_downloads"}
SCREENSHOT_MAX_HEIGHT = 5000
REDIRECT_RE = re.compile(
    r"""<meta\s+http-equiv=["']?refresh["']?\s+content=["']?\s*\d+\s*;\s*url=([^"'>\s]+)""", re.I
)

# Waits (asynchronously) for MathJax's typesetting, every image, the web fonts and the
# interactive charts (each sets data-drawn when vega-embed has drawn it, or failed).
SETTLE_JS = r"""
const done = arguments[arguments.length - 1];
const deadline = Date.now() + arguments[0] * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  let mathjax = "none";
  if (document.querySelector(".math, mjx-container, script[src*='mathjax' i]")) {
    // MathJax's script is deferred, so after the load event it has run unless it failed to load:
    // give a script-loaded MathJax a short grace, not the whole page timeout.
    const grace = Math.min(deadline, Date.now() + 3000);
    while (!(window.MathJax && MathJax.startup && MathJax.startup.promise) && Date.now() < grace) {
      await sleep(50);
    }
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      try { await MathJax.startup.promise; mathjax = "ok"; }
      catch (e) { mathjax = "error: " + e; }
    } else { mathjax = "missing"; }
  }
  for (const img of document.images) {
    if (img.loading === "lazy") img.loading = "eager";
  }
  const pending = Array.from(document.images).filter((img) => !img.complete);
  await Promise.race([
    Promise.all(pending.map((img) => new Promise((r) => {
      img.addEventListener("load", r); img.addEventListener("error", r);
    }))),
    sleep(Math.max(0, deadline - Date.now())),
  ]);
  if (document.fonts && document.fonts.ready) {
    await Promise.race([document.fonts.ready, sleep(2000)]);
  }
  while (Array.from(document.querySelectorAll(".lg-chart")).some((c) => !c.dataset.drawn)
         && Date.now() < deadline) {
    await sleep(50);
  }
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return mathjax;
})().then(done, (e) => done("error: " + e));
"""

# Returns the problems found in the page's DOM, as a list of strings.
CHECK_JS = r"""
const mathjaxState = arguments[0];
const isFinding = arguments[1];
const problems = [];
const here = location.origin;
const offsite = (url) => {
  try {
    const u = new URL(url, location.href);
    return (u.protocol === "http:" || u.protocol === "https:") && u.origin !== here;
  } catch (e) { return false; }
};
const where = (el) => {
  const sec = el.closest("section[id]");
  return sec ? ` (in section #${sec.id})` : "";
};
const shown = (el) => (el.checkVisibility ? el.checkVisibility() : el.offsetParent !== null);
const short = (s, n = 120) => (s.length > n ? s.slice(0, n) + "..." : s);

// Off-site references in the DOM.
const reported = new Set();
for (const s of document.querySelectorAll("script[src]")) {
  if (offsite(s.src)) { problems.push(`off-site script: ${s.src}`); reported.add(s.src); }
}
for (const l of document.querySelectorAll("link[href]")) {
  const rel = (l.getAttribute("rel") || "").toLowerCase();
  if (/stylesheet|preload|modulepreload|prefetch|preconnect|dns-prefetch|icon|font|manifest/.test(rel)
      && offsite(l.href)) {
    problems.push(`off-site <link rel="${rel}">: ${l.href}`);
    reported.add(l.href);
  }
}
for (const f of document.querySelectorAll("iframe[src], embed[src], object[data]")) {
  const url = f.src || f.data;
  if (offsite(url)) { problems.push(`off-site <${f.tagName.toLowerCase()}>: ${url}`); reported.add(url); }
}
// Requests the page actually made (CSS @import, fonts, scripts loaded by scripts, ...).
for (const e of performance.getEntriesByType("resource")) {
  if (offsite(e.name) && !reported.has(e.name)) { problems.push(`off-site request: ${e.name}`); reported.add(e.name); }
}

// Images.
for (const img of document.images) {
  if (!img.complete || img.naturalWidth === 0) {
    problems.push(`image did not load: ${img.getAttribute("src")}${where(img)}`);
  }
}

// Interactive charts (latentgeom.reporting.plots): drawn by vega-embed from the site's bundle.
const charts = document.querySelectorAll(".lg-chart");
if (charts.length && typeof window.vegaEmbed !== "function") {
  problems.push(`${charts.length} interactive chart(s) but no vegaEmbed: _static/vega-bundle.js did not load`);
}
for (const c of charts) {
  const live = c.querySelector(".lg-chart-live svg");
  if (c.dataset.drawn !== "1" || !live || live.querySelectorAll(".role-mark").length === 0) {
    problems.push(`interactive chart did not draw: #${c.id} (state: ${c.dataset.drawn || "never drawn"})${where(c)}`);
  }
}

// Code cells wider than the column (a horizontal scrollbar), on finding pages.
if (isFinding) {
  for (const pre of document.querySelectorAll("div.cell_input pre")) {
    if (pre.scrollWidth > pre.clientWidth + 1) {
      const longest = pre.textContent.split("\n").reduce((a, b) => (b.length > a.length ? b : a), "");
      problems.push(`code cell wider than the column (${pre.scrollWidth} > ${pre.clientWidth} px; ` +
                    `${longest.length} characters: "${short(longest.trim(), 60)}")${where(pre)}`);
    }
  }
}

// Progress bars (tqdm) printed into the page.
const TQDM = [/\d{1,3}%\|[^|\n]{0,100}\|/, /\[\d+:\d\d<[\d:?]+/, /\d(\.\d+)?\s?(it\/s|s\/it)\b/];
{
  const text = document.body.innerText || "";
  const hit = TQDM.map((re) => text.match(re)).find((m) => m);
  if (hit) {
    const at = text.indexOf(hit[0]);
    const context = text.slice(Math.max(0, at - 30), at + 50).replace(/\s+/g, " ");
    problems.push(`progress-bar (tqdm) text in the page: "${short(context, 90)}"`);
  }
}

// Charts: altair/vega placeholders, chart images and inline SVG in cell outputs.
for (const v of document.querySelectorAll(".vega-embed, [id^='altair-viz'], .cell_output [id^='view-']")) {
  if (!v.querySelector("svg, canvas, img")) {
    problems.push(`chart did not draw: empty vega/altair placeholder <${v.tagName.toLowerCase()} ` +
                  `id="${v.id}" class="${v.className}">${where(v)}; render charts as SVG (latentgeom.reporting.plots)`);
  }
}
const outputs = document.querySelectorAll(".cell_output");
for (const out of outputs) {
  const hasContent = out.querySelector("img, svg, canvas, table, iframe, video, audio, math, mjx-container")
    || out.textContent.trim().length > 0;
  if (!hasContent) {
    problems.push(`empty cell output (a chart that did not render?)${where(out)}`);
  }
  for (const img of out.querySelectorAll("img")) {
    if (img.complete && img.naturalWidth > 0 && shown(img)) {
      const r = img.getBoundingClientRect();
      if (r.width < 1 || r.height < 1) {
        problems.push(`chart image has zero size on the page: ${img.getAttribute("src")}${where(img)}`);
      }
    }
  }
  for (const svg of out.querySelectorAll("svg")) {
    if (svg.parentElement.closest("svg")) continue;
    const r = svg.getBoundingClientRect();
    const w = shown(svg) ? r.width : parseFloat(svg.getAttribute("width") || "0");
    const h = shown(svg) ? r.height : parseFloat(svg.getAttribute("height") || "0");
    if (!(w >= 1 && h >= 1)) problems.push(`inline SVG chart has zero size${where(svg)}`);
    else if (svg.querySelectorAll("*").length < 3) problems.push(`inline SVG chart is blank${where(svg)}`);
  }
  for (const pre of out.querySelectorAll("pre")) {
    const text = pre.textContent.trim();
    if (/^(alt\.)?(Chart|LayerChart|ConcatChart|HConcatChart|VConcatChart|FacetChart|RepeatChart)\(/.test(text)
        || /^<(VegaLite|altair\.)/.test(text)) {
      problems.push(`chart printed as text instead of drawn: "${short(text, 60)}"${where(pre)}`);
    }
  }
}

// Math.
const formulas = Array.from(document.querySelectorAll(".math")).filter(
  (el) => !el.closest(".highlight, pre, code"));
if (formulas.length) {
  if (mathjaxState === "missing") {
    problems.push(`MathJax did not load (${formulas.length} formulas on the page)`);
  } else if (mathjaxState.startsWith("error")) {
    problems.push(`MathJax failed: ${mathjaxState}`);
  } else {
    const raw = formulas.filter((el) => !el.querySelector("mjx-container") && el.tagName !== "MJX-CONTAINER");
    if (raw.length) {
      const example = short(raw[0].textContent.trim(), 60);
      problems.push(`${raw.length} of ${formulas.length} formulas not typeset, e.g. "${example}"`);
    }
  }
}
for (const err of document.querySelectorAll("mjx-merror, [data-mjx-error]")) {
  problems.push(`TeX error: ${err.getAttribute("data-mjx-error") || short(err.textContent, 80)}`);
}
return problems;
"""


# The point marks of each drawn interactive chart: its id and how many points it has.
POINTS_JS = r"""
return Array.from(document.querySelectorAll(".lg-chart[data-drawn='1']")).map((c) => [
  c.id, c.querySelectorAll(".lg-chart-live svg g.mark-symbol.role-mark > path").length]);
"""
# Scrolls one point of a chart into view and returns it (or null).
POINT_JS = r"""
const chart = document.getElementById(arguments[0]);
const points = Array.from(chart.querySelectorAll(".lg-chart-live svg g.mark-symbol.role-mark > path"))
  .filter((p) => { const r = p.getBoundingClientRect(); return r.width > 0 && r.height > 0; });
if (!points.length) return null;
// The point nearest the middle of the chart (not one half under an axis).
const box = chart.getBoundingClientRect();
const far = (p) => {
  const r = p.getBoundingClientRect();
  return Math.hypot(r.x + r.width / 2 - (box.x + box.width / 2), r.y + r.height / 2 - (box.y + box.height / 2));
};
const point = points.reduce((a, b) => (far(b) < far(a) ? b : a));
point.scrollIntoView({block: "center", inline: "center"});
return point;
"""
# The tooltip vega-tooltip shows, if any: its text.
TOOLTIP_JS = r"""
const tip = document.getElementById("vg-tooltip-element");
if (!tip || !tip.classList.contains("visible")) return null;
return tip.innerText.trim();
"""


def hover_tooltips(drv, timeout: float = 2.0) -> tuple[list[str], int]:
    """Move the mouse onto one point of every drawn interactive chart that has points; each must
    show its tooltip (vega-tooltip's #vg-tooltip-element, visible, with text). Returns the
    problems and how many tooltips were seen."""
    from selenium.webdriver.common.action_chains import ActionChains

    problems, seen = [], 0
    for chart_id, n_points in drv.execute_script(POINTS_JS):
        if not n_points:
            continue
        point = drv.execute_script(POINT_JS, chart_id)
        if point is None:
            problems.append(f"no visible point to hover in chart #{chart_id}")
            continue
        ActionChains(drv).move_by_offset(0, 0).perform()
        ActionChains(drv).move_to_element(point).perform()
        text, deadline = None, time.time() + timeout
        while text is None and time.time() < deadline:
            time.sleep(0.05)
            text = drv.execute_script(TOOLTIP_JS)
        if not text:
            problems.append(f"hovering a point of chart #{chart_id} showed no tooltip")
        else:
            seen += 1
        ActionChains(drv).move_by_offset(0, 0).perform()
    return problems, seen


@dataclass
class PageResult:
    page: str
    problems: list[str] = field(default_factory=list)
    tooltips: int = 0


def find_browser() -> tuple[str | None, str | None]:
    """Paths of a Chrome/Chromium binary and of chromedriver (None where not found)."""
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    browser = os.environ.get("CHROME_BIN") or next((p for p in map(shutil.which, names) if p), None)
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    usable = lambda path: path if path and os.access(path, os.X_OK) and Path(path).is_file() else None  # noqa: E731
    return usable(browser), usable(driver)


def html_pages(root: Path) -> list[Path]:
    pages = []
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root)
        if not SKIP_DIRS.intersection(rel.parts[:-1]):
            pages.append(rel)
    return pages


def redirect_target(root: Path, page: Path) -> Path | None:
    """Where a meta-refresh page (like jupyter-book's index.html) points, relative to root."""
    match = REDIRECT_RE.search((root / page).read_text(errors="replace")[:4000])
    if not match:
        return None
    return Path(os.path.normpath(page.parent / match.group(1).split("#")[0].split("?")[0]))


def _serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    return start_server(root, quiet=True, background=True)


def _start_browser(browser: str, driver: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def _screenshot(drv, path: Path) -> None:
    """Full-page PNG (up to SCREENSHOT_MAX_HEIGHT px tall); the viewport if that fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        size = drv.execute_script(
            "return [document.documentElement.clientWidth,"
            " Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)]")
        clip = {"x": 0, "y": 0, "width": size[0], "height": min(size[1], SCREENSHOT_MAX_HEIGHT), "scale": 1}
        shot = drv.execute_cdp_cmd("Page.captureScreenshot",
                                   {"format": "png", "captureBeyondViewport": True, "clip": clip})
        path.write_bytes(base64.b64decode(shot["data"]))
    except Exception:  # noqa: BLE001 - any CDP trouble: a plain viewport screenshot will do
        drv.save_screenshot(str(path))


def _console_errors(drv, base: str) -> list[str]:
    errors = []
    for entry in drv.get_log("browser"):
        if entry.get("level") == "SEVERE":
            message = entry.get("message", "").replace(base + "/", "").replace(base, "")
            errors.append(f"console error: {message}")
    return errors


def check_site(root: Path, screenshots: Path | None, timeout: float = 30.0,
               log=print, base_url: str | None = None) -> tuple[list[PageResult], dict[str, Path]]:
    """Check every page under ``root``; returns the per-page results and the screenshots saved.

    Pages are loaded from a server started here on 127.0.0.1, or from ``base_url`` (a server on
    this machine that serves ``root``)."""
    browser, driver = find_browser()
    if not browser or not driver:
        raise RuntimeError(
            "Chromium and chromedriver are needed to check the site: run `bash scripts/setup-system.sh` "
            "as root (installs the Debian packages chromium and chromium-driver), or set CHROME_BIN "
            "and CHROMEDRIVER.")
    pages = html_pages(root)
    if not pages:
        raise RuntimeError(f"no HTML pages under {root}")

    # The pages to photograph: the landing page (index.html, followed) and the first finding.
    wanted: dict[Path, str] = {}
    landing = Path("index.html")
    if (root / landing).exists():
        target = redirect_target(root, landing)
        wanted[target if target and (root / target).exists() else landing] = "landing.png"
    findings = [p for p in pages if p.parts[:2] == ("book", "findings")]
    if findings:
        wanted.setdefault(findings[0], "finding.png")

    if screenshots is not None:  # no stale screenshot from an earlier build survives
        for name in ("landing.png", "finding.png"):
            (screenshots / name).unlink(missing_ok=True)

    results: list[PageResult] = []
    saved: dict[str, Path] = {}
    if base_url is not None:
        if not base_url.startswith(("http://127.", "http://localhost", "http://[::1]")):
            raise RuntimeError(f"--url must be a loopback address (http://127.0.0.1:PORT), got {base_url!r}")
        server, base = None, base_url.rstrip("/")
    else:
        server, base = _serve(root)
    drv = None
    try:
        drv = _start_browser(browser, driver)
        drv.set_page_load_timeout(timeout)
        drv.set_script_timeout(timeout + 10)
        for page in pages:
            result = PageResult(page.as_posix())
            results.append(result)
            target = redirect_target(root, page)
            if target is not None:
                # A redirect page only has to point at a page that exists; that page is checked itself.
                if not (root / target).exists():
                    result.problems.append(f"redirects to a missing page: {target.as_posix()}")
                continue
            drv.get(f"{base}/{page.as_posix()}")
            mathjax = drv.execute_async_script(SETTLE_JS, timeout)
            is_finding = page.parts[:2] == ("book", "findings")
            result.problems.extend(drv.execute_script(CHECK_JS, mathjax, is_finding))
            hover_problems, result.tooltips = hover_tooltips(drv)
            result.problems.extend(hover_problems)
            result.problems.extend(_console_errors(drv, base))
            if screenshots is not None and page in wanted:
                out = screenshots / wanted[page]
                _screenshot(drv, out)
                saved[page.as_posix()] = out
    finally:
        if drv is not None:
            drv.quit()
        if server is not None:
            server.shutdown()
            server.server_close()
    return results, saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_dir", type=Path, help="the built site, e.g. _build/html")
    parser.add_argument("--screenshots", type=Path, default=None,
                        help="where to save screenshots (default: HTML_DIR/_screenshots)")
    parser.add_argument("--no-screenshots", action="store_true", help="save no screenshots")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per page (default 30)")
    parser.add_argument("--url", default=None,
                        help="check the pages as served at this loopback URL (e.g. by `make serve`) instead of "
                             "starting a server")
    args = parser.parse_args(argv)

    root = args.html_dir.resolve()
    if not root.is_dir():
        print(f"check_site: {args.html_dir} is not a directory", file=sys.stderr)
        return 2
    shots = None if args.no_screenshots else (args.screenshots or root / "_screenshots").resolve()
    start = time.time()
    try:
        results, saved = check_site(root, shots, timeout=args.timeout, base_url=args.url)
    except ImportError as exc:
        print(f"check_site: {exc}; install the pinned requirements (make setup)", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"check_site: {exc}", file=sys.stderr)
        return 2

    bad = [r for r in results if r.problems]
    n_problems = sum(len(r.problems) for r in bad)
    print(f"check_site: {len(results)} pages checked in headless Chromium in {time.time() - start:.1f} s")
    print(f"check_site: tooltips shown on hover: {sum(r.tooltips for r in results)} "
          f"(one point per interactive chart)")
    for page, path in saved.items():
        print(f"check_site: screenshot of {page}: {path}")
    if bad:
        print(f"check_site: FAILED, {n_problems} problem(s) on {len(bad)} page(s):")
        for r in bad:
            print(f"  {r.page}")
            for problem in r.problems:
                print(f"    - {problem}")
        return 1
    print("check_site: OK (no console errors, broken images, undrawn charts, missing tooltips, untypeset math, "
          "off-site references, code cells wider than the column on finding pages, or progress-bar text)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
