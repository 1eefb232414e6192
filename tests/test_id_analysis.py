"""The intrinsic-dimension chapter without training: the profile arithmetic
(latentgeom.chapters.id_profiles), the claims and their checks on constructed runs
(latentgeom.chapters.id_claims: preconditions gate, undecided checks, per-network decisions, the
pooled cross-network claim resampled by network), the settings, the page's parameters and its
plan of work units (latentgeom.chapters.intrinsic_dimension, .id_study)."""
import math
from dataclasses import fields, replace

import numpy as np
import pandas as pd
import pytest
import torch

import latentgeom as lg
from latentgeom.chapters import id_claims as idc
from latentgeom.chapters import id_profiles as idp
from latentgeom.chapters import intrinsic_dimension as ida
from latentgeom.chapters.id_study import IDSettings, Run
from latentgeom.chapters.protocol import page_parameters
from latentgeom.reporting.findings import NOT_TESTABLE
from latentgeom.units import Images, Profile, Train, untrained


def profile(values, names=None, output=True):
    names = names or [f"layer{i}" for i in range(len(values))]
    names = ["input", *names[1:]]
    depths = np.linspace(0, 1, len(values) + (1 if output else 0))
    rows = [dict(layer=n, relative_depth=d, id_mean=v, id_std=0.1 * v, layer_width=1000)
            for n, d, v in zip(names, depths, values)]
    if output:
        rows.append(dict(layer="logits", relative_depth=1.0, id_mean=3.0, id_std=0.1, layer_width=10))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Profile arithmetic


def test_hunchback_summary_reads_rise_peak_and_fall():
    s = idp.hunchback_summary(profile([10, 25, 40, 20, 5]))
    assert s["input_id"] == 10 and s["peak_id"] == 40 and s["last_id"] == 5
    assert s["rise"] == pytest.approx(4.0) and s["fall"] == pytest.approx(5 / 40)
    assert s["peak_interior"] and s["peak_layer"] == "layer2"
    assert s["last_vs_previous"] == pytest.approx(5 / 20)


def test_logits_are_not_part_of_the_hunchback():
    # the output layer (ID <= 10 classes) must not count as the last hidden layer
    frame = profile([10, 20, 15])
    assert idp.last_hidden(frame)["layer"] == "layer2"
    assert idp.hunchback_summary(frame)["last_id"] == 15
    # without a layer named logits, the deepest layer is taken as the output
    no_name = profile([10, 20, 15, 8], output=False)
    assert idp.last_hidden(no_name)["layer"] == "layer2"


def test_monotone_profile_has_no_interior_peak_and_flatness():
    s = idp.hunchback_summary(profile([30, 20, 10, 5]))
    assert not s["peak_interior"] and s["rise"] == 1.0
    assert idp.flatness(profile([10, 11, 12, 10])) == pytest.approx(1.2)


def test_bad_profiles_raise():
    with pytest.raises(ValueError, match="at least 3 layers"):
        idp.hunchback_summary(profile([10, 20]))
    with pytest.raises(ValueError, match="finite and positive"):
        idp.hunchback_summary(profile([10, math.nan, 5]))
    two = pd.concat([profile([1, 2, 3]), profile([1, 2, 3])])
    with pytest.raises(ValueError, match="one model"):
        idp.hunchback_summary(two)


def test_average_over_classes_and_per_model():
    a = profile([10, 30, 6]).assign(model="m", width=8, epoch=4, class_label=0)
    b = profile([14, 50, 10]).assign(model="m", width=8, epoch=4, class_label=1)
    c = profile([20, 20, 20]).assign(model="u", width=8, epoch=0, class_label=0)
    mean = idp.average_over_classes(pd.concat([a, b, c]))
    m = mean[mean.model == "m"].set_index("layer")
    assert m.loc["layer1", "id_mean"] == pytest.approx(40)
    assert m.loc["layer1", "class_std"] == pytest.approx(10)
    assert m.loc["input", "n_classes"] == 2
    assert list(m.index) == ["input", "layer1", "layer2", "logits"]
    table = idp.per_model(mean, idp.hunchback_summary)
    assert list(table.model) == ["m", "u"]
    assert table.set_index("model").loc["m", "peak_id"] == pytest.approx(40)


