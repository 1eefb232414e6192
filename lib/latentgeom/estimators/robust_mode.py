"""The robust mode's engine: the true principal curvatures of a chunk of points, from a
well-posed local fit with noise debiasing, an adaptive neighbourhood size and a correction of
the small-neighbourhood bias (see :func:`latentgeom.estimators.curvature.mapc`)."""
from __future__ import annotations

import math

import torch

from .quadratic_design import frame_coordinates, quadratic_columns, sym_from_upper
from .threads import lapack

__all__ = ["robust_chunk", "robust_fit"]


def robust_chunk(x: torch.Tensor, y: torch.Tensor, *, d: int, n_normal: int, rcond: float,
                  scales: int, noise_rtol: float) -> torch.Tensor:
    """kappa [b, n_normal, d] of the robust estimator for a chunk of b points.

    One tangent frame per point (top-d principal axes of the whole centred neighbourhood), then
    fits on nested neighbourhoods (nearest first) of ``scales`` sizes; per point, the smallest
    size whose curvature stands above the noise (relative noise <= ``noise_rtol``) wins, else
    the quietest one.
    """
    b, K, D = y.shape
    eps = torch.finfo(x.dtype).eps
    p = 1 + d + d * (d + 1) // 2
    delta = y - x[:, None, :]
    if D > K:
        # Every step below is unchanged by an isometry of the neighbourhood's span, so work in
        # K coordinates of it instead of D (a conv layer: D = 3136, K = 63). float64: from the
        # K x K Gram matrix (cheapest; extents below ~5e-7 of the largest are lost to its squared
        # condition number); float32, where that floor would be ~2e-3: Householder QR,
        # Delta^T = Q R, Delta_j = Q R[:, j].
        if delta.dtype == torch.float64:
            delta = frame_coordinates(delta, K)  # [b, K, K]
        else:
            with lapack(x.device):
                delta = torch.linalg.qr(delta.mT, mode="r")[1].mT  # [b, K, K]
        D = K
    centred = delta - delta.mean(1, keepdim=True)
    with lapack(x.device):  # D <= K now: the D x D Gram matrix
        lam, T = torch.linalg.eigh(centred.mT @ centred)
    lam_d, T = lam.flip(-1)[..., :d], T.flip(-1)[..., :d]
    if bool((lam_d[..., -1] <= 1e3 * K * eps * lam_d[..., 0]).any()):
        raise ValueError(f"some neighbourhoods span fewer than d={d} dimensions; lower d or use richer "
                         "neighbourhoods")
    u = delta @ T  # tangent coordinates relative to x, [b, K, d]
    resid = delta - u @ T.mT  # normal residuals in ambient coordinates, [b, K, D]
    k_low = min(K, 2 * p)
    sizes = sorted({round(k_low * (K / k_low) ** (i / (scales - 1))) for i in range(scales)}) \
        if scales > 1 and K > k_low else [K]
    if len(sizes) > 1:  # nearest first (data kNN already is; perturbation neighbourhoods are not)
        order = delta.square().sum(-1).argsort(dim=1)
        u = torch.gather(u, 1, order[..., None].expand_as(u))
        resid = torch.gather(resid, 1, order[..., None].expand_as(resid))
    kappa, rel = robust_fit(u, resid, n_normal=n_normal, rcond=rcond)
    resolved = rel <= noise_rtol
    for k in sizes[:-1]:  # ascending: the first resolved size wins
        kap_k, rel_k = robust_fit(u[:, :k], resid[:, :k], n_normal=n_normal, rcond=rcond)
        take = ~resolved & ((rel_k <= noise_rtol) | (rel_k < rel)) if k != sizes[0] else \
            (rel_k <= noise_rtol) | (rel_k < rel)
        if k == sizes[0]:
            resolved = torch.zeros_like(resolved)
        kappa = torch.where(take[:, None, None], kap_k, kappa)
        rel = torch.where(take, rel_k, rel)
        resolved = resolved | (take & (rel_k <= noise_rtol))
    return kappa


