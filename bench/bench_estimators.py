"""Benchmark latentgeom's estimators against straightforward references.

- MAPC "paper" mode: the library's batched torch engine vs a per-point numpy port of the spec's
  steps 5-8 (SVD of the D x K frame, explicit design matrix, ``numpy.linalg.pinv``, ``eigvalsh``
  per normal direction) with the same pseudo-inverse tolerance (rcond = 1e-6), float64, on
  (a) 1000 standard Gaussian points in R^512 with d = 119, K = 2d = 238 data-kNN neighbours
  (``shared/specs/curvature.md``, "Reference cost") and (b) 2000 points of the unit sphere S^2
  rotated into R^10, d = 2, K = 10 (the spec's reference-value case).
- TwoNN vs scikit-dimension's ``skdim.id.TwoNN`` on the three reference data sets of
  ``shared/specs/intrinsic-dimension.md``.

Usage::

    python bench/bench_estimators.py            # default, < ~10 min on 2 cores
    python bench/bench_estimators.py --full     # reference on all 1000 points of case (a)
    python bench/bench_estimators.py --quick    # ~1 min: subsets, times extrapolated

The per-point reference on case (a) costs ~0.4-0.6 s per point on 2 cores (one BLAS thread:
with two, OpenBLAS's pinv was measured 3-18x slower on a busy 2-core machine), so all 1000 points
take ~7-10 minutes. By default it runs point by point until ``--ref-budget`` (600) seconds are
spent or all points are done; a cut-off run's total is extrapolated linearly from the points it
did (every point costs the same: same K, d, D) and marked ``*``. ``--full`` lifts the cap. The library engine always runs on all points except with ``--quick``. The
accuracy columns compare the two on exactly the points the reference ran on.

Writes ``results/bench/estimators.json`` (under ``$LATENTGEOM_HOME``).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time

import numpy as np
import torch

from latentgeom.estimators.curvature import mapc
from latentgeom.estimators.intrinsic_dimension import twonn
from latentgeom.estimators.neighbourhoods import knn_neighbourhoods
from latentgeom.paths import results_dir

RCOND = 1e-6
TARGET_REL_DIFF = 1e-6
TARGET_SPEEDUP = 100.0


def reference_paper_point(x: np.ndarray, y: np.ndarray, d: int, rcond: float = RCOND) -> np.ndarray:
    """Principal curvatures [m - d, d] of one point: a literal numpy port of spec steps 5-7.

    x [D] is the point, y [K, D] its neighbours.
    """
    K, D = y.shape
    m = min(D, K)
    iu = np.triu_indices(d, 1)
    delta = (y - x).T  # D x K frame, not mean-centred (step 5)
    U, _, _ = np.linalg.svd(delta, full_matrices=False)
    c = U[:, :m].T @ delta  # m x K coordinates
    u, f = c[:d].T, c[d:m].T  # K x d tangent, K x (m - d) normal
    phi = np.hstack([u, 0.5 * u ** 2, u[:, iu[0]] * u[:, iu[1]]])  # step 6 design, no intercept
    beta = np.linalg.pinv(phi, rcond=rcond) @ f  # P x (m - d), minimum-norm least squares
    out = np.empty((m - d, d))
    for a in range(m - d):  # step 7: eigenvalues of every H^alpha
        H = np.diag(beta[d:2 * d, a])
        H[iu] = beta[2 * d:, a]
        H[(iu[1], iu[0])] = beta[2 * d:, a]
        out[a] = np.linalg.eigvalsh(H)
    return out


def reference_paper_mapc(points: np.ndarray, neighbours: np.ndarray, d: int, rcond: float = RCOND,
                         budget_s: float | None = None) -> tuple[np.ndarray, float]:
    """Run :func:`reference_paper_point` on points 0, 1, ... until all are done or ``budget_s``
    seconds are spent (at least one point). Returns (kappa [n_done, m - d, d], seconds)."""
    out = []
    with _one_blas_thread():
        t0 = time.perf_counter()
        for i in range(len(points)):
            out.append(reference_paper_point(points[i], neighbours[i], d, rcond))
            if budget_s is not None and time.perf_counter() - t0 > budget_s:
                break
        seconds = time.perf_counter() - t0
    return np.stack(out), seconds


@contextlib.contextmanager
def _one_blas_thread():
    """numpy's BLAS/LAPACK with one thread: the reference's fastest setting on small shared
    machines (pinv of the 238 x 7259 design: 0.27 s with one OpenBLAS thread, 0.7-4.9 s with
    two on 2 busy cores), as the library runs its LAPACK calls single-threaded too."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=1):
        yield


@contextlib.contextmanager
def _torch_threads(n: int):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _frame(D: int, k: int, rng) -> np.ndarray:
    return np.linalg.qr(rng.standard_normal((D, k)))[0]  # orthonormal columns: random rotation


