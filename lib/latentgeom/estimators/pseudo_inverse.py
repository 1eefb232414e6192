"""Exact routes to numpy's ``pinv(Phi, rcond) @ f`` for batches of small least-squares
designs: the fit of the paper mode (:mod:`.paper_mode`).

``rcond`` means exactly what it means in ``numpy.linalg.pinv(Phi, rcond=rcond)``: singular
values of the design at or below ``rcond`` times the largest are treated as zero. The routes
decide from the eigenvalues mu of the Gram matrix (no eigenvectors), which carry an absolute
round-off of ~n eps mu_max, so a decision is trusted only where every mu is farther than
``GRAM_TOL`` n eps mu_max from the cut-off rcond^2 mu_max. Then, per point, the cheapest route
that gives numpy's answer (the first two mostly decided without the eigenvalues, by bounds from
the Cholesky factor, :func:`certified_routes`):

- every singular value kept and the design well conditioned once its columns have unit norm:
  the normal equations, L^-T L^-1 Phi^T f (:func:`fit_tall`; :func:`fit_wide` on the K x K side);
- every singular value kept, ill conditioned: Householder QR of the design;
- some cut, the kept ones well conditioned: the eigenvectors of the Gram matrix;
- otherwise (decisions too close to call): the SVD of the design, as numpy computes it.
"""
from __future__ import annotations

from typing import Callable

import torch

from .threads import lapack

__all__ = ["GRAM_MIN_KEPT", "GRAM_TOL", "certified_routes", "decision_band", "eig_pinv_apply", "fit_routes",
           "fit_tall", "fit_wide", "qr_tall", "qr_wide", "solve_per_route", "svd_lstsq", "unit_diagonal"]

# A Gram eigenvalue is trusted when it is farther than GRAM_TOL * n * eps * mu_max from the
# cut-off; the normal equations (Cholesky, eigenvectors) are used only where every kept one is
# at least GRAM_MIN_KEPT * mu_max (condition number of the design below ~3e4: they then lose at
# most ~eps * 1e9 ~ 2e-7 relative), QR or the SVD elsewhere. The Cholesky certificate of
# certified_routes applies this bound to the Gram matrix scaled to a unit diagonal.
GRAM_TOL = 10.0
GRAM_MIN_KEPT = 1e-9


def decision_band(rcond: float, n: int, dtype: torch.dtype) -> tuple[float, float]:
    """(cut-off, round-off) of the keep/cut decision on an n x n Gram matrix, relative to
    mu_max: a mu is surely kept at or above their sum and surely cut at or below their
    difference. The one definition that :func:`fit_routes` and :func:`certified_routes`
    decide by."""
    return rcond * rcond, GRAM_TOL * n * torch.finfo(dtype).eps


def fit_routes(mu: torch.Tensor, rcond: float) -> dict:
    """The points each route of the fit takes ([b] masks, or ``slice(None)`` for all), from the
    Gram eigenvalues mu [b, n] (ascending): numpy's keep/cut decision on every singular value
    must be clear for any route but the SVD."""
    cut, tol = decision_band(rcond, mu.shape[-1], mu.dtype)
    mu_max = mu[..., -1:].clamp_min(0)
    kept, dropped = mu >= (cut + tol) * mu_max, mu <= (cut - tol) * mu_max
    clear = (kept | dropped).all(-1) & (mu_max[..., 0] > 0)
    conditioned = (~kept | (mu >= GRAM_MIN_KEPT * mu_max)).all(-1)
    all_kept = kept.all(-1)
    cholesky = clear & all_kept & conditioned
    qr = clear & all_kept & ~conditioned
    eigenvectors = clear & ~all_kept & conditioned
    routes = dict(cholesky=cholesky, qr=qr, eigenvectors=eigenvectors, svd=~(cholesky | qr | eigenvectors))
    # Indexes per route; a route that takes every point gets a plain slice (no copies).
    return {route: (slice(None) if bool(mask.all()) else mask) for route, mask in routes.items()
            if bool(mask.any())}


def eig_pinv_apply(gram: torch.Tensor, rhs: torch.Tensor, rcond: float) -> torch.Tensor:
    """``pinv(gram) @ rhs`` with numpy's cut-off on the design's singular values (mu > rcond^2
    mu_max), by the eigenvectors of the Gram matrix."""
    with lapack(gram.device):
        mu, E = torch.linalg.eigh(gram)
    keep = mu > rcond * rcond * mu[..., -1:].clamp_min(0)
    inv = torch.where(keep, 1.0 / torch.where(keep, mu, torch.ones_like(mu)), torch.zeros_like(mu))
    return E @ (inv[..., None] * (E.mT @ rhs))


def svd_lstsq(phi: torch.Tensor, f: torch.Tensor, rcond: float) -> torch.Tensor:
    """``pinv(phi, rcond) @ f`` by the SVD of the design, as numpy computes it."""
    with lapack(phi.device):
        U, S, Vh = torch.linalg.svd(phi, full_matrices=False)
    keep = S > rcond * S[..., :1]
    inv = torch.where(keep, 1.0 / torch.where(keep, S, torch.ones_like(S)), torch.zeros_like(S))
    return Vh.mT @ (inv[..., None] * (U.mT @ f))


