"""The toroidal-landscape chapter: measures on the product of spheres (distances, paths,
barriers, local energy, one-bend paths), binary networks, the trained-network cache, and the
chapter's protocol (claims, settings, the page's parameters, its plan and its checks)."""
import itertools
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
# The aligned linear path: only the permutation symmetry removed


def test_raw_alignment_permutes_without_normalising(data):
    a = small_mlp(0)
    b = sym.random_symmetry(small_mlp(1), seed=3)
    raw = sym.align(a, b, raw=True)
    x = data["train"][0]
    assert torch.allclose(raw(x), b(x), atol=1e-5)  # the same function as b
    # its normalisation is the usual alignment: the same permutation, only the scale differs
    assert all(torch.allclose(p, q, atol=1e-6) for p, q in zip(sym.normalise(raw).parameters(),
                                                                sym.align(a, b).parameters()))
    assert not torch.allclose(raw[1].weight.norm(dim=1), torch.ones(20))  # raw weights, not unit rows


def test_the_aligned_linear_path_removes_the_permutation_barrier(data):
    """The control of claim 3: between a network and a permuted copy of itself the unaligned
    linear path crosses a barrier, the aligned one none (its ends are the same network)."""
    a = small_mlp(0)
    x, _ = data["train"]
    y = a(x).argmax(1)  # labels the network fits: zero training error
    fitted = {"train": (x, y), "test": (x, y)}
    permuted = sym.random_symmetry(a, seed=1, scale=(1.0, 1.0))
    unaligned = W.path_errors(a, permuted, "linear", fitted, n_points=5)
    aligned = W.path_errors(a, sym.align(a, permuted, raw=True), "linear", fitted, n_points=5)
    assert W.barrier(unaligned["train_error"]) > 0.05
    assert W.barrier(aligned["train_error"]) == 0 and aligned["train_error"].max() == 0


# ---------------------------------------------------------------------------------------------
# The chapter: claims, settings, the page's parameters and plan


IDS = ("toroids-1-flatness-generalisation", "toroids-2-flat-minima-close", "toroids-3-geodesic-barriers",
       "toroids-4-one-bend-paths", "toroids-5-binary-networks")
#: The content key of ``run`` at the page's defaults before issue 27 (one run, no minimisers, no aligned
#: linear path): the tables changed, so the key must differ (the networks' keys need not).
OLD_RUN_KEYS = {"tiny": "304261adc506b43051491863d0ebc1ee", "default": "f8d70445205496a1e7a9444d58132380"}


def test_claims_carry_their_ids_thresholds_and_reasons():
    assert tuple(c.id for c in toroids.CLAIMS.values()) == IDS == toroids.PAGES["toroids-landscape"].claims
    assert list(toroids.CLAIMS) == list(IDS)
    assert toroids.FLATNESS.thresholds == toroids.CLOSE_MINIMA.thresholds == {
        "confidence": 0.95, "minimiser_error": 0.0, "min_networks": 8}
    assert toroids.BARRIERS.thresholds == {"small_barrier": 0.05, "geodesic_wins": 0.8, "minimiser_error": 0.0,
                                           "min_pairs": 4}
    assert toroids.ONE_BEND.thresholds == {"bend_tolerance": 0.01, "bend_share": 0.75, "minimiser_error": 0.0,
                                           "min_pairs": 1}
    assert toroids.BINARY.thresholds == {"confidence": 0.95, "min_networks": 8}
    for claim in toroids.CLAIMS.values():
        assert set(claim.reasons) == set(claim.thresholds) and all(claim.reasons.values())
        assert claim.page == toroids.NOTEBOOK == toroids.PAGES["toroids-landscape"].notebook
        assert claim.paper == {"statement": claim.paper_value} and claim.source and claim.preconditions
        assert list(claim.thresholds_table().columns) == ["value", "why"]


def test_the_page_declares_exactly_its_parameters():
    import inspect

    defaults = toroids.PAGES["toroids-landscape"].defaults()
    assert defaults == {"preset": "default", "n_train": None, "n_boot": 2000, "seed": 0, "n_seeds": 2}
    page = toroids.PAGES["toroids-landscape"]
    assert set(page.parameters) == set(defaults) == set(inspect.signature(toroids.setup).parameters)
    assert list(toroids.PAGES) == ["toroids-landscape"]


