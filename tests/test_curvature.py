import numpy as np
import pytest
import torch

from latentgeom import synthetic
from latentgeom.estimators.curvature import CurvatureResult, mapc
from latentgeom.estimators.neighbourhoods import knn_neighbourhoods

from curvatures import assert_same_curvatures, paper_reference


def _frame(D, k, rng):
    return synthetic.rotation(D, k, rng)


def sphere(n, dim, r, D, seed=0):
    return synthetic.sphere(n, dim, r, D, seed=seed)


def cylinder(n, r, D, seed=0):
    return synthetic.cylinder(n, r, D, seed=seed)


def local_sphere(n, dim, r, D, K, noise=0.0, rho=0.1, seed=0):
    """Controlled neighbourhoods of S^dim(r); ``noise`` is relative to r."""
    return synthetic.local_sphere(n, dim, r, D, K, rho=rho, noise=noise * r, seed=seed)


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
        parts = CurvatureResult.concatenate([mapc(X[i:i + 100], nb[i:i + 100], 2, mode=mode)
                                             for i in range(0, 300, 100)])
        chunked = mapc(X, nb, 2, mode=mode, chunk_size=7)
        for other in (parts, chunked):
            np.testing.assert_allclose(other.kappa, whole.kappa, rtol=1e-9, atol=1e-12)
            assert other.mapc == pytest.approx(whole.mapc) and other.max_abs == pytest.approx(whole.max_abs)
            assert other.carrying_mean_abs == pytest.approx(whole.carrying_mean_abs)
    with pytest.raises(ValueError):
        CurvatureResult.concatenate([whole, mapc(X, nb, 2, mode="paper")])


def test_worker_threads_equal_one_thread(monkeypatch):
    # `make test` runs its workers on one torch thread each, so the chunks-in-threads path of
    # mapc (taken on 2 or more threads) is exercised here explicitly.
    from latentgeom.estimators import curvature as engine
    from latentgeom.estimators.threads import single_thread, worker_pool

    pools = []
    monkeypatch.setattr(engine, "worker_pool", lambda n: pools.append(n) or worker_pool(n))
    X = sphere(200, 2, 1.0, 6)
    nb = knn_neighbourhoods(X, 12)
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for mode in ("paper", "robust"):
            threaded = mapc(X, nb, 2, mode=mode, chunk_size=13)
            with single_thread():
                one = mapc(X, nb, 2, mode=mode, chunk_size=13)
            np.testing.assert_allclose(threaded.kappa, one.kappa, rtol=1e-9, atol=1e-12)
    finally:
        torch.set_num_threads(old)
    assert pools == [2, 2]  # the threaded runs used two workers, the single-thread ones none


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
    bad = nb.copy()  # caught in the chunks that hold them, counted over the whole input
    bad[3, 0, 0], bad[47, 2, 1] = np.nan, np.nan
    with pytest.raises(ValueError, match="neighbours contains 2 non-finite value.*2 NaN, 0 inf"):
        mapc(X, bad.astype(np.float32), 2, chunk_size=5)
    with pytest.raises(ValueError, match="points contains 6 non-finite"):
        mapc(np.where(np.arange(50)[:, None] == 49, np.inf, X), nb, 2, mode="robust")
    with pytest.raises(ValueError, match="mode"):
        mapc(X, nb, 2, mode="fancy")
    with pytest.raises(ValueError, match="unknown option"):
        mapc(X, nb, 2, n_normal=3)

    with pytest.raises(ValueError, match="rcond"):
        mapc(X, nb, 2, rcond=1.0)
    with pytest.raises(ValueError, match="scales"):
        mapc(X, nb, 2, mode="robust", scales=0)
    with pytest.raises(ValueError, match="noise_rtol"):
        mapc(X, nb, 2, mode="robust", noise_rtol=0)


# ---- paper mode: the engine equals numpy's per-point pseudo-inverse, for every route

