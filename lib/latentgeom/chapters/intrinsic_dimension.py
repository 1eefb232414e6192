"""The intrinsic-dimension chapter: Ansuini et al., NeurIPS 2019 (arXiv:1905.12784).

The page ``book/findings/intrinsic-dimension.md`` measures, per probe layer, the TwoNN intrinsic
dimension (and the linear PC-ID baseline) of a network's activations, on training images of one
class at a time (averaged over classes, as the paper does with 7) or on mixed classes, and tests
the paper's four claims. The chapter, in the shape of :mod:`latentgeom.chapters.protocol`:

- :data:`CLAIMS` (from :mod:`.id_claims`): the four claims (:data:`HUNCHBACK`,
  :data:`WIDTH_AND_PCA`, :data:`LAST_LAYER`, :data:`TRAINING`), each with the thresholds of its
  tests, fixed before the data, why, and its preconditions;
- :data:`SETTINGS` (:class:`~.id_study.IDSettings` per preset), :data:`PAGES` (the page and its
  13 parameters) and :func:`setup`, which checks them and returns the page's
  :class:`~.id_study.IDStudy` (its plan of work units and the runs measured from them live in
  :mod:`.id_study`; the profile arithmetic in :mod:`.id_profiles`);
- a *run* is one training seed of every network with an image sample of its own. The claims
  about each network's profile (1, 2 and 4) are judged per run (:func:`evaluate`) and combined
  over the runs (:func:`latentgeom.reporting.findings.over_seeds`: seed agreement); the claim
  relating networks to each other (3) is judged once, on the pooled final networks of every run
  (:func:`evaluate_pooled`). :func:`over_runs` tabulates the verdicts, :func:`checks_table` every
  check, and :func:`outcomes` gives one :class:`~.protocol.Outcome` per claim, which
  ``study.record`` writes as the result files.

The estimator is documented on the book's methods page "Measuring intrinsic dimension".
"""
from __future__ import annotations

import math
from dataclasses import asdict
from typing import Mapping, Sequence

import pandas as pd

from ..networks.data import DATASETS
from ..networks.models import MODELS
from ..reporting.findings import NOT_TESTABLE, checks_frame, over_seeds, undecided
from ..validation import Parameter, check_int
from .id_claims import (CLAIMS, HUNCHBACK, LAST_LAYER, PER_RUN, POOLED, TRAINING, WIDTH_AND_PCA, Evaluation,
                        thresholds)
from .id_profiles import OUTPUT_LAYER
from .id_study import SETTINGS, IDSettings, IDStudy, Run, configurations, fit_settings
from .presets import get_preset
from .protocol import Outcome, Page

__all__ = ["CLAIMS", "Evaluation", "HUNCHBACK", "IDSettings", "IDStudy", "LAST_LAYER", "OUTPUT_LAYER", "PAGES",
           "SETTINGS", "TRAINING", "WIDTH_AND_PCA", "checks_table", "evaluate", "evaluate_pooled", "outcomes",
           "over_runs", "setup", "thresholds"]

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
    "n_seeds": Parameter("int", minimum=1, optional=True, help="runs of training seed 0, each on its own images"),
    "training_seeds": Parameter("int", minimum=1, optional=True, help="training seeds of every network"),
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
    zoo, recipe = configurations(P, S)
    study = IDStudy(page=page, parameters={}, preset=P, settings=S, seed=values["seed"],
                    training_seeds=tuple(range(S.training_seeds)), zoo=zoo, random_label_recipe=recipe)
    study.parameters = {**asdict(P), **S.as_dict(), "seed": study.seed, "sample_seeds": list(study.sample_seeds),
                        "training_seeds": list(study.training_seeds), "runs": [list(r) for r in study.run_seeds]}
    return study


PAGES = {"intrinsic-dimension": Page("findings/intrinsic-dimension.md", PARAMETERS, setup,
                                     claims=tuple(CLAIMS))}


