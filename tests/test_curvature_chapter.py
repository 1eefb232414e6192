"""Unit tests of the curvature chapter (latentgeom.chapters.curvature, its claims and profile shapes)
on synthetic profiles (no training, milliseconds)."""
import math

import numpy as np
import pandas as pd
import pytest

import latentgeom as lg
from latentgeom.chapters import curvature, curvature_claims
from latentgeom.chapters import curvature_shapes as shapes
from latentgeom.chapters.presets import label


def _profile(values, model="m", width=8, epoch=4, acc=0.9, robust_scale=2.0):
    depth = np.linspace(0, 1, len(values))
    values = np.asarray(values, dtype=float)
    frame = pd.DataFrame(dict(
        model=model, width=width, epoch=epoch, test_accuracy=acc,
        layer=[f"l{i}" for i in range(len(values))], relative_depth=depth, id_mean=np.arange(len(values)) + 1.0,
    ))
    for mode, scale in (("paper", 1.0), ("robust", robust_scale)):
        frame[f"d_{mode}"] = 2
        frame[f"K_{mode}"] = 8
        frame[f"mapc_{mode}"] = values * scale
        frame[f"max_abs_{mode}"] = values * scale * 3
        frame[f"carrying_{mode}"] = values * scale * 2
    frame["rms_radius"] = 1.0 / (1.0 + np.arange(len(values)))  # activations shrinking with depth
    frame["scale_free_paper"] = frame["mapc_paper"] * frame["rms_radius"]
    frame.insert(0, "label", f"{model} w{width}")
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
    assert [(r.sample_seed, r.train_seed) for r in study.runs] == [(5, 0), (6, 0), (7, 0), (5, 1)]
    assert study.preset.n_points == curvature.MIN_POINTS  # 40 tiny points, shared by 3 seeds, floored
    reseeded = [c for c, _ in study.members(study.runs[-1]) if c.seed == 1]
    assert len(reseeded) == 1 and reseeded[0].model == study.reseeded
    recipes = curvature.setup("curvature-5-mixup", "tiny", n_points=50, n_seeds=2)
    assert recipes.preset.n_points == 50
    assert sum(c.seed == 1 for c, _ in recipes.members(recipes.runs[-1])) == 2  # baseline and mixup
    with pytest.raises(ValueError, match="page must be one of"):
        curvature.setup("curvature-9", "tiny")
    with pytest.raises(ValueError, match="n_seeds must be an integer"):
        curvature.setup("curvature-1-profile-shape", "tiny", n_seeds=0)
    with pytest.raises(ValueError, match="width must be one of"):
        curvature.setup("curvature-1-profile-shape", "tiny", width=99)


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


def test_plan_lists_every_profile_of_every_run_once():
    study = curvature.setup("curvature-2-untrained", "tiny", n_seeds=2)
    units = study.plan()
    assert len(units) == len(set(units))
    for run in study.runs:
        assert set(study.units(run)) <= set(units)
    epochs = {u.epoch for u in units}
    assert epochs == {0, study.preset.train["epochs"]}  # trained and untrained members


def test_over_seeds_verdicts_spread_and_record(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LATENTGEOM_RESULTS", str(tmp_path))
    study = curvature.setup("curvature-1-profile-shape", "tiny", n_seeds=3)
    jumps = iter([2.0, 2.0, 0.15, 2.0])  # the third run loses the final jump
    monkeypatch.setattr(curvature.CurvatureStudy, "measure_run",
                        lambda self, run: _profile([0.01, 0.1, 0.1, 0.1, 0.1, next(jumps)]))

    def checks(study, profiles, column):
        return {"jump": shapes.shape_metrics(profiles, column)["final_ratio"] >= 2}

    def headline(study, profiles, column):
        return {"final": shapes.shape_metrics(profiles, column)["final_ratio"]}

    monkeypatch.setitem(curvature_claims.TESTS, study.name, curvature_claims.Tests("width", checks, headline))
    runs = study.over_seeds()
    assert runs.agreement["paper"].verdict == lg.reporting.findings.UNSTABLE
    assert runs.agreement["paper"].agree == 3 and runs.agreement["paper"].runs == 4
    assert runs.spread["final (paper)"] == pytest.approx([1.5, 20.0])
    assert runs.verdict_table().shape == (3, 5)
    [finding] = study.record([study.outcome(runs)])
    assert finding.verdict == lg.reporting.findings.UNSTABLE == finding.estimator_modes["scale-free"]
    assert set(finding.seeds) == set(curvature.INSTRUMENTS) and "over 4 runs" in finding.our_value
    stored = lg.load_findings(tmp_path / "findings").iloc[0]
    assert stored["spread"]["final (paper)"] == pytest.approx([1.5, 20.0])
    assert "unstable" in capsys.readouterr().out


def test_attribution_names_scale_instrument_or_geometry():
    same = curvature.attribution({"paper": "reproduced", "robust": "reproduced", "scale-free": "reproduced"})
    assert "property of the geometry" in same
    scale = curvature.attribution({"paper": "reproduced", "robust": "reproduced", "scale-free": "not reproduced"})
    assert "depends on the scale" in scale and "robust estimator agrees" in scale
    both = curvature.attribution({"paper": "reproduced", "robust": lg.reporting.findings.UNSTABLE,
                                 "scale-free": "reproduced"})
    assert "leaves the paper verdict unchanged" in both and "depends on the instrument" in both
    assert "image sample" in both
