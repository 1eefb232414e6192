"""Execute a book notebook (MyST markdown) through papermill, as a researcher would."""
from __future__ import annotations

import json
from pathlib import Path

import jupytext
import nbformat
import papermill
import pytest

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


@pytest.fixture
def notebook_env(tmp_path, monkeypatch):
    """Tmp results and model cache for one test; the papermill kernel inherits os.environ.
    Import it into a test module (``from notebooks import notebook_env``) to use it."""
    monkeypatch.setenv("LATENTGEOM_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("LATENTGEOM_CACHE", str(tmp_path / "cache" / "models"))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    return tmp_path


def finding(results_dir: Path, finding_id: str) -> dict:
    """The result JSON a notebook wrote."""
    path = Path(results_dir) / "findings" / f"{finding_id}.json"
    assert path.is_file(), f"notebook did not write {path}"
    return json.loads(path.read_text())


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


def isolated_env(tmp_path_factory, name: str, threads: int = 2):
    """Generator for a module-scoped fixture: tmp results and model cache under one folder
    (``LATENTGEOM_RESULTS``, ``LATENTGEOM_CACHE``; the papermill kernel inherits os.environ).
    Yields the folder."""
    import pytest

    root = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTGEOM_RESULTS", str(root / "results"))
        mp.setenv("LATENTGEOM_CACHE", str(root / "cache" / "models"))
        mp.setenv("OMP_NUM_THREADS", str(threads))
        yield root
