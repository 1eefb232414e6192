"""The training ladder (lib/latentgeom/chapters/ladder.py): its set-up and plan, and the pure
functions of its direction test (lib/latentgeom/chapters/ladder_trends.py)."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

import latentgeom as lg
from latentgeom.chapters import ladder, ladder_trends
from latentgeom.chapters.id_profiles import last_hidden_layer
from latentgeom.chapters.id_study import SETTINGS as ID_SETTINGS
from latentgeom.chapters.protocol import page_parameters
from latentgeom.units import Images, Profile


def _stats(values, accuracy=(0.6, 0.7, 0.8, 0.9), families=("a", "b", "c"), column="final_ratio_paper"):
    rows = []
    for f in families:
        for epoch, (acc, v) in enumerate(zip(accuracy, values), start=1):
            rows.append({"model": f, "epoch": epoch, "test_accuracy": acc, column: v})
    return pd.DataFrame(rows)


def test_distance_is_zero_inside_and_in_decades_outside():
    d = ladder_trends.distance_to_paper([0.6, 6, 10, 19.6, 196, np.nan], 6, 19.6, log=True)
    np.testing.assert_allclose(d[:5], [1, 0, 0, 0, 1], atol=1e-12)
    assert math.isnan(d[5])
    np.testing.assert_allclose(ladder_trends.distance_to_paper([-1, 0, 0.9], -0.7, 0.7, log=False), [0.3, 0, 0.2])


def test_distance_is_invariant_to_a_common_scale_in_log_mode():
    x = np.array([0.5, 3.0, 40.0])
    a = ladder_trends.distance_to_paper(x, 1, 1, log=True)
    b = ladder_trends.distance_to_paper(x * 10, 10, 10, log=True)
    np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("args, match", [((0, 1), "positive range"), ((2, 1), "low must be <= high")])
def test_distance_rejects_bad_ranges(args, match):
    with pytest.raises(ValueError, match=match):
        ladder_trends.distance_to_paper([1.0], *args, log=True)


def test_distance_rejects_non_positive_values_in_log_mode():
    with pytest.raises(ValueError, match="positive values"):
        ladder_trends.distance_to_paper([1.0, -2.0], 1, 2, log=True)


def test_within_family_spearman_per_family_and_nan_when_undefined():
    frame = pd.DataFrame({"model": ["a"] * 4 + ["b"] * 4 + ["c"] * 2,
                          "test_accuracy": [0.1, 0.2, 0.3, 0.4] * 2 + [0.1, 0.2],
                          "s": [1, 2, 3, 4, 4, 3, 2, 1, 5, 6]})
    rho = ladder_trends.within_family_spearman(frame, "s")
    assert rho["a"] == pytest.approx(1) and rho["b"] == pytest.approx(-1) and math.isnan(rho["c"])
    with pytest.raises(ValueError, match="no column 'nope'"):
        ladder_trends.within_family_spearman(frame, "nope")


@pytest.mark.parametrize("rho, expected", [(-0.5, "toward"), (-0.9, "toward"), (0.5, "away"),
                                           (0.49, "no trend"), (-0.49, "no trend"), (math.nan, "no trend")])
def test_direction_label_thresholds(rho, expected):
    assert ladder_trends.direction_label(rho, 0.5) == expected


def test_direction_label_at_paper_and_bad_threshold():
    assert ladder_trends.direction_label(0.9, at_paper=True) == "at the paper's value"
    with pytest.raises(ValueError, match="threshold"):
        ladder_trends.direction_label(0.1, threshold=0)


def test_a_ratio_rising_into_the_paper_range_moves_toward_it():
    table = ladder_trends.directions(_stats([1.5, 2.0, 3.0, 5.0]))
    row = table.set_index("key").loc["final_ratio"]
    assert row["direction"] == "toward" and row["rho"] == pytest.approx(-1)
    assert row["first"] == pytest.approx(1.5) and row["last"] == pytest.approx(5.0)
    # distance to [6, 19.6] in decades: log10(6 / 1.5) -> log10(6 / 5), so 1 - log(1.2) / log(4) is closed
    assert row["closed"] == pytest.approx(1 - math.log10(1.2) / math.log10(4))


def test_a_ratio_falling_away_and_a_flat_one():
    away = ladder_trends.directions(_stats([5.0, 3.0, 2.0, 1.5])).set_index("key").loc["final_ratio"]
    assert away["direction"] == "away"
    inside = ladder_trends.directions(_stats([7.0, 8.0, 9.0, 7.5])).set_index("key").loc["final_ratio"]
    assert inside["direction"] == "at the paper's value"


def test_relations_use_the_papers_sign():
    up = _stats([1.0, 2.0, 3.0, 4.0], column="gap_paper").merge(
        _stats([20.0, 15.0, 10.0, 8.0], column="last_hidden_id"))
    table = ladder_trends.directions(up).set_index("key")
    assert table.loc["gap", "direction"] == "toward"          # the gap rises with accuracy
    assert table.loc["last_hidden_id", "direction"] == "toward"  # the last-hidden ID falls
    flipped = ladder_trends.directions(up.assign(gap_paper=up["gap_paper"][::-1].to_numpy())).set_index("key")
    assert flipped.loc["gap", "direction"] == "away"


def test_scale_free_columns_are_reading_only_and_checks_ignore_them():
    stats = _stats([1.5, 2.0, 3.0, 5.0]).merge(
        _stats([3.0, 2.0, 1.5, 1.0], column="final_ratio_scale_free_global_paper"))
    table = ladder_trends.directions(stats)
    reading = table[table["kind"] == "reading"]
    assert list(reading["mode"]) == ["scale_free_global_paper"] and reading["direction"].iloc[0] == "falls"
    checks = ladder_trends.checks(table, "paper")
    assert len(checks) == 1 and all(checks.values())
    with pytest.raises(ValueError, match="robust"):
        ladder_trends.checks(table, "robust")


def test_model_statistics_match_the_finding_page_definitions():
    from latentgeom.chapters.curvature_shapes import shape_metrics

    profile = pd.DataFrame({"layer": ["input", "c1", "c2", "pool", "logits"],
                            "relative_depth": [0, 0.25, 0.5, 0.75, 1.0],
                            "id_mean": [10.0, 20.0, 15.0, 8.0, 5.0],
                            "mapc_paper": [0.01, 0.1, 0.2, 0.05, 0.5],
                            "scale_free_local_paper": [1.0, 2.0, 2.0, 1.0, 3.0], "model": ["m"] * 5})
    id_profile = profile[["layer", "relative_depth", "id_mean"]]
    out = ladder_trends.model_statistics(profile, id_profile, 4.0, ["paper"])
    assert out["final_ratio_paper"] == pytest.approx(10) and out["gap_paper"] == pytest.approx(9)
    assert out["plateau_spread_paper"] == pytest.approx(shape_metrics(profile, "mapc_paper")["plateau_spread"])
    assert out["final_ratio_scale_free_local_paper"] == pytest.approx(3)
    # ID vs MAPC over latent layers: (20, .1), (15, .2), (8, .05), (5, .5) -> ranks give rho = -0.4
    assert out["id_mapc_rho_paper"] == pytest.approx(-0.4)
    assert out["id_rise"] == pytest.approx(2) and out["id_fall"] == pytest.approx(8 / 20)
    assert out["last_hidden_id"] == 4.0


PAGE = ladder.PAGES["training-ladder"]


def former_work_units(preset: str) -> list:
    """The units the chapter's former ``work_units(preset)`` listed for the sweep, built the way it
    built them (the page's parameters read from the page, the settings of the preset, the last
    hidden layer read off a freshly built network): the page's plan must be exactly these."""
    values = page_parameters(PAGE.path)
    settings = ladder.SETTINGS(preset, **{k: v for k, v in values.items()
                                          if k in ladder.LadderSettings.__dataclass_fields__})
    P = lg.get_preset(preset, n_points=settings.n_points)
    S = ID_SETTINGS(preset, n_classes=settings.id_classes)
    seed = values.get("seed", 0)
    geometry = P.geometry(modes=settings.modes, seed=seed)
    kw = dict(id_resamples=S.n_resamples, seed=seed, device=P.device)
    images, mixed = Images(P.dataset, n=P.n_points, seed=seed), Images(P.dataset, n=S.n_mixed, seed=seed)
    by_class = [Images(P.dataset, per_class=S.n_per_class, classes=(k,), seed=seed) for k in range(S.n_classes)]
    units = []
    for architecture in P.architectures:
        config = P.config(architecture, min(P.widths) if settings.width is None else settings.width,
                          n_train=settings.n_train, epochs=max(settings.epochs), checkpoint_epochs=settings.epochs)
        info = lg.DATASETS[config.dataset]
        with torch.random.fork_rng(devices=[]):
            network = lg.build_model(config.model, num_classes=info.num_classes, in_channels=info.channels,
                                     image_size=info.image_size, width=config.width, depth=config.depth,
                                     seed=config.seed)
        last = last_hidden_layer(network)
        for epoch in sorted({*config.checkpoint_epochs, config.epochs}):
            units.append(Profile.curvature(config, epoch, images, geometry))
            units += [Profile.dimension(config, epoch, one, with_pca=False, **kw) for one in by_class]
            units.append(Profile.dimension(config, epoch, mixed, layers=[last], **kw))
    return units


