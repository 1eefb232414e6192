"""The result type of the curvature estimator (:func:`latentgeom.estimators.curvature.mapc`):
principal curvatures of n points, their summaries, and in robust mode the per-point relative
noise and resolution with the thresholds behind them."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CurvatureResult", "CARRYING_RTOL", "MIN_RESOLVED_SHARE", "NOISE_RTOL", "PAPER_RESOLUTION",
           "UnresolvedCurvatureWarning"]

#: A normal direction "carries" curvature at a point when ||H||_F >= CARRYING_RTOL * the largest.
CARRYING_RTOL = 0.25
#: Default tolerance of the robust mode's per-point resolution: a point is resolved when the
#: standard deviation of its largest |kappa| (95 % upper bound) is at most this fraction of it.
NOISE_RTOL = 0.25
#: A cloud (a layer) is measurable when at least this share of its points is resolved.
MIN_RESOLVED_SHARE = 0.5
#: What ``resolved`` is for a paper-mode result, and why.
PAPER_RESOLUTION = ("not assessed: the paper's fit has no intercept and no noise model (its residuals "
                    "mix noise with the uncentred frame's offset); run mode='robust' on the same "
                    "neighbourhoods for resolution flags")


class UnresolvedCurvatureWarning(UserWarning):
    """A robust measurement in which fewer than ``MIN_RESOLVED_SHARE`` of the points are
    resolved: report it as not measurable rather than as a number."""


@dataclass(frozen=True)
class CurvatureResult:
    """Principal curvatures of n points and their summaries.

    Attributes
    ----------
    mode : {"paper", "robust"}
    d, K, D, m : int
        Tangent dimension, neighbours per point, ambient dimension, frame dimension
        (paper: min(D, K); robust: D).
    kappa : ndarray, float64, shape [n, n_normal, d]
        Principal curvatures (ascending per direction; the sign is arbitrary, only |kappa|
        means anything). Paper: n_normal = m - d; robust: the ``n_normal`` principal normal
        directions of the second fundamental form, strongest first.
    per_point : ndarray, shape [n]
        Per-point summary behind ``mapc``: paper, mean |kappa| over all values; robust, the
        largest |kappa|.
    mapc : float
        Headline = mean of ``per_point``.
    max_abs : float
        Mean over points of the per-point largest |kappa|.
    carrying_mean_abs : float
        Mean |kappa| over curvature-carrying normal directions (see module docstring).
    relative_noise : ndarray, float64, shape [n], or None
        Robust: per point, the standard deviation of the largest |kappa| (from the residual
        noise of the chosen fit, propagated through the design; its 95 % upper confidence bound
        for the fit's residual degrees of freedom) divided by it; inf where it cannot be told
        (no curvature, no residual degrees of freedom). Dimensionless.
        Paper: None (:data:`PAPER_RESOLUTION`).
    resolved : ndarray, bool, shape [n], or None
        Robust: ``relative_noise <= noise_rtol``, the chosen neighbourhood resolved the
        curvature of that point. Paper: None.
    resolved_share : float
        Share of resolved points in [0, 1] (robust); NaN in paper mode.
    noise_rtol : float
        Tolerance behind ``resolved`` (robust); NaN in paper mode.
    """

    mode: str
    d: int
    K: int
    D: int
    m: int
    kappa: np.ndarray
    per_point: np.ndarray
    mapc: float
    max_abs: float
    carrying_mean_abs: float
    relative_noise: np.ndarray | None = None
    resolved: np.ndarray | None = None
    resolved_share: float = math.nan
    noise_rtol: float = math.nan

    @property
    def n(self) -> int:
        return int(self.kappa.shape[0])

    @property
    def measurable(self) -> bool | None:
        """Robust: at least ``MIN_RESOLVED_SHARE`` of the points resolved (report "not
        measurable" instead of ``mapc`` otherwise). Paper: None, not assessed."""
        return None if self.resolved is None else bool(self.resolved_share >= MIN_RESOLVED_SHARE)

    @staticmethod
    def from_kappa(mode: str, d: int, K: int, D: int, m: int, kappa, relative_noise=None,
                   noise_rtol: float | None = None) -> "CurvatureResult":
        """Build a result (all summaries) from principal curvatures [n, n_normal, d]; with
        ``relative_noise`` [n] and ``noise_rtol`` (robust), also the resolution fields."""
        kappa = np.asarray(kappa, dtype=np.float64)
        if kappa.ndim != 3 or kappa.shape[0] == 0:
            raise ValueError(f"kappa must have shape [n > 0, n_normal, d], got {kappa.shape}")
        a = np.abs(kappa)
        flat = a.reshape(a.shape[0], -1)
        largest = flat.max(1) if flat.shape[1] else np.zeros(a.shape[0])
        per_point = flat.mean(1) if mode == "paper" else largest
        frob = np.sqrt((kappa ** 2).sum(2))  # ||H^alpha||_F, [n, n_normal]
        top = frob.max(1, keepdims=True) if frob.shape[1] else np.zeros((a.shape[0], 1))
        carrying = (frob >= CARRYING_RTOL * top) & (frob > 0)
        count = carrying.sum() * a.shape[2]
        carrying_mean = float((a * carrying[..., None]).sum() / count) if count else 0.0
        resolution = {}
        if relative_noise is not None:
            rel = np.asarray(relative_noise, dtype=np.float64).reshape(-1)
            if rel.shape != (kappa.shape[0],) or noise_rtol is None:
                raise ValueError(f"relative_noise must have shape [n={kappa.shape[0]}] and come with noise_rtol, "
                                 f"got {rel.shape} and {noise_rtol!r}")
            resolved = rel <= noise_rtol
            resolution = dict(relative_noise=rel, resolved=resolved, resolved_share=float(resolved.mean()),
                              noise_rtol=float(noise_rtol))
        return CurvatureResult(mode=mode, d=int(d), K=int(K), D=int(D), m=int(m), kappa=kappa,
                               per_point=per_point, mapc=float(per_point.mean()),
                               max_abs=float(largest.mean()), carrying_mean_abs=carrying_mean, **resolution)

    @staticmethod
    def concatenate(results: list["CurvatureResult"]) -> "CurvatureResult":
        """Join results for disjoint chunks of points (same mode, d, D, direction count and
        noise_rtol); summaries are recomputed over all points, so chunked == one-shot."""
        results = list(results)
        if not results:
            raise ValueError("concatenate needs at least one CurvatureResult")
        first = results[0]
        for r in results[1:]:
            if (r.mode, r.d, r.D) != (first.mode, first.d, first.D) or r.kappa.shape[1:] != first.kappa.shape[1:]:
                raise ValueError("cannot concatenate results with different mode, d, D or kappa shape: "
                                 f"{(first.mode, first.d, first.D, first.kappa.shape[1:])} vs "
                                 f"{(r.mode, r.d, r.D, r.kappa.shape[1:])}")
        if len({r.K for r in results}) > 1 or len({r.m for r in results}) > 1:
            raise ValueError(f"cannot concatenate results with different K or m: {[(r.K, r.m) for r in results]}")
        if len({str(r.noise_rtol) for r in results}) > 1 or len({r.resolved is None for r in results}) > 1:
            raise ValueError(f"cannot concatenate results with different noise_rtol: {[r.noise_rtol for r in results]}")
        kappa = np.concatenate([r.kappa for r in results], axis=0)
        rel = None if first.relative_noise is None else np.concatenate([r.relative_noise for r in results])
        return CurvatureResult.from_kappa(first.mode, first.d, first.K, first.D, first.m, kappa, rel,
                                          None if rel is None else first.noise_rtol)
