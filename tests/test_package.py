"""`pip install .` gives `latentgeom` with its runtime dependencies only.

The wheel is built from a copy of the package sources (no network: the venv's setuptools, no
build isolation) and checked twice:

* its metadata: ``Requires-Dist`` is exactly the runtime dependencies of pyproject.toml (none of
  the book's or the tests' tools: jupyter-book, selenium, papermill, pytest, ...), and it holds
  the package only (no book, tests or scripts);
* in use: the wheel is installed (``--no-deps``) into a fresh venv that sees only those runtime
  dependencies and what they need in turn (the packages pip would install for them, taken from
  this venv through a path file instead of downloaded: torch alone is gigabytes), and none of the
  book's tools. There `import latentgeom` and two estimators (MAPC on a sphere, TwoNN on a
  plane) run and give the known answers, and no book tool is importable or imported.
"""
from __future__ import annotations

import email
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = {re.split(r"[<>=!~ \[;]", d)[0].lower() for d in
           tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
#: The book's and the tests' tools: never a dependency of the library.
BOOK_TOOLS = {"jupyter-book", "selenium", "papermill", "pytest", "jupytext", "ipykernel", "ruff", "sphinx",
              "myst-nb", "nbformat", "sphinx-mathjax-offline", "submitit", "scikit-dimension"}
BOOK_MODULES = ["jupyter_book", "selenium", "papermill", "pytest", "jupytext", "ipykernel", "sphinx", "myst_nb",
                "nbformat", "submitit", "yaml", "IPython"]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    shutil.copytree(ROOT / "lib", src / "lib", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("wheelhouse")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(out), str(src)], check=True, timeout=300)
    [built] = out.glob("latentgeom-*.whl")
    return built


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_string(zf.read(name).decode())


def test_wheel_requires_the_runtime_dependencies_only(wheel):
    requires = {_norm(re.split(r"[<>=!~ \[;(]", r)[0]) for r in _metadata(wheel).get_all("Requires-Dist") or []}
    assert requires == {_norm(n) for n in RUNTIME}
    assert not requires & {_norm(n) for n in BOOK_TOOLS}
    assert RUNTIME == {"torch", "torchvision", "numpy", "scipy", "pandas", "altair", "vl-convert-python", "tqdm"}


def test_wheel_holds_the_package_only(wheel):
    with zipfile.ZipFile(wheel) as zf:
        tops = {n.split("/")[0] for n in zf.namelist()}
    assert tops == {"latentgeom", next(t for t in tops if t.endswith(".dist-info"))}


def _closure(names) -> dict[str, metadata.Distribution]:
    """The installed distributions ``names`` need, transitively (what pip would install)."""
    from packaging.requirements import Requirement

    found, todo = {}, list(names)
    while todo:
        name = _norm(todo.pop())
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a requirement for another platform (e.g. CUDA wheels), not installed here
        found[name] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return found


@pytest.mark.slow
def test_wheel_runs_an_estimator_with_its_runtime_dependencies_only(wheel, tmp_path):
    deps = _closure(RUNTIME)
    assert not set(deps) & {_norm(n) for n in BOOK_TOOLS}, "a runtime dependency pulls in a book tool"
    # A folder that shows only those distributions (links into this venv's site-packages).
    visible = tmp_path / "runtime-deps"
    visible.mkdir()
    for dist in deps.values():
        base = Path(dist.locate_file(""))
        for entry in {Path(str(f)).parts[0] for f in dist.files or []}:
            if entry in ("..", "__pycache__") or (visible / entry).exists() or not (base / entry).exists():
                continue
            (visible / entry).symlink_to(base / entry)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, timeout=300)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "runtime-deps.pth").write_text(str(visible) + "\n")
    script = f"""
import importlib.util, sys
book = {BOOK_MODULES!r}
assert not [m for m in book if importlib.util.find_spec(m)], [m for m in book if importlib.util.find_spec(m)]
import numpy as np
import latentgeom as lg
assert lg.__file__.startswith({str(site)!r}), lg.__file__
points, neighbours = lg.synthetic.local_sphere(30, 2, 2.0, 3, 12, seed=0)
kappa = lg.mapc(points, neighbours, 2, mode="robust").max_abs
assert abs(kappa - 0.5) < 0.05, kappa
d = lg.twonn(np.random.default_rng(0).random((1500, 3)) @ np.random.default_rng(1).random((3, 20))).id
assert abs(d - 3) < 0.4, d
assert not [m for m in book if m in sys.modules]
print("ok", round(float(kappa), 3), round(float(d), 2))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run([str(python), "-c", script], capture_output=True, text=True, timeout=600, env=env,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok")
