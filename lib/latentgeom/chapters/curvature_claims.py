"""The curvature paper's five claims and their tests, fixed before any profile is computed.

Kaufman & Azencot, "Data Representations' Study of Latent Image Manifolds", ICML 2023
(arXiv 2305.19730). Each claim (:data:`CLAIMS`) carries the thresholds of its tests with their
reasons; each test (:data:`TESTS`) turns one run's wide profiles (one row per model x layer) under
one instrument's column into named pass/fail checks and a few headline numbers. The pages
``book/findings/curvature-*.md`` show the thresholds; :mod:`.curvature` runs the tests over
image-sample and training seeds and under every instrument.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ..reporting.statistics import bootstrap_correlation
from .curvature_shapes import gap_table, segments, shape_table
from .protocol import Claim

__all__ = ["CLAIMS", "PAPER", "TESTS", "Tests"]

PAPER = "Kaufman & Azencot, ICML 2023 (arXiv 2305.19730)"
_PAGE = "book/findings/{}.md"
_CIFAR10 = ["resnet18", "resnet50", "resnet101", "vgg13", "vgg16", "vgg19"]


def _claim(id: str, **fields) -> Claim:
    return Claim(id=id, page=_PAGE.format(id), **fields)


CLAIMS: dict[str, Claim] = {c.id: c for c in (
    _claim(
        "curvature-1-profile-shape", title="Curvature profile: steep rise, plateau, final jump",
        statement=("MAPC rises steeply from the input to the first block, stays on a plateau over the middle "
                   "layers and jumps at the last layer, for every architecture."),
        source=f"{PAPER}, Fig. 2",
        paper={"input_mapc_0_255": 1.6e-4, "first_block_mapc": [0.04, 0.25], "plateau_mapc": [0.03, 0.25],
               "last_layer_mapc": [1.5, 4.0], "architectures": _CIFAR10},
        paper_value="MAPC ~1.6e-4 at the input, 0.03-0.25 plateau, 1.5-4 at the last layer (last/penultimate ~6-20x)",
        thresholds=dict(rise_min=2.0, plateau_spread_max=10.0, final_ratio_min=2.0),
        reasons=dict(
            rise_min=("median middle-layer MAPC over the input's; the paper's 0.04-0.25 over ~1e-2 (its input "
                      "value rescaled to normalised inputs, x 255 sigma ~ 64) is 4x-25x"),
            plateau_spread_max=("max / min over the middle layers: at most one decade; the paper's plateau spans "
                                "0.03-0.25 (~8x) across all six networks together"),
            final_ratio_min=("last over penultimate layer; the smallest jump the paper reports is the CIFAR-100 "
                             "VGG gap of ~1.1 (ratio ~2.1); CIFAR-10 gaps of 5-18.6 are ratios of 6-20"))),
    _claim(
        "curvature-2-untrained", title="Untrained networks: curvature flattens with depth",
        statement=("Untrained networks do not show the trained profile: curvature flattens or falls with depth "
                   "(VGG towards ~1e-9 by relative depth 0.8; ResNets plateau, then the last layer collapses)."),
        source=f"{PAPER}, Fig. 2 (dashed curves)",
        paper={"vgg_untrained_mapc_at_depth_0.8": 1e-9, "resnet_untrained": "plateau, then last-layer collapse",
               "trained_last_layer_mapc": [1.5, 4.0]},
        paper_value="untrained MAPC flattens or falls with depth (VGG ~1e-9 at depth 0.8); no final jump",
        thresholds=dict(final_ratio_min=2.0, flat_trend_max=1.5, trained_over_untrained_min=2.0),
        reasons=dict(
            final_ratio_min="the trained-network threshold of curvature 1: the smallest final jump the paper reports",
            flat_trend_max=("untrained penultimate MAPC at most 1.5x the first latent layer's: the paper's untrained "
                            "curves fall by decades or stay flat; 1.5x leaves room for estimator noise and still "
                            "excludes a rise like the trained final jump"),
            trained_over_untrained_min=("the trained last/penultimate ratio at least twice the untrained one (the "
                                        "paper's jump of 6-20x against a collapse, a ratio below 1)"))),
    _claim(
        "curvature-3-gap-accuracy", title="A larger curvature gap goes with higher test accuracy",
        statement=("The normalised curvature gap between the last two layers correlates strongly and positively "
                   "with test accuracy, across architectures and along training."),
        source=f"{PAPER}, Figs. 3-4",
        paper={"cifar10_vgg": {"accuracy": [93.7, 94.4], "gap": [5.0, 5.7]},
               "cifar10_resnet": {"accuracy": [95.6, 95.7], "gap": [8.0, 18.6]},
               "cifar100_vgg": {"accuracy": [73.4, 75.5], "gap": [1.1, 2.4]},
               "cifar100_resnet": {"accuracy": [78.1, 80.1], "gap": [2.8, 4.4]},
               "checkpoints_accuracy": [73, 87], "correlation": "strong (no coefficient given)"},
        paper_value="strong positive correlation of the normalised gap with accuracy (gaps 1.1-18.6)",
        thresholds=dict(min_models=8, confidence=0.95, strong_rho=0.5),
        reasons=dict(
            min_models="with fewer models a bootstrap interval of a correlation is too wide to mean anything",
            confidence="width of the percentile-bootstrap intervals",
            strong_rho=("'strong' (the paper's word) as a number: Spearman rho >= 0.5, the usual threshold of a "
                        "large effect (Cohen); the paper's CIFAR-10 points and per-architecture checkpoint lines "
                        "imply a rank correlation well above it")),
        preconditions=("at least min_models models (final models and checkpoints) to correlate",)),
    _claim(
        "curvature-4-id-vs-curvature", title="Intrinsic dimension is not indicative of curvature",
        statement="The intrinsic dimension of latent codes is not necessarily indicative of their curvature.",
        source=f"{PAPER}, Sec. 5",
        paper={"claim": "ID not necessarily indicative of curvature", "coefficient": None},
        paper_value="ID not necessarily indicative of curvature (no coefficient given)",
        thresholds=dict(indicative_rho=0.7, confidence=0.95),
        reasons=dict(
            indicative_rho=("'indicative' as a number: |Spearman rho| >= 0.7 between ID and curvature (ranks, so "
                            "the decades curvature spans do not matter) with an interval that excludes 0; below "
                            "that, knowing a layer's ID says little about its curvature"),
            confidence="width of the percentile-bootstrap interval of the pooled correlation")),
    _claim(
        "curvature-5-mixup", title="Mixup flattens intermediate layers, the last layer stays curved",
        statement=("Mixup makes intermediate-layer MAPC ~10x lower than the baseline recipe while the last layer "
                   "stays highly curved."),
        source=f"{PAPER}, Sec. 5 (ResNet50, CIFAR-10)",
        paper={"architecture": "resnet50", "middle_ratio_mixup_over_baseline": 0.1,
               "test_accuracy": {"baseline": 0.957, "manifold mixup": 0.955, "mixup": 0.951,
                                 "no regularisers": 0.906}},
        paper_value="mixup/baseline intermediate MAPC ~0.1x; last layer stays high",
        thresholds=dict(middle_ratio_max=0.5, last_ratio_min=0.5, final_ratio_min=2.0),
        reasons=dict(
            middle_ratio_max=("median over the middle layers of MAPC(mixup) / MAPC(baseline): a factor 2, a third "
                              "of the paper's factor ~10 on a log scale, enough to stand out of seed noise"),
            last_ratio_min="mixup's last-layer MAPC at least half the baseline's (the paper shows it unchanged)",
            final_ratio_min="mixup keeps the final jump of curvature 1 (the smallest jump the paper reports)")),
)}


# --------------------------------------------------------------------------------------------
# The tests: (study, profiles, column) -> {check name: passed} and -> {headline: number}


def _shape_checks(study, profiles, column):
    T, shapes = study.claim.thresholds, shape_table(profiles, column)
    return {
        f"steep rise from the input (median middle / input >= {T['rise_min']:g})":
            (shapes["rise"] >= T["rise_min"]).all(),
        f"plateau over the middle layers (max / min <= {T['plateau_spread_max']:g})":
            (shapes["plateau_spread"] <= T["plateau_spread_max"]).all(),
        f"final increase at the last layer (last / penultimate >= {T['final_ratio_min']:g})":
            (shapes["final_ratio"] >= T["final_ratio_min"]).all(),
    }


def _shape_headline(study, profiles, column):
    shapes = shape_table(profiles, column)
    return {"min rise": shapes["rise"].min(), "max plateau spread": shapes["plateau_spread"].max(),
            "min last/penultimate": shapes["final_ratio"].min()}


def _by_state(profiles, column):
    return (shape_table(profiles[profiles["state"] == state], column) for state in ("untrained", "trained"))


def _untrained_checks(study, profiles, column):
    T = study.claim.thresholds
    untrained, trained = _by_state(profiles, column)
    return {
        f"untrained: no rise with depth (penultimate / first latent <= {T['flat_trend_max']:g})":
            (untrained["depth_trend"] <= T["flat_trend_max"]).all(),
        f"untrained: no final jump (last / penultimate < {T['final_ratio_min']:g})":
            (untrained["final_ratio"] < T["final_ratio_min"]).all(),
        f"trained final jump >= {T['trained_over_untrained_min']:g}x the untrained one":
            (trained["final_ratio"].to_numpy()
             >= T["trained_over_untrained_min"] * untrained["final_ratio"].to_numpy()).all(),
    }


def _untrained_headline(study, profiles, column):
    untrained, trained = _by_state(profiles, column)
    return {"untrained max depth trend": untrained["depth_trend"].max(),
            "untrained last/penultimate (max)": untrained["final_ratio"].max(),
            "trained last/penultimate (min)": trained["final_ratio"].min()}


def gap_correlation(study, profiles, column):
    """Pearson and Spearman of the normalised gap with test accuracy over the run's models
    (final models and checkpoints), with bootstrap intervals (curvature 3)."""
    T = study.claim.thresholds
    gaps = gap_table(profiles, columns={"x": column})
    if len(gaps) < T["min_models"]:
        raise ValueError(f"only {len(gaps)} models in this preset's zoo and checkpoints; need at least "
                         f"{T['min_models']}")
    return bootstrap_correlation(gaps["gap_x"], gaps["test_accuracy"], n_boot=study.parameters["n_boot"],
                                 confidence=T["confidence"], seed=study.seed)


def _gap_checks(study, profiles, column):
    T, corr = study.claim.thresholds, gap_correlation(study, profiles, column)
    return {
        f"Pearson r > 0 with the {T['confidence']:.0%} bootstrap interval above 0": corr.pearson_ci[0] > 0,
        f"Spearman rho > 0 with the {T['confidence']:.0%} bootstrap interval above 0": corr.spearman_ci[0] > 0,
        f"strong: Spearman rho >= {T['strong_rho']:g}": corr.spearman >= T["strong_rho"],
    }


def _gap_headline(study, profiles, column):
    corr = gap_correlation(study, profiles, column)
    return {"pearson": corr.pearson, "spearman": corr.spearman, "spearman CI low": corr.spearman_ci[0]}


def id_correlations(study, profiles, column):
    """ID against log10 curvature over the latent layers: the pooled bootstrap correlation and
    each model's Spearman rho (curvature 4)."""
    latent = profiles[(profiles["relative_depth"] > 0) & (profiles[column] > 0)]
    pooled = bootstrap_correlation(latent["id_mean"], np.log10(latent[column]), n_boot=study.parameters["n_boot"],
                                   confidence=study.claim.thresholds["confidence"], seed=study.seed)
    within = latent.groupby("label").apply(lambda g: g["id_mean"].corr(g[column], method="spearman"),
                                           include_groups=False)
    return pooled, within


