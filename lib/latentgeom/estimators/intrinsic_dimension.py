"""Intrinsic dimension estimators: TwoNN, its block analysis, and PC-ID.

TwoNN is the estimator of Facco, d'Errico, Rodriguez & Laio (*Estimating the intrinsic dimension
of datasets by a minimal neighborhood information*, Scientific Reports 7, 2017, arXiv:1803.06992),
as Ansuini et al. (NeurIPS 2019, arXiv:1905.12784) use it; the book's methods page "Measuring
intrinsic dimension" checks it on manifolds of known dimension. It agrees with
``skdim.id.TwoNN(discard_fraction=0.1)`` (scikit-dimension 0.5.0): ``F(i) = i / N`` over the N
kept ratios, the largest ``N - floor((1 - discard_fraction) N)`` ratios discarded, slope of a
least-squares line through the origin. Two deliberate differences, both invisible on data
without ties: exact-duplicate rows are removed *before* the neighbour search (and counted),
and points with ``r1 == r2`` (ratio exactly 1) are dropped, since they carry log(mu) = 0 and no information.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..validation import as_tensor, check_int

__all__ = ["TwoNNResult", "twonn", "twonn_block_analysis", "pca_id"]

#: Bumped whenever TwoNN's or PC-ID's numbers change (cached profiles are then recomputed).
ESTIMATOR_VERSION = 1

# Rows per block of the chunked distance search: bounds memory at CHUNK x N doubles.
_CHUNK_BYTES = 256 * 2**20
# At or below this many features a k-d tree beats the dense search (CPU only).
_KDTREE_MAX_DIM = 16
# Float32 candidates per row; their exact distances are recomputed in float64.
_N_CANDIDATES = 8


@dataclass(frozen=True)
class TwoNNResult:
    """Outcome of :func:`twonn`.

    Attributes
    ----------
    id : float
        TwoNN estimate on all kept points.
    mean, std : float or None
        Mean and standard deviation (ddof=1) over random 90 % subsets; ``None`` when
        ``n_resamples == 0``.
    n_points : int
        Rows given.
    n_duplicates : int
        Exact-duplicate rows removed before the neighbour search.
    n_used : int
        Points in the final linear fit (after dropping ``r1 == r2`` and the discarded fraction).
    """

    id: float
    mean: float | None
    std: float | None
    n_points: int
    n_duplicates: int
    n_used: int

    def __float__(self) -> float:
        return float(self.id)


class _NeighbourTable:
    """Exact float64 distances of every row of ``X`` [N, D] (unique rows) to its nearest other
    rows, searched once and reused for any subset of the rows (TwoNN's 90 % resamples).

    Low-dimensional CPU data goes through a k-d tree (exact, rebuilt per subset: cheap).
    Otherwise candidates come from the Gram trick in float32 (one matmul per chunk, half the cost
    of float64) and the distances to them are recomputed exactly as norms of differences in
    float64. A row's two nearest rows within a subset are its two nearest *candidates* in the
    subset whenever a rounding-error bound certifies that no non-candidate can be closer than
    the second of them; a non-candidate of the whole set is one of every subset, so one search
    serves every subset. The few uncertified rows are searched again in float64 within the
    subset. The distances are those of a search on the subset alone (centring, which shrinks
    the Gram trick's rounding error, does not change a difference of rows but its round-off).
    Needs at least 3 rows (a ValueError otherwise); a 90 % subset of 3 or more keeps 3.
    """

    def __init__(self, X: torch.Tensor):
        n, dim = X.shape
        if n < 3:
            raise ValueError(f"TwoNN needs at least 3 unique points, got {n}")
        self.n = n
        self.kdtree = X.device.type == "cpu" and dim <= _KDTREE_MAX_DIM
        if self.kdtree:
            self.X = X.to(torch.float64)  # the tree is built per subset
            return
        X = X.to(torch.float64)
        self.Xc = X - X.mean(0)
        n_cand = min(n - 1, _N_CANDIDATES)
        self.idx = _candidates(self.Xc.to(torch.float32), n_cand)
        self.exact = torch.linalg.vector_norm(self.Xc[self.idx] - self.Xc[:, None, :], dim=2)  # [N, n_cand]
        if n_cand == n - 1:  # every other row is a candidate: nothing to certify
            self.threshold = torch.full((n,), float("inf"), dtype=torch.float64, device=X.device)
        else:
            sq = (self.Xc * self.Xc).sum(1)
            # |fl32(d2) - d2| <= gamma * (|x|^2 + |y|^2) with gamma ~ (dim + 3) * eps32 (worst case);
            # every non-candidate's approximate d2 was >= the largest candidate's, so its exact d2
            # is at least the largest exact candidate d2 less twice the bound.
            gamma = (dim + 3) * float(torch.finfo(torch.float32).eps)
            self.threshold = self.exact.max(1).values ** 2 - 2 * gamma * (sq + sq.max())

    def two_nearest(self, rows: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Distances r1 <= r2 of every row of the subset ``rows`` (sorted indices; default all)
        to its two nearest other rows of that subset, float64 [len(rows)] each."""
        if self.kdtree:
            from scipy.spatial import cKDTree
            arr = (self.X if rows is None else self.X[rows]).cpu().numpy()
            dist, _ = cKDTree(arr).query(arr, k=3)
            return dist[:, 1].copy(), dist[:, 2].copy()  # unique rows: column 0 is the point itself
        rows = torch.arange(self.n, device=self.Xc.device) if rows is None else rows
        inside = torch.zeros(self.n, dtype=torch.bool, device=self.Xc.device)
        inside[rows] = True
        exact = torch.where(inside[self.idx[rows]], self.exact[rows], float("inf"))
        r = torch.topk(exact, min(2, exact.shape[1]), dim=1, largest=False).values
        bad = (~(self.threshold[rows] > r[:, 1] ** 2)).nonzero().flatten()  # also where inf
        if bad.numel():
            Xc = self.Xc[rows]
            idx64 = _candidates(Xc, 2, rows=bad)
            r[bad] = torch.sort(torch.linalg.vector_norm(Xc[idx64] - Xc[bad, None, :], dim=2), dim=1).values
        r = r.cpu().numpy()
        return r[:, 0].copy(), r[:, 1].copy()


def _candidates(Xc: torch.Tensor, k: int, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Indices [len(rows), k] of the k smallest Gram-trick distances of ``rows`` (default all)
    to the other rows of ``Xc``, in ``Xc``'s dtype, chunked to bound memory."""
    n = Xc.shape[0]
    rows = torch.arange(n, device=Xc.device) if rows is None else rows
    sq = (Xc * Xc).sum(1)
    chunk = max(1, min(len(rows), _CHUNK_BYTES // (Xc.element_size() * n)))
    out = torch.empty((len(rows), k), dtype=torch.long, device=Xc.device)
    for start in range(0, len(rows), chunk):
        r = rows[start:start + chunk]
        d2 = sq[r, None] + sq[None, :] - 2.0 * (Xc[r] @ Xc.T)
        d2[torch.arange(len(r), device=Xc.device), r] = float("inf")  # exclude self by index
        out[start:start + len(r)] = torch.topk(d2, k, dim=1, largest=False).indices
    return out


def _fit(r1: np.ndarray, r2: np.ndarray, discard_fraction: float) -> tuple[float, int]:
    keep = r2 > r1  # r1 == r2 gives log(mu) = 0: no information, drop
    mu = np.sort(r2[keep] / r1[keep])
    n = mu.size
    n_fit = int(np.floor((1.0 - discard_fraction) * n))
    if n_fit < 2:
        raise ValueError(f"TwoNN needs at least 2 ratios in the fit, got {n_fit} "
                         f"({n} usable points, discard_fraction={discard_fraction})")
    x = np.log(mu[:n_fit])
    y = -np.log1p(-np.arange(1, n_fit + 1) / n)
    return float(np.dot(x, y) / np.dot(x, x)), n_fit


def _unique_rows(X: torch.Tensor) -> torch.Tensor:
    return torch.unique(X, dim=0)


def _prepare(X, name="X") -> torch.Tensor:
    t = as_tensor(X, name, ndim=2)
    if t.shape[1] < 1:
        raise ValueError(f"{name} has no features (shape {tuple(t.shape)})")
    return t


def _twonn_unique(table: _NeighbourTable, discard_fraction: float,
                  rows: torch.Tensor | None = None) -> tuple[float, int]:
    r1, r2 = table.two_nearest(rows)
    return _fit(r1, r2, discard_fraction)


def twonn(X, discard_fraction: float = 0.1, n_resamples: int = 0, seed: int = 0) -> TwoNNResult:
    """TwoNN intrinsic dimension (Facco et al. 2017) of the rows of ``X``.

    Parameters
    ----------
    X : array-like or Tensor, shape [n_points, n_features]
        Points in Euclidean space (numpy, or torch on CPU/CUDA; the neighbour search runs on
        the tensor's device in float64).
    discard_fraction : float in [0, 1)
        Fraction of the largest ratios mu = r2 / r1 left out of the fit (Facco et al. 2017: 0.1).
    n_resamples : int
        Number of random 90 % subsets (without replacement) for the error bar; 0 skips it.
    seed : int
        Seed of the subsets.

    Returns
    -------
    TwoNNResult
        ``float(result)`` is the estimate. Duplicated rows are removed first and counted in
        ``n_duplicates``.

    Raises
    ------
    ValueError
        Non-finite values, fewer than 3 unique points, a bad ``discard_fraction``.
    """
    if not 0.0 <= float(discard_fraction) < 1.0:
        raise ValueError(f"discard_fraction must be in [0, 1), got {discard_fraction}")
    n_resamples = check_int(n_resamples, "n_resamples", minimum=0)
    t = _prepare(X)
    n_points = t.shape[0]
    U = _unique_rows(t)
    n_dup = n_points - U.shape[0]
    table = _NeighbourTable(U)  # one neighbour search for the estimate and every resample
    est, n_used = _twonn_unique(table, discard_fraction)
    mean = std = None
    if n_resamples:
        rng = np.random.default_rng(seed)
        size = int(round(0.9 * U.shape[0]))
        vals = []
        for _ in range(n_resamples):
            sel = torch.as_tensor(np.sort(rng.choice(U.shape[0], size=size, replace=False)), device=U.device)
            vals.append(_twonn_unique(table, discard_fraction, rows=sel)[0])
        mean = float(np.mean(vals))
        std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    return TwoNNResult(id=est, mean=mean, std=std, n_points=n_points, n_duplicates=n_dup, n_used=n_used)


def twonn_block_analysis(X, max_blocks: int = 20, seed: int = 0, discard_fraction: float = 0.1) -> pd.DataFrame:
    """TwoNN estimate versus sample size: split the (deduplicated) points into b = 1..max_blocks
    random disjoint blocks and estimate the ID of each block.

    Parameters
    ----------
    X : array-like or Tensor, shape [n_points, n_features]
    max_blocks : int
        Largest number of blocks (Facco et al. 2017 use up to 20). Block counts whose blocks would hold fewer than
        3 points are skipped.
    seed : int
        Seed of the random partitions (a fresh permutation per b).
    discard_fraction : float

    Returns
    -------
    DataFrame with columns ``n_blocks`` (b), ``block_size`` (points per block, N // b),
    ``id_mean`` and ``id_std`` (mean and std, ddof=0, of the b block estimates). A plateau of
    ``id_mean`` over ``block_size`` marks a trustworthy scale.
    """
    max_blocks = check_int(max_blocks, "max_blocks", minimum=1)
    U = _unique_rows(_prepare(X))
    n = U.shape[0]
    if n < 3:
        raise ValueError(f"TwoNN needs at least 3 unique points, got {n}")
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(1, max_blocks + 1):
        if n // b < 3:
            break
        perm = torch.as_tensor(rng.permutation(n), device=U.device)
        ests = [_twonn_unique(_NeighbourTable(U[block]), discard_fraction)[0] for block in torch.tensor_split(perm, b)]
        rows.append({"n_blocks": b, "block_size": n // b, "id_mean": float(np.mean(ests)),
                     "id_std": float(np.std(ests))})
    return pd.DataFrame(rows, columns=["n_blocks", "block_size", "id_mean", "id_std"])


def pca_id(X, variance: float = 0.9) -> int:
    """PC-ID: number of principal components of the standardised features needed to explain
    ``variance`` of the total variance (the linear baseline of Ansuini et al. 2019).

    Parameters
    ----------
    X : array-like or Tensor, shape [n_points, n_features]
    variance : float in (0, 1]

    Returns
    -------
    int
        Zero-variance features are dropped before standardising (they carry no variance and
        would divide by zero); a sample without any varying feature gives 0.
    """
    if not 0.0 < float(variance) <= 1.0:
        raise ValueError(f"variance must be in (0, 1], got {variance}")
    t = _prepare(X).to(torch.float64)
    if t.shape[0] < 2:
        raise ValueError(f"pca_id needs at least 2 points, got {t.shape[0]}")
    t = t - t.mean(0)
    sd = t.std(0)
    scale = sd.abs().max()
    keep = sd > 1e-12 * scale if scale > 0 else torch.zeros_like(sd, dtype=torch.bool)
    if not bool(keep.any()):
        return 0
    z = t[:, keep] / sd[keep]
    # Singular values of the smaller side: eigenvalues of the n x n or p x p Gram matrix.
    gram = z @ z.T if z.shape[0] <= z.shape[1] else z.T @ z
    ev = torch.linalg.eigvalsh(gram).flip(0).clamp_min(0).cpu().numpy()
    frac = np.cumsum(ev) / ev.sum()
    return int(min(np.searchsorted(frac, float(variance) - 1e-12) + 1, ev.size))
