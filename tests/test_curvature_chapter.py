"""Unit tests of the curvature chapter (latentgeom.chapters.curvature, its claims and profile shapes)
on synthetic profiles (no training, milliseconds)."""
import math

import numpy as np
import pandas as pd
import pytest

import latentgeom as lg
from latentgeom.chapters import curvature, curvature_claims, curvature_runs
from latentgeom.chapters import curvature_shapes as shapes
from latentgeom.chapters.presets import label


def _profile(values, model="m", width=8, epoch=4, acc=0.9, robust_scale=2.0, ids=None, seed=0, measurable=True,
             **columns):
    depth = np.linspace(0, 1, len(values))
    values = np.asarray(values, dtype=float)
    frame = pd.DataFrame(dict(
        model=model, width=width, epoch=epoch, test_accuracy=acc,
        layer=[f"l{i}" for i in range(len(values))], relative_depth=depth,
        id_mean=np.arange(len(values)) + 1.0 if ids is None else np.asarray(ids, dtype=float),
    ))
    for mode, scale in (("paper", 1.0), ("robust", robust_scale)):
        frame[f"d_{mode}"] = 2
        frame[f"K_{mode}"] = 8
        frame[f"mapc_{mode}"] = values * scale
        frame[f"mapc_se_{mode}"] = values * scale * 0.02  # +-4 % intervals from resampling points
        frame[f"max_abs_{mode}"] = values * scale * 3
        frame[f"carrying_{mode}"] = values * scale * 2
        frame[f"dirs_{mode}"] = 6.0
        frame[f"resolved_{mode}"] = 1.0 if mode == "robust" else np.nan
        frame[f"measurable_{mode}"] = measurable
    frame["rms_radius"] = 1.0 / (1.0 + np.arange(len(values)))  # activations shrinking with depth
    frame["scale_free_paper"] = frame["mapc_paper"] * frame["rms_radius"]
    frame.insert(0, "label", f"{model} w{width}")
    frame["network"] = f"{model} w{width}, training seed {seed}"
    frame["training_seed"] = seed
    for key, value in columns.items():
        frame[key] = value
    return frame


PAPER_LIKE = [0.01, 0.1, 0.12, 0.09, 0.11, 2.0]   # rise, plateau, final jump


def test_shape_metrics_of_a_paper_like_profile():
    m = shapes.shape_metrics(_profile(PAPER_LIKE), "mapc_paper")
    assert m["rise"] == pytest.approx(np.median([0.1, 0.12, 0.09, 0.11]) / 0.01)
    assert m["plateau_spread"] == pytest.approx(0.12 / 0.09)
    assert m["final_ratio"] == pytest.approx(2.0 / 0.11)
    assert m["final_vs_plateau"] == pytest.approx(2.0 / 0.12)
    assert m["depth_trend"] == pytest.approx(0.11 / 0.1)


def test_segments_sort_by_depth_and_reject_short_profiles():
    frame = _profile(PAPER_LIKE).iloc[::-1]
    s = shapes.segments(frame, "mapc_paper")
    assert s["input"] == 0.01 and s["last"] == 2.0 and s["layers"][0] == "l0"
    with pytest.raises(ValueError, match="at least 4 layers"):
        shapes.segments(_profile([1, 2, 3]), "mapc_paper")
    with pytest.raises(ValueError, match="no column"):
        shapes.segments(_profile(PAPER_LIKE), "mapc_nope")


def test_zero_denominator_gives_nan_not_inf():
    m = shapes.shape_metrics(_profile([0.0, 0.1, 0.1, 0.0, 1.0]), "mapc_paper")
    assert math.isnan(m["rise"]) and math.isnan(m["final_ratio"])


