"""The training ladder's pure functions (lib/latentgeom/chapters/ladder.py)."""
import math

import numpy as np
import pandas as pd
import pytest

from latentgeom.reporting.plots import reference_chart
from latentgeom.chapters import ladder


def _stats(values, accuracy=(0.6, 0.7, 0.8, 0.9), families=("a", "b", "c"), column="final_ratio_paper"):
    rows = []
    for f in families:
        for epoch, (acc, v) in enumerate(zip(accuracy, values), start=1):
            rows.append({"model": f, "epoch": epoch, "test_accuracy": acc, column: v})
    return pd.DataFrame(rows)


def test_distance_is_zero_inside_and_in_decades_outside():
    d = ladder.distance_to_paper([0.6, 6, 10, 19.6, 196, np.nan], 6, 19.6, log=True)
    np.testing.assert_allclose(d[:5], [1, 0, 0, 0, 1], atol=1e-12)
    assert math.isnan(d[5])
    np.testing.assert_allclose(ladder.distance_to_paper([-1, 0, 0.9], -0.7, 0.7, log=False), [0.3, 0, 0.2])


def test_distance_is_invariant_to_a_common_scale_in_log_mode():
    x = np.array([0.5, 3.0, 40.0])
    a = ladder.distance_to_paper(x, 1, 1, log=True)
    b = ladder.distance_to_paper(x * 10, 10, 10, log=True)
    np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("args, match", [((0, 1), "positive range"), ((2, 1), "low must be <= high")])
def test_distance_rejects_bad_ranges(args, match):
    with pytest.raises(ValueError, match=match):
        ladder.distance_to_paper([1.0], *args, log=True)


def test_distance_rejects_non_positive_values_in_log_mode():
    with pytest.raises(ValueError, match="positive values"):
        ladder.distance_to_paper([1.0, -2.0], 1, 2, log=True)


def test_within_family_spearman_per_family_and_nan_when_undefined():
    frame = pd.DataFrame({"model": ["a"] * 4 + ["b"] * 4 + ["c"] * 2,
                          "test_accuracy": [0.1, 0.2, 0.3, 0.4] * 2 + [0.1, 0.2],
                          "s": [1, 2, 3, 4, 4, 3, 2, 1, 5, 6]})
    rho = ladder.within_family_spearman(frame, "s")
    assert rho["a"] == pytest.approx(1) and rho["b"] == pytest.approx(-1) and math.isnan(rho["c"])
    with pytest.raises(ValueError, match="no column 'nope'"):
        ladder.within_family_spearman(frame, "nope")


@pytest.mark.parametrize("rho, expected", [(-0.5, "toward"), (-0.9, "toward"), (0.5, "away"),
                                           (0.49, "no trend"), (-0.49, "no trend"), (math.nan, "no trend")])
def test_direction_label_thresholds(rho, expected):
    assert ladder.direction_label(rho, 0.5) == expected


def test_direction_label_at_paper_and_bad_threshold():
    assert ladder.direction_label(0.9, at_paper=True) == "at the paper's value"
    with pytest.raises(ValueError, match="threshold"):
        ladder.direction_label(0.1, threshold=0)


def test_a_ratio_rising_into_the_paper_range_moves_toward_it():
    table = ladder.directions(_stats([1.5, 2.0, 3.0, 5.0]))
    row = table.set_index("key").loc["final_ratio"]
    assert row["direction"] == "toward" and row["rho"] == pytest.approx(-1)
    assert row["first"] == pytest.approx(1.5) and row["last"] == pytest.approx(5.0)
    # distance to [6, 19.6] in decades: log10(6 / 1.5) -> log10(6 / 5), so 1 - log(1.2) / log(4) is closed
    assert row["closed"] == pytest.approx(1 - math.log10(1.2) / math.log10(4))


def test_a_ratio_falling_away_and_a_flat_one():
    away = ladder.directions(_stats([5.0, 3.0, 2.0, 1.5])).set_index("key").loc["final_ratio"]
    assert away["direction"] == "away"
    inside = ladder.directions(_stats([7.0, 8.0, 9.0, 7.5])).set_index("key").loc["final_ratio"]
    assert inside["direction"] == "at the paper's value"


def test_relations_use_the_papers_sign():
    up = _stats([1.0, 2.0, 3.0, 4.0], column="gap_paper").merge(
        _stats([20.0, 15.0, 10.0, 8.0], column="last_hidden_id"))
    table = ladder.directions(up).set_index("key")
    assert table.loc["gap", "direction"] == "toward"          # the gap rises with accuracy
    assert table.loc["last_hidden_id", "direction"] == "toward"  # the last-hidden ID falls
    flipped = ladder.directions(up.assign(gap_paper=up["gap_paper"][::-1].to_numpy())).set_index("key")
    assert flipped.loc["gap", "direction"] == "away"


