"""The ground-truth manifolds of lg.synthetic have the radius, dimension and curvature they state."""
import numpy as np
import pytest

import latentgeom as lg
from latentgeom import synthetic


def _centred_rank(X, tol=1e-9):
    s = np.linalg.svd(X - X.mean(0), compute_uv=False)
    return int((s > tol * s[0]).sum())


@pytest.mark.parametrize("dim,r,D", [(1, 0.5, 5), (2, 1.0, 10), (5, 3.0, 20)])
def test_sphere_radius_span_and_seed(dim, r, D):
    X = synthetic.sphere(500, dim, r, D, seed=3)
    assert X.shape == (500, D) and X.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), r, rtol=1e-12)  # centred at the origin
    assert np.linalg.matrix_rank(X) == dim + 1  # S^dim spans R^(dim + 1) inside R^D
    np.testing.assert_array_equal(X, synthetic.sphere(500, dim, r, D, seed=3))
    assert not np.allclose(X, synthetic.sphere(500, dim, r, D, seed=4))


def test_sphere_curvature_is_one_over_r():
    X = synthetic.sphere(2000, 2, 0.5, 10, seed=0)
    res = lg.mapc(X, lg.knn_neighbourhoods(X, 20), 2, mode="robust")
    assert res.mapc == pytest.approx(2.0, rel=0.05)


def test_cylinder_radius_height_and_curvatures():
    X = synthetic.cylinder(3000, r=2.0, D=7, height=4.0, seed=1)
    # The same seed gives the same embedding: draw it again (angles, heights, then the rotation).
    rng = np.random.default_rng(1)
    rng.uniform(size=3000), rng.uniform(size=3000)
    Y = X @ synthetic.rotation(7, 3, rng)  # back to R^3: the embedding is an isometry
    np.testing.assert_allclose(np.hypot(Y[:, 0], Y[:, 1]), 2.0, rtol=1e-12)
    assert np.abs(Y[:, 2]).max() <= 2.0 and np.abs(Y[:, 2]).max() > 1.9
    res = lg.mapc(X, lg.knn_neighbourhoods(X, 20), 2, mode="robust")
    assert res.carrying_mean_abs == pytest.approx(0.25, rel=0.05)  # mean of 1/r and 0


def test_torus_radii():
    R, r = 3.0, 1.0
    X = synthetic.torus(1000, R, r, D=3, seed=0)
    dist = np.linalg.norm(X, axis=1)
    assert dist.min() >= R - r - 1e-9 and dist.max() <= R + r + 1e-9
    rng = np.random.default_rng(0)  # the same seed: the two angles, then the rotation
    rng.uniform(size=1000), rng.uniform(size=1000)
    Y = X @ synthetic.rotation(3, 3, rng)
    np.testing.assert_allclose(np.hypot(np.hypot(Y[:, 0], Y[:, 1]) - R, Y[:, 2]), r, rtol=1e-12)  # tube radius r


def test_rotation_is_orthonormal():
    Q = synthetic.rotation(10, 4, np.random.default_rng(0))
    np.testing.assert_allclose(Q.T @ Q, np.eye(4), atol=1e-12)
    with pytest.raises(ValueError, match="ambient dimension"):
        synthetic.rotation(3, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="R must be larger than r"):
        synthetic.torus(10, 1.0, 2.0)


@pytest.mark.parametrize("dim,D", [(2, 10), (5, 100)])
def test_plane_is_flat_and_has_its_dimension(dim, D):
    X = synthetic.plane(400, dim, D, seed=2)
    assert X.shape == (400, D) and _centred_rank(X) == dim
    # an isometric embedding of the unit cube: pairwise distances <= sqrt(dim)
    assert np.linalg.norm(X[:, None] - X[None], axis=2).max() <= np.sqrt(dim) + 1e-9
    if dim == 2:
        res = lg.mapc(X, lg.knn_neighbourhoods(X, 20), 2, mode="robust")
        assert res.mapc < 1e-8


def test_swiss_roll_dimension():
    X = synthetic.swiss_roll(2000, D=10, seed=0)
    assert X.shape == (2000, 10) and _centred_rank(X) == 3
    assert lg.twonn(X).id == pytest.approx(2, rel=0.05)


def test_local_sphere_neighbourhoods_lie_in_geodesic_balls():
    r, rho = 2.0, 0.1
    P, Y = synthetic.local_sphere(30, 3, r, 12, 15, rho=rho, seed=0)
    assert P.shape == (30, 12) and Y.shape == (30, 15, 12)
    np.testing.assert_allclose(np.linalg.norm(P, axis=1), r)
    np.testing.assert_allclose(np.linalg.norm(Y, axis=2), r)
    cos = np.einsum("nd,nkd->nk", P, Y) / r**2
    assert (np.arccos(np.clip(cos, -1, 1)) <= rho + 1e-9).all()  # geodesic distance <= rho * r
    assert lg.mapc(P, Y, 3, mode="robust").mapc == pytest.approx(1 / r, rel=0.05)
    P2, Y2 = synthetic.local_sphere(30, 3, r, 12, 15, rho=rho, seed=0)
    np.testing.assert_array_equal(Y, Y2)


def test_noise_is_absolute_and_seeded():
    clean = synthetic.sphere(4000, 2, 1.0, 10, seed=0)
    noisy = synthetic.sphere(4000, 2, 1.0, 10, noise=0.01, seed=0)
    assert np.std(noisy - clean) == pytest.approx(0.01, rel=0.05)


def test_smooth_images_have_a_few_large_singular_values():
    images = synthetic.smooth_images(5, 12, seed=1)
    assert images.shape == (5, 1, 12, 12) and images.dtype == np.float64 and images.min() >= 0
    s = np.linalg.svd(images[:, 0], compute_uv=False)  # [5, 12], descending
    assert (s[:, 3] < 0.2 * s[:, 0]).all()  # three rank-one patterns dominate the texture
    np.testing.assert_array_equal(images, synthetic.smooth_images(5, 12, seed=1))


@pytest.mark.parametrize("call,match", [
    (lambda: synthetic.sphere(0, 2), "n"),
    (lambda: synthetic.sphere(10, 0), "dim"),
    (lambda: synthetic.sphere(10, 2, r=-1.0), "r"),
    (lambda: synthetic.sphere(10, 2, D=2), "ambient dimension D=2"),
    (lambda: synthetic.cylinder(10, r=0.0), "r"),
    (lambda: synthetic.plane(10, 2, noise=-0.1), "noise"),
    (lambda: synthetic.local_sphere(5, 2, K=0), "K"),
    (lambda: synthetic.local_sphere(5, 2, rho=4.0), "rho"),
    (lambda: synthetic.swiss_roll(2.5), "n"),
    (lambda: synthetic.smooth_images(3, size=1), "size"),
])
def test_bad_input_raises_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
