"""The scale-free curvatures: exact scale invariance, ground truth on spheres, mode relations."""
import numpy as np
import pytest

import latentgeom as lg
from latentgeom.estimators.scale_free import RMSRadius, bending, neighbourhood_radius, rms_radius, scale_free_mapc


def _rel(a, b):
    return abs(a - b) / max(abs(a), abs(b))


@pytest.mark.parametrize("mode", lg.MODES)
@pytest.mark.parametrize("c", [1e-3, 1e3])
def test_invariant_under_scaling(mode, c):
    P, Y = lg.synthetic.local_sphere(60, dim=2, r=1.7, D=8, K=12, rho=0.3, noise=0.01, seed=1)
    a = scale_free_mapc(P, Y, 2, mode=mode)
    b = scale_free_mapc(c * P, c * Y, 2, mode=mode)
    assert _rel(a.scale_free, b.scale_free) < 1e-9
    assert _rel(a.bending, b.bending) < 1e-9
    assert _rel(a.length * c, b.length) < 1e-12
    # The profile's route (raw MAPC times the RMS radius) is invariant too.
    raw_a, raw_b = lg.mapc(P, Y, 2, mode=mode), lg.mapc(c * P, c * Y, 2, mode=mode)
    assert _rel(raw_a.mapc * rms_radius(P), raw_b.mapc * rms_radius(c * P)) < 1e-9
    assert _rel(raw_a.mapc * rms_radius(P), a.scale_free) < 1e-9


@pytest.mark.parametrize("r", [0.5, 1.0, 4.0])
def test_ground_truth_on_spheres(r):
    # Local: kappa * rho = rho / r (robust mode recovers kappa = 1/r per point).
    P, Y = lg.synthetic.local_sphere(50, dim=2, r=r, D=6, K=20, rho=0.2, seed=0)
    res = scale_free_mapc(P, Y, 2, mode="robust")
    radii = neighbourhood_radius(P, Y)
    assert res.bending == pytest.approx(float(np.mean(radii)) / r, rel=0.02)  # O(rho^2) fit bias
    assert res.radii == pytest.approx(radii)
    # Global: a whole sphere has RMS radius r, so kappa_hat = R / r = 1 for every r.
    S = lg.synthetic.sphere(2000, dim=2, r=r, D=6, seed=0)
    assert rms_radius(S) == pytest.approx(r, rel=1e-3)  # the sample centroid is ~0
    full = scale_free_mapc(S, lg.knn_neighbourhoods(S, 12), 2, mode="robust")
    assert full.scale_free == pytest.approx(1.0, rel=0.05)


def test_paper_robust_relations():
    # Global: the same length multiplies both modes, so the ratio of modes is kept exactly.
    P, Y = lg.synthetic.local_sphere(80, dim=2, r=2.0, D=10, K=10, rho=0.3, seed=3)
    paper, robust = scale_free_mapc(P, Y, 2, mode="paper"), scale_free_mapc(P, Y, 2, mode="robust")
    raw = lg.mapc(P, Y, 2, mode="paper").mapc / lg.mapc(P, Y, 2, mode="robust").mapc
    assert _rel(paper.scale_free / robust.scale_free, raw) < 1e-9
    # Dilution on a sphere: paper ~ robust / (m - d) with m = min(D, K) = 10, d = 2.
    assert paper.scale_free == pytest.approx(robust.scale_free / 8, rel=0.05)
    assert paper.bending == pytest.approx(robust.bending / 8, rel=0.05)


def test_streaming_radius_equals_one_shot_and_bad_input():
    X = np.random.default_rng(0).normal(size=(101, 7)) + 5.0
    acc = RMSRadius()
    for start in range(0, 101, 30):
        acc.add(X[start:start + 30])
    assert acc.value == pytest.approx(rms_radius(X), rel=1e-12)
    assert rms_radius(X) == pytest.approx(np.sqrt(((X - X.mean(0)) ** 2).sum(1).mean()), rel=1e-12)
    with pytest.raises(ValueError, match="no points"):
        _ = RMSRadius().value
    with pytest.raises(ValueError, match="RMS radius is 0"):
        scale_free_mapc(np.ones((20, 4)), np.ones((20, 6, 4)), 1)
    with pytest.raises(ValueError, match="neighbours must have shape"):
        neighbourhood_radius(X, np.zeros((5, 3, 7)))
    with pytest.raises(ValueError, match="one length"):
        bending([1.0, 2.0], [1.0])


@pytest.mark.slow
def test_methods_page_runs(tmp_path, monkeypatch):
    from notebooks import execute

    monkeypatch.setenv("LATENTGEOM_RESULTS", str(tmp_path / "results"))
    nb = execute("book/methods/scale-free-curvature.md", tmp_path, n=20)
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
