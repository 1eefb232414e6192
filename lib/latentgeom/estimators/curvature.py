"""Principal curvatures of point clouds from local quadratic fits: the MAPC estimator.

Used by every curvature page of the book; the methods pages "Measuring curvature" and
"Curvature under noise" show what each mode measures on ground truth.

Two modes share one batched torch engine (all points of a chunk at once, CPU or CUDA, float64
by default):

``paper``
    Kaufman & Azencot, "Data Representations' Study of Latent Image Manifolds" (ICML 2023,
    arXiv 2305.19730), with the local fit of Li, "Curvature-aware manifold learning" (arXiv
    1706.07167), value for value: uncentred frame Delta_j = y_j - x, SVD of the D x K matrix,
    m = min(D, K), tangent = the first d coordinates, normal = the other m - d; design rows
    [u, 1/2 u_k^2, u_k u_l (k<l)] without intercept (P = d + d(d+1)/2 unknowns); minimum-norm
    least squares; eigenvalues of every H^alpha. MAPC = mean |kappa| over all points and all
    (m - d) * d values. Its known weaknesses (dilution by empty normal directions,
    under-determined fits at K = 2d, dependence on d) are kept on purpose.

    Engine: every step takes the cheaper of two exact routes for the shape at hand.
    *Frame*: the eigendecomposition of the smaller Gram matrix, D x D (Delta^T Delta gives U;
    only the tangent coordinates U_t^T Delta_j are formed, the fit solves for the D ambient
    coordinates and its Hessian coefficients are turned to the normal basis afterwards,
    (pinv(Phi) Delta) U_n = pinv(Phi) (Delta U_n)) or K x K (Delta Delta^T gives V and s,
    c_j = s_i v_ji). *Fit*: since pinv(Phi) = (Phi^T Phi)^+ Phi^T = Phi^T (Phi Phi^T)^+,
    the P x P Gram when P <= K, else the K x K one, which is a polynomial of the tangent inner products,
    phi(u).phi(v) = u.v + (u.v)^2 / 2 - sum_k u_k^2 v_k^2 / 4, so the K x P design is never
    formed (P = 5564 at d = 104). On the CPU, LAPACK runs on one thread and chunks of points
    run side by side in worker threads (measured fastest, see ``_lapack``); on CUDA the same
    code runs batched on the device. Non-finite input is caught chunk by chunk, by one sum each.

    ``rcond`` means exactly what it means in ``numpy.linalg.pinv(Phi, rcond=rcond)`` for every
    value in [0, 1): singular values of the design at or below ``rcond`` times the largest are
    treated as zero. The engine decides from the eigenvalues mu of the Gram matrix (no
    eigenvectors), which carry an absolute round-off of ~n eps mu_max, so a decision is trusted
    only where every mu is farther than 10 n eps mu_max from the cut-off rcond^2 mu_max. Then,
    per point, the cheapest route that gives numpy's answer (the first two are mostly decided
    without the eigenvalues, by bounds on them from the Cholesky factor: mu_min >=
    1 / ||L^-1||_F^2, mu_max <= trace):

    - every singular value kept and the design well conditioned once its columns (rows on the
      K x K side) have unit norm (mu_min >= 1e-9 mu_max of that Gram matrix): the
      pseudo-inverse is the inverse, solved by the normal equations, L^-T L^-1 Phi^T f (they
      lose at most ~1e-7 relative). Real layers' perturbation designs are of this kind: badly
      scaled (quadratic columns ~u^2), not ill conditioned;
    - every singular value kept, ill conditioned (or not proven well conditioned by the
      bounds): Householder QR of the design (backward stable, as accurate as the SVD);
    - some cut, the kept ones well conditioned: the eigenvectors of the Gram matrix;
    - otherwise (decisions too close to call): the SVD of the design, as numpy computes it.

    On the K x K side, neighbours that add no constraint (the point itself, exact duplicates:
    binary masks of zero singular values give both) are taken out of the design exactly: their
    rows of Phi are zeroed and given an own unknown each, which leaves pinv(Phi) f unchanged
    for the other unknowns and keeps the fast routes open.
    Default ``rcond = 1e-6`` in float64 (1e-3 in float32).

``robust``
    An estimator of the true principal curvatures. Per point: tangent space = top-d principal
    axes of the *centred* neighbourhood; tangent coordinates u_j and ambient normal residuals
    r_j = Delta_j - T u_j; a well-posed least-squares fit r ~ c + A u + 1/2 II(u, u) with
    intercept and linear term (1 + d + d(d+1)/2 unknowns, needs K at least that), giving the
    second fundamental form II as a D-valued quadratic form. The normal directions that carry
    curvature are the principal axes of II (SVD of its coefficient matrix with Frobenius
    weights): direction 1 carries most of ||II||, and so on. ``kappa[:, i]`` holds the
    eigenvalues of II projected on the i-th axis (``n_normal`` axes, default
    min(D - d, d(d+1)/2, 8)). Headline ``mapc`` (and ``per_point``) = the per-point largest
    |kappa|, averaged over points: 1/r on a sphere of radius r in any dimension, 1/r on a
    cylinder. Three corrections make it hold under noise and at finite neighbourhood size:

    - *noise debiasing*: noise in the normal residuals adds (its total variance) times the
      design's covariance of the Hessian entries to the statistic whose principal axes pick
      the normal directions, in every ambient direction at once; that total is estimated from
      the fit's residuals (RSS / (K - p)) and subtracted, so noise does not pose as curvature;
    - *adaptive neighbourhood size*: fits on ``scales`` nested neighbourhoods (nearest first,
      sizes geometric from 2p to K); per point, the smallest one whose strongest Hessian has a
      relative noise (residual variance along its normal direction, propagated through the
      design) at most ``noise_rtol`` wins, else the quietest one. Hand it a generous K;
    - *small-neighbourhood bias*: a normal section is the graph h(u) = 1/2 u^T H u +
      1/8 (u^T H u)(u^T H^2 u) + ..., whose quartic term a quadratic fit absorbs (curvature
      overestimated by ~0.2 (rho kappa)^2 at radius rho); the term is predicted from the fit
      and its share removed (two fixed-point steps, exact to fourth order on spheres and
      cylinders, capped at half of ||H||).

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
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..validation import (as_tensor, check_choice, check_finite, check_int, check_range, resolve_device,
                          tensor_is_finite)

__all__ = ["CurvatureResult", "mapc", "CARRYING_RTOL", "MODES", "min_neighbours"]

#: Bumped whenever the engine's numbers change (a cached curvature profile keyed on an older
#: version is recomputed). 2: exact rcond routes, noise-debiased adaptive robust mode.
ESTIMATOR_VERSION = 2

#: A normal direction "carries" curvature at a point when ||H||_F >= CARRYING_RTOL * the largest.
CARRYING_RTOL = 0.25
#: Estimator modes of :func:`mapc` (see the module docstring).
MODES = ("paper", "robust")
_DEFAULT_CHUNK_BYTES = 48 * 2**20  # intermediates per chunk, measured fastest on the bench's shapes


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
        Most points per batch; batches are sized evenly (default: what fits in ~48 MiB of
        intermediates, in a number of batches that is a multiple of the worker threads). On the
        CPU, batches run side by side in ``torch.get_num_threads()`` worker threads, each LAPACK
        call single-threaded; on CUDA one after another.
    **mode_options
        paper: ``rcond`` (float in [0, 1), numpy's pseudo-inverse tolerance, default 1e-6 in
        float64, 1e-3 in float32).
        robust: ``n_normal`` (int, principal normal directions kept, default
        min(D - d, d(d+1)/2, 8)), ``rcond`` (relative tolerance of the least-squares solve,
        default 1e-10 in float64, 1e-5 in float32), ``scales`` (int >= 1, nested neighbourhood
        sizes tried per point, default 6; 1 = use all K), ``noise_rtol`` (float > 0, relative
        noise of the Hessian at which a neighbourhood counts as resolved, default 0.05).

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
    allowed = {"paper": {"rcond"}, "robust": {"n_normal", "rcond", "scales", "noise_rtol"}}[mode]
    unknown = set(mode_options) - allowed
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for mode {mode!r}; allowed: {sorted(allowed)}")
    if dtype not in (torch.float64, torch.float32):
        raise ValueError(f"dtype must be torch.float64 or torch.float32, got {dtype}")
    # Finiteness is checked chunk by chunk in the worker threads (below), not here: a check on
    # the whole input in this thread would run torch's OpenMP team, whose threads then spin
    # for milliseconds on the cores the workers are about to use.
    P = as_tensor(points, "points", ndim=2, finite=False)
    Y = as_tensor(neighbours, "neighbours", ndim=3, finite=False)
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
    if rcond is not None:
        rcond = check_range(rcond, "rcond", 0.0, 1.0, closed="left")

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
        span = min(K, D)  # the fits run in coordinates of the neighbourhood's span
        per_point_bytes = 8 * (2 * K * D + 6 * K * span + 3 * span ** 2 + 4 * K * p_cols + 3 * p_cols * p_cols
                               + 3 * q * span + 3 * n_normal * (K + d * d))
        step = _robust_chunk
        scales = check_int(mode_options.get("scales", 6), "scales", minimum=1)
        noise_rtol = check_range(mode_options.get("noise_rtol", 0.05), "noise_rtol", 0.0, math.inf,
                                 closed="neither")
        kwargs = dict(d=d, n_normal=n_normal, rcond=rcond, scales=scales, noise_rtol=noise_rtol)
    workers = _cpu_workers(dev)
    if chunk_size is None:
        # Cache-sized chunks, as many as a multiple of the worker threads (balanced: measured
        # faster than more, smaller chunks, whose per-call overheads add up on small inputs).
        chunks = -(-n * per_point_bytes // _DEFAULT_CHUNK_BYTES)
        chunks = min(n, -(-chunks // workers) * workers)
    else:
        chunks = -(-n // check_int(chunk_size, "chunk_size", minimum=1))

    def run(bounds: tuple[int, int]) -> torch.Tensor | None:
        with torch.no_grad():  # grad mode is per thread
            x = P[bounds[0]:bounds[1]].to(dev, dtype)
            y = Y[bounds[0]:bounds[1]].to(dev, dtype)
            if not (tensor_is_finite(x) and tensor_is_finite(y)):
                return None  # reported for the whole input below
            return step(x, y, **kwargs).to("cpu", torch.float64)

    bounds = [(i * n // chunks, (i + 1) * n // chunks) for i in range(chunks)]  # sized evenly
    with _lapack(dev):  # the whole call: measured fastest, see _lapack
        if workers > 1 and chunks > 1:
            out = list(_worker_pool(workers).map(run, bounds))
        else:
            out = [run(b) for b in bounds]
    if any(o is None for o in out):  # the error names the parameter and counts its bad values
        check_finite(P, "points")
        check_finite(Y, "neighbours")
    kappa = torch.cat(out).numpy()
    return CurvatureResult.from_kappa(mode, d, K, D, m, kappa)


_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}


def _worker_pool(workers: int) -> ThreadPoolExecutor:
    """A thread pool kept for the process (starting threads and torch's per-thread set-up on
    every call cost more than small calls themselves); keyed by process id, since a forked
    child inherits the pool but not its threads."""
    key = (os.getpid(), workers)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(workers, thread_name_prefix="latentgeom-mapc")
    return _POOLS[key]


def _cpu_workers(device: torch.device) -> int:
    """Threads that run chunks side by side: torch's intra-op thread count on CPU (2 under the
    Makefile's OMP_NUM_THREADS=2), 1 on CUDA (one stream does the batching there)."""
    return max(1, torch.get_num_threads()) if device.type == "cpu" else 1