def test_tidy_long_form_has_one_row_per_layer_and_mode():
    wide = pd.concat([_profile(PAPER_LIKE, model="a"), _profile(PAPER_LIKE, model="b")], ignore_index=True)
    long = shapes.tidy(wide)
    assert len(long) == 2 * len(wide)
    assert set(long["mode"]) == {"paper", "robust"}
    assert {"mapc", "max_abs", "carrying", "d", "K", "label", "id_mean"} <= set(long.columns)
    assert not any(c.endswith(("_paper", "_robust")) for c in long.columns)
    robust = long[long["mode"] == "robust"]["mapc"].to_numpy()
    assert np.allclose(robust, wide["mapc_robust"].to_numpy())
    with pytest.raises(ValueError):
        shapes.tidy(wide.drop(columns=["mapc_paper", "mapc_robust"]))
    # A robust layer that is not measurable has no number to draw; paper keeps its (reported) value.
    flagged = wide.assign(measurable_robust=[i % 2 == 0 for i in range(len(wide))], measurable_paper=False)
    long = shapes.tidy(flagged)
    robust, paper = long[long["mode"] == "robust"], long[long["mode"] == "paper"]
    assert robust["mapc"].isna().tolist() == [i % 2 == 1 for i in range(len(wide))]
    assert robust.loc[robust["mapc"].isna(), ["max_abs", "carrying"]].isna().all().all()
    assert np.allclose(paper["mapc"], wide["mapc_paper"])


def test_shape_table_and_gap_table_one_row_per_model():
    wide = pd.concat([_profile(PAPER_LIKE, model="a"), _profile([1, 1, 1, 1, 1, 1], model="b")], ignore_index=True)
    table = shapes.shape_table(wide, "mapc_paper")
    assert list(table["label"]) == ["a w8", "b w8"]
    assert table.loc[1, "plateau_spread"] == pytest.approx(1.0)
    gaps = shapes.gap_table(wide)
    assert gaps.loc[0, "gap_paper"] == pytest.approx((2.0 - 0.11) / 0.11)
    assert gaps.loc[0, "raw_gap_robust"] == pytest.approx(2 * (2.0 - 0.11))
    assert gaps.loc[1, "ratio_paper"] == pytest.approx(1.0)
    assert {"model", "width", "epoch", "test_accuracy"} <= set(gaps.columns)


def test_parameter_checks():
    lg.validation.check_choice("tiny", "preset", ["tiny", "default"])
    with pytest.raises(ValueError, match="preset must be one of"):
        lg.validation.check_choice("nope", "preset", ["tiny", "default"])
    lg.validation.check_int(0, "seed", minimum=0)
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="seed must be an integer"):
            lg.validation.check_int(bad, "seed", minimum=0)


def test_label_marks_checkpoints():
    class C:
        model, width, epochs = "vgg_small", 16, 4
    assert label(C()) == "vgg_small w16"
    assert label(C(), 4) == "vgg_small w16"
    assert label(C(), 1) == "vgg_small w16 @ep1"


def test_profile_models_labels_and_columns():
    class Cfg:
        model, width, epochs = "plain_cnn", 8, 4

    class Trained:
        config, epoch = Cfg(), 2

    calls = []

    def fake_profile(trained, images, geometry, progress=True):
        calls.append(progress)
        return _profile(PAPER_LIKE).drop(columns=["label"])

    out = shapes.profile_models([Trained(), Trained()], None, None, profile_fn=fake_profile, state="trained")
    assert list(out["label"].unique()) == ["plain_cnn w8 @ep2"]
    assert (out["state"] == "trained").all() and calls == [False, False]
    with pytest.raises(ValueError, match="labels"):
        shapes.profile_models([Trained()], None, None, labels=["a", "b"], profile_fn=fake_profile)


def test_gap_table_on_any_instrument_column():
    wide = _profile(PAPER_LIKE)
    gaps = shapes.gap_table(wide, columns=curvature.INSTRUMENTS)
    radius = wide["rms_radius"].to_numpy()
    expected = (2.0 * radius[-1]) / (0.11 * radius[-2])
    assert gaps.loc[0, "ratio_scale-free"] == pytest.approx(expected)
    assert gaps.loc[0, "gap_paper"] == pytest.approx((2.0 - 0.11) / 0.11)


