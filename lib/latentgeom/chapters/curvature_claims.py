"""The curvature paper's five claims and their tests, fixed before any profile is computed.

Kaufman & Azencot, "Data Representations' Study of Latent Image Manifolds", ICML 2023 (arXiv 2305.19730).
Each claim (:data:`CLAIMS`) carries the thresholds of its tests with their reasons and its preconditions;
each test (:data:`TESTS`) turns wide profiles (one row per model x layer) under one instrument's column into
named checks (``True``/``False``, or ``None`` where the data cannot decide) and a few headline numbers.
Claims 1, 2 and 5 are about each network's own profile and are judged per run (one training seed of every
network, one image sample); claims 3 and 4 relate networks to each other and are judged once
(``Tests.pooled``) on the final networks of every run pooled, resampled by network. :func:`preconditions`
gates every claim under the robust instrument by the measurability of its deciding layers. The pages
``book/findings/curvature-*.md`` show the thresholds; :mod:`.curvature` runs the tests.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

from ..reporting.statistics import bootstrap_correlation, equivalence, units_needed
from .curvature_shapes import gap_table, segments, shape_table
from .protocol import Claim

__all__ = ["CLAIMS", "GATED", "MEASURABILITY", "PAPER", "TESTS", "Tests", "checks_of", "deciding_layers",
           "gap_vs_accuracy", "id_vs_curvature", "mean_interval", "mode_of", "preconditions", "rise_over_untrained",
           "unmeasurable_share", "within_rho"]

PAPER = "Kaufman & Azencot, ICML 2023 (arXiv 2305.19730)"
_PAGE = "book/findings/{}.md"
_CIFAR10 = ["resnet18", "resnet50", "resnet101", "vgg13", "vgg16", "vgg19"]


#: Instruments whose verdicts the measurability of their deciding layers gates (:func:`preconditions`).
GATED = ("robust",)
#: How layers whose tangent dimension d exceeds the input directions their neighbourhoods span are
#: treated, decided before any number was seen (every claim carries it as a precondition).
MEASURABILITY = (
    "robust instrument: every layer that decides the claim is measurable (d <= the input directions its "
    "neighbourhoods span, and at least half of its points resolved); a claim with an unmeasurable deciding layer "
    "is not testable under robust. The paper and scale-free instruments are the paper's estimator, which by its "
    "design fits d = round(TwoNN) on K = 2**q perturbations spanning q x channels directions (6 on Fashion-MNIST "
    "at q = 6): gating them would make the paper's instrument untestable wherever a layer's d exceeds that "
    "span, so their numbers are shown flagged and the share of unmeasurable deciding layers is "
    "reported as a limitation of that instrument, beside its verdict.")
_NETWORKS_WHY = ("decided once, on the independently trained final networks of every run pooled (the zoo under "
                 "each training seed), resampled by network (a network measured on several image samples is one "
                 "unit); fewer than 8 networks decide nothing (not testable). Checkpoints share their network's "
                 "training run: they show the along-training trend and decide nothing.")


def _claim(id: str, **fields) -> Claim:
    return Claim(id=id, page=_PAGE.format(id), preconditions=(MEASURABILITY, *fields.pop("preconditions", ())),
                 **fields)


CLAIMS: dict[str, Claim] = {c.id: c for c in (
    _claim(
        "curvature-1-profile-shape", title="Curvature profile: steep rise, plateau, final jump",
        statement=("MAPC rises steeply from the input to the first block, stays on a plateau over the middle "
                   "layers and jumps at the last layer, for every architecture."),
        source=f"{PAPER}, Fig. 2",
        paper={"input_mapc_0_255": 1.6e-4, "first_block_mapc": [0.04, 0.25], "plateau_mapc": [0.03, 0.25],
               "last_layer_mapc": [1.5, 4.0], "architectures": _CIFAR10},
        paper_value="MAPC ~1.6e-4 at the input, 0.03-0.25 plateau, 1.5-4 at the last layer (last/penultimate ~6-20x)",
        thresholds=dict(rise_min=2.0, plateau_spread_max=10.0, final_ratio_min=2.0, rise_over_untrained_min=2.0),
        reasons=dict(
            rise_min=("median middle-layer MAPC over the input's; the paper's 0.04-0.25 over ~1e-2 (its input "
                      "value rescaled to normalised inputs, x 255 sigma ~ 64) is 4x-25x"),
            rise_over_untrained_min=(
                "control, decided before the data: the input is measured on data kNN, the latent layers on "
                "perturbation neighbourhoods, so a rise could come from the change of neighbourhoods alone; the "
                "same architecture at initialisation, through the same pipeline on the same images, has that "
                "change too. The rise counts as training's when the trained rise is at least 2x the untrained "
                "one (the factor of rise_min)"),
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
        thresholds=dict(networks_min=8, confidence=0.95, strong_rho=0.5),
        reasons=dict(
            networks_min=_NETWORKS_WHY,
            confidence="width of the percentile-bootstrap intervals",
            strong_rho=("'strong' (the paper's word) as a number: Spearman rho >= 0.5, the usual threshold of a "
                        "large effect (Cohen); the paper's CIFAR-10 points and per-architecture checkpoint lines "
                        "imply a rank correlation well above it")),
        ),
    _claim(
        "curvature-4-id-vs-curvature", title="Intrinsic dimension is not indicative of curvature",
        statement="The intrinsic dimension of latent codes is not necessarily indicative of their curvature.",
        source=f"{PAPER}, Sec. 5",
        paper={"claim": "ID not necessarily indicative of curvature", "coefficient": None},
        paper_value="ID not necessarily indicative of curvature (no coefficient given)",
        thresholds=dict(indicative_rho=0.7, confidence=0.95, networks_min=8),
        reasons=dict(
            indicative_rho=("the equivalence margin, fixed before the data: 'indicative' is |Spearman rho| >= 0.7 "
                            "between ID and log curvature (ranks, so the decades curvature spans do not matter). "
                            "A negative claim is reproduced only when the whole interval lies inside +-0.7 (an "
                            "equivalence test); an interval reaching past it decides nothing (not testable, with "
                            "the networks that would be needed), one wholly outside it refutes the claim"),
            confidence="width of the percentile-bootstrap intervals (pooled, and of the mean within-network rho)",
            networks_min=_NETWORKS_WHY)),
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
# Preconditions: the layers that decide a claim, and whether the instrument can measure them


def deciding_layers(study, profiles: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``profiles`` whose curvature decides the page's claim (``Tests.layers``):
    every layer (curvature 1), the latent layers (2, 4; on the mixup page those of the baseline
    and mixup recipes) or the last two layers of every network (3)."""
    which = TESTS[study.name].layers
    if which == "all":
        return profiles
    if which == "last two":
        keys = [c for c in ("run", "network", "epoch") if c in profiles]
        return profiles.sort_values("relative_depth").groupby(keys, sort=False).tail(2)
    latent = profiles[profiles["relative_depth"] > 0]
    return latent[latent["recipe"].isin(["baseline", "mixup"])] if "recipe" in latent else latent


