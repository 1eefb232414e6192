"""What decides a verdict: the claim, the training scale or the instrument (pure functions).

Every finding page gives a verdict per instrument; this module says *why*, from the training
ladder (:mod:`.ladder`): the finding's own statistic measured at every rung (checkpoint) of
every independent training run, under each instrument. The statistic is turned into its
*signed distance* to the claim's threshold (:class:`Side`: positive on the paper's side; for
a claim that is itself a relation with accuracy, the statistic signed so that the paper's
direction is positive). Per run, the trend is the mean over families of the within-family
Spearman rho of the signed distance against test accuracy; the runs' trends are resampled by
run (a percentile bootstrap of their mean, :func:`trend_interval`). Then, in this order
(:func:`attribute`):

1. *instrument*: the instrument's per-run verdicts and another instrument's have no verdict in
   common (:func:`instrument_split`): the verdicts differ by more than the run-to-run spread;
2. *undetermined*: fewer than :data:`MIN_RUNS` runs with a defined trend (an undefined
   statistic, fewer than 3 rungs, accuracy constant along the rungs);
3. *training scale*: the interval on the trend lies above zero: the statistic moves toward the
   paper's side as accuracy rises in every resampling of the runs;
4. *claim*: it does not (flat, or away) while every family's top rung is at or above
   :data:`ACCURACY_MIN` test accuracy: the networks are well trained and the statistic is not
   moving toward the paper's side;
5. *undetermined* otherwise (the top rung is below :data:`ACCURACY_MIN`), with the reason.

"Not reproduced at this scale" is shown only where the attribution is *training scale*
(:func:`latentgeom.reporting.findings.displayed_verdict`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.stats as sps

from ..reporting.findings import ATTRIBUTIONS, NOT_TESTABLE

__all__ = ["ACCURACY_MIN", "ATTRIBUTIONS", "Attribution", "MIN_RUNS", "Side", "Trend", "attribute", "off_ladder",
           "instrument_split", "run_trends", "top_rung_accuracy", "trend_interval"]

#: The top rung counts as well trained at or above this test accuracy (well-trained small CNNs
#: reach ~0.91-0.93 on Fashion-MNIST; the papers' networks 0.93-0.96 on CIFAR-10).
ACCURACY_MIN = 0.90
#: Independent training runs needed for a run-level interval on the trend.
MIN_RUNS = 2
#: The columns of a ladder frame (one row per run, family and rung).
COLUMNS = ("run", "family", "rung", "test_accuracy", "statistic")


@dataclass(frozen=True)
class Side:
    """The paper's side of a finding's statistic, from its claim's thresholds.

    Attributes
    ----------
    direction : {+1, -1}
        +1: the paper is at or above ``threshold`` (or, without one, the statistic rises with
        accuracy); -1: at or below it (or it falls).
    threshold : float or None
        The claim's threshold (``None``: a relation claim, the direction alone is the side).
    log : bool
        Distances in decades (ratios; values must be > 0).
    absolute : bool
        The claim is about ``|statistic|`` (e.g. ``|rho| < 0.7``).
    name : str
        The threshold's name in the claim (shown in the reason).
    """

    direction: int
    threshold: float | None = None
    log: bool = False
    absolute: bool = False
    name: str = ""

    def __post_init__(self):
        if self.direction not in (1, -1):
            raise ValueError(f"direction must be +1 or -1, got {self.direction!r}")
        if self.log and self.threshold is not None and self.threshold <= 0:
            raise ValueError(f"a log side needs a positive threshold, got {self.threshold}")

    def signed_distance(self, values) -> np.ndarray:
        """Distance of each value to the threshold, positive on the paper's side (decades when
        ``log``); NaN stays NaN. Shape: as ``values``."""
        x = np.asarray(values, dtype=float)
        x = np.abs(x) if self.absolute else x
        t = 0.0 if self.threshold is None else float(self.threshold)
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.where(x > 0, np.log10(np.where(x > 0, x, 1.0)), np.nan)
            t = math.log10(t) if self.threshold is not None else 0.0
        return self.direction * (x - t)

    def describe(self) -> str:
        """``"final_ratio_min = 2 (paper: >= 2)"`` or ``"the paper's direction: rises with accuracy"``."""
        if self.threshold is None:
            return f"the paper's direction: {'rises' if self.direction > 0 else 'falls'} with accuracy"
        what = "|statistic|" if self.absolute else "statistic"
        return f"{self.name or 'threshold'} = {self.threshold:g} (paper: {what} {'>=' if self.direction > 0 else '<='})"


@dataclass(frozen=True)
class Trend:
    """The run-level trend of the signed distance against test accuracy: each run's Spearman
    rho (mean over its families), their mean and its bootstrap interval over runs."""

    per_run: dict
    mean: float
    low: float
    high: float

    @property
    def runs(self) -> int:
        return sum(1 for v in self.per_run.values() if np.isfinite(v))

    def text(self) -> str:
        return (f"Spearman of the signed distance against test accuracy, mean over {self.runs} runs "
                f"{self.mean:+.2f}, 95 % interval over runs [{self.low:+.2f}, {self.high:+.2f}]")


@dataclass(frozen=True)
class Attribution:
    """What decides one finding's verdict under one instrument.

    ``kind`` is one of :data:`ATTRIBUTIONS`; ``reason`` one sentence with the numbers;
    ``numbers`` the trend, its interval, the top rung's accuracy and the verdicts that decided.
    """

    kind: str
    reason: str
    numbers: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in ATTRIBUTIONS:
            raise ValueError(f"kind must be one of {ATTRIBUTIONS}, got {self.kind!r}")

    @property
    def line(self) -> str:
        """``"<kind>: <reason>"``: what a result file's ``why`` stores per instrument."""
        return f"{self.kind}: {self.reason}"

    def as_dict(self) -> dict:
        return asdict(self)


