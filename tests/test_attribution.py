"""The attribution of a verdict (lib/latentgeom/chapters/attribution.py) on constructed ladders,
and the one rule for the words "not reproduced at this scale" (reporting.findings)."""
import math

import numpy as np
import pandas as pd
import pytest

from latentgeom.chapters.attribution import (Attribution, Side, attribute, instrument_split, run_trends,
                                             top_rung_accuracy, trend_interval)
from latentgeom.reporting.findings import AT_THIS_SCALE, displayed_verdict

ABOVE_2 = Side(+1, 2.0, log=True, name="final_ratio_min")
ACCURACY = (0.80, 0.86, 0.90, 0.92)


def ladder(values_per_run, accuracy=ACCURACY, families=("a", "b")):
    """One row per run, family and rung: run r's statistic at rung k is values_per_run[r][k]."""
    rows = [dict(run=run, family=f, rung=k, test_accuracy=acc, statistic=v)
            for run, values in enumerate(values_per_run) for f in families
            for k, (acc, v) in enumerate(zip(accuracy, values))]
    return pd.DataFrame(rows)


def test_signed_distance_is_positive_on_the_papers_side():
    np.testing.assert_allclose(ABOVE_2.signed_distance([1.0, 2.0, 20.0]), [-math.log10(2), 0, 1])
    below = Side(-1, 0.7, absolute=True)
    np.testing.assert_allclose(below.signed_distance([-0.9, 0.2, 0.7]), [-0.2, 0.5, 0.0])
    falls = Side(-1)
    np.testing.assert_allclose(falls.signed_distance([3.0, 1.0]), [-3.0, -1.0])
    assert math.isnan(ABOVE_2.signed_distance([np.nan])[0])
    with pytest.raises(ValueError, match="direction"):
        Side(0, 1.0)


def test_a_statistic_crossing_its_threshold_with_training_is_training_scale():
    frame = ladder([[1.0, 1.5, 2.2, 3.0], [0.9, 1.3, 1.9, 2.6]])
    a = attribute(frame, ABOVE_2)
    assert a.kind == "training scale" and a.numbers["trend"]["low"] > 0
    assert "moves toward the paper's side" in a.reason and a.line.startswith("training scale: ")


@pytest.mark.parametrize("values", [[1.2, 1.2, 1.2, 1.2], [1.8, 1.5, 1.2, 1.0]])
def test_flat_or_receding_with_a_well_trained_top_rung_is_claim(values):
    frame = ladder([values, values])
    a = attribute(frame, ABOVE_2)
    assert a.kind == "claim" and "0.920" in a.reason


def test_receding_says_it_moves_away():
    assert "moves away" in attribute(ladder([[1.8, 1.5, 1.2, 1.0]] * 2), ABOVE_2).reason


def test_upward_in_the_mean_but_an_interval_including_zero_is_not_training_scale():
    up, down = [1.0, 1.5, 2.2, 3.0], [3.0, 2.9, 2.8, 2.7]
    frame = ladder([up, up, down])
    rho = run_trends(frame, ABOVE_2)
    assert rho.mean() > 0
    a = attribute(frame, ABOVE_2)
    assert a.numbers["trend"]["low"] < 0 < a.numbers["trend"]["mean"]
    assert a.kind == "claim"  # the top rung is at 0.92: the claim, not the scale


def test_a_top_rung_below_090_is_undetermined_unless_the_trend_is_clear():
    flat = ladder([[1.2] * 4] * 2, accuracy=(0.7, 0.75, 0.8, 0.85))
    a = attribute(flat, ABOVE_2)
    assert a.kind == "undetermined" and "below 0.90" in a.reason
    rising = ladder([[1.0, 1.5, 2.2, 3.0]] * 2, accuracy=(0.7, 0.75, 0.8, 0.85))
    assert attribute(rising, ABOVE_2).kind == "training scale"


def test_instruments_disagreeing_beyond_the_spread_is_instrument():
    frame = ladder([[1.2] * 4] * 2)
    verdicts = {"paper": ["not reproduced"] * 2, "robust": ["reproduced"] * 2}
    a = attribute(frame, ABOVE_2, instrument="paper", verdicts=verdicts)
    assert a.kind == "instrument" and "robust" in a.reason
    # within the spread: one robust run agrees with the paper estimator
    within = {"paper": ["not reproduced"] * 2, "robust": ["reproduced", "not reproduced"]}
    assert attribute(frame, ABOVE_2, verdicts=within).kind == "claim"
    assert instrument_split(within, "paper") is None and instrument_split(verdicts, "robust") == "paper"
    # An instrument that cannot decide ("not testable") disagrees with nothing, and is not attributed.
    gated = {"paper": ["not reproduced"] * 2, "robust": ["not testable"] * 2}
    assert instrument_split(gated, "paper") is None
    assert attribute(frame, ABOVE_2, instrument="paper", verdicts=gated).kind == "claim"
    robust = attribute(frame, ABOVE_2, instrument="robust", verdicts=gated)
    assert robust.kind == "undetermined" and "not testable in every run" in robust.reason


def test_fewer_than_two_runs_or_an_undefined_statistic_is_undetermined():
    one = attribute(ladder([[1.0, 1.5, 2.2, 3.0]]), ABOVE_2)
    assert one.kind == "undetermined" and "1 run(s)" in one.reason
    undefined = attribute(ladder([[np.nan] * 4] * 2), ABOVE_2)
    assert undefined.kind == "undetermined" and "0 run(s)" in undefined.reason


def test_trend_interval_and_top_rung_accuracy():
    assert all(math.isnan(v) for v in trend_interval([0.5]))
    mean, low, high = trend_interval([0.2, 0.4, 0.6], seed=1)
    assert low <= mean <= high and mean == pytest.approx(0.4)
    frame = ladder([[1, 2, 3, 4]] * 2).assign(test_accuracy=lambda f: f.test_accuracy + f.run * 0.01)
    assert top_rung_accuracy(frame) == {"a": pytest.approx(0.925), "b": pytest.approx(0.925)}
    with pytest.raises(ValueError, match="missing"):
        run_trends(frame.drop(columns="rung"), ABOVE_2)


def test_attribution_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        Attribution("luck", "")


@pytest.mark.parametrize("verdict, why, shown", [
    ("not reproduced", "training scale: moves toward", AT_THIS_SCALE),
    ("not reproduced", "training scale", AT_THIS_SCALE),
    ("not reproduced", "claim: flat", "not reproduced"),
    ("not reproduced", "undetermined: top rung below 0.90", "not reproduced"),
    ("not reproduced", None, "not reproduced"),
    ("partly reproduced", "training scale: moves toward", "partly reproduced"),
    ("reproduced", "training scale", "reproduced"),
])
def test_not_reproduced_at_this_scale_only_where_the_scale_is_measured(verdict, why, shown):
    assert displayed_verdict(verdict, why) == shown
