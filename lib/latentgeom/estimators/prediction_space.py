"""Models as points in prediction space: Bhattacharyya distances, InPCA, progress, trajectory distances.

After Mao, Griniasty, Teoh, Ramesh, Yang, Transtrum, Sethna & Chaudhari, "The training process
of many deep networks explores the same low-dimensional manifold", PNAS 2024 (arXiv 2305.01604).
Used by the training-trajectories chapter (``book/findings/trajectories.md``, through
:mod:`latentgeom.chapters.trajectories`). Pure numpy/torch, float64 throughout.

A model is its matrix of predicted class probabilities on a fixed probe set of N examples,
``p`` of shape [N, C] (rows on the simplex); M models stack to [M, N, C].

- Intensive Bhattacharyya distance (per example, averaged)::

      d_B(u, v) = -(1/N) sum_n log sum_c sqrt(p_u^n(c) p_v^n(c))

  computed in chunks of examples, so the M x M x N array is never built. It is 0 for equal
  models, symmetric, and ``d_B(P0, P*) = (1/2) ln C`` between the uniform prediction
  ("ignorance" P0) and the one-hot truth P* (1/2 ln 10 = 1.151 for 10 classes).
- InPCA: with ``L = I - 11^T / M`` the double-centred ``W = -1/2 L D L`` of the distance
  matrix D is eigendecomposed; eigenvalues are sorted by magnitude and coordinates are
  ``U sqrt(|lambda|)``. Negative eigenvalues are kept: they are *time-like* axes (their
  squared coordinates subtract from the distance). For squared Euclidean distances, InPCA is
  classical MDS (= PCA of the centred points).
- Explained stress of the first k components:
  ``chi_k = 1 - sqrt(1 - sum_{i<=k} lambda_i^2 / ||W||_F^2)``.
- New points (P0, P*, the geodesic between them, other probes) are placed into an existing
  embedding by the Nystrom projection of their distance rows (:meth:`InPCA.project`).
- The geodesic between two models is the per-example great-circle (slerp) of sqrt(p) on the
  unit sphere; the *progress* of a model is the parameter t in [0, 1] of the point of the
  P0 -> P* geodesic closest to it in d_B.
- Distance between two trajectories: both are re-indexed on a common grid of progress values
  (between checkpoints along the sqrt(p) geodesic), then d_B is averaged over the grid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..validation import as_tensor, check_int, check_range

__all__ = ["InPCA", "bhattacharyya", "explained_stress", "geodesic", "ignorance", "inpca", "progress",
           "reindex", "trajectory_distance", "truth"]

#: Per-example Bhattacharyya coefficients below this count as this (d_B per example <= 27.6).
MIN_COEFFICIENT = 1e-12
#: Tolerance on row sums of probability matrices (float32 softmax outputs pass).
SUM_TOLERANCE = 1e-4
#: Bytes of the [chunk, Ma, Mb] block used per chunk of examples.
CHUNK_BYTES = 64 * 2 ** 20


def check_probabilities(p, name: str = "p", *, ndim=(2, 3)) -> torch.Tensor:
    """``p`` as float64 [.., N, C] probabilities; one ``ValueError`` naming ``name`` unless every
    entry is finite and >= 0 and every row sums to 1 within :data:`SUM_TOLERANCE`. Rows are
    renormalised exactly."""
    t = as_tensor(p, name, dtype=torch.float64, device="cpu", ndim=ndim)
    if t.shape[-1] < 2 or t.shape[-2] < 1:
        raise ValueError(f"{name} must have at least 1 example and 2 classes, got shape {tuple(t.shape)}")
    if (t < 0).any():
        raise ValueError(f"{name} must be probabilities (>= 0); its smallest entry is {t.min().item():.3g}")
    sums = t.sum(-1)
    worst = (sums - 1).abs().max().item()
    if worst > SUM_TOLERANCE:
        raise ValueError(f"{name} must be probabilities whose rows sum to 1 (within {SUM_TOLERANCE:g}); "
                         f"a row sums to {sums.flatten()[(sums - 1).abs().argmax()].item():.6g}")
    return t / sums.unsqueeze(-1)


def _stack(p, name: str) -> torch.Tensor:
    t = check_probabilities(p, name)
    return t.unsqueeze(0) if t.ndim == 2 else t


def bhattacharyya(a, b=None, *, chunk: int | None = None) -> np.ndarray:
    """Intensive Bhattacharyya distances between models.

    Parameters
    ----------
    a : array [Ma, N, C] (or [N, C] for one model)
        Predicted probabilities of Ma models on the same N probe examples, C classes.
    b : array [Mb, N, C] or [N, C], optional
        A second set of models on the *same* probe set (default: ``a`` itself).
    chunk : int, optional
        Examples per chunk (default: as many as fit in :data:`CHUNK_BYTES`).

    Returns
    -------
    float64 array [Ma, Mb] of ``d_B = -(1/N) sum_n log sum_c sqrt(p_a p_b)`` in nats per example,
    >= 0 (rounding negatives set to 0; coefficients below :data:`MIN_COEFFICIENT` clamped).
    """
    sa = _stack(a, "a").sqrt()
    sb = sa if b is None else _stack(b, "b").sqrt()
    if sa.shape[1:] != sb.shape[1:]:
        raise ValueError(f"a and b must be predictions on the same probe set: [N, C] = {tuple(sa.shape[1:])} "
                         f"vs {tuple(sb.shape[1:])}")
    ma, n, _ = sa.shape
    mb = sb.shape[0]
    if chunk is None:
        chunk = max(1, CHUNK_BYTES // (8 * ma * mb))
    chunk = check_int(chunk, "chunk", minimum=1)
    total = torch.zeros(ma, mb, dtype=torch.float64)
    for s in range(0, n, chunk):
        # [n_c, Ma, C] @ [n_c, C, Mb] -> per-example coefficients [n_c, Ma, Mb]
        bc = torch.bmm(sa[:, s:s + chunk].transpose(0, 1), sb[:, s:s + chunk].permute(1, 2, 0))
        total -= bc.clamp_(MIN_COEFFICIENT, 1.0).log_().sum(0)
    return (total / n).clamp_(min=0.0).numpy()


def ignorance(n: int, classes: int) -> np.ndarray:
    """P0: the uniform prediction on ``n`` examples, float64 [n, classes]."""
    n, classes = check_int(n, "n", minimum=1), check_int(classes, "classes", minimum=2)
    return np.full((n, classes), 1.0 / classes)


def truth(labels, classes: int) -> np.ndarray:
    """P*: the one-hot true labels, float64 [N, classes], from integer ``labels`` [N]."""
    classes = check_int(classes, "classes", minimum=2)
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if y.ndim != 1 or y.size == 0 or y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= classes:
        raise ValueError(f"labels must be a non-empty 1-D integer array with values in 0..{classes - 1}")
    out = np.zeros((len(y), classes))
    out[np.arange(len(y)), y] = 1.0
    return out


def geodesic(p, q, t) -> np.ndarray:
    """Points on the geodesic from model ``p`` to model ``q`` (both [N, C]) at parameters ``t``.

    Per example, sqrt(p) and sqrt(q) are unit vectors; the geodesic is their great-circle
    interpolation (slerp), squared back to probabilities. Returns float64 [len(t), N, C]
    (t = 0 gives p, t = 1 gives q).
    """
    sp, sq = check_probabilities(p, "p", ndim=2).sqrt(), check_probabilities(q, "q", ndim=2).sqrt()
    if sp.shape != sq.shape:
        raise ValueError(f"p and q must be predictions on the same probe set: {tuple(sp.shape)} vs {tuple(sq.shape)}")
    t = torch.as_tensor(np.atleast_1d(np.asarray(t, dtype=np.float64)))
    if not torch.isfinite(t).all():
        raise ValueError("t must be finite")
    theta = (sp * sq).sum(-1).clamp(-1.0, 1.0).arccos()            # [N]
    sin = theta.sin()
    small = sin < 1e-12                                            # p == q on that example
    safe = torch.where(small, torch.ones_like(sin), sin)
    wa = torch.where(small, 1 - t[:, None], ((1 - t[:, None]) * theta).sin() / safe)   # [T, N]
    wb = torch.where(small, t[:, None], (t[:, None] * theta).sin() / safe)
    root = wa[..., None] * sp + wb[..., None] * sq
    out = root ** 2
    return (out / out.sum(-1, keepdim=True)).numpy()


def explained_stress(eigenvalues, total: float) -> np.ndarray:
    """``chi_k = 1 - sqrt(1 - sum_{i<=k} lambda_i^2 / total)`` for k = 1..len(eigenvalues).

    ``total`` is ``||W||_F^2`` (the sum of all squared eigenvalues); ``eigenvalues`` are in
    the order used (InPCA: by decreasing magnitude). Values in [0, 1].
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if total <= 0:
        raise ValueError(f"total must be > 0 (||W||_F^2), got {total}")
    return 1 - np.sqrt(np.clip(1 - np.cumsum(lam ** 2) / total, 0.0, 1.0))