@pytest.mark.parametrize("preset", ["tiny", "default"])
def test_the_page_plan_is_one_run_per_seed(preset):
    """``run`` at the preset's settings and every run's seed (the page's ``seed``, ``seed + 1``),
    without progress bars, one Computation each, under keys that differ per run and from the
    tables before the runs had minimisers and aligned linear paths."""
    page = toroids.PAGES["toroids-landscape"].defaults()
    settings = toroids.SETTINGS(preset, n_train=page.get("n_train"))
    expected = [Computation("latentgeom.chapters.toroid_grid", "run", (settings, s), (("progress", False),),
                            label=f"toroidal landscapes at {settings.name} (seed {s})") for s in (0, 1)]
    plan = toroids.PAGES["toroids-landscape"].study(preset).plan()
    assert plan == expected and pickle.loads(pickle.dumps(plan)) == plan
    keys = {toroid_grid.run_key(*unit.args) for unit in plan}
    assert len(keys) == 2 and OLD_RUN_KEYS[preset] not in keys
    assert [u.args[1] for u in toroids.setup("tiny", seed=5, n_seeds=3).plan()] == [5, 6, 7]


def test_setup_gives_the_study_and_the_result_files_parameters():
    study = toroids.setup("tiny", n_train=300, n_boot=500, seed=2)
    assert study.settings == toroids.SETTINGS("tiny", n_train=300) and (study.n_boot, study.seed) == (500, 2)
    from dataclasses import asdict

    assert study.parameters == {**asdict(study.settings), "dataset": "fashion-mnist", "n_boot": 500, "seed": 2,
                                "n_seeds": 2, "run_seeds": [2, 3]}
    assert [u.args for u in study.plan()] == [(study.settings, 2), (study.settings, 3)]


@pytest.mark.parametrize("bad", [{"n_boot": 5}, {"seed": -1}, {"n_train": "abc"}, {"n_train": 5},
                                 {"preset": "huge"}, {"n_boot": 2.5}, {"seed": True}, {"n_seeds": 0}])
def test_a_bad_page_parameter_raises_one_value_error_naming_it(bad):
    [(name, value)] = bad.items()
    with pytest.raises(ValueError, match=rf"^{name} must be .*got {value!r}"):
        toroids.setup(**{"preset": "tiny", **bad})


def test_every_run_varies_its_data_its_networks_and_its_noise(monkeypatch):
    """Each run draws its own images, trains its own networks (their own training seeds, hence
    starting points) and draws its own weight noise, all from the run's seed."""
    calls = {"data": [], "train": [], "noise": []}
    monkeypatch.setattr(toroid_grid, "load_tensors", lambda name, split, n, seed: (
        calls["data"].append((split, seed)) or (torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))))
    monkeypatch.setattr(toroid_grid, "train_network", lambda arch, recipe, seed, x, y, max_epochs: (
        calls["train"].append((arch, recipe, seed)) or (T.build(arch, seed), 1)))
    monkeypatch.setattr(toroid_grid, "local_energy", lambda net, x, y, sigmas, n_samples, seed: (
        calls["noise"].append(seed) or np.zeros(len(sigmas))))
    settings = toroids.SETTINGS("tiny", path_architectures=(), bend_architectures=())
    for run_seed in (0, 1):
        toroid_grid.run(settings, run_seed, progress=False, cache=False)
    assert calls["data"] == [("train", 0), ("test", 0), ("train", 1), ("test", 1)]
    mlp = [(r, s) for a, r, s in calls["train"] if a == "mlp"]
    assert len(mlp) == len(set(mlp)) == 2 * len(settings.recipes) * settings.seeds["mlp"]
    assert {s for _, s in mlp} == {0, 1, 2, 3} and toroid_grid.network_seed(1, 0, 2) == 2
    assert len({T.init_seed(r, s) for r, s in mlp}) == len(mlp)  # every network its own starting point
    assert set(calls["noise"]) == {0, 1}