def solve_per_route(gram: torch.Tensor, rcond: float, solve: Callable) -> torch.Tensor:
    """Run ``solve(route, idx, factor)`` on the points of each route and gather the solutions
    in point order; the shared driver of :func:`fit_tall` and :func:`fit_wide`.

    Every point's Gram matrix is Cholesky-factorised first. Where bounds from that factor
    prove every singular value kept (:func:`certified_routes`), the Gram eigenvalues are not
    needed: Cholesky where they also prove the design well conditioned, else QR (exact for
    any design whose singular values are all kept). The other points are routed by
    :func:`fit_routes`. ``factor`` is (L^-1, failed) for the Cholesky route: gram^-1 =
    L^-T L^-1, two matrix products (faster than triangular solves on these small systems, and
    as accurate at the condition numbers this route admits); ``failed``: [b] factorisations
    that broke down, to be solved by QR. None on other routes.
    """
    with lapack(gram.device):
        cholesky, qr, L_inv, info = certified_routes(gram, rcond)
        if bool(cholesky.all()):  # no gathering
            return solve("cholesky", slice(None), (L_inv, info != 0))
        masks = {"cholesky": cholesky, "qr": qr}
        rest = (~(cholesky | qr)).nonzero()[:, 0]
        if len(rest):
            for route, mask in fit_routes(torch.linalg.eigvalsh(gram[rest]), rcond).items():
                masks[route] = masks.get(route, torch.zeros_like(qr)).index_fill(0, rest[mask], True)
        out = None
        for route, idx in masks.items():
            if not bool(idx.any()):
                continue
            sol = solve(route, idx, (L_inv[idx], info[idx] != 0) if route == "cholesky" else None)
            if out is None:
                out = sol.new_empty((gram.shape[0],) + sol.shape[1:])
            out[idx] = sol
    return out