def test_block_frame_normalises_columns():
    frame = idp.block_frame([dict(n_blocks=1, n_points=100, mean=5.0, std=0.0),
                             dict(n_blocks=2, n_points=50, mean=4.8, std=0.2)])
    assert list(frame.columns) == ["n_points", "id_mean", "id_std", "n_blocks"]
    assert frame.id_mean.tolist() == [5.0, 4.8]
    with pytest.raises(ValueError, match="no 'id_std'"):
        idp.block_frame(pd.DataFrame(dict(n_points=[1], id_mean=[2.0])))


def test_labels_of_a_unit_result_as_the_profile_places_them():
    # A work unit's frame is unlabelled; with_labels + stack_classes give it the page's columns,
    # exactly as dimension_profile(..., class_label=..., state=...) and class_profiles did.
    model = lg.build_model("plain_cnn", width=4)
    images = torch.randn(30, 1, 28, 28)
    options = dict(id_resamples=2, seed=0, cache=False)
    labelled = idp.class_profiles(model, {3: images}, state="trained", **options)
    plain = lg.dimension_profile(model, images, **options)
    pd.testing.assert_frame_equal(idp.stack_classes([idp.with_labels(plain, class_label=3, state="trained")]),
                                  labelled, check_exact=True)
    assert labelled.pca_id.isna().all()


def test_last_hidden_layer_of_a_config_without_training():
    torch.manual_seed(5)
    expected = torch.rand(3)
    for config in lg.get_preset("tiny").zoo():
        idp.last_hidden_layer_of.cache_clear()
        torch.manual_seed(5)
        name = idp.last_hidden_layer_of(config)
        assert torch.equal(torch.rand(3), expected)  # the global generator is left as it was
        assert name == idp.last_hidden_layer(lg.build_model(config.model, width=config.width, seed=config.seed))
        assert name != idp.OUTPUT_LAYER



# --------------------------------------------------------------------------------------------
# Settings, claims and the page's parameters


def test_settings_presets_and_overrides():
    assert ida.SETTINGS("default").n_per_class == 300
    assert ida.SETTINGS("tiny", n_mixed=None).n_mixed == ida.SETTINGS.table["tiny"].n_mixed
    assert ida.SETTINGS("default", n_classes=3).n_classes == 3
    with pytest.raises(ValueError, match="preset must be one of"):
        ida.SETTINGS("huge")
    with pytest.raises(ValueError, match="unknown intrinsic-dimension setting"):
        ida.SETTINGS("tiny", n_points=3)
    with pytest.raises(ValueError, match="positive integer"):
        ida.SETTINGS("tiny", n_resamples=0)
    with pytest.raises(ValueError, match="at least 10 points"):
        ida.SETTINGS("tiny", n_per_class=5)


def test_claims_carry_their_thresholds_reasons_and_preconditions():
    assert list(ida.CLAIMS) == ["id-1-hunchback", "id-2-pca-vs-twonn", "id-3-last-layer-vs-accuracy",
                                "id-4-untrained-random-labels"]
    for claim in ida.CLAIMS.values():
        assert claim.thresholds and set(claim.reasons) == set(claim.thresholds), claim.id
        assert claim.page == ida.PAGES["intrinsic-dimension"].notebook
        assert claim.source and claim.paper and claim.paper_value
        assert list(claim.thresholds_table().index) == list(claim.thresholds)
    assert ida.HUNCHBACK.thresholds["share_min"] == ida.TRAINING.thresholds["share_min"] == 2 / 3
    assert ida.WIDTH_AND_PCA.thresholds["share_min"] == 2 / 3 and ida.WIDTH_AND_PCA.thresholds["pca_cap_share"] == 0.5
    assert ida.LAST_LAYER.thresholds["networks_min"] == 8
    assert any("memorised" in p for p in ida.TRAINING.preconditions)
    assert set(idc.PER_RUN) | set(idc.POOLED) == set(ida.CLAIMS) and list(idc.POOLED) == [ida.LAST_LAYER.id]
    assert list(ida.PAGES) == ["intrinsic-dimension"]
    assert ida.PAGES["intrinsic-dimension"].claims == tuple(ida.CLAIMS)


