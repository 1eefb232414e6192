"""Run one book notebook through papermill with parameters.

    python scripts/run_notebook.py book/findings/curvature-1-profile-shape.md -p preset paper

The MyST text notebook is converted with jupytext, executed by papermill (parameters are
injected after the cell tagged ``parameters``), and written to ``_build/papermill/``.
Extra arguments are passed to papermill unchanged (``-p NAME VALUE``, ``-r NAME VALUE``,
``-y YAML``, ``-f FILE``, ...). A parameter the page does not declare is refused before
anything runs (papermill itself would only warn and run the page's default); the page's own
``setup`` then checks each value's type and range.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))  # page_parameters, without installing the package

from latentgeom.chapters.protocol import page_parameters  # noqa: E402


def given_names(args: list[str]) -> list[str]:
    """The parameter names papermill's arguments set (``-p/-r NAME VALUE``, ``-y YAML``, ``-f FILE``)."""
    import yaml

    names, i = [], 0
    while i < len(args):
        flag = args[i]
        if flag in ("-p", "--parameters", "-r", "--parameters_raw") and i + 1 < len(args):
            names.append(args[i + 1])
            i += 3
            continue
        if flag in ("-y", "--parameters_yaml", "-f", "--parameters_file") and i + 1 < len(args):
            text = Path(args[i + 1]).read_text() if flag in ("-f", "--parameters_file") else args[i + 1]
            names += list((yaml.safe_load(text) or {}).keys())
            i += 2
            continue
        i += 1
    return names


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__)
        return 2
    source = Path(argv[0])
    if not source.is_file():
        print(f"run_notebook: no such notebook {source}", file=sys.stderr)
        return 2
    declared = page_parameters(source.resolve())
    unknown = [name for name in given_names(argv[1:]) if name not in declared]
    if unknown:
        print(f"run_notebook: {source} has no parameter(s) {unknown}; its parameters are "
              f"{sorted(declared)}", file=sys.stderr)
        return 2
    out_dir = ROOT / "_build" / "papermill"
    out_dir.mkdir(parents=True, exist_ok=True)
    ipynb = out_dir / (source.stem + ".input.ipynb")
    executed = out_dir / (source.stem + ".ipynb")
    bindir = Path(sys.executable).parent
    subprocess.run([str(bindir / "jupytext"), "--to", "ipynb", "-o", str(ipynb), str(source)], check=True)
    status = subprocess.call([str(bindir / "papermill"), str(ipynb), str(executed),
                              "--cwd", str(source.parent.resolve()), *argv[1:]])
    if status == 0:
        print(f"executed notebook: {executed}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
