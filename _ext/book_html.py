"""Sphinx extension (local to this book): keep the static site's pages clean in a browser.

* Drops sphinx-thebe's scripts when thebe is off (``launch_buttons: thebe`` is not set, as in
  this book): with Sphinx 7.4 its inline ``const THEBE_JS_URL = ...`` config is emitted twice
  per page, which is a console SyntaxError, and it names a CDN (unpkg) the offline site must
  not depend on.
* Removes exact duplicate <script> entries of any other origin.
* Adds a provenance footer to every page: the commit, the build date, the preset the page
  executed at and the machine class that executed it, taken from the build itself
  (:mod:`latentgeom.reporting.provenance`).
* Serves the Vega runtime from the site itself: one bundle of Vega, Vega-Lite and vega-embed
  (``vl_convert.javascript_bundle``, wrapped so that its top-level names stay private) is written
  to ``_static/vega-bundle.js`` and loaded (deferred) only by the pages that hold a chart of
  :mod:`latentgeom.reporting.plots` (``<div class="lg-chart">``), which draws itself from it.
* Adds ``_static/latentgeom.css``: code cells of up to 88 characters fit the content column at
  a 1280 px window (a narrower right-hand table of contents, 13 px code), and the compact
  scorecard's badges.
* For the API reference (book/api/index.md, sphinx.ext.autodoc + napoleon, built nitpicky):
  ``|kappa|`` in a docstring is text, not an rST substitution; and a Python cross-reference
  that Sphinx cannot find is resolved by importing it (:func:`resolve_python_reference`): a
  public object of ``latentgeom`` links to its entry in the reference, any other object that
  exists is shown unlinked, and a name that names nothing stays a broken reference, which
  fails the build.

scripts/check_site.py checks the result in headless Chromium.
"""
from __future__ import annotations

import html
import importlib
import os
import re
from pathlib import Path

#: The file name of the Vega bundle under _static/.
VEGA_BUNDLE = "vega-bundle.js"
#: The page marker of a chart drawn by the bundle (latentgeom.reporting.plots.chart_html).
CHART_MARKER = 'class="lg-chart"'
CSS_FILE = "latentgeom.css"
CSS = """\
/* latent-geometry: written by _ext/book_html.py. */
/* A narrower right-hand table of contents (pydata: 17rem) leaves the article ~815 px at 1280 px. */
html { --pst-sidebar-secondary: 13rem; }
/* Code cells: 88 characters fit the column without a horizontal scrollbar. */
div.cell_input div.highlight pre, div.cell_input pre { font-size: 13px; padding: 0.75rem 0.75rem; }
/* Charts: never wider than the column; the live chart replaces the static image. */
div.lg-chart { max-width: 100%; overflow-x: auto; margin: 0.5rem 0; }
div.lg-chart img.lg-chart-static { max-width: 100%; height: auto; }
#vg-tooltip-element { font-size: 13px; }
/* The compact scorecard (latentgeom.reporting.scorecard.scorecard_html). */
table.lg-scorecard, .bd-content div.output table.lg-scorecard { border-collapse: collapse; width: 100%;
  font-size: 0.9rem; table-layout: fixed; }
table.lg-scorecard caption { caption-side: bottom; font-size: 0.8rem; text-align: left; }
table.lg-scorecard th, table.lg-scorecard td { padding: 0.35rem 0.5rem; vertical-align: top;
  border-bottom: 1px solid var(--pst-color-border, #ddd); text-align: left; }
table.lg-scorecard td.lg-numbers { font-size: 0.85rem; }
table.lg-scorecard td.lg-numbers div { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
table.lg-scorecard details summary { cursor: pointer; color: var(--pst-color-link, #0a58ca); font-size: 0.8rem; }
span.lg-badge { display: inline-block; padding: 0.05rem 0.45rem; margin: 0.1rem 0.15rem 0.1rem 0;
  border-radius: 0.7rem; font-size: 0.78rem; line-height: 1.4; white-space: nowrap; color: #fff; }
span.lg-badge b { font-weight: 600; opacity: 0.85; margin-right: 0.25rem; }
span.lg-reproduced { background: #1a7f37; }
span.lg-partly { background: #9a6700; }
span.lg-not { background: #cf222e; }
span.lg-unstable { background: #8250df; }
span.lg-none { background: #6e7781; }
"""


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


def _static_dir(app) -> Path:
    """A folder of files this extension writes for _static/ (beside the HTML output)."""
    return Path(app.outdir).parent / ".latentgeom-static"