@pytest.mark.parametrize("preset", ["tiny", "default", "paper"])
def test_the_pages_plan_is_the_former_work_units(preset):
    plan = PAGE.study(preset=preset).plan()
    assert plan == former_work_units(preset)
    assert len(set(plan)) == len(plan)


def test_the_plan_has_every_checkpoints_units():
    study = ladder.setup("tiny", epochs=[1, 2, 3], modes=["paper", "robust"])
    points = study.checkpoints()
    assert [(p.config.model, p.epoch) for p in points] == [(a, e) for a in study.preset.architectures
                                                          for e in (1, 2, 3)]
    assert len(study.plan()) == len(points) * (2 + study.id_settings.n_classes)
    assert all(p.curvature.geometry.modes == ("paper", "robust") for p in points)
    assert all(dict(p.last_hidden.options)["layers"] == (lg.chapters.id_profiles.last_hidden_layer_of(p.config),)
               for p in points)


def test_the_page_declares_its_parameters_and_its_defaults_pass():
    defaults = PAGE.defaults()
    assert set(defaults) == set(PAGE.parameters) == {"preset", "epochs", "n_train", "width", "n_points", "modes",
                                                     "seed"}
    assert PAGE.check(defaults) == defaults and PAGE.claims == ("training-ladder",)


