"""The intrinsic-dimension chapter without training: the profile arithmetic
(latentgeom.chapters.id_profiles), the claims and their checks, the settings, the page's
parameters and its plan of work units (latentgeom.chapters.intrinsic_dimension, .id_study)."""
import math
from dataclasses import fields, replace

import numpy as np
import pandas as pd
import pytest
import torch

import latentgeom as lg
from latentgeom.chapters import id_profiles as idp
from latentgeom.chapters import intrinsic_dimension as ida
from latentgeom.chapters.id_study import IDSettings, Run
from latentgeom.chapters.protocol import page_parameters
from latentgeom.units import Images, Profile, untrained


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


def test_claims_carry_their_thresholds_and_reasons():
    assert list(ida.CLAIMS) == ["id-1-hunchback", "id-2-pca-vs-twonn", "id-3-last-layer-vs-accuracy",
                                          "id-4-untrained-random-labels"]
    for claim in ida.CLAIMS.values():
        assert claim.thresholds and set(claim.reasons) == set(claim.thresholds), claim.id
        assert claim.page == ida.PAGES["intrinsic-dimension"].notebook
        assert claim.source and claim.paper and claim.paper_value
        assert list(claim.thresholds_table().index) == list(claim.thresholds)
    assert ida.HUNCHBACK.thresholds["share_min"] == ida.TRAINING.thresholds["share_min"] == 2 / 3
    assert any("memorised" in p for p in ida.TRAINING.preconditions)
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
# The plan: exactly the units the chapter's old work_units built


def old_work_units(preset: str) -> set:
    """The units the chapter's ``work_units(preset)`` built before the chapter protocol (a copy
    of its code and of the configuration code it called, with the public ``build_model`` for
    the network it built to name the last hidden layer)."""
    page = page_parameters("findings/intrinsic-dimension.md")
    names = {f.name for f in fields(IDSettings)}
    P = lg.get_preset(preset, dataset=page.get("dataset"),
                      architectures=None if page.get("architectures") is None else tuple(page["architectures"]),
                      widths=None if page.get("widths") is None else tuple(page["widths"]))
    S = ida.SETTINGS(preset, **{k: v for k, v in page.items() if k in names})
    for field_name in ("random_label_architecture", "twin_architecture"):
        if getattr(S, field_name) not in P.architectures:
            S = replace(S, **{field_name: P.architectures[0]})
    zoo = P.zoo()
    twin = next(i for i, c in enumerate(zoo) if c.model == S.twin_architecture and c.width == P.widths[0])
    rl_base = replace(P.config(S.random_label_architecture, max(P.widths)), epochs=S.random_label_epochs,
                      n_train=S.random_label_n_train, checkpoint_epochs=(), weight_decay=0.0, augment=False,
                      label_smoothing=0.0)
    seeds = range(S.training_seeds)
    configs = {t: [c if t == 0 or i != twin else replace(c, seed=t) for i, c in enumerate(zoo)] for t in seeds}
    pairs = {t: (replace(rl_base, random_labels=True, seed=t), replace(rl_base, seed=t)) for t in seeds}
    seed = page.get("seed", 0)
    runs = [(seed + k, 0) for k in range(S.n_seeds)] + [(seed, t) for t in range(1, S.training_seeds)]
    units = []
    for sample_seed, t in runs:
        kw = dict(id_resamples=S.n_resamples, seed=sample_seed, device=P.device)
        mixed = Images(P.dataset, n=S.n_mixed, seed=sample_seed)
        for config in configs[t]:
            for model, epoch in ((config, config.epochs), (untrained(config), 0)):
                for c in range(S.n_classes):
                    images = Images(P.dataset, per_class=S.n_per_class, classes=(c,), seed=sample_seed)
                    units.append(Profile.dimension(model, epoch, images, with_pca=c < S.pca_classes, **kw))
            info = lg.DATASETS[config.dataset]
            built = lg.build_model(config.model, num_classes=info.num_classes, in_channels=info.channels,
                                   image_size=info.image_size, width=config.width, depth=config.depth,
                                   seed=config.seed)
            last = idp.last_hidden_layer(built)
            for epoch in sorted({*config.checkpoint_epochs, config.epochs}):
                units.append(Profile.dimension(config, epoch, mixed, layers=[last], **kw))
            if (sample_seed, t) == runs[0] and config.width == P.widths[0]:
                units.append(Profile.dimension(config, config.epochs,
                                               Images(P.dataset, n=S.n_mixed_profile, seed=sample_seed),
                                               id_resamples=S.n_resamples, seed=sample_seed, device=P.device))
        rl_images = Images(P.dataset, n=min(S.n_mixed, S.random_label_n_train or S.n_mixed), seed=t)
        for config in pairs[t]:
            units.append(Profile.dimension(config, config.epochs, rl_images, **kw))
    return set(units)


@pytest.mark.parametrize("preset", ["tiny", "default"])
def test_the_pages_plan_is_the_old_work_units(preset):
    plan = ida.PAGES["intrinsic-dimension"].study(preset).plan()
    assert len(plan) == len(set(plan))  # no repeats
    assert set(plan) == old_work_units(preset)