@pytest.mark.parametrize("rcond", [1e-15, 1e-10, 1e-6])
@pytest.mark.parametrize("dim, D, K", [(2, 10, 20),   # K x K frame, P x P fit (P = 5 < K)
                                       (3, 10, 8),    # K x K frame, K x K fit (P = 9 > K)
                                       (2, 6, 30),    # D x D frame (D < K)
                                       (3, 40, 30)])  # high codimension
def test_paper_equals_numpy_pinv_reference(rcond, dim, D, K):
    P, Y = local_sphere(30, dim, 1.0, D, K, rho=0.3, noise=0.01, seed=dim + D + K)
    assert_same_curvatures(mapc(P, Y, dim, rcond=rcond).kappa, paper_reference(P, Y, dim, rcond))


@pytest.mark.parametrize("rcond", [1e-10, 1e-6, 1e-2])
def test_paper_rank_deficient_design_equals_numpy(rcond):
    """Neighbours on cube vertices (u_k^2 = u_k, as with binary masks): the design is rank
    deficient, the Gram route cannot decide, and the SVD fallback must give numpy's answer."""
    rng = np.random.default_rng(0)
    bits = np.array([[i >> k & 1 for k in range(3)] for i in range(8)], float)  # [8, 3]
    n, D = 12, 9
    Q = synthetic.rotation(D, D, rng)
    local = np.concatenate([bits, 0.3 * bits[:, [0]] * bits[:, [1]], 0.2 * bits[:, [2]] ** 2,
                            np.zeros((8, D - 5))], 1)
    points = rng.standard_normal((n, D))
    neighbours = points[:, None] + (rng.uniform(0.5, 2, (n, 1, 1)) * local) @ Q.T
    assert_same_curvatures(mapc(points, neighbours, 3, rcond=rcond).kappa,
                           paper_reference(points, neighbours, 3, rcond))


def _routes_taken(monkeypatch, force_cholesky_failure: bool = False):
    """Record which solve routes the paper fit takes (the engine's internal dispatch); with
    ``force_cholesky_failure``, every Cholesky factorisation reports a breakdown."""
    from latentgeom.estimators import pseudo_inverse
    taken, original = set(), pseudo_inverse.solve_per_route

    def recording(gram, rcond, solve):
        def recorded(route, idx, factor):
            taken.add(route)
            if route == "cholesky" and force_cholesky_failure:
                L_inv, failed = factor
                factor = (L_inv * np.nan, torch.ones_like(failed))
            return solve(route, idx, factor)
        return original(gram, rcond, recorded)
    monkeypatch.setattr(pseudo_inverse, "solve_per_route", recording)
    return taken


def _equal_to_numpy(points, neighbours, d, rcond):
    assert_same_curvatures(mapc(points, neighbours, d, rcond=rcond).kappa,
                           paper_reference(points, neighbours, d, rcond))


def _with_self_and_copies(points, neighbours):
    """The pipeline's neighbourhoods: the point itself first, and exact copies of neighbours
    (binary masks of zero singular values give both)."""
    neighbours = neighbours.copy()
    neighbours[:, 0] = points
    neighbours[:, 1] = points
    neighbours[:, 5] = neighbours[:, 3]
    return points, neighbours


@pytest.mark.parametrize("case", ["tall", "wide, the point itself and copies",
                                  "wide, D <= K, the point itself and copies"])
def test_paper_fast_routes_equal_numpy(case, monkeypatch):
    """End to end on well-posed designs: the Cholesky route is taken and gives numpy's answer,
    also with neighbours that add no constraint (taken out of the wide fit exactly), and with
    the frame from either Gram matrix (D x D: the fit in ambient coordinates, turned to the
    normal basis afterwards)."""
    if case == "tall":  # P = 5 <= K = 20, frame from the D x D side (D = 10)
        P, Y = local_sphere(20, 2, 1.0, 10, 20, rho=0.3, seed=1)
    elif case.startswith("wide, D <= K"):  # P = 9 > K = 8, frame from the D x D side (D = 6)
        P, Y = _with_self_and_copies(*local_sphere(20, 3, 1.0, 6, 8, rho=0.3, seed=4))
    else:  # P = 9 > K = 8, frame from the K x K side (D = 10)
        P, Y = _with_self_and_copies(*local_sphere(20, 3, 1.0, 10, 8, rho=0.3, seed=2))
    taken = _routes_taken(monkeypatch)
    _equal_to_numpy(P, Y, 2 if case == "tall" else 3, rcond=1e-10)
    assert "cholesky" in taken, f"{case}: routes taken {sorted(taken)}"