@pytest.mark.parametrize("overrides, name, match", [
    (dict(epochs=[1, 2]), "epochs", "at least 3 distinct"), (dict(epochs=[2, 2, 1]), "epochs", "at least 3"),
    (dict(epochs=4), "epochs", "list of integers"), (dict(epochs=[0, 1, 2]), "epochs", ">= 1"),
    (dict(modes=["nope"]), "modes", "paper"), (dict(modes="paper"), "modes", "list of names"),
    (dict(width=0), "width", ">= 1"), (dict(seed=-1), "seed", ">= 0"), (dict(n_train=3), "n_train", ">= 10"),
    (dict(n_points=2.5), "n_points", "integer"), (dict(preset="huge"), "preset", "tiny"),
])
def test_setup_rejects_a_bad_parameter_naming_it(overrides, name, match):
    with pytest.raises(ValueError, match=rf"^{name} ") as error:
        ladder.setup(**{"preset": "tiny", **overrides})
    assert match in str(error.value)


def test_unknown_parameters_and_settings_are_refused():
    with pytest.raises(ValueError, match="unknown parameter.*bogus"):
        PAGE.check({"bogus": 1})
    with pytest.raises(ValueError, match="unknown ladder setting"):
        ladder.SETTINGS("tiny", bogus=1)


def test_setup_builds_one_config_per_family_with_the_ladder():
    study = ladder.setup("tiny", epochs=[4, 1, 2, 2])
    assert study.settings.epochs == (1, 2, 4)
    assert [c.model for c in study.configs] == list(study.preset.architectures)
    assert all(c.epochs == 4 and c.checkpoint_epochs == (1, 2, 4) for c in study.configs)
    assert study.geometry.modes == ("paper",) and "tiny" in repr(study)
    assert study.parameters["ladder"]["epochs"] == (1, 2, 4) and study.parameters["name"] == "tiny"
    assert set(study.parameters) >= {"ladder", "id", "seed", "dataset", "n_points"}


def test_the_claim_holds_the_threshold_and_the_papers_values():
    claim = ladder.LADDER
    assert claim.id == "training-ladder" and claim.page == "book/findings/training-ladder.md"
    assert claim.thresholds == {"direction_rho": 0.5} and "Cohen" in claim.reasons["direction_rho"]
    assert set(claim.paper) == {h.key for h in ladder_trends.HEADLINES}
    assert list(claim.thresholds_table().index) == ["direction_rho"]


