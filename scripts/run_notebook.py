"""Run one book notebook through papermill with parameters.

    python scripts/run_notebook.py book/findings/curvature-profile-shape.md -p preset paper

The MyST text notebook is converted with jupytext, executed by papermill (parameters are
injected after the cell tagged ``parameters``), and written to ``_build/papermill/``.
Extra arguments are passed to papermill unchanged (``-p NAME VALUE``, ``-y YAML``, ...).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__)
        return 2
    source = Path(argv[0])
    if not source.is_file():
        print(f"run_notebook: no such notebook {source}", file=sys.stderr)
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
