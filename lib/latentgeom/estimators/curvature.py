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
    run side by side in worker threads (measured fastest, see :mod:`.threads`); on CUDA the same
    code runs batched on the device. Non-finite input is caught chunk by chunk, by one sum each.

    ``rcond`` means exactly what it means in ``numpy.linalg.pinv(Phi, rcond=rcond)`` for every
    value in [0, 1); per point the engine takes the cheapest route that provably gives numpy's
    answer (normal equations, QR, Gram eigenvectors or the SVD:
    :mod:`latentgeom.estimators.pseudo_inverse`).
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

Modules: this one validates and dispatches; :mod:`.paper_mode` and :mod:`.robust_mode` are the
two engines, :mod:`.quadratic_design` their shared design, :mod:`.pseudo_inverse` the paper
fit's exact routes, :mod:`.threads` the CPU threading. The per-point numpy port of the paper
mode that the tests and ``bench/`` compare against is ``bench/reference.py``.

Both modes return :class:`CurvatureResult` with the same summaries, so findings can be
shown under both: ``max_abs`` (mean per-point largest |kappa|) and ``carrying_mean_abs``
(mean |kappa| over the normal directions that carry curvature: at each point, those whose
Hessian Frobenius norm ||H^alpha||_F = sqrt(sum_k kappa_k^2) is at least
``CARRYING_RTOL`` (= 0.25) times the point's largest one; pooled over points, directions and
the d values). Curvatures are in inverse units of the input (no scale normalisation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..validation import (as_tensor, check_choice, check_finite, check_int, check_range, resolve_device,
                          tensor_is_finite)
from .paper_mode import paper_chunk
from .robust_mode import robust_chunk
from .threads import cpu_workers, lapack, worker_pool

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
        step = paper_chunk
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
        step = robust_chunk
        scales = check_int(mode_options.get("scales", 6), "scales", minimum=1)
        noise_rtol = check_range(mode_options.get("noise_rtol", 0.05), "noise_rtol", 0.0, math.inf,
                                 closed="neither")
        kwargs = dict(d=d, n_normal=n_normal, rcond=rcond, scales=scales, noise_rtol=noise_rtol)
    workers = cpu_workers(dev)
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
    with lapack(dev):  # the whole call: measured fastest, see threads.lapack
        if workers > 1 and chunks > 1:
            out = list(worker_pool(workers).map(run, bounds))
        else:
            out = [run(b) for b in bounds]
    if any(o is None for o in out):  # the error names the parameter and counts its bad values
        check_finite(P, "points")
        check_finite(Y, "neighbours")
    kappa = torch.cat(out).numpy()
    return CurvatureResult.from_kappa(mode, d, K, D, m, kappa)
