"""The library's shape: imports run one way (bottom to top), modules keep one role and a
readable size, pages stay narrative + parameters + calls + charts, and every page's
parameters are declared and checked."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib" / "latentgeom"

#: The layers of the library, bottom to top: a module may import its own layer and the ones
#: below, never one above. Within layer 1 the subpackages stay apart (estimators measure arrays,
#: networks make them, reporting turns results into verdicts, tables and charts).
LAYERS = {
    "paths": 0, "validation": 0, "storage": 0, "progress": 0,
    "estimators": 1, "networks": 1, "reporting": 1, "synthetic": 1,
    "profiles": 2, "sample_geometry": 2,
    "units": 3, "workers": 3,
    "chapters": 4,
    "sweep": 5, "__main__": 5,
    "__init__": 6,
}
SEPARATE = {"estimators", "networks", "reporting", "synthetic"}
#: Modules allowed above ~400 lines, with the reason.
LONG_MODULES = {}
MAX_MODULE_LINES = 400


def _top(module: str) -> str:
    """``latentgeom.chapters.curvature`` -> ``chapters``; ``latentgeom`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(LIB.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts) if len(parts) > 1 else "latentgeom"
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every latentgeom import in a file, at any depth (function
    bodies included)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                targets = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            else:
                targets = [node.module] if node.module else []
            found += [(node.lineno, t) for t in targets if t and t.split(".")[0] == "latentgeom"]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "latentgeom"]
    return found


def _library_files() -> list[Path]:
    return sorted(p for p in LIB.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_has_a_layer():
    tops = {_top(_module_name(p)) for p in _library_files()}
    assert tops <= set(LAYERS), f"modules without a layer: {sorted(tops - set(LAYERS))}"


def test_imports_run_one_way():
    """No module imports a layer above its own (chapters never import the sweep), and the
    subpackages of layer 1 import none of each other."""
    wrong = []
    for path in _library_files():
        me = _top(_module_name(path))
        for line, target in _imports(path):
            other = _top(target)
            if other == me:
                continue
            if LAYERS[other] > LAYERS[me] or (me in SEPARATE and other in SEPARATE):
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({me}, layer {LAYERS[me]}) imports {target} "
                             f"({other}, layer {LAYERS[other]})")
    assert not wrong, "imports running upward or sideways:\n" + "\n".join(wrong)


def test_the_walker_sees_an_upward_import(tmp_path):
    """The check above can fail: a chapter importing the sweep inside a function is caught."""
    fake = LIB / "chapters" / "_upward_probe.py"
    try:
        fake.write_text("def f():\n    from .. import sweep\n    return sweep\n")
        imports = _imports(fake)
        assert imports == [(2, "latentgeom.sweep")]
        assert LAYERS[_top(imports[0][1])] > LAYERS[_top(_module_name(fake))]
    finally:
        fake.unlink()


def test_modules_are_of_readable_size():
    sizes = {str(p.relative_to(LIB)): len(p.read_text().splitlines()) for p in _library_files()}
    long = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES and name not in LONG_MODULES}
    assert not long, f"modules above {MAX_MODULE_LINES} lines (split them by role): {long}"


def _modules_loaded_by(code: str) -> set[str]:
    """The names of the modules a fresh interpreter has loaded after running ``code``."""
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return set(out.stdout.split())


def test_imports_load_only_what_they_use():
    """``import latentgeom`` loads nothing heavy (its names load on first use), a worker's
    imports load no chapter, torchvision, altair or scipy.optimize (seconds of every worker
    process's start), a page's chapter loads no other chapter, and every public name still
    resolves."""
    bare = _modules_loaded_by("import latentgeom")
    assert not {"torch", "numpy", "pandas", "latentgeom.chapters"} & bare
    worker = _modules_loaded_by("import latentgeom.units, latentgeom.workers")
    assert "torch" in worker
    assert not {"torchvision", "altair", "scipy.optimize"} & worker
    assert not {m for m in worker if m.startswith("latentgeom.chapters")}
    page = _modules_loaded_by("from latentgeom.chapters import curvature")
    assert "latentgeom.chapters.curvature" in page
    assert not {"torchvision", "latentgeom.chapters.own_network", "latentgeom.chapters.toroids"} & page
    import latentgeom as lg

    assert set(lg.__all__) <= set(dir(lg))
    assert all(getattr(lg, name) is not None for name in lg.__all__)
    assert lg.chapters.attribution.__name__ == "latentgeom.chapters.attribution"  # any module of the package
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        lg.nothing  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        lg.chapters.nothing  # noqa: B018


PAGES = sorted((ROOT / "book").rglob("*.md"))


def _code_cells(page: Path):
    return [c for c in jupytext.read(page).cells if c.cell_type == "code"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_are_narrative_parameters_calls_and_charts(page):
    cells = _code_cells(page)
    lines = [line for c in cells for line in c.source.splitlines()]
    assert len(lines) <= 250, f"{len(lines)} code lines"
    too_long = [line for line in lines if len(line) > 88]
    assert not too_long, f"code lines over 88 characters: {too_long}"
    assert not any("perf_counter" in c.source for c in cells), "pages time through their study, not T0 cells"


def test_every_page_with_parameters_belongs_to_a_chapter():
    """Every page with a parameters cell is a chapter's Page, and declares exactly the
    parameters that Page checks."""
    from latentgeom.chapters.protocol import page_parameters
    from latentgeom.sweep import chapters, pages_of

    declared = {page.path: page for chapter in chapters().values() for page in pages_of(chapter)}
    for path in PAGES:
        rel = str(path.relative_to(ROOT / "book"))
        values = page_parameters(path)
        if not values or rel.startswith("methods/"):
            continue  # methods pages take plain sizes, checked by their own cells
        assert rel in declared, f"{rel} has parameters but no chapter declares it"
        assert set(values) == set(declared[rel].parameters), rel
        declared[rel].check(values)


def test_run_notebook_refuses_an_undeclared_parameter():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_notebook.py"),
                          "book/findings/curvature-4-id-vs-curvature.md", "-p", "preset", "tiny",
                          "-p", "bogus", "3"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert "no parameter(s) ['bogus']" in out.stderr and "'n_points'" in out.stderr