def test_page_declares_its_parameters_and_their_defaults_pass():
    defaults = page_parameters(ida.PAGES["intrinsic-dimension"].path)
    assert set(ida.PAGES["intrinsic-dimension"].parameters) == set(defaults) and len(defaults) == 13
    assert ida.PAGES["intrinsic-dimension"].check(defaults) == defaults


@pytest.mark.parametrize("bad, name", [
    (dict(n_classes=0), "n_classes"), (dict(widths="8"), "widths"), (dict(seed=-1), "seed"),
    (dict(preset="huge"), "preset"), (dict(n_per_class=3), "n_per_class"), (dict(n_classes=11), "n_classes"),
    (dict(architectures="plain_cnn"), "architectures"), (dict(architectures=["nope"]), "architectures"),
    (dict(n_seeds=0), "n_seeds"), (dict(dataset="imagenet"), "dataset"), (dict(training_seeds=1.5), "training_seeds"),
])
def test_setup_rejects_a_bad_parameter_naming_it(bad, name):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        ida.setup(**{"preset": "tiny", **bad})


# --------------------------------------------------------------------------------------------
# The plan: every network re-seeded per training seed, every run on its own image sample


def old_primary_run(preset: str) -> set:
    """The units of the page's primary run (image seed 0, training seed 0) as the chapter built
    them before issue 27 (a copy of that code): the primary run must stay as it was, so its
    cached profiles are read again."""
    page = page_parameters("findings/intrinsic-dimension.md")
    names = {f.name for f in fields(IDSettings)}
    P = lg.get_preset(preset)
    S = ida.SETTINGS(preset, **{k: v for k, v in page.items() if k in names})
    if S.random_label_architecture not in P.architectures:
        S = replace(S, random_label_architecture=P.architectures[0])
    rl_base = replace(P.config(S.random_label_architecture, max(P.widths)), epochs=S.random_label_epochs,
                      n_train=S.random_label_n_train, checkpoint_epochs=(), weight_decay=0.0, augment=False,
                      label_smoothing=0.0)
    kw = dict(id_resamples=S.n_resamples, seed=0, device=P.device)
    mixed, units = Images(P.dataset, n=S.n_mixed, seed=0), []
    for config in P.zoo():
        for model, epoch in ((config, config.epochs), (untrained(config), 0)):
            for c in range(S.n_classes):
                images = Images(P.dataset, per_class=S.n_per_class, classes=(c,), seed=0)
                units.append(Profile.dimension(model, epoch, images, with_pca=c < S.pca_classes, **kw))
        last = idp.last_hidden_layer_of(config)
        for epoch in sorted({*config.checkpoint_epochs, config.epochs}):
            units.append(Profile.dimension(config, epoch, mixed, layers=[last], **kw))
        if config.width == P.widths[0]:
            units.append(Profile.dimension(config, config.epochs, Images(P.dataset, n=S.n_mixed_profile, seed=0),
                                           id_resamples=S.n_resamples, seed=0, device=P.device))
    rl_images = Images(P.dataset, n=min(S.n_mixed, S.random_label_n_train or S.n_mixed), seed=0)
    units += [Profile.dimension(c, c.epochs, rl_images, **kw) for c in (replace(rl_base, random_labels=True), rl_base)]
    return set(units)