@dataclass(frozen=True)
class InPCA:
    """An InPCA embedding of M points.

    Attributes
    ----------
    coordinates : float64 [M, K]
        ``U sqrt(|lambda|)``, components sorted by ``|lambda|``.
    eigenvalues : float64 [K]
        Signed; negative ones are time-like axes.
    eigenvectors : float64 [M, K]
    column_means : float64 [M]
        Column means of the distance matrix (for :meth:`project`).
    grand_mean : float
        Mean of the distance matrix.
    frobenius2 : float
        ``||W||_F^2`` (sum of all M squared eigenvalues).
    """

    coordinates: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    column_means: np.ndarray
    grand_mean: float
    frobenius2: float

    @property
    def stress(self) -> np.ndarray:
        """Explained stress ``chi_k`` of the first k = 1..K components."""
        return explained_stress(self.eigenvalues, self.frobenius2)

    @property
    def timelike(self) -> np.ndarray:
        """Boolean [K]: components with a negative eigenvalue."""
        return self.eigenvalues < 0

    def project(self, distances) -> np.ndarray:
        """Coordinates [R, K] of R new points from their distances [R, M] to the M embedded points.

        Nystrom: the new rows are double-centred with the embedding's means,
        ``w = -1/2 (d - mean(d) - column_means + grand_mean)``, and
        ``x_k = sign(lambda_k) u_k . w / sqrt(|lambda_k|)``. An embedded point's own row gives
        back its coordinates exactly.
        """
        d = as_tensor(distances, "distances", dtype=torch.float64, device="cpu", ndim=(1, 2)).numpy()
        d = np.atleast_2d(d)
        if d.shape[1] != len(self.column_means):
            raise ValueError(f"distances must have one column per embedded point ({len(self.column_means)}), "
                             f"got shape {d.shape}")
        w = -0.5 * (d - d.mean(1, keepdims=True) - self.column_means[None] + self.grand_mean)
        return np.sign(self.eigenvalues) * (w @ self.eigenvectors) / np.sqrt(np.abs(self.eigenvalues))