def mode_of(column: str) -> str:
    """The estimator mode an instrument's profile column comes from (scale-free: paper)."""
    return "robust" if column.endswith("_robust") else "paper"


def unmeasurable_share(study, profiles: pd.DataFrame, column: str) -> float:
    """Share of the deciding layers (:func:`deciding_layers`) with ``measurable_<mode>`` false."""
    rows = deciding_layers(study, profiles)
    return float(1 - rows[f"measurable_{mode_of(column)}"].astype(bool).mean())


def preconditions(study, profiles: pd.DataFrame, column: str) -> dict[str, bool]:
    """The claim's preconditions under one instrument (:data:`MEASURABILITY`): under the
    :data:`GATED` instruments every deciding layer must be measurable; none for the others."""
    if mode_of(column) not in GATED:
        return {}
    name = f"every deciding layer measurable ({mode_of(column)}: d <= spanned directions, >= half the points resolved)"
    return {name: unmeasurable_share(study, profiles, column) == 0}


# --------------------------------------------------------------------------------------------
# The tests: (study, profiles, column) -> {check name: True/False/None} and -> {headline: number}


def _decided(check: str) -> bool | None:
    """An equivalence outcome as a check: equivalent True, not equivalent False, undecided None."""
    return {"equivalent": True, "not equivalent": False}.get(check)


def _by_state(profiles, column):
    return (shape_table(profiles[profiles["state"] == state], column) for state in ("untrained", "trained"))


def rise_over_untrained(profiles: pd.DataFrame, column: str) -> pd.Series:
    """Curvature 1's control, per label: the trained rise (median middle / input) over the rise
    of the same network at initialisation (``state``), same pipeline and images."""
    untrained, trained = _by_state(profiles, column)
    both = trained.merge(untrained, on="label", suffixes=("", "_untrained"))
    return pd.Series((both["rise"] / both["rise_untrained"]).to_numpy(), index=both["label"])