def test_path_pairs_join_minimisers_only():
    assert toroid_grid.path_pairs({"A": [0, 2], "B": [1], "C": []}) == [(("A", 0), ("A", 2)), (("A", 0), ("B", 1))]
    assert toroid_grid.path_pairs({"A": [3]}) == []


def test_the_page_says_what_the_recipes_are():
    """The optimisers in words come from RECIPES: large-batch SGD runs without weight decay only."""
    text = toroids.recipes_text(toroids.SETTINGS("default").recipes)
    assert text == ("SGD (momentum 0.9) with mini-batches of 32 (with and without weight decay) and 500 (without "
                    "weight decay); Adam(W) with mini-batches of 100 (with and without weight decay)")
    assert toroids.recipes_text(toroids.SETTINGS("default").binary_recipes) == (
        "SGD (momentum 0.9) with mini-batches of 32 and 500 (without weight decay); Adam(W) with mini-batches of 100 "
        "(with and without weight decay)")
    assert T.describe("mlp").startswith("784-128-64-10, ") and "8 and 16 channels" in T.describe("cnn")


# ---------------------------------------------------------------------------------------------
# The claims' checks, on tables with known answers


def networks_frame(flatness, test_error, train_error=None, runs=None, architecture="mlp"):
    """One row per network: its run, name, errors and flatness."""
    n = len(flatness)
    runs = runs if runs is not None else [i % 2 for i in range(n)]
    train_error = np.zeros(n) if train_error is None else np.asarray(train_error, dtype=float)
    return pd.DataFrame({"run": runs, "architecture": architecture, "recipe": "SGD bs32", "seed": range(n),
                         "network": [f"SGD bs32 #{i}" for i in range(n)], "flatness": flatness,
                         "test_error": test_error, "train_error": train_error, "minimiser": train_error == 0,
                         "epochs": 1})


def pairs_frame(networks, distance):
    """Every two networks of one run, with ``distance(flatness_a, flatness_b)`` as their aligned distance."""
    rows = []
    for r, g in networks.groupby("run"):
        for (_, a), (_, b) in itertools.combinations(g.iterrows(), 2):
            rows.append({"run": r, "architecture": a["architecture"], "a": a["network"], "b": b["network"],
                         "same_recipe": True, "recipe_a": a["recipe"], "recipe_b": b["recipe"],
                         "minimisers": bool(a["minimiser"] and b["minimiser"]),
                         "flatness": (a["flatness"] + b["flatness"]) / 2,
                         "distance_aligned": distance(a["flatness"], b["flatness"]), "distance_unaligned": 1.5})
    return pd.DataFrame(rows)


def test_claim_1_correlates_the_minimisers_of_every_run_pooled():
    x = np.arange(12.0)
    o1 = toroids.flatness_generalisation({"networks": networks_frame(x, x ** 2)}, n_boot=200)
    assert o1.checks == {"mlp, flatness vs test error: Spearman rho > 0, 95% interval above 0": True}
    assert o1.verdict == "reproduced" and o1.ours["preconditions"] == {"mlp: >= 8 minimisers over the runs": True}
    assert o1.ours["correlations"]["mlp"].units == 12 and o1.ours["units"]["mlp"]["runs"] == 2
    assert o1.ours["pooled_runs"] == 2 and toroids.verdict_table([o1])["runs"].tolist() == ["pooled over 2 runs"]
    assert o1.seeds == {"verdict": {"verdict": "reproduced", "majority": "reproduced", "agree": 1, "runs": 1,
                                    "per_seed": ("reproduced",)}}
    # networks that did not reach zero training error are no evidence: the correlation that
    # they carry (here the only one) does not count
    train = np.where(x < 6, 0.0, 0.02)
    test = np.where(x < 6, -x, x)  # minimisers: flatter is *worse*; the rest: a perfect rise
    o1 = toroids.flatness_generalisation({"networks": networks_frame(x, test, train)}, n_boot=200)
    assert o1.verdict == "not testable"  # 6 minimisers < 8
    assert list(o1.checks.values()) == [None] and "precondition failed: mlp: >= 8 minimisers" in o1.summary
    x16 = np.arange(16.0)
    o1 = toroids.flatness_generalisation(
        {"networks": networks_frame(x16, np.where(x16 < 10, -x16, x16), np.where(x16 < 10, 0.0, 0.02))}, n_boot=200)
    assert o1.verdict == "not reproduced" and o1.ours["correlations"]["mlp"].n == 10


