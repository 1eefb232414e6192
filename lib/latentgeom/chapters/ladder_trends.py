"""The training ladder's statistics and its direction test: pure functions of frames.

What :mod:`.ladder` computes once its profiles are measured, and the test it applies to them
(book page ``book/findings/training-ladder.md``):

- :func:`model_statistics` (with :func:`id_curvature_rho`, :func:`curvature_columns`): every
  finding's headline statistic of one model, with the definitions of the finding pages:
  :func:`~.curvature_shapes.shape_metrics` (curvature 1: ``final_ratio``, ``plateau_spread``),
  :func:`~.curvature_shapes.gap_table` (curvature 3: the normalised gap), the within-model
  Spearman of TwoNN ID against MAPC over the latent layers (curvature 4),
  :func:`~.id_profiles.hunchback_summary` of the class-averaged ID profile (intrinsic dimension
  1: ``rise``, ``fall``) and the last hidden layer's ID on mixed-class images (intrinsic
  dimension 3);
- :data:`HEADLINES`: each statistic, the finding it comes from and the paper's value
  (:func:`headline_table`: as a table; :func:`headline_columns`: its column in a statistics
  table);
- the direction test: :func:`distance_to_paper`, :func:`within_family_spearman`,
  :func:`direction_label`, :func:`directions` and :func:`checks`;
- :func:`relation_correlations`: curvature 3's and intrinsic dimension 3's own correlations,
  pooled over the ladder's checkpoints.

Papers: Kaufman & Azencot, "Data representations' study of latent image manifolds", ICML 2023
(arXiv 2305.19730); Ansuini, Laio, Macke & Zoccolan, "Intrinsic dimension of data
representations in deep neural networks", NeurIPS 2019 (arXiv 1905.12784).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..reporting.statistics import bootstrap_correlation
from ..validation import check_range
from .curvature_shapes import gap_table, shape_metrics
from .id_profiles import hunchback_summary

__all__ = ["DIRECTIONS", "HEADLINES", "READING_DIRECTIONS", "SCALE_FREE_PREFIX", "Headline", "checks",
           "curvature_columns", "direction_label", "directions", "distance_to_paper", "headline_columns",
           "headline_table", "id_curvature_rho", "model_statistics", "relation_correlations",
           "within_family_spearman"]

#: Prefix of the scale-free curvature columns of a profile (reported when present, never required).
SCALE_FREE_PREFIX = "scale_free_"
#: Directions of a headline statistic along the ladder, relative to the paper's value.
DIRECTIONS = ("toward", "away", "no trend", "at the paper's value")
#: Directions of the statistics read without a paper value (the scale-free columns).
READING_DIRECTIONS = ("rises", "falls", "no trend")


# --------------------------------------------------------------------------------------------
# Statistics of one model (the finding pages' definitions)


def id_curvature_rho(profile: pd.DataFrame, column: str) -> float:
    """Spearman rho of TwoNN ``id_mean`` against ``column`` over one model's latent layers
    (relative depth > 0): curvature 4's within-model statistic (NaN if constant)."""
    latent = profile[profile["relative_depth"] > 0]
    if len(latent) < 3:
        raise ValueError(f"need at least 3 latent layers, got {len(latent)}")
    return float(latent["id_mean"].corr(latent[column], method="spearman"))


def curvature_columns(profile: pd.DataFrame, modes: Sequence[str]) -> dict[str, str]:
    """``{suffix: column}`` of the curvature quantities to summarise: ``mapc_M`` for each mode
    (suffix ``M``) and every numeric ``scale_free_*`` column (suffix: the column name)."""
    out = {m: f"mapc_{m}" for m in modes if f"mapc_{m}" in profile}
    out.update({c: c for c in profile.columns
                if c.startswith(SCALE_FREE_PREFIX) and pd.api.types.is_numeric_dtype(profile[c])})
    return out


