"""Where latent-geometry keeps data, trained models and results.

Everything lives under one *home* folder so that notebooks (which execute with
their own folder as working directory) and the command line agree:

- ``$LATENTGEOM_HOME`` when set (the Makefile sets it to the repository root);
- else the repository root when the package is installed from a checkout
  (``pip install -e .``);
- else ``~/.cache/latentgeom``.
"""
from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The folder that holds ``data/``, ``.cache/`` and ``results/``."""
    env = os.environ.get("LATENTGEOM_HOME")
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "lib" / "latentgeom").is_dir():
        return checkout
    return Path.home() / ".cache" / "latentgeom"


def data_dir() -> Path:
    """Root folder for datasets (torchvision layout: ``ROOT/FashionMNIST/raw``)."""
    return Path(os.environ.get("LATENTGEOM_DATA", home() / "data")).expanduser()


def model_cache_dir() -> Path:
    """Folder of the trained-model cache (``$LATENTGEOM_CACHE`` overrides)."""
    return Path(os.environ.get("LATENTGEOM_CACHE", home() / ".cache" / "models")).expanduser()


def results_dir() -> Path:
    """Folder for machine-readable results (``$LATENTGEOM_RESULTS`` overrides)."""
    return Path(os.environ.get("LATENTGEOM_RESULTS", home() / "results")).expanduser()


def find_toc(start: str | os.PathLike | None = None) -> Path:
    """The book's ``_toc.yml``: searched from ``start`` (default: the working directory) upwards.

    Book pages execute with their own folder as working directory, so this finds the table of
    contents of the book being built, wherever the checkout is.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file():
            return folder / "_toc.yml"
    raise FileNotFoundError(f"no _toc.yml in {here} or any parent folder")
