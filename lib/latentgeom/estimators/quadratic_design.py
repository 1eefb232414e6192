"""The local quadratic design shared by both curvature modes: tangent coordinates of a
neighbourhood's frame, the quadratic columns whose coefficients are Hessian entries, and the
symmetric Hessians rebuilt from them; the Gram matrices of a neighbourhood's displacements,
read block by block from float32 activations (:func:`difference_gram`); the exact removal of
neighbours that add no constraint (the point itself, duplicates) from a design; and the number
of directions a neighbourhood spans (:func:`spanned_directions`: a fit of tangent dimension d needs d of them).

Used by :mod:`.paper_mode` and :mod:`.robust_mode` (see :func:`latentgeom.estimators.curvature.mapc`).
"""
from __future__ import annotations

import torch

from ..validation import as_tensor, check_range
from .threads import lapack

__all__ = ["COPY_RTOL", "GRAM_BLOCK", "difference_gram", "distinct_rows", "frame_coordinates", "quadratic_columns",
           "spanned_directions", "sym_from_upper"]

#: Default of :func:`spanned_directions`: extents below this fraction of a neighbourhood's largest
#: are numerical zeros (float32 images rebuilt from an SVD move every pixel by ~1e-7 of its value).
SPAN_RTOL = 1e-4
#: Columns per step of :func:`difference_gram` where it converts the neighbours (float32 into
#: float64): measured fastest of 64, 128, 256, 512, 1024 and 4096 on the CI CPU.
GRAM_BLOCK = 256
#: :func:`distinct_rows` takes two neighbours as candidate copies when the squared distance the
#: Gram matrix gives is within this fraction of their squared norms, or within 1e4 eps of the
#: Gram matrix's precision if that is larger (exact copies in float64: ~1e-12, the rounding of D
#: products; in float32 up to ~1e-4). Candidates are confirmed by exact comparison, so a loose
#: tolerance costs comparisons, never a wrong count.
COPY_RTOL = 1e-8


def quadratic_columns(u: torch.Tensor) -> torch.Tensor:
    """[..., K, d] tangent coordinates -> [..., K, d(d+1)/2] design columns 1/2 u_k^2 (k = l) and
    u_k u_l (k < l), row-major upper-triangle order: their coefficients are the Hessian entries."""
    d = u.shape[-1]
    iu = torch.triu_indices(d, d, device=u.device)
    scale = torch.where(iu[0] == iu[1], 0.5, 1.0).to(u.dtype)
    # one gather from the outer products (cheaper than gathering both factors)
    outer = (u[..., :, None] * u[..., None, :]).flatten(-2)
    return outer.index_select(-1, iu[0] * d + iu[1]) * scale


def difference_gram(neighbours: torch.Tensor, points: torch.Tensor, dtype: torch.dtype = torch.float64,
                    block: int | None = None) -> torch.Tensor:
    """Gram matrices G = Delta Delta^T [b, K, K] of the displacements Delta_j = y_j - x, in ``dtype``,
    from ``neighbours`` y [b, K, D] and ``points`` x [b, D] in any floating dtype.

    Where the neighbours are converted (float32 into float64 on the CPU), Delta is never formed
    whole in ``dtype``: ``block`` columns at a time (default :data:`GRAM_BLOCK`) are converted,
    subtracted and accumulated, so a float32 conv layer's [b, 64, 12 544] neighbourhoods are read
    once instead of being converted, subtracted and read again at twice the size (2.5x faster on
    one core; equal to float64 round-off: each product of float32 values is exact in float64,
    only the order of the sums differs). Otherwise (nothing to convert, or a GPU, where one
    product is fastest) the default is one product of the whole Delta, as before.
    """
    b, K, D = neighbours.shape
    if block is None:
        converts = neighbours.dtype != dtype or points.dtype != dtype
        block = GRAM_BLOCK if converts and neighbours.device.type == "cpu" else D
    gram = torch.zeros(b, K, K, dtype=dtype, device=neighbours.device)
    for start in range(0, D, block):
        delta = neighbours[:, :, start:start + block].to(dtype) - points[:, None, start:start + block].to(dtype)
        gram.baddbmm_(delta, delta.mT)
    return gram


def frame_coordinates(gram: torch.Tensor, m: int) -> torch.Tensor:
    """Coordinates c_j = U^T Delta_j [b, K, m] in the uncentred frame (left singular vectors of
    the D x K matrix Delta^T), from its K x K Gram matrix ``gram`` = Delta Delta^T [b, K, K]
    (:func:`difference_gram`): c = S V^T (the cheap side when K < D)."""
    K = gram.shape[1]
    with lapack(gram.device):
        lam, V = torch.linalg.eigh(gram)
    lam, V = lam.flip(-1)[..., :m], V.flip(-1)[..., :m]
    # Exact zeros of the SVD come back as +-K eps lam_max from the Gram route; their square
    # roots (~1e-7 relative) would fake normal coordinates, so zero them as the SVD would.
    floor = 10 * K * torch.finfo(gram.dtype).eps * lam[..., :1].clamp_min(0)
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


def distinct_rows(neighbours: torch.Tensor, points: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
    """[b, K] number of copies of each distinct row of ``neighbours`` [b, K, D] (itself included)
    on its first occurrence, 0 on the rest and on the copies of the point ``points`` [b, D]
    itself (a zero displacement): those add no constraint.

    Candidates come from the Gram matrix of the displacements ``gram`` [b, K, K]
    (:func:`difference_gram`), which costs no further pass over the neighbours: the point itself
    has a zero diagonal entry, and two copies a squared distance G_jj + G_kk - 2 G_jk within
    :data:`COPY_RTOL` of their squared norms. Every candidate pair is confirmed by exact
    comparison of the rows, in the neighbours' own precision, and a row counts as a copy of the
    first earlier row it equals exactly: a near-copy among the candidates hides nothing."""
    b, K, _ = neighbours.shape
    rtol = max(COPY_RTOL, 1e4 * torch.finfo(gram.dtype).eps)
    diag = gram.diagonal(dim1=-2, dim2=-1)  # [b, K] squared norms of the displacements
    norms = diag[:, :, None] + diag[:, None, :]
    lower = torch.ones(K, K, dtype=torch.bool, device=gram.device).tril(-1)
    close = ((norms - 2 * gram).abs() <= rtol * norms) & lower  # [b, k, j]: j < k, candidates
    is_point = torch.zeros(b, K, dtype=torch.bool, device=gram.device)
    pb, pk = (diag == 0).nonzero(as_tuple=True)
    is_point[pb, pk] = (neighbours[pb, pk] == points[pb].to(neighbours.dtype)).all(-1)
    copies = torch.ones(b, K, dtype=points.dtype, device=gram.device)  # the fit's precision
    bi, ki, ji = (close & ~is_point[:, :, None]).nonzero(as_tuple=True)  # ordered by (b, k, j)
    if len(bi):
        exact = (neighbours[bi, ki] == neighbours[bi, ji]).all(-1)
        bi, ki, ji = bi[exact], ki[exact], ji[exact]
        first = torch.ones_like(bi, dtype=torch.bool)  # the smallest j of each (b, k)
        first[1:] = (bi[1:] != bi[:-1]) | (ki[1:] != ki[:-1])
        bi, ki, ji = bi[first], ki[first], ji[first]
        copies[bi, ki] = 0
        copies.index_put_((bi, ji), torch.ones_like(bi, dtype=copies.dtype), accumulate=True)
    copies[is_point] = 0
    return copies
