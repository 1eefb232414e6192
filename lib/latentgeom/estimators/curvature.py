"""Principal curvatures of point clouds from local quadratic fits: the MAPC estimator.

Two modes share one batched torch engine (all points of a chunk at once, CPU or CUDA):

``paper``
    Kaufman & Azencot (2023), ``shared/specs/curvature.md`` steps 5-8, value for value:
    uncentred frame Delta_j = y_j - x, SVD of the D x K matrix, m = min(D, K), tangent = the
    first d coordinates, normal = the other m - d; design rows [u, 1/2 u_k^2, u_k u_l (k<l)]
    without intercept; minimum-norm least squares; eigenvalues of every H^alpha. MAPC = mean
    |kappa| over all points and all (m - d) * d values. Its known weaknesses (dilution by empty
    normal directions, under-determined fits at K = 2d, dependence on d) are kept on purpose.

    Speed: the SVD of the D x K frame is replaced by the eigendecomposition of the K x K Gram
    matrix G = Delta Delta^T (coordinates c_j = s_i v_ji, cost D K^2), and the pseudo-inverse
    of the K x P design (P = d + d(d+1)/2, 7 259 columns at d = 119) by the K x K Gram matrix of
    the quadratic features, which is a polynomial of the tangent inner products:
    phi(u).phi(v) = u.v + (u.v)^2 / 2 - sum_k u_k^2 v_k^2 / 4. The minimum-norm solution is
    beta = Phi^T w with w = (Phi Phi^T)^+ f, so H^alpha_kl = sum_j w_j^alpha u_jk u_jl with its
    diagonal halved, without ever forming Phi.

    Pseudo-inverse tolerance: singular values of the design below ``rcond`` times the largest
    are treated as zero, exactly like ``numpy.linalg.pinv(Phi, rcond=rcond)``. Default
    ``rcond = 1e-6`` in float64 (1e-3 in float32): small enough to keep every singular value a
    well-spread neighbourhood has, large enough to cut the exact zeros of rank-deficient
    designs (binary masks, K < P) above the round-off of the Gram route.

``robust``
    An estimator of the true principal curvatures. Per point: tangent space = top-d principal
    axes of the *centred* neighbourhood; tangent coordinates u_j and ambient normal residuals
    r_j = Delta_j - T u_j; one well-posed least-squares fit r ~ c + A u + 1/2 II(u, u) with
    intercept and linear term (1 + d + d(d+1)/2 unknowns, needs K at least that), giving the
    second fundamental form II as a D-valued quadratic form. The normal directions that carry
    curvature are the principal axes of II (SVD of its coefficient matrix with Frobenius
    weights): direction 1 carries most of ||II||, and so on. ``kappa[:, i]`` holds the
    eigenvalues of II projected on the i-th axis (``n_normal`` axes, default
    min(D - d, d(d+1)/2, 8)). Empty directions cannot dilute anything and the intercept and
    linear term absorb noise and tangent tilt. Headline ``mapc`` (and ``per_point``) = the
    per-point largest |kappa|, averaged over points: 1/r on a sphere of radius r in any
    dimension, 1/r on a cylinder.

Both modes return :class:`CurvatureResult` with the same summaries, so findings can be
shown under both: ``max_abs`` (mean per-point largest |kappa|) and ``carrying_mean_abs``
(mean |kappa| over the normal directions that carry curvature: at each point, those whose
Hessian Frobenius norm ||H^alpha||_F = sqrt(sum_k kappa_k^2) is at least
``CARRYING_RTOL`` (= 0.25) times the point's largest one; pooled over points, directions and
the d values). Curvatures are in inverse units of the input (no scale normalisation).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..validation import as_tensor, check_choice, check_int, resolve_device

__all__ = ["CurvatureResult", "mapc", "CARRYING_RTOL", "MODES", "min_neighbours"]

#: A normal direction "carries" curvature at a point when ||H||_F >= CARRYING_RTOL * the largest.
CARRYING_RTOL = 0.25
#: Estimator modes of :func:`mapc` (see the module docstring).
MODES = ("paper", "robust")
_DEFAULT_CHUNK_BYTES = 512 * 2**20


@contextlib.contextmanager
def lapack_single_thread(device: torch.device):
    """Run CPU LAPACK calls (eigh, eigvalsh, cholesky) with one intra-op thread.

    On small shared VMs, multithreaded MKL LAPACK on batches of small matrices was measured
    ~700x slower than single-threaded (2 vCPUs, one busy): the threads spin on each other.
    BLAS-3 matmuls are unaffected and keep all threads.
    """
    if device.type != "cpu" or torch.get_num_threads() == 1:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


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

    @property
    def n(self) -> int:
        return int(self.kappa.shape[0])

    @staticmethod
    def from_kappa(mode: str, d: int, K: int, D: int, m: int, kappa) -> "CurvatureResult":
        """Build a result (all summaries) from principal curvatures [n, n_normal, d]."""
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
        return CurvatureResult(mode=mode, d=int(d), K=int(K), D=int(D), m=int(m), kappa=kappa,
                               per_point=per_point, mapc=float(per_point.mean()),
                               max_abs=float(largest.mean()), carrying_mean_abs=carrying_mean)

    @staticmethod
    def concatenate(results: list["CurvatureResult"]) -> "CurvatureResult":
        """Join results for disjoint chunks of points (same mode, d, D and direction count);
        summaries are recomputed over all points, so chunked == one-shot."""
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
        kappa = np.concatenate([r.kappa for r in results], axis=0)
        return CurvatureResult.from_kappa(first.mode, first.d, first.K, first.D, first.m, kappa)


def min_neighbours(d: int, mode: str = "paper") -> int:
    """Smallest K accepted for tangent dimension ``d``: paper d + 1 (the fit is then still
    under-determined, as in the paper); robust 1 + d + d(d+1)/2 (intercept, gradient and
    Hessian unknowns of a well-posed fit)."""
    return d + 1 if mode == "paper" else 1 + d + d * (d + 1) // 2


def _default_rcond(dtype: torch.dtype) -> float:
    return 1e-6 if dtype == torch.float64 else 1e-3


def mapc(points, neighbours, d: int, mode: str = "paper", *, device="auto", dtype=torch.float64,
         chunk_size: int | None = None, **mode_options) -> CurvatureResult:
    """Principal curvatures and MAPC of ``points`` from their neighbourhoods.

    Parameters
    ----------
    points : array-like or Tensor, shape [n, D]
        Base points x (numpy, or torch on CPU/CUDA).
    neighbours : array-like or Tensor, shape [n, K, D]
        Each point's own neighbourhood y_1..y_K: data kNN (:func:`knn_neighbourhoods`) or
        images of input perturbations pushed through a network. May contain the point itself.
    d : int
        Tangent (intrinsic) dimension, 1 <= d < D (paper: also d < min(D, K)).
    mode : {"paper", "robust"}
        See the module docstring.
    device : "auto", str or torch.device
        "auto": the device of ``points`` if it is a CUDA tensor, else CPU.
    dtype : torch.dtype
        Working precision (float64 recommended; float32 is faster on GPUs but coarse).
    chunk_size : int, optional
        Points per batch (default: what fits in ~512 MiB of intermediates).
    **mode_options
        paper: ``rcond`` (float, pseudo-inverse relative tolerance, default 1e-6 in float64).
        robust: ``n_normal`` (int, principal normal directions kept, default
        min(D - d, d(d+1)/2, 8)), ``rcond`` (relative tolerance of the least-squares solve,
        default 1e-10 in float64, 1e-5 in float32).

    Returns
    -------
    CurvatureResult
        ``kappa`` in inverse input units.

    Raises
    ------
    ValueError
        NaN/inf input, shape mismatch, d out of range, K too small for the fit, unknown
        mode or option.
    """
    check_choice(mode, "mode", MODES)
    allowed = {"paper": {"rcond"}, "robust": {"n_normal", "rcond"}}[mode]
    unknown = set(mode_options) - allowed
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for mode {mode!r}; allowed: {sorted(allowed)}")
    if dtype not in (torch.float64, torch.float32):
        raise ValueError(f"dtype must be torch.float64 or torch.float32, got {dtype}")
    P = as_tensor(points, "points", ndim=2)
    Y = as_tensor(neighbours, "neighbours", ndim=3)
    n, D = P.shape
    if Y.shape[0] != n or Y.shape[2] != D:
        raise ValueError(f"neighbours must have shape [n={n}, K, D={D}] to match points {tuple(P.shape)}, "
                         f"got {tuple(Y.shape)}")
    if n == 0:
        raise ValueError("no points given")
    K = Y.shape[1]
    d = check_int(d, "d", minimum=1)
    if d >= D:
        raise ValueError(f"d={d} must be smaller than the ambient dimension D={D}")
    need = min_neighbours(d, mode)
    if K < need:
        what = "K > d" if mode == "paper" else f"K >= 1 + d + d(d+1)/2 = {need} (intercept, gradient, Hessian unknowns)"
        raise ValueError(f"{mode} mode with d={d} needs {what}; got K={K} neighbours per point")
    dev = resolve_device(device, like=P)
    rcond = mode_options.get("rcond")
    if rcond is not None and not (0 <= float(rcond) < 1):
        raise ValueError(f"rcond must be in [0, 1), got {rcond}")

    if mode == "paper":
        m = min(D, K)
        if d >= m:
            raise ValueError(f"paper mode needs d < m = min(D, K) = {m}, got d={d}")
        rcond = _default_rcond(dtype) if rcond is None else float(rcond)
        per_point_bytes = 8 * (3 * K * D + 4 * K * K + 2 * K * d * (d + 1) // 2
                               + 3 * (m - d) * d * d + 2 * (m - d) * d * (d + 1) // 2)
        step = _paper_chunk
        kwargs = dict(d=d, m=m, rcond=rcond)
    else:
        m = D
        q = d * (d + 1) // 2
        n_normal = mode_options.get("n_normal")
        n_normal = min(D - d, q, 8) if n_normal is None else check_int(n_normal, "n_normal", minimum=1,
                                                                        maximum=min(D - d, q))
        rcond = (1e-10 if dtype == torch.float64 else 1e-5) if rcond is None else float(rcond)
        p_cols = 1 + d + q
        per_point_bytes = 8 * (4 * K * D + 3 * K * p_cols + 3 * p_cols * p_cols + 3 * q * D
                               + 2 * D * D + 3 * n_normal * d * d)
        step = _robust_chunk
        kwargs = dict(d=d, n_normal=n_normal, rcond=rcond)
    if chunk_size is None:
        chunk_size = max(1, min(n, _DEFAULT_CHUNK_BYTES // max(per_point_bytes, 1)))
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)

    out = []
    with torch.no_grad(), lapack_single_thread(dev):
        for start in range(0, n, chunk_size):
            x = P[start:start + chunk_size].to(dev, dtype)
            y = Y[start:start + chunk_size].to(dev, dtype)
            out.append(step(x, y, **kwargs).to("cpu", torch.float64))
    kappa = torch.cat(out).numpy()
    return CurvatureResult.from_kappa(mode, d, K, D, m, kappa)


def _sym_from_upper(coef: torch.Tensor, d: int, halve_diagonal: bool) -> torch.Tensor:
    """[..., d(d+1)/2] coefficients in row-major upper-triangle order -> symmetric [..., d, d]."""
    iu = torch.triu_indices(d, d, device=coef.device)
    H = coef.new_zeros(coef.shape[:-1] + (d, d))
    H[..., iu[0], iu[1]] = coef
    H[..., iu[1], iu[0]] = coef
    if halve_diagonal:
        H.diagonal(dim1=-2, dim2=-1).mul_(0.5)
    return H


def _paper_chunk(x: torch.Tensor, y: torch.Tensor, *, d: int, m: int, rcond: float) -> torch.Tensor:
    """kappa [b, m - d, d] of the paper's estimator for a chunk of b points."""
    K = y.shape[1]
    eps = torch.finfo(x.dtype).eps
    delta = y - x[:, None, :]  # uncentred frame (paper)
    gram = delta @ delta.mT  # [b, K, K]; eigenpairs = squared singular values, right vectors
    lam, V = torch.linalg.eigh(gram)
    lam, V = lam.flip(-1)[..., :m], V.flip(-1)[..., :m]
    # Exact zeros of the SVD come back as +-K eps lam_max from the Gram route; their square
    # roots (~1e-7 relative) would fake normal coordinates, so zero them as the SVD would.
    floor = 10 * K * eps * lam[..., :1].clamp_min(0)
    s = torch.where(lam > floor, lam.clamp_min(0).sqrt(), torch.zeros_like(lam))
    coords = V * s[:, None, :]  # c_j = U^T Delta_j = (S V^T)_j, [b, K, m]
    u, f = coords[..., :d], coords[..., d:]
    a = u @ u.mT
    u2 = u * u
    phi_gram = a + 0.5 * a * a - 0.25 * (u2 @ u2.mT)  # Phi Phi^T without Phi
    mu, Q = torch.linalg.eigh(phi_gram)
    # pinv(Phi) keeps sigma > rcond sigma_max, i.e. mu = sigma^2 > rcond^2 mu_max.
    keep = mu > (rcond ** 2) * mu[..., -1:].clamp_min(0)
    inv = torch.where(keep, 1.0 / torch.where(keep, mu, torch.ones_like(mu)), torch.zeros_like(mu))
    w = Q @ (inv[..., None] * (Q.mT @ f))  # [b, K, m - d]: beta = Phi^T w
    iu = torch.triu_indices(d, d, device=x.device)
    quad = u[..., iu[0]] * u[..., iu[1]]  # [b, K, d(d+1)/2], u_k u_l for k <= l
    coef = w.mT @ quad  # [b, m - d, d(d+1)/2]: sum_j w_j u_jk u_jl
    H = _sym_from_upper(coef, d, halve_diagonal=True)  # diag coefficient of 1/2 u_k^2 is H_kk
    return torch.linalg.eigvalsh(H)


