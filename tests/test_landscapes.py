"""Landscape measures on the product of spheres: distances, paths, barriers, local energy,
one-bend paths, binary networks and the trained-network cache."""
import numpy as np
import pytest
import torch
from torch import nn

from latentgeom.networks import symmetries as sym
from latentgeom.chapters import landscapes as L


def small_mlp(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 20, bias=False), nn.ReLU(),
                         nn.Linear(20, 12, bias=False), nn.ReLU(), nn.Linear(12, 10, bias=False)).eval()


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (200,), generator=g)
    return {"train": (x[:120], y[:120]), "test": (x[120:], y[120:])}


def test_distance_is_zero_to_symmetric_copies_and_symmetric():
    a, b = small_mlp(0), small_mlp(1)
    assert L.distance(sym.normalise(a), sym.align(a, sym.random_symmetry(a, seed=2))) < 1e-3
    d_ab = L.distance(sym.normalise(a), sym.align(a, b))
    d_ba = L.distance(sym.normalise(b), sym.align(b, a))
    assert 0 < d_ab < np.pi and d_ab == pytest.approx(d_ba, abs=1e-6)
    # alignment can only bring the networks closer
    assert d_ab <= L.distance(sym.normalise(a), sym.normalise(b)) + 1e-9


def test_geodesic_ends_are_the_networks_and_its_midpoint_halves_every_angle(data):
    a, b = small_mlp(0), small_mlp(1)
    na, nb = sym.normalise(a), sym.align(a, b)
    x = data["train"][0]
    assert torch.allclose(L.geodesic_point(na, nb, 0.0)(x), a(x), atol=1e-5)
    assert torch.allclose(L.geodesic_point(na, nb, 1.0)(x), b(x), atol=1e-5)
    mid = L.geodesic_point(na, nb, 0.5)
    assert np.allclose(L.angles(na, mid), L.angles(na, nb) / 2, atol=1e-5)
    assert np.allclose(L.angles(mid, nb), L.angles(na, nb) / 2, atol=1e-5)
    assert torch.allclose(L.linear_point(a, b, 0.0)(x), a(x))
    assert torch.allclose(L.linear_point(a, b, 1.0)(x), b(x))


def test_path_errors_and_barrier(data):
    a, b = small_mlp(0), small_mlp(1)
    frame = L.path_errors(sym.normalise(a), sym.align(a, b), "geodesic", data, n_points=5)
    assert list(frame.columns) == ["t", "train_error", "test_error"] and len(frame) == 5
    assert frame["train_error"].iloc[0] == L.error(a, *data["train"])
    assert L.barrier([0.1, 0.5, 0.2]) == pytest.approx(0.3)
    assert L.barrier([0.2, 0.15, 0.1]) == 0.0
    with pytest.raises(ValueError, match="kind must be one of"):
        L.path_errors(a, b, "straight", data)
    with pytest.raises(ValueError, match="t must be in"):
        L.geodesic_point(a, b, 1.5)


def test_local_energy_is_seeded_zero_without_noise_and_rescaling_invariant(data):
    net = small_mlp(0)
    x, y = data["train"]
    assert L.local_energy(net, x, y, [0.0], n_samples=2)[0] == 0
    e1 = L.local_energy(net, x, y, [0.3, 1.0], n_samples=3, seed=4)
    assert np.array_equal(e1, L.local_energy(net, x, y, [0.3, 1.0], n_samples=3, seed=4))
    # multiplicative noise commutes with unit rescaling: same draws, same errors
    assert np.array_equal(e1, L.local_energy(sym.normalise(net), x, y, [0.3, 1.0], n_samples=3, seed=4))
    assert e1[1] > 0


def test_one_bend_path_returns_an_aligned_normalised_bend(data):
    a, b = small_mlp(0), small_mlp(1)
    na, nb = sym.normalise(a), sym.align(a, b)
    bend = L.one_bend_path(na, nb, *data["train"], steps=5, seed=0)
    assert L.distance(sym.normalise(bend), bend) < 1e-3  # already normalised
    assert L.distance(na, bend) < L.distance(na, nb)
    biased = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.raises(ValueError, match="bias-free"):
        L.one_bend_path(biased, biased, torch.randn(5, 4), torch.zeros(5, dtype=torch.long))


def test_binary_network_is_binary_and_trains_through_the_straight_through_estimator(data):
    net = L.build("binary_mlp", seed=0)
    x, y = data["train"]
    out = net(x)
    nn.functional.cross_entropy(out, y).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    b = L.binarised(net)
    assert torch.allclose(b(x), out.detach(), atol=1e-6)
    assert set(b[1].weight.unique().tolist()) == {-1.0, 1.0}
    assert set(L.Sign()(torch.tensor([-2.0, 0.0, 0.3])).tolist()) == {-1.0, 1.0}


def test_train_network_is_cached(tmp_path, monkeypatch, data):
    monkeypatch.setenv("LATENTGEOM_CACHE", str(tmp_path))
    x, y = data["train"]
    net, epochs = L.train_network("mlp", "Adam bs100", 0, x, y, max_epochs=2)
    again, epochs2 = L.train_network("mlp", "Adam bs100", 0, x, y, max_epochs=2)
    assert epochs == epochs2 and list((tmp_path / "toroids").glob("*.pt"))
    assert all(torch.equal(p, q) for p, q in zip(net.state_dict().values(), again.state_dict().values()))
    other, _ = L.train_network("mlp", "Adam bs100", 1, x, y, max_epochs=2)
    assert not torch.equal(net[1].weight, other[1].weight)  # every run starts from its own point
    monkeypatch.setenv("LATENTGEOM_NO_TRAIN", "1")  # a cached network still loads, a missing one is an error
    assert L.train_network("mlp", "Adam bs100", 0, x, y, max_epochs=2)[1] == epochs
    from latentgeom.storage import CacheMiss
    with pytest.raises(CacheMiss, match="LATENTGEOM_NO_TRAIN"):
        L.train_network("mlp", "Adam bs100", 2, x, y, max_epochs=2)


def test_bad_input_fails_clearly():
    with pytest.raises(ValueError, match="architecture must be one of"):
        L.build("resnet")
    with pytest.raises(ValueError, match="recipe must be one of"):
        L.train_network("mlp", "RMSprop", 0, torch.zeros(2, 1, 28, 28), torch.zeros(2, dtype=torch.long),
                        max_epochs=1)
    with pytest.raises(ValueError, match="unknown preset"):
        L.get_settings("huge")
    with pytest.raises(ValueError, match="unknown landscape setting"):
        L.get_settings("tiny", width=3)
    with pytest.raises(ValueError, match=r"seeds\['mlp'\] must be an integer >= 2"):
        L.get_settings("tiny", seeds={"mlp": 1})
    with pytest.raises(ValueError, match="must name every architecture"):
        L.get_settings("tiny", architectures=("mlp", "cnn"))
    with pytest.raises(ValueError, match="same architecture"):
        L.distance(small_mlp(0), L.build("cnn"))
