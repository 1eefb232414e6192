"""The intrinsic-dimension chapter: Ansuini et al., NeurIPS 2019 (arXiv:1905.12784).

The page ``book/findings/intrinsic-dimension.md`` measures, per probe layer, the TwoNN intrinsic
dimension (and the linear PC-ID baseline) of a network's activations, on training images of one
class at a time (averaged over classes, as the paper does with 7) or on mixed classes, and tests
the paper's four claims over several seeds. The chapter, in the shape of
:mod:`latentgeom.chapters.protocol`:

- :data:`CLAIMS`: the four claims (:data:`HUNCHBACK`, :data:`WIDTH_AND_PCA`,
  :data:`LAST_LAYER`, :data:`TRAINING`), each with the thresholds of its tests, fixed before
  the data, and why;
- :data:`SETTINGS` (:class:`~.id_study.IDSettings` per preset), :data:`PAGES` (the page and its
  13 parameters) and :func:`setup`, which checks them and returns the page's
  :class:`~.id_study.IDStudy` (its plan of work units and the runs measured from them live in
  :mod:`.id_study`; the profile arithmetic in :mod:`.id_profiles`);
- :func:`evaluate`: one run's checks, one :class:`Evaluation` per claim; :func:`over_runs`:
  the verdicts over all runs (:func:`latentgeom.reporting.findings.over_seeds`) and the spread
  of the headline numbers; :func:`outcomes`: one :class:`~.protocol.Outcome` per claim, which
  ``study.record`` writes as the result files.

The estimator is documented on the book's methods page "Measuring intrinsic dimension".
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..networks.data import DATASETS
from ..networks.models import MODELS
from ..reporting.findings import checks_frame, over_seeds, verdict
from ..reporting.statistics import bootstrap_correlation
from ..validation import Parameter, check_int
from .id_profiles import OUTPUT_LAYER, flatness, hunchback_summary, per_model
from .id_study import SETTINGS, IDSettings, IDStudy, Run, configurations, fit_settings
from .presets import get_preset
from .protocol import Claim, Outcome, Page

__all__ = ["CLAIMS", "Evaluation", "HUNCHBACK", "IDSettings", "IDStudy", "LAST_LAYER", "OUTPUT_LAYER", "PAGES",
           "SETTINGS", "TRAINING", "WIDTH_AND_PCA", "checks_table", "evaluate", "outcomes", "over_runs", "setup",
           "thresholds"]

NOTEBOOK = "book/findings/intrinsic-dimension.md"
SOURCE = "Ansuini, Laio, Macke & Zoccolan, NeurIPS 2019 (arXiv:1905.12784)"
#: A shape counts as reproduced when at least this share of the zoo's models shows it (claims 1 and 4).
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
    thresholds=dict(width_ratio_min=10.0, pca_ratio_min=3.0, pca_same_max=0.3),
    reasons=dict(
        width_ratio_min=("every hidden layer's width >= 10 x its ID (>= 1 order of magnitude; paper: 4096 / 6.5 ~ 600 "
                         "at the last hidden layer, ~1e4 at pool1)."),
        pca_ratio_min="median PC-ID / TwoNN ID over hidden layers >= 3 (paper: hundreds vs 10-100).",
        pca_same_max="median |PC-ID trained - untrained| / untrained <= 30 % (\"nearly the same\")."))

LAST_LAYER = Claim(
    id="id-3-last-layer-vs-accuracy", page=NOTEBOOK,
    title="Lower last-hidden-layer ID, lower test error",
    statement="The ID of the last hidden layer predicts test error: Pearson r ~ 0.94 across 14 models.",
    source=f"{SOURCE}: last-hidden-layer ID against top-5 error of 14 ImageNet models",
    paper={"pearson_r_top5_error": 0.94, "n_models": 14},
    paper_value="Pearson r = 0.94 (last-hidden ID vs top-5 error, 14 models)",
    thresholds=dict(r_min=0.6),
    reasons=dict(r_min=("Pearson r(ID, error) >= 0.6 and both bootstrap 95 % intervals above 0. Paper: r = 0.94 over "
                        "14 ImageNet models spanning ~20 points of top-5 error; our zoo spans a few points of error, "
                        "so we ask for a strong, not a 0.94, r.")))

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
        rl_fit_min="random labels memorised: train accuracy >= 0.9 (chance: 0.1).",
        rl_rise_min="random labels: last-hidden ID >= 1.1 x the layer before (rises again) ...",
        rl_above_min="... and >= 1.5 x the same architecture trained on true labels."),
    preconditions=("The network trained on random labels memorised them (train accuracy >= rl_fit_min): only then "
                   "does its ID profile say anything. Checked for now as one of the claim's checks.",))

CLAIMS = {c.id: c for c in (HUNCHBACK, WIDTH_AND_PCA, LAST_LAYER, TRAINING)}


def thresholds(claim: Claim) -> dict[str, float]:
    """The claim's thresholds as floats (the checks' names print them so: ``>= 10.0 x``)."""
    return {name: float(value) for name, value in claim.thresholds.items()}


# --------------------------------------------------------------------------------------------
# The page and its set-up

PARAMETERS = {
    "preset": Parameter("str", choices=SETTINGS.presets, help="the chapter's scale"),
    "dataset": Parameter("str", choices=tuple(DATASETS), optional=True, help="dataset of the zoo"),
    "architectures": Parameter("strs", choices=MODELS, optional=True, help="zoo model families"),
    "widths": Parameter("ints", minimum=1, optional=True, help="zoo width multipliers"),
    "n_per_class": Parameter("int", minimum=10, optional=True, help="training images of one class per profile"),
    "n_classes": Parameter("int", minimum=1, optional=True, help="classes averaged in the per-class profiles"),
    "n_mixed": Parameter("int", minimum=10, optional=True, help="mixed-class images of the last-hidden-layer study"),
    "n_resamples": Parameter("int", minimum=1, optional=True, help="TwoNN repeats on random 90 % subsets"),
    "random_label_epochs": Parameter("int", minimum=1, optional=True, help="epochs of the random-label network"),
    "random_label_n_train": Parameter("int", minimum=10, optional=True, help="images it has to memorise"),
    "n_seeds": Parameter("int", minimum=1, optional=True, help="image-sample seeds"),
    "training_seeds": Parameter("int", minimum=1, optional=True, help="training seeds of the twin and the pair"),
    "seed": Parameter("int", minimum=0, help="the first image-sample seed"),
}
#: The parameters that are :class:`IDSettings` fields (None: the preset's value).
_SETTING_PARAMETERS = ("n_per_class", "n_classes", "n_mixed", "n_resamples", "random_label_epochs",
                       "random_label_n_train", "n_seeds", "training_seeds")


def setup(preset: str = "default", dataset: str | None = None, architectures: Sequence[str] | None = None,
          widths: Sequence[int] | None = None, n_per_class: int | None = None, n_classes: int | None = None,
          n_mixed: int | None = None, n_resamples: int | None = None, random_label_epochs: int | None = None,
          random_label_n_train: int | None = None, n_seeds: int | None = None, training_seeds: int | None = None,
          seed: int = 0) -> IDStudy:
    """The page's preamble in one call: check every parameter (one ``ValueError`` naming a bad
    one), pick the preset (``dataset``, ``architectures``, ``widths`` override it) and the
    chapter's settings (the other parameters; None = the preset's), and describe the page's
    models. Trains nothing (:meth:`IDStudy.measure_runs` does)."""
    values = PAGES["intrinsic-dimension"].check(locals())  # the 13 parameters: nothing else defined yet
    page = PAGES["intrinsic-dimension"]
    P = get_preset(values["preset"], dataset=values["dataset"], architectures=values["architectures"],
                   widths=values["widths"])
    S = fit_settings(SETTINGS(values["preset"], **{k: values[k] for k in _SETTING_PARAMETERS}), P)
    check_int(S.n_classes, "n_classes", minimum=1, maximum=DATASETS[P.dataset].num_classes)
    zoo, random_label, twin = configurations(P, S)
    seed = values["seed"]
    sample_seeds, seeds = tuple(seed + k for k in range(S.n_seeds)), tuple(range(S.training_seeds))
    parameters = {**asdict(P), **S.as_dict(), "seed": seed, "sample_seeds": list(sample_seeds),
                  "training_seeds": list(seeds)}
    return IDStudy(page=page, parameters=parameters, preset=P, settings=S, seed=seed, sample_seeds=sample_seeds,
                   training_seeds=seeds, twin=twin, zoo=zoo, random_label=random_label)


PAGES = {"intrinsic-dimension": Page("findings/intrinsic-dimension.md", PARAMETERS, setup,
                                     claims=tuple(CLAIMS))}


# --------------------------------------------------------------------------------------------
# Checks of one run


@dataclass
class Evaluation:
    """One claim in one run: named ``checks``, their ``verdict``, the ``headline`` numbers
    (whose spread over runs the page reports), ``ours`` (all numbers, for the result file) and
    ``tables`` (frames the page shows)."""

    checks: dict
    verdict: str
    headline: dict
    ours: dict
    tables: dict = field(default_factory=dict)


def _evaluation(checks: dict, headline: dict, ours: dict, tables: dict) -> Evaluation:
    return Evaluation(checks, verdict(checks), headline, ours, tables)


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


def width_and_pca(run: Run) -> Evaluation:
    """Claim 2 on the hidden layers (input and logits left out) of the trained and untrained zoo."""
    T = thresholds(WIDTH_AND_PCA)
    profiles = run.profiles
    inner = profiles[~profiles.layer.isin(["input", OUTPUT_LAYER])].copy()
    inner["width_over_id"] = inner.layer_width / inner.id_mean
    inner["pca_over_id"] = inner.pca_id / inner.id_mean
    untrained = inner[inner.state == "untrained"][["label", "layer", "id_mean", "pca_id"]]
    paired = inner[inner.state == "trained"].merge(untrained, on=["label", "layer"], suffixes=("", "_untrained"))
    paired["pca_change"] = (paired.pca_id - paired.pca_id_untrained).abs() / paired.pca_id_untrained
    paired["twonn_change"] = (paired.id_mean - paired.id_mean_untrained).abs() / paired.id_mean_untrained
    trained_inner = inner[inner.state == "trained"]
    ratios = dict(min_width_over_id=float(trained_inner.width_over_id.min()),
                  median_width_over_id=float(trained_inner.width_over_id.median()),
                  median_pca_over_id=float(trained_inner.pca_over_id.median()),
                  median_pca_change=float(paired.pca_change.median()),
                  median_twonn_change=float(paired.twonn_change.median()))
    checks = {
        f"every hidden layer's width >= {T['width_ratio_min']} x its ID":
            ratios["min_width_over_id"] >= T["width_ratio_min"],
        f"PC-ID much larger: median PC-ID / TwoNN >= {T['pca_ratio_min']}":
            ratios["median_pca_over_id"] >= T["pca_ratio_min"],
        f"PC-ID nearly the same trained vs untrained (median change <= {T['pca_same_max']:.0%})":
            ratios["median_pca_change"] <= T["pca_same_max"],
    }
    headline = {k: ratios[k] for k in ("min_width_over_id", "median_pca_over_id", "median_pca_change")}
    return _evaluation(checks, headline, {**ratios, "layers": paired.to_dict("records")},
                       {"layers": paired, "inner": inner})


def last_layer_vs_accuracy(run: Run) -> Evaluation:
    """Claim 3 over every zoo member and checkpoint (bootstrap seeded by the run's image seed)."""
    T = thresholds(LAST_LAYER)
    c = bootstrap_correlation(run.last.id_mean, run.last.test_error, seed=run.sample_seed)
    checks = {"r(ID, error) > 0 with both 95 % bootstrap intervals above 0": c.significant_positive(),
              f"strong: Pearson r >= {T['r_min']}": c.pearson >= T["r_min"]}
    ours = {"correlation": c.as_dict(), "models": run.last.drop(columns=["relative_depth"]).to_dict("records")}
    return _evaluation(checks, dict(pearson=c.pearson, spearman=c.spearman), ours, {"models": run.last})


def untrained_and_random_labels(run: Run) -> Evaluation:
    """Claim 4 on the untrained zoo's profiles and the random/true-label pair."""
    T = thresholds(TRAINING)
    untrained = run.profiles[run.profiles.state == "untrained"]
    flat = per_model(untrained, lambda f: {"flatness": flatness(f)}, by=("label",))
    rl_random = hunchback_summary(run.rl[run.rl["labels"] == "random"])
    rl_true = hunchback_summary(run.rl[run.rl["labels"] == "true"])
    share = T["share_min"]
    flat_share = float(np.mean(flat.flatness <= T["flat_max"]))
    checks = {
        f"untrained profile flat (max/min <= {T['flat_max']}) in >= {share:.2g} of models": flat_share >= share,
        f"random labels memorised (train accuracy >= {T['rl_fit_min']})": run.rl_accuracy["random"] >= T["rl_fit_min"],
        f"random labels: last hidden ID >= {T['rl_rise_min']} x the layer before":
            rl_random["last_vs_previous"] >= T["rl_rise_min"],
        f"random labels: last hidden ID >= {T['rl_above_min']} x true labels":
            rl_random["last_id"] >= T["rl_above_min"] * rl_true["last_id"],
    }
    headline = dict(untrained_flat_share=flat_share, random_last_vs_previous=rl_random["last_vs_previous"],
                    random_over_true_last=rl_random["last_id"] / rl_true["last_id"])
    ours = {"untrained": {"flat_share": flat_share, "models": flat.to_dict("records")},
            "random_labels": {"train_accuracy": run.rl_accuracy["random"], **rl_random},
            "true_labels": {"train_accuracy": run.rl_accuracy["true"], **rl_true}}
    return _evaluation(checks, headline, ours, {"untrained": flat})


_CHECKS = {HUNCHBACK.id: hunchback, WIDTH_AND_PCA.id: width_and_pca, LAST_LAYER.id: last_layer_vs_accuracy,
           TRAINING.id: untrained_and_random_labels}


def evaluate(run: Run) -> dict[str, Evaluation]:
    """Every claim's checks on one run, under the claims' thresholds: ``{claim id: Evaluation}``."""
    return {claim.id: _CHECKS[claim.id](run) for claim in CLAIMS.values()}


# --------------------------------------------------------------------------------------------
# Over runs: verdicts, spreads and the result files' outcomes


def over_runs(runs: Sequence[Run], evaluations: Sequence[Mapping[str, Evaluation]]) -> pd.DataFrame:
    """One row per claim: the verdict over all runs (:func:`over_seeds`: a verdict that
    differs between runs is "unstable across seeds"), how many runs agree, the per-run
    verdicts, and each headline number's [min, max] over the runs."""
    if not runs or len(runs) != len(evaluations):
        raise ValueError(f"need one evaluation per run, got {len(runs)} runs and {len(evaluations)} evaluations")
    rows = []
    for claim in CLAIMS.values():
        per_run = [e[claim.id] for e in evaluations]
        agreement = over_seeds([e.verdict for e in per_run])
        spread = {k: [float(min(e.headline[k] for e in per_run)), float(max(e.headline[k] for e in per_run))]
                  for k in per_run[0].headline}
        rows.append(dict(finding=claim.id, verdict=agreement.verdict, agreement=str(agreement),
                         per_run=" / ".join(e.verdict for e in per_run),
                         spread="; ".join(f"{k} {lo:.3g}–{hi:.3g}" for k, (lo, hi) in spread.items()),
                         seeds=agreement, spread_values=spread))
    return pd.DataFrame(rows).set_index("finding")


def checks_table(runs: Sequence[Run], evaluations: Sequence[Mapping[str, Evaluation]]) -> pd.DataFrame:
    """Every check of every claim (rows, ``"<claim id>: <check>"``) in every run (columns)."""
    return checks_frame({run.name: {f"{claim_id}: {name}": ok for claim_id, e in ev.items()
                                    for name, ok in e.checks.items()}
                         for run, ev in zip(runs, evaluations)})


def _range(spread: Mapping[str, list], key: str, fmt: str = ".2f") -> str:
    lo, hi = spread[key]
    return f"{lo:{fmt}}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}}–{hi:{fmt}}"


#: Each claim's headline over the runs in words (the scorecard's "ours" column): f(spread, number of runs).
_OUR_VALUES = {
    HUNCHBACK.id: lambda sp, n: f"median peak/input {_range(sp, 'median_rise')}, last/peak {_range(sp, 'median_fall')}",
    WIDTH_AND_PCA.id: lambda sp, n: (f"width/ID min {_range(sp, 'min_width_over_id', '.1f')}; PC-ID/TwoNN "
                                     f"{_range(sp, 'median_pca_over_id', '.1f')}; PC-ID change "
                                     f"{_range(sp, 'median_pca_change')}"),
    LAST_LAYER.id: lambda sp, n: f"Pearson {_range(sp, 'pearson')} over {n} runs",
    TRAINING.id: lambda sp, n: (f"untrained flat share {_range(sp, 'untrained_flat_share')}; random labels: last "
                                f"hidden ID x{_range(sp, 'random_last_vs_previous')} the layer before"),
}


def outcomes(runs: Sequence[Run], evaluations: Sequence[Mapping[str, Evaluation]]) -> list[Outcome]:
    """One :class:`Outcome` per claim for ``study.record``: the verdict over all runs, the
    primary run's checks and numbers, every run's verdict, checks and headline, and the
    headline spreads."""
    table = over_runs(runs, evaluations)
    names = [r.name for r in runs]
    out = []
    for claim in CLAIMS.values():
        row, e = table.loc[claim.id], evaluations[0][claim.id]
        failed = [name for name, ok in e.checks.items() if not ok]
        summary = (f"{row.agreement}; per run: {row.per_run} (runs: {'; '.join(names)}). "
                   + (f"Failing in the primary run: {'; '.join(failed)}. " if failed else "")
                   + f"Headline ranges over runs: {row.spread}.")
        every_run = [dict(run=n, verdict=ev[claim.id].verdict, checks=ev[claim.id].checks,
                          headline=ev[claim.id].headline) for n, ev in zip(names, evaluations)]
        out.append(Outcome(claim, checks=e.checks, verdict=row.verdict, ours={**e.ours, "runs": every_run},
                           our_value=_OUR_VALUES[claim.id](row.spread_values, len(runs)), summary=summary,
                           seeds={"twonn": row.seeds.as_dict()}, spread=row.spread_values))
    return out
