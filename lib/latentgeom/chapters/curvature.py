"""Study code of the curvature chapter (Kaufman & Azencot, ICML 2023): ``book/findings/curvature-*.md``.

The pages measure per-layer curvature *profiles* (:func:`latentgeom.profile`: one row
per probe layer, with ``mapc_M``, ``max_abs_M`` and ``carrying_M`` for each estimator mode
``M``) of several models, then run numeric checks on them. What they share lives here:

- :func:`label` / :func:`profile_models` name and profile a list of trained models;
- :func:`tidy` turns wide profiles into one long frame (one row per model x layer x mode);
- :func:`segments` / :func:`shape_metrics` / :func:`shape_table` cut a profile into the
  paper's three segments (input, middle plateau, last layer) and measure the ratios between
  them;
- :func:`gap_table` gives each model's curvature gap under both estimator modes (or any
  column, e.g. every instrument of :data:`INSTRUMENTS`);
- :func:`setup` is a page's preamble (preset, models, runs), :meth:`Study.over_seeds` runs the
  page's checks over image-sample and training seeds under the three instruments
  (:data:`INSTRUMENTS`: paper MAPC, robust MAPC, scale-free MAPC) and :func:`record` writes
  the page's result (verdicts per instrument, seed agreement, spread of the headline numbers).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..reporting.findings import UNSTABLE, Finding, checks_frame, over_seeds, verdict, write_finding
from ..reporting.provenance import StageClock
from ..estimators.curvature import MODES
from ..networks.models import MODELS
from ..networks.training import load_checkpoint, train
from ..validation import check_choice, check_int
from ..profiles import profile
from .presets import get_preset, label, sample_images, trajectory

#: Per-mode quantities of a profile (column ``f"{q}_{mode}"``); ``scale_free`` and ``bend`` are
#: the dimensionless curvatures of :mod:`latentgeom.estimators.scale_free`.
QUANTITIES = ("mapc", "max_abs", "carrying", "scale_free", "bend")
QUANTITY_TITLES = {
    "mapc": "MAPC (mean |κ| over all directions)",
    "max_abs": "mean per-point largest |κ|",
    "carrying": "mean |κ| over carrying directions",
    "scale_free": "scale-free MAPC (MAPC × RMS radius)",
    "bend": "bending (per-point |κ| × neighbourhood radius)",
    "rms_radius": "the layer's length scale: RMS radius",
}
#: Fewest image-sample points per seed: TwoNN and the robust input-layer fit need a few dozen.
MIN_POINTS = 40


def profile_models(trained: Iterable, images, geometry, *, labels: Sequence[str] | None = None,
                   profile_fn: Callable | None = None, **columns) -> pd.DataFrame:
    """Curvature profiles of several trained models, concatenated (wide form).

    Each row gains ``label`` (see :func:`label`, or ``labels``) and the constant ``columns``
    (e.g. ``state="trained"``). Profiles come from the profile cache when present.
    """
    if profile_fn is None:
        profile_fn = profile
    trained = list(trained)
    if labels is not None and len(labels) != len(trained):
        raise ValueError(f"got {len(labels)} labels for {len(trained)} models")
    frames = []
    for i, model in enumerate(trained):
        frame = profile_fn(model, images, geometry, progress=False)
        frame.insert(0, "label", labels[i] if labels is not None else label(model.config, model.epoch))
        for key, value in columns.items():
            frame[key] = value
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _modes_in(frame: pd.DataFrame) -> list[str]:
    return [m for m in MODES if f"mapc_{m}" in frame.columns]


def tidy(profiles: pd.DataFrame, modes: Sequence[str] | None = None) -> pd.DataFrame:
    """Wide profiles -> long form: one row per (model x layer) x mode.

    The per-mode columns ``mapc_M, max_abs_M, carrying_M, d_M, K_M`` become ``mapc, max_abs,
    carrying, d, K`` plus a ``mode`` column; every other column is kept.
    """
    modes = list(modes) if modes is not None else _modes_in(profiles)
    if not modes:
        raise ValueError("profiles have no mapc_<mode> column")
    per_mode = [f"{q}_{m}" for m in MODES for q in (*QUANTITIES, "d", "K")]
    keep = [c for c in profiles.columns if c not in per_mode]
    parts = []
    for mode in modes:
        if f"mapc_{mode}" not in profiles:
            raise ValueError(f"profiles lack column mapc_{mode}")
        part = profiles[keep].copy()
        part["mode"] = mode
        for q in (*QUANTITIES, "d", "K"):
            if f"{q}_{mode}" in profiles:
                part[q] = profiles[f"{q}_{mode}"].to_numpy()
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def segments(profile: pd.DataFrame, column: str) -> dict:
    """The paper's three segments of one model's profile, by relative depth.

    ``input`` is the shallowest layer, ``last`` the deepest (logits), ``penultimate`` the one
    before it; ``first`` is the first latent layer after the input; ``middle`` holds every
    layer strictly between the input and the last layer (the plateau).
    """
    if column not in profile:
        raise ValueError(f"profile has no column {column!r}")
    ordered = profile.sort_values("relative_depth")
    values = ordered[column].to_numpy(dtype=float)
    if len(values) < 4:
        raise ValueError(f"a profile needs at least 4 layers for its segments, got {len(values)}")
    return dict(input=values[0], first=values[1], middle=values[1:-1], penultimate=values[-2],
                last=values[-1], layers=list(ordered["layer"]))


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 and np.isfinite(a) and np.isfinite(b) else math.nan


def shape_metrics(profile: pd.DataFrame, column: str) -> dict[str, float]:
    """Ratios between a profile's segments (see :func:`segments`).

    - ``rise``: median of the middle layers / input (steep rise from the input);
    - ``plateau_spread``: max / min over the middle layers (1 = perfectly flat);
    - ``final_ratio``: last / penultimate layer (``1 + `` the normalised curvature gap);
    - ``final_vs_plateau``: last layer / largest middle layer;
    - ``depth_trend``: penultimate / first latent layer (< 1: curvature falls with depth).
    """
    s = segments(profile, column)
    middle = s["middle"]
    return dict(
        input=float(s["input"]),
        plateau_median=float(np.median(middle)),
        last=float(s["last"]),
        rise=_ratio(np.median(middle), s["input"]),
        plateau_spread=_ratio(middle.max(), middle.min()),
        final_ratio=_ratio(s["last"], s["penultimate"]),
        final_vs_plateau=_ratio(s["last"], middle.max()),
        depth_trend=_ratio(s["penultimate"], s["first"]),
    )


def shape_table(profiles: pd.DataFrame, column: str, by: str | Sequence[str] = "label") -> pd.DataFrame:
    """:func:`shape_metrics` of every model in a wide frame of profiles (one row per model)."""
    by = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, group in profiles.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), **shape_metrics(group, column)})
    return pd.DataFrame(rows)


def gap_table(profiles: pd.DataFrame, by: str | Sequence[str] = "label",
              modes: Sequence[str] | None = None, extra: Sequence[str] = ("model", "width", "epoch", "test_accuracy"),
              columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Curvature gap of every model, per mode: ``gap_M`` (normalised), ``raw_gap_M``, ``ratio_M``.

    ``columns`` (name -> profile column, e.g. :data:`INSTRUMENTS`) measures the gap on any
    column instead, named ``gap_<name>`` etc.
    """
    by = [by] if isinstance(by, str) else list(by)
    modes = list(modes) if modes is not None else _modes_in(profiles)
    columns = columns if columns is not None else {mode: f"mapc_{mode}" for mode in modes}
    rows = []
    for key, group in profiles.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        row.update({c: group[c].iloc[0] for c in extra if c in group and c not in row})
        for name, column in columns.items():
            s = segments(group, column)
            row.update({f"gap_{name}": _ratio(s["last"] - s["penultimate"], s["penultimate"]),
                        f"raw_gap_{name}": float(s["last"] - s["penultimate"]),
                        f"ratio_{name}": _ratio(s["last"], s["penultimate"])})
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# The sweep (python -m latentgeom sweep): what the curvature pages train and measure