def _check_frame(frame: pd.DataFrame, columns: Sequence[str] = COLUMNS) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise ValueError(f"a ladder frame needs the columns {list(COLUMNS)}; missing {missing}")


def _spearman(x: pd.Series, y: pd.Series) -> float:
    keep = np.isfinite(x.to_numpy(dtype=float)) & np.isfinite(y.to_numpy(dtype=float))
    x, y = x[keep], y[keep]
    if len(x) < 3 or x.nunique() < 2:
        return math.nan
    return 0.0 if y.nunique() < 2 else float(sps.spearmanr(x, y).statistic)  # a constant one does not move


def run_trends(frame: pd.DataFrame, side: Side) -> pd.Series:
    """Per run: the mean over families of the within-family Spearman rho of the signed distance
    (:meth:`Side.signed_distance` of ``statistic``) against ``test_accuracy`` across the rungs
    (NaN where no family has 3 rungs with a finite statistic and distinct accuracies; a constant
    statistic has rho 0: it does not move)."""
    _check_frame(frame)
    signed = frame.assign(signed=side.signed_distance(frame["statistic"]))
    out = {}
    for run, g in signed.groupby("run", sort=True):
        rhos = [_spearman(f["test_accuracy"], f["signed"]) for _, f in g.groupby("family", sort=True)]
        rhos = [r for r in rhos if np.isfinite(r)]
        out[run] = float(np.mean(rhos)) if rhos else math.nan
    return pd.Series(out, dtype=float, name="rho")


