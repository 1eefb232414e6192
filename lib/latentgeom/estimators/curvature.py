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
    cylinder. Four corrections make it hold under noise, at finite neighbourhood size and at
    the tangent dimensions of real layers (d = 2-14; :mod:`.robust_mode` has the details):

    - *noise debiasing* of the normal directions: the residual noise (RSS / (K - p)) times the
      design's covariance of the Hessian entries is subtracted from the statistic whose
      principal axes pick them, so noise does not pose as curvature;
    - *higher-order correction*: the fit is undone of the graph's terms beyond second order,
      h(u) = u^T H u / (1 + sqrt(1 - u^T H^2 u)), exact on spheres and cylinders of any radius
      (a quadratic fit alone overestimates by ~0.2 (rho kappa)^2 at radius rho);
    - *spread correction*: noise spreads the d eigenvalues of a Hessian (the largest of a noisy
      sphere's sits ~2 sigma sqrt(d) too high); the traceless part of each Hessian is shrunk
      so that its energy loses the noise's expected share;
    - *adaptive neighbourhood size*: fits on up to ``scales`` nested neighbourhoods (nearest
      first); per point Lepski's rule keeps the largest one that agrees with every smaller
      resolved one within noise. Hand it a generous K.

    Every point gets a ``relative_noise`` (standard deviation of its largest |kappa|, by the
    delta method from the residual noise along its normal direction, 95 % upper confidence
    bound for the fit's residual degrees of freedom, over its value) and is
    ``resolved`` when that is at most ``noise_rtol`` (default :data:`NOISE_RTOL` = 0.25). A
    cloud with fewer than :data:`MIN_RESOLVED_SHARE` of its points resolved (its median point
    is not) warns with :class:`UnresolvedCurvatureWarning` and is not ``measurable``: report it
    as such, not as a number. A flat neighbourhood is never resolved (its curvature cannot be
    told from zero). Latent neighbourhoods made from input perturbations resolve d only where
    they span d input directions (:func:`spanned_directions`).

Modules: this one validates and dispatches; :mod:`.curvature_result` holds the result type and
the resolution thresholds, :mod:`.paper_mode` and :mod:`.robust_mode` are the two engines,
:mod:`.quadratic_design` their shared design, :mod:`.pseudo_inverse` the paper fit's exact
routes, :mod:`.threads` the CPU threading. The per-point numpy port of the paper mode that the
tests and ``bench/`` compare against is ``bench/reference.py``.

Both modes return :class:`CurvatureResult` with the same summaries, so findings can be
shown under both: ``max_abs`` (mean per-point largest |kappa|) and ``carrying_mean_abs``
(mean |kappa| over the normal directions that carry curvature: at each point, those whose
Hessian Frobenius norm ||H^alpha||_F = sqrt(sum_k kappa_k^2) is at least
``CARRYING_RTOL`` (= 0.25) times the point's largest one; pooled over points, directions and
the d values). Curvatures are in inverse units of the input (no scale normalisation).
"""
from __future__ import annotations

import math
import warnings
import torch

from ..validation import (as_tensor, check_choice, check_finite, check_int, check_range, resolve_device,
                          tensor_is_finite)
from .curvature_result import (CARRYING_RTOL, MIN_RESOLVED_SHARE, NOISE_RTOL, PAPER_RESOLUTION, CurvatureResult,
                               UnresolvedCurvatureWarning)
from .paper_mode import paper_chunk
from .quadratic_design import spanned_directions
from .robust_mode import robust_chunk
from .threads import cpu_workers, lapack, worker_pool

__all__ = ["CurvatureResult", "mapc", "CARRYING_RTOL", "MODES", "MIN_RESOLVED_SHARE", "NOISE_RTOL", "PAPER_RESOLUTION",
           "UnresolvedCurvatureWarning", "min_neighbours", "spanned_directions"]

#: Bumped whenever the engine's numbers change (a cached curvature profile keyed on an older
#: version is recomputed). 2: exact rcond routes, noise-debiased adaptive robust mode.
#: 3: robust mode with the all-order higher-order correction, the noise correction of the
#: eigenvalue spread, Lepski's scale choice and per-point resolution (paper mode unchanged).
ESTIMATOR_VERSION = 3

#: Estimator modes of :func:`mapc` (see the module docstring).
MODES = ("paper", "robust")
_DEFAULT_CHUNK_BYTES = 48 * 2**20  # intermediates per chunk, measured fastest on the bench's shapes


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
        sizes tried per point, default 6; 1 = use all K), ``noise_rtol`` (float > 0, the
        largest relative noise of a point's largest |kappa| at which it counts as resolved,
        default :data:`NOISE_RTOL`).

    Returns
    -------
    CurvatureResult
        ``kappa`` in inverse input units; robust: ``relative_noise``, ``resolved`` and
        ``resolved_share`` per point as well.

    Raises
    ------
    ValueError
        NaN/inf input, shape mismatch, d out of range, K too small for the fit, unknown
        mode or option.

    Warns
    -----
    UnresolvedCurvatureWarning
        Robust mode, when fewer than :data:`MIN_RESOLVED_SHARE` of the points are resolved.
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

    # float32 neighbours with D > K stay float32 on the CPU (a view of the input, no copy): the
    # engines read them block by block into float64 Gram matrices (quadratic_design.
    # difference_gram) instead of converting the chunk's [b, K, D] whole, the costliest step on
    # a conv layer. Chunks are then sized by the float32 neighbourhoods they read (measured
    # faster than sizing them by the one float64 block they hold: 0.67-0.70 s against 0.88-0.92 s
    # at 300 points, K = 64, D = 12 544), instead of float64 copies of all D columns and their
    # displacements (and, paper, one more for the frame).
    read_blocks = (dev.type == "cpu" and dtype == torch.float64 and D > K
                   and P.dtype == Y.dtype == torch.float32)
    copies_bytes = 4 * K * D if read_blocks else 8 * K * D * (3 if mode == "paper" else 2)
    if mode == "paper":
        m = min(D, K)
        if d >= m:
            raise ValueError(f"paper mode needs d < m = min(D, K) = {m}, got d={d}")
        rcond = _default_rcond(dtype) if rcond is None else float(rcond)
        per_point_bytes = copies_bytes + 8 * (4 * K * K + 2 * K * d * (d + 1) // 2
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
        per_point_bytes = copies_bytes + 8 * (6 * K * span + 3 * span ** 2 + 4 * K * p_cols + 3 * p_cols * p_cols
                                              + 3 * q * span + 3 * n_normal * (K * (d + 2) + d * d))
        step = robust_chunk
        scales = check_int(mode_options.get("scales", 4), "scales", minimum=1)
        noise_rtol = check_range(mode_options.get("noise_rtol", NOISE_RTOL), "noise_rtol", 0.0, math.inf,
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

    def run(bounds: tuple[int, int]) -> tuple[torch.Tensor, ...] | None:
        with torch.no_grad():  # grad mode is per thread
            x = P[bounds[0]:bounds[1]].to(dev, dtype)
            y = Y[bounds[0]:bounds[1]].to(dev, None if read_blocks else dtype)
            if not (tensor_is_finite(x) and tensor_is_finite(y)):
                return None  # reported for the whole input below
            out = step(x, y, **kwargs)
            return tuple(o.to("cpu", torch.float64) for o in (out if isinstance(out, tuple) else (out,)))

    bounds = [(i * n // chunks, (i + 1) * n // chunks) for i in range(chunks)]  # sized evenly
    with lapack(dev):  # the whole call: measured fastest, see threads.lapack
        if workers > 1 and chunks > 1:
            out = list(worker_pool(workers).map(run, bounds))
        else:
            out = [run(b) for b in bounds]
    if any(o is None for o in out):  # the error names the parameter and counts its bad values
        check_finite(P, "points")
        check_finite(Y, "neighbours")
    kappa = torch.cat([o[0] for o in out]).numpy()
    if mode == "paper":
        return CurvatureResult.from_kappa(mode, d, K, D, m, kappa)
    result = CurvatureResult.from_kappa(mode, d, K, D, m, kappa, torch.cat([o[1] for o in out]).numpy(),
                                        noise_rtol)
    if not result.measurable:
        warnings.warn(f"robust curvature resolved at only {result.resolved_share:.0%} of {n} points (relative "
                      f"noise <= {noise_rtol:g}; {MIN_RESOLVED_SHARE:.0%} needed): report it as not measurable, "
                      "or give more neighbours (K), a larger radius or less noisy data (a flat cloud is never "
                      "resolved: its curvature cannot be told from zero)", UnresolvedCurvatureWarning, stacklevel=2)
    return result