def test_claim_1_is_not_testable_when_one_architecture_has_no_minimiser():
    x = np.arange(10.0)
    networks = pd.concat([networks_frame(x, x), networks_frame(x, x, np.full(10, 0.05), architecture="cnn")],
                         ignore_index=True)
    o1 = toroids.flatness_generalisation({"networks": networks}, n_boot=200)
    assert o1.verdict == "not testable" and o1.ours["preconditions"]["cnn: >= 8 minimisers over the runs"] is False
    assert o1.checks["mlp, flatness vs test error: Spearman rho > 0, 95% interval above 0"] is True
    assert "cnn: 0 of 10 networks are minimisers" in o1.our_value


def test_claim_2_is_a_permutation_test_over_networks_of_minimiser_pairs():
    x = np.arange(12.0)
    networks = networks_frame(x, x)
    close = pairs_frame(networks, lambda fa, fb: fa + fb)  # flatter pairs closer: a perfect relation
    o2 = toroids.flat_minima_close({"networks": networks, "pairs": close}, n_boot=500)
    name = "mlp, pair flatness vs distance: Mantel p < 0.025 (rho > 0)"
    assert o2.checks == {name: True} and o2.verdict == "reproduced"
    test = o2.ours["mantel"]["mlp"]
    assert (test.units, test.pairs, test.permutations) == (12, 30, 500) and test.spearman == pytest.approx(1)
    assert list(toroids.distance_table(o2).columns) == ["distance_unaligned", "distance_aligned", "units", "pairs",
                                                        "spearman", "p_value", "permutations"]
    far = pairs_frame(networks, lambda fa, fb: -(fa + fb))  # the opposite: flatter pairs farther apart
    assert toroids.flat_minima_close({"networks": networks, "pairs": far}, n_boot=500).checks == {name: False}
    # pairs with a network above zero training error are left out; 6 minimisers are too few
    few = networks_frame(x, x, np.where(x < 6, 0.0, 0.1))
    o2 = toroids.flat_minima_close({"networks": few, "pairs": pairs_frame(few, lambda fa, fb: fa + fb)}, n_boot=500)
    assert o2.verdict == "not testable" and o2.checks == {name: None}


def test_claim_2_tells_the_architectures_networks_apart():
    """Both architectures name their networks alike ("SGD bs32 #0"): a CNN that is no minimiser
    must not borrow the MLP's namesake's status or flatness."""
    x = np.arange(12.0)
    mlp = networks_frame(x, x)
    cnn = networks_frame(x[::-1], x, np.full(12, 0.05), architecture="cnn")
    networks = pd.concat([mlp, cnn], ignore_index=True)
    pairs = pd.concat([pairs_frame(mlp, lambda fa, fb: fa + fb), pairs_frame(cnn, lambda fa, fb: fa + fb)],
                      ignore_index=True)
    o2 = toroids.flat_minima_close({"networks": networks, "pairs": pairs}, n_boot=300)
    assert o2.checks == {"mlp, pair flatness vs distance: Mantel p < 0.025 (rho > 0)": True,
                         "cnn, pair flatness vs distance: Mantel p < 0.025 (rho > 0)": None}
    assert o2.ours["preconditions"]["cnn: >= 8 minimisers in pairs over the runs"] is False
    assert o2.ours["mantel"]["mlp"].spearman == pytest.approx(1) and o2.verdict == "not testable"


