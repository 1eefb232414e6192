"""latentgeom.estimators.prediction_space against ground truth (Mao et al., PNAS 2024, arXiv 2305.01604).

Known values (d_B(P0, P*) = 1/2 ln C), invariances (d_B(P, P) = 0, symmetry, chunking), InPCA
equal to classical MDS/PCA on Euclidean configurations, explained stress 1 at the true
dimension, Nystrom projection equal to the direct embedding, and one clear ValueError for bad
input.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from latentgeom.estimators import prediction_space as ps


def _random_predictions(m, n, c, seed=0, sharp=2.0):
    rng = np.random.default_rng(seed)
    logits = sharp * rng.normal(size=(m, n, c))
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_ignorance_to_truth_is_half_log_classes():
    labels = np.arange(40) % 10
    p0, p_star = ps.ignorance(40, 10), ps.truth(labels, 10)
    d = ps.bhattacharyya(p0, p_star)
    assert d.shape == (1, 1)
    assert d[0, 0] == pytest.approx(0.5 * math.log(10), abs=1e-12)
    assert ps.bhattacharyya(ps.ignorance(7, 3), ps.truth([0, 1, 2, 0, 1, 2, 0], 3))[0, 0] == \
        pytest.approx(0.5 * math.log(3), abs=1e-12)


def test_self_distance_zero_symmetric_and_chunk_invariant():
    p = _random_predictions(7, 53, 10)
    d = ps.bhattacharyya(p)
    assert d.shape == (7, 7) and d.dtype == np.float64
    np.testing.assert_allclose(np.diag(d), 0.0, atol=1e-12)
    np.testing.assert_allclose(d, d.T, atol=1e-14)
    assert (d[~np.eye(7, dtype=bool)] > 0).all()
    np.testing.assert_allclose(ps.bhattacharyya(p, chunk=5), d, atol=1e-13)
    np.testing.assert_allclose(ps.bhattacharyya(p[:3], p[3:]), d[:3, 3:], atol=1e-13)
    # per-example reference
    ref = -np.mean(np.log(np.sqrt(p[1] * p[4]).sum(-1)))
    assert d[1, 4] == pytest.approx(ref, abs=1e-13)


def test_geodesic_ends_and_progress():
    labels = np.arange(30) % 10
    p0, p_star = ps.ignorance(30, 10), ps.truth(labels, 10)
    path = ps.geodesic(p0, p_star, [0.0, 0.25, 1.0])
    np.testing.assert_allclose(path[0], p0, atol=1e-12)
    np.testing.assert_allclose(path[2], p_star, atol=1e-12)
    # distances along a geodesic: d_B = -log cos(t theta) with cos(theta) = 1 / sqrt(10)
    theta = math.acos(1 / math.sqrt(10))
    assert ps.bhattacharyya(p0, path[1])[0, 0] == pytest.approx(-math.log(math.cos(0.25 * theta)), abs=1e-12)
    np.testing.assert_allclose(ps.progress(ps.geodesic(p0, p_star, [0.1, 0.5, 0.9]), p0, p_star), [0.1, 0.5, 0.9],
                               atol=1e-9)


def test_inpca_of_squared_euclidean_distances_is_classical_mds():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3)) * np.array([5.0, 2.0, 0.5])
    sq = ((x[:, None] - x[None]) ** 2).sum(-1)
    emb = ps.inpca(sq)
    centred = x - x.mean(0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    pca = centred @ vt.T
    assert emb.coordinates.shape == (40, 3)
    np.testing.assert_allclose(emb.eigenvalues, s ** 2, rtol=1e-9)
    for k in range(3):
        sign = np.sign(emb.coordinates[:, k] @ pca[:, k])
        np.testing.assert_allclose(emb.coordinates[:, k], sign * pca[:, k], atol=1e-9)
    assert not emb.timelike.any()


@pytest.mark.parametrize("k", [1, 2, 3])
def test_explained_stress_is_one_at_the_true_dimension(k):
    rng = np.random.default_rng(k)
    x = rng.normal(size=(30, k))
    emb = ps.inpca(((x[:, None] - x[None]) ** 2).sum(-1))
    assert emb.stress[k - 1] == pytest.approx(1.0, abs=1e-9)
    if k > 1:
        assert emb.stress[k - 2] < 1 - 1e-3


def test_negative_eigenvalues_are_kept_as_timelike_axes():
    # Minkowski-like configuration: squared "distances" x^2 - t^2 give a negative eigenvalue
    rng = np.random.default_rng(2)
    x, t = rng.normal(size=25) * 3, rng.normal(size=25)
    d = (x[:, None] - x[None]) ** 2 - (t[:, None] - t[None]) ** 2
    emb = ps.inpca(d)
    assert emb.timelike.sum() == 1 and (~emb.timelike).sum() == 1
    assert np.all(np.diff(np.abs(emb.eigenvalues)) <= 1e-12)
    c, s = emb.coordinates, np.sign(emb.eigenvalues)
    rebuilt = ((c[:, None] - c[None]) ** 2 * s).sum(-1)
    np.testing.assert_allclose(rebuilt, d, atol=1e-8)


def test_projection_lands_where_the_direct_embedding_puts_points():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 2)) * np.array([3.0, 1.0])
    new = rng.normal(size=(5, 2))
    sq = lambda a, b: ((a[:, None] - b[None]) ** 2).sum(-1)  # noqa: E731
    emb = ps.inpca(sq(x, x))
    # embedded points project onto themselves exactly
    np.testing.assert_allclose(emb.project(sq(x, x)), emb.coordinates, atol=1e-9)
    # new points land at their PCA coordinates in the embedding's (sign-matched) axes
    centred = x - x.mean(0)
    axes = np.linalg.lstsq(centred, emb.coordinates, rcond=None)[0]
    np.testing.assert_allclose(emb.project(sq(new, x)), (new - x.mean(0)) @ axes, atol=1e-9)
    # prediction space: a model's own distance row places it at its coordinates
    p = _random_predictions(12, 40, 10, seed=4)
    e = ps.inpca(ps.bhattacharyya(p))
    np.testing.assert_allclose(e.project(ps.bhattacharyya(p[5], p)), e.coordinates[5:6], atol=1e-9)


def test_trajectory_distance_is_zero_for_the_same_path_and_positive_otherwise():
    labels = np.arange(50) % 10
    p0, p_star = ps.ignorance(50, 10), ps.truth(labels, 10)
    t_a, t_b = np.array([0.0, 0.1, 0.3, 0.6, 0.9]), np.array([0.0, 0.2, 0.5, 0.7, 0.8, 0.95])
    a, b = ps.geodesic(p0, p_star, t_a), ps.geodesic(p0, p_star, t_b)
    # the same geodesic sampled at different checkpoints: re-indexing on progress matches them
    assert ps.trajectory_distance(a, b, ps.progress(a, p0, p_star), ps.progress(b, p0, p_star)) < 1e-3
    other = _random_predictions(5, 50, 10, seed=5, sharp=0.5)
    assert ps.trajectory_distance(a, other, t_a, t_a) > 0.01
    np.testing.assert_allclose(ps.reindex(a, t_a, t_a), a, atol=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda: ps.bhattacharyya(np.full((3, 4), 0.3)), "sum to 1"),
    (lambda: ps.bhattacharyya(np.array([[0.5, np.nan], [0.5, 0.5]])), "non-finite"),
    (lambda: ps.bhattacharyya(np.array([[1.5, -0.5]])), ">= 0"),
    (lambda: ps.bhattacharyya(ps.ignorance(5, 10), ps.ignorance(6, 10)), "same probe set"),
    (lambda: ps.bhattacharyya(ps.ignorance(5, 10), ps.ignorance(5, 3)), "same probe set"),
    (lambda: ps.truth([0, 10], 10), "labels"),
    (lambda: ps.inpca(np.ones((3, 4))), "square"),
    (lambda: ps.inpca(np.array([[0.0, 1.0], [2.0, 0.0]])), "symmetric"),
    (lambda: ps.inpca(np.zeros((3, 3))), "coincide"),
    (lambda: ps.inpca(np.ones((3, 3)) - np.eye(3)).project(np.ones((1, 4))), "one column per embedded point"),
    (lambda: ps.reindex(ps.ignorance(5, 10)[None], [0.0, 1.0], [0.5]), "one per checkpoint"),
])
def test_bad_input_raises_one_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