def test_the_outcome_sums_up_the_checks_under_every_mode(tmp_path, monkeypatch):
    study = ladder.setup("tiny", modes=["paper", "robust"])
    stats = _stats([1.5, 2.0, 3.0, 5.0]).merge(_stats([5.0, 3.0, 2.0, 1.5], column="final_ratio_robust"))
    table = study.directions(stats)
    checks = study.checks_by_mode(table)
    outcome = study.outcome(ladder.Measurements(stats, pd.DataFrame(), pd.DataFrame()), table, checks)
    assert outcome.claim is ladder.LADDER and outcome.checks == checks["paper"]
    assert outcome.verdict == "reproduced" and outcome.modes == {"paper": "reproduced", "robust": "not reproduced"}
    assert outcome.ours["directions"]["final_ratio/robust"]["direction"] == "away"
    assert set(outcome.ours) == {"directions", "checkpoints", "pooled_correlations", "timings"}
    assert outcome.our_value == "final_ratio: toward (rho -1.00)" and outcome.summary.startswith("reproduced: 1 of 1")
    monkeypatch.setenv("LATENTGEOM_RESULTS", str(tmp_path))
    [written] = study.record([outcome])
    assert written.finding_id == "training-ladder" and written.paper["source"] == ladder.LADDER.source
    assert (tmp_path / "findings" / "training-ladder.json").is_file()


def test_direction_threshold_comes_from_the_claim(monkeypatch):
    study = ladder.setup("tiny")
    stats = _stats([1.5, 2.0, 1.8, 2.1])  # within-family rho of the distance -0.8
    assert study.directions(stats).set_index("key").loc["final_ratio", "direction"] == "toward"
    monkeypatch.setitem(ladder.LADDER.thresholds, "direction_rho", 0.9)
    assert study.directions(stats).set_index("key").loc["final_ratio", "direction"] == "no trend"


def test_headline_columns_are_the_measured_ones_under_a_mode():
    stats = _stats([1.5, 2.0, 3.0, 5.0]).merge(_stats([20.0, 15.0, 10.0, 8.0], column="last_hidden_id"))
    assert [(h.key, c) for h, c in ladder_trends.headline_columns(stats, "paper")] == [
        ("final_ratio", "final_ratio_paper"), ("last_hidden_id", "last_hidden_id")]
    assert [c for _, c in ladder_trends.headline_columns(stats, "robust")] == ["last_hidden_id"]


def test_every_headline_has_a_valid_range():
    for h in ladder_trends.HEADLINES:
        assert h.low <= h.high and h.kind in ("level", "relation")
        assert h.kind == "level" or h.sign in (-1, 1)
    assert len(ladder_trends.headline_table()) == len(ladder_trends.HEADLINES)


def test_reference_chart_draws_the_reference_rules():
    frame = _stats([1.5, 2.0, 3.0, 5.0])
    spec = lg.plots.reference_chart(frame, "test_accuracy", "final_ratio_paper", reference=(6, 19.6),
                                    color="model", order="epoch", log=True, title="t").to_dict()
    rules = [layer for layer in spec["layer"] if layer["mark"].get("type", layer["mark"]) == "rule"]
    assert len(rules) == 1 and spec["width"] >= 300


def test_relation_correlations_are_pooled_bootstrap_correlations():
    stats = _stats([1.0, 2.0, 3.0, 4.0], column="gap_paper").merge(
        _stats([20.0, 15.0, 10.0, 8.0], column="last_hidden_id"))
    stats["gap_paper"] += np.arange(len(stats)) * 0.01  # break ties between families
    table = ladder_trends.relation_correlations(stats, n_boot=200).set_index("mode")
    assert list(table.index) == ["paper", "—"] and list(table["paper_sign"]) == ["+", "-"]
    ref = lg.bootstrap_correlation(stats["gap_paper"], stats["test_accuracy"], n_boot=200)
    assert table.loc["paper", "pearson"] == pytest.approx(ref.pearson)
    assert table.loc["paper", "spearman_low"] == pytest.approx(ref.spearman_ci[0])
    assert table.loc["—", "spearman"] < -0.9
