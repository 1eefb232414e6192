"""The intrinsic-dimension paper's four claims and their tests, fixed before any ID is computed.

Ansuini, Laio, Macke & Zoccolan, NeurIPS 2019 (arXiv:1905.12784). Each claim (:data:`CLAIMS`)
carries the thresholds of its tests with their reasons and its preconditions. Three claims are
about each network's own profile and are judged *per run* (:data:`PER_RUN`: one training seed of
every network and one image sample; :func:`hunchback`, :func:`width_and_pca`,
:func:`untrained_and_random_labels`); the fourth relates networks to each other and is judged
*once*, on the independently trained final networks of every run pooled
(:data:`POOLED`: :func:`last_layer_vs_accuracy`), with their checkpoints as the along-training
trend only. The chapter (:mod:`.intrinsic_dimension`) combines the runs.

A check is ``True``/``False``, or ``None`` when the data cannot decide it (too few networks, an
undefined statistic, a PC-ID limited by the sample size); a precondition (the random-label network
memorised its labels) gates its claim and is never counted as a passing check.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from ..reporting.findings import verdict
from ..reporting.statistics import bootstrap_correlation
from .id_profiles import OUTPUT_LAYER, flatness, hunchback_summary, per_model
from .id_study import Run, last_hidden_points
from .protocol import Claim

__all__ = ["CLAIMS", "Evaluation", "HUNCHBACK", "LAST_LAYER", "PER_RUN", "POOLED", "SHARE_MIN", "TRAINING",
           "WIDTH_AND_PCA", "at_least", "at_most", "hidden_layers", "hunchback", "last_layer_vs_accuracy",
           "pca_capped", "thresholds", "untrained_and_random_labels", "width_and_pca", "width_over_id"]

NOTEBOOK = "book/findings/intrinsic-dimension.md"
SOURCE = "Ansuini, Laio, Macke & Zoccolan, NeurIPS 2019 (arXiv:1905.12784)"
#: A shape counts as reproduced when at least this share of the zoo's models shows it (claims 1, 2 and 4).
SHARE_MIN = 2 / 3
_SHARE_WHY = "a shape counts as reproduced when >= 2/3 of the zoo models show it."

# --------------------------------------------------------------------------------------------
# The claims, and the thresholds of their tests, fixed before the data. The margins are loose
# compared to the paper's numbers (our networks are shallow and Fashion-MNIST is simpler than
# ImageNet) but well outside the TwoNN error bars (a few percent at a few hundred points).

HUNCHBACK = Claim(
    id="id-1-hunchback", page=NOTEBOOK,
    title="Across layers the ID rises, then falls (the hunchback)",
    statement=("The intrinsic dimension of layer representations first rises from the input to a peak in the first "
               "half of the network, then falls towards the last hidden layer."),
    source=f"{SOURCE}: the ID profiles of VGG-16 and of 14 ImageNet models",
    paper={"vgg16": {"input": 29, "peak_pool1": 72, "last_hidden": 6.5},
           "imagenet_models": {"peak": [100, 120], "peak_relative_depth": [0.2, 0.45], "last_hidden": [15, 25]}},
    paper_value="VGG-16: ID 29 at the input, peak 72, 6.5 at the last hidden layer",
    thresholds=dict(rise_min=1.2, fall_max=0.5, peak_depth_max=0.6, share_min=SHARE_MIN),
    reasons=dict(
        rise_min="peak ID >= 1.2 x input ID. Paper: VGG-16 29 -> 72 (x2.5); ImageNet peaks 100-120.",
        fall_max="last-hidden ID <= 0.5 x peak ID. Paper: 6.5 / 72 = 0.09 (VGG-16), ~0.2 across models.",
        peak_depth_max="median peak at relative depth <= 0.6. Paper: peaks at 0.2-0.45.",
        share_min=_SHARE_WHY))

WIDTH_AND_PCA = Claim(
    id="id-2-pca-vs-twonn", page=NOTEBOOK,
    title="ID is far below the width; PC-ID is far larger and misses training",
    statement=("The ID is orders of magnitude below the number of units; PC-ID (90 % variance) is far larger "
               "(hundreds) and nearly the same for trained and untrained networks."),
    source=f"{SOURCE}: TwoNN against the layers' widths and against PC-ID, trained and untrained",
    paper={"vgg16_width_over_id": {"pool1": 802816 / 72, "last_hidden": 4096 / 6.5}, "pca_id": "hundreds",
           "pca_trained_vs_untrained": "nearly the same"},
    paper_value="width/ID ~600-10^4; PC-ID in the hundreds, same trained or untrained",
    thresholds=dict(width_ratio_min=10.0, share_min=SHARE_MIN, pca_ratio_min=3.0, pca_same_max=0.3,
                    pca_cap_share=0.5),
    reasons=dict(
        width_ratio_min=("a network passes when every one of its hidden layers has width >= 10 x its ID (>= 1 order "
                         "of magnitude; paper: 4096 / 6.5 ~ 600 at the last hidden layer, ~1e4 at pool1)."),
        share_min=("decided per network, as claims 1 and 4: >= 2/3 of the trained zoo must pass (the claim is about "
                   "each network's layers; one layer of one network, the pooled minimum, no longer decides it)."),
        pca_ratio_min="median PC-ID / TwoNN over hidden layers >= 3 (paper: hundreds vs 10-100).",
        pca_same_max="median |PC-ID trained - untrained| / untrained <= 30 % (\"nearly the same\").",
        pca_cap_share=("a PC-ID >= 0.5 x (n - 1) of its n points is limited by the sample (n points span n - 1 "
                       "directions; at k/n >= 1/2 the sample spectrum of equal directions spreads ~34x): it is a "
                       "lower bound, so a PC-ID check it could overturn is undecided (None), never passed.")))

LAST_LAYER = Claim(
    id="id-3-last-layer-vs-accuracy", page=NOTEBOOK,
    title="Lower last-hidden-layer ID, lower test error",
    statement="The ID of the last hidden layer predicts test error: Pearson r ~ 0.94 across 14 models.",
    source=f"{SOURCE}: last-hidden-layer ID against top-5 error of 14 ImageNet models",
    paper={"pearson_r_top5_error": 0.94, "n_models": 14},
    paper_value="Pearson r = 0.94 (last-hidden ID vs top-5 error, 14 models)",
    thresholds=dict(r_min=0.6, networks_min=8),
    reasons=dict(
        r_min=("Pearson r(ID, error) >= 0.6 and both bootstrap 95 % intervals above 0. Paper: r = 0.94 over 14 "
               "ImageNet models spanning ~20 points of top-5 error; our zoo spans a few points of error, so we "
               "ask for a strong, not a 0.94, r."),
        networks_min=("decided on independently trained final networks only (the zoo under every training seed), "
                      "pooled over the runs and resampled by network (a network measured on several image samples "
                      "is one unit); fewer than 8 networks decide nothing. Checkpoints share their final network's "
                      "training run: they show the along-training trend and decide nothing.")))

TRAINING = Claim(
    id="id-4-untrained-random-labels", page=NOTEBOOK,
    title="Untrained: flat ID profile; random labels: ID rises again at the last hidden layer",
    statement=("Untrained networks have a flat ID profile; networks trained on random labels show an ID that rises "
               "again at the last hidden layer instead of falling."),
    source=f"{SOURCE}: untrained networks and networks trained on random labels",
    paper={"untrained": "flat profile", "random_labels": "ID increases at the last hidden layer"},
    paper_value="untrained: flat profile; random labels: last hidden ID rises",
    thresholds=dict(flat_max=1.5, share_min=SHARE_MIN, rl_fit_min=0.9, rl_rise_min=1.1, rl_above_min=1.5),
    reasons=dict(
        flat_max=("untrained: max / min ID over input..last hidden <= 1.5 in >= 2/3 of the architectures (trained "
                  "VGG-16 in the paper: 72 / 6.5 ~ 11)."),
        share_min=_SHARE_WHY,
        rl_fit_min="precondition: random labels memorised, train accuracy >= 0.9 (chance: 0.1).",
        rl_rise_min="random labels: last-hidden ID >= 1.1 x the layer before (rises again) ...",
        rl_above_min="... and >= 1.5 x the same architecture trained on true labels."),
    preconditions=("The network trained on random labels memorised them (train accuracy >= rl_fit_min): only then "
                   "does its ID profile say anything. A run where it did not is not testable.",))

CLAIMS = {c.id: c for c in (HUNCHBACK, WIDTH_AND_PCA, LAST_LAYER, TRAINING)}


def thresholds(claim: Claim) -> dict[str, float]:
    """The claim's thresholds as floats (the checks' names print them so: ``>= 10.0 x``)."""
    return {name: float(value) for name, value in claim.thresholds.items()}


@dataclass
class Evaluation:
    """One claim in one run (or pooled over the runs): named ``checks`` (``None``: undecided),
    the ``preconditions`` that gate them, their ``verdict``, the ``headline`` numbers (whose
    spread over runs the page reports), ``ours`` (all numbers, for the result file) and
    ``tables`` (frames the page shows)."""

    checks: dict
    verdict: str
    headline: dict
    ours: dict
    tables: dict = field(default_factory=dict)
    preconditions: dict = field(default_factory=dict)


def _evaluation(checks: dict, headline: dict, ours: dict, tables: dict, preconditions: dict | None = None):
    preconditions = dict(preconditions or {})
    return Evaluation(checks, verdict(checks, preconditions), headline,
                      {**ours, "preconditions": preconditions}, tables, preconditions)


# --------------------------------------------------------------------------------------------
# Deciding with lower bounds


def at_least(low: float, high: float, threshold: float) -> bool | None:
    """Is a number known only to lie in ``[low, high]`` at least ``threshold``? ``None`` when
    the interval straddles it (the data cannot decide)."""
    return True if low >= threshold else False if high < threshold else None


def at_most(low: float, high: float, threshold: float) -> bool | None:
    """Is a number known only to lie in ``[low, high]`` at most ``threshold``? (``None``: undecided.)"""
    return True if high <= threshold else False if low > threshold else None


def pca_capped(pca_id, n_points: int, cap_share: float) -> np.ndarray:
    """Which PC-IDs are limited by their sample: ``pca_id >= cap_share * (n_points - 1)``
    (``n_points`` points span at most ``n_points - 1`` directions). Such a PC-ID is a lower
    bound of the layer's, not a measurement of it. Shape: as ``pca_id``."""
    return np.asarray(pca_id, dtype=float) >= cap_share * (n_points - 1)