def trend_interval(per_run: Sequence[float], *, n_boot: int = 2000, confidence: float = 0.95,
                   seed: int = 0) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of the finite per-run trends and its percentile bootstrap
    interval, resampling runs with replacement (NaN everywhere with fewer than :data:`MIN_RUNS`)."""
    values = np.asarray([v for v in per_run if np.isfinite(v)], dtype=float)
    if values.size < MIN_RUNS:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_boot, values.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return float(values.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def top_rung_accuracy(frame: pd.DataFrame) -> dict[str, float]:
    """Per family: the test accuracy at its top rung (the largest ``rung``), mean over runs."""
    _check_frame(frame, ("family", "rung", "test_accuracy"))
    top = frame[frame["rung"] == frame.groupby("family")["rung"].transform("max")]
    return {str(k): float(v) for k, v in top.groupby("family", sort=True)["test_accuracy"].mean().items()}


def instrument_split(verdicts: Mapping[str, Sequence[str]], instrument: str) -> str | None:
    """Another instrument whose per-run verdicts share none with ``instrument``'s (the verdict
    differs between them by more than the run-to-run spread), or ``None``. "Not testable" runs
    are left out on both sides: an instrument that cannot decide does not disagree."""
    def decided(runs) -> set:  # "not testable" is no verdict: it cannot disagree with one
        return set(runs) - {NOT_TESTABLE}

    mine = decided(verdicts.get(instrument, ()))
    if not mine:
        return None
    return next((other for other, theirs in verdicts.items()
                 if other != instrument and decided(theirs) and not mine & decided(theirs)), None)


def attribute(frame: pd.DataFrame, side: Side, *, instrument: str = "paper",
              verdicts: Mapping[str, Sequence[str]] | None = None, accuracy_min: float = ACCURACY_MIN,
              n_boot: int = 2000, seed: int = 0) -> Attribution:
    """The attribution of one finding's verdict under ``instrument`` (rules: module docstring).

    Parameters
    ----------
    frame : DataFrame
        One row per run, family and rung: ``run, family, rung, test_accuracy, statistic`` (the
        finding's own statistic under ``instrument``).
    side : Side
        The paper's side, from the finding's claim thresholds.
    instrument : str
        The instrument attributed.
    verdicts : mapping, optional
        Instrument -> its per-run verdicts on the finding's page (``SeedAgreement.per_seed``);
        without it the *instrument* rule is not applied.
    accuracy_min : float
        Test accuracy every family's top rung must reach for *claim*.
    n_boot, seed : int
        The bootstrap over runs.
    """
    top = top_rung_accuracy(frame)
    lowest = min(top.values()) if top else math.nan
    verdicts = {k: list(v) for k, v in (verdicts or {}).items()}
    per_run = run_trends(frame, side)
    mean, low, high = trend_interval(per_run.to_numpy(), n_boot=n_boot, seed=seed)
    trend = Trend(per_run.to_dict(), mean, low, high)
    numbers = dict(instrument=instrument, side=side.describe(), trend=asdict(trend), top_rung_accuracy=top,
                   accuracy_min=accuracy_min, verdicts=verdicts)
    top_text = f"top rung at {lowest:.3f} test accuracy (lowest family)"
    if verdicts.get(instrument) and set(verdicts[instrument]) == {NOT_TESTABLE}:
        return Attribution("undetermined", f"{instrument} is not testable in every run: nothing to attribute",
                           numbers)
    other = instrument_split(verdicts, instrument)
    if other is not None:
        return Attribution("instrument", (
            f"{instrument} gives {'/'.join(sorted(set(verdicts[instrument])))} and {other} "
            f"{'/'.join(sorted(set(verdicts[other])))} in every run: the verdicts differ by more than the "
            "run-to-run spread"), numbers)
    if trend.runs < MIN_RUNS:
        return Attribution("undetermined", (
            f"{trend.runs} run(s) with a defined trend (need {MIN_RUNS}: at least 3 rungs with a finite "
            f"statistic and distinct accuracies); {top_text}"), numbers)
    if low > 0:
        return Attribution("training scale", (
            f"the statistic moves toward the paper's side ({side.describe()}) as accuracy rises: "
            f"{trend.text()}; {top_text}"), numbers)
    moving = "moves away from" if high < 0 else "does not move toward"
    if lowest >= accuracy_min:
        return Attribution("claim", (
            f"the statistic {moving} the paper's side ({side.describe()}) as accuracy rises, with every "
            f"family's {top_text} >= {accuracy_min:.2f}: {trend.text()}"), numbers)
    return Attribution("undetermined", (
        f"the statistic {moving} the paper's side ({side.describe()}), but the {top_text} is below "
        f"{accuracy_min:.2f}: {trend.text()}"), numbers)


def off_ladder(test_accuracy, outcomes: Sequence) -> tuple[list, Attribution]:
    """The attribution a chapter off the training ladder can give, and its outcomes with it.

    The trajectories and toroids chapters train their networks at one scale and have no rungs:
    their verdicts can only be *undetermined* between training scale and claim (an
    *instrument* split needs two instruments; each of them has one). ``test_accuracy``: every
    measured network's test accuracy (the reason states their range). Returns the outcomes with
    ``why`` set (``{"verdict": line}``) and the :class:`Attribution`.
    """
    acc = np.asarray(test_accuracy, dtype=float).reshape(-1)
    acc = acc[np.isfinite(acc)]
    scale = f" (test accuracy {acc.min():.2f}-{acc.max():.2f})" if acc.size else ""
    found = Attribution("undetermined", f"off the training ladder: its networks train at one scale{scale}, "
                                        "so the training scale cannot be told apart from the claim",
                        {"test_accuracy_min": float(acc.min()) if acc.size else math.nan,
                         "test_accuracy_max": float(acc.max()) if acc.size else math.nan})
    return [replace(o, why={"verdict": found.line}) for o in outcomes], found