def unit_sphere(n: int, D: int, seed: int = 0) -> np.ndarray:
    """n uniform points of the unit 2-sphere, rotated into R^D."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 3))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return z @ _frame(D, 3, rng).T


def _median_time(fn, repeats: int = 3):
    times, value = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), value


def bench_mapc(name: str, X: np.ndarray, d: int, K: int, *, ours_points: int | None = None,
               ref_budget_s: float | None = None, ours_repeats: int = 1, also_one_thread: bool = False) -> dict:
    """Time the library's paper mode and the per-point reference on the same neighbourhoods."""
    n = len(X)
    nb = knn_neighbourhoods(X, K).numpy()
    mapc(X[:8], nb[:8], d)  # warm-up: torch's lazy initialisation is not part of the estimator
    n_ours = n if ours_points is None else min(n, ours_points)
    ours_s, res = _median_time(lambda: mapc(X[:n_ours], nb[:n_ours], d), ours_repeats)
    ours_total = ours_s * n / n_ours
    ours_1t = None
    if also_one_thread and torch.get_num_threads() > 1:
        with _torch_threads(1):
            ours_1t = _median_time(lambda: mapc(X[:n_ours], nb[:n_ours], d), ours_repeats)[0] * n / n_ours
    ref, ref_s = reference_paper_mapc(X, nb, d, budget_s=ref_budget_s)
    n_ref = len(ref)
    ref_total = ref_s * n / n_ref
    if n_ref > n_ours:  # --quick: the engine ran on fewer points than the reference
        res = mapc(X[:n_ref], nb[:n_ref], d)
    a, b = np.abs(ref), np.abs(res.kappa[:n_ref])
    pp_ref, pp_ours = a.mean((1, 2)), b.mean((1, 2))
    rel_pp = float(np.max(np.abs(pp_ours - pp_ref) / pp_ref))
    rel_mapc = float(abs(pp_ours.mean() - pp_ref.mean()) / pp_ref.mean())
    # |kappa| per normal direction, sorted (eigenvalue signs and order within a direction are arbitrary)
    rel_kappa = float(np.max(np.abs(np.sort(a, 2) - np.sort(b, 2))) / a.max())
    return dict(case=name, n=n, D=X.shape[1], d=d, K=K, ours_s=ours_total, ours_points=n_ours,
                ours_one_thread_s=ours_1t, speedup_one_thread=None if ours_1t is None else ref_total / ours_1t,
                torch_threads=torch.get_num_threads(),
                reference_s=ref_total, reference_points=n_ref,
                extrapolated=bool(n_ref < n or n_ours < n), speedup=ref_total / ours_total,
                max_rel_diff=rel_pp, mapc_rel_diff=rel_mapc, max_kappa_diff_rel_to_max=rel_kappa,
                mapc=float(pp_ours.mean()), reference_mapc=float(pp_ref.mean()),
                mapc_all_points=float(res.mapc) if n_ours == n else None)


def twonn_datasets(seed: int = 0) -> dict:
    """The spec's three reference sets (N = 2000) with their reference values."""
    from sklearn.datasets import make_swiss_roll
    rng = np.random.default_rng(seed)
    return {
        "cube5 in R^100": (rng.random((2000, 5)) @ rng.standard_normal((5, 100)), 4.723),
        "swiss roll": (make_swiss_roll(2000, random_state=seed)[0], 1.933),
        "gauss 2000x512": (rng.standard_normal((2000, 512)), 121.6),
    }


def bench_twonn(repeats: int = 3) -> list[dict]:
    import skdim
    rows = []
    for name, (X, spec_value) in twonn_datasets().items():
        twonn(X), skdim.id.TwoNN().fit(X)  # warm-up
        t_ours, ours = _median_time(lambda: twonn(X).id, repeats)
        t_ref, ref = _median_time(lambda: skdim.id.TwoNN().fit(X).dimension_, repeats)
        rows.append(dict(case=f"twonn {name}", n=len(X), D=X.shape[1], ours_s=t_ours, reference_s=t_ref,
                         speedup=t_ref / t_ours, id=float(ours), reference_id=float(ref),
                         abs_diff=float(abs(ours - ref)), spec_value=spec_value))
    return rows


