"""The paper's curvature estimator point by point in plain numpy: the yardstick of the engine
(:func:`latentgeom.estimators.curvature.mapc`, paper mode), imported by the tests
(``tests/test_curvature.py``) and by ``bench/bench_estimators.py``. Not part of the library."""
from __future__ import annotations

import numpy as np

__all__ = ["paper_reference"]


def paper_reference(points, neighbours, d: int, rcond: float = 1e-6) -> np.ndarray:
    """The paper mode point by point in plain numpy: the yardstick of :func:`mapc`'s engine.

    A literal port of the estimator (Kaufman & Azencot 2023): SVD of the D x K uncentred frame,
    the explicit K x P design, ``numpy.linalg.pinv(Phi, rcond=rcond)`` and ``eigvalsh`` of every
    H^alpha. Slow (one point at a time) and kept only for the tests and ``bench/``, which check
    that ``mapc(..., mode="paper", rcond=rcond)`` returns the same values.

    Parameters
    ----------
    points : ndarray [n, D]
    neighbours : ndarray [n, K, D]
    d : int
    rcond : float

    Returns
    -------
    ndarray [n, m - d, d]
        Principal curvatures, ascending per normal direction.
    """
    points, neighbours = np.asarray(points, np.float64), np.asarray(neighbours, np.float64)
    K, D = neighbours.shape[1:]
    m = min(D, K)
    iu = np.triu_indices(d, 1)
    out = np.empty((len(points), m - d, d))
    for i, (x, y) in enumerate(zip(points, neighbours)):
        delta = (y - x).T  # D x K frame, not mean-centred
        U = np.linalg.svd(delta, full_matrices=False)[0]
        c = U[:, :m].T @ delta
        u, f = c[:d].T, c[d:m].T
        phi = np.hstack([u, 0.5 * u ** 2, u[:, iu[0]] * u[:, iu[1]]])
        beta = np.linalg.pinv(phi, rcond=rcond) @ f
        for a in range(m - d):
            H = np.diag(beta[d:2 * d, a])
            H[iu] = H[(iu[1], iu[0])] = beta[2 * d:, a]
            out[i, a] = np.linalg.eigvalsh(H)
    return out