def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed in one classic script, from the installed vl-convert
    (no network): its top-level declarations wrapped in a function, so that they cannot clash
    with another script's globals; it sets ``window.vegaEmbed``, ``window.vega``,
    ``window.vegaLite``."""
    import vl_convert

    from latentgeom.reporting.plots import VEGALITE_VERSION

    body = vl_convert.javascript_bundle(vl_version=f"v{VEGALITE_VERSION}")
    head = f"/* Vega + Vega-Lite {VEGALITE_VERSION} + vega-embed: vl_convert.javascript_bundle(). */"
    return f"{head}\n(function () {{\n{body}\n}})();\n"


def write_static_files(app):
    """Write the Vega bundle (once per vl-convert and Vega-Lite version) and the CSS, and serve
    them from _static/."""
    if app.builder.format != "html":
        return
    import importlib.metadata

    from latentgeom.reporting.plots import VEGALITE_VERSION

    folder = _static_dir(app)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = f"{importlib.metadata.version('vl-convert-python')} vega-lite {VEGALITE_VERSION}"
    bundle, stamp_file = folder / VEGA_BUNDLE, folder.parent / ".latentgeom-vega-bundle.version"
    if not bundle.is_file() or not stamp_file.is_file() or stamp_file.read_text() != stamp:
        tmp = bundle.with_suffix(".tmp")
        tmp.write_text(vega_bundle())
        os.replace(tmp, bundle)
        stamp_file.write_text(stamp)
    (folder / CSS_FILE).write_text(CSS)
    app.config.html_static_path = [*app.config.html_static_path, str(folder)]
    app.add_css_file(CSS_FILE)


def add_vega_bundle(app, pagename, templatename, context, doctree):
    """Load the Vega bundle on the pages that hold a chart (deferred: the charts draw once the
    document is parsed)."""
    if CHART_MARKER in (context.get("body") or ""):
        app.add_js_file(VEGA_BUNDLE, loading_method="defer")


_LITERAL = re.compile(r"(``.*?``|`[^`]*`)")
_BARS = re.compile(r"(?<![\\|\w])\|(?=[^\s|])([^|\n]*?[^\s|\\])\|(?![|\w])")


def escape_bars(app, what, name, obj, options, lines):
    """``|kappa|`` (an absolute value) in a docstring is text, not a substitution reference:
    bars outside inline literals and roles are escaped."""
    for i, line in enumerate(lines):
        if "|" in line:
            parts = _LITERAL.split(line)
            lines[i] = "".join(part if j % 2 else _BARS.sub(r"\\|\1\\|", part) for j, part in enumerate(parts))


_MISSING = object()


def _lookup(dotted: str):
    """The object a dotted name names (a module, then attributes), or a sentinel when none."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except Exception:  # noqa: BLE001 - not a module: try a shorter prefix
            continue
        for attr in parts[i:]:
            if hasattr(obj, attr):
                obj = getattr(obj, attr)
            elif attr in _fields(obj):  # a dataclass field or an annotated attribute
                obj = None
            else:
                return _MISSING
        return obj
    return _MISSING


def _fields(obj) -> set[str]:
    names = set(getattr(obj, "__dataclass_fields__", {}))
    for klass in getattr(obj, "__mro__", ()):
        names.update(getattr(klass, "__annotations__", {}))
    return names


def _defined_anywhere(name: str) -> bool:
    """Whether a short name (``CHUNK_BYTES``, ``load_step``, ``Study.clock``, ``result``) is an
    attribute of a loaded ``latentgeom`` module or of a class defined in one: the docstring of a
    re-exported object names its neighbours in its own module, which the reference cannot see."""
    import inspect
    import sys

    head, *rest = name.split(".")
    for mod_name, mod in list(sys.modules.items()):
        if mod is None or not (mod_name == "latentgeom" or mod_name.startswith("latentgeom.")):
            continue
        classes = [c for _, c in inspect.getmembers(mod, inspect.isclass) if c.__module__ == mod_name]
        for holder in (mod, *classes):
            obj = holder
            for attr in (head, *rest):
                if hasattr(obj, attr):
                    obj = getattr(obj, attr)
                elif attr in _fields(obj):
                    obj = None
                else:
                    break
            else:
                return True
    return False


def _candidates(target: str, module: str | None, klass: str | None) -> list[str]:
    """Where a (possibly relative) Python reference may point, as Sphinx would search it."""
    relative = target.startswith(".")
    target = target.lstrip(".")
    scopes = []
    if module:
        parts = module.split(".")
        scopes = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
        if klass:
            scopes.insert(0, f"{module}.{klass}")
    names = [f"{scope}.{target}" for scope in scopes]
    return names if relative else [target, *names]


def _public_names() -> dict[int, str]:
    import latentgeom

    names = {}
    for name in latentgeom.__all__:
        obj = getattr(latentgeom, name)
        names.setdefault(id(obj), obj.__name__ if isinstance(obj, type(latentgeom)) else f"latentgeom.{name}")
    return names


def resolve_python_reference(app, env, node, contnode):
    """A Python cross-reference Sphinx did not find: linked to the public name of the same object
    when ``latentgeom`` exports it, shown unlinked when the object exists (a private helper, a
    module without a page, another library), left broken (a warning: the build fails) when
    nothing has that name. A ``class`` reference outside ``latentgeom`` that names nothing is a
    numpydoc type written as text (``array-like, shape [n, D]``) and is shown as text."""
    if node.get("refdomain") != "py":
        return None
    target, kind = node.get("reftarget", ""), node.get("reftype")
    for name in _candidates(target, node.get("py:module"), node.get("py:class")):
        obj = _lookup(name)
        if obj is _MISSING:
            continue
        if not hasattr(env, "_latentgeom_public"):
            env._latentgeom_public = _public_names()
        public = env._latentgeom_public.get(id(obj))
        if public and public != target:
            domain = env.get_domain("py")
            for role in (kind, "obj"):
                found = domain.resolve_xref(env, node.get("refdoc", ""), app.builder, role, public, node, contnode)
                if found is not None:
                    return found
        return contnode
    if "latentgeom" not in target and not target.startswith("."):
        if kind == "class" or _defined_anywhere(target):
            return contnode
    return None


def setup(app):
    app.connect("autodoc-process-docstring", escape_bars)
    app.connect("missing-reference", resolve_python_reference)
    app.connect("builder-inited", write_static_files)
    app.connect("html-page-context", add_vega_bundle, priority=800)
    # Late, so that scripts other extensions add for the page are seen too.
    app.connect("html-page-context", prune_scripts, priority=900)
    app.connect("html-page-context", provenance_footer, priority=901)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
