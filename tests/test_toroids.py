"""The toroidal-landscape chapter: measures on the product of spheres (distances, paths,
barriers, local energy, one-bend paths), binary networks, the trained-network cache, and the
chapter's protocol (claims, settings, the page's parameters, its plan and its checks)."""
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from latentgeom.chapters import toroid_grid, toroids
from latentgeom.chapters.protocol import Outcome
from latentgeom.networks import symmetries as sym
from latentgeom.networks import toroid_networks as T
from latentgeom.networks import weight_space as W
from latentgeom.storage import CacheMiss, cached_state, lookup_only
from latentgeom.units import Computation


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
    assert W.distance(sym.normalise(a), sym.align(a, sym.random_symmetry(a, seed=2))) < 1e-3
    d_ab = W.distance(sym.normalise(a), sym.align(a, b))
    d_ba = W.distance(sym.normalise(b), sym.align(b, a))
    assert 0 < d_ab < np.pi and d_ab == pytest.approx(d_ba, abs=1e-6)
    # alignment can only bring the networks closer
    assert d_ab <= W.distance(sym.normalise(a), sym.normalise(b)) + 1e-9


def test_geodesic_ends_are_the_networks_and_its_midpoint_halves_every_angle(data):
    a, b = small_mlp(0), small_mlp(1)
    na, nb = sym.normalise(a), sym.align(a, b)
    x = data["train"][0]
    assert torch.allclose(W.geodesic_point(na, nb, 0.0)(x), a(x), atol=1e-5)
    assert torch.allclose(W.geodesic_point(na, nb, 1.0)(x), b(x), atol=1e-5)
    mid = W.geodesic_point(na, nb, 0.5)
    assert np.allclose(W.angles(na, mid), W.angles(na, nb) / 2, atol=1e-5)
    assert np.allclose(W.angles(mid, nb), W.angles(na, nb) / 2, atol=1e-5)
    assert torch.allclose(W.linear_point(a, b, 0.0)(x), a(x))
    assert torch.allclose(W.linear_point(a, b, 1.0)(x), b(x))


def test_path_errors_and_barrier(data):
    a, b = small_mlp(0), small_mlp(1)
    frame = W.path_errors(sym.normalise(a), sym.align(a, b), "geodesic", data, n_points=5)
    assert list(frame.columns) == ["t", "train_error", "test_error"] and len(frame) == 5
    assert frame["train_error"].iloc[0] == T.error(a, *data["train"])
    assert W.barrier([0.1, 0.5, 0.2]) == pytest.approx(0.3)
    assert W.barrier([0.2, 0.15, 0.1]) == 0.0
    with pytest.raises(ValueError, match="kind must be one of"):
        W.path_errors(a, b, "straight", data)
    with pytest.raises(ValueError, match="t must be in"):
        W.geodesic_point(a, b, 1.5)


def test_local_energy_is_seeded_zero_without_noise_and_rescaling_invariant(data):
    net = small_mlp(0)
    x, y = data["train"]
    assert W.local_energy(net, x, y, [0.0], n_samples=2)[0] == 0
    e1 = W.local_energy(net, x, y, [0.3, 1.0], n_samples=3, seed=4)
    assert np.array_equal(e1, W.local_energy(net, x, y, [0.3, 1.0], n_samples=3, seed=4))
    # multiplicative noise commutes with unit rescaling: same draws, same errors
    assert np.array_equal(e1, W.local_energy(sym.normalise(net), x, y, [0.3, 1.0], n_samples=3, seed=4))
    assert e1[1] > 0


def test_one_bend_path_returns_an_aligned_normalised_bend(data):
    a, b = small_mlp(0), small_mlp(1)
    na, nb = sym.normalise(a), sym.align(a, b)
    bend = W.one_bend_path(na, nb, *data["train"], steps=5, seed=0)
    assert W.distance(sym.normalise(bend), bend) < 1e-3  # already normalised
    assert W.distance(na, bend) < W.distance(na, nb)
    biased = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.raises(ValueError, match="bias-free"):
        W.one_bend_path(biased, biased, torch.randn(5, 4), torch.zeros(5, dtype=torch.long))