def _lapack(device: torch.device):
    """One intra-op torch thread on CPU (a no-op on CUDA or when torch already uses one).

    Measured on a 2-core machine: MKL's multithreaded eigh/eigvalsh on batches of small matrices
    is no faster, often far slower, than single-threaded (the threads spin on each other), so
    each LAPACK call runs on one thread and :func:`mapc` uses the cores by running chunks of
    points side by side in worker threads instead (torch releases the GIL inside its ops).
    """
    if device.type != "cpu" or torch.get_num_threads() == 1:
        return contextlib.nullcontext()
    return _single_thread()


@contextlib.contextmanager
def _single_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _quadratic_columns(u: torch.Tensor) -> torch.Tensor:
    """[..., K, d] tangent coordinates -> [..., K, d(d+1)/2] design columns 1/2 u_k^2 (k = l) and
    u_k u_l (k < l), row-major upper-triangle order: their coefficients are the Hessian entries."""
    d = u.shape[-1]
    iu = torch.triu_indices(d, d, device=u.device)
    scale = torch.where(iu[0] == iu[1], 0.5, 1.0).to(u.dtype)
    # one gather from the outer products (cheaper than gathering both factors)
    outer = (u[..., :, None] * u[..., None, :]).flatten(-2)
    return outer.index_select(-1, iu[0] * d + iu[1]) * scale


