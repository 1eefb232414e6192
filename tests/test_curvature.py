import numpy as np
import pytest
import torch

from latentgeom.estimators.curvature import CurvatureResult, mapc
from latentgeom.estimators.neighbourhoods import knn_neighbourhoods


def _frame(D, k, rng):
    return np.linalg.qr(rng.standard_normal((D, k)))[0]  # orthonormal columns: random rotation


def sphere(n, dim, r, D, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, dim + 1))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return r * z @ _frame(D, dim + 1, rng).T


def cylinder(n, r, D, seed=0):
    rng = np.random.default_rng(seed)
    t, h = rng.uniform(0, 2 * np.pi, n), rng.uniform(-2, 2, n)
    return np.stack([r * np.cos(t), r * np.sin(t), h], 1) @ _frame(D, 3, rng).T


def local_sphere(n, dim, r, D, K, noise=0.0, rho=0.1, seed=0):
    """n points of S^dim(r) rotated into R^D, each with K neighbours in a geodesic ball of radius rho*r."""
    rng = np.random.default_rng(seed)
    Q = _frame(D, dim + 1, rng)
    x = rng.standard_normal((n, dim + 1))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    v = rng.standard_normal((n, K, dim + 1))
    v -= (v * x[:, None]).sum(-1, keepdims=True) * x[:, None]
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    ang = rho * rng.random((n, K, 1)) ** (1 / dim)
    P, Y = r * x @ Q.T, r * (np.cos(ang) * x[:, None] + np.sin(ang) * v) @ Q.T
    if noise:
        P, Y = P + noise * r * rng.standard_normal(P.shape), Y + noise * r * rng.standard_normal(Y.shape)
    return P, Y


# ---- paper mode: the spec's reference values (D = 10, n = 2000, d = 2, K = 10 data neighbours)

@pytest.mark.parametrize("X, expected", [(sphere(2000, 2, 1.0, 10), 0.126), (sphere(2000, 2, 0.5, 10), 0.251),
                                         (cylinder(2000, 1.0, 10), 0.0633)])
def test_paper_reference_values(X, expected):
    res = mapc(X, knn_neighbourhoods(X, 10), 2)
    assert res.mode == "paper" and (res.d, res.K, res.D, res.m) == (2, 10, 10, 10)
    assert res.kappa.shape == (2000, 8, 2) and res.kappa.dtype == np.float64
    assert abs(res.mapc - expected) / expected < 0.02
    assert res.mapc == pytest.approx(np.abs(res.kappa).mean())


def test_paper_plane():
    rng = np.random.default_rng(0)
    X = rng.random((2000, 2)) @ _frame(10, 2, rng).T
    assert mapc(X, knn_neighbourhoods(X, 10), 2).mapc < 1e-10


# ---- robust mode: ground truth

@pytest.mark.parametrize("dim, D", [(2, 3), (2, 512), (3, 40), (5, 128), (10, 11), (10, 512)])
@pytest.mark.parametrize("noise", [0.0, 1e-5])
@pytest.mark.parametrize("r", [0.5, 3.0])
def test_robust_sphere(dim, D, noise, r):
    K = 2 * (1 + dim + dim * (dim + 1) // 2)
    P, Y = local_sphere(20, dim, r, D, K, noise=noise, seed=dim + D)
    res = mapc(P, Y, dim, mode="robust")
    assert abs(res.mapc * r - 1) < 0.05
    assert np.all(np.abs(np.abs(res.kappa[:, 0]) * r - 1) < 0.05)  # every curvature of direction 1
    assert abs(res.carrying_mean_abs * r - 1) < 0.05


def test_robust_sphere_data_knn():
    X = sphere(2000, 2, 1.0, 10)
    res = mapc(X, knn_neighbourhoods(X, 20), 2, mode="robust")
    assert abs(res.mapc - 1) < 0.05


def test_robust_cylinder_and_plane():
    X = cylinder(2000, 1.0, 10)
    res = mapc(X, knn_neighbourhoods(X, 20), 2, mode="robust")
    top = np.sort(np.abs(res.kappa[:, 0]), axis=1)
    assert np.median(top[:, 0]) < 0.05 and abs(np.median(top[:, 1]) - 1) < 0.05
    assert abs(res.carrying_mean_abs - 0.5) < 0.05
    rng = np.random.default_rng(0)
    X = rng.random((500, 2)) @ _frame(10, 2, rng).T
    assert mapc(X, knn_neighbourhoods(X, 20), 2, mode="robust").mapc < 1e-8


def test_robust_beats_paper_dilution():
    X = sphere(2000, 2, 1.0, 10)
    nb = knn_neighbourhoods(X, 20)
    assert mapc(X, nb, 2).max_abs > 0.9  # per-point largest |kappa| recovers 1/r in paper mode too
    assert mapc(X, nb, 2).mapc < 0.2


# ---- API behaviour

def test_concatenate_equals_one_shot_and_chunking():
    X = sphere(300, 2, 1.0, 6)
    nb = knn_neighbourhoods(X, 12)
    for mode in ("paper", "robust"):
        whole = mapc(X, nb, 2, mode=mode)
        parts = CurvatureResult.concatenate([mapc(X[i:i + 100], nb[i:i + 100], 2, mode=mode) for i in range(0, 300, 100)])
        chunked = mapc(X, nb, 2, mode=mode, chunk_size=7)
        for other in (parts, chunked):
            np.testing.assert_allclose(other.kappa, whole.kappa, rtol=1e-9, atol=1e-12)
            assert other.mapc == pytest.approx(whole.mapc) and other.max_abs == pytest.approx(whole.max_abs)
            assert other.carrying_mean_abs == pytest.approx(whole.carrying_mean_abs)
    with pytest.raises(ValueError):
        CurvatureResult.concatenate([whole, mapc(X, nb, 2, mode="paper")])


def test_numpy_and_torch_inputs_agree():
    X = sphere(200, 2, 1.0, 6)
    nb = knn_neighbourhoods(X, 12)
    for mode in ("paper", "robust"):
        a = mapc(X, nb.numpy(), 2, mode=mode)
        b = mapc(torch.from_numpy(X), nb, 2, mode=mode)
        np.testing.assert_array_equal(a.kappa, b.kappa)


def test_validation_errors():
    X = sphere(50, 2, 1.0, 6)
    nb = knn_neighbourhoods(X, 8).numpy()
    with pytest.raises(ValueError, match="K > d"):
        mapc(X, nb[:, :2], 2)
    with pytest.raises(ValueError, match="K >= 1 \\+ d"):
        mapc(X, nb[:, :5], 2, mode="robust")
    with pytest.raises(ValueError, match="ambient dimension"):
        mapc(X, nb, 6)
    with pytest.raises(ValueError, match=">= 1"):
        mapc(X, nb, 0)
    with pytest.raises(ValueError, match="shape"):
        mapc(X[:40], nb, 2)
    with pytest.raises(ValueError, match="shape"):
        mapc(X[:, :5], nb, 2)
    bad = nb.copy()
    bad[0, 0, 0], bad[1, 1, 1] = np.nan, np.inf
    with pytest.raises(ValueError, match="2 non-finite value.*1 NaN, 1 inf"):
        mapc(X, bad, 2)
    with pytest.raises(ValueError, match="mode"):
        mapc(X, nb, 2, mode="fancy")
    with pytest.raises(ValueError, match="unknown option"):
        mapc(X, nb, 2, n_normal=3)
