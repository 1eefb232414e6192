"""Fixtures shared by the test suite.

The one notebook environment: a page executed through papermill (``tests/notebooks.py``)
writes its results and trains its models into a temporary folder, never into the book's own
``results/`` or model cache (the papermill kernel inherits ``os.environ``), on the threads of
the run (``OMP_NUM_THREADS``: one per worker under ``make test``; 2 when unset), computing in
the kernel's own process (``LATENTGEOM_WORKERS=1``).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest


def _isolate(mp: pytest.MonkeyPatch, root: Path) -> Path:
    mp.setenv("LATENTGEOM_RESULTS", str(root / "results"))
    mp.setenv("LATENTGEOM_CACHE", str(root / "cache" / "models"))
    # The kernel's threads are this run's: one under `make test` (a worker per core), else 2.
    mp.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))
    # Tiny pages compute in the kernel itself: starting worker processes (seconds each) would
    # cost more than their units, and pytest-xdist already keeps the cores busy. The
    # trajectories page's test runs with workers (tests/test_trajectories_notebook.py).
    mp.setenv("LATENTGEOM_WORKERS", "1")
    for name in ("LATENTGEOM_NO_TRAIN", "LATENTGEOM_NO_COMPUTE"):
        mp.delenv(name, raising=False)
    return root


@pytest.fixture
def notebook_env(tmp_path, monkeypatch) -> Path:
    """A folder holding this test's results (``results/``) and model cache (``cache/models``)."""
    return _isolate(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def shared_notebook_env(tmp_path_factory) -> Path:
    """:func:`notebook_env` shared by a module's tests, so that pages reuse each other's
    models as in the book (the tiny zoo trains once per module)."""
    with pytest.MonkeyPatch.context() as mp:
        yield _isolate(mp, tmp_path_factory.mktemp("notebooks"))