def _frame_coordinates(delta: torch.Tensor, m: int) -> torch.Tensor:
    """Coordinates c_j = U^T Delta_j [b, K, m] in the uncentred frame (left singular vectors of
    the D x K matrix), from the K x K Gram matrix: c = S V^T (the cheap side when K < D)."""
    K = delta.shape[1]
    with _lapack(delta.device):
        lam, V = torch.linalg.eigh(delta @ delta.mT)
    lam, V = lam.flip(-1)[..., :m], V.flip(-1)[..., :m]
    # Exact zeros of the SVD come back as +-K eps lam_max from the Gram route; their square
    # roots (~1e-7 relative) would fake normal coordinates, so zero them as the SVD would.
    floor = 10 * K * torch.finfo(delta.dtype).eps * lam[..., :1].clamp_min(0)
    s = torch.where(lam > floor, lam.clamp_min(0).sqrt(), torch.zeros_like(lam))
    return V * s[..., None, :]


# A Gram eigenvalue is trusted when it is farther than GRAM_TOL * n * eps * mu_max from the
# cut-off; the normal equations (Cholesky, eigenvectors) are used only where every kept one is
# at least GRAM_MIN_KEPT * mu_max (condition number of the design below ~3e4: they then lose at
# most ~eps * 1e9 ~ 2e-7 relative), QR or the SVD elsewhere. The Cholesky certificate of
# _certified_routes applies this bound to the Gram matrix scaled to a unit diagonal.
GRAM_TOL = 10.0
GRAM_MIN_KEPT = 1e-9