# --- The pages' preamble, seeds and result: one call each (``setup``, ``Study.over_seeds``, ``record``) ---

#: The instruments every curvature verdict is computed under: name -> profile column. ``scale-free``
#: is the paper's MAPC times the layer's RMS radius (:mod:`latentgeom.estimators.scale_free`): the
#: paper instrument with the activation scale divided out and nothing else changed.
INSTRUMENTS = {"paper": "mapc_paper", "robust": "mapc_robust", "scale-free": "scale_free_paper"}

#: What each page tests: the paper's claim, its numbers, and which models the page measures.
PAGES = {
    "curvature-1-profile-shape": dict(
        title="Curvature profile: steep rise, plateau, final jump", models="width",
        paper_claim=("MAPC rises steeply from the input to the first block, stays on a plateau over the "
                     "middle layers and jumps at the last layer, for every architecture."),
        paper={"input_mapc_0_255": 1.6e-4, "first_block_mapc": [0.04, 0.25], "plateau_mapc": [0.03, 0.25],
               "last_layer_mapc": [1.5, 4.0], "architectures": ["resnet18", "resnet50", "resnet101",
                                                                "vgg13", "vgg16", "vgg19"]},
        paper_value="MAPC ~1.6e-4 at the input, 0.03-0.25 plateau, 1.5-4 at the last layer (last/penultimate ~6-20x)"),
    "curvature-2-untrained": dict(
        title="Untrained networks: curvature flattens with depth", models="untrained",
        paper_claim=("Untrained networks do not show the trained profile: curvature flattens or falls with "
                     "depth (VGG towards ~1e-9 by relative depth 0.8; ResNets plateau, then the last layer "
                     "collapses)."),
        paper={"vgg_untrained_mapc_at_depth_0.8": 1e-9, "resnet_untrained": "plateau, then last-layer collapse",
               "trained_last_layer_mapc": [1.5, 4.0]},
        paper_value="untrained MAPC flattens or falls with depth (VGG ~1e-9 at depth 0.8); no final jump"),
    "curvature-3-gap-accuracy": dict(
        title="A larger curvature gap goes with higher test accuracy", models="trajectories",
        paper_claim=("The normalised curvature gap between the last two layers correlates strongly and "
                     "positively with test accuracy, across architectures and along training."),
        paper={"cifar10_vgg": {"accuracy": [93.7, 94.4], "gap": [5.0, 5.7]},
               "cifar10_resnet": {"accuracy": [95.6, 95.7], "gap": [8.0, 18.6]},
               "cifar100_vgg": {"accuracy": [73.4, 75.5], "gap": [1.1, 2.4]},
               "cifar100_resnet": {"accuracy": [78.1, 80.1], "gap": [2.8, 4.4]},
               "checkpoints_accuracy": [73, 87], "correlation": "strong (no coefficient given)"},
        paper_value="strong positive correlation of the normalised gap with accuracy (gaps 1.1-18.6)"),
    "curvature-4-id-vs-curvature": dict(
        title="Intrinsic dimension is not indicative of curvature", models="zoo",
        paper_claim="The intrinsic dimension of latent codes is not necessarily indicative of their curvature.",
        paper={"claim": "ID not necessarily indicative of curvature", "coefficient": None},
        paper_value="ID not necessarily indicative of curvature (no coefficient given)"),
    "curvature-5-mixup": dict(
        title="Mixup flattens intermediate layers, the last layer stays curved", models="recipes",
        paper_claim=("Mixup makes intermediate-layer MAPC ~10x lower than the baseline recipe while the "
                     "last layer stays highly curved."),
        paper={"architecture": "resnet50", "middle_ratio_mixup_over_baseline": 0.1,
               "test_accuracy": {"baseline": 0.957, "manifold mixup": 0.955, "mixup": 0.951,
                                 "no regularisers": 0.906}},
        paper_value="mixup/baseline intermediate MAPC ~0.1x; last layer stays high"),
}


