"""Scale-free (dimensionless) curvature: curvature measured in units of a length of the data.

A principal curvature kappa has units of 1 / length: multiply a layer's activations by c > 0
and every kappa, and so MAPC, is divided by c. Two layers whose activations differ in scale
(untrained networks shrink or grow their activations layer by layer) then differ in MAPC
even when their point clouds have the same *shape*. A dimensionless curvature is a curvature
times a length of the same cloud; this module gives two, both unchanged under x -> c x for
every c > 0 and in both estimator modes of :func:`latentgeom.estimators.curvature.mapc`:

``global`` (the *scale-free MAPC*) : kappa_hat = MAPC * R
    R = RMS radius of the layer's sample about its centroid,
    R = sqrt(mean_i ||x_i - mean(x)||^2). On a sphere of radius r sampled all over, R = r
    and kappa_hat = 1 whatever r; in general kappa_hat = R / (radius of curvature): how curved
    the manifold is compared with the extent of the data on it.

``local`` (the *bending*) : beta = mean_i kappa_i * rho_i
    kappa_i = the point's own curvature summary (``CurvatureResult.per_point``: paper, mean
    |kappa| over all values; robust, the largest |kappa|) and rho_i = the RMS distance of
    the point's K neighbours from it, rho_i = sqrt(mean_j ||y_ij - x_i||^2). kappa * rho is
    the angle (radians) through which the manifold turns across the neighbourhood: on a
    sphere of radius r with neighbourhoods of radius rho it is rho / r. It measures how far
    from flat each neighbourhood is, at the scale the estimator actually looks at.

Relations between the modes (tested in ``tests/test_scale_free.py``):

- both summaries are linear in the curvatures, with the same length for both modes, so
  ``kappa_hat_paper / kappa_hat_robust = MAPC_paper / MAPC_robust`` exactly (global);
- on a sphere (one normal direction carries curvature 1/r in all d tangent directions) the
  paper mode averages over (m - d) normal directions and the robust mode takes the largest
  value, so ``paper ~ robust / (m - d)`` (the paper estimator's dilution, m = min(D, K)).

Used by :func:`latentgeom.profiles.curvature_profile` (columns ``scale_free_M`` and
``bend_M``), every curvature finding page (the ``scale-free`` instrument) and the methods page
"Scale-free curvature".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..validation import as_tensor
from .curvature import CurvatureResult, mapc

__all__ = ["RMSRadius", "ScaleFreeResult", "bending", "neighbourhood_radius", "rms_radius", "scale_free_mapc"]


class RMSRadius:
    """Streaming RMS radius of a point cloud about its centroid, fed in chunks of points.

    ``add(points [b, D])`` accumulates in float64; ``value`` is
    sqrt(mean ||x||^2 - ||mean x||^2) over all points added (activation units).
    """

    def __init__(self):
        self.n, self.total, self.squares = 0, None, 0.0

    def add(self, points) -> "RMSRadius":
        x = as_tensor(points, "points", ndim=2).to("cpu", torch.float64)
        total = x.sum(0)
        self.total = total if self.total is None else self.total + total
        self.squares += float((x * x).sum())
        self.n += x.shape[0]
        return self

    @property
    def value(self) -> float:
        if self.n == 0:
            raise ValueError("RMSRadius has no points; add() some first")
        mean = self.total / self.n
        return float(np.sqrt(max(self.squares / self.n - float(mean @ mean), 0.0)))


def rms_radius(points) -> float:
    """RMS distance of ``points`` [n, D] from their centroid (same units as the points)."""
    return RMSRadius().add(points).value


def neighbourhood_radius(points, neighbours) -> np.ndarray:
    """[n] RMS distance of each point's neighbours [n, K, D] from the point [n, D].

    Distances are taken in the inputs' own precision (float32 activations stay float32: the
    [n, K, D] neighbourhoods of a conv layer are large) and averaged in float64. One point at a
    time: its [K, D] differences stay in the cache (5x faster than one [n, K, D] difference
    on a conv layer's neighbourhoods, the same numbers).
    """
    x = as_tensor(points, "points", ndim=2, finite=False)
    y = as_tensor(neighbours, "neighbours", ndim=3, finite=False)
    if y.shape[0] != x.shape[0] or y.shape[2] != x.shape[1]:
        raise ValueError(f"neighbours must have shape [n={x.shape[0]}, K, D={x.shape[1]}], got {tuple(y.shape)}")
    x = x.to(y.dtype)
    distances = torch.empty(y.shape[:2], dtype=y.dtype, device=y.device)
    for i in range(len(y)):
        distances[i] = torch.linalg.vector_norm(y[i] - x[i], dim=-1)
    squared = distances.to(torch.float64) ** 2
    return squared.mean(1).sqrt().cpu().numpy()


def bending(per_point, radii) -> float:
    """The local scale-free curvature: mean over points of ``per_point`` curvature x ``radii``."""
    per_point, radii = np.asarray(per_point, dtype=np.float64), np.asarray(radii, dtype=np.float64)
    if per_point.shape != radii.shape or per_point.ndim != 1 or per_point.size == 0:
        raise ValueError(f"per_point and radii must be non-empty vectors of one length, got "
                         f"{per_point.shape} and {radii.shape}")
    return float((per_point * radii).mean())


@dataclass(frozen=True)
class ScaleFreeResult:
    """Both dimensionless curvatures of one point cloud, with what they are made of.

    ``scale_free`` = ``result.mapc * length`` (global); ``bending`` = mean of
    ``result.per_point * radii`` (local); ``length`` = RMS radius of the points;
    ``radii`` [n] = each neighbourhood's RMS radius (input units); ``result`` = the estimate on
    the cloud divided by R (its ``kappa`` is in units of 1 / R).
    """

    scale_free: float
    bending: float
    length: float
    radii: np.ndarray
    result: CurvatureResult


def scale_free_mapc(points, neighbours, d: int, mode: str = "paper", **options) -> ScaleFreeResult:
    """:func:`~latentgeom.estimators.curvature.mapc` of ``points`` [n, D] and ``neighbours``
    [n, K, D], turned into the two dimensionless curvatures (see the module docstring).

    The cloud is first divided by its own RMS radius R, so the estimator sees the same numbers
    whatever the input's scale, and the curvatures come back in units of 1 / R: the result is
    invariant under x -> c x up to rounding. ``options`` go to ``mapc`` (mode, device, ...).
    """
    length = rms_radius(points)
    if not length > 0:
        raise ValueError("points must not all coincide: their RMS radius is 0, so no length scale exists")
    x = as_tensor(points, "points", ndim=2).to(torch.float64) / length
    y = as_tensor(neighbours, "neighbours", ndim=3).to(torch.float64) / length
    res = mapc(x, y, d, mode=mode, **options)
    radii = neighbourhood_radius(x, y)
    return ScaleFreeResult(scale_free=res.mapc, bending=bending(res.per_point, radii), length=length,
                           radii=radii * length, result=res)