def inpca(distances, n_components: int | None = None) -> InPCA:
    """InPCA of a symmetric [M, M] distance matrix (d_B, or squared Euclidean distances).

    ``W = -1/2 L D L`` with ``L = I - 11^T / M``; the eigenpairs are sorted by ``|lambda|``
    and the first ``n_components`` (default: all with ``|lambda| > 1e-12 max|lambda|``) kept.
    Eigenvector signs are fixed so that each one's largest-magnitude entry is positive.
    """
    D = as_tensor(distances, "distances", dtype=torch.float64, device="cpu", ndim=2).numpy()
    m = D.shape[0]
    if D.shape != (m, m) or m < 2:
        raise ValueError(f"distances must be a square matrix of at least 2 points, got shape {D.shape}")
    if not np.allclose(D, D.T, atol=1e-9, rtol=1e-7):
        raise ValueError("distances must be symmetric")
    column_means = D.mean(0)
    grand_mean = float(D.mean())
    W = -0.5 * (D - column_means[None] - column_means[:, None] + grand_mean)
    lam, U = np.linalg.eigh((W + W.T) / 2)
    order = np.argsort(-np.abs(lam), kind="stable")
    lam, U = lam[order], U[:, order]
    frob = float(np.sum(lam ** 2))
    if frob <= 0:
        raise ValueError("all points coincide: the distance matrix has no spread")
    keep = int(np.sum(np.abs(lam) > 1e-12 * np.abs(lam[0])))
    if n_components is not None:
        keep = min(check_int(n_components, "n_components", minimum=1, maximum=m), m)
    lam, U = lam[:keep], U[:, :keep]
    U = U * np.where(U[np.abs(U).argmax(0), np.arange(keep)] < 0, -1.0, 1.0)
    return InPCA(U * np.sqrt(np.abs(lam)), lam, U, column_means, grand_mean, frob)


