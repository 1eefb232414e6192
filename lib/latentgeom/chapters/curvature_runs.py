"""What a curvature page reads beside its verdict: the decisions over runs and the tables of the
networks it measured (:mod:`.curvature`).

- :class:`Run` is one repetition of a page: one training seed of *every* network of the page and
  an image sample of its own; :class:`SeedRuns` holds the checks of every run (or, for a claim
  decided on the pooled networks, of the one pooled decision) under every instrument;
- :func:`accuracy_table` the test accuracy of every network measured, :func:`measurability_table`
  each layer's tangent dimension next to the input directions its neighbourhoods span,
  :func:`precision_table` each layer's MAPC interval from independent samples of points, and
  :func:`recipe_changes` what each regularisation recipe changes in the baseline's config.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from ..reporting.findings import checks_frame, verdict

__all__ = ["POOLED_RUN", "PRECISION", "Run", "SeedRuns", "accuracy_table", "across_control", "measurability_table",
           "precision_table", "recipe_changes", "recipe_fields"]

#: The name of the one decision of a claim judged on every run's networks pooled.
POOLED_RUN = "all runs, pooled"
#: Half-width of a layer's 95 % MAPC interval, relative to its value, that counts as precise.
PRECISION = 0.10


@dataclass(frozen=True)
class Run:
    """One repetition of a page's measurement: every network of the page under ``train_seed``,
    measured on the image sample (and estimator seed) ``sample_seed``."""

    sample_seed: int
    train_seed: int

    @property
    def name(self) -> str:
        return f"image seed {self.sample_seed}, training seed {self.train_seed}"


@dataclass
class SeedRuns:
    """A page's checks, under every instrument.

    ``runs`` the :class:`Run` s measured; ``profiles`` run name -> wide profiles; ``decisions``
    the names the checks were decided on (every run's, or :data:`POOLED_RUN` once);
    ``checks`` / ``preconditions`` (decision, instrument) -> named checks / preconditions;
    ``numbers`` one row per decision x instrument with the headline statistics; ``agreement``
    instrument -> :class:`~latentgeom.reporting.findings.SeedAgreement`; ``spread``
    ``"<headline> (<instrument>)"`` -> [min, max] over the decisions.
    """

    runs: list
    profiles: dict
    decisions: list
    checks: dict
    preconditions: dict
    numbers: pd.DataFrame
    agreement: dict
    spread: dict

    @property
    def main(self) -> pd.DataFrame:
        """Profiles of the first run (the page's ``seed``), for the charts."""
        return self.profiles[self.runs[0].name]

    @property
    def pooled(self) -> pd.DataFrame:
        """Every run's profiles, one frame, with the ``run`` they come from."""
        return pd.concat([frame.assign(run=name) for name, frame in self.profiles.items()], ignore_index=True)

    def verdict(self, decision: str, instrument: str) -> str:
        return verdict(self.checks[(decision, instrument)], self.preconditions[(decision, instrument)])

    def verdict_table(self) -> pd.DataFrame:
        """Rows: instruments; columns: each decision's verdict, then the verdict over all of them."""
        instruments = list(self.agreement)
        table = {d: {i: self.verdict(d, i) for i in instruments} for d in self.decisions}
        table["over runs"] = {i: str(a) for i, a in self.agreement.items()}
        return pd.DataFrame(table)

    def checks_table(self, decision: str | None = None) -> pd.DataFrame:
        """One decision's checks and preconditions (default: the first), rows: checks,
        columns: instruments; ``None`` is a check the data could not decide."""
        decision = decision or self.decisions[0]
        return checks_frame({i: {**{f"precondition: {k}": v for k, v in self.preconditions[(decision, i)].items()},
                                 **self.checks[(decision, i)]} for i in self.agreement})


def accuracy_table(runs: SeedRuns) -> pd.DataFrame:
    """Test accuracy of every network the page measured (each at its epoch), one row each."""
    frame = runs.pooled
    keys = [c for c in ("network", "state", "stage", "epoch") if c in frame]
    return frame.drop_duplicates(keys)[keys + ["test_accuracy"]].reset_index(drop=True)


def measurability_table(profiles: pd.DataFrame, modes=("paper", "robust")) -> pd.DataFrame:
    """Per network and layer: the tangent dimension ``d`` of each mode next to ``dirs``, the input
    directions its neighbourhoods span, the robust share of points resolved and whether the
    layer is ``measurable`` (see :func:`latentgeom.profiles.curvature_profile`)."""
    keys = [c for c in ("network", "epoch", "layer") if c in profiles]
    columns = [f"{q}_{m}" for m in modes for q in ("d", "dirs", "resolved", "measurable") if f"{q}_{m}" in profiles
               and not (q == "resolved" and m == "paper")]  # the paper estimator resolves nothing per point
    return profiles[keys + columns].reset_index(drop=True)


def precision_table(runs: SeedRuns, columns: dict[str, str], n_points: int) -> pd.DataFrame:
    """Each layer's MAPC interval from resampling its points, per instrument.

    A layer's MAPC is a mean over the sample's points; resampling the points gives its 95 %
    interval, 1.96 standard errors (the profile's ``mapc_se_M``, mode ``M`` of the instrument's
    column; a scale-free column shares its mode's relative error, its length scale being one
    number per layer). ``half_width_<instrument>`` is that half-width relative to the value
    (mean over the first training seed's samples), ``precise_<instrument>`` whether it is
    within :data:`PRECISION`, and ``needed_<instrument>`` the images a sample would need for
    it at the same per-point spread (n x (half-width / PRECISION)^2, at least n).
    ``across_<instrument>``, the control: the same half-width from the spread of the value over
    the samples (1.96 x their standard deviation / |mean|; NaN with one sample), which also
    redraw the perturbations and the tangent dimension d; wider than the resampling interval,
    it says the sample's points are not the only source of imprecision.
    Rows: network, epoch, layer (the first run's order); ``n_points``: images per sample.
    """
    first = runs.runs[0].train_seed
    stacked = pd.concat([runs.profiles[r.name] for r in runs.runs if r.train_seed == first], ignore_index=True)
    keys = [c for c in ("network", "epoch", "layer") if c in stacked]
    for name, column in columns.items():
        mode = column.rsplit("_", 1)[1]
        stacked[f"half_width_{name}"] = 1.96 * stacked[f"mapc_se_{mode}"] / stacked[f"mapc_{mode}"].abs()
    grouped = stacked.groupby(keys, sort=False)
    table = grouped.size().rename("samples").reset_index()
    for name in columns:
        half = grouped[f"half_width_{name}"].mean().to_numpy()
        table[f"half_width_{name}"] = half
        table[f"precise_{name}"] = half <= PRECISION
        table[f"needed_{name}"] = np.ceil(np.maximum(n_points * (half / PRECISION) ** 2, n_points))
        values = grouped[columns[name]]
        table[f"across_{name}"] = 1.96 * values.std(ddof=1).to_numpy() / values.mean().abs().to_numpy()
    return table


def across_control(precision: pd.DataFrame) -> str:
    """A :func:`precision_table`'s control in words, for a page's prose: the share of layers
    whose spread over the first training seed's samples is wider than the resampling interval
    (paper MAPC), or, with one sample per training seed, why there is no control."""
    samples = int(precision["samples"].min())
    if samples < 2:
        return (f"The control, the spread over samples of the same networks, needs two samples of one "
                f"training seed; this run has {samples} (`-p n_seeds 2` adds one, at the cost of its "
                f"profiles).")
    wider = float((precision["across_paper"] > precision["half_width_paper"]).mean())
    return (f"The spread over the first training seed's {samples} samples, the control, is wider than that "
            f"interval in {wider:.0%} of the layers (third table).")


def recipe_fields(recipes: dict) -> dict[str, dict]:
    """The fields each recipe's TrainConfig changes in the first (the baseline's), with their
    new values: ``{"no regularisers": {"weight_decay": 0.0}}`` (empty when nothing); applied to
    another config with ``dataclasses.replace`` they make that config's version of the recipe."""
    base, *_ = recipes.values()
    return {name: {f.name: getattr(config, f.name) for f in fields(config)
                   if getattr(config, f.name) != getattr(base, f.name)} for name, config in recipes.items()}


def recipe_changes(recipes: dict) -> dict[str, str]:
    """What each recipe's TrainConfig changes in the first (the baseline's), in words:
    ``{"no regularisers": "weight_decay 0.0005 -> 0.0"}`` (``"nothing"`` when nothing)."""
    base, *_ = recipes.values()
    return {name: ", ".join(f"{k} {getattr(base, k)} -> {v}" for k, v in changed.items()) or "nothing"
            for name, changed in recipe_fields(recipes).items()}
