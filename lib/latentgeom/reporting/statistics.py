"""Statistics behind the verdicts: correlations over independent units, equivalence tests and
permutation tests of pairwise quantities.

A verdict is decided on *independent units*: separately trained networks. Points that share a
training run (a network and its checkpoints, two image samples of one network) are one unit, so
:func:`bootstrap_correlation` resamples clusters, not points, when ``clusters`` is given: an
interval from duplicated points is as wide as the units allow, not narrower. A quantity defined
on *pairs* of networks (a distance between two minima) is tested by permuting the networks
(:func:`mantel_test`), since pairs that share a network are not independent either. A negative
claim ("X is not indicative of Y") is reproduced only when the whole interval lies inside a
margin fixed before the data (:func:`equivalence`); an interval too wide for its margin decides
nothing, and :func:`units_needed` says roughly how many units would decide it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

__all__ = ["EQUIVALENCE", "Correlation", "MantelTest", "bootstrap_correlation", "equivalence", "mantel_test",
           "needed_words", "units_needed"]

#: Outcomes of :func:`equivalence`.
EQUIVALENCE = ("equivalent", "not equivalent", "undecided")


@dataclass(frozen=True)
class Correlation:
    """Pearson and Spearman correlation with percentile-bootstrap confidence intervals.

    ``n`` counts the points, ``units`` the independent units the bootstrap resampled (equal to
    ``n`` when every point is its own unit).
    """

    n: int
    pearson: float
    pearson_ci: tuple[float, float]
    pearson_p: float
    spearman: float
    spearman_ci: tuple[float, float]
    spearman_p: float
    confidence: float
    units: int = 0

    def significant_positive(self) -> bool:
        """Both coefficients positive with bootstrap intervals above zero."""
        return self.pearson_ci[0] > 0 and self.spearman_ci[0] > 0

    def as_dict(self) -> dict:
        return asdict(self)


def _check_pairs(x, y, clusters):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d of equal length, got shapes {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite (found NaN or inf)")
    if clusters is None:
        return x, y, np.arange(len(x))
    clusters = np.asarray(clusters)
    if clusters.shape != x.shape:
        raise ValueError(f"clusters must give one unit per point ({x.shape}), got shape {clusters.shape}")
    return x, y, np.unique(clusters, return_inverse=True)[1]


def bootstrap_correlation(x, y, *, clusters=None, n_boot: int = 2000, confidence: float = 0.95,
                          seed: int = 0) -> Correlation:
    """Pearson and Spearman coefficients of paired samples, with bootstrap intervals.

    Parameters
    ----------
    x, y : array-like, shape [n]
        Paired observations (e.g. curvature gap and test accuracy per network).
    clusters : array-like, shape [n], optional
        The independent unit of each point (e.g. the training run it comes from). The bootstrap
        then draws whole units with replacement, keeping every point of a drawn unit: points that
        share a unit do not count as independent. Default: every point is its own unit.
    n_boot : int
        Bootstrap resamples.
    confidence : float in (0, 1)
        Width of the percentile interval.

    At least 4 units are needed (``ValueError`` otherwise); resamples with a constant column
    have no correlation and are skipped.
    """
    x, y, unit = _check_pairs(x, y, clusters)
    n_units = int(unit.max()) + 1 if len(unit) else 0
    if n_units < 4:
        raise ValueError(f"need at least 4 independent units for a correlation with an interval, got {n_units}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    members = [np.flatnonzero(unit == u) for u in range(n_units)]
    rng = np.random.default_rng(seed)
    boot_p, boot_s = [], []
    for draw in rng.integers(0, n_units, size=(n_boot, n_units)):
        rows = np.concatenate([members[u] for u in draw])
        bx, by = x[rows], y[rows]
        if np.ptp(bx) == 0 or np.ptp(by) == 0:
            continue  # a resample with a constant column has no correlation
        boot_p.append(np.corrcoef(bx, by)[0, 1])
        boot_s.append(stats.spearmanr(bx, by).statistic)
    lo, hi = (1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100
    pr, sr = stats.pearsonr(x, y), stats.spearmanr(x, y)
    return Correlation(
        n=len(x), pearson=float(pr.statistic),
        pearson_ci=(float(np.percentile(boot_p, lo)), float(np.percentile(boot_p, hi))),
        pearson_p=float(pr.pvalue), spearman=float(sr.statistic),
        spearman_ci=(float(np.percentile(boot_s, lo)), float(np.percentile(boot_s, hi))),
        spearman_p=float(sr.pvalue), confidence=confidence, units=n_units)


def equivalence(interval: tuple[float, float], margin: float) -> str:
    """An equivalence test by interval inclusion (two one-sided tests at the interval's level).

    ``"equivalent"`` when the whole interval lies inside ``[-margin, margin]`` (the effect is
    shown to be smaller than the margin fixed before the data), ``"not equivalent"`` when it
    lies wholly outside (the effect is shown to be larger), ``"undecided"`` otherwise: an
    interval too wide for its margin is absence of evidence, not evidence of absence.
    """
    lo, hi = float(interval[0]), float(interval[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError(f"interval must be finite with low <= high, got {interval!r}")
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin!r}")
    if -margin < lo and hi < margin:
        return EQUIVALENCE[0]
    if hi <= -margin or lo >= margin:
        return EQUIVALENCE[1]
    return EQUIVALENCE[2]


def units_needed(units: int, interval: tuple[float, float], margin: float, estimate: float) -> int | None:
    """Roughly how many independent units would make an equivalence interval fit its margin.

    An interval's half-width shrinks as one over the square root of the units, so the width
    ``w`` at ``units`` becomes ``margin - |estimate|`` at ``units * (w / (margin - |estimate|))^2``.
    None when the estimate itself is not inside the margin (no number of units would help).
    """
    room = margin - abs(estimate)
    if room <= 0:
        return None
    half = (float(interval[1]) - float(interval[0])) / 2
    return max(int(units), int(math.ceil(units * (half / room) ** 2)))


def needed_words(outcome: str, units: int, needed: int | None, unit: str = "networks") -> str:
    """One sentence for a page's prose on what more ``unit`` would do to an :func:`equivalence`
    ``outcome`` measured on ``units`` of them, ``needed`` being :func:`units_needed`'s count."""
    if outcome != EQUIVALENCE[2]:
        return f"The {units} {unit} measured decide it."
    if needed is None:
        return (f"No number of {unit} would place it inside the margin: the estimate itself lies beyond it, "
                f"so more {unit} could at most show the claim refuted.")
    return f"About {needed} {unit} would decide it, against {units} measured."


@dataclass(frozen=True)
class MantelTest:
    """Spearman correlation of two quantities over the pairs of ``units`` networks, with its
    permutation p-value (one-sided in the direction asked) and ``permutations`` draws."""

    units: int
    pairs: int
    spearman: float
    p_value: float
    permutations: int
    alternative: str

    def as_dict(self) -> dict:
        return asdict(self)


def mantel_test(pair_values, unit_values, pairs, *, alternative: str = "greater", permutations: int = 2000,
                seed: int = 0) -> MantelTest:
    """Does a pairwise quantity follow a per-network quantity? A Mantel-type permutation test.

    ``pair_values`` [P] is defined on pairs of networks (e.g. their distance), ``pairs`` [P, 2]
    names the two networks of each pair (integers 0..units-1), and ``unit_values`` [units] is a
    quantity of each network (e.g. its flatness); the statistic is the Spearman correlation of
    ``pair_values`` with the pair's mean of ``unit_values``. Pairs that share a network are not
    independent, so the null distribution permutes the *networks' values*, not the pairs.
    ``alternative``: ``"greater"`` (positive relation), ``"less"`` or ``"two-sided"``.
    """
    pair_values = np.asarray(pair_values, dtype=float)
    unit_values = np.asarray(unit_values, dtype=float)
    pairs = np.asarray(pairs, dtype=int)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) != len(pair_values):
        raise ValueError(f"pairs must have shape [{len(pair_values)}, 2], got {pairs.shape}")
    if pairs.min() < 0 or pairs.max() >= len(unit_values):
        raise ValueError(f"pairs must name networks 0..{len(unit_values) - 1}")
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"alternative must be one of ['greater', 'less', 'two-sided'], got {alternative!r}")
    if len(unit_values) < 4:
        raise ValueError(f"need at least 4 networks for a permutation test, got {len(unit_values)}")

    def statistic(values):
        return stats.spearmanr(pair_values, values[pairs].mean(1)).statistic

    observed = float(statistic(unit_values))
    rng = np.random.default_rng(seed)
    null = np.array([statistic(unit_values[rng.permutation(len(unit_values))]) for _ in range(permutations)])
    null = null[np.isfinite(null)]
    extreme = {"greater": null >= observed, "less": null <= observed,
               "two-sided": np.abs(null) >= abs(observed)}[alternative]
    p = (1 + int(extreme.sum())) / (1 + len(null))
    return MantelTest(units=len(unit_values), pairs=len(pairs), spearman=observed, p_value=float(p),
                      permutations=len(null), alternative=alternative)
