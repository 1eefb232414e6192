"""The device paths against the CPU: the estimators, training and activation extraction on
'cpu' and, where torch sees one, 'cuda' (skipped without).

On a CPU-only machine the 'cpu' cases check the tests themselves; ``make test`` on a GPU
machine checks the CUDA paths (the book's pages, run at a tiny scale by the other tests, then
take CUDA too, since ``device="auto"`` picks it).
"""
import numpy as np
import pytest
import torch

from latentgeom import synthetic
from latentgeom.estimators.curvature import mapc
from latentgeom.estimators.intrinsic_dimension import twonn
from latentgeom.estimators.neighbourhoods import knn_neighbourhoods, svd_perturbations
from latentgeom.networks.activations import extract
from latentgeom.networks.training import TrainConfig, train
from latentgeom.paths import data_dir

from curvatures import assert_same_curvatures

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dim, D, K", [(2, 6, 30),    # D x D frame, P x P fit
                                       (3, 10, 8),    # K x K frame, K x K fit (P = 9 > K)
                                       (2, 10, 20)])  # K x K frame, P x P fit
def test_paper_mode_on_device_equals_cpu(device, dim, D, K):
    P, Y = synthetic.local_sphere(40, dim, 1.0, D, K, rho=0.3, noise=0.01, seed=D + K)
    cpu = mapc(P, Y, dim)
    follows = mapc(torch.as_tensor(P, device=device), torch.as_tensor(Y, device=device), dim)  # "auto"
    asked = mapc(P, Y, dim, device=device)
    for result in (follows, asked):
        assert isinstance(result.kappa, np.ndarray) and result.kappa.shape == cpu.kappa.shape
        assert_same_curvatures(result.kappa, cpu.kappa)
        assert result.mapc == pytest.approx(cpu.mapc, rel=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_robust_mode_and_float32_on_device(device):
    X = synthetic.sphere(400, 2, 1.0, 8, noise=0.01, seed=1)
    nb = knn_neighbourhoods(X, 40).numpy()
    cpu = mapc(X, nb, 2, mode="robust")
    ours = mapc(X, nb, 2, mode="robust", device=device)
    assert_same_curvatures(ours.kappa, cpu.kappa)
    coarse = mapc(X, nb, 2, mode="robust", device=device, dtype=torch.float32)
    assert coarse.mapc == pytest.approx(cpu.mapc, rel=1e-2)  # float32: close, not equal


@pytest.mark.parametrize("device", DEVICES)
def test_neighbourhoods_and_twonn_on_device(device):
    X = synthetic.sphere(300, 2, 1.0, 6, seed=2)
    Xd = torch.as_tensor(X, device=device)
    nb = knn_neighbourhoods(Xd, 10)
    assert nb.device.type == device
    torch.testing.assert_close(nb.cpu(), knn_neighbourhoods(X, 10))
    assert twonn(Xd).id == pytest.approx(twonn(X).id, rel=1e-9)
    images = torch.rand(3, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    perturbed = svd_perturbations(images.to(device), 3)
    assert perturbed.device.type == device
    torch.testing.assert_close(perturbed.cpu(), svd_perturbations(images, 3))


@pytest.mark.skipif(not (data_dir() / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file(),
                    reason="Fashion-MNIST missing (run `make data`)")
@pytest.mark.parametrize("device", DEVICES)
def test_training_and_extraction_on_device(device):
    config = TrainConfig(model="mlp", width=2, n_train=256, epochs=1, batch_size=64, n_test=100, seed=0)
    trained = train(config, device=device, cache_models=False, progress=False)
    assert next(trained.model.parameters()).device.type == device
    assert 0.0 <= trained.test_accuracy <= 1.0 and np.isfinite(trained.train_accuracy)
    images = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    on_device = extract(trained.model, images, device=device)
    on_cpu = extract(trained.model.to("cpu"), images, device="cpu")
    assert on_device.keys() == on_cpu.keys()
    for name in on_cpu:
        assert on_device[name].device.type == "cpu"  # results come back to the host
        torch.testing.assert_close(on_device[name], on_cpu[name], rtol=1e-4, atol=1e-5)