def _shape_checks(study, profiles, column):
    T = study.claim.thresholds
    _, shapes = _by_state(profiles, column)
    control = rise_over_untrained(profiles, column)
    return {
        f"steep rise from the input (median middle / input >= {T['rise_min']:g})":
            (shapes["rise"] >= T["rise_min"]).all(),
        f"plateau over the middle layers (max / min <= {T['plateau_spread_max']:g})":
            (shapes["plateau_spread"] <= T["plateau_spread_max"]).all(),
        f"final increase at the last layer (last / penultimate >= {T['final_ratio_min']:g})":
            (shapes["final_ratio"] >= T["final_ratio_min"]).all(),
        f"control: trained rise >= {T['rise_over_untrained_min']:g}x the untrained rise (same pipeline)":
            None if control.isna().any() else bool((control >= T["rise_over_untrained_min"]).all()),
    }


def _shape_headline(study, profiles, column):
    _, shapes = _by_state(profiles, column)
    return {"min rise": shapes["rise"].min(), "max plateau spread": shapes["plateau_spread"].max(),
            "min last/penultimate": shapes["final_ratio"].min(),
            "min rise over untrained": rise_over_untrained(profiles, column).min()}


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


def gap_vs_accuracy(study, profiles: pd.DataFrame, column: str):
    """Curvature 3 on the pooled runs (``profiles`` with a ``run`` column): the normalised gap
    of every final network on every image sample against its test accuracy, resampled by network
    (cluster bootstrap). Returns ``(correlation or None, final points, trend)``: None when fewer
    than ``networks_min`` networks, a gap is undefined or a column is constant; ``trend`` is
    each network's gap and accuracy at every epoch (mean over its samples), never deciding."""
    T = study.claim.thresholds
    gaps = gap_table(profiles, by=["run", "network", "epoch"], columns={"x": column},
                     extra=("model", "width", "stage", "training_seed", "test_accuracy"))
    final = gaps[gaps["stage"] == "final"].reset_index(drop=True)
    decidable = (final["network"].nunique() >= T["networks_min"] and np.isfinite(final["gap_x"]).all()
                 and final["gap_x"].nunique() > 1 and final["test_accuracy"].nunique() > 1)
    corr = bootstrap_correlation(final["gap_x"], final["test_accuracy"], clusters=final["network"],
                                 n_boot=study.parameters["n_boot"], confidence=T["confidence"],
                                 seed=study.seed) if decidable else None
    trend = gaps.groupby(["network", "epoch", "stage"], sort=False).agg(
        gap=("gap_x", "mean"), test_accuracy=("test_accuracy", "mean"), samples=("gap_x", "size")).reset_index()
    return corr, final, trend


def _gap_checks(study, profiles, column):
    T, (corr, _, _) = study.claim.thresholds, gap_vs_accuracy(study, profiles, column)
    return {
        f"Pearson r > 0 with the {T['confidence']:.0%} bootstrap interval above 0":
            corr.pearson_ci[0] > 0 if corr else None,
        f"Spearman rho > 0 with the {T['confidence']:.0%} bootstrap interval above 0":
            corr.spearman_ci[0] > 0 if corr else None,
        f"strong: Spearman rho >= {T['strong_rho']:g}": corr.spearman >= T["strong_rho"] if corr else None,
    }


def _gap_headline(study, profiles, column):
    corr, final, _ = gap_vs_accuracy(study, profiles, column)
    return {"networks": final["network"].nunique(), "pearson": corr.pearson if corr else np.nan,
            "spearman": corr.spearman if corr else np.nan,
            "spearman CI low": corr.spearman_ci[0] if corr else np.nan}


