"""The local quadratic design shared by both curvature modes: tangent coordinates of a
neighbourhood's frame, the quadratic columns whose coefficients are Hessian entries, and the
symmetric Hessians rebuilt from them; plus the exact removal of neighbours that add no
constraint (the point itself, duplicates) from a design, and the number of directions a
neighbourhood spans (:func:`spanned_directions`: a fit of tangent dimension d needs d of them).

Used by :mod:`.paper_mode` and :mod:`.robust_mode` (see :func:`latentgeom.estimators.curvature.mapc`).
"""
from __future__ import annotations

import torch

from ..validation import as_tensor, check_range
from .threads import lapack

__all__ = ["distinct_rows", "frame_coordinates", "quadratic_columns", "spanned_directions", "sym_from_upper"]

#: Default of :func:`spanned_directions`: extents below this fraction of a neighbourhood's largest
#: are numerical zeros (float32 images rebuilt from an SVD move every pixel by ~1e-7 of its value).
SPAN_RTOL = 1e-4


def quadratic_columns(u: torch.Tensor) -> torch.Tensor:
    """[..., K, d] tangent coordinates -> [..., K, d(d+1)/2] design columns 1/2 u_k^2 (k = l) and
    u_k u_l (k < l), row-major upper-triangle order: their coefficients are the Hessian entries."""
    d = u.shape[-1]
    iu = torch.triu_indices(d, d, device=u.device)
    scale = torch.where(iu[0] == iu[1], 0.5, 1.0).to(u.dtype)
    # one gather from the outer products (cheaper than gathering both factors)
    outer = (u[..., :, None] * u[..., None, :]).flatten(-2)
    return outer.index_select(-1, iu[0] * d + iu[1]) * scale


def frame_coordinates(delta: torch.Tensor, m: int) -> torch.Tensor:
    """Coordinates c_j = U^T Delta_j [b, K, m] in the uncentred frame (left singular vectors of
    the D x K matrix), from the K x K Gram matrix: c = S V^T (the cheap side when K < D)."""
    K = delta.shape[1]
    with lapack(delta.device):
        lam, V = torch.linalg.eigh(delta @ delta.mT)
    lam, V = lam.flip(-1)[..., :m], V.flip(-1)[..., :m]
    # Exact zeros of the SVD come back as +-K eps lam_max from the Gram route; their square
    # roots (~1e-7 relative) would fake normal coordinates, so zero them as the SVD would.
    floor = 10 * K * torch.finfo(delta.dtype).eps * lam[..., :1].clamp_min(0)
    s = torch.where(lam > floor, lam.clamp_min(0).sqrt(), torch.zeros_like(lam))
    return V * s[..., None, :]


def spanned_directions(points, neighbours, rtol: float = SPAN_RTOL) -> torch.Tensor:
    """Number of directions each neighbourhood spans: the numerical rank of its displacements.

    For the pipeline: count, per image, the input directions its perturbations span
    (``points`` = images flattened to [n, C*H*W], ``neighbours`` = their perturbed copies
    flattened to [n, M, C*H*W]); a latent neighbourhood made of those copies resolves a tangent
    dimension d only where the count is at least d (binary masks or continuous factors of q
    singular values shared by the channels span at most q directions). Works on any
    neighbourhoods, data kNN included.

    Parameters
    ----------
    points : array-like or Tensor, shape [n, D]
    neighbours : array-like or Tensor, shape [n, K, D]
    rtol : float in (0, 1)
        Singular values of the K x D displacement matrix [y_j - x] below ``rtol`` times its
        largest count as zero (default :data:`SPAN_RTOL`).

    Returns
    -------
    Tensor, int64, shape [n]
        Per point, the number of singular values above the tolerance (0 for a neighbourhood
        that does not move); at most min(K, D).
    """
    P = as_tensor(points, "points", ndim=2)
    Y = as_tensor(neighbours, "neighbours", ndim=3)
    if Y.shape[0] != P.shape[0] or Y.shape[2] != P.shape[1]:
        raise ValueError(f"neighbours must have shape [n={P.shape[0]}, K, D={P.shape[1]}] to match points "
                         f"{tuple(P.shape)}, got {tuple(Y.shape)}")
    rtol = check_range(rtol, "rtol", 0.0, 1.0, closed="neither")
    delta = Y.to(torch.float64) - P.to(torch.float64)[:, None, :]
    small = delta @ delta.mT if delta.shape[1] <= delta.shape[2] else delta.mT @ delta
    with lapack(delta.device):
        lam = torch.linalg.eigvalsh(small).clamp_min(0)  # squared singular values, ascending
    return (lam > (rtol ** 2) * lam[..., -1:]).sum(-1) * (lam[..., -1] > 0)


def sym_from_upper(coef: torch.Tensor, d: int) -> torch.Tensor:
    """[..., d(d+1)/2] coefficients in row-major upper-triangle order -> symmetric [..., d, d]."""
    iu = torch.triu_indices(d, d, device=coef.device)
    position = torch.empty(d, d, dtype=torch.long, device=coef.device)  # (i, j) -> its coefficient
    position[iu[0], iu[1]] = position[iu[1], iu[0]] = torch.arange(iu.shape[1], device=coef.device)
    return coef.index_select(-1, position.flatten()).unflatten(-1, (d, d))


def distinct_rows(delta: torch.Tensor) -> torch.Tensor:
    """[b, K] number of copies of each distinct neighbour (itself included) on its first
    occurrence, 0 on the rest and on the point itself (a zero row): those add no constraint.
    Candidates by a random projection (equal rows project equally), each confirmed by exact
    comparison: a missed copy only costs speed."""
    b, K, D = delta.shape
    probe = torch.randn(D, 1, dtype=delta.dtype, generator=torch.Generator().manual_seed(0)).to(delta.device)
    key = (delta @ probe)[..., 0]  # [b, K]
    lower = torch.ones(K, K, dtype=torch.bool, device=delta.device).tril(-1)
    earlier = (key[:, :, None] == key[:, None, :]) & lower  # [b, k, j]: j < k, same key
    zero = key == 0
    copies = torch.ones_like(key)
    bi, ki = (earlier.any(-1) | zero).nonzero(as_tuple=True)
    if len(bi):
        ji = earlier[bi, ki].to(torch.uint8).argmax(-1)  # the first row with that key
        rows = delta[bi, ki]
        is_zero = zero[bi, ki] & (rows == 0).all(-1)
        is_copy = earlier[bi, ki, ji] & (rows == delta[bi, ji]).all(-1) & ~is_zero
        copies[bi[is_copy], ki[is_copy]] = 0
        first_b, first_j = bi[is_copy], ji[is_copy]
        copies.index_put_((first_b, first_j), torch.ones_like(first_b, dtype=copies.dtype), accumulate=True)
        copies[bi[is_zero], ki[is_zero]] = 0
    return copies