# --------------------------------------------------------------------------------------------
# Per run: each network's own profile


def hunchback(run: Run) -> Evaluation:
    """Claim 1 on the class-averaged profiles of the trained zoo."""
    T = thresholds(HUNCHBACK)
    shape = per_model(run.profiles[run.profiles.state == "trained"], hunchback_summary, by=("label",))
    hunch = dict(rise_share=float(np.mean(shape.rise >= T["rise_min"])),
                 fall_share=float(np.mean(shape.fall <= T["fall_max"])),
                 interior_share=float(np.mean(shape.peak_interior)),
                 median_peak_depth=float(shape.peak_depth.median()),
                 median_rise=float(shape.rise.median()), median_fall=float(shape.fall.median()))
    share = T["share_min"]
    checks = {
        f"ID rises (peak >= {T['rise_min']} x input) in >= {share:.2g} of trained models": hunch["rise_share"] >= share,
        f"ID falls (last hidden <= {T['fall_max']} x peak) in >= {share:.2g} of trained models":
            hunch["fall_share"] >= share,
        f"peak at an interior layer in >= {share:.2g} of trained models": hunch["interior_share"] >= share,
        f"median peak depth <= {T['peak_depth_max']}": hunch["median_peak_depth"] <= T["peak_depth_max"],
    }
    headline = {k: hunch[k] for k in ("median_rise", "median_fall", "median_peak_depth")}
    return _evaluation(checks, headline, {**hunch, "models": shape.to_dict("records")}, {"models": shape})