def robust_fit(u: torch.Tensor, resid: torch.Tensor, *, n_normal: int, rcond: float, iterations: int = 2):
    """One fit r ~ c + A u + 1/2 II(u, u) on tangent coordinates u [b, K, d] and ambient normal
    residuals [b, K, D]: kappa [b, n_normal, d] and the relative noise [b] of the strongest
    normal direction's Hessian (infinite where it cannot be told)."""
    b, K, d = u.shape
    tiny = torch.finfo(u.dtype).tiny
    quad = quadratic_columns(u)  # coefficients = Hessian entries
    design = torch.cat([torch.ones_like(u[..., :1]), u, quad], dim=-1)  # [b, K, p]
    p = design.shape[-1]
    # Equilibrate columns (linear ~ rho, quadratic ~ rho^2) before the normal equations.
    scale = torch.linalg.vector_norm(design, dim=1, keepdim=True).clamp_min(tiny)
    ds = design / scale
    with lapack(u.device):
        ev, E = torch.linalg.eigh(ds.mT @ ds)
    keep = ev > (rcond * ev[..., -1:]).clamp_min(0)
    inv = torch.where(keep, 1.0 / torch.where(keep, ev, torch.ones_like(ev)), torch.zeros_like(ev))
    solve = E @ (inv[..., None] * E.mT)  # (X^T X)^+ of the scaled design, [b, p, p]
    coef_s = solve @ (ds.mT @ resid)  # [b, p, D]
    hq = (coef_s / scale.mT)[:, 1 + d:, :]  # [b, q, D]: second fundamental form per ambient axis
    # Principal normal axes of II under the Frobenius norm (off-diagonal entries count twice).
    iu = torch.triu_indices(d, d, device=u.device)
    wts = torch.where(iu[0] == iu[1], 1.0, math.sqrt(2.0)).to(u.dtype)
    hw = hq * wts[:, None]
    # Noise in the normal residuals adds (sum of its variances) * cov to hw hw^T, spread over
    # every ambient axis (cov = W (X^T X)^-1 W, the design's covariance of the weighted Hessian
    # entries). The sum is estimated from the residuals of the fit, RSS / (K - p), and
    # subtracted, so that noise does not pose as curvature.
    sq = scale[:, 0, 1 + d:] / wts
    cov = solve[:, 1 + d:, 1 + d:] / (sq[:, :, None] * sq[:, None, :])
    misfit = resid - ds @ coef_s  # [b, K, D]
    dof = max(K - p, 1)
    gram = hw @ hw.mT - (misfit.square().sum((1, 2)) / dof)[:, None, None] * cov
    with lapack(u.device):
        s2, Z = torch.linalg.eigh(gram)  # [b, q], [b, q, q]
    Z = Z.flip(-1)[..., :n_normal]
    s = s2.flip(-1)[..., :n_normal].clamp_min(0).sqrt()
    # The projection of II on normal axis nu_i = hw^T z_i / s_i has weighted coefficients s_i z_i.
    proj = (Z * s[:, None, :]).mT / wts  # [b, n_normal, q], unweighted H entries
    # Relative noise of the strongest direction: residual variance along nu_1 times the trace
    # of cov, against ||H_1||^2 (weighted).
    nu = (hw.mT @ Z[..., :1]) / s[:, None, :1].clamp_min(tiny)  # [b, D, 1]
    var_nu = (misfit @ nu).square().sum((1, 2)) / dof
    rel = (var_nu * cov.diagonal(dim1=-2, dim2=-1).sum(-1)).sqrt() / s[:, 0].clamp_min(tiny)
    rel = torch.where((s[:, 0] > 0) & torch.tensor(K > p), rel, torch.full_like(rel, math.inf))
    # Small-neighbourhood bias: over the tangent plane a normal section is the graph
    # h(u) = 1/2 u^T H u + 1/8 (u^T H u)(u^T H^2 u) + ... (exact to 4th order for spheres and
    # cylinders), and the quadratic fit absorbs the quartic term, overestimating curvature by
    # ~0.2 (rho kappa)^2. Predict that term from the fitted H, remove its share of the fit.
    H0 = sym_from_upper(proj, d)  # [b, n_normal, d, d]
    H = H0
    proj_coef = solve[:, 1 + d:] / scale[:, 0, 1 + d:, None]  # rows of pinv(X) for the Hessian
    for _ in range(iterations):
        uHu = torch.einsum("bki,bnij,bkj->bnk", u, H, u)
        uH2u = (torch.einsum("bnij,bkj->bnki", H, u)).square().sum(-1)
        quartic = uHu * uH2u / 8  # [b, n_normal, K]
        shift = (proj_coef @ (ds.mT @ quartic.mT)).mT  # [b, n_normal, q]
        # A correction, not a refit: capped at half of ||H|| where noise makes it run away.
        cap = 0.5 * proj.norm(dim=-1, keepdim=True) / shift.norm(dim=-1, keepdim=True).clamp_min(tiny)
        H = H0 - sym_from_upper(shift * cap.clamp(max=1.0), d)
    if d == 1:
        return H[..., 0], rel
    with lapack(u.device):
        return torch.linalg.eigvalsh(H), rel