def test_binary_network_is_binary_and_trains_through_the_straight_through_estimator(data):
    net = T.build("binary_mlp", seed=0)
    x, y = data["train"]
    out = net(x)
    nn.functional.cross_entropy(out, y).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    b = T.binarised(net)
    assert torch.allclose(b(x), out.detach(), atol=1e-6)
    assert set(b[1].weight.unique().tolist()) == {-1.0, 1.0}
    assert set(T.Sign()(torch.tensor([-2.0, 0.0, 0.3])).tolist()) == {-1.0, 1.0}


def test_train_network_is_cached(tmp_path, monkeypatch, data):
    monkeypatch.setenv("LATENTGEOM_CACHE", str(tmp_path))
    x, y = data["train"]
    net, epochs = T.train_network("mlp", "Adam bs100", 0, x, y, max_epochs=2)
    again, epochs2 = T.train_network("mlp", "Adam bs100", 0, x, y, max_epochs=2)
    assert epochs == epochs2 and list((tmp_path / "toroids").glob("*.pt"))
    assert all(torch.equal(p, q) for p, q in zip(net.state_dict().values(), again.state_dict().values()))
    other, _ = T.train_network("mlp", "Adam bs100", 1, x, y, max_epochs=2)
    assert not torch.equal(net[1].weight, other[1].weight)  # every run starts from its own point
    monkeypatch.setenv("LATENTGEOM_NO_TRAIN", "1")  # a cached network still loads, a missing one is an error
    assert T.train_network("mlp", "Adam bs100", 0, x, y, max_epochs=2)[1] == epochs
    from latentgeom.storage import CacheMiss
    with pytest.raises(CacheMiss, match="LATENTGEOM_NO_TRAIN"):
        T.train_network("mlp", "Adam bs100", 2, x, y, max_epochs=2)


def test_bad_input_fails_clearly():
    with pytest.raises(ValueError, match="architecture must be one of"):
        T.build("resnet")
    with pytest.raises(ValueError, match="recipe must be one of"):
        T.train_network("mlp", "RMSprop", 0, torch.zeros(2, 1, 28, 28), torch.zeros(2, dtype=torch.long),
                        max_epochs=1)
    with pytest.raises(ValueError, match="preset must be one of"):
        toroids.SETTINGS("huge")
    with pytest.raises(ValueError, match="unknown toroids setting"):
        toroids.SETTINGS("tiny", width=3)
    with pytest.raises(ValueError, match=r"seeds\['mlp'\] must be an integer >= 2"):
        toroids.SETTINGS("tiny", seeds={"mlp": 1})
    with pytest.raises(ValueError, match="must name every architecture"):
        toroids.SETTINGS("tiny", architectures=("mlp", "cnn"))
    with pytest.raises(ValueError, match="same architecture"):
        W.distance(small_mlp(0), T.build("cnn"))


# ---------------------------------------------------------------------------------------------
# The trained-network cache: latentgeom.storage.cached_state


def test_cached_state_reads_writes_and_refuses_in_lookups(tmp_path):
    path = tmp_path / "net.pt"
    with lookup_only(), pytest.raises(CacheMiss, match="the net"):
        cached_state(path, lambda: pytest.fail("computed"), what="the net")
    assert cached_state(path, lambda: {"state": {"w": torch.ones(2)}, "epochs": 3}, what="the net")["epochs"] == 3
    with lookup_only():  # a hit loads
        saved = cached_state(path, lambda: pytest.fail("computed"), what="the net")
    assert torch.equal(saved["state"]["w"], torch.ones(2)) and saved["epochs"] == 3
    path.write_bytes(b"not a torch file")  # an unreadable entry is recomputed and replaced
    assert cached_state(path, lambda: {"epochs": 4}, what="the net")["epochs"] == 4
    assert cached_state(path, lambda: pytest.fail("computed"), what="the net")["epochs"] == 4
    assert cached_state(tmp_path / "off.pt", lambda: {"epochs": 5}, what="x", cache=False)["epochs"] == 5
    assert not (tmp_path / "off.pt").exists()


# ---------------------------------------------------------------------------------------------
# The chapter: claims, settings, the page's parameters and plan