@pytest.mark.parametrize("preset", ["tiny", "default"])
def test_every_run_reseeds_every_network_on_its_own_image_sample(preset):
    study = ida.PAGES["intrinsic-dimension"].study(preset)
    S, zoo = study.settings, lg.get_preset(preset).zoo()
    assert study.run_seeds == [(k, 0) for k in range(S.n_seeds)] + [(S.n_seeds + t - 1, t)
                                                                    for t in range(1, S.training_seeds)]
    assert len(set(study.sample_seeds)) == len(study.run_seeds)  # no two runs share an image sample
    plan = study.plan()
    assert len(plan) == len(set(plan))  # no repeats
    assert old_primary_run(preset) <= set(plan)  # the primary run is today's: its caches are read again
    for t in study.training_seeds:  # the curvature chapter's training-seed zoo: one model cache
        assert study.zoo[t] == [replace(c, seed=t) for c in zoo]
    for sample_seed, t in study.run_seeds:
        run = study.run_plan(sample_seed, t)
        zoo_units = [u for _, _, u in run.per_class] + list(run.last_hidden)
        assert {u.config.seed for u in zoo_units} == {t}
        assert {u.images.seed for u in run.units()} == {sample_seed}  # the run's own image sample
        assert {(u.config.epochs, u.epoch) for u in run.last_hidden if u.epoch != u.config.epochs}  # checkpoints
        random, true = (u.config for u in run.random_label)
        assert random.random_labels and not true.random_labels and replace(random, random_labels=False) == true
        # the pair: the run's training seed, trained on (and measured on) the run's image sample
        assert random.seed == t and (random.data_seed if random.data_seed is not None else t) == sample_seed


def test_the_random_label_pair_is_measured_on_images_it_was_trained_on():
    study = ida.setup("tiny")
    for sample_seed, t in study.run_seeds:
        unit = study.run_plan(sample_seed, t).random_label[0]
        data_seed = unit.config.data_seed if unit.config.data_seed is not None else unit.config.seed
        trained_on, _ = lg.load_tensors(unit.config.dataset, n=unit.config.n_train, seed=data_seed)
        assert torch.equal(unit.images.load(), trained_on[:unit.images.n])
    a, b = (study.run_plan(*seeds).random_label[0].images.load() for seeds in study.run_seeds[:2])
    assert not torch.equal(a, b)  # the random-label images follow the sample seed


def test_the_plan_covers_every_run_and_trains_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTGEOM_CACHE", str(tmp_path / "models"))
    study = ida.setup("tiny")
    plan = set(study.plan())
    for seeds in study.run_seeds:
        assert set(study.run_plan(*seeds).units()) <= plan
    assert set(study.mixed_units(*study.run_seeds[0])) <= plan
    assert not (tmp_path / "models").exists()
    from latentgeom.chapters import ladder  # the page's attribution measures the ladder too
    ladder_plan = set(ladder.PAGES["training-ladder"].study(preset="tiny").plan())
    assert ladder_plan <= plan
    assert {u.config for u in study.trainings()} == {u.config for u in plan - ladder_plan}  # every network
    assert all(isinstance(u, Train) for u in study.trainings())
    assert study.parameters["runs"] == [list(r) for r in study.run_seeds]


# --------------------------------------------------------------------------------------------
# Checks on constructed runs


def _run(values, untrained_values, rl_random, rl_true, *, sample_seed=0, training_seed=0, pca_points=1000,
         memorised=0.95, networks=("a w8", "b w8")) -> Run:
    """A run of ``networks`` with the given class-averaged profiles (PC-ID = 40 + TwoNN), a
    random-label pair (train accuracy ``memorised``) and last-hidden points whose ID follows the
    test error across networks (final) and falls along training (checkpoints)."""
    frames = []
    for state, vals in (("trained", values), ("untrained", untrained_values)):
        for name in networks:
            frames.append(profile(vals).assign(state=state, label=name, pca_id=lambda f: 40 + f.id_mean))
    profiles = pd.concat(frames, ignore_index=True)
    rows = []
    for i, name in enumerate(networks):
        error = 0.1 + 0.02 * i + 0.01 * training_seed
        rows += [dict(model=name.split()[0], width=8, epoch=4, stage="final",
                      id_mean=4 + 40 * error + sample_seed / 100,
                      test_error=error),
                 dict(model=name.split()[0], width=8, epoch=2, stage="checkpoint", id_mean=20 - 40 * error,
                      test_error=error + 0.2)]
        rows[-2]["network"] = rows[-1]["network"] = f"{name}, training seed {training_seed}"
    last = pd.DataFrame(rows).assign(relative_depth=0.8, label=lambda f: f.network,
                                     test_accuracy=lambda f: 1 - f.test_error)
    rl = pd.concat([profile(rl_random).assign(labels="random"), profile(rl_true).assign(labels="true")])
    return Run(sample_seed, training_seed, profiles, profiles, last, rl, dict(random=memorised, true=1.0),
               pca_points=pca_points)


