"""The verdict rules on constructed inputs: preconditions gate, undecided checks and intervals too
wide for their margin give "not testable", clustered resampling widens the interval of duplicated
units, and a permutation test of pairwise quantities permutes networks, not pairs."""
import numpy as np
import pytest

from latentgeom.reporting.findings import NOT_TESTABLE, UNSTABLE, over_seeds, undecided, verdict
from latentgeom.reporting.statistics import (bootstrap_correlation, equivalence, mantel_test, needed_words,
                                             units_needed)


def test_a_failed_precondition_gives_not_testable_never_partly():
    checks = {"rises": True, "falls": False}
    assert verdict(checks) == "partly reproduced"
    assert verdict(checks, preconditions={"memorised": False}) == NOT_TESTABLE
    assert verdict(checks, preconditions={"memorised": True}) == "partly reproduced"
    assert undecided(checks, {"memorised": False}) == ["precondition failed: memorised"]


def test_an_undecided_check_gives_not_testable():
    assert verdict({"equivalent": None, "other": True}) == NOT_TESTABLE
    assert undecided({"equivalent": None, "other": True}) == ["undecided: equivalent"]


def test_runs_combine_into_one_verdict():
    assert over_seeds(["reproduced"] * 3).verdict == "reproduced"
    assert over_seeds(["reproduced", "not reproduced", "reproduced"]).verdict == UNSTABLE
    assert over_seeds(["reproduced", NOT_TESTABLE, "reproduced"]).verdict == NOT_TESTABLE
    with pytest.raises(ValueError, match="per-seed verdicts must be one of"):
        over_seeds([UNSTABLE])


@pytest.mark.parametrize("interval, outcome", [
    ((-0.1, 0.2), "equivalent"),          # the whole interval inside the margin
    ((-0.6, 0.5), "undecided"),           # too wide: absence of evidence is not reproduction
    ((0.45, 0.8), "undecided"),           # straddles the margin
    ((0.5, 0.9), "not equivalent"),       # wholly outside
])
def test_equivalence_needs_the_whole_interval_inside_the_margin(interval, outcome):
    assert equivalence(interval, margin=0.5) == outcome


def test_a_wide_interval_is_not_testable_and_says_how_many_units_would_decide():
    interval, estimate, margin = (-0.6, 0.5), -0.05, 0.5
    decided = equivalence(interval, margin)
    assert verdict({"ID not indicative": None if decided == "undecided" else decided == "equivalent"}) == NOT_TESTABLE
    needed = units_needed(8, interval, margin, estimate)
    assert needed > 8  # (0.55 / 0.45)^2 * 8 ~ 12
    assert units_needed(8, (0.55, 0.9), margin, 0.7) is None  # the estimate itself is outside the margin
    # ... and the page says so in words, not "None".
    assert needed_words("undecided", 8, needed) == f"About {needed} networks would decide it, against 8 measured."
    assert needed_words("undecided", 8, None).startswith("No number of networks would place it inside the margin")
    assert needed_words("equivalent", 12, 12) == "The 12 networks measured decide it."


def test_clustered_resampling_widens_the_interval_of_duplicated_units():
    """Each of 8 networks measured 4 times (checkpoints, samples): resampling points as if
    independent gives a narrow interval; resampling the 8 networks gives the honest one."""
    rng = np.random.default_rng(1)
    x_unit, y_unit = rng.normal(size=8), rng.normal(size=8)
    x = np.repeat(x_unit, 4) + 0.01 * rng.normal(size=32)
    y = np.repeat(y_unit, 4) + 0.01 * rng.normal(size=32)
    naive = bootstrap_correlation(x, y, seed=0)
    clustered = bootstrap_correlation(x, y, clusters=np.repeat(np.arange(8), 4), seed=0)
    assert naive.units == 32 and clustered.units == 8
    width = lambda c: c.spearman_ci[1] - c.spearman_ci[0]
    assert width(clustered) > 1.5 * width(naive)
    with pytest.raises(ValueError, match="at least 4 independent units"):
        bootstrap_correlation(x[:12], y[:12], clusters=np.repeat(np.arange(3), 4))


def test_unclustered_bootstrap_is_the_old_point_bootstrap():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=20), rng.normal(size=20)
    assert bootstrap_correlation(x, y, seed=3) == bootstrap_correlation(x, y, clusters=np.arange(20), seed=3)


def test_mantel_test_finds_a_pairwise_relation_and_not_a_spurious_one():
    rng = np.random.default_rng(2)
    flatness = rng.normal(size=10)
    pairs = np.array([(i, j) for i in range(10) for j in range(i + 1, 10)])
    related = flatness[pairs].mean(1) + 0.05 * rng.normal(size=len(pairs))
    strong = mantel_test(related, flatness, pairs, permutations=500)
    assert strong.spearman > 0.9 and strong.p_value < 0.01 and strong.units == 10 and strong.pairs == 45
    unrelated = mantel_test(rng.normal(size=len(pairs)), flatness, pairs, permutations=500)
    assert unrelated.p_value > 0.05
    with pytest.raises(ValueError, match="pairs must have shape"):
        mantel_test(related[:5], flatness, pairs)
