"""The robust mode's engine: the true principal curvatures of a chunk of points, from a
well-posed local fit with noise debiasing, a higher-order correction of the neighbourhood-size
bias, a noise correction of the spread of the principal curvatures, an adaptive neighbourhood
size and a per-point relative noise of the result (see
:func:`latentgeom.estimators.curvature.mapc` and the book's page "Curvature in high dimension").
"""
from __future__ import annotations

import math

import torch

from .quadratic_design import difference_gram, frame_coordinates, quadratic_columns, sym_from_upper
from .threads import lapack

__all__ = ["robust_chunk", "robust_fit", "choose_scale", "noise_upper_bound", "CONFIDENCE_Z", "HIGHER_ORDER_STEPS",
           "SCALE_Z"]

#: One-sided normal quantile of the upper confidence bound on a fit's noise (1.645: 95 %).
CONFIDENCE_Z = 1.645
#: Quasi-Newton steps of the higher-order correction (converged to ~1e-3 at rho = 0.9 on spheres).
HIGHER_ORDER_STEPS = 3
#: Nested sizes are consistent while their headlines differ by at most SCALE_Z noise standard deviations.
SCALE_Z = 3.0
#: The smallest nested size leaves at least this many residual degrees of freedom (and is at least 2p):
#: the noise estimate of a fit with fewer is too rough to judge a larger one by.
MIN_DOF = 30
#: Consecutive nested sizes differ by at least this factor (fewer sizes than ``scales`` where K is
#: close to the smallest): fits on nearly the same neighbours cannot tell scales apart.
MIN_SIZE_RATIO = 1.2
# The closed-form graph h = uHu / (1 + sqrt(1 - uH^2u)) is evaluated up to uH^2u = _S_MAX (a point
# at 78 degrees from the base point on a sphere): beyond, the model is taken as flat in s.
_S_MAX = 0.96