def _decision_band(rcond: float, n: int, dtype: torch.dtype) -> tuple[float, float]:
    """(cut-off, round-off) of the keep/cut decision on an n x n Gram matrix, relative to
    mu_max: a mu is surely kept at or above their sum and surely cut at or below their
    difference. The one definition that :func:`_fit_routes` and :func:`_certified_routes`
    decide by."""
    return rcond * rcond, GRAM_TOL * n * torch.finfo(dtype).eps


def _fit_routes(mu: torch.Tensor, rcond: float) -> dict:
    """The points each route of the fit takes ([b] masks, or ``slice(None)`` for all), from the
    Gram eigenvalues mu [b, n] (ascending): numpy's keep/cut decision on every singular value
    must be clear for any route but the SVD."""
    cut, tol = _decision_band(rcond, mu.shape[-1], mu.dtype)
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


def _eig_pinv_apply(gram: torch.Tensor, rhs: torch.Tensor, rcond: float) -> torch.Tensor:
    """``pinv(gram) @ rhs`` with numpy's cut-off on the design's singular values (mu > rcond^2
    mu_max), by the eigenvectors of the Gram matrix."""
    with _lapack(gram.device):
        mu, E = torch.linalg.eigh(gram)
    keep = mu > rcond * rcond * mu[..., -1:].clamp_min(0)
    inv = torch.where(keep, 1.0 / torch.where(keep, mu, torch.ones_like(mu)), torch.zeros_like(mu))
    return E @ (inv[..., None] * (E.mT @ rhs))


def _svd_lstsq(phi: torch.Tensor, f: torch.Tensor, rcond: float) -> torch.Tensor:
    """``pinv(phi, rcond) @ f`` by the SVD of the design, as numpy computes it."""
    with _lapack(phi.device):
        U, S, Vh = torch.linalg.svd(phi, full_matrices=False)
    keep = S > rcond * S[..., :1]
    inv = torch.where(keep, 1.0 / torch.where(keep, S, torch.ones_like(S)), torch.zeros_like(S))
    return Vh.mT @ (inv[..., None] * (U.mT @ f))


