import numpy as np
import pytest
import torch

from latentgeom.estimators.intrinsic_dimension import pca_id, twonn, twonn_block_analysis
from latentgeom.synthetic import plane, sphere, swiss_roll

skdim = pytest.importorskip("skdim")


def _datasets():
    """name -> (points, true ID, allowed relative error of TwoNN at N = 2000 points)."""
    return {"cube": (plane(2000, 5, 100, seed=0), 5, 0.07),        # 4.72: boundary effect of a flat cube
            "swiss": (swiss_roll(2000, 3, seed=0), 2, 0.02),
            "gauss": (np.random.default_rng(0).standard_normal((2000, 512)), 512, 0.8)}  # ~126: far below at N = 2000


DATA = _datasets()


@pytest.mark.parametrize("name", list(DATA))
def test_twonn_equals_skdim(name):
    X, truth, tolerance = DATA[name]
    ours = twonn(X)
    theirs = skdim.id.TwoNN().fit(X).dimension_
    assert abs(ours.id - theirs) < 1e-3
    assert abs(ours.id - truth) / truth < tolerance
    assert ours.n_points == 2000 and ours.n_duplicates == 0 and ours.n_used == 1800
    assert float(ours) == ours.id


def test_twonn_on_spheres_within_a_few_percent():
    for dim in (1, 2, 3, 5):
        assert twonn(sphere(2000, dim, D=20, seed=0)).id == pytest.approx(dim, rel=0.05)  # single samples: 1-3 %


def test_twonn_torch_input_and_resamples():
    X = DATA["cube"][0]
    a = twonn(torch.from_numpy(X).float(), n_resamples=4, seed=1)
    assert abs(a.id - twonn(X).id) < 1e-2
    assert a.mean is not None and 4.3 < a.mean < 5.1 and a.std > 0
    assert twonn(X).mean is None


def test_twonn_duplicates():
    X = DATA["cube"][0]
    Xd = np.vstack([X, X[:100]])
    res = twonn(Xd)
    assert res.n_duplicates == 100 and res.n_points == 2100
    assert abs(res.id - twonn(X).id) < 1e-12 and 4.6 < res.id < 4.8


def test_twonn_errors():
    with pytest.raises(ValueError, match="3 unique"):
        twonn(np.ones((10, 3)))
    X = np.random.default_rng(0).random((20, 3))
    X[2, 1] = np.inf
    with pytest.raises(ValueError, match="1 non-finite"):
        twonn(X)
    with pytest.raises(ValueError, match="discard_fraction"):
        twonn(np.random.rand(10, 2), discard_fraction=1.0)


def test_block_analysis():
    X = DATA["swiss"][0]
    df = twonn_block_analysis(X, max_blocks=4)
    assert list(df.columns) == ["n_blocks", "block_size", "id_mean", "id_std"]
    assert list(df.n_blocks) == [1, 2, 3, 4] and list(df.block_size) == [2000, 1000, 666, 500]
    assert df.id_std.iloc[0] == 0 and np.all(np.abs(df.id_mean - 2) < 0.2)


def test_pca_id():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 3)) @ rng.standard_normal((3, 40))
    X = np.hstack([X, np.ones((500, 2))])  # zero-variance columns are ignored
    assert pca_id(X) <= 3 and pca_id(X, 0.999999) == 3
    assert pca_id(np.ones((5, 3))) == 0
    assert pca_id(rng.standard_normal((300, 20)), 0.9) > 12


@pytest.mark.parametrize("clustered", [False, True])
def test_twonn_resamples_equal_twonn_of_each_subset(clustered):
    # The resamples reuse the whole sample's neighbour search (one search per layer instead of
    # one per resample); each must equal TwoNN of its subset searched alone. Tight clusters far
    # from the centre leave the float32 candidates uncertified, so the float64 search of the
    # subset's uncertified rows is taken as well.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 200))  # above the k-d tree's dimension: the candidate search
    if clustered:
        X += np.repeat(100 * rng.standard_normal((30, 200)), 10, axis=0)
    result = twonn(X, n_resamples=5, seed=7)
    U = torch.unique(torch.from_numpy(X), dim=0)  # the rows twonn resamples, in its order
    draw = np.random.default_rng(7)
    size = round(0.9 * len(U))
    alone = [twonn(U[np.sort(draw.choice(len(U), size=size, replace=False))]).id for _ in range(5)]
    assert result.mean == pytest.approx(np.mean(alone), rel=1e-12)
    assert result.std == pytest.approx(np.std(alone, ddof=1), rel=1e-9)