def _robust_chunk(x: torch.Tensor, y: torch.Tensor, *, d: int, n_normal: int, rcond: float) -> torch.Tensor:
    """kappa [b, n_normal, d] of the robust estimator for a chunk of b points."""
    b, K, D = y.shape
    delta = y - x[:, None, :]
    centred = delta - delta.mean(1, keepdim=True)
    # Tangent = top-d principal axes of the centred neighbourhood, via the K x K Gram matrix
    # (cheaper than a D x D covariance when K < D): T = centred^T v / s.
    g = centred @ centred.mT
    lam, V = torch.linalg.eigh(g)
    lam_d, V_d = lam.flip(-1)[..., :d], V.flip(-1)[..., :d]
    if bool((lam_d[..., -1] <= 1e3 * K * torch.finfo(x.dtype).eps * lam_d[..., 0]).any()):
        raise ValueError(f"some neighbourhoods span fewer than d={d} dimensions; lower d or use richer "
                         "neighbourhoods")
    T = (centred.mT @ V_d) / lam_d.sqrt()[:, None, :]  # [b, D, d], orthonormal columns
    u = delta @ T  # tangent coordinates relative to x, [b, K, d]
    resid = delta - u @ T.mT  # normal residuals in ambient coordinates, [b, K, D]
    iu = torch.triu_indices(d, d, device=x.device)
    diag = iu[0] == iu[1]
    quad = u[..., iu[0]] * u[..., iu[1]]
    quad = torch.where(diag, 0.5 * quad, quad)  # columns 1/2 u_k^2 and u_k u_l: coefficients = H entries
    design = torch.cat([torch.ones_like(u[..., :1]), u, quad], dim=-1)  # [b, K, p]
    # Equilibrate columns (linear ~ eps, quadratic ~ eps^2) before the normal equations.
    scale = torch.linalg.vector_norm(design, dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    ds = design / scale
    ata = ds.mT @ ds
    ev, E = torch.linalg.eigh(ata)
    keep = ev > (rcond * ev[..., -1:]).clamp_min(0)
    inv = torch.where(keep, 1.0 / torch.where(keep, ev, torch.ones_like(ev)), torch.zeros_like(ev))
    coef = E @ (inv[..., None] * (E.mT @ (ds.mT @ resid)))  # [b, p, D]
    coef = coef / scale.mT
    hq = coef[:, 1 + d:, :]  # [b, q, D]: second fundamental form coefficients per ambient axis
    # Principal normal axes of II under the Frobenius norm (off-diagonal entries count twice).
    wts = torch.where(diag, 1.0, math.sqrt(2.0)).to(x.dtype)
    hw = hq * wts[:, None]
    s2, Z = torch.linalg.eigh(hw @ hw.mT)  # [b, q], [b, q, q]: left singular vectors of hw
    Z = Z.flip(-1)[..., :n_normal]
    s = s2.flip(-1)[..., :n_normal].clamp_min(0).sqrt()
    # The projection of II on normal axis nu_i = hw^T z_i / s_i has weighted coefficients s_i z_i.
    proj = (Z * s[:, None, :]).mT / wts  # [b, n_normal, q], unweighted H entries
    H = _sym_from_upper(proj, d, halve_diagonal=False)
    return torch.linalg.eigvalsh(H)