def _solve_per_route(gram: torch.Tensor, rcond: float, solve: Callable) -> torch.Tensor:
    """Run ``solve(route, idx, factor)`` on the points of each route and gather the solutions
    in point order; the shared driver of :func:`_fit_tall` and :func:`_fit_wide`.

    Every point's Gram matrix is Cholesky-factorised first. Where bounds from that factor
    prove every singular value kept (:func:`_certified_routes`), the Gram eigenvalues are not
    needed: Cholesky where they also prove the design well conditioned, else QR (exact for
    any design whose singular values are all kept). The other points are routed by
    :func:`_fit_routes`. ``factor`` is (L^-1, failed) for the Cholesky route: gram^-1 =
    L^-T L^-1, two matrix products (faster than triangular solves on these small systems, and
    as accurate at the condition numbers this route admits); ``failed``: [b] factorisations
    that broke down, to be solved by QR. None on other routes.
    """
    with _lapack(gram.device):
        cholesky, qr, L_inv, info = _certified_routes(gram, rcond)
        if bool(cholesky.all()):  # no gathering
            return solve("cholesky", slice(None), (L_inv, info != 0))
        masks = {"cholesky": cholesky, "qr": qr}
        rest = (~(cholesky | qr)).nonzero()[:, 0]
        if len(rest):
            for route, mask in _fit_routes(torch.linalg.eigvalsh(gram[rest]), rcond).items():
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


def _certified_routes(gram: torch.Tensor, rcond: float
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
    :func:`_decision_band`) and every mu of the scaled matrix provably at least GRAM_MIN_KEPT
    times its largest; QR: the others whose mu are provably all kept. A margin of 1 % covers
    the rounding of the bounds (~n eps cond relative); points they cannot decide (loose by up
    to a factor n each) are in neither mask and go to the eigenvalues. L^-1 is not meaningful
    where the factorisation failed (info != 0)."""
    n = gram.shape[-1]
    kept = sum(_decision_band(rcond, n, gram.dtype))
    diag = gram.diagonal(dim1=-2, dim2=-1)
    scaled, scale = _unit_diagonal(gram)
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


def _unit_diagonal(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(S gram S, S [b, n]) with S = diag(gram)^-1/2: the Gram matrix of unit-norm columns, whose
    condition :func:`_certified_routes` judges. S is 1 on a zero diagonal entry (a zero column,
    which then fails the Cholesky factorisation)."""
    diag = gram.diagonal(dim1=-2, dim2=-1)
    scale = torch.where(diag > 0, diag.rsqrt(), torch.ones_like(diag))
    return gram * scale[:, :, None] * scale[:, None, :], scale


def _fit_tall(phi: torch.Tensor, f: torch.Tensor, rcond: float, first: int = 0) -> torch.Tensor:
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
                sol[failed] = _qr_tall(phi[idx][failed], f[idx][failed])[..., first:, :]
            return sol
        if route == "qr":
            return _qr_tall(phi[idx], f[idx])[..., first:, :]
        if route == "eigenvectors":
            return _eig_pinv_apply(gram[idx], rhs[idx], rcond)[..., first:, :]
        return _svd_lstsq(phi[idx], f[idx], rcond)[..., first:, :]

    return _solve_per_route(gram, rcond, solve)