def hidden_layers(profiles: pd.DataFrame) -> pd.DataFrame:
    """The rows of the hidden layers of ``profiles`` (input and logits left out): what claim 2
    is tested on."""
    return profiles[~profiles.layer.isin(["input", OUTPUT_LAYER])]


def width_over_id(profiles: pd.DataFrame, column: str = "id_mean") -> pd.Series:
    """Each row's layer width (units) over its TwoNN ID (``column``): claim 2's headline
    ratio, which a network passes when every hidden layer has it >= ``width_ratio_min``. Its
    minimum over a network's hidden layers is the training ladder's statistic of claim 2."""
    return profiles["layer_width"] / profiles[column]


def width_and_pca(run: Run) -> Evaluation:
    """Claim 2 on the hidden layers (input and logits left out) of the trained and untrained zoo.

    The width test is decided per network (every hidden layer of the network), then over the
    zoo (``share_min``). The PC-ID tests read a PC-ID at its sample's cap (:func:`pca_capped`,
    ``run.pca_points`` images) as a lower bound: its ratio to TwoNN could be anything above, and
    its change between trained and untrained anything at all; a median such bounds leave on both
    sides of its threshold is undecided (``None``).
    """
    T = thresholds(WIDTH_AND_PCA)
    inner = hidden_layers(run.profiles).copy()
    inner["width_over_id"] = width_over_id(inner)
    inner["pca_over_id"] = inner.pca_id / inner.id_mean
    inner["pca_capped"] = pca_capped(inner.pca_id, run.pca_points, T["pca_cap_share"])
    untrained = inner[inner.state == "untrained"][["label", "layer", "id_mean", "pca_id", "pca_capped"]]
    paired = inner[inner.state == "trained"].merge(untrained, on=["label", "layer"], suffixes=("", "_untrained"))
    paired["pca_change"] = (paired.pca_id - paired.pca_id_untrained).abs() / paired.pca_id_untrained
    paired["twonn_change"] = (paired.id_mean - paired.id_mean_untrained).abs() / paired.id_mean_untrained
    trained_inner = inner[inner.state == "trained"]
    wide = trained_inner.groupby("label", sort=False).width_over_id.min() >= T["width_ratio_min"]
    # Bounds of each median: a capped PC-ID could be any larger number; a capped pair any change.
    ratio_high = trained_inner.pca_over_id.where(~trained_inner.pca_capped, np.inf)
    either = paired.pca_capped | paired.pca_capped_untrained
    change_low, change_high = paired.pca_change.where(~either, 0.0), paired.pca_change.where(~either, np.inf)
    ratios = dict(width_share=float(wide.mean()), min_width_over_id=float(trained_inner.width_over_id.min()),
                  median_width_over_id=float(trained_inner.width_over_id.median()),
                  median_pca_over_id=float(trained_inner.pca_over_id.median()),
                  median_pca_change=float(paired.pca_change.median()),
                  median_twonn_change=float(paired.twonn_change.median()),
                  pca_capped_share=float(inner.pca_capped.mean()), pca_cap=T["pca_cap_share"] * (run.pca_points - 1))
    checks = {
        f"every hidden layer's width >= {T['width_ratio_min']} x its ID in >= {T['share_min']:.2g} of trained models":
            ratios["width_share"] >= T["share_min"],
        f"PC-ID much larger: median PC-ID / TwoNN >= {T['pca_ratio_min']}":
            at_least(ratios["median_pca_over_id"], float(np.median(ratio_high)), T["pca_ratio_min"]),
        f"PC-ID nearly the same trained vs untrained (median change <= {T['pca_same_max']:.0%})":
            at_most(float(np.median(change_low)), float(np.median(change_high)), T["pca_same_max"]),
    }
    headline = {k: ratios[k] for k in ("width_share", "min_width_over_id", "median_pca_over_id", "median_pca_change",
                                       "pca_capped_share")}
    return _evaluation(checks, headline, {**ratios, "layers": paired.to_dict("records")},
                       {"layers": paired, "inner": inner})