def test_setup_runs_and_bad_input(capsys):
    study = curvature.setup("curvature-1-profile-shape", "tiny", seed=5, n_seeds=3)
    assert "tiny" in capsys.readouterr().out
    # each run on an image sample of its own; the last one re-seeds every model
    assert [(r.sample_seed, r.train_seed) for r in study.runs] == [(5, 0), (6, 0), (7, 0), (8, 1)]
    assert study.preset.n_points == 40  # the preset's points in every run: more runs, never fewer points
    assert curvature.setup("curvature-1-profile-shape", "default").n_seeds == 1  # 1 + 1 runs of 300 points
    assert curvature.setup("curvature-1-profile-shape", "default").preset.n_points >= 300
    recipes = curvature.setup("curvature-5-mixup", "tiny", n_points=50, n_seeds=2)
    assert recipes.preset.n_points == 50
    with pytest.raises(ValueError, match="page must be one of"):
        curvature.setup("curvature-9", "tiny")
    with pytest.raises(ValueError, match="n_seeds must be an integer"):
        curvature.setup("curvature-1-profile-shape", "tiny", n_seeds=0)
    with pytest.raises(ValueError, match="width must be one of"):
        curvature.setup("curvature-1-profile-shape", "tiny", width=99)


@pytest.mark.parametrize("page", list(curvature.PAGES))
def test_plan_reseeds_every_model_and_samples_per_run(page):
    """A training-seed run re-seeds every model of the page (not one) and every run draws its own
    image sample (and estimator seed)."""
    study = curvature.setup(page, "tiny", n_seeds=2)
    units = study.plan()
    assert len(units) == len(set(units))
    first, last = study.runs[0], study.runs[-1]
    for run in study.runs:
        assert set(study.units(run)) <= set(units)
        assert {u.images.seed for u in study.units(run)} == {run.sample_seed} == {u.geometry.seed
                                                                                 for u in study.units(run)}
    assert len({r.sample_seed for r in study.runs}) == len(study.runs)
    assert {u.config.seed for u in study.units(last)} == {last.train_seed} != {first.train_seed}
    assert len(study.units(last)) == len(study.units(first))  # every model, not one
    trained = {(u.config.model, u.config.width, u.config.mixup_alpha) for u in study.units(last)}
    assert trained == {(c.model, c.width, c.mixup_alpha) for c in study.models}


@pytest.mark.parametrize("bad, message", [
    (dict(n_point=1000), r"unknown parameter\(s\) .* \['n_point'\]; accepted: .*'n_points'"),
    (dict(q="abc"), "q must be an integer >= 1, or None"),
    (dict(n_points=-5), "n_points must be an integer >= 40"),
    (dict(n_boot=5), "unknown parameter"),  # page 1 has no bootstrap
    (dict(seed=1.5), "seed must be an integer >= 0"),
])
def test_page_parameters_are_checked_with_one_clear_error(bad, message):
    with pytest.raises(ValueError, match=message):
        curvature.setup("curvature-1-profile-shape", "tiny", **bad)


def test_every_page_declares_what_its_setup_checks():
    """The parameters cell of each page names exactly the parameters its Page accepts, and
    its defaults pass the checks."""
    for name, page in curvature.PAGES.items():
        defaults = page.defaults()
        assert set(defaults) == set(page.parameters), name
        page.check(defaults)


def test_plan_measures_the_untrained_control_on_pages_1_and_2():
    for page in ("curvature-1-profile-shape", "curvature-2-untrained"):
        study = curvature.setup(page, "tiny", n_seeds=2)
        own = [u for run in study.runs for u in study.units(run)]  # the plan less the ladder's units
        assert {u.epoch for u in own} == {0, study.preset.train["epochs"]}
        assert set(own) <= set(study.plan())


def _fake_runs(study, monkeypatch, frames):
    """Make study.measure_run return the given frames, one per run, in order."""
    frames = iter(frames)
    monkeypatch.setattr(curvature.CurvatureStudy, "measure_run", lambda self, run: next(frames))


def _shape_run(jump, control=0.1, **kw):
    trained = _profile([0.01, 0.1, 0.1, 0.1, 0.1, jump], state="trained", **kw)
    initial = _profile([0.01, control, control, control, control, 0.1], epoch=0, state="untrained", **kw)
    return pd.concat([trained, initial], ignore_index=True)