HUNCHBACK_ARGS = ([10, 30, 4], [10, 11, 10], [10, 8, 14], [10, 12, 6])


def test_evaluate_names_its_checks_and_preconditions():
    ev = ida.evaluate(_run(*HUNCHBACK_ARGS))
    assert {k: list(e.checks) for k, e in ev.items()} == {
        "id-1-hunchback": ["ID rises (peak >= 1.2 x input) in >= 0.67 of trained models",
                           "ID falls (last hidden <= 0.5 x peak) in >= 0.67 of trained models",
                           "peak at an interior layer in >= 0.67 of trained models", "median peak depth <= 0.6"],
        "id-2-pca-vs-twonn": ["every hidden layer's width >= 10.0 x its ID in >= 0.67 of trained models",
                              "PC-ID much larger: median PC-ID / TwoNN >= 3.0",
                              "PC-ID nearly the same trained vs untrained (median change <= 30%)"],
        "id-4-untrained-random-labels": ["untrained profile flat (max/min <= 1.5) in >= 0.67 of models",
                                         "random labels: last hidden ID >= 1.1 x the layer before",
                                         "random labels: last hidden ID >= 1.5 x true labels"],
    }
    assert ev["id-4-untrained-random-labels"].preconditions == {"random labels memorised (train accuracy >= 0.9)": True}
    assert ev["id-4-untrained-random-labels"].ours["preconditions"] == ev["id-4-untrained-random-labels"].preconditions
    assert {k: e.verdict for k, e in ev.items()} == dict.fromkeys(ev, "reproduced")
    assert ev["id-1-hunchback"].headline == dict(median_rise=3.0, median_fall=pytest.approx(4 / 30),
                                                 median_peak_depth=pytest.approx(1 / 3))


def test_a_random_label_network_that_did_not_memorise_makes_claim_4_not_testable():
    e = ida.evaluate(_run(*HUNCHBACK_ARGS, memorised=0.5))["id-4-untrained-random-labels"]
    assert all(e.checks.values())  # every check passes, and still: the precondition gates them
    assert e.verdict == NOT_TESTABLE
    assert e.preconditions == {"random labels memorised (train accuracy >= 0.9)": False}


def test_the_width_check_is_decided_per_network():
    """Three networks, one with a layer of width < 10 x ID: 2/3 pass, the check passes (the
    pooled minimum would have failed it); two of three failing fail it."""
    run = _run(*HUNCHBACK_ARGS, networks=("a w8", "b w8", "c w8"))
    narrow = (run.profiles.label == "c w8") & (run.profiles.layer == "layer1") & (run.profiles.state == "trained")
    run.profiles.loc[narrow, "layer_width"] = 100  # 100 / 30 < 10
    e = ida.evaluate(run)["id-2-pca-vs-twonn"]
    assert e.ours["min_width_over_id"] < 10 and e.ours["width_share"] == pytest.approx(2 / 3)
    assert e.checks["every hidden layer's width >= 10.0 x its ID in >= 0.67 of trained models"] is True
    run.profiles.loc[narrow | (run.profiles.label == "b w8"), "layer_width"] = 100
    assert ida.evaluate(run)["id-2-pca-vs-twonn"].checks[
        "every hidden layer's width >= 10.0 x its ID in >= 0.67 of trained models"] is False


