"""The intrinsic-dimension chapter's helpers (latentgeom.chapters.intrinsic_dimension): pure profile arithmetic."""
import math

import numpy as np
import pandas as pd
import pytest

from latentgeom.chapters import intrinsic_dimension as ida


def profile(values, names=None, output=True):
    names = names or [f"layer{i}" for i in range(len(values))]
    names = ["input", *names[1:]]
    depths = np.linspace(0, 1, len(values) + (1 if output else 0))
    rows = [dict(layer=n, relative_depth=d, id_mean=v, id_std=0.1 * v, layer_width=1000)
            for n, d, v in zip(names, depths, values)]
    if output:
        rows.append(dict(layer="logits", relative_depth=1.0, id_mean=3.0, id_std=0.1, layer_width=10))
    return pd.DataFrame(rows)


def test_hunchback_summary_reads_rise_peak_and_fall():
    s = ida.hunchback_summary(profile([10, 25, 40, 20, 5]))
    assert s["input_id"] == 10 and s["peak_id"] == 40 and s["last_id"] == 5
    assert s["rise"] == pytest.approx(4.0) and s["fall"] == pytest.approx(5 / 40)
    assert s["peak_interior"] and s["peak_layer"] == "layer2"
    assert s["last_vs_previous"] == pytest.approx(5 / 20)


def test_logits_are_not_part_of_the_hunchback():
    # the output layer (ID <= 10 classes) must not count as the last hidden layer
    frame = profile([10, 20, 15])
    assert ida.last_hidden(frame)["layer"] == "layer2"
    assert ida.hunchback_summary(frame)["last_id"] == 15
    # without a layer named logits, the deepest layer is taken as the output
    no_name = profile([10, 20, 15, 8], output=False)
    assert ida.last_hidden(no_name)["layer"] == "layer2"


def test_monotone_profile_has_no_interior_peak_and_flatness():
    s = ida.hunchback_summary(profile([30, 20, 10, 5]))
    assert not s["peak_interior"] and s["rise"] == 1.0
    assert ida.flatness(profile([10, 11, 12, 10])) == pytest.approx(1.2)


def test_bad_profiles_raise():
    with pytest.raises(ValueError, match="at least 3 layers"):
        ida.hunchback_summary(profile([10, 20]))
    with pytest.raises(ValueError, match="finite and positive"):
        ida.hunchback_summary(profile([10, math.nan, 5]))
    two = pd.concat([profile([1, 2, 3]), profile([1, 2, 3])])
    with pytest.raises(ValueError, match="one model"):
        ida.hunchback_summary(two)


def test_average_over_classes_and_per_model():
    a = profile([10, 30, 6]).assign(model="m", width=8, epoch=4, class_label=0)
    b = profile([14, 50, 10]).assign(model="m", width=8, epoch=4, class_label=1)
    c = profile([20, 20, 20]).assign(model="u", width=8, epoch=0, class_label=0)
    mean = ida.average_over_classes(pd.concat([a, b, c]))
    m = mean[mean.model == "m"].set_index("layer")
    assert m.loc["layer1", "id_mean"] == pytest.approx(40)
    assert m.loc["layer1", "class_std"] == pytest.approx(10)
    assert m.loc["input", "n_classes"] == 2
    assert list(m.index) == ["input", "layer1", "layer2", "logits"]
    table = ida.per_model(mean, ida.hunchback_summary)
    assert list(table.model) == ["m", "u"]
    assert table.set_index("model").loc["m", "peak_id"] == pytest.approx(40)


def test_settings_presets_and_overrides():
    assert ida.id_settings("default").n_per_class == 300
    assert ida.id_settings("tiny", n_mixed=None).n_mixed == ida.ID_SETTINGS["tiny"].n_mixed
    assert ida.id_settings("default", n_classes=3).n_classes == 3
    with pytest.raises(ValueError, match="unknown preset"):
        ida.id_settings("huge")
    with pytest.raises(ValueError, match="unknown intrinsic-dimension setting"):
        ida.id_settings("tiny", n_points=3)
    with pytest.raises(ValueError, match="positive integer"):
        ida.id_settings("tiny", n_resamples=0)
    with pytest.raises(ValueError, match="at least 10 points"):
        ida.id_settings("tiny", n_per_class=5)


def test_block_frame_normalises_columns():
    frame = ida.block_frame([dict(n_blocks=1, n_points=100, mean=5.0, std=0.0),
                             dict(n_blocks=2, n_points=50, mean=4.8, std=0.2)])
    assert list(frame.columns) == ["n_points", "id_mean", "id_std", "n_blocks"]
    assert frame.id_mean.tolist() == [5.0, 4.8]
    with pytest.raises(ValueError, match="no 'id_std'"):
        ida.block_frame(pd.DataFrame(dict(n_points=[1], id_mean=[2.0])))


def _evaluation(verdict, pearson):
    return ida.Evaluation(checks={"c": verdict == "reproduced"}, verdict=verdict, headline={"pearson": pearson}, ours={})


def test_over_runs_combines_verdicts_and_spreads():
    runs = ["run a", "run b", "run c"]
    same = {f: _evaluation("partly reproduced", 0.1) for f in ida.FINDING_IDS}
    evaluations = [dict(same), dict(same), dict(same)]
    evaluations[2] = {**same, ida.FINDING_IDS[2]: _evaluation("reproduced", 0.9)}
    evaluations[0] = {**same, ida.FINDING_IDS[2]: _evaluation("reproduced", 0.7)}
    table = ida.over_runs(runs, evaluations)
    assert table.loc[ida.FINDING_IDS[0], "verdict"] == "partly reproduced"
    assert table.loc[ida.FINDING_IDS[0], "seeds"].agree == 3
    row = table.loc[ida.FINDING_IDS[2]]
    assert row.verdict == "unstable across seeds"  # never "reproduced" when a run disagrees
    assert row.seeds.majority == "reproduced" and row.seeds.agree == 2
    assert row.spread_values == {"pearson": [0.1, 0.9]}
    with pytest.raises(ValueError, match="one evaluation per run"):
        ida.over_runs(runs, evaluations[:2])


def test_thresholds_must_be_complete():
    good = dict.fromkeys(ida.THRESHOLD_NAMES, 1.0)
    assert ida._thresholds(good) == good
    with pytest.raises(ValueError, match="missing \\['r_min'\\]"):
        ida._thresholds({k: v for k, v in good.items() if k != "r_min"})
    with pytest.raises(ValueError, match="unknown \\['typo'\\]"):
        ida._thresholds({**good, "typo": 1.0})


def test_prepare_rejects_bad_parameters():
    with pytest.raises(ValueError, match="preset must be one of"):
        ida.prepare("huge")
    with pytest.raises(ValueError, match="seed"):
        ida.prepare("tiny", seed=-1)
    with pytest.raises(ValueError, match="architectures must be a non-empty list"):
        ida.prepare("tiny", architectures="plain_cnn")
    with pytest.raises(ValueError, match="n_seeds"):
        ida.prepare("tiny", n_seeds=0)