def _id_checks(study, profiles, column):  # the claim holds when ID is NOT indicative of curvature
    rho = study.claim.thresholds["indicative_rho"]
    pooled, within = id_correlations(study, profiles, column)
    indicative = abs(pooled.spearman) >= rho and (pooled.spearman_ci[0] > 0 or pooled.spearman_ci[1] < 0)
    consistent = (within.abs() >= rho).all() and np.sign(within).nunique() == 1
    return {
        f"pooled over layers and models: ID not indicative (|rho| < {rho:g} or CI spans 0)": not indicative,
        f"within models: ID does not order curvature consistently (not every |rho| >= {rho:g}, same sign)":
            not consistent,
    }


def _id_headline(study, profiles, column):
    pooled, within = id_correlations(study, profiles, column)
    return {"pooled spearman": pooled.spearman, "within rho min": within.min(), "within rho max": within.max()}


def mixup_ratios(study, profiles, column):
    """Mixup over baseline: median middle-layer ratio, last-layer ratio, mixup's final jump."""
    base = segments(profiles[profiles["recipe"] == "baseline"], column)
    mix = segments(profiles[profiles["recipe"] == "mixup"], column)
    return {"middle mixup/baseline (median)": float(np.median(mix["middle"] / base["middle"])),
            "last mixup/baseline": float(mix["last"] / base["last"]),
            "mixup last/penultimate": float(mix["last"] / mix["penultimate"])}


