"""Sphinx extension (local to this book): keep the static site's pages clean in a browser.

* Drops sphinx-thebe's scripts when thebe is off (``launch_buttons: thebe`` is not set, as in
  this book): with Sphinx 7.4 its inline ``const THEBE_JS_URL = ...`` config is emitted twice
  per page, which is a console SyntaxError, and it names a CDN (unpkg) the offline site must
  not depend on.
* Removes exact duplicate <script> entries of any other origin.
* Adds a provenance footer to every page: the commit, the build date, the preset the page
  executed at and the machine class that executed it, taken from the build itself
  (:mod:`latentgeom.reporting.provenance`).

scripts/check_site.py checks the result in headless Chromium.
"""
from __future__ import annotations

import html
import os
from pathlib import Path


def _thebe_enabled(app) -> bool:
    options = getattr(app.config, "html_theme_options", None) or {}
    launch = options.get("launch_buttons") or {}
    thebe = getattr(app.config, "thebe_config", None) or {}
    return bool(launch.get("thebe")) or str(thebe.get("always_load")).lower() == "true"


def _is_thebe(js) -> bool:
    filename = str(getattr(js, "filename", "") or "")
    body = str((getattr(js, "attributes", None) or {}).get("body", ""))
    return filename.split("?")[0].endswith("sphinx-thebe.js") or "THEBE_JS_URL" in body


def prune_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    drop_thebe = not _thebe_enabled(app)
    kept, seen = [], set()
    for js in scripts:
        if drop_thebe and _is_thebe(js):
            continue
        attributes = getattr(js, "attributes", None) or {}
        key = (str(getattr(js, "filename", js)), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    context["script_files"] = kept


def _build_info(app) -> dict:
    from latentgeom.reporting.provenance import build_provenance

    if not hasattr(app, "_latentgeom_provenance"):
        app._latentgeom_provenance = build_provenance(app.srcdir)
    return app._latentgeom_provenance


def provenance_footer(app, pagename, templatename, context, doctree):
    """Append the page's provenance (commit, date, preset, machine) to its body."""
    if "body" not in context or doctree is None:
        return
    from latentgeom.reporting.provenance import page_preset
    from latentgeom.paths import results_dir

    info = _build_info(app)
    source = Path(app.env.doc2path(pagename))
    notebook = os.path.relpath(source, app.srcdir).replace(os.sep, "/")
    preset = page_preset(source, results_dir() / "findings", notebook)
    parts = [f"Built from commit <code>{html.escape(info['commit'])}</code> on {html.escape(info['date'])}",
             f"preset <code>{html.escape(preset)}</code>" if preset else "no preset (no model is trained here)",
             f"executed on {html.escape(info['machine'])}"]
    context["body"] += ('\n<footer class="lg-provenance" style="margin-top:2.5em;padding-top:.6em;'
                        'border-top:1px solid #ccc;font-size:.85em;color:#555">'
                        f'<p>{" · ".join(parts)}.</p></footer>\n')


def setup(app):
    # Late, so that scripts other extensions add for the page are seen too.
    app.connect("html-page-context", prune_scripts, priority=900)
    app.connect("html-page-context", provenance_footer, priority=901)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
