"""``python -m latentgeom COMMAND``: the library's command line.

Commands:
  sweep   train and profile everything the book's pages need, on Slurm or local processes
          (:mod:`latentgeom.sweep`; ``python -m latentgeom sweep --help``)
"""
from __future__ import annotations

import sys

COMMANDS = ("sweep",)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"unknown command {argv[0]!r}; choose one of {COMMANDS}", file=sys.stderr)
        return 2
    from .sweep.cli import main as sweep_main

    return sweep_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