@dataclass(frozen=True)
class Run:
    """One repetition of a page's measurement: an image sample (and estimator) seed and the
    training seed of the page's re-seeded architecture."""

    name: str
    sample_seed: int
    train_seed: int


@dataclass
class SeedRuns:
    """A page's checks over every :class:`Run`, under every instrument.

    ``profiles`` run name -> wide profiles; ``checks`` (run, instrument) -> named checks;
    ``numbers`` one row per run x instrument with the headline statistics; ``agreement``
    instrument -> :class:`~latentgeom.reporting.findings.SeedAgreement`; ``spread``
    ``"<headline> (<instrument>)"`` -> [min, max] over the runs.
    """

    runs: list
    profiles: dict
    checks: dict
    numbers: pd.DataFrame
    agreement: dict
    spread: dict

    @property
    def main(self) -> pd.DataFrame:
        """Profiles of the first run (the page's ``seed``), for the charts."""
        return self.profiles[self.runs[0].name]

    def verdict_table(self) -> pd.DataFrame:
        """Rows: instruments; columns: each run's verdict, then the verdict over all runs."""
        table = {run.name: {i: verdict(self.checks[(run.name, i)]) for i in INSTRUMENTS} for run in self.runs}
        table["over runs"] = {i: str(a) for i, a in self.agreement.items()}
        return pd.DataFrame(table)

    def checks_table(self, run: str | None = None) -> pd.DataFrame:
        """One run's checks (default: the first), rows: checks, columns: instruments."""
        run = run or self.runs[0].name
        return checks_frame({i: self.checks[(run, i)] for i in INSTRUMENTS})