def test_over_seeds_verdicts_spread_and_record(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LATENTGEOM_RESULTS", str(tmp_path))
    study = curvature.setup("curvature-1-profile-shape", "tiny", n_seeds=3)
    # the third run loses the final jump; the untrained rise is flat (the control holds)
    _fake_runs(study, monkeypatch, [_shape_run(j, control=0.01) for j in (2.0, 2.0, 0.15, 2.0)])
    runs = study.over_seeds()
    assert runs.agreement["paper"].verdict == lg.reporting.findings.UNSTABLE
    assert runs.agreement["paper"].agree == 3 and runs.agreement["paper"].runs == 4
    assert runs.spread["min last/penultimate (paper)"] == pytest.approx([1.5, 20.0])
    assert runs.verdict_table().shape == (3, 5)
    [finding] = study.record([study.outcome(runs)])
    assert finding.verdict == lg.reporting.findings.UNSTABLE == finding.estimator_modes["scale-free"]
    assert set(finding.seeds) == set(curvature.INSTRUMENTS) and "over 4 runs" in finding.our_value
    assert finding.ours["test_accuracy"] and finding.ours["measurability"] and finding.ours["precision"]
    stored = lg.load_findings(tmp_path / "findings").iloc[0]
    assert stored["spread"]["min last/penultimate (paper)"] == pytest.approx([1.5, 20.0])
    assert "unstable" in capsys.readouterr().out


def test_rise_control_fails_when_the_untrained_rise_equals_the_trained_one(monkeypatch):
    """Curvature 1's steep rise passes by construction if the untrained network rises as much:
    the control must fail then, and pass when the untrained network stays flat."""
    study = curvature.setup("curvature-1-profile-shape", "tiny", n_seeds=1)
    checks = curvature_claims.checks_of(study, _shape_run(2.0, control=0.1), "mapc_paper")
    rise, control = [k for k in checks if k.startswith("steep rise")][0], [k for k in checks if "control" in k][0]
    assert checks[rise] is True and checks[control] is False
    assert curvature_claims.rise_over_untrained(_shape_run(2.0, control=0.1), "mapc_paper").tolist() == [1.0]
    flat = curvature_claims.checks_of(study, _shape_run(2.0, control=0.01), "mapc_paper")
    assert flat[control] is True
    _fake_runs(study, monkeypatch, [_shape_run(2.0, control=0.1)] * 2)
    assert study.over_seeds().agreement["paper"].verdict == "partly reproduced"


def test_unmeasurable_deciding_layer_makes_robust_not_testable(monkeypatch):
    """Under the robust instrument a deciding layer it cannot measure is a failed precondition
    (not testable, never a passing check); the paper instrument reports the share instead."""
    study = curvature.setup("curvature-1-profile-shape", "tiny", n_seeds=1)
    frame = _shape_run(2.0, control=0.01)
    frame.loc[2, "measurable_robust"] = frame.loc[2, "measurable_paper"] = False
    assert curvature_claims.preconditions(study, frame, "mapc_paper") == {}
    [(name, ok)] = curvature_claims.preconditions(study, frame, "mapc_robust").items()
    assert ok is False and "measurable" in name
    assert curvature_claims.unmeasurable_share(study, frame, "scale_free_paper") == pytest.approx(1 / 12)
    _fake_runs(study, monkeypatch, [frame] * 2)
    runs = study.over_seeds()
    assert runs.agreement["robust"].verdict == lg.reporting.findings.NOT_TESTABLE
    assert runs.agreement["paper"].verdict == "reproduced"
    outcome = study.outcome(runs)
    assert "Not testable under robust: precondition failed" in outcome.summary
    assert outcome.ours["preconditions"] == {f"robust: {name}": False}  # paper and scale-free: none
    table = runs.checks_table()
    assert table.loc[f"precondition: {name}", "robust"] is False or table.loc[f"precondition: {name}", "robust"] == 0


def _zoo_runs(n_networks, runs_per_network=1, gap=None, ids=None):
    """Pooled-run frames of ``n_networks`` final networks (one architecture each), each measured on
    ``runs_per_network`` samples: accuracy rises with the network index, the gap with ``gap(i)``."""
    frames = []
    for r in range(runs_per_network):
        parts = []
        for i in range(n_networks):
            last = 0.1 * (1 + (gap(i) if gap else i))
            values = [0.01, 0.1 + 0.01 * ((i * 7 + r) % 5), 0.1, 0.1 + 0.003 * ((i * 3 + r) % 4), 0.1, last]
            parts.append(_profile(values, model=f"m{i}", acc=0.5 + 0.02 * i, ids=ids(i, r) if ids else None,
                                  stage="final"))
        frames.append(pd.concat(parts, ignore_index=True))
    return frames


def test_pooled_correlation_needs_eight_networks_and_decides_once(monkeypatch):
    study = curvature.setup("curvature-3-gap-accuracy", "tiny", n_seeds=1, n_boot=200)
    few = pd.concat([f.assign(run=str(r)) for r, f in enumerate(_zoo_runs(7, 2))], ignore_index=True)
    assert set(curvature_claims.checks_of(study, few, "mapc_paper").values()) == {None}  # 7 networks
    corr, final, trend = curvature_claims.gap_vs_accuracy(study, few, "mapc_paper")
    assert corr is None and final["network"].nunique() == 7 and len(final) == 14
    _fake_runs(study, monkeypatch, _zoo_runs(10, 2))  # two runs of the same 10 networks
    runs = study.over_seeds()
    assert runs.decisions == ["all runs, pooled"] and runs.agreement["paper"].runs == 1
    assert runs.agreement["paper"].verdict == "reproduced"  # gap and accuracy both rise with i
    outcome = study.outcome(runs)
    assert outcome.ours["networks"] == 10 and outcome.ours["correlation"]["units"] == 10
    assert outcome.ours["correlation"]["n"] == 20 and outcome.ours["trend"]


def test_cluster_bootstrap_by_network_is_wider_than_points(monkeypatch):
    """Points that share a network are one unit: duplicating every network's point (two samples
    of it) must not narrow the interval as if they were independent."""
    study = curvature.setup("curvature-3-gap-accuracy", "tiny", n_seeds=1, n_boot=400)
    rng = np.random.default_rng(1)
    noise = rng.normal(size=10)
    frames = _zoo_runs(10, 2, gap=lambda i: 5 + i * 0.3 + 3 * noise[i])
    pooled = pd.concat([f.assign(run=str(r)) for r, f in enumerate(frames)], ignore_index=True)
    corr, final, _ = curvature_claims.gap_vs_accuracy(study, pooled, "mapc_paper")
    naive = lg.reporting.statistics.bootstrap_correlation(final["gap_x"], final["test_accuracy"], n_boot=400)
    assert np.diff(corr.spearman_ci)[0] > np.diff(naive.spearman_ci)[0]


def test_id_equivalence_reproduced_refuted_or_not_testable():
    study = curvature.setup("curvature-4-id-vs-curvature", "tiny", n_seeds=1, n_boot=300)
    pooled = lambda frames: pd.concat([f.assign(run=str(r)) for r, f in enumerate(frames)], ignore_index=True)
    rng = np.random.default_rng(0)
    # ID tracks curvature exactly (both rise with depth): the interval lies outside +-0.7: refuted
    tracking = pooled([pd.concat([_profile([0.01, 0.1, 0.2, 0.4, 0.8, 1.6 + i], model=f"m{i}",
                                           ids=[1, 2, 3, 4, 5, 6 + i], stage="final") for i in range(10)])])
    r = curvature_claims.id_vs_curvature(study, tracking, "mapc_paper")
    assert r["within"] == r["pooled"] == "not equivalent" and r["within_rho"] == pytest.approx(1)
    checks = curvature_claims.checks_of(study, tracking, "mapc_paper")
    assert list(checks.values()) == [False, False]
    # ID unrelated to curvature, many networks: equivalent (reproduced)
    unrelated = pooled(_zoo_runs(60, 1, ids=lambda i, r: rng.uniform(1, 10, size=6)))
    r = curvature_claims.id_vs_curvature(study, unrelated, "mapc_paper")
    assert r["pooled"] == "equivalent" and abs(r["pooled_rho"]) < 0.7
    # too few networks for the interval: undecided -> None, with the networks needed
    small = pooled(_zoo_runs(8, 1, ids=lambda i, r: rng.uniform(1, 10, size=6)))
    r = curvature_claims.id_vs_curvature(study, small, "mapc_paper")
    if r["within"] == "undecided":
        assert r["within_needed"] is None or r["within_needed"] > 8
    checks = curvature_claims.checks_of(study, small, "mapc_paper")
    assert all(v in (True, False, None) for v in checks.values())
    # fewer than 8 networks, or a NaN rho (constant ID in a network): undecided, never a pass
    seven = pooled(_zoo_runs(7, 1, ids=lambda i, r: rng.uniform(1, 10, size=6)))
    assert set(curvature_claims.checks_of(study, seven, "mapc_paper").values()) == {None}
    constant = pooled(_zoo_runs(10, 1, ids=lambda i, r: [1, 3, 3, 3, 3, 3] if i == 0 else rng.uniform(1, 10, 6)))
    assert list(curvature_claims.checks_of(study, constant, "mapc_paper").values())[1] is None


def test_wide_equivalence_interval_is_not_testable_with_networks_needed():
    wide = lg.reporting.statistics.equivalence((-0.5, 0.8), 0.7)
    assert wide == "undecided" and curvature_claims._decided(wide) is None
    assert lg.reporting.findings.verdict({"not indicative": None}) == lg.reporting.findings.NOT_TESTABLE
    assert lg.reporting.statistics.units_needed(10, (-0.5, 0.8), 0.7, 0.15) > 10


def test_precision_table_and_recipe_changes():
    # Standard errors from resampling points: relative half-widths 1.96 x se / mapc.
    a, b, c = _profile([1, 1, 1, 1]), _profile([1, 2, 1, 1]), _profile([9, 9, 9, 9], seed=1)
    a["mapc_se_paper"] = [0.01, 0.05, 0.2, 0.01]
    b["mapc_se_paper"] = [0.01, 0.05, 0.2, 0.5]
    c["mapc_se_paper"] = 9.0  # another network (training seed 1): not in the table
    runs = curvature.SeedRuns([curvature.Run(0, 0), curvature.Run(1, 0), curvature.Run(2, 1)],
                              {"a": a, "b": b, "c": c}, [], {}, {}, None, {}, {})
    runs.runs = [type("R", (), dict(name=n, train_seed=t))() for n, t in (("a", 0), ("b", 0), ("c", 1))]
    table = curvature_runs.precision_table(runs, {"paper": "mapc_paper", "scale-free": "scale_free_paper"}, 100)
    assert table["samples"].tolist() == [2, 2, 2, 2]  # the training-seed run is another network
    half = 1.96 * np.array([0.01, (0.05 + 0.025) / 2, 0.2, (0.01 + 0.5) / 2])
    assert np.allclose(table["half_width_paper"], half)
    assert table["precise_paper"].tolist() == [True, True, False, False]
    assert table["needed_paper"].tolist() == np.ceil(np.maximum(100 * (half / 0.1) ** 2, 100)).tolist()
    assert np.allclose(table["half_width_scale-free"], half)  # its length scale is one number per layer
    # The control: the spread over the samples (layer 2: 1 and 2, sd 0.707, mean 1.5).
    assert np.allclose(table["across_paper"], [0.0, 1.96 * np.std([1, 2], ddof=1) / 1.5, 0.0, 0.0])
    # The page says how many layers the control finds wider, or that one sample has no control.
    assert "wider than that interval in 25% of the layers" in curvature_runs.across_control(table)
    single = curvature_runs.precision_table(runs, {"paper": "mapc_paper"}, 100).iloc[[0]].assign(samples=1)
    assert "needs two samples of one training seed; this run has 1" in curvature_runs.across_control(single)
    # The profile's standard error is that of the per-point values' mean.
    assert lg.profiles.standard_error([1.0, 3.0, np.nan]) == pytest.approx(np.std([1, 3], ddof=1) / np.sqrt(2))
    assert np.isnan(lg.profiles.standard_error([1.0]))
    recipes = curvature.setup("curvature-5-mixup", "tiny", n_seeds=1).preset.recipes()
    changes = curvature_runs.recipe_changes(recipes)
    assert changes["baseline"] == "nothing" and changes["mixup"] == "mixup_alpha 0.0 -> 1.0"
    assert changes["no regularisers"] == "weight_decay 0.0005 -> 0.0"  # augmentation and smoothing are off anyway