def _design(n, K, d, spread, seed, tilt=None):
    """Tangent coordinates [n, K, d] with per-axis spreads (badly scaled when they differ),
    normal coordinates [n, K, 4], and the explicit paper design [n, K, P]. With ``tilt``, the
    second axis is the first plus ``tilt`` times its own: ill conditioned at any scaling."""
    from latentgeom.estimators.quadratic_design import quadratic_columns
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(n, K, d, generator=g, dtype=torch.float64) * torch.tensor(spread, dtype=torch.float64)
    if tilt is not None:
        u[..., 1] = u[..., 0] + tilt * u[..., 1]
    f = torch.randn(n, K, 4, generator=g, dtype=torch.float64)
    quad = quadratic_columns(u)
    return u, quad, f, torch.cat([u, quad], -1)


@pytest.mark.parametrize("rcond", [1e-15, 1e-10, 1e-6, 1e-2])
@pytest.mark.parametrize("K", [30, 7])  # P = 9: tall (P x P side) and wide (K x K side)
def test_paper_fit_routes_equal_numpy_pinv(rcond, K, monkeypatch):
    """Every route of the fit against ``numpy.linalg.pinv(Phi, rcond)`` per point, on designs
    from well conditioned to badly scaled (cond ~1e14, ~1e2 with unit-norm columns) and ill
    conditioned at any scaling (nearly collinear axes, where Cholesky would lose digits: QR or
    the SVD must serve them), with the point itself and a copy among the wide designs' rows."""
    from latentgeom.estimators import pseudo_inverse as pinv
    taken = _routes_taken(monkeypatch)
    for spread, tilt in (([1.0, 1.0, 1.0], None), ([1.0, 0.3, 0.1], None), ([1.0, 1e-2, 3e-3], None),
                         ([1.0, 1.0, 1e-7], None), ([1e-5, 1e-5, 1e-5], None), ([1.0, 1.0, 1.0], 1e-3)):
        u, quad, f, phi = _design(12, K, 3, spread, seed=K, tilt=tilt)
        if K < 9:
            u[:, 0], quad[:, 0], phi[:, 0] = 0, 0, 0  # the point itself
            u[:, 4], quad[:, 4], phi[:, 4], f[:, 4] = u[:, 2], quad[:, 2], phi[:, 2], f[:, 2]  # a copy
            copies = torch.ones(12, K, dtype=torch.float64)
            copies[:, [0, 4]], copies[:, 2] = 0, 2
            ours = pinv.fit_wide(u, quad, f, copies, rcond)
        else:
            ours = pinv.fit_tall(phi, f, rcond, first=3)
        ref = np.stack([np.linalg.pinv(p, rcond=rcond) @ b for p, b in zip(phi.numpy(), f.numpy())])[:, 3:]
        np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max(),
                                   err_msg=f"spread {spread}, tilt {tilt}, routes {sorted(taken)}")
    if rcond <= 1e-10:
        assert {"cholesky", "qr"} <= taken, f"routes taken {sorted(taken)}"


def test_chunk_finiteness_check_counts_exactly():
    """The per-chunk check is one sum; a sum that overflows on huge finite values is
    recounted exactly instead of being taken for bad input."""
    from latentgeom.validation import tensor_is_finite
    assert tensor_is_finite(torch.tensor([1e308, 1e308, -1.0], dtype=torch.float64))
    assert not tensor_is_finite(torch.tensor([1.0, float("nan")]))
    assert not tensor_is_finite(torch.tensor([float("inf"), -float("inf")]))


