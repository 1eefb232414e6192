"""Execute a book notebook (MyST markdown) through papermill, as a researcher would."""
from __future__ import annotations

import json
import re
from pathlib import Path

import jupytext
import nbformat
import papermill

ROOT = Path(__file__).resolve().parents[1]


def execute(notebook: str, tmp_path: Path, **parameters) -> nbformat.NotebookNode:
    """Run ``book/...md`` with ``parameters`` injected; returns the executed notebook.

    Results land in ``tmp_path/results`` (``LATENTGEOM_RESULTS`` is set by the caller's
    fixture or here), so tests never touch the book's own results.
    """
    source = ROOT / notebook
    nb = jupytext.read(source)
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    src = tmp_path / (source.stem + ".input.ipynb")
    out = tmp_path / (source.stem + ".ipynb")
    nbformat.write(nb, src)
    papermill.execute_notebook(str(src), str(out), parameters=parameters, cwd=str(source.parent),
                               kernel_name="python3", progress_bar=False)
    return nbformat.read(out, as_version=4)


def finding(results_dir: Path, finding_id: str) -> dict:
    """The result JSON a notebook wrote."""
    path = Path(results_dir) / "findings" / f"{finding_id}.json"
    assert path.is_file(), f"notebook did not write {path}"
    return json.loads(path.read_text())


#: A myst-nb glue reference in Markdown: ``{glue}`key```, ``{glue:text}`key:.3g```, ...
GLUE_REFERENCE = re.compile(r"\{glue(?::\w+)?\}`([^`]+)`")


def glue_references(notebook: str) -> list[tuple[str, str]]:
    """``(key, format_spec)`` of every glue reference in the Markdown of a book page (``""``
    when the reference has no format specification)."""
    nb = jupytext.read(ROOT / notebook)
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for text in GLUE_REFERENCE.findall(cell.source):
                key, _, spec = text.partition(":")
                found.append((key, spec))
    return found


def glued(nb: nbformat.NotebookNode) -> dict[str, str]:
    """``{key: text/plain}`` of every value an executed notebook glued (myst-nb ``glue``)."""
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("scrapbook")
            if meta:
                values[meta["name"]] = output["data"][meta.get("mime_prefix", "") + "text/plain"]
    return values


def pasted_prose(notebook: str, nb: nbformat.NotebookNode) -> dict[str, str]:
    """Every glue reference of ``notebook``'s Markdown as the book would paste it from the
    executed ``nb`` (myst-nb's own formatter): ``{reference: text}``. Raises ``KeyError`` for a
    key the run did not glue, and whatever the formatter raises for a value its format does not
    fit (both fail the book's build)."""
    from myst_nb.core.variables import format_plain_text

    values = glued(nb)
    return {f"{key}:{spec}": format_plain_text(values[key], spec or "s")
            for key, spec in glue_references(notebook)}


def parameter_names(notebook: str) -> set[str]:
    """Names assigned in the notebook's `parameters` cell."""
    nb = jupytext.read(ROOT / notebook)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{notebook} must have exactly one cell tagged 'parameters'"
    names = set()
    for line in cells[0].source.splitlines():
        head = line.split("#")[0]
        if "=" in head and not head.startswith((" ", "\t")):
            names.add(head.split("=")[0].strip())
    return names


def leaves(value):
    """Every leaf of a nested JSON value (dicts and lists walked)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v)
    else:
        yield value


def numbers(value) -> list:
    """The numeric leaves of a nested JSON value (booleans excluded)."""
    return [v for v in leaves(value) if isinstance(v, (int, float)) and not isinstance(v, bool)]