IDS = ("toroids-1-flatness-generalisation", "toroids-2-flat-minima-close", "toroids-3-geodesic-barriers",
       "toroids-4-one-bend-paths", "toroids-5-binary-networks")
#: The content key of ``run`` at the page's defaults, as the chapter before the protocol computed it:
#: the cached tables of a book built before stay valid.
OLD_RUN_KEYS = {"tiny": "304261adc506b43051491863d0ebc1ee", "default": "f8d70445205496a1e7a9444d58132380"}


def test_claims_carry_their_ids_thresholds_and_reasons():
    assert tuple(c.id for c in toroids.CLAIMS.values()) == IDS == toroids.PAGES["toroids-landscape"].claims
    assert list(toroids.CLAIMS) == list(IDS)
    assert toroids.BARRIERS.thresholds == {"small_barrier": 0.05, "geodesic_wins": 0.8}
    assert toroids.ONE_BEND.thresholds == {"bend_tolerance": 0.01, "bend_share": 0.75}
    for claim in (toroids.FLATNESS, toroids.CLOSE_MINIMA, toroids.BINARY):
        assert claim.thresholds == {"confidence": 0.95}
    for claim in toroids.CLAIMS.values():
        assert set(claim.reasons) == set(claim.thresholds) and all(claim.reasons.values())
        assert claim.page == toroids.NOTEBOOK == toroids.PAGES["toroids-landscape"].notebook
        assert claim.paper == {"statement": claim.paper_value} and claim.source
        assert list(claim.thresholds_table().columns) == ["value", "why"]


def test_the_page_declares_exactly_its_parameters():
    import inspect

    defaults = toroids.PAGES["toroids-landscape"].defaults()
    assert defaults == {"preset": "default", "n_train": None, "n_boot": 2000, "seed": 0}
    page = toroids.PAGES["toroids-landscape"]
    assert set(page.parameters) == set(defaults) == set(inspect.signature(toroids.setup).parameters)
    assert list(toroids.PAGES) == ["toroids-landscape"]


@pytest.mark.parametrize("preset", ["tiny", "default"])
def test_the_page_plan_is_the_unit_the_old_work_units_built(preset):
    """The old ``work_units(preset)``: ``run`` at the preset's settings with the page's
    ``n_train`` and ``seed``, without progress bars, as one Computation (now named by the module
    that holds ``run``), and under the same cache key."""
    page = toroids.PAGES["toroids-landscape"].defaults()
    settings = toroids.SETTINGS(preset, n_train=page.get("n_train"))
    seed = page.get("seed", 0)
    old = Computation("latentgeom.chapters.toroid_grid", "run", (settings, seed), (("progress", False),),
                      label=f"toroidal landscapes at {settings.name} (seed {seed})")
    plan = toroids.PAGES["toroids-landscape"].study(preset).plan()
    assert plan == [old] and pickle.loads(pickle.dumps(plan)) == plan
    assert toroid_grid.run_key(*plan[0].args) == OLD_RUN_KEYS[preset]


def test_setup_gives_the_study_and_the_result_files_parameters():
    study = toroids.setup("tiny", n_train=300, n_boot=500, seed=2)
    assert study.settings == toroids.SETTINGS("tiny", n_train=300) and (study.n_boot, study.seed) == (500, 2)
    from dataclasses import asdict

    assert study.parameters == {**asdict(study.settings), "dataset": "fashion-mnist", "n_boot": 500, "seed": 2}
    assert study.plan()[0].args == (study.settings, 2)


@pytest.mark.parametrize("bad", [{"n_boot": 5}, {"seed": -1}, {"n_train": "abc"}, {"n_train": 5},
                                 {"preset": "huge"}, {"n_boot": 2.5}, {"seed": True}])
def test_a_bad_page_parameter_raises_one_value_error_naming_it(bad):
    [(name, value)] = bad.items()
    with pytest.raises(ValueError, match=rf"^{name} must be .*got {value!r}"):
        toroids.setup(**{"preset": "tiny", **bad})


# ---------------------------------------------------------------------------------------------
# The claims' checks, on tables with known answers