def progress(p, p0, p_star, *, resolution: int = 401) -> np.ndarray:
    """Progress of models along the P0 -> P* geodesic: the t in [0, 1] of the nearest geodesic point.

    ``p`` [M, N, C] or [N, C]; ``p0``, ``p_star`` [N, C]. The geodesic is sampled at
    ``resolution`` equally spaced t (resolution of the answer: 1 / (resolution - 1)). Returns
    float64 [M].
    """
    resolution = check_int(resolution, "resolution", minimum=2)
    grid = np.linspace(0.0, 1.0, resolution)
    d = bhattacharyya(p, geodesic(p0, p_star, grid))
    return grid[np.argmin(d, axis=1)]


def reindex(p, values, grid) -> np.ndarray:
    """A trajectory re-indexed on a common grid of a monotone quantity (e.g. progress).

    ``p`` [K, N, C] are the checkpoints in training order and ``values`` [K] their progress (or
    accuracy). For each grid value g the first checkpoint pair (k, k+1) whose values bracket g
    is interpolated along the sqrt(p) geodesic at the fraction (g - v_k) / (v_{k+1} - v_k);
    a grid value no pair brackets takes the checkpoint whose value is nearest.
    Returns float64 [len(grid), N, C].
    """
    P = _stack(p, "p")
    v = np.asarray(values, dtype=np.float64)
    g = np.asarray(grid, dtype=np.float64)
    if v.shape != (P.shape[0],) or not np.isfinite(v).all():
        raise ValueError(f"values must be {P.shape[0]} finite numbers (one per checkpoint), got shape {v.shape}")
    if g.ndim != 1 or not np.isfinite(g).all():
        raise ValueError("grid must be a 1-D array of finite numbers")
    out = np.empty((len(g),) + tuple(P.shape[1:]))
    arr = P.numpy()
    lo, hi = np.minimum(v[:-1], v[1:]), np.maximum(v[:-1], v[1:])
    for i, x in enumerate(g):
        hits = np.flatnonzero((lo <= x) & (x <= hi) & (hi > lo))
        if len(hits) == 0:
            out[i] = arr[int(np.argmin(np.abs(v - x)))]
            continue
        k = hits[0]
        out[i] = geodesic(arr[k], arr[k + 1], (x - v[k]) / (v[k + 1] - v[k]))[0]
    return out


def trajectory_distance(a, b, values_a, values_b, *, n_grid: int = 50,
                        span: tuple[float, float] | None = None) -> float:
    """Mean d_B between two trajectories re-indexed on a common grid (see :func:`reindex`).

    ``a`` [Ka, N, C] and ``b`` [Kb, N, C] on the same probes, with their progress (or accuracy)
    ``values_a`` [Ka], ``values_b`` [Kb]. The grid has ``n_grid`` equally spaced values over
    ``span`` (default: the overlap of the two ranges, ``[max(min), min(max)]``; if they do not
    overlap, the whole range of both). Returns the mean of d_B at matched grid values.
    """
    n_grid = check_int(n_grid, "n_grid", minimum=2)
    va, vb = np.asarray(values_a, dtype=np.float64), np.asarray(values_b, dtype=np.float64)
    if span is None:
        lo, hi = max(va.min(), vb.min()), min(va.max(), vb.max())
        if hi <= lo:
            lo, hi = min(va.min(), vb.min()), max(va.max(), vb.max())
    else:
        lo = check_range(span[0], "span[0]", -math.inf, math.inf, closed="neither")
        hi = check_range(span[1], "span[1]", lo, math.inf, closed="neither")
    grid = np.linspace(lo, hi, n_grid)
    ra, rb = reindex(a, va, grid), reindex(b, vb, grid)
    if ra.shape[1:] != rb.shape[1:]:
        raise ValueError(f"a and b must be predictions on the same probe set: {ra.shape[1:]} vs {rb.shape[1:]}")
    bc = np.sqrt(ra * rb).sum(-1).clip(MIN_COEFFICIENT, 1.0)       # [G, N]
    return float(np.mean(-np.log(bc).mean(-1)))
