import numpy as np
import pytest
import torch

from latentgeom.estimators.neighbourhoods import continuous_svd_perturbations, knn_neighbourhoods, svd_perturbations


def test_knn_excludes_self_and_orders():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    nb = knn_neighbourhoods(X, 5).numpy()
    assert nb.shape == (50, 5, 4)
    d = np.linalg.norm(X[:, None] - X[None], axis=2)
    np.fill_diagonal(d, np.inf)
    expect = X[np.argsort(d, axis=1)[:, :5]]
    np.testing.assert_allclose(nb, expect)
    assert not np.any(np.all(nb == X[:, None], axis=2))


def test_knn_torch_input_and_errors():
    X = torch.randn(10, 3)
    assert knn_neighbourhoods(X, 9).shape == (10, 9, 3)
    with pytest.raises(ValueError, match="k=10"):
        knn_neighbourhoods(X, 10)
    X[0, 0] = float("nan")
    with pytest.raises(ValueError, match="1 non-finite"):
        knn_neighbourhoods(X, 3)


def _images(n=2, c=3, h=8, w=6, seed=0):
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_svd_perturbations_masks():
    x = _images()
    q = 3
    out = svd_perturbations(x, q)
    assert out.shape == (2, 2**q - 1, 3, 8, 6)
    u, s, vh = torch.linalg.svd(x, full_matrices=False)
    r = s.shape[-1]
    # coordinates of every perturbed image in the original singular bases
    coef = u.mT[:, None] @ out @ vh.mT[:, None]  # [n, M, C, r, r]
    diag = coef.diagonal(dim1=-2, dim2=-1)
    off = coef - torch.diag_embed(diag)
    assert off.abs().max() < 1e-10  # only the singular values change
    np.testing.assert_allclose(diag[..., : r - q], s[:, None, :, : r - q].expand_as(diag[..., : r - q]), atol=1e-10)
    ratios = (diag[..., r - q:] / s[:, None, :, r - q:]).numpy()
    assert np.allclose(ratios, np.round(ratios), atol=1e-10)  # binary masks
    masks = {tuple(np.round(ratios[0, b, 0]).astype(int)) for b in range(2**q - 1)}
    assert len(masks) == 2**q - 1 and (1,) * q not in masks  # all masks but keep-everything
    assert np.allclose(ratios[:, :, :1], ratios)  # same mask for all channels


def test_svd_perturbations_validation():
    x = _images(h=4, w=5)
    with pytest.raises(ValueError, match="q=5"):
        svd_perturbations(x, 5)
    with pytest.raises(ValueError):
        svd_perturbations(x, 0)
    with pytest.raises(ValueError, match="dimensions"):
        svd_perturbations(x[0], 2)
    with pytest.raises(ValueError, match="q <= 16"):
        svd_perturbations(torch.randn(1, 1, 20, 20), 17)


def test_continuous_perturbations_seed_and_range():
    x = _images().float()
    a = continuous_svd_perturbations(x, 3, 7, seed=5)
    b = continuous_svd_perturbations(x, 3, 7, seed=5)
    c = continuous_svd_perturbations(x, 3, 7, seed=6)
    assert a.shape == (2, 7, 3, 8, 6) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    x64 = x.double()
    u, s, vh = torch.linalg.svd(x64, full_matrices=False)
    coef = (u.mT[:, None] @ a.double() @ vh.mT[:, None]).diagonal(dim1=-2, dim2=-1)
    f = (coef / s[:, None]).numpy()
    assert np.allclose(f[..., :-3], 1, atol=1e-5)
    assert np.all((f[..., -3:] > -1e-5) & (f[..., -3:] < 1 + 1e-5))
    assert np.allclose(f[..., -3:], f[:, :, :1, -3:], atol=1e-5)  # same factors for all channels
    with pytest.raises(ValueError, match="low < high"):
        continuous_svd_perturbations(x, 2, 3, low=1, high=0)