# --------------------------------------------------------------------------------------------
# Judging the runs


def evaluate(run: Run) -> dict[str, Evaluation]:
    """The claims about each network's own profile (1, 2 and 4) on one run: ``{claim id: Evaluation}``."""
    return {claim_id: test(run) for claim_id, test in PER_RUN.items()}


def evaluate_pooled(runs: Sequence[Run], *, seed: int = 0) -> dict[str, Evaluation]:
    """The claim relating networks (3), decided once on the final networks of every run
    (bootstrap seeded by ``seed``, the page's): ``{claim id: Evaluation}``."""
    return {claim_id: test(runs, seed=seed) for claim_id, test in POOLED.items()}


def _decided_on(claim_id: str, runs: Sequence[Run], evaluation: Evaluation | None = None) -> str:
    if claim_id in POOLED:
        ours = evaluation.ours
        return (f"once, on {ours['networks']} final networks of {ours['training_runs']} training seeds pooled "
                f"({ours['points']} points, resampled by network)")
    return f"per run, {len(runs)} runs"


def _spread(headlines: Sequence[Mapping[str, float]]) -> dict[str, list[float]]:
    """Each headline number's [min, max] over the runs where it is defined."""
    out = {}
    for key in headlines[0]:
        values = [float(h[key]) for h in headlines if math.isfinite(float(h[key]))]
        if values:
            out[key] = [min(values), max(values)]
    return out


def _per_claim(runs, evaluations, pooled) -> dict[str, list[Evaluation]]:
    """Each claim's evaluations: one per run, or the one pooled decision."""
    if not runs or len(runs) != len(evaluations):
        raise ValueError(f"need one evaluation per run, got {len(runs)} runs and {len(evaluations)} evaluations")
    return {claim_id: [pooled[claim_id]] if claim_id in POOLED else [e[claim_id] for e in evaluations]
            for claim_id in CLAIMS}


def over_runs(runs: Sequence[Run], evaluations: Sequence[Mapping[str, Evaluation]],
              pooled: Mapping[str, Evaluation]) -> pd.DataFrame:
    """One row per claim: the verdict (per-run claims over all runs with :func:`over_seeds`: a
    verdict that differs between runs is "unstable across seeds", one that could not be tested
    in a run makes the claim "not testable"; the pooled claim's one decision), how many runs
    agree, what decided it, the per-run verdicts, and each headline number's [min, max]."""
    rows = []
    for claim_id, judged in _per_claim(runs, evaluations, pooled).items():
        agreement = over_seeds([e.verdict for e in judged])
        spread = _spread([e.headline for e in judged])
        rows.append(dict(finding=claim_id, verdict=agreement.verdict, agreement=str(agreement),
                         decided=_decided_on(claim_id, runs, judged[0]),
                         per_run=" / ".join(e.verdict for e in judged),
                         spread="; ".join(f"{k} {lo:.3g}–{hi:.3g}" for k, (lo, hi) in spread.items()),
                         seeds=agreement, spread_values=spread))
    return pd.DataFrame(rows).set_index("finding")


def checks_table(runs: Sequence[Run], evaluations: Sequence[Mapping[str, Evaluation]],
                 pooled: Mapping[str, Evaluation]) -> pd.DataFrame:
    """Every check and precondition of every claim (rows, ``"<claim id>: <check>"``) in every
    run (columns), and the pooled claim's checks in the column ``"all runs, pooled"``; a check
    the data could not decide reads ``"undecided"``, one that does not apply is missing."""
    def rows(ev: Mapping[str, Evaluation]) -> dict:
        return {f"{claim_id}: {prefix}{name}": "undecided" if ok is None else ok for claim_id, e in ev.items()
                for prefix, items in (("precondition: ", e.preconditions), ("", e.checks))
                for name, ok in items.items()}

    columns = {run.name: rows(ev) for run, ev in zip(runs, evaluations)}
    return checks_frame({**columns, "all runs, pooled": rows(pooled)}).astype(object)