def certified_routes(gram: torch.Tensor, rcond: float
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """([b] Cholesky mask, [b] QR mask, L^-1 [b, n, n], [b] Cholesky info) from bounds that cost
    a triangular inverse instead of an eigensolver: mu_min >= 1 / ||L^-1||_F^2, mu_max <= trace.

    The factor is that of the Gram matrix with a unit diagonal, S gram S (S = diag(gram)^-1/2;
    unit-norm design columns on the P x P side, rows on the K x K side), and L^-1 is returned
    with the scaling folded in (L^-1 S), so that gram^-1 = L^-T L^-1 still. The scaling does
    not change the solution where every singular value is kept (the least-squares solution,
    or on the K x K side the minimum-norm one, is unique), and the normal equations' round-off
    is governed by the condition of the scaled matrix (van der Sluis; Cholesky and triangular
    solves err componentwise, independently of a diagonal scaling). Real layers' designs are
    badly scaled, not ill conditioned: u ~ 1e-2 gives quadratic columns ~1e-4, a condition of
    ~1e4 that the unit-norm columns bring down to ~1e2.

    Cholesky: every mu of ``gram`` provably kept (at least rcond^2 + GRAM_TOL n eps times mu_max,
    :func:`decision_band`) and every mu of the scaled matrix provably at least GRAM_MIN_KEPT
    times its largest; QR: the others whose mu are provably all kept. A margin of 1 % covers
    the rounding of the bounds (~n eps cond relative); points they cannot decide (loose by up
    to a factor n each) are in neither mask and go to the eigenvalues. L^-1 is not meaningful
    where the factorisation failed (info != 0)."""
    n = gram.shape[-1]
    kept = sum(decision_band(rcond, n, gram.dtype))
    diag = gram.diagonal(dim1=-2, dim2=-1)
    scaled, scale = unit_diagonal(gram)
    L, info = torch.linalg.cholesky_ex(scaled)
    ok = info == 0
    eye = torch.eye(n, dtype=gram.dtype, device=gram.device).expand_as(gram)
    Ls_inv = torch.linalg.solve_triangular(torch.where(ok[:, None, None], L, eye), eye, upper=False)
    L_inv = Ls_inv * scale[:, None, :]

    def ratio_bound(inverse_factor, trace):  # <= mu_min / mu_max
        return torch.where(ok & (trace > 0), 1 / (1.01 * inverse_factor.square().sum((-2, -1)) * trace),
                           torch.zeros_like(trace))

    all_kept = ratio_bound(L_inv, diag.sum(-1)) >= kept
    cholesky = all_kept & (ratio_bound(Ls_inv, (diag > 0).sum(-1).to(gram.dtype)) >= GRAM_MIN_KEPT)
    return cholesky, all_kept & ~cholesky, L_inv, info


def unit_diagonal(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(S gram S, S [b, n]) with S = diag(gram)^-1/2: the Gram matrix of unit-norm columns, whose
    condition :func:`certified_routes` judges. S is 1 on a zero diagonal entry (a zero column,
    which then fails the Cholesky factorisation)."""
    diag = gram.diagonal(dim1=-2, dim2=-1)
    scale = torch.where(diag > 0, diag.rsqrt(), torch.ones_like(diag))
    return gram * scale[:, :, None] * scale[:, None, :], scale


def fit_tall(phi: torch.Tensor, f: torch.Tensor, rcond: float, first: int = 0) -> torch.Tensor:
    """Rows ``first:`` of ``pinv(phi, rcond) @ f`` [b, P - first, r] for designs with P <= K
    unknowns, from the P x P side (the caller needs only the Hessian rows)."""
    gram = phi.mT @ phi
    rhs = phi.mT @ f  # [b, P, r] for the normal equations: one product for all points, then
    # indexed, is cheaper than gathering the [K, P] and [K, r] inputs of a route's points

    def solve(route, idx, factor):
        if route == "cholesky":  # rows first: of L^-T L^-1 rhs need L^-1[first:] only (triangular)
            L_inv, failed = factor
            sol = L_inv[..., first:, first:].mT @ (L_inv[..., first:, :] @ rhs[idx])
            if bool(failed.any()):
                sol[failed] = qr_tall(phi[idx][failed], f[idx][failed])[..., first:, :]
            return sol
        if route == "qr":
            return qr_tall(phi[idx], f[idx])[..., first:, :]
        if route == "eigenvectors":
            return eig_pinv_apply(gram[idx], rhs[idx], rcond)[..., first:, :]
        return svd_lstsq(phi[idx], f[idx], rcond)[..., first:, :]

    return solve_per_route(gram, rcond, solve)


def qr_tall(phi: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Least squares for a full-column-rank design [b, K, P], P <= K: R^-1 Q^T f."""
    Q, R = torch.linalg.qr(phi)
    return torch.linalg.solve_triangular(R, Q.mT @ f, upper=True)


def fit_wide(u: torch.Tensor, quad: torch.Tensor, f: torch.Tensor, copies: torch.Tensor,
              rcond: float) -> torch.Tensor:
    """Hessian coefficients ``(pinv(Phi, rcond) @ f)[d:]`` [b, q, r] for designs with more
    unknowns than neighbours (P > K), from the K x K side: pinv(Phi) = Phi^T (Phi Phi^T)^+,
    Phi Phi^T a polynomial of the tangent inner products.

    ``copies`` [b, K] (from :func:`distinct_rows`) counts each distinct row's copies and is 0
    on rows that add no constraint. Those are taken out exactly: the distinct rows, scaled by
    sqrt(copies), have the same Gram eigenvalues as the whole design (Phi^T Phi = sum of
    copies * phi phi^T), hence numpy's decisions, and the same minimum-norm solution.
    """
    P = u.shape[-1] + quad.shape[-1]
    scale = copies.to(u.dtype).sqrt()[..., None]  # [b, K, 1]; 0 on rows taken out
    a = u @ u.mT
    u2 = u * u
    gram = scale * (a + 0.5 * a * a - 0.25 * (u2 @ u2.mT)) * scale.mT
    # A taken-out row gets an own unknown with column c e_j: c^2 on the diagonal. c^2 = the
    # largest diagonal entry (<= mu_max, above any cut-off), so mu_max and the decisions stay.
    diag = gram.diagonal(dim1=-2, dim2=-1)
    c2 = torch.where(scale[..., 0] == 0, diag.amax(-1, keepdim=True), torch.zeros_like(diag))
    diag.add_(c2)
    u_s, quad_s, rhs = u * scale, quad * scale, f * scale

    def solve(route, idx, factor):
        if route == "cholesky":
            L_inv, failed = factor
            sol = quad_s[idx].mT @ (L_inv.mT @ (L_inv @ rhs[idx]))
            if bool(failed.any()):
                sol[failed] = qr_wide(u_s[idx][failed], quad_s[idx][failed], c2[idx][failed], rhs[idx][failed], P)
            return sol
        if route == "qr":
            return qr_wide(u_s[idx], quad_s[idx], c2[idx], rhs[idx], P)
        if route == "eigenvectors":
            return quad_s[idx].mT @ eig_pinv_apply(gram[idx], rhs[idx], rcond)
        # numpy's own computation on the design as it is
        return svd_lstsq(torch.cat([u[idx], quad[idx]], -1), f[idx], rcond)[..., u.shape[-1]:, :]

    return solve_per_route(gram, rcond, solve)


def qr_wide(u_s, quad_s, c2, rhs, P: int) -> torch.Tensor:
    """Hessian rows of the minimum-norm solution for a full-row-rank design [Phi_s, diag(c)]
    (rows scaled as in :func:`fit_wide`): with [Phi_s, diag(c)]^T = Q R, beta = Q R^-T rhs."""
    aug = torch.cat([u_s, quad_s], -1).mT  # [b, P, K]
    aug = torch.cat([aug, torch.diag_embed(c2.sqrt())], -2)  # [b, P + K, K]
    Q, R = torch.linalg.qr(aug)
    z = torch.linalg.solve_triangular(R.mT, rhs, upper=False)
    return Q[..., u_s.shape[-1]:P, :] @ z