def untrained_and_random_labels(run: Run) -> Evaluation:
    """Claim 4 on the untrained zoo's profiles and the run's random/true-label pair, gated by
    the precondition that the random-label network memorised its labels."""
    T = thresholds(TRAINING)
    untrained = run.profiles[run.profiles.state == "untrained"]
    flat = per_model(untrained, lambda f: {"flatness": flatness(f)}, by=("label",))
    rl_random = hunchback_summary(run.rl[run.rl["labels"] == "random"])
    rl_true = hunchback_summary(run.rl[run.rl["labels"] == "true"])
    share = T["share_min"]
    flat_share = float(np.mean(flat.flatness <= T["flat_max"]))
    preconditions = {f"random labels memorised (train accuracy >= {T['rl_fit_min']})":
                     bool(run.rl_accuracy["random"] >= T["rl_fit_min"])}
    checks = {
        f"untrained profile flat (max/min <= {T['flat_max']}) in >= {share:.2g} of models": flat_share >= share,
        f"random labels: last hidden ID >= {T['rl_rise_min']} x the layer before":
            rl_random["last_vs_previous"] >= T["rl_rise_min"],
        f"random labels: last hidden ID >= {T['rl_above_min']} x true labels":
            rl_random["last_id"] >= T["rl_above_min"] * rl_true["last_id"],
    }
    headline = dict(untrained_flat_share=flat_share, random_last_vs_previous=rl_random["last_vs_previous"],
                    random_over_true_last=rl_random["last_id"] / rl_true["last_id"],
                    random_train_accuracy=run.rl_accuracy["random"])
    ours = {"untrained": {"flat_share": flat_share, "models": flat.to_dict("records")},
            "random_labels": {"train_accuracy": run.rl_accuracy["random"], **rl_random},
            "true_labels": {"train_accuracy": run.rl_accuracy["true"], **rl_true}}
    return _evaluation(checks, headline, ours, {"untrained": flat}, preconditions)