def test_a_pca_id_at_the_sample_cap_decides_only_what_its_lower_bound_decides():
    larger = "PC-ID much larger: median PC-ID / TwoNN >= 3.0"
    same = "PC-ID nearly the same trained vs untrained (median change <= 30%)"
    free = ida.evaluate(_run(*HUNCHBACK_ARGS))["id-2-pca-vs-twonn"]
    assert free.checks[larger] is True and free.checks[same] is True and free.ours["pca_capped_share"] == 0
    # 60 points: every PC-ID (>= 44) is above 0.5 x 59. A ratio whose lower bound passes still passes;
    # trained and untrained both at the cap look "the same" by construction: undecided, not passed.
    capped = ida.evaluate(_run(*HUNCHBACK_ARGS, pca_points=60))["id-2-pca-vs-twonn"]
    assert capped.ours["pca_capped_share"] == 1
    assert capped.checks[larger] is True and capped.checks[same] is None and capped.verdict == NOT_TESTABLE
    # a TwoNN so high that the capped ratio's lower bound fails: undecided too
    high = ida.evaluate(_run([30, 90, 40], [30, 33, 30], [10, 8, 14], [10, 12, 6], pca_points=60))
    assert high["id-2-pca-vs-twonn"].checks[larger] is None
    # the same numbers from a large sample: decided (and failing)
    assert ida.evaluate(_run([30, 90, 40], [30, 33, 30], [10, 8, 14], [10, 12, 6]))[
        "id-2-pca-vs-twonn"].checks[larger] is False


@pytest.mark.parametrize("low, high, at_least, at_most", [
    (4, 4, True, False), (1, 2, False, True), (2, np.inf, None, None), (0, 2.5, False, True), (2, 4, None, None),
    (3, np.inf, True, False),
])
def test_bounds_decide_only_when_the_whole_interval_is_on_one_side(low, high, at_least, at_most):
    assert idc.at_least(low, high, 3) is at_least and idc.at_most(low, high, 2.5) is at_most


def _zoo_runs(training_seeds=(0, 1), samples=2, networks=6):
    names = tuple(f"m{i} w8" for i in range(networks))
    return [_run(*HUNCHBACK_ARGS, sample_seed=10 * t + s, training_seed=t, networks=names)
            for t in training_seeds for s in range(samples if t == 0 else 1)]


def test_claim_3_is_decided_once_on_independent_final_networks():
    runs = _zoo_runs()
    e = ida.evaluate_pooled(runs)["id-3-last-layer-vs-accuracy"]
    assert e.ours["networks"] == 12 and e.ours["training_runs"] == 2 and e.ours["points"] == 18
    assert e.ours["correlation"]["units"] == 12  # resampled by network, not by point
    assert e.verdict == "reproduced" and e.headline["pearson"] > 0.99
    # checkpoints: the along-training trend, reported, never deciding
    trend = pd.DataFrame(e.ours["trend"])
    assert set(trend.stage) == {"final", "checkpoint"} and len(trend) == 24
    assert trend[trend.network == "m0 w8, training seed 0"].samples.tolist() == [2, 2]
    for r in runs:
        r.last.loc[r.last.stage == "checkpoint", "id_mean"] *= -3
    assert ida.evaluate_pooled(runs)["id-3-last-layer-vs-accuracy"].ours["correlation"] == e.ours["correlation"]


def test_claim_3_with_fewer_than_8_networks_is_not_testable():
    e = ida.evaluate_pooled(_zoo_runs(training_seeds=(0,), samples=3))["id-3-last-layer-vs-accuracy"]
    assert e.ours["networks"] == 6 and e.ours["correlation"] is None
    assert set(e.checks.values()) == {None} and e.verdict == NOT_TESTABLE