@dataclass
class Study:
    """A curvature page's set-up (from :func:`setup`): preset, models, runs and parameters."""

    page: str
    preset: object
    seed: int
    n_seeds: int
    models: list
    reseeded: str
    parameters: dict
    started: float = field(default_factory=time.perf_counter)
    #: Seconds spent so far training/loading models and computing profiles (forward passes,
    #: tangent dimensions and curvature estimators; a cached profile costs ~0).
    clock: StageClock = field(default_factory=lambda: StageClock("training", "profiles"))

    @property
    def runs(self) -> list[Run]:
        """``n_seeds`` image-sample seeds, then one run with a second training seed."""
        first = self.models[0].seed
        return [Run(f"sample seed {self.seed + i}", self.seed + i, first) for i in range(self.n_seeds)] + \
            [Run(f"training seed {first + 1}", self.seed, first + 1)]

    def configs(self, run: Run) -> list:
        """The page's TrainConfigs with the re-seeded member(s) on ``run``'s training seed."""
        return [replace(c, seed=run.train_seed) if self._reseed(c) else c for c in self.models]

    def _reseed(self, config) -> bool:
        if PAGES[self.page]["models"] == "recipes":
            return config.mixup_alpha > 0 or config == self.models[0]  # baseline and mixup
        return config.model == self.reseeded and config.width == max(self.preset.widths)

    def _run_configs(self, run: Run) -> tuple[list, list | None]:
        """The configs ``run`` measures and their recipe names (on a second training seed, the
        regularisation page compares only the two re-seeded recipes)."""
        configs, names = self.configs(run), self.parameters.get("recipes")
        if run.train_seed != self.models[0].seed and PAGES[self.page]["models"] == "recipes":
            keep = [self._reseed(c) for c in self.models]
            configs, names = [c for c, k in zip(configs, keep) if k], [n for n, k in zip(names, keep) if k]
        return configs, names

    def members(self, run: Run) -> list[tuple]:
        """``(config, epoch)`` of every model ``run`` measures, without training anything: the
        checkpoints and final model of each trajectory, the final models, and (untrained page)
        each network at initialisation as ``load_checkpoint(config, 0)`` gives it."""
        configs, _ = self._run_configs(run)
        kind = PAGES[self.page]["models"]
        if kind == "trajectories":
            return [(c, e) for c in configs for e in sorted({*c.checkpoint_epochs, c.epochs})]
        members = [(c, c.epochs) for c in configs]
        if kind == "untrained":
            members += [(replace(c, epochs=0, checkpoint_epochs=()), 0) for c in configs]
        return members

    def measure(self, run: Run) -> pd.DataFrame:
        """Wide profiles of the page's models on ``run``'s image sample (cached on disk)."""
        P, kind = self.preset, PAGES[self.page]["models"]
        images, _ = sample_images(P, seed=run.sample_seed)
        geometry = P.geometry(seed=run.sample_seed)
        configs, names = self._run_configs(run)
        with self.clock("training"):
            if kind == "trajectories":  # checkpoints, then the final model
                trained = [m for c in configs for m in trajectory(c)]
            else:
                trained = [train(c, progress=False) for c in configs]
            if kind == "untrained":
                trained += [load_checkpoint(c, 0) for c in configs]
        labels = None
        if kind == "recipes":
            labels = names
        elif kind == "untrained":
            labels = [c.model for c in configs] * 2
        with self.clock("profiles"):
            frame = profile_models(trained, images, geometry, labels=labels)
        if kind == "recipes":
            return frame.rename(columns={"label": "recipe"})
        if kind == "untrained":
            frame["state"] = ["trained" if e > 0 else "untrained" for e in frame["epoch"]]
        if kind == "trajectories":
            frame["stage"] = frame["epoch"].map(lambda e: "checkpoint" if e < configs[0].epochs else "final")
        return frame

    def over_seeds(self, checks: Callable, headline: Callable) -> SeedRuns:
        """Run ``checks(profiles, column) -> {name: bool}`` and ``headline(profiles, column) ->
        {name: float}`` on every run's profiles under every instrument (one progress bar)."""
        profiles, table, rows = {}, {}, []
        for run in tqdm(self.runs, desc=f"{self.page} runs", leave=False):
            profiles[run.name] = frame = self.measure(run)
            for instrument, column in INSTRUMENTS.items():
                table[(run.name, instrument)] = {k: bool(v) for k, v in checks(frame, column).items()}
                rows.append({"run": run.name, "instrument": instrument, **headline(frame, column)})
        numbers = pd.DataFrame(rows)
        agreement = {i: over_seeds([verdict(table[(r.name, i)]) for r in self.runs]) for i in INSTRUMENTS}
        heads = [c for c in numbers.columns if c not in ("run", "instrument")]
        spread = {f"{h} ({i})": [float(g[h].min()), float(g[h].max())]
                  for i, g in numbers.groupby("instrument", sort=False) for h in heads}
        return SeedRuns(self.runs, profiles, table, numbers, agreement, spread)