def test_certified_routes_are_never_wrong():
    """The cheap certificates of the Cholesky and QR routes (a triangular inverse instead of
    the Gram eigenvalues) only ever send a point where the eigenvalues allow (QR: every
    singular value kept; Cholesky: also the Gram matrix with a unit diagonal well
    conditioned), and they do decide the well-conditioned ones, badly scaled ones included."""
    from latentgeom.estimators import pseudo_inverse as pinv
    for rcond in (1e-15, 1e-6, 1e-4, 1e-2):
        for spread in ([1.0, 1.0, 1.0], [1.0, 0.3, 0.1], [1.0, 1e-2, 3e-3], [1.0, 1.0, 1e-4], [1.0, 1.0, 1e-7]):
            _, _, _, phi = _design(50, 30, 3, spread, seed=1)
            gram = phi.mT @ phi
            cholesky, qr, _, _ = pinv.certified_routes(gram, rcond)
            routes = pinv.fit_routes(torch.linalg.eigvalsh(gram), rcond)
            all_kept = torch.zeros(50, dtype=torch.bool)
            for route in ("cholesky", "qr"):
                if route in routes:
                    all_kept[routes[route]] = True
            scaled = torch.linalg.eigvalsh(pinv.unit_diagonal(gram)[0])
            conditioned = scaled[:, 0] >= pinv.GRAM_MIN_KEPT * scaled[:, -1]
            where = f"rcond {rcond}, spread {spread}"
            assert not bool((cholesky & ~(all_kept & conditioned)).any()), where
            assert not bool((qr & ~all_kept).any()), where
            # every singular value clearly kept (cond up to ~7e5 here, ~7 with unit-norm columns)
            if rcond <= 1e-6 and spread[-1] >= 3e-3:
                assert bool(cholesky.all()), where


def test_paper_chunks_and_float32_input():
    P, Y = local_sphere(40, 2, 1.0, 12, 16, rho=0.3, noise=0.01)
    whole = mapc(P, Y, 2).kappa
    np.testing.assert_allclose(mapc(P, Y, 2, chunk_size=3).kappa, whole, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mapc(P.astype(np.float32), Y.astype(np.float32), 2).mapc,
                               mapc(P.astype(np.float32).astype(float), Y.astype(np.float32).astype(float), 2).mapc)


# ---- robust mode: noise and small neighbourhoods

def _noisy_sphere_median(n, K, sigma):
    X = synthetic.sphere(n, 2, 1.0, 50, noise=sigma, seed=0)
    return float(np.median(mapc(X, knn_neighbourhoods(X, K), 2, mode="robust").per_point))


def test_robust_noise_in_every_coordinate():
    """S^2 of radius 1 in R^50, isotropic noise in all 50 coordinates: per-point largest |kappa|
    within 10 % of 1 (median) at sigma = 0.01 and within 25 % at sigma = 0.03 (fewer points
    than the slow test below, so each point sees a larger neighbourhood)."""
    assert abs(_noisy_sphere_median(800, 100, 0.01) - 1) < 0.10
    assert abs(_noisy_sphere_median(800, 100, 0.03) - 1) < 0.25


@pytest.mark.slow
@pytest.mark.parametrize("sigma, tolerance", [(0.01, 0.10), (0.03, 0.25)])
def test_robust_noise_targets_at_n3000(sigma, tolerance):
    assert abs(_noisy_sphere_median(3000, 150, sigma) - 1) < tolerance


@pytest.mark.parametrize("rho, tolerance", [(0.3, 0.003), (0.6, 0.015)])
def test_robust_small_neighbourhood_bias_removed(rho, tolerance):
    """A plain quadratic fit overestimates by ~0.2 (rho kappa)^2 (2 % at rho = 0.3, 7 % at 0.6)."""
    P, Y = local_sphere(30, 2, 1.0, 10, 40, rho=rho, seed=1)
    assert abs(np.median(mapc(P, Y, 2, mode="robust").per_point) - 1) < tolerance
    X = synthetic.cylinder(1500, 1.0, 10, seed=1)
    top = np.abs(mapc(X, knn_neighbourhoods(X, 60), 2, mode="robust", scales=1).kappa[:, 0]).max(1)
    assert abs(np.median(top) - 1) < 0.01