def test_clustering_by_network_widens_the_interval_of_repeated_samples():
    """The same networks measured on many samples: counting each sample as a network would give
    a narrower interval than resampling the networks."""
    runs = _zoo_runs(training_seeds=(0, 1), samples=6, networks=4)
    for r in runs:  # a noisy relation, so the interval has a width
        r.last["id_mean"] += np.random.default_rng(r.sample_seed).normal(0, 0.5, len(r.last))
    points = idc.last_hidden_points(runs)
    final = points[points.stage == "final"]
    clustered = lg.reporting.statistics.bootstrap_correlation(final.id_mean, final.test_error,
                                                              clusters=final.network, seed=0)
    naive = lg.reporting.statistics.bootstrap_correlation(final.id_mean, final.test_error, seed=0)
    assert ida.evaluate_pooled(runs)["id-3-last-layer-vs-accuracy"].ours["correlation"]["units"] == 8
    width = lambda c: c.pearson_ci[1] - c.pearson_ci[0]  # noqa: E731
    assert width(clustered) > width(naive)


# --------------------------------------------------------------------------------------------
# Verdicts over runs


def _evaluation(verdict, pearson, preconditions=None):
    return ida.Evaluation(checks={"c": verdict == "reproduced"}, verdict=verdict, headline={"pearson": pearson},
                          ours={}, preconditions=preconditions or {})


def test_over_runs_combines_per_run_verdicts_and_decides_the_pooled_claim_once():
    runs = _zoo_runs(training_seeds=(0, 1), samples=2)
    ids = list(idc.PER_RUN)
    same = {f: _evaluation("partly reproduced", 0.1) for f in ids}
    evaluations = [dict(same), {**same, ids[1]: _evaluation("reproduced", 0.9)}, dict(same)]
    evaluations[0] = {**same, ids[2]: _evaluation(NOT_TESTABLE, 0.5, {"memorised": False})}
    pooled = ida.evaluate_pooled(runs)
    table = ida.over_runs(runs, evaluations, pooled)
    assert list(table.index) == list(ida.CLAIMS)
    assert table.loc[ids[0], "verdict"] == "partly reproduced" and table.loc[ids[0], "seeds"].agree == 3
    assert table.loc[ids[1], "verdict"] == "unstable across seeds"  # never "reproduced" when a run disagrees
    assert table.loc[ids[1], "spread_values"] == {"pearson": [0.1, 0.9]}
    assert table.loc[ids[2], "verdict"] == NOT_TESTABLE  # a precondition failed in one run
    row = table.loc["id-3-last-layer-vs-accuracy"]
    assert row.seeds.runs == 1 and row.verdict == pooled["id-3-last-layer-vs-accuracy"].verdict
    assert "12 final networks of 2 training seeds" in row.decided
    with pytest.raises(ValueError, match="one evaluation per run"):
        ida.over_runs(runs, evaluations[:2], pooled)


def test_outcomes_one_per_claim():
    runs = _zoo_runs(training_seeds=(0, 1), samples=2)
    runs[1].rl_accuracy["random"] = 0.2  # the second run's random-label network did not memorise
    evaluations, pooled = [ida.evaluate(r) for r in runs], ida.evaluate_pooled(runs)
    outcomes = ida.outcomes(runs, evaluations, pooled)
    assert [o.claim for o in outcomes] == list(ida.CLAIMS.values())
    for o in outcomes:
        runs_of = 1 if o.claim.id in idc.POOLED else 3
        assert o.seeds["twonn"]["runs"] == runs_of and o.verdict == o.seeds["twonn"]["verdict"]
        assert len(o.ours["runs"]) == runs_of and o.summary.startswith(o.verdict) and o.our_value
        assert "preconditions" in o.ours
    assert [r["run"] for r in outcomes[0].ours["runs"]] == [r.name for r in runs]
    assert "12 networks (2 training seeds)" in outcomes[2].our_value
    assert outcomes[3].verdict == NOT_TESTABLE
    assert "precondition failed: random labels memorised" in outcomes[3].summary
    table = ida.checks_table(runs, evaluations, pooled)
    assert list(table.columns) == [r.name for r in runs] + ["all runs, pooled"]
    assert len(table) == 4 + 3 + 2 + 3 + 1  # the checks, and claim 4's precondition
    memorised = table.loc["id-4-untrained-random-labels: precondition: random labels memorised (train accuracy >= 0.9)"]
    assert memorised.tolist()[:3] == [True, False, True]
