"""Comparing principal curvatures in tests: the one check that two estimates are equal."""
from __future__ import annotations

import numpy as np


def assert_same_curvatures(ours, ref, rtol: float = 1e-6) -> None:
    """``ours`` equals ``ref`` (both [n, n_normal, d]) to ``rtol``: each point's mean |kappa|
    relatively, and every |kappa| to rtol relative plus rtol times the largest. Eigenvalues are
    compared as sorted magnitudes, since their signs are arbitrary."""
    a, b = np.sort(np.abs(np.asarray(ref)), 2), np.sort(np.abs(np.asarray(ours)), 2)
    np.testing.assert_allclose(b.mean((1, 2)), a.mean((1, 2)), rtol=rtol)
    np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * a.max())


def _load_reference():
    """``bench/reference.py`` (the per-point numpy port of the paper estimator), which the tests
    share with the bench."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "reference.py"
    spec = importlib.util.spec_from_file_location("latentgeom_bench_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


paper_reference = _load_reference().paper_reference
