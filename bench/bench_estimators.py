"""Benchmark latentgeom's estimators against straightforward references.

- MAPC "paper" mode: the batched torch engine vs a per-point numpy port of the spec's steps
  5-8 (SVD of the D x K frame, explicit design matrix, numpy.linalg.pinv, eigvalsh per normal
  direction), with the same pseudo-inverse tolerance (rcond = 1e-6).
- TwoNN vs scikit-dimension's ``skdim.id.TwoNN`` on the spec's three reference data sets.

Run ``python bench/bench_estimators.py`` (default: the spec case, the reference on all 1000
points of 1000 x 512, several minutes) or ``--quick`` (the reference on a subset of points,
per-point time extrapolated). Writes ``results/bench/estimators.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from latentgeom.curvature import mapc
from latentgeom.intrinsic_dimension import twonn
from latentgeom.neighbourhoods import knn_neighbourhoods
from latentgeom.paths import results_dir

RCOND = 1e-6


def reference_paper_mapc(points: np.ndarray, neighbours: np.ndarray, d: int, rcond: float = RCOND) -> np.ndarray:
    """Per-point numpy port of the paper's estimator; returns |kappa| sorted per direction [n, m-d, d]."""
    n, K, D = neighbours.shape
    m = min(D, K)
    iu = np.triu_indices(d, 1)
    out = np.empty((n, m - d, d))
    for i in range(n):
        delta = (neighbours[i] - points[i]).T  # D x K, uncentred
        U, _, _ = np.linalg.svd(delta, full_matrices=False)
        c = U[:, :m].T @ delta  # m x K
        u, f = c[:d].T, c[d:m].T  # K x d, K x (m-d)
        phi = np.hstack([u, 0.5 * u ** 2, u[:, iu[0]] * u[:, iu[1]]])
        beta = np.linalg.pinv(phi, rcond=rcond) @ f  # P x (m-d)
        for a in range(m - d):
            H = np.diag(beta[d:2 * d, a])
            H[iu] = beta[2 * d:, a]
            H[(iu[1], iu[0])] = beta[2 * d:, a]
            out[i, a] = np.linalg.eigvalsh(H)
    return out


def _sphere(n, D, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 3))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return z @ np.linalg.qr(rng.standard_normal((D, 3)))[0].T


def bench_mapc(name, X, d, K, n_ref):
    nb = knn_neighbourhoods(X, K).numpy()
    t = time.perf_counter()
    res = mapc(X, nb, d)
    ours = time.perf_counter() - t
    sel = np.arange(min(n_ref, len(X)))
    t = time.perf_counter()
    ref = reference_paper_mapc(X[sel], nb[sel], d)
    ref_time = (time.perf_counter() - t) * len(X) / len(sel)
    a, b = np.abs(ref), np.abs(res.kappa[sel])
    per_point_ref = a.mean((1, 2))
    rel_pp = float(np.max(np.abs(b.mean((1, 2)) - per_point_ref) / per_point_ref))
    rel_kappa = float(np.max(np.abs(np.sort(a, 2) - np.sort(b, 2))) / a.max())
    return dict(case=name, n=len(X), D=X.shape[1], d=d, K=K, ours_s=ours, reference_s=ref_time,
                reference_points=len(sel), extrapolated=len(sel) < len(X), speedup=ref_time / ours,
                max_rel_diff=rel_pp, max_kappa_diff_rel_to_max=rel_kappa, mapc=res.mapc)


def bench_twonn():
    import skdim
    from sklearn.datasets import make_swiss_roll
    rng = np.random.default_rng(0)
    sets = {"twonn cube5 in R^100": rng.random((2000, 5)) @ rng.standard_normal((5, 100)),
            "twonn swiss roll": make_swiss_roll(2000, random_state=0)[0],
            "twonn gauss 2000x512": rng.standard_normal((2000, 512))}
    rows = []
    for name, X in sets.items():
        twonn(X), skdim.id.TwoNN().fit(X)  # warm-up
        t = time.perf_counter(); ours = twonn(X).id; t_ours = time.perf_counter() - t
        t = time.perf_counter(); ref = skdim.id.TwoNN().fit(X).dimension_; t_ref = time.perf_counter() - t
        rows.append(dict(case=name, ours_s=t_ours, reference_s=t_ref, speedup=t_ref / t_ours,
                         max_rel_diff=abs(ours - ref) / abs(ref), id=ours, reference_id=ref))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="reference on a subset of points, time extrapolated")
    args = ap.parse_args(argv)
    rows = bench_twonn()
    sphere = _sphere(2000, 10)
    rows.append(bench_mapc("mapc paper sphere 2000 in R^10", sphere, 2, 10, 200 if args.quick else 2000))
    gauss = np.random.default_rng(0).standard_normal((1000, 512))
    d = int(round(twonn(gauss).id))
    n_ref = 20 if args.quick else 1000
    if args.quick:
        print(f"--quick: the 1000 x 512 reference runs on {n_ref} points; its time is extrapolated per point")
    rows.append(bench_mapc(f"mapc paper gauss 1000x512", gauss, d, 2 * d, n_ref))
    print(f"cores: {os.cpu_count()}  torch threads: {torch.get_num_threads()}  {platform.processor() or platform.machine()}")
    print(f"{'case':34s} {'ours s':>9s} {'ref s':>9s} {'speed-up':>9s} {'max rel diff':>13s}")
    for r in rows:
        star = "*" if r.get("extrapolated") else ""
        print(f"{r['case']:34s} {r['ours_s']:9.3f} {r['reference_s']:8.2f}{star:1s} {r['speedup']:8.1f}x {r['max_rel_diff']:13.2e}")
    if any(r.get("extrapolated") for r in rows):
        print("* reference time extrapolated from a subset of points")
    out = results_dir() / "bench" / "estimators.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                               "quick": args.quick, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