#: The claims judged on each run, and their tests.
PER_RUN = {HUNCHBACK.id: hunchback, WIDTH_AND_PCA.id: width_and_pca, TRAINING.id: untrained_and_random_labels}


# --------------------------------------------------------------------------------------------
# Once, over the pooled final networks of every run


def last_layer_vs_accuracy(runs: Sequence[Run], *, seed: int = 0) -> Evaluation:
    """Claim 3, decided once on the final networks of every run (:func:`last_hidden_points`):
    one point per network and image sample, resampled by network (``bootstrap_correlation``
    with ``clusters``; bootstrap seeded by ``seed``). Fewer than ``networks_min`` networks, or a
    constant column, leave both checks undecided. The checkpoints give ``ours["trend"]``: each
    network's last-hidden ID and test error along training (mean over its samples), reported,
    never deciding."""
    T = thresholds(LAST_LAYER)
    points = last_hidden_points(runs)
    final = points[points.stage == "final"].reset_index(drop=True)
    networks, training_runs = int(final.network.nunique()), int(final.training_seed.nunique())
    decidable = networks >= T["networks_min"] and final.id_mean.nunique() > 1 and final.test_error.nunique() > 1
    c = bootstrap_correlation(final.id_mean, final.test_error, clusters=final.network, seed=seed) \
        if decidable else None
    checks = {"r(ID, error) > 0 with both 95 % bootstrap intervals above 0": c.significant_positive() if c else None,
              f"strong: Pearson r >= {T['r_min']}": c.pearson >= T["r_min"] if c else None}
    trend = points.groupby(["network", "model", "width", "training_seed", "epoch", "stage"], sort=False).agg(
        id_mean=("id_mean", "mean"), test_error=("test_error", "mean"), test_accuracy=("test_accuracy", "mean"),
        samples=("id_mean", "size")).reset_index()
    ours = {"correlation": c.as_dict() if c else None, "networks": networks, "training_runs": training_runs,
            "points": len(final), "models": final.drop(columns=["relative_depth"]).to_dict("records"),
            "trend": trend.to_dict("records")}
    headline = dict(pearson=c.pearson if c else np.nan, spearman=c.spearman if c else np.nan)
    return _evaluation(checks, headline, ours, {"models": final, "trend": trend})


#: The claims judged once over every run's networks, and their tests.
POOLED = {LAST_LAYER.id: last_layer_vs_accuracy}