def robust_chunk(x: torch.Tensor, y: torch.Tensor, *, d: int, n_normal: int, rcond: float,
                 scales: int, noise_rtol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """kappa [b, n_normal, d] and relative noise [b] of the robust estimator for a chunk of b points
    ``x`` [b, D] in the working precision and their neighbours ``y`` [b, K, D] (that precision, or
    float32 when D > K: read block by block, see :func:`.quadratic_design.difference_gram`).

    One tangent frame per point (top-d principal axes of the whole centred neighbourhood), then
    fits on up to ``scales`` nested neighbourhoods (nearest first, sizes geometric from
    max(2p, p + MIN_DOF) to K, consecutive ones at least MIN_SIZE_RATIO apart); per point the
    largest size whose headline agrees within noise with every smaller one that is resolved
    (relative noise <= ``noise_rtol``) wins (:func:`choose_scale`).
    """
    b, K, D = y.shape
    eps = torch.finfo(x.dtype).eps
    p = 1 + d + d * (d + 1) // 2
    if D > K:
        # Every step below is unchanged by an isometry of the neighbourhood's span, so work in
        # K coordinates of it instead of D (a conv layer: D = 3136, K = 63). float64: from the
        # K x K Gram matrix (cheapest; extents below ~5e-7 of the largest are lost to its squared
        # condition number; y may be float32 here, read block by block); float32, where that
        # floor would be ~2e-3: Householder QR, Delta^T = Q R, Delta_j = Q R[:, j].
        if x.dtype == torch.float64:
            delta = frame_coordinates(difference_gram(y, x), K)  # [b, K, K]
        else:
            with lapack(x.device):
                delta = torch.linalg.qr((y - x[:, None, :]).mT, mode="r")[1].mT  # [b, K, K]
        D = K
    else:
        delta = y.to(x.dtype) - x[:, None, :]
    centred = delta - delta.mean(1, keepdim=True)
    with lapack(x.device):  # D <= K now: the D x D Gram matrix
        lam, T = torch.linalg.eigh(centred.mT @ centred)
    lam_d, T = lam.flip(-1)[..., :d], T.flip(-1)[..., :d]
    if bool((lam_d[..., -1] <= 1e3 * K * eps * lam_d[..., 0]).any()):
        raise ValueError(f"some neighbourhoods span fewer than d={d} dimensions; lower d or use richer "
                         "neighbourhoods (spanned_directions counts them)")
    u = delta @ T  # tangent coordinates relative to x, [b, K, d]
    resid = delta - u @ T.mT  # normal residuals in ambient coordinates, [b, K, D]
    k_low = min(K, max(2 * p, p + MIN_DOF))
    count = min(scales, 1 + int(math.log(K / k_low) / math.log(MIN_SIZE_RATIO)))
    sizes = sorted({round(k_low * (K / k_low) ** (i / (count - 1))) for i in range(count)}) if count > 1 else [K]
    if len(sizes) > 1:  # nearest first (data kNN already is; perturbation neighbourhoods are not)
        order = delta.square().sum(-1).argsort(dim=1)
        u = torch.gather(u, 1, order[..., None].expand_as(u))
        resid = torch.gather(resid, 1, order[..., None].expand_as(resid))
    fits = [robust_fit(u[:, :k], resid[:, :k], n_normal=n_normal, rcond=rcond) for k in sizes]
    return choose_scale(fits, noise_rtol)


def choose_scale(fits: list[tuple[torch.Tensor, torch.Tensor]], noise_rtol: float, z: float = SCALE_Z):
    """Lepski's rule over nested fits (kappa [b, n, d], relative noise [b]), smallest first:
    per point, the largest size whose headline (largest |kappa|) differs from the headline of
    every smaller resolved size (relative noise <= ``noise_rtol``) by at most ``z`` standard
    deviations of the difference (the two fits' noise added in quadrature, an upper bound for
    nested fits). A larger neighbourhood has less noise; it is refused as soon as it disagrees
    with a smaller one, i.e. where the curvature changes with the scale faster than the
    higher-order correction accounts for. Returns the chosen (kappa, rel)."""
    kappa, rel = fits[0]
    heads, sds, oks = [], [], []
    alive = torch.ones_like(rel, dtype=torch.bool)
    for i, (kap_k, rel_k) in enumerate(fits):
        head = kap_k.abs().flatten(1).amax(1)
        sd = torch.nan_to_num(rel_k * head, nan=math.inf)
        for h_j, sd_j, ok_j in zip(heads, sds, oks):
            alive = alive & (~ok_j | ((head - h_j).abs() <= z * (sd_j.square() + sd.square()).sqrt()))
        if i:
            kappa = torch.where(alive[:, None, None], kap_k, kappa)
            rel = torch.where(alive, rel_k, rel)
        heads.append(head)
        sds.append(sd)
        oks.append(rel_k <= noise_rtol)
    return kappa, rel


def robust_fit(u: torch.Tensor, resid: torch.Tensor, *, n_normal: int, rcond: float,
               steps: int = HIGHER_ORDER_STEPS) -> tuple[torch.Tensor, torch.Tensor]:
    """One fit r ~ c + A u + 1/2 II(u, u) on tangent coordinates u [b, K, d] and ambient normal
    residuals [b, K, D]: kappa [b, n_normal, d] and the relative noise [b] of the headline (the
    95 % upper confidence bound of the standard deviation of the largest |kappa|, over its value;
    inf where it cannot be told).

    Steps: (1) least squares with equilibrated columns; (2) principal normal axes of II from
    the Gram matrix of its coefficients, debiased by the noise the fit's residuals measure;
    (3) per normal axis, the Hessian corrected for the higher-order terms of the graph
    (:func:`_higher_order`); (4) the spread of its eigenvalues corrected for noise
    (:func:`_unspread`); (5) eigenvalues, and the noise of the largest by the delta method,
    bounded above for the fit's residual degrees of freedom (:func:`noise_upper_bound`).
    """
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
    moments = ds.mT @ resid  # [b, p, D]
    coef_s = solve @ moments
    hq = (coef_s / scale.mT)[:, 1 + d:, :]  # [b, q, D]: second fundamental form per ambient axis
    # Principal normal axes of II under the Frobenius norm (off-diagonal entries count twice).
    iu = torch.triu_indices(d, d, device=u.device)
    on_diag = iu[0] == iu[1]
    wts = torch.where(on_diag, 1.0, math.sqrt(2.0)).to(u.dtype)
    hw = hq * wts[:, None]
    # Noise in the normal residuals adds (sum of its variances) * cov to hw hw^T, spread over
    # every ambient axis (cov = W (X^T X)^-1 W, the design's covariance of the weighted Hessian
    # entries). The sum is estimated from the residuals of the fit, RSS / (K - p), and
    # subtracted, so that noise does not pose as curvature.
    sq = scale[:, 0, 1 + d:] / wts
    cov = solve[:, 1 + d:, 1 + d:] / (sq[:, :, None] * sq[:, None, :])
    # Residual sum of squares of the least-squares fit, ||r||^2 - <X^T r, coef>, without forming
    # the K x D misfit (cancellation costs ~eps of ||r||^2: 1e-16 in float64, below any noise).
    dof = max(K - p, 1)
    rss = (resid.square().sum((1, 2)) - (moments * coef_s).sum((1, 2))).clamp_min(0)
    gram = hw @ hw.mT - (rss / dof)[:, None, None] * cov
    with lapack(u.device):
        s2, Z = torch.linalg.eigh(gram)  # [b, q], [b, q, q]
    Z = Z.flip(-1)[..., :n_normal]
    s = s2.flip(-1)[..., :n_normal].clamp_min(0).sqrt()
    # The projection of II on normal axis nu_i = hw^T z_i / s_i has weighted coefficients s_i z_i;
    # the residual variance along nu_i is the noise of that projection, per unit of cov.
    proj = (Z * s[:, None, :]).mT / wts  # [b, n_normal, q], unweighted H entries
    nu = (hw.mT @ Z) / s[:, None, :].clamp_min(tiny)  # [b, D, n_normal]
    misfit_nu = resid @ nu - ds @ (coef_s @ nu)  # the misfit along each axis, [b, K, n_normal]
    var = torch.where(s > 0, misfit_nu.square().sum(1) / dof, torch.zeros_like(s))  # [b, n_normal]
    # Rows of pinv(X) for the Hessian entries: what a quadratic fit makes of any f(u_j), [b, q, K].
    hessian_of = (solve[:, 1 + d:] / scale[:, 0, 1 + d:, None]) @ ds.mT
    H = _higher_order(quad, hessian_of, sym_from_upper(proj, d), steps)
    if d > 1:
        H = _unspread(H, var, cov, on_diag)
    with lapack(u.device):
        kappa, vec = torch.linalg.eigh(H)  # [b, n_normal, d], [b, n_normal, d, d]
    # Noise of the headline: lambda = e^T H e moves by w . dH with w = the weighted upper
    # entries of e e^T (unit norm), so its variance is var_1 w^T cov w (first order).
    top = kappa[:, 0].abs().argmax(-1)  # [b]
    e = torch.gather(vec[:, 0], 2, top[:, None, None].expand(b, d, 1))[..., 0]  # [b, d]
    w = (e[:, :, None] * e[:, None, :])[:, iu[0], iu[1]] * wts  # [b, q]
    sd = (var[:, 0] * torch.einsum("bi,bij,bj->b", w, cov, w).clamp_min(0)).sqrt()
    head = kappa.abs().flatten(1).amax(1)
    rel = sd * noise_upper_bound(dof) / head.clamp_min(tiny)
    rel = torch.where((head > 0) & torch.tensor(K > p), rel, torch.full_like(rel, math.inf))
    return kappa, rel


def noise_upper_bound(dof: int, z: float = CONFIDENCE_Z) -> float:
    """Factor from a noise standard deviation estimated with ``dof`` residual degrees of freedom
    to its one-sided upper confidence bound, sqrt(dof / chi2_dof(alpha)) (Wilson-Hilferty's
    quantile, z = 1.645: 95 %): 1.92 at 6 dof, 1.38 at 18, 1.21 at 45, 1.07 at 270. A fit
    with few degrees of freedom cannot claim to have resolved anything from its own residuals."""
    k = max(int(dof), 1)
    quantile = k * max(1 - 2 / (9 * k) - z * math.sqrt(2 / (9 * k)), 0.05) ** 3
    return math.sqrt(k / quantile)


def _higher_order(quad: torch.Tensor, hessian_of: torch.Tensor, H0: torch.Tensor, steps: int) -> torch.Tensor:
    """Hessians [b, n, d, d] corrected for the terms of the graph beyond second order.

    Over its tangent plane a normal section of a sphere or cylinder is exactly the graph
    h(u) = u^T H u / (1 + sqrt(1 - u^T H^2 u)) = 1/2 u^T H u + 1/8 (u^T H u)(u^T H^2 u) + ...;
    a quadratic fit absorbs the terms beyond 1/2 u^T H u and overestimates curvature (by
    ~0.2 (rho kappa)^2 at radius rho, 12 % at rho = 0.6 on S^5). The fitted H0 = F(H), with F(H) =
    H + the design's share of those terms; H solves it by quasi-Newton steps along H (exact
    derivative of F(t H) at t = 1, the direction that dominates). The total correction is
    capped at half of ||H0|| where noise makes it run away. Exact to all orders on spheres and
    cylinders, to second order elsewhere (the fourth-order term of a general surface also
    depends on the derivatives of H).

    ``quad`` [b, K, q] are the design's quadratic columns (u^T A u = 2 quad . upper(A) for a
    symmetric A), ``hessian_of`` [b, q, K] the rows of the fit's pseudo-inverse that give the
    Hessian entries, ``H0`` [b, n, d, d] the fitted Hessians.
    """
    d = H0.shape[-1]
    tiny = torch.finfo(H0.dtype).tiny
    iu = torch.triu_indices(d, d, device=H0.device)
    norm0 = H0.flatten(-2).norm(dim=-1)[..., None, None]
    H = H0
    for _ in range(steps):
        n = H.shape[1]
        forms = torch.cat([H, H @ H], 1)[..., iu[0], iu[1]]  # upper entries of H and H^2, [b, 2n, q]
        both = 2 * (forms @ quad.mT)  # u_j^T H u_j and u_j^T H^2 u_j, [b, 2n, K]
        uHu, s = both[:, :n], both[:, n:]
        root = (1 - s.clamp(max=_S_MAX)).sqrt()
        extra = uHu * (1 / (1 + root) - 0.5)  # h - 1/2 uHu
        slope = torch.where(s < _S_MAX, s / (root * (1 + root) ** 2), torch.zeros_like(s))
        d_extra = extra + uHu * slope  # d/dt of extra(t H) at t = 1
        shifts = (hessian_of @ torch.cat([extra, d_extra], 1).mT).mT  # [b, 2n, q]
        shift, d_shift = sym_from_upper(shifts[:, :n], d), sym_from_upper(shifts[:, n:], d)
        gain = (d_shift * H).sum((-2, -1)) / H.square().sum((-2, -1)).clamp_min(tiny)  # [b, n]
        H = H + (H0 - H - shift) / (1 + gain.clamp(min=-0.5))[..., None, None]
        change = (H - H0).flatten(-2).norm(dim=-1)[..., None, None]
        H = H0 + (H - H0) * (0.5 * norm0 / change.clamp_min(tiny)).clamp(max=1.0)
    return H


def _unspread(H: torch.Tensor, var: torch.Tensor, cov: torch.Tensor, on_diag: torch.Tensor) -> torch.Tensor:
    """Hessians [b, n, d, d] with the spread of their eigenvalues corrected for noise.

    Noise N in a Hessian spreads its eigenvalues: around their mean tr(H)/d they spread by the
    traceless part H_0, and E ||H_0 + N_0||^2 = ||H_0||^2 + E ||N_0||^2. On a sphere (every
    principal curvature equal, H_0 = 0) the largest eigenvalue of a noisy fit is the edge of a
    semicircle, ~2 sigma sqrt(d) above the truth: the bias that grows with d. Here E ||N_0||^2 =
    var (tr cov - 1_diag^T cov 1_diag / d) (per normal axis, ``var`` the residual variance
    along it, ``cov`` the weighted covariance of the entries, [b, q, q]) is removed from the
    traceless part's energy: H_0 is scaled by sqrt(max(0, 1 - E ||N_0||^2 / ||H_0 + N_0||^2)).
    The mean curvature tr(H)/d is left as it is.
    """
    d = H.shape[-1]
    tiny = torch.finfo(H.dtype).tiny
    diag = on_diag.to(H.dtype)
    noise0 = var * (cov.diagonal(dim1=-2, dim2=-1).sum(-1) - torch.einsum("i,bij,j->b", diag, cov, diag) / d)[:, None]
    eye = torch.eye(d, dtype=H.dtype, device=H.device)
    mean = H.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None] * eye
    spread = H - mean
    energy = spread.square().sum((-2, -1))
    factor = (1 - noise0 / energy.clamp_min(tiny)).clamp_min(0).sqrt()
    return mean + factor[..., None, None] * spread