def model_statistics(profile: pd.DataFrame, id_profile: pd.DataFrame, last_hidden_id: float,
                     modes: Sequence[str]) -> dict:
    """Every headline statistic of one model (one checkpoint of one family).

    ``profile`` is its curvature profile (:func:`latentgeom.profile`), ``id_profile`` its
    class-averaged ID profile (:func:`latentgeom.chapters.id_profiles.average_over_classes`),
    ``last_hidden_id`` the TwoNN ID of its last hidden layer on mixed-class images. Curvature
    columns are suffixed by the mode (``final_ratio_paper``) or the scale-free column name.
    """
    out = {}
    for suffix, column in curvature_columns(profile, modes).items():
        shape = shape_metrics(profile, column)
        out[f"final_ratio_{suffix}"] = shape["final_ratio"]
        out[f"plateau_spread_{suffix}"] = shape["plateau_spread"]
    for mode in modes:
        out[f"gap_{mode}"] = float(gap_table(profile, by="model", modes=[mode])[f"gap_{mode}"].iloc[0])
        out[f"id_mapc_rho_{mode}"] = id_curvature_rho(profile, f"mapc_{mode}")
    hunch = hunchback_summary(id_profile)
    out.update(id_rise=hunch["rise"], id_fall=hunch["fall"], last_hidden_id=float(last_hidden_id))
    return out


# --------------------------------------------------------------------------------------------
# The paper's values and the direction test (pure functions)


@dataclass(frozen=True)
class Headline:
    """One finding's headline statistic on the ladder.

    ``kind="level"``: the paper gives a value (range ``low..high``) and the test asks whether our
    distance to it shrinks as accuracy rises. ``kind="relation"``: the paper's claim is itself a
    relation with accuracy (``sign`` +1: the statistic rises with accuracy, -1: it falls); the
    range is drawn for orientation only. ``log``: distances are in decades (ratios).
    """

    key: str
    finding: str
    title: str
    kind: str
    low: float
    high: float
    log: bool
    source: str
    sign: int = 0
    per_mode: bool = True


HEADLINES: tuple[Headline, ...] = (
    Headline("final_ratio", "curvature-1-profile-shape", "last / penultimate MAPC", "level", 6.0, 19.6, True,
             "Kaufman & Azencot 2023, Figs. 2-3: CIFAR-10 normalised gaps 5-18.6, i.e. ratios 6-19.6"),
    Headline("plateau_spread", "curvature-1-profile-shape", "plateau spread (max / min middle MAPC)", "level",
             1.0, 8.3, True, "Kaufman & Azencot 2023, Fig. 2: the plateau spans 0.03-0.25 over six networks"),
    Headline("gap", "curvature-3-gap-accuracy", "normalised curvature gap", "relation", 5.0, 18.6, False,
             "Kaufman & Azencot 2023, Fig. 3: the gap rises with accuracy, also along training; CIFAR-10 5-18.6",
             sign=+1),
    Headline("id_mapc_rho", "curvature-4-id-vs-curvature", "Spearman(ID, MAPC) over latent layers", "level",
             -0.7, 0.7, False, "Kaufman & Azencot 2023, Sec. 5: ID not indicative of curvature "
             "(|rho| < 0.7, curvature 4's threshold)"),
    Headline("id_rise", "id-1-hunchback", "ID peak / input", "level", 2.5, 2.5, True,
             "Ansuini et al. 2019: VGG-16 ID 29 at the input, 72 at the peak", per_mode=False),
    Headline("id_fall", "id-1-hunchback", "ID last hidden / peak", "level", 0.09, 0.2, True,
             "Ansuini et al. 2019: VGG-16 6.5 / 72 = 0.09; ImageNet models ~0.2", per_mode=False),
    Headline("last_hidden_id", "id-3-last-layer-vs-accuracy", "last hidden layer ID", "relation", 6.5, 25.0, True,
             "Ansuini et al. 2019, Fig. 5: lower last-hidden ID, lower error (r = 0.94); VGG-16 6.5, ImageNet 15-25",
             sign=-1, per_mode=False),
)


def headline_table(headlines: Sequence[Headline] = HEADLINES) -> pd.DataFrame:
    """The headline statistics and the paper's values, as a table for the page."""
    return pd.DataFrame([dict(statistic=h.title, finding=h.finding, test=h.kind, paper_low=h.low,
                              paper_high=h.high, scale="log" if h.log else "linear", source=h.source)
                         for h in headlines])