def test_claim_5_tests_the_binary_networks_as_trained():
    x = np.arange(12.0)
    bn = networks_frame(x, x, np.full(12, 0.1), architecture="binary_mlp")  # none at zero training error
    o5 = toroids.binary_networks({"binary_networks": bn, "binary_pairs": pairs_frame(bn, lambda fa, fb: fa + fb)},
                                 n_boot=300)
    assert o5.checks == {"binary MLP, flatness vs test error: Spearman rho > 0, 95% interval above 0": True,
                         "binary MLP, pair flatness vs distance: Mantel p < 0.025 (rho > 0)": True}
    assert o5.ours["units"] == {"networks": 12, "zero train error": 0, "runs": 2}
    assert list(toroids.correlation_table(o5.ours["correlations"]).index) == ["flatness vs test error"]
    small = bn.iloc[:6]
    o5 = toroids.binary_networks({"binary_networks": small, "binary_pairs": pairs_frame(small, lambda a, b: a + b)},
                                 n_boot=300)
    assert o5.verdict == "not testable" and set(o5.checks.values()) == {None}


def paths_frame(geodesic=0.02, linear=0.3, aligned=0.3, bends=(0.004, 0.05), runs=(0,), pairs=4):
    """``pairs`` pairs of minimisers of one architecture per run: train-error barriers ``geodesic``,
    ``linear`` and ``aligned`` (aligned linear), and one-bend paths with the excesses ``bends``
    on the first pairs (a scalar or one value per pair for each barrier)."""
    rows = []
    for r in runs:
        for i in range(pairs):
            tops = {"geodesic": np.broadcast_to(geodesic, pairs)[i], "linear": np.broadcast_to(linear, pairs)[i],
                    "aligned linear": np.broadcast_to(aligned, pairs)[i]}
            if i < len(bends):
                tops["one bend"] = bends[i]
            for kind, top in tops.items():
                rows += [dict(run=r, architecture="mlp", pair=f"p{i}", same_recipe=False, kind=kind, t=t,
                              train_error=e, test_error=e + 0.1) for t, e in ((0.0, 0.0), (0.5, top), (1.0, 0.0))]
    return pd.DataFrame(rows)


def runs_of(paths):
    return {"networks": pd.DataFrame({"run": sorted(paths["run"].unique())}), "paths": paths}


def test_claim_3_checks_the_geodesic_against_both_linear_paths():
    o3 = toroids.geodesic_barriers(runs_of(paths_frame()), ["mlp"])
    assert isinstance(o3, Outcome) and o3.claim is toroids.BARRIERS
    assert o3.checks == {"seed 0: mlp: median geodesic train barrier <= 0.05": True,
                         "seed 0: mlp: geodesic barrier < linear in >= 80% of pairs": True,
                         "seed 0: mlp: geodesic barrier < aligned linear in >= 80% of pairs": True}
    assert o3.verdict == "reproduced" and o3.seeds["verdict"]["runs"] == 1
    assert o3.summary == ("reproduced (1/1 runs). seed 0, mlp: median barrier geodesic 0.020 vs linear 0.300 vs "
                          "aligned linear 0.300, geodesic lower in 100% / 100%.")
    assert o3.ours["runs"][0]["stats"]["mlp"]["pairs"] == 4
    assert list(toroids.barrier_table(o3).index) == [(0, "mlp")]


def test_claim_3_control_fails_when_alignment_alone_explains_the_gap():
    """The geodesic beats the unaligned linear path by construction (its permutation barrier);
    when the aligned linear path does as well as the geodesic (a tie is no win) the control fails."""
    o3 = toroids.geodesic_barriers(runs_of(paths_frame(geodesic=0.02, linear=0.3, aligned=0.02)), ["mlp"])
    assert o3.checks["seed 0: mlp: geodesic barrier < linear in >= 80% of pairs"] is True
    assert o3.checks["seed 0: mlp: geodesic barrier < aligned linear in >= 80% of pairs"] is False
    assert o3.verdict == "partly reproduced"
    worse = toroids.geodesic_barriers(runs_of(paths_frame(geodesic=0.04, aligned=0.0)), ["mlp"])
    assert worse.checks["seed 0: mlp: geodesic barrier < aligned linear in >= 80% of pairs"] is False