def mean_interval(values, *, n_boot: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of independent ``values`` (one per network)."""
    values = np.asarray(values, dtype=float)
    means = np.random.default_rng(seed).choice(values, size=(n_boot, len(values))).mean(1)
    return tuple(float(np.percentile(means, p)) for p in ((1 - confidence) * 50, (1 + confidence) * 50))


def within_rho(profiles: pd.DataFrame, column: str, by=("network", "run")) -> pd.Series:
    """Spearman rho of ID against ``column`` over each ``by`` group's latent layers (NaN: constant)."""
    latent = profiles[profiles["relative_depth"] > 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return latent.groupby(list(by), sort=False).apply(
            lambda g: g["id_mean"].corr(g[column], method="spearman"), include_groups=False)


def id_vs_curvature(study, profiles: pd.DataFrame, column: str) -> dict:
    """Curvature 4 on the pooled runs: ID against log10 curvature over the latent layers of the
    final networks, pooled (a point per layer, network and sample, resampled by network) and
    within each network (Spearman rho over its layers, averaged over its samples; the mean over
    networks resampled by network). Each is an equivalence test against ``indicative_rho``:
    ``pooled`` / ``within`` are :func:`~latentgeom.reporting.statistics.equivalence` outcomes
    ("undecided" where fewer than ``networks_min`` networks or a rho is NaN), with the interval
    and the networks that would decide it (``*_needed``)."""
    T = study.claim.thresholds
    margin, boot = T["indicative_rho"], dict(n_boot=study.parameters["n_boot"], confidence=T["confidence"])
    latent = profiles[profiles["relative_depth"] > 0]
    positive = latent[latent[column] > 0]
    networks = int(latent["network"].nunique())
    out = dict(networks=networks, training_runs=int(latent["training_seed"].nunique()), margin=margin,
               pooled="undecided", pooled_rho=np.nan, pooled_ci=(np.nan, np.nan), pooled_needed=None,
               within="undecided", within_rho=np.nan, within_ci=(np.nan, np.nan), within_needed=None)
    if (positive["network"].nunique() >= T["networks_min"] and positive["id_mean"].nunique() > 1
            and positive[column].nunique() > 1):
        c = bootstrap_correlation(positive["id_mean"], np.log10(positive[column]), clusters=positive["network"],
                                  seed=study.seed, **boot)
        out.update(pooled=equivalence(c.spearman_ci, margin), pooled_rho=c.spearman, pooled_ci=c.spearman_ci,
                   pooled_needed=units_needed(networks, c.spearman_ci, margin, c.spearman))
    per_sample = within_rho(latent, column)
    within = per_sample.groupby(level=0, sort=False).mean()
    if networks >= T["networks_min"] and per_sample.notna().all():  # a NaN rho decides nothing
        ci = mean_interval(within, seed=study.seed, **boot)
        out.update(within=equivalence(ci, margin), within_rho=float(within.mean()), within_ci=ci,
                   within_needed=units_needed(networks, ci, margin, float(within.mean())))
    return out


def _id_checks(study, profiles, column):  # the claim holds when ID is NOT indicative of curvature
    T, r = study.claim.thresholds, id_vs_curvature(study, profiles, column)
    inside = f"the whole {T['confidence']:.0%} interval inside +-{T['indicative_rho']:g} (equivalence)"
    return {f"pooled over layers and networks: Spearman rho(ID, log MAPC), {inside}": _decided(r["pooled"]),
            f"within networks: mean Spearman rho(ID, MAPC), {inside}": _decided(r["within"])}


def _id_headline(study, profiles, column):
    r = id_vs_curvature(study, profiles, column)
    return {"networks": r["networks"], "pooled spearman": r["pooled_rho"], "pooled CI high": r["pooled_ci"][1],
            "mean within rho": r["within_rho"]}


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
    width with its initialisations as the control, ``"untrained"`` the same, ``"trajectories"``
    the zoo with its checkpoints, ``"zoo"`` the final zoo, ``"recipes"`` the regularisation
    recipes), its ``checks`` and its ``headline`` numbers, each ``fn(study, profiles, column)``,
    the ``layers`` that decide it (:func:`deciding_layers`) and whether it is decided once on
    every run's networks pooled (``pooled``) rather than per run."""

    models: str
    checks: Callable[..., dict]
    headline: Callable[..., dict]
    layers: str = "latent"
    pooled: bool = False


TESTS: dict[str, Tests] = {
    "curvature-1-profile-shape": Tests("width", _shape_checks, _shape_headline, layers="all"),
    "curvature-2-untrained": Tests("untrained", _untrained_checks, _untrained_headline),
    "curvature-3-gap-accuracy": Tests("trajectories", _gap_checks, _gap_headline, layers="last two", pooled=True),
    "curvature-4-id-vs-curvature": Tests("zoo", _id_checks, _id_headline, pooled=True),
    "curvature-5-mixup": Tests("recipes", _mixup_checks, mixup_ratios),
}


def checks_of(study, profiles: pd.DataFrame, column: str) -> dict[str, bool | None]:
    """The page's checks on profiles (one run's, or every run's pooled) under one instrument
    column: ``True``/``False``, ``None`` where the data cannot decide."""
    return {k: None if v is None else bool(v) for k, v in TESTS[study.name].checks(study, profiles, column).items()}