def headline_columns(stats: pd.DataFrame, mode: str = "paper",
                     headlines: Sequence[Headline] = HEADLINES) -> list[tuple[Headline, str]]:
    """``(headline, column)`` of every headline statistic measured in ``stats`` under ``mode``
    (the column ``<key>_<mode>``, or ``<key>`` for a mode-free statistic): what the page charts."""
    columns = [(h, f"{h.key}_{mode}" if h.per_mode else h.key) for h in headlines]
    return [(h, column) for h, column in columns if column in stats]


def distance_to_paper(values, low: float, high: float, *, log: bool) -> np.ndarray:
    """Distance of each value to the paper's range ``[low, high]``: 0 inside; outside, the
    distance to the nearer end, in decades (``log=True``, values must be > 0) or plain units.

    NaN values stay NaN.
    """
    values = np.asarray(values, dtype=float)
    if not low <= high:
        raise ValueError(f"low must be <= high, got {low} > {high}")
    if log:
        if low <= 0:
            raise ValueError(f"a log distance needs a positive range, got low={low}")
        if (values[np.isfinite(values)] <= 0).any():
            raise ValueError("a log distance needs positive values")
        values, low, high = np.log10(values), math.log10(low), math.log10(high)
    distance = np.where(values < low, low - values, np.where(values > high, values - high, 0.0))
    return np.where(np.isnan(values), np.nan, distance)


def within_family_spearman(frame: pd.DataFrame, column: str, *, x: str = "test_accuracy",
                           family: str = "model") -> pd.Series:
    """Spearman rho of ``column`` against ``x`` across each family's checkpoints (NaN rows
    dropped; NaN where a family has fewer than 3 points or a constant column)."""
    for c in (column, x, family):
        if c not in frame:
            raise ValueError(f"frame has no column {c!r}")
    out = {}
    for name, g in frame.groupby(family, sort=False):
        g = g[[x, column]].dropna()
        constant = g[column].nunique() < 2 or g[x].nunique() < 2
        out[name] = math.nan if len(g) < 3 or constant else float(sps.spearmanr(g[x], g[column]).statistic)
    return pd.Series(out, name=column, dtype=float)


def direction_label(rho: float, threshold: float = 0.5, *, at_paper: bool = False) -> str:
    """``rho`` is the (mean within-family) Spearman of the *distance to the paper* against
    accuracy: <= -threshold is "toward", >= +threshold "away", else "no trend"; ``at_paper``
    (the distance is 0 at every checkpoint) gives "at the paper's value"."""
    check_range(threshold, "threshold", 0, 1, closed="right")
    if at_paper:
        return DIRECTIONS[3]
    if not np.isfinite(rho):
        return DIRECTIONS[2]
    return DIRECTIONS[0] if rho <= -threshold else DIRECTIONS[1] if rho >= threshold else DIRECTIONS[2]


def _suffixes(stats: pd.DataFrame, key: str) -> list[str]:
    return [c[len(key) + 1:] for c in stats.columns if c.startswith(f"{key}_")]


def _columns(stats: pd.DataFrame, h: Headline) -> list[tuple[str | None, str]]:
    """``(mode or None, column)`` of a headline in the statistics table (scale-free ones excluded)."""
    if not h.per_mode:
        return [(None, h.key)] if h.key in stats else []
    return [(s, f"{h.key}_{s}") for s in _suffixes(stats, h.key) if not s.startswith(SCALE_FREE_PREFIX)]


def relation_correlations(stats: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0,
                          headlines: Sequence[Headline] = HEADLINES) -> pd.DataFrame:
    """The relation findings' own test on the ladder: Pearson and Spearman (bootstrap 95 %
    intervals, :func:`latentgeom.bootstrap_correlation`) of each relation statistic against test
    accuracy, pooled over every checkpoint of every family — curvature 3's gap-accuracy
    correlation and intrinsic dimension 3's last-hidden ID against accuracy. ``paper_sign`` is the
    sign the paper reports (+: rises with accuracy)."""
    rows = []
    for h in headlines:
        for suffix, column in (_columns(stats, h) if h.kind == "relation" else []):
            frame = stats[[column, "test_accuracy"]].dropna()
            c = bootstrap_correlation(frame[column], frame["test_accuracy"], n_boot=n_boot, seed=seed)
            rows.append(dict(statistic=h.title, finding=h.finding, mode=suffix or "—",
                             paper_sign="+" if h.sign > 0 else "-", n=c.n, pearson=c.pearson,
                             pearson_low=c.pearson_ci[0], pearson_high=c.pearson_ci[1], spearman=c.spearman,
                             spearman_low=c.spearman_ci[0], spearman_high=c.spearman_ci[1]))
    return pd.DataFrame(rows)