def test_claim_3_needs_enough_pairs_of_minimisers_in_every_run():
    o3 = toroids.geodesic_barriers(runs_of(paths_frame(pairs=3)), ["mlp"])
    assert o3.verdict == "not testable" and set(o3.checks.values()) == {None}
    assert "precondition failed: seed 0: mlp: >= 4 pairs of minimisers" in o3.summary
    # an architecture without any path (no two minimisers) is not testable either
    o3 = toroids.geodesic_barriers(runs_of(paths_frame()), ["mlp", "cnn"])
    assert o3.verdict == "not testable" and o3.ours["preconditions"]["seed 0: cnn: >= 4 pairs of minimisers"] is False


def test_claims_3_and_4_combine_their_runs():
    """A run that passes and one that fails: unstable across seeds, never reproduced."""
    paths = pd.concat([paths_frame(runs=(0,)), paths_frame(geodesic=0.2, runs=(1,))], ignore_index=True)
    o3 = toroids.geodesic_barriers(runs_of(paths), ["mlp"])
    assert o3.verdict == "unstable across seeds"
    assert o3.seeds["verdict"]["per_seed"] == ("reproduced", "partly reproduced")
    assert o3.spread["mlp: median geodesic barrier"] == [0.02, 0.2]


def test_claim_4_is_tested_only_where_the_geodesic_has_a_barrier():
    name = ("seed 0: mlp: one-bend path within 0.01 of the endpoints' train error in >= 75% of the pairs with a "
            "geodesic barrier")
    # geodesics without a barrier: nothing for a bend to remove, so not testable
    o4 = toroids.one_bend_paths(runs_of(paths_frame(geodesic=0.0, bends=(0.0, 0.0))), ["mlp"])
    assert o4.verdict == "not testable" and o4.checks == {name: None}
    assert "precondition failed: seed 0: mlp: >= 1 pairs whose geodesic has a barrier > 0.01" in o4.summary
    # barriers on the geodesic: the bends remove them in one pair of two (50% < 75%)
    o4 = toroids.one_bend_paths(runs_of(paths_frame(geodesic=0.02)), ["mlp"])
    assert o4.checks == {name: False} and o4.verdict == "not reproduced"
    assert o4.summary == (f"not reproduced (1/1 runs) (failing: {name}). seed 0, mlp: median excess 0.027, within "
                          "0.01 in 50% of 2 pairs with a geodesic barrier.")
    # only the pair whose geodesic has a barrier counts: its bend removes it
    o4 = toroids.one_bend_paths(runs_of(paths_frame(geodesic=(0.02, 0.0, 0.0, 0.0), bends=(0.0, 0.05))), ["mlp"])
    assert o4.checks == {name: True} and o4.ours["runs"][0]["stats"]["mlp"]["pairs with a geodesic barrier"] == 1
    table = toroids.checks_table([o4])
    assert table["kind"].tolist() == ["precondition", "check"] and table["holds"].tolist() == [True, True]
    assert toroids.verdict_table([o4])["runs"].tolist() == ["1/1"]


def test_the_tables_of_the_page():
    networks = networks_frame(np.arange(4.0), [0.1, 0.2, 0.3, 0.4], [0, 0, 0.1, 0])
    table = toroids.recipe_table(networks)
    assert table.loc[("mlp", "SGD bs32"), "networks"] == 4 and table.loc[("mlp", "SGD bs32"), "minimisers"] == 3
    assert table.loc[("mlp", "SGD bs32"), "test_accuracy"] == pytest.approx(0.75)
    assert len(toroids.minimisers(networks)) == 3


def test_the_charts_draw_the_grid_tables():
    from latentgeom.reporting import plots

    networks = pd.DataFrame({"architecture": "mlp", "recipe": ["a", "b"], "seed": 0, "dE_0.2": [0.1, 0.2],
                             "dE_0.5": [0.3, 0.4]})
    spec = plots.energy_chart(networks, title="energy").to_dict()
    assert spec["encoding"]["x"]["field"] == "sigma" and spec["title"] == "energy"
    assert plots.path_chart(paths_frame(), "test").to_dict()["encoding"]["y"]["field"] == "test_error"
    with pytest.raises(ValueError, match="split must be one of"):
        plots.path_chart(paths_frame(), "validation")