def test_robust_neighbour_order_does_not_matter():
    """Perturbation neighbourhoods come unsorted: nested sizes are taken nearest first."""
    X = synthetic.sphere(300, 2, 1.0, 8, noise=0.01, seed=2)
    nb = knn_neighbourhoods(X, 40)
    shuffled = nb[:, torch.randperm(40, generator=torch.Generator().manual_seed(0))]
    np.testing.assert_allclose(mapc(X, shuffled, 2, mode="robust").kappa, mapc(X, nb, 2, mode="robust").kappa,
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_distinct_rows_counts_copies_and_drops_the_point_itself(dtype):
    from latentgeom.estimators.quadratic_design import distinct_rows
    g = torch.Generator().manual_seed(0)  # the Gram matrix proposes candidates, exact comparison decides
    x = torch.randn(2, 5, dtype=dtype, generator=g)
    y = torch.randn(2, 6, 5, dtype=dtype, generator=g)
    y[0, 0] = x[0]  # the point itself
    y[0, 3] = y[0, 1]
    y[0, 5] = y[0, 1]  # three copies of row 1
    y[1, 4] = x[1]
    y[1, 2] = y[1, 2] + 1e-6 * y[1, 2]  # no copy of anything
    delta = y.double() - x.double()[:, None]
    copies = distinct_rows(y, x.to(torch.float64), delta @ delta.mT)
    assert copies.dtype == torch.float64  # the fit's precision, whatever the neighbours'
    np.testing.assert_array_equal(copies.numpy(), [[0, 3, 1, 0, 1, 0], [1, 1, 1, 1, 0, 1]])


def test_distinct_rows_finds_copies_behind_a_near_copy_and_in_float32_gram_matrices():
    """A near-copy listed before an exact copy hides nothing (each candidate pair is compared
    exactly), and the candidates of a float32 Gram matrix, whose rounding (~1e-7 of the norms,
    more over many columns) is above float64's tolerance, still include the exact copies."""
    from latentgeom.estimators.quadratic_design import difference_gram, distinct_rows
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 7, dtype=torch.float64, generator=g)
    y = torch.randn(1, 6, 7, dtype=torch.float64, generator=g)
    y[0, 1] = y[0, 2] * (1 + 1e-6)  # a near-copy of row 2, listed first
    y[0, 4] = y[0, 2]
    np.testing.assert_array_equal(distinct_rows(y, x, difference_gram(y, x)).numpy(), [[1, 1, 2, 1, 0, 1]])
    x32 = torch.randn(4, 3000, generator=g) * 10
    y32 = x32[:, None] + torch.randn(4, 9, 3000, generator=g)
    y32[:, 5] = y32[:, 6] = y32[:, 3]
    y32[:, 0] = x32
    copies = distinct_rows(y32, x32.double(), difference_gram(y32, x32, torch.float32))
    np.testing.assert_array_equal(copies.numpy(), [[0, 1, 1, 3, 1, 0, 0, 1, 1]] * 4)


def test_float32_neighbours_with_d_above_k_reach_the_engines_as_float32(monkeypatch):
    """The block-by-block route is taken: the engines' Gram matrices receive the float32
    neighbours themselves (float64 ones, or D <= K, are converted as before)."""
    from latentgeom.estimators import paper_mode, quadratic_design, robust_mode
    seen = []

    def spy(neighbours, points, dtype=torch.float64, block=None):
        seen.append(neighbours.dtype)
        return quadratic_design.difference_gram(neighbours, points, dtype, block)
    monkeypatch.setattr(paper_mode, "difference_gram", spy)
    monkeypatch.setattr(robust_mode, "difference_gram", spy)
    P, Y = local_sphere(8, 3, 2.0, 300, 40, noise=1e-4, seed=5)
    P32, Y32 = torch.as_tensor(P).float(), torch.as_tensor(Y).float()
    for mode in ("paper", "robust"):
        mapc(P32, Y32, 3, mode=mode, device="cpu")
        assert seen and set(seen) == {torch.float32}, mode
        seen.clear()
        mapc(P32.double(), Y32.double(), 3, mode=mode, device="cpu")
        assert set(seen) == {torch.float64}, mode
        seen.clear()