def directions(stats: pd.DataFrame, threshold: float = 0.5,
               headlines: Sequence[Headline] = HEADLINES) -> pd.DataFrame:
    """The direction of every headline statistic along the ladder (one row per statistic and
    estimator mode / scale-free column).

    ``rho`` is the mean over families of the within-family Spearman of the *toward-the-paper
    score* against test accuracy, with its sign set so that negative means toward: for a level
    statistic the score is the distance to the paper's range (:func:`distance_to_paper`); for a
    relation statistic it is ``-sign x statistic``. ``rho_pooled`` is the same Spearman over all
    checkpoints of all families, for reading; ``first`` / ``last`` the median over families of the
    statistic at the first / last checkpoint; ``closed`` (level statistics) the median over
    families of the share of the first checkpoint's distance to the paper closed by the last one
    (1: reached, 0: no closer, < 0: farther; NaN when the first is already at the paper's value).
    Scale-free columns (no paper value) get ``kind="reading"``: ``rho`` of the statistic itself,
    and direction "rises"/"falls"/"no trend".
    """
    rows = []
    for h in headlines:
        for suffix, column in _columns(stats, h):
            values = stats[column].to_numpy(dtype=float)
            score = distance_to_paper(values, h.low, h.high, log=h.log) if h.kind == "level" else -h.sign * values
            frame = stats[["model", "test_accuracy"]].assign(score=score)
            per_family = within_family_spearman(frame, "score")
            rho = float(per_family.mean()) if per_family.notna().any() else math.nan
            pooled = within_family_spearman(frame.assign(model="all"), "score")["all"]
            finite = score[np.isfinite(score)]
            at_paper = h.kind == "level" and finite.size > 0 and bool(np.all(finite == 0))
            ordered = stats.assign(value=values, score=score).sort_values("epoch", kind="stable").groupby("model")
            ends, gaps = ordered["value"], ordered["score"]
            with np.errstate(divide="ignore", invalid="ignore"):
                closed = (1 - gaps.last() / gaps.first()).replace([np.inf, -np.inf], np.nan)
            rows.append(dict(statistic=h.title, finding=h.finding, key=h.key, mode=suffix or "—", kind=h.kind,
                             paper=f"{h.low:g}" if h.low == h.high else f"{h.low:g} to {h.high:g}",
                             first=float(ends.first().median()), last=float(ends.last().median()),
                             closed=float(closed.median()) if h.kind == "level" and closed.notna().any() else math.nan,
                             **{f"rho_{k}": v for k, v in per_family.items()}, rho=rho, rho_pooled=pooled,
                             direction=direction_label(rho, threshold, at_paper=at_paper)))
    for key in ("final_ratio", "plateau_spread"):
        for suffix in (s for s in _suffixes(stats, key) if s.startswith(SCALE_FREE_PREFIX)):
            per_family = within_family_spearman(stats, f"{key}_{suffix}")
            rho = float(per_family.mean()) if per_family.notna().any() else math.nan
            rows.append(dict(statistic=f"{key} of {suffix}", finding="curvature-1-profile-shape", key=key,
                             mode=suffix, kind="reading", paper="—", **{f"rho_{k}": v for k, v in per_family.items()},
                             rho=rho, direction=READING_DIRECTIONS[0] if rho >= threshold
                             else READING_DIRECTIONS[1] if rho <= -threshold else READING_DIRECTIONS[2]))
    return pd.DataFrame(rows)


def checks(table: pd.DataFrame, mode: str = "paper") -> dict[str, bool]:
    """One check per headline statistic under ``mode`` (and every mode-free one): passes when it
    moves toward the paper's value as accuracy rises, or sits at it throughout."""
    rows = table[(table["kind"] != "reading") & table["mode"].isin([mode, "—"])]
    if rows.empty:
        raise ValueError(f"no headline statistic measured under mode {mode!r}")
    return {f"{r.statistic} ({r.finding}) moves toward the paper's value as accuracy rises":
            r.direction in (DIRECTIONS[0], DIRECTIONS[3]) for r in rows.itertuples()}