def _machine() -> dict:
    info = dict(cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
                omp_num_threads=os.environ.get("OMP_NUM_THREADS"), processor=platform.processor() or platform.machine(),
                python=platform.python_version(), torch=torch.__version__, numpy=np.__version__)
    if hasattr(os, "sched_getaffinity"):
        info["usable_cores"] = len(os.sched_getaffinity(0))
    return info


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="~1 min: engine on 100 of the 1000 points, reference for ~20 s; times extrapolated")
    mode.add_argument("--full", action="store_true", help="run the per-point reference on all 1000 points (slow)")
    ap.add_argument("--ref-budget", type=float, default=600.0,
                    help="seconds the 1000 x 512 reference may run before its time is extrapolated (default 600: "
                         "all points on an idle 2-core machine, ~387 s in the spec)")
    args = ap.parse_args(argv)
    machine = _machine()
    load_start = _load()
    print(f"machine: {machine['cpu_count']} cores (os.cpu_count), {machine.get('usable_cores', '?')} usable, "
          f"torch threads {machine['torch_threads']}, {machine['processor']}; load average {load_start}")
    print("float64 throughout; timings on a shared machine are noisy (see the load averages)\n", flush=True)

    rows = bench_twonn()
    rows.append(bench_mapc("mapc paper S^2 in R^10", unit_sphere(2000, 10), 2, 10, ours_repeats=5, also_one_thread=True,
                           ref_budget_s=20.0 if args.quick else None))
    gauss = np.random.default_rng(0).standard_normal((1000, 512))
    d = 119
    budget = None if args.full else (20.0 if args.quick else args.ref_budget)
    print(f"1000 x 512 Gaussian: d = {d}, K = {2 * d}; reference "
          f"{'on all points' if budget is None else f'for up to {budget:.0f} s, then extrapolated'}", flush=True)
    rows.append(bench_mapc("mapc paper gauss 1000 in R^512", gauss, d, 2 * d,
                           ours_points=100 if args.quick else None, ref_budget_s=budget))
    load_end = _load()

    print(f"\n{'TwoNN (N = 2000)':24s} {'ours s':>8s} {'skdim s':>8s} {'skdim/ours':>10s} {'ours ID':>9s} "
          f"{'skdim ID':>9s} {'|diff|':>9s} {'spec':>7s}")
    for r in rows[:3]:
        print(f"{r['case'][6:]:24s} {r['ours_s']:8.3f} {r['reference_s']:8.3f} {r['speedup']:9.2f}x {r['id']:9.4f} "
              f"{r['reference_id']:9.4f} {r['abs_diff']:9.1e} {r['spec_value']:7.3f}")
    print(f"\n{'MAPC paper mode':31s} {'n':>5s} {'d':>4s} {'K':>4s} {'ours s':>8s} {'ref s':>9s} {'speed-up':>9s} "
          f"{'ref pts':>7s} {'max rel diff':>12s} {'kappa diff':>10s} {'MAPC':>9s}")
    for r in rows[3:]:
        star = "*" if r["extrapolated"] else " "
        ours_star = "*" if r["ours_points"] < r["n"] else " "
        print(f"{r['case']:31s} {r['n']:5d} {r['d']:4d} {r['K']:4d} {r['ours_s']:7.2f}{ours_star} "
              f"{r['reference_s']:8.1f}{star} {r['speedup']:8.1f}x {r['reference_points']:7d} "
              f"{r['max_rel_diff']:12.1e} {r['max_kappa_diff_rel_to_max']:10.1e} {r['mapc']:9.4g}")
    for r in rows[3:]:
        if r["ours_one_thread_s"] is not None:
            print(f"{r['case']} with torch.set_num_threads(1): ours {r['ours_one_thread_s']:.3f} s, "
                  f"speed-up {r['speedup_one_thread']:.1f}x (above: {r['torch_threads']} torch threads)")
    if any(r.get("extrapolated") for r in rows):
        print("* extrapolated linearly from the points that ran ('ref pts'; --full runs the reference on all)")
    print("reference: per-point numpy, BLAS limited to 1 thread (its fastest setting here); "
          "ours: lg.mapc(mode='paper'), float64, CPU.")
    print("max rel diff: largest relative difference of a point's MAPC (mean |kappa|) between engine and "
          "reference;\nkappa diff: largest |kappa| difference over all values, relative to the largest |kappa|.")
    worst = max(r["max_rel_diff"] for r in rows[3:])
    best = [max(r["speedup"], r["speedup_one_thread"] or 0) for r in rows[3:]]
    print(f"targets: max rel diff < {TARGET_REL_DIFF:g}: {'met' if worst < TARGET_REL_DIFF else 'NOT met'} "
          f"(worst {worst:.1e}); speed-up >= {TARGET_SPEEDUP:g}x: "
          f"{'met' if min(best) >= TARGET_SPEEDUP else 'NOT met'} (per case: "
          + ", ".join(f"{b:.1f}x" for b in best) + ")")
    print(f"load average at start {load_start}, at end {load_end} ({machine['cpu_count']} cores)")

    report = dict(machine=machine, load_average_start=load_start, load_average_end=load_end,
                  mode="quick" if args.quick else "full" if args.full else "default",
                  ref_budget_s=budget, rcond=RCOND, targets=dict(max_rel_diff=TARGET_REL_DIFF, speedup=TARGET_SPEEDUP),
                  rows=rows)
    out = results_dir() / "bench" / "estimators.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