def setup(page: str, preset: str, *, n_points=None, q=None, seed: int = 0, n_seeds: int = 3,
          **options) -> Study:
    """A curvature page's preamble in one call: validated parameters, preset, models, runs.

    ``options``: ``width`` (pages 1-2), ``n_boot`` (pages 3-4), ``mixup_architecture`` (page 5).
    Prints one line describing the scale. ``n_points`` is the sample size *per seed* (None:
    the preset's ``n_points`` shared among the ``n_seeds`` samples).
    """
    check_choice(page, "page", PAGES)
    check_int(seed, "seed", minimum=0)
    check_int(n_seeds, "n_seeds", minimum=1)
    if options.get("n_boot") is not None:
        check_int(options["n_boot"], "n_boot", minimum=100)
    base = get_preset(preset, q=q, mixup_architecture=options.get("mixup_architecture"))
    per_seed = n_points if n_points is not None else max(base.n_points // n_seeds, MIN_POINTS)
    P = get_preset(preset, n_points=per_seed, q=q, mixup_architecture=options.get("mixup_architecture"))
    kind = PAGES[page]["models"]
    parameters = {**asdict(P), "seed": seed, "n_seeds": n_seeds,
                  **{k: v for k, v in options.items() if k != "mixup_architecture"}}
    if kind in ("width", "untrained"):
        width = max(P.widths) if options.get("width") is None else options["width"]
        check_choice(width, "width", P.widths)
        parameters["width"] = width
        models = [c for c in P.zoo() if c.width == width]
    elif kind == "recipes":
        check_choice(P.mixup_architecture, "mixup_architecture", MODELS)
        recipes = P.recipes()
        parameters["recipes"] = list(recipes)
        models = list(recipes.values())
    else:
        models = P.zoo()
    study = Study(page, P, seed, n_seeds, models, P.mixup_architecture if kind == "recipes" else P.architectures[0],
                  parameters)
    print(f"preset {P.name}: {P.dataset}, {len(models)} models ({', '.join(sorted({c.model for c in models}))}); "
          f"{P.n_points} points x {n_seeds} sample seeds from {seed}, plus training seed "
          f"{models[0].seed + 1} of {study.reseeded}; q = {P.q} (K = {2 ** P.q})")
    return study


def attribution(modes: dict) -> str:
    """Sentences from the three verdicts: is the paper-MAPC verdict a property of the geometry
    (all instruments agree), of the activation scale (it changes when the scale is divided out),
    of the instrument (the robust estimator disagrees), or of the image sample (unstable)?"""
    paper, robust, free = modes["paper"], modes["robust"], modes["scale-free"]
    text = f"Paper MAPC: {paper}; robust MAPC: {robust}; scale-free MAPC: {free}. "
    if paper == free == robust:
        text += ("All three instruments agree: the verdict is a property of the geometry, not of the "
                 "activation scale or of the estimator.")
    else:
        text += ("Dividing out the activation scale changes the paper verdict: it depends on the scale "
                 "of the activations. " if paper != free else
                 "Dividing out the activation scale leaves the paper verdict unchanged. ")
        text += ("The robust estimator disagrees with the paper estimator: the verdict also depends on "
                 "the instrument." if robust != paper else "The robust estimator agrees with it.")
    if UNSTABLE in (paper, robust, free):
        text += " Where a verdict is unstable, the image sample or training seed decides it at this scale."
    return text


def record(study: Study, runs: SeedRuns, *, ours: dict | None = None) -> Finding:
    """Write the page's :class:`~latentgeom.reporting.findings.Finding` (one call in a hidden cell)
    and print its summary: verdicts under every instrument over all runs, seed agreement,
    the headline spread, the first run's paper checks."""
    meta = PAGES[study.page]
    modes = {i: a.verdict for i, a in runs.agreement.items()}
    paper_spread = {k[:-len(" (paper)")]: v for k, v in runs.spread.items() if k.endswith(" (paper)")}
    our_value = ", ".join(f"{k} {lo:.2g} to {hi:.2g}" for k, (lo, hi) in paper_spread.items()) + \
        f" over {len(runs.runs)} runs (paper MAPC)"
    failed = [name for name, ok in runs.checks[(runs.runs[0].name, "paper")].items() if not ok]
    summary = (attribution(modes) + " Runs agreeing: "
               + "; ".join(f"{i} {a}" for i, a in runs.agreement.items()) + f". {our_value}."
               + (f" Failing (paper, first run): {'; '.join(failed)}." if failed else ""))
    numbers = {run: {i: {k: v for k, v in g.drop(columns=["run", "instrument"]).iloc[0].items()}
                     for i, g in frame.groupby("instrument", sort=False)}
               for run, frame in runs.numbers.groupby("run", sort=False)}
    finding = Finding(
        finding_id=study.page, title=meta["title"], notebook=f"book/findings/{study.page}.md",
        paper_claim=meta["paper_claim"], paper=meta["paper"], ours={"runs": numbers, **(ours or {})},
        checks=runs.checks[(runs.runs[0].name, "paper")], verdict=modes["paper"], parameters=study.parameters,
        estimator_modes=modes, seeds={i: a.as_dict() for i, a in runs.agreement.items()}, spread=runs.spread,
        paper_value=meta["paper_value"], our_value=our_value, summary=summary,
        seconds=time.perf_counter() - study.started)
    finding.ours["seconds"] = {**study.clock.wall, "total": finding.seconds}
    write_finding(finding)
    print(summary)
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in finding.ours["seconds"].items()))
    return finding


# --------------------------------------------------------------------------------------------
# The sweep (python -m latentgeom sweep): what the curvature pages train and measure


def work_units(preset: str) -> list:
    """The units of :mod:`latentgeom.sweep` that ``book/findings/curvature-*.md`` need at ``preset``:
    for every page, with the parameters its ``parameters`` cell sets, every run (image-sample
    and training seeds, :attr:`Study.runs`) and every model the run measures
    (:meth:`Study.members`), on the run's image sample and geometry."""
    import contextlib
    import io

    from .. import sweep

    units = []
    for page in PAGES:
        values = sweep.page_parameters(f"findings/{page}.md")
        options = {k: values[k] for k in ("n_points", "q", "seed", "n_seeds", "width", "mixup_architecture")
                   if values.get(k) is not None}
        with contextlib.redirect_stdout(io.StringIO()):  # setup() prints the page's one-line scale
            study = setup(page, preset, **options)
        P = study.preset
        for run in study.runs:
            images = sweep.Images(P.dataset, n=P.n_points, seed=run.sample_seed)  # = sample_images(P, seed)
            geometry = P.geometry(seed=run.sample_seed)
            units += [sweep.Profile.curvature(c, e, images, geometry) for c, e in study.members(run)]
    return units