def test_scale_free_columns_are_reading_only_and_checks_ignore_them():
    stats = _stats([1.5, 2.0, 3.0, 5.0]).merge(
        _stats([3.0, 2.0, 1.5, 1.0], column="final_ratio_scale_free_global_paper"))
    table = ladder.directions(stats)
    reading = table[table["kind"] == "reading"]
    assert list(reading["mode"]) == ["scale_free_global_paper"] and reading["direction"].iloc[0] == "falls"
    checks = ladder.checks(table, "paper")
    assert len(checks) == 1 and all(checks.values())
    with pytest.raises(ValueError, match="robust"):
        ladder.checks(table, "robust")


def test_model_statistics_match_the_finding_page_definitions():
    from latentgeom.chapters.curvature import shape_metrics

    profile = pd.DataFrame({"layer": ["input", "c1", "c2", "pool", "logits"],
                            "relative_depth": [0, 0.25, 0.5, 0.75, 1.0],
                            "id_mean": [10.0, 20.0, 15.0, 8.0, 5.0],
                            "mapc_paper": [0.01, 0.1, 0.2, 0.05, 0.5],
                            "scale_free_local_paper": [1.0, 2.0, 2.0, 1.0, 3.0], "model": ["m"] * 5})
    id_profile = profile[["layer", "relative_depth", "id_mean"]]
    out = ladder.model_statistics(profile, id_profile, 4.0, ["paper"])
    assert out["final_ratio_paper"] == pytest.approx(10) and out["gap_paper"] == pytest.approx(9)
    assert out["plateau_spread_paper"] == pytest.approx(shape_metrics(profile, "mapc_paper")["plateau_spread"])
    assert out["final_ratio_scale_free_local_paper"] == pytest.approx(3)
    # ID vs MAPC over latent layers: (20, .1), (15, .2), (8, .05), (5, .5) -> ranks give rho = -0.4
    assert out["id_mapc_rho_paper"] == pytest.approx(-0.4)
    assert out["id_rise"] == pytest.approx(2) and out["id_fall"] == pytest.approx(8 / 20)
    assert out["last_hidden_id"] == 4.0


@pytest.mark.parametrize("overrides, match", [
    (dict(epochs=[1, 2]), "at least 3"), (dict(epochs=4), "list of checkpoint epochs"),
    (dict(epochs=[0, 1, 2]), "epochs must be an integer >= 1"), (dict(modes=["fast"]), "modes"),
    (dict(n_train=3), "n_train"), (dict(bogus=1), "unknown ladder setting"),
])
def test_setup_rejects_bad_input(overrides, match):
    with pytest.raises(ValueError, match=match):
        ladder.setup("tiny", **overrides)


def test_setup_builds_one_config_per_family_with_the_ladder():
    L = ladder.setup("tiny", epochs=[4, 1, 2, 2])
    assert L.settings.epochs == (1, 2, 4)
    assert [c.model for c in L.configs] == list(L.preset.architectures)
    assert all(c.epochs == 4 and c.checkpoint_epochs == (1, 2, 4) for c in L.configs)
    assert L.geometry.modes == ("paper",) and "tiny" in repr(L)
    with pytest.raises(ValueError, match="preset"):
        ladder.setup("huge")


def test_every_headline_has_a_valid_range():
    for h in ladder.HEADLINES:
        assert h.low <= h.high and h.kind in ("level", "relation")
        assert h.kind == "level" or h.sign in (-1, 1)
    assert len(ladder.headline_table()) == len(ladder.HEADLINES)


def test_reference_chart_draws_the_reference_rules():
    frame = _stats([1.5, 2.0, 3.0, 5.0])
    spec = reference_chart(frame, "test_accuracy", "final_ratio_paper", reference=(6, 19.6), color="model",
                           order="epoch", log=True, title="t").to_dict()
    rules = [layer for layer in spec["layer"] if layer["mark"].get("type", layer["mark"]) == "rule"]
    assert len(rules) == 1 and spec["width"] >= 300


def test_relation_correlations_are_pooled_bootstrap_correlations():
    import latentgeom as lg

    stats = _stats([1.0, 2.0, 3.0, 4.0], column="gap_paper").merge(
        _stats([20.0, 15.0, 10.0, 8.0], column="last_hidden_id"))
    stats["gap_paper"] += np.arange(len(stats)) * 0.01  # break ties between families
    table = ladder.relation_correlations(stats, n_boot=200).set_index("mode")
    assert list(table.index) == ["paper", "—"] and list(table["paper_sign"]) == ["+", "-"]
    ref = lg.bootstrap_correlation(stats["gap_paper"], stats["test_accuracy"], n_boot=200)
    assert table.loc["paper", "pearson"] == pytest.approx(ref.pearson)
    assert table.loc["paper", "spearman_low"] == pytest.approx(ref.spearman_ci[0])
    assert table.loc["—", "spearman"] < -0.9
