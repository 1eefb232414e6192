"""Unit tests of latentgeom.studies.curvature on synthetic profiles (no training, milliseconds)."""
import math

import numpy as np
import pandas as pd
import pytest

import latentgeom as lg
from latentgeom.studies import curvature as findings


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
    frame.insert(0, "label", f"{model} w{width}")
    return frame


PAPER_LIKE = [0.01, 0.1, 0.12, 0.09, 0.11, 2.0]   # rise, plateau, final jump


def test_shape_metrics_of_a_paper_like_profile():
    m = findings.shape_metrics(_profile(PAPER_LIKE), "mapc_paper")
    assert m["rise"] == pytest.approx(np.median([0.1, 0.12, 0.09, 0.11]) / 0.01)
    assert m["plateau_spread"] == pytest.approx(0.12 / 0.09)
    assert m["final_ratio"] == pytest.approx(2.0 / 0.11)
    assert m["final_vs_plateau"] == pytest.approx(2.0 / 0.12)
    assert m["depth_trend"] == pytest.approx(0.11 / 0.1)


def test_segments_sort_by_depth_and_reject_short_profiles():
    frame = _profile(PAPER_LIKE).iloc[::-1]
    s = findings.segments(frame, "mapc_paper")
    assert s["input"] == 0.01 and s["last"] == 2.0 and s["layers"][0] == "l0"
    with pytest.raises(ValueError, match="at least 4 layers"):
        findings.segments(_profile([1, 2, 3]), "mapc_paper")
    with pytest.raises(ValueError, match="no column"):
        findings.segments(_profile(PAPER_LIKE), "mapc_nope")


def test_zero_denominator_gives_nan_not_inf():
    m = findings.shape_metrics(_profile([0.0, 0.1, 0.1, 0.0, 1.0]), "mapc_paper")
    assert math.isnan(m["rise"]) and math.isnan(m["final_ratio"])


def test_tidy_long_form_has_one_row_per_layer_and_mode():
    wide = pd.concat([_profile(PAPER_LIKE, model="a"), _profile(PAPER_LIKE, model="b")], ignore_index=True)
    long = findings.tidy(wide)
    assert len(long) == 2 * len(wide)
    assert set(long["mode"]) == {"paper", "robust"}
    assert {"mapc", "max_abs", "carrying", "d", "K", "label", "id_mean"} <= set(long.columns)
    assert not any(c.endswith(("_paper", "_robust")) for c in long.columns)
    robust = long[long["mode"] == "robust"]["mapc"].to_numpy()
    assert np.allclose(robust, wide["mapc_robust"].to_numpy())
    with pytest.raises(ValueError):
        findings.tidy(wide.drop(columns=["mapc_paper", "mapc_robust"]))


def test_shape_table_and_gap_table_one_row_per_model():
    wide = pd.concat([_profile(PAPER_LIKE, model="a"), _profile([1, 1, 1, 1, 1, 1], model="b")], ignore_index=True)
    shapes = findings.shape_table(wide, "mapc_paper")
    assert list(shapes["label"]) == ["a w8", "b w8"]
    assert shapes.loc[1, "plateau_spread"] == pytest.approx(1.0)
    gaps = findings.gap_table(wide)
    assert gaps.loc[0, "gap_paper"] == pytest.approx((2.0 - 0.11) / 0.11)
    assert gaps.loc[0, "raw_gap_robust"] == pytest.approx(2 * (2.0 - 0.11))
    assert gaps.loc[1, "ratio_paper"] == pytest.approx(1.0)
    assert {"model", "width", "epoch", "test_accuracy"} <= set(gaps.columns)


def test_mode_loop_verdicts_and_survival_sentence():
    checks = lg.book.findings.by_mode(lambda mode: {"a": True, "b": mode == "paper"})
    verdicts = lg.book.findings.mode_verdicts(checks)
    assert verdicts == {"paper": "reproduced", "robust": "partly reproduced"}
    assert "changes" in lg.book.findings.survives(verdicts)
    assert "survives" in lg.book.findings.survives({"paper": "reproduced", "robust": "reproduced"})
    assert lg.book.findings.checks_frame(checks).shape == (2, 2)


def test_all_finite_and_parameter_checks():
    assert lg.validation.all_finite({"a": [1, 2.0, {"b": True}], "c": "text"})
    assert not lg.validation.all_finite({"a": [1, float("nan")]})
    assert not lg.validation.all_finite({"a": None})
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
    assert findings.label(C()) == "vgg_small w16"
    assert findings.label(C(), 4) == "vgg_small w16"
    assert findings.label(C(), 1) == "vgg_small w16 @ep1"


def test_profile_models_labels_and_columns():
    class Cfg:
        model, width, epochs = "plain_cnn", 8, 4

    class Trained:
        config, epoch = Cfg(), 2

    calls = []

    def fake_profile(trained, images, geometry, progress=True):
        calls.append(progress)
        return _profile(PAPER_LIKE).drop(columns=["label"])

    out = findings.profile_models([Trained(), Trained()], None, None, profile_fn=fake_profile, state="trained")
    assert list(out["label"].unique()) == ["plain_cnn w8 @ep2"]
    assert (out["state"] == "trained").all() and calls == [False, False]
    with pytest.raises(ValueError, match="labels"):
        findings.profile_models([Trained()], None, None, labels=["a", "b"], profile_fn=fake_profile)