def _qr_tall(phi: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Least squares for a full-column-rank design [b, K, P], P <= K: R^-1 Q^T f."""
    Q, R = torch.linalg.qr(phi)
    return torch.linalg.solve_triangular(R, Q.mT @ f, upper=True)


def _fit_wide(u: torch.Tensor, quad: torch.Tensor, f: torch.Tensor, copies: torch.Tensor,
              rcond: float) -> torch.Tensor:
    """Hessian coefficients ``(pinv(Phi, rcond) @ f)[d:]`` [b, q, r] for designs with more
    unknowns than neighbours (P > K), from the K x K side: pinv(Phi) = Phi^T (Phi Phi^T)^+,
    Phi Phi^T a polynomial of the tangent inner products.

    ``copies`` [b, K] (from :func:`_distinct_rows`) counts each distinct row's copies and is 0
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
                sol[failed] = _qr_wide(u_s[idx][failed], quad_s[idx][failed], c2[idx][failed], rhs[idx][failed], P)
            return sol
        if route == "qr":
            return _qr_wide(u_s[idx], quad_s[idx], c2[idx], rhs[idx], P)
        if route == "eigenvectors":
            return quad_s[idx].mT @ _eig_pinv_apply(gram[idx], rhs[idx], rcond)
        # numpy's own computation on the design as it is
        return _svd_lstsq(torch.cat([u[idx], quad[idx]], -1), f[idx], rcond)[..., u.shape[-1]:, :]

    return _solve_per_route(gram, rcond, solve)


def _qr_wide(u_s, quad_s, c2, rhs, P: int) -> torch.Tensor:
    """Hessian rows of the minimum-norm solution for a full-row-rank design [Phi_s, diag(c)]
    (rows scaled as in :func:`_fit_wide`): with [Phi_s, diag(c)]^T = Q R, beta = Q R^-T rhs."""
    aug = torch.cat([u_s, quad_s], -1).mT  # [b, P, K]
    aug = torch.cat([aug, torch.diag_embed(c2.sqrt())], -2)  # [b, P + K, K]
    Q, R = torch.linalg.qr(aug)
    z = torch.linalg.solve_triangular(R.mT, rhs, upper=False)
    return Q[..., u_s.shape[-1]:P, :] @ z


def _distinct_rows(delta: torch.Tensor) -> torch.Tensor:
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


def _paper_chunk(x: torch.Tensor, y: torch.Tensor, *, d: int, m: int, rcond: float) -> torch.Tensor:
    """kappa [b, m - d, d] of the paper's estimator for a chunk of b points."""
    K, D = y.shape[1:]
    delta = y - x[:, None, :]  # uncentred frame (paper)
    if D <= K:
        # Frame from the D x D Gram matrix (m = D). Only the tangent coordinates are formed: the
        # fit solves for the D ambient coordinates, whose Hessian coefficients are turned to the
        # normal basis afterwards, (pinv(Phi) Delta) U_n = pinv(Phi) (Delta U_n): a q x D x (m - d)
        # product instead of the K x D x D one of all coordinates.
        # eigh's ascending order is kept (a flip would copy U): the tangent coordinates come in
        # reverse order, which permutes each Hessian's rows and columns and so leaves its
        # eigenvalues; the normal directions are put in the paper's descending order at the end.
        with _lapack(delta.device):
            U = torch.linalg.eigh(delta.mT @ delta)[1]
        u, rhs, normal = delta @ U[..., D - d:], delta, U[..., :D - d]
    else:  # frame from the K x K side: the normal coordinates come with it
        coords = _frame_coordinates(delta, m)
        u, rhs, normal = coords[..., :d], coords[..., d:], None
    quad = _quadratic_columns(u)  # [b, K, q]
    if d + quad.shape[-1] <= K:  # P x P side
        coef = _fit_tall(torch.cat([u, quad], -1), rhs, rcond, first=d)
    else:  # K x K side
        coef = _fit_wide(u, quad, rhs, _distinct_rows(delta), rcond)  # [b, q, r]
    if normal is not None:
        coef = coef @ normal
    H = _sym_from_upper(coef.mT, d)  # [b, m - d, d, d]
    if d == 1:
        kappa = H[..., 0]
    else:
        with _lapack(H.device):
            kappa = torch.linalg.eigvalsh(H)
    return kappa if normal is None else kappa.flip(1)  # normal directions in descending order


def _sym_from_upper(coef: torch.Tensor, d: int) -> torch.Tensor:
    """[..., d(d+1)/2] coefficients in row-major upper-triangle order -> symmetric [..., d, d]."""
    iu = torch.triu_indices(d, d, device=coef.device)
    position = torch.empty(d, d, dtype=torch.long, device=coef.device)  # (i, j) -> its coefficient
    position[iu[0], iu[1]] = position[iu[1], iu[0]] = torch.arange(iu.shape[1], device=coef.device)
    return coef.index_select(-1, position.flatten()).unflatten(-1, (d, d))


def _robust_chunk(x: torch.Tensor, y: torch.Tensor, *, d: int, n_normal: int, rcond: float,
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
            delta = _frame_coordinates(delta, K)  # [b, K, K]
        else:
            with _lapack(x.device):
                delta = torch.linalg.qr(delta.mT, mode="r")[1].mT  # [b, K, K]
        D = K
    centred = delta - delta.mean(1, keepdim=True)
    with _lapack(x.device):  # D <= K now: the D x D Gram matrix
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
    kappa, rel = _robust_fit(u, resid, n_normal=n_normal, rcond=rcond)
    resolved = rel <= noise_rtol
    for k in sizes[:-1]:  # ascending: the first resolved size wins
        kap_k, rel_k = _robust_fit(u[:, :k], resid[:, :k], n_normal=n_normal, rcond=rcond)
        take = ~resolved & ((rel_k <= noise_rtol) | (rel_k < rel)) if k != sizes[0] else \
            (rel_k <= noise_rtol) | (rel_k < rel)
        if k == sizes[0]:
            resolved = torch.zeros_like(resolved)
        kappa = torch.where(take[:, None, None], kap_k, kappa)
        rel = torch.where(take, rel_k, rel)
        resolved = resolved | (take & (rel_k <= noise_rtol))
    return kappa


def _robust_fit(u: torch.Tensor, resid: torch.Tensor, *, n_normal: int, rcond: float, iterations: int = 2):
    """One fit r ~ c + A u + 1/2 II(u, u) on tangent coordinates u [b, K, d] and ambient normal
    residuals [b, K, D]: kappa [b, n_normal, d] and the relative noise [b] of the strongest
    normal direction's Hessian (infinite where it cannot be told)."""
    b, K, d = u.shape
    tiny = torch.finfo(u.dtype).tiny
    quad = _quadratic_columns(u)  # coefficients = Hessian entries
    design = torch.cat([torch.ones_like(u[..., :1]), u, quad], dim=-1)  # [b, K, p]
    p = design.shape[-1]
    # Equilibrate columns (linear ~ rho, quadratic ~ rho^2) before the normal equations.
    scale = torch.linalg.vector_norm(design, dim=1, keepdim=True).clamp_min(tiny)
    ds = design / scale
    with _lapack(u.device):
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
    with _lapack(u.device):
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
    H0 = _sym_from_upper(proj, d)  # [b, n_normal, d, d]
    H = H0
    proj_coef = solve[:, 1 + d:] / scale[:, 0, 1 + d:, None]  # rows of pinv(X) for the Hessian
    for _ in range(iterations):
        uHu = torch.einsum("bki,bnij,bkj->bnk", u, H, u)
        uH2u = (torch.einsum("bnij,bkj->bnki", H, u)).square().sum(-1)
        quartic = uHu * uH2u / 8  # [b, n_normal, K]
        shift = (proj_coef @ (ds.mT @ quartic.mT)).mT  # [b, n_normal, q]
        # A correction, not a refit: capped at half of ||H|| where noise makes it run away.
        cap = 0.5 * proj.norm(dim=-1, keepdim=True) / shift.norm(dim=-1, keepdim=True).clamp_min(tiny)
        H = H0 - _sym_from_upper(shift * cap.clamp(max=1.0), d)
    if d == 1:
        return H[..., 0], rel
    with _lapack(u.device):
        return torch.linalg.eigvalsh(H), rel


def paper_reference(points, neighbours, d: int, rcond: float = 1e-6) -> np.ndarray:
    """The paper mode point by point in plain numpy: the yardstick of :func:`mapc`'s engine.

    A literal port of the estimator (Kaufman & Azencot 2023): SVD of the D x K uncentred frame,
    the explicit K x P design, ``numpy.linalg.pinv(Phi, rcond=rcond)`` and ``eigvalsh`` of every
    H^alpha. Slow (one point at a time) and kept only for the tests and ``bench/``, which check
    that ``mapc(..., mode="paper", rcond=rcond)`` returns the same values.

    Parameters
    ----------
    points : ndarray [n, D]
    neighbours : ndarray [n, K, D]
    d : int
    rcond : float

    Returns
    -------
    ndarray [n, m - d, d]
        Principal curvatures, ascending per normal direction.
    """
    points, neighbours = np.asarray(points, np.float64), np.asarray(neighbours, np.float64)
    K, D = neighbours.shape[1:]
    m = min(D, K)
    iu = np.triu_indices(d, 1)
    out = np.empty((len(points), m - d, d))
    for i, (x, y) in enumerate(zip(points, neighbours)):
        delta = (y - x).T  # D x K frame, not mean-centred
        U = np.linalg.svd(delta, full_matrices=False)[0]
        c = U[:, :m].T @ delta
        u, f = c[:d].T, c[d:m].T
        phi = np.hstack([u, 0.5 * u ** 2, u[:, iu[0]] * u[:, iu[1]]])
        beta = np.linalg.pinv(phi, rcond=rcond) @ f
        for a in range(m - d):
            H = np.diag(beta[d:2 * d, a])
            H[iu] = H[(iu[1], iu[0])] = beta[2 * d:, a]
            out[i, a] = np.linalg.eigvalsh(H)
    return out