def test_the_plan_covers_every_run_and_trains_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTGEOM_CACHE", str(tmp_path / "models"))
    study = ida.setup("tiny")
    plan = set(study.plan())
    for seeds in study.run_seeds:
        assert set(study.run_plan(*seeds).units()) <= plan
    assert set(study.mixed_units(*study.run_seeds[0])) <= plan
    assert not (tmp_path / "models").exists()
    assert {u.config for u in study.trainings()} == {u.config for u in plan}  # every measured network


# --------------------------------------------------------------------------------------------
# Checks of one run and verdicts over runs


def _run(values, untrained_values, rl_random, rl_true, sample_seed=0) -> Run:
    """A run of two architectures with the given class-averaged profiles and a random-label pair."""
    frames = []
    for state, vals in (("trained", values), ("untrained", untrained_values)):
        for name in ("a w8", "b w8"):
            frames.append(profile(vals).assign(state=state, label=name, pca_id=lambda f: 40 + f.id_mean))
    profiles = pd.concat(frames, ignore_index=True)
    last = pd.DataFrame(dict(model=["a", "a", "b", "b"], relative_depth=0.8, id_mean=[4.0, 6.0, 5.0, 8.0],
                             test_error=[0.1, 0.3, 0.2, 0.4]))
    rl = pd.concat([profile(rl_random).assign(labels="random"), profile(rl_true).assign(labels="true")])
    return Run(sample_seed, 0, profiles, profiles, last, rl, dict(random=0.95, true=1.0))


def test_evaluate_names_its_checks_as_the_result_files_do():
    run = _run([10, 30, 4], [10, 11, 10], [10, 8, 14], [10, 12, 6])
    ev = ida.evaluate(run)
    assert {k: list(e.checks) for k, e in ev.items()} == {
        "id-1-hunchback": ["ID rises (peak >= 1.2 x input) in >= 0.67 of trained models",
                           "ID falls (last hidden <= 0.5 x peak) in >= 0.67 of trained models",
                           "peak at an interior layer in >= 0.67 of trained models", "median peak depth <= 0.6"],
        "id-2-pca-vs-twonn": ["every hidden layer's width >= 10.0 x its ID",
                              "PC-ID much larger: median PC-ID / TwoNN >= 3.0",
                              "PC-ID nearly the same trained vs untrained (median change <= 30%)"],
        "id-3-last-layer-vs-accuracy": ["r(ID, error) > 0 with both 95 % bootstrap intervals above 0",
                                        "strong: Pearson r >= 0.6"],
        "id-4-untrained-random-labels": ["untrained profile flat (max/min <= 1.5) in >= 0.67 of models",
                                         "random labels memorised (train accuracy >= 0.9)",
                                         "random labels: last hidden ID >= 1.1 x the layer before",
                                         "random labels: last hidden ID >= 1.5 x true labels"],
    }
    assert ev["id-1-hunchback"].verdict == "reproduced"
    assert ev["id-4-untrained-random-labels"].verdict == "reproduced"
    assert ev["id-1-hunchback"].headline == dict(median_rise=3.0, median_fall=pytest.approx(4 / 30),
                                                 median_peak_depth=pytest.approx(1 / 3))


def _evaluation(verdict, pearson):
    return ida.Evaluation(checks={"c": verdict == "reproduced"}, verdict=verdict, headline={"pearson": pearson},
                          ours={})


def test_over_runs_combines_verdicts_and_spreads():
    runs = ["run a", "run b", "run c"]
    ids = list(ida.CLAIMS)
    same = {f: _evaluation("partly reproduced", 0.1) for f in ids}
    evaluations = [dict(same), dict(same), dict(same)]
    evaluations[2] = {**same, ids[2]: _evaluation("reproduced", 0.9)}
    evaluations[0] = {**same, ids[2]: _evaluation("reproduced", 0.7)}
    table = ida.over_runs(runs, evaluations)
    assert table.loc[ids[0], "verdict"] == "partly reproduced"
    assert table.loc[ids[0], "seeds"].agree == 3
    row = table.loc[ids[2]]
    assert row.verdict == "unstable across seeds"  # never "reproduced" when a run disagrees
    assert row.seeds.majority == "reproduced" and row.seeds.agree == 2
    assert row.spread_values == {"pearson": [0.1, 0.9]}
    with pytest.raises(ValueError, match="one evaluation per run"):
        ida.over_runs(runs, evaluations[:2])


def test_outcomes_one_per_claim():
    runs = [_run([10, 30, 4], [10, 11, 10], [10, 8, 14], [10, 12, 6], sample_seed=s) for s in (0, 1)]
    evaluations = [ida.evaluate(r) for r in runs]
    outcomes = ida.outcomes(runs, evaluations)
    assert [o.claim for o in outcomes] == list(ida.CLAIMS.values())
    for o in outcomes:
        assert o.checks == evaluations[0][o.claim.id].checks
        assert o.seeds["twonn"]["runs"] == 2 and o.verdict == o.seeds["twonn"]["verdict"]
        assert [r["run"] for r in o.ours["runs"]] == [r.name for r in runs]
        assert o.summary.startswith(o.verdict) and o.our_value
    assert outcomes[2].our_value.endswith("over 2 runs")
    table = ida.checks_table(runs, evaluations)
    assert list(table.columns) == [r.name for r in runs] and len(table) == 13
