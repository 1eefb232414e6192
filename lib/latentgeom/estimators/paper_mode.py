"""The paper mode's engine: principal curvatures of a chunk of points as Kaufman & Azencot
(ICML 2023) compute them, batched (see :func:`latentgeom.estimators.curvature.mapc`)."""
from __future__ import annotations

import torch

from .pseudo_inverse import fit_tall, fit_wide
from .quadratic_design import difference_gram, distinct_rows, frame_coordinates, quadratic_columns, sym_from_upper
from .threads import lapack

__all__ = ["paper_chunk"]


def paper_chunk(x: torch.Tensor, y: torch.Tensor, *, d: int, m: int, rcond: float) -> torch.Tensor:
    """kappa [b, m - d, d] of the paper's estimator for a chunk of b points ``x`` [b, D] in the
    working precision and their neighbours ``y`` [b, K, D] (that precision, or float32 when
    D > K: read block by block, see :func:`.quadratic_design.difference_gram`)."""
    K, D = y.shape[1:]
    if D <= K:
        delta = y.to(x.dtype) - x[:, None, :]  # uncentred frame (paper)
        # Frame from the D x D Gram matrix (m = D). Only the tangent coordinates are formed: the
        # fit solves for the D ambient coordinates, whose Hessian coefficients are turned to the
        # normal basis afterwards, (pinv(Phi) Delta) U_n = pinv(Phi) (Delta U_n): a q x D x (m - d)
        # product instead of the K x D x D one of all coordinates.
        # eigh's ascending order is kept (a flip would copy U): the tangent coordinates come in
        # reverse order, which permutes each Hessian's rows and columns and so leaves its
        # eigenvalues; the normal directions are put in the paper's descending order at the end.
        with lapack(delta.device):
            U = torch.linalg.eigh(delta.mT @ delta)[1]
        u, rhs, normal = delta @ U[..., D - d:], delta, U[..., :D - d]
        gram = None  # the K x K Gram matrix only where the fit needs it (below)
    else:  # frame from the K x K side: the normal coordinates come with it
        gram = difference_gram(y, x, x.dtype)
        coords = frame_coordinates(gram, m)
        u, rhs, normal = coords[..., :d], coords[..., d:], None
    quad = quadratic_columns(u)  # [b, K, q]
    if d + quad.shape[-1] <= K:  # P x P side
        coef = fit_tall(torch.cat([u, quad], -1), rhs, rcond, first=d)
    else:  # K x K side
        if gram is None:
            gram = delta @ delta.mT
        coef = fit_wide(u, quad, rhs, distinct_rows(y, x, gram), rcond)  # [b, q, r]
    if normal is not None:
        coef = coef @ normal
    H = sym_from_upper(coef.mT, d)  # [b, m - d, d, d]
    if d == 1:
        kappa = H[..., 0]
    else:
        with lapack(H.device):
            kappa = torch.linalg.eigvalsh(H)
    return kappa if normal is None else kappa.flip(1)  # normal directions in descending order