def _range(spread: Mapping[str, list], key: str, fmt: str = ".2f") -> str:
    if key not in spread:
        return "undefined"
    lo, hi = spread[key]
    return f"{lo:{fmt}}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}}–{hi:{fmt}}"


def _last_layer_value(spread: Mapping[str, list], e: Evaluation) -> str:
    if e.ours["correlation"] is None:
        return f"undecided: {e.ours['networks']} networks"
    return (f"Pearson {_range(spread, 'pearson')} over {e.ours['networks']} networks "
            f"({e.ours['training_runs']} training seeds)")


#: Each claim's headline in words (the scorecard's "ours" column): f(spread, primary or pooled evaluation).
_OUR_VALUES = {
    HUNCHBACK.id: lambda sp, e: f"median peak/input {_range(sp, 'median_rise')}, last/peak {_range(sp, 'median_fall')}",
    WIDTH_AND_PCA.id: lambda sp, e: (f"width >= 10 x ID in every layer of {_range(sp, 'width_share')} of models; "
                                     f"PC-ID/TwoNN {_range(sp, 'median_pca_over_id', '.1f')}; PC-ID change "
                                     f"{_range(sp, 'median_pca_change')}; PC-ID at the sample cap in "
                                     f"{_range(sp, 'pca_capped_share')} of layers"),
    LAST_LAYER.id: _last_layer_value,
    TRAINING.id: lambda sp, e: (f"untrained flat share {_range(sp, 'untrained_flat_share')}; random labels (train "
                                f"accuracy {_range(sp, 'random_train_accuracy')}): last hidden ID "
                                f"x{_range(sp, 'random_last_vs_previous')} the layer before"),
}


def _summary(row, judged: Sequence[Evaluation], names: Sequence[str]) -> str:
    """The verdict, what decided it, why a run was not testable, what failed in the first."""
    e = judged[0]
    text = f"{row.agreement}; decided {row.decided}"
    text += f"; per run: {row.per_run} (runs: {'; '.join(names)}). " if len(judged) > 1 else ". "
    reasons = [f"{name}: {', '.join(undecided(ev.checks, ev.preconditions))}"
               for name, ev in zip(names, judged) if ev.verdict == NOT_TESTABLE]
    if reasons:
        text += f"Not testable in {'; '.join(reasons)}. "
    failed = [name for name, ok in e.checks.items() if ok is False]
    if failed:
        text += f"Failing{' in the first run' if len(judged) > 1 else ''}: {'; '.join(failed)}. "
    return text + f"Headline ranges: {row.spread}."


def outcomes(runs: Sequence[Run], evaluations: Sequence[Mapping[str, Evaluation]],
             pooled: Mapping[str, Evaluation]) -> list[Outcome]:
    """One :class:`Outcome` per claim for ``study.record``: the verdict, the checks and numbers
    of the primary run (or of the pooled decision), every run's verdict, preconditions, checks
    and headline, and the headline spreads."""
    table = over_runs(runs, evaluations, pooled)
    out = []
    for claim_id, judged in _per_claim(runs, evaluations, pooled).items():
        row, e, claim = table.loc[claim_id], judged[0], CLAIMS[claim_id]
        names = ["all runs, pooled"] if claim_id in POOLED else [r.name for r in runs]
        every_run = [dict(run=n, verdict=ev.verdict, preconditions=ev.preconditions, checks=ev.checks,
                          headline=ev.headline) for n, ev in zip(names, judged)]
        out.append(Outcome(claim, checks=e.checks, verdict=row.verdict,
                           ours={**e.ours, "decided": row.decided, "runs": every_run},
                           our_value=_OUR_VALUES[claim_id](row.spread_values, e),
                           summary=_summary(row, judged, names), seeds={"twonn": row.seeds.as_dict()},
                           spread=row.spread_values))
    return out