def _mixup_checks(study, profiles, column):
    T, r = study.claim.thresholds, mixup_ratios(study, profiles, column)
    return {
        f"mixup flattens the middle layers (median mixup/baseline <= {T['middle_ratio_max']:g})":
            r["middle mixup/baseline (median)"] <= T["middle_ratio_max"],
        f"mixup's last layer stays high (last mixup/baseline >= {T['last_ratio_min']:g})":
            r["last mixup/baseline"] >= T["last_ratio_min"],
        f"mixup keeps the final jump (last / penultimate >= {T['final_ratio_min']:g})":
            r["mixup last/penultimate"] >= T["final_ratio_min"],
    }


@dataclass(frozen=True)
class Tests:
    """One page's tests: which models it measures (``models``: ``"width"`` the zoo at one
    width, ``"untrained"`` those and their initialisations, ``"trajectories"`` the zoo with its
    checkpoints, ``"zoo"`` the final zoo, ``"recipes"`` the regularisation recipes), its
    ``checks`` and its ``headline`` numbers, each ``fn(study, profiles, column)``."""

    models: str
    checks: Callable[..., dict]
    headline: Callable[..., dict]


TESTS: dict[str, Tests] = {
    "curvature-1-profile-shape": Tests("width", _shape_checks, _shape_headline),
    "curvature-2-untrained": Tests("untrained", _untrained_checks, _untrained_headline),
    "curvature-3-gap-accuracy": Tests("trajectories", _gap_checks, _gap_headline),
    "curvature-4-id-vs-curvature": Tests("zoo", _id_checks, _id_headline),
    "curvature-5-mixup": Tests("recipes", _mixup_checks, mixup_ratios),
}


def checks_of(study, profiles: pd.DataFrame, column: str) -> dict[str, bool]:
    """The page's checks on one run's profiles under one instrument column."""
    return {k: bool(v) for k, v in TESTS[study.name].checks(study, profiles, column).items()}