def paths_frame():
    """Four pairs of one architecture: geodesic barriers 0.02, linear 0.3; two one-bend paths
    with excesses 0.004 and 0.05."""
    rows = []
    for i in range(4):
        for kind, top in (("geodesic", 0.02), ("linear", 0.3)) + ((("one bend", (0.004, 0.05)[i]),) if i < 2 else ()):
            rows += [dict(architecture="mlp", pair=f"p{i}", same_recipe=False, kind=kind, t=t, train_error=e,
                          test_error=e + 0.1) for t, e in ((0.0, 0.0), (0.5, top), (1.0, 0.0))]
    return pd.DataFrame(rows)


def test_barrier_checks_their_names_and_summaries():
    o3 = toroids.geodesic_barriers({"paths": paths_frame()})
    assert isinstance(o3, Outcome) and o3.claim is toroids.BARRIERS
    assert o3.checks == {"mlp: median geodesic train barrier <= 0.05": True,
                         "mlp: geodesic barrier < linear in >= 80% of pairs": True}
    assert o3.summary == "reproduced. mlp: median barrier geodesic 0.020 vs linear 0.300, geodesic lower in 100%."
    assert o3.ours["barriers"]["mlp"]["pairs"] == 4
    o4 = toroids.one_bend_paths({"paths": paths_frame()})
    name = "mlp: one-bend path within 0.01 of the endpoints' train error in >= 75% of pairs"
    assert o4.checks == {name: False} and o4.verdict == "not reproduced"
    assert o4.summary == f"not reproduced (failing: {name}). mlp: median excess 0.027, within 0.01 in 50% of 2 pairs."
    table = toroids.checks_table([o3, o4])
    assert list(table["claim"]) == [IDS[2], IDS[2], IDS[3]] and table["passed"].tolist() == [True, True, False]
    assert toroids.verdict_table([o3, o4])["verdict"].tolist() == ["reproduced", "not reproduced"]


def test_correlation_checks_their_names_and_tables():
    study = toroids.setup("tiny", n_boot=200)
    x = np.arange(12.0)
    networks = pd.DataFrame({"architecture": "mlp", "flatness": x, "test_error": x ** 2})
    pairs = pd.DataFrame({"architecture": "mlp", "flatness": x, "distance_aligned": -x, "distance_unaligned": 1.0})
    o1 = toroids.flatness_generalisation({"networks": networks}, study.correlate)
    assert o1.checks == {"mlp, flatness vs test error: Spearman rho > 0, 95% interval above 0": True}
    assert o1.our_value == "mlp: Spearman 1.00 [1.00, 1.00] (n=12)" and len(o1.ours["networks"]) == 12
    o2 = toroids.flat_minima_close({"pairs": pairs}, study.correlate)
    assert o2.verdict == "not reproduced" and o2.ours["mean_distances"] == {
        "mlp": {"distance_unaligned": 1.0, "distance_aligned": -5.5}}
    assert list(toroids.distance_table(o2).columns) == ["distance_unaligned", "distance_aligned", "spearman",
                                                        "spearman_ci"]
    o5 = toroids.binary_networks({"binary_networks": networks, "binary_pairs": pairs}, study.correlate)
    assert list(o5.checks) == ["binary MLP, flatness vs test error: Spearman rho > 0, 95% interval above 0",
                               "binary MLP, pair flatness vs distance: Spearman rho > 0, 95% interval above 0"]
    assert list(toroids.correlation_table(o5.ours["correlations"]).index) == ["flatness vs test error",
                                                                              "pair flatness vs distance"]


def test_the_charts_draw_the_grid_tables():
    from latentgeom.reporting import plots

    networks = pd.DataFrame({"architecture": "mlp", "recipe": ["a", "b"], "seed": 0, "dE_0.2": [0.1, 0.2],
                             "dE_0.5": [0.3, 0.4]})
    spec = plots.energy_chart(networks, title="energy").to_dict()
    assert spec["encoding"]["x"]["field"] == "sigma" and spec["title"] == "energy"
    assert plots.path_chart(paths_frame(), "test").to_dict()["encoding"]["y"]["field"] == "test_error"
    with pytest.raises(ValueError, match="split must be one of"):
        plots.path_chart(paths_frame(), "validation")
