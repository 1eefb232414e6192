"""Build the book: execute every notebook (fresh, no execution cache) and write static HTML.

Prints where the HTML is and how long each notebook took to execute. Any notebook error or
Sphinx warning fails the build (exit status != 0), and so does a broken internal link or
anchor (scripts/check_links.py; external links are listed in _build/external-links.txt, not
fetched). The site is packed into _build/latent-geometry-site.tar.gz (host it anywhere: it is
plain static HTML). A successful build is then opened page by
page in headless Chromium (scripts/check_site.py: console errors, broken images, undrawn
charts or math, off-site scripts fail the build too), which also saves screenshots of the
landing page and of a finding into _build/html/_screenshots/. LATENTGEOM_SKIP_SITE_CHECK=1
skips that check (for a machine without Chromium; CI never sets it).
"""
from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
ARTIFACT = BUILD / "latent-geometry-site.tar.gz"


def notebook_times() -> list[tuple[str, float]]:
    env_file = BUILD / ".doctrees" / "environment.pickle"
    if not env_file.exists():
        return []
    with env_file.open("rb") as fh:
        env = pickle.load(fh)
    meta = getattr(env, "nb_metadata", {}) or {}
    rows = []
    for doc, data in sorted(meta.items()):
        exec_data = data.get("exec_data") or {}
        if exec_data.get("runtime") is not None:
            rows.append((doc, float(exec_data["runtime"])))
    return rows


def main() -> int:
    # Stale results from an earlier build must not reach the scorecard.
    shutil.rmtree(ROOT / "results" / "findings", ignore_errors=True)
    shutil.rmtree(BUILD / ".doctrees", ignore_errors=True)
    start = time.time()
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "-W", "-n", "--keep-going"]
    print("+", " ".join(cmd), flush=True)
    status = subprocess.call(cmd, cwd=ROOT)
    total = time.time() - start
    times = notebook_times()
    if times:
        print("\nNotebook execution times:")
        for doc, seconds in times:
            print(f"  {seconds:8.1f} s  {doc}")
        print(f"  {sum(s for _, s in times):8.1f} s  all notebooks")
    print(f"\nBook build took {total:.0f} s; exit status {status}.")
    if status != 0:
        return status
    cmd = [sys.executable, str(ROOT / "scripts" / "check_links.py"), str(BUILD / "html")]
    print("\n+", " ".join(cmd), flush=True)
    status = subprocess.call(cmd, cwd=ROOT)
    if status != 0:
        print(f"\nLink check failed (exit status {status}): the build fails.")
        return status
    status = check_site()
    if status == 0:
        pack_site()
        print(f"HTML: {BUILD / 'html' / 'index.html'}")
        print(f"Site artifact: {ARTIFACT} ({ARTIFACT.stat().st_size / 1e6:.1f} MB)")
        print(vega_bundle_report(BUILD / "html"))
    return status


def vega_bundle_report(html: Path) -> str:
    """What the charts' Vega runtime adds to the site: the bundle's size and the pages that load it."""
    bundle = html / "_static" / "vega-bundle.js"
    if not bundle.is_file():
        return "Vega bundle: none (no page has an interactive chart)"
    pages = sum("_static/vega-bundle.js" in page.read_text(errors="replace")
                for page in html.rglob("*.html") if "_static" not in page.parts)
    return (f"Vega bundle: {bundle} ({bundle.stat().st_size:,} bytes), loaded by the {pages} page(s) "
            "with an interactive chart")


def pack_site() -> Path:
    """``_build/html`` as ``_build/latent-geometry-site.tar.gz`` (top folder ``latent-geometry-site/``),
    screenshots of the site check left out."""
    tmp = ARTIFACT.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(BUILD / "html", arcname="latent-geometry-site",
                filter=lambda info: None if "/_screenshots" in info.name else info)
    os.replace(tmp, ARTIFACT)
    return ARTIFACT


def check_site() -> int:
    """Open the built site in headless Chromium (scripts/check_site.py); its exit status."""
    if os.environ.get("LATENTGEOM_SKIP_SITE_CHECK") == "1":
        print("\nSite check skipped (LATENTGEOM_SKIP_SITE_CHECK=1).")
        return 0
    shots = BUILD / "html" / "_screenshots"
    cmd = [sys.executable, str(ROOT / "scripts" / "check_site.py"), str(BUILD / "html"), "--screenshots", str(shots)]
    print("\n+", " ".join(cmd), flush=True)
    status = subprocess.call(cmd, cwd=ROOT)
    if status != 0:
        print(f"\nSite check failed (exit status {status}): the build fails.")
        return status
    for png in sorted(shots.glob("*.png")):
        print(f"Screenshot: {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