def test_difference_gram_equals_the_gram_of_the_float64_displacements():
    """Block by block from float32 neighbours: the float64 Gram of y - x, whatever the block."""
    from latentgeom.estimators.quadratic_design import difference_gram
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(3, 700, generator=g), torch.randn(3, 9, 700, generator=g)
    delta = y.double() - x.double()[:, None]
    want = delta @ delta.mT
    for block in (None, 1, 256, 700, 5000):
        np.testing.assert_allclose(difference_gram(y, x, block=block).numpy(), want.numpy(), rtol=1e-13, atol=0)
    assert difference_gram(y, x, torch.float32).dtype == torch.float32


@pytest.mark.parametrize("mode, d", [("paper", 4), ("paper", 8), ("robust", 4)])
def test_float32_neighbours_read_in_blocks_give_the_float64_curvatures(mode, d):
    """mapc keeps float32 neighbours with D > K float32 on the CPU and reads them block by block:
    the same curvatures as their float64 copy (within float64 round-off), also on the paper
    mode's K x K route (d = 8: more unknowns than neighbours) where the point itself and
    duplicate neighbours are found by exact comparison of the float32 rows."""
    P, Y = local_sphere(12, d, 2.0, 300, 40, noise=1e-4, seed=3)
    P32, Y32 = torch.as_tensor(P).float(), torch.as_tensor(Y).float()
    Y32[:, 0], Y32[:, 5] = P32, Y32[:, 1]  # the point itself, a copy of neighbour 1
    low, high = mapc(P32, Y32, d, mode=mode), mapc(P32.double(), Y32.double(), d, mode=mode)
    # a normal axis's orientation (so the sign of its curvatures) is arbitrary: compare magnitudes
    np.testing.assert_allclose(np.abs(low.kappa), np.abs(high.kappa), rtol=1e-9, atol=1e-10 * np.abs(high.kappa).max())


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-7), (torch.float32, 2e-3)])
def test_robust_unchanged_by_an_isometric_embedding_in_more_dimensions_than_neighbours(dtype, rtol):
    """With D > K the robust fit runs in K coordinates of each neighbourhood's span (float64: from
    the Gram matrix, float32: Householder QR): the same neighbourhoods embedded isometrically in
    R^10 (D < K) and in R^400 (D > K) give the same curvatures."""
    P, Y = local_sphere(40, 2, 1.0, 10, 30, rho=0.3, noise=0.002, seed=3)
    Q = synthetic.rotation(400, 10, np.random.default_rng(0))  # orthonormal columns, 400 x 10
    low = mapc(P, Y, 2, mode="robust", dtype=dtype)
    high = mapc(P @ Q.T, Y @ Q.T, 2, mode="robust", dtype=dtype)
    a, b = np.sort(np.abs(low.kappa), 2), np.sort(np.abs(high.kappa), 2)  # eigenvalue signs are arbitrary
    np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * a.max())


@pytest.mark.parametrize("K", [30, 7])  # tall and wide fits
def test_paper_failed_cholesky_falls_back_to_qr(K, monkeypatch):
    """A Cholesky factorisation that fails despite the eigenvalues (round-off) is solved by QR,
    with numpy's answer: forced here by reporting every factorisation as failed."""
    from latentgeom.estimators import pseudo_inverse as pinv
    taken = _routes_taken(monkeypatch, force_cholesky_failure=True)
    u, quad, f, phi = _design(12, K, 3, [1.0, 0.3, 0.1], seed=K)
    if K < 9:
        ours = pinv.fit_wide(u, quad, f, torch.ones(12, K, dtype=torch.float64), 1e-10)
    else:
        ours = pinv.fit_tall(phi, f, 1e-10, first=3)
    ref = np.stack([np.linalg.pinv(p, rcond=1e-10) @ b for p, b in zip(phi.numpy(), f.numpy())])[:, 3:]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())
    assert "cholesky" in taken, f"routes taken {sorted(taken)}"
