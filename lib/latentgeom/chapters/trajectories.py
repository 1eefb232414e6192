"""The training-trajectories chapter (Mao et al., PNAS 2024, arXiv 2305.01604).

Page: ``book/findings/trajectories-prediction-space.md``. A training run becomes a *trajectory*
in prediction space: the class probabilities of the network at every checkpoint (dense early, at
fractions of an epoch, including initialisation) on two fixed probe sets of training and test
images. The estimators (Bhattacharyya distance, InPCA, progress, trajectory distance) are in
:mod:`latentgeom.estimators.prediction_space`; the run grid and the prediction data in
:mod:`.trajectory_runs`; the tables the claims are checked on in :mod:`.trajectory_tables`; the
charts in :mod:`latentgeom.reporting.plots`. This module is the chapter (see
:mod:`.protocol`):

- :data:`CLAIMS`: the paper's four claims, with the thresholds of their tests and why;
- :data:`SETTINGS`: the scale per preset (:class:`~.trajectory_runs.TrajectorySettings`);
- :data:`PAGES` and :func:`setup`: the page's parameters and its study,
  :class:`TrajectoriesStudy`, whose plan is one :class:`~latentgeom.units.Train` per run of the
  grid and whose :meth:`~TrajectoriesStudy.collect` reads the predictions of the models those
  units give;
- the checks (:func:`checks_low_dimension`, :func:`checks_architecture`, :func:`checks_width`,
  :func:`checks_initialisation`) and the outcomes (:func:`low_dimension`, :func:`architecture`,
  :func:`width`, :func:`initialisation`; all four: :func:`outcomes`), one
  :class:`~.protocol.Outcome` per claim, which ``study.record`` writes as result files.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ..networks.training import load_step, steps_per_epoch
from ..progress import bar
from ..reporting.findings import verdict
from ..units import Train
from ..validation import Parameter, resolve_device
from .protocol import Claim, Outcome, Page, PresetTable, Study
from .trajectory_runs import Run, Trajectories, TrajectorySettings, predictions, probes, run_grid

__all__ = ["CLAIMS", "MINOR", "PAGES", "SETTINGS", "TrajectoriesStudy", "checks_architecture",
           "checks_initialisation", "checks_low_dimension", "checks_width", "architecture", "initialisation",
           "low_dimension", "outcomes", "setup", "verdict_table", "width"]

PAPER = "Mao et al., PNAS 2024 (arXiv 2305.01604)"

SETTINGS: PresetTable[TrajectorySettings] = PresetTable("trajectory settings", {
    # tests: two cheap families, one epoch on 256 images, checkpoints at 0, 1/4, 1/2, 1 epoch
    "tiny": TrajectorySettings(name="tiny", architectures=("mlp", "plain_cnn"), widths=(2, 4),
                               variant_architectures=("mlp",), init_architectures=("mlp",), n_train=256,
                               epochs=1, checkpoints=(0, 0.25, 0.5, 1), n_probe=60, n_test=200, n_grid=20),
    # 2 CPU cores, a few minutes from a cold cache: 18 runs of 4 epochs on 2000 images
    "default": TrajectorySettings(),
})

#: The factors the paper finds of minimal influence on a trajectory (claim 2).
MINOR = ("optimizer", "weight_decay", "augmentation", "seed")

# --------------------------------------------------------------------------------------------
# The claims, with the thresholds of their tests fixed before the data


def _claim(paper_value: str, **fields) -> Claim:
    """A :class:`~.protocol.Claim` of the paper whose paper side is its headline in words (the
    paper reports these claims as statements and pictures, not numbers)."""
    return Claim(source=PAPER, paper={"statement": paper_value}, paper_value=paper_value, **fields)


_YARDSTICK = "the median trajectory distance of pairs differing only in architecture (claim 2) is the yardstick"

LOW_DIMENSION = _claim(
    id="trajectories-1-low-dimension", title="Training trajectories explore a low-dimensional manifold",
    statement="The trajectories of many networks, from P0 to P*, lie on an effectively low-dimensional "
              "manifold: the top few InPCA components explain most of the stress.",
    paper_value="top 3 InPCA components explain most of the stress (trajectories bow away from the geodesic)",
    thresholds={"STRESS_TOP3_MIN": 0.5},
    reasons={"STRESS_TOP3_MIN": "'most of the stress': the top 3 components keep at least half of it "
                                "(explained stress chi_3), on the train AND the test probes"},
    preconditions=("all checkpoints of all runs embedded together",))

ARCHITECTURE = _claim(
    id="trajectories-2-architecture",
    title="Architecture separates trajectories; optimiser, regularisation, seed barely do",
    statement="Networks with different architectures follow distinguishable trajectories; optimiser, "
              "weight decay, augmentation and seed have a minimal influence.",
    paper_value="architecture pairs far apart; other factors minimal",
    thresholds={"MINOR_RATIO_MAX": 0.5},
    reasons={"MINOR_RATIO_MAX": "'minimal influence': the median distance of pairs differing only in "
                                "optimiser / weight decay / augmentation / seed is at most half the median "
                                "of pairs differing only in architecture"},
    preconditions=("at least two architectures in the grid", "runs differing from a base run in one factor"))

WIDTH = _claim(
    id="trajectories-3-width", title="Wider networks follow the same path, further along",
    statement="Larger networks train along a similar manifold as smaller ones, just faster.",
    paper_value="same manifold, wider is further along at a given epoch",
    thresholds={"SAME_PATH_RATIO_MAX": 0.5, "AHEAD_MIN": 0.5, "SHARE_MIN": 0.75},
    reasons={"SAME_PATH_RATIO_MAX": "'the same path': the narrow-vs-wide trajectory distance is at most half "
                                    "the architecture median (distances on a common progress grid, so being "
                                    "faster alone does not count)",
             "AHEAD_MIN": "'just faster': the wide network is further along the P0 -> P* geodesic at more than "
                          "half of the checkpoints after initialisation",
             "SHARE_MIN": "each of the two holds for at least 75 % of the architectures (3 of the default "
                          "grid's 4): one exception does not decide"},
    preconditions=("two widths of every architecture trained with the base recipe", _YARDSTICK))

INITIALISATION = _claim(
    id="trajectories-4-initialisation", title="Very different initialisations converge along a similar manifold",
    statement="Networks initialised at very different parts of prediction space converge to the solution "
              "along a similar manifold.",
    paper_value="different starting points merge onto the same manifold",
    thresholds={"CONVERGE_RATIO_MAX": 0.5, "LATE_RATIO_MAX": 0.5},
    reasons={"CONVERGE_RATIO_MAX": "'converge': d_B between the other start and the normal run of the same "
                                   "network at the last checkpoint is at most half of what it is at "
                                   "initialisation, for every run",
             "LATE_RATIO_MAX": "'along a similar manifold': their distance over the upper half of their common "
                               "progress range is at most half the architecture median, for every run"},
    preconditions=("runs from a very different start (TrajectorySettings.init_starts) in the grid", _YARDSTICK))

#: The chapter's claims by result-file id.
CLAIMS: dict[str, Claim] = {c.id: c for c in (LOW_DIMENSION, ARCHITECTURE, WIDTH, INITIALISATION)}


# --------------------------------------------------------------------------------------------
# The checks: the thresholds above applied to the tables of :mod:`.trajectory_tables`


def checks_low_dimension(stress_train, stress_test) -> dict[str, bool]:
    """Claim 1 on the explained stress chi_k (k = 1, 2, ...) of the InPCA of each probe set."""
    low = LOW_DIMENSION.thresholds["STRESS_TOP3_MIN"]
    return {f"chi_3 >= {low:g} on the train probes": bool(stress_train[2] >= low),
            f"chi_3 >= {low:g} on the test probes": bool(stress_test[2] >= low)}


def checks_architecture(table: pd.DataFrame) -> dict[str, bool]:
    """Claim 2 on :func:`~.trajectory_tables.factor_table`: one check per factor of :data:`MINOR`
    that some pair differs in."""
    ratio = ARCHITECTURE.thresholds["MINOR_RATIO_MAX"]
    arch = table.loc["architecture", "median"]
    return {f"{f}: median <= {ratio:g} x architecture median": bool(table.loc[f, "median"] <= ratio * arch)
            for f in MINOR if f in table.index}


def checks_width(widths: pd.DataFrame, arch_median: float) -> dict[str, bool]:
    """Claim 3 on :func:`~.trajectory_tables.width_table` (one row per architecture);
    ``arch_median``: the architecture pairs' median distance, nats per example."""
    t = WIDTH.thresholds
    same = (widths["distance"] <= t["SAME_PATH_RATIO_MAX"] * arch_median).mean()
    ahead = (widths["ahead"] > t["AHEAD_MIN"]).mean()
    share = f"for >= {t['SHARE_MIN']:.0%} of architectures"
    return {f"same path (distance <= {t['SAME_PATH_RATIO_MAX']:g} x architecture median) {share}":
            bool(same >= t["SHARE_MIN"]),
            f"wider further along (> {t['AHEAD_MIN']:.0%} of checkpoints) {share}": bool(ahead >= t["SHARE_MIN"])}


def checks_initialisation(inits: pd.DataFrame, arch_median: float) -> dict[str, bool]:
    """Claim 4 on :func:`~.trajectory_tables.init_table` (one row per run from another start)."""
    converge, late = (INITIALISATION.thresholds[k] for k in ("CONVERGE_RATIO_MAX", "LATE_RATIO_MAX"))
    return {f"converge: final distance <= {converge:g} x initial, every run":
            bool((inits["d_end"] <= converge * inits["d_start"]).all()),
            f"similar manifold late: distance <= {late:g} x architecture median, every run":
            bool((inits["d_late"] <= late * arch_median).all())}


# --------------------------------------------------------------------------------------------
# What the page found: one Outcome per claim


def _outcome(claim: Claim, checks: dict, ours: dict, our_value: str, summary: str) -> Outcome:
    """The outcome of ``claim``: its verdict from ``checks``, and the summary led by the verdict."""
    v = verdict(checks)
    return Outcome(claim, checks=checks, verdict=v, ours=ours, our_value=our_value, summary=f"{v}: {summary}")


def _range(values, form: str) -> str:
    """``"min-max"`` of ``values``, each formatted with ``form`` (e.g. ``".2f"``)."""
    return f"{values.min():{form}}-{values.max():{form}}"


def low_dimension(embeddings: dict) -> Outcome:
    """Claim 1 from ``{"train": ..., "test": ...}``, :func:`~.trajectory_tables.embed` of each
    probe set: the explained stress chi_1..3 and the number of time-like components."""
    chi = {p: e["inpca"].stress for p, e in embeddings.items()}
    timelike = int(embeddings["train"]["inpca"].timelike.sum())
    ours = {p: {f"chi_{k}": float(c[k - 1]) for k in (1, 2, 3)} for p, c in chi.items()}
    train, test = chi["train"], chi["test"]
    return _outcome(LOW_DIMENSION, checks_low_dimension(train, test), ours | {"timelike_components": timelike},
                    f"chi_1,2,3 = {train[0]:.2f}, {train[1]:.2f}, {train[2]:.2f} (train probes)",
                    f"top 3 InPCA components explain {train[2]:.0%} (train) / {test[2]:.0%} (test) of the stress.")


def architecture(factors: pd.DataFrame) -> Outcome:
    """Claim 2 from :func:`~.trajectory_tables.factor_table` (distances in nats per example)."""
    minor = {f: float(factors.loc[f, "/ architecture"]) for f in MINOR if f in factors.index}
    return _outcome(ARCHITECTURE, checks_architecture(factors),
                    {"median_distance": factors["median"].to_dict(), "ratio_to_architecture": minor},
                    "median distance / architecture median: " + ", ".join(f"{k} {v:.3g}" for k, v in minor.items()),
                    f"architecture pairs median {factors.loc['architecture', 'median']:.3g} nats; "
                    + ", ".join(f"{k} {v:.3g}x" for k, v in minor.items()) + ".")


def width(widths: pd.DataFrame, arch_median: float) -> Outcome:
    """Claim 3 from :func:`~.trajectory_tables.width_table`; ``arch_median``: the yardstick,
    the architecture pairs' median distance (nats per example)."""
    ours = {r.architecture: {k: float(getattr(r, k)) for k in ("distance", "progress_narrow", "progress_wide",
                                                               "ahead")} for r in widths.itertuples()}
    ahead = f"{_range(widths.ahead, '.0%')} of checkpoints"
    return _outcome(WIDTH, checks_width(widths, arch_median), ours | {"architecture_median": float(arch_median)},
                    f"narrow-vs-wide distance {_range(widths.distance, '.3g')} (architecture median "
                    f"{arch_median:.3g}); wide ahead at {ahead}",
                    f"wide networks ahead at {ahead}; narrow-vs-wide distance / architecture median "
                    f"{_range(widths.distance / arch_median, '.2f')}.")


def initialisation(inits: pd.DataFrame, arch_median: float) -> Outcome:
    """Claim 4 from :func:`~.trajectory_tables.init_table`; ``arch_median`` as for :func:`width`."""
    ours = {r.run: {k: float(getattr(r, k)) for k in ("d_start", "d_end", "d_late", "progress_start")}
            for r in inits.itertuples()}
    converged, late = inits.d_end / inits.d_start, inits.d_late / arch_median
    return _outcome(INITIALISATION, checks_initialisation(inits, arch_median),
                    ours | {"architecture_median": float(arch_median)},
                    f"d_end / d_start {converged.max():.2f}, late distance / architecture median "
                    f"{late.max():.2f} (worst run)",
                    f"final / initial distance {_range(converged, '.2f')}; "
                    f"late-trajectory distance / architecture median {_range(late, '.2f')}.")


def outcomes(embeddings: dict, factors: pd.DataFrame, widths: pd.DataFrame, inits: pd.DataFrame) -> list[Outcome]:
    """One :class:`~.protocol.Outcome` per claim of :data:`CLAIMS`, in order: :func:`low_dimension`,
    :func:`architecture`, :func:`width`, :func:`initialisation`; the architecture median of
    ``factors`` is the yardstick of the last three."""
    arch_median = factors.loc["architecture", "median"]
    return [low_dimension(embeddings), architecture(factors), width(widths, arch_median),
            initialisation(inits, arch_median)]


def verdict_table(found: list[Outcome]) -> pd.DataFrame:
    """Every check of every outcome, indexed by (claim, check): passed or not, and the claim's verdict."""
    return pd.DataFrame([dict(claim=o.claim.id, check=name, passed=ok, verdict=o.verdict)
                         for o in found for name, ok in o.checks.items()]).set_index(["claim", "check"])


# --------------------------------------------------------------------------------------------
# The study: what the page trains and reads


@dataclass(kw_only=True)
class TrajectoriesStudy(Study):
    """The page's study: the settings and the run grid they give.

    :meth:`plan` trains every run (with its checkpoint steps); :meth:`collect` reads the
    predictions of every checkpoint of the models those units give.
    """

    settings: TrajectorySettings

    @cached_property
    def runs(self) -> list[Run]:
        """The run grid (:func:`~.trajectory_runs.run_grid`), in the order of :meth:`plan`."""
        return run_grid(self.settings)

    def plan(self) -> list[Train]:
        """One :class:`~latentgeom.units.Train` per run of the grid."""
        return [Train(run.config) for run in self.runs]

    def describe(self) -> str:
        """The study in one sentence: runs, images, epochs, checkpoints and probes."""
        S = self.settings
        return (f"preset {S.name}: {len(self.runs)} runs on {S.n_train} {S.dataset} images, {S.epochs} epochs, "
                f"checkpoints at epochs {[round(c, 3) for c in S.checkpoints]}, {S.n_probe} probe images per set")

    def collect(self) -> Trajectories:
        """Train every run of the plan (or read it from the model cache; stage ``"training"``), then
        read each checkpoint's softmax outputs on the two probe sets (stage ``"predictions"``)."""
        S = self.settings
        trained = self.measure(stage="training")
        accuracy = pd.DataFrame([dict(run=run.name, train_accuracy=model.train_accuracy,
                                      test_accuracy=model.test_accuracy) for run, model in zip(self.runs, trained)])
        device, sets = resolve_device(S.device), probes(S)
        rows, p = [], {k: [] for k in sets}
        with self.clock("predictions"):
            for run in bar(self.runs, desc=f"{self.page.name}: predictions", leave=False):
                per = steps_per_epoch(run.config)
                for step in run.config.checkpoint_steps:
                    model = load_step(run.config, step, device=S.device).model
                    rows.append(dict(run=run.name, step=step, epoch=step / per, **run.factors))
                    for k, (images, _) in sets.items():
                        p[k].append(predictions(model, images, device))
        return Trajectories(self.runs, pd.DataFrame(rows), {k: np.stack(v) for k, v in p.items()},
                            {k: v[1].numpy() for k, v in sets.items()}, accuracy)


# --------------------------------------------------------------------------------------------
# The page


def setup(preset: str = "default", n_train: int | None = None, epochs: int | None = None,
          n_probe: int | None = None, seed: int | None = None) -> TrajectoriesStudy:
    """The page's study at ``preset`` with single settings replaced (``None``: the preset's).

    Every parameter is checked first (one ``ValueError`` naming a bad one); so are the settings
    they give (``n_probe`` at most ``n_train``, checkpoints within ``epochs``). Result files
    carry the resolved settings as their parameters.
    """
    page = PAGES["trajectories-prediction-space"]
    values = page.check(dict(preset=preset, n_train=n_train, epochs=epochs, n_probe=n_probe, seed=seed))
    settings = SETTINGS(values.pop("preset"), **values)
    return TrajectoriesStudy(page=page, parameters=asdict(settings), settings=settings)


#: The chapter's one page, by name.
PAGES = {"trajectories-prediction-space": Page(
    path="findings/trajectories-prediction-space.md",
    parameters={
        "preset": Parameter("str", choices=SETTINGS.presets, help="the chapter's scale"),
        "n_train": Parameter("int", minimum=1, optional=True, help="training images shared by every run"),
        "epochs": Parameter("int", minimum=1, optional=True, help="epochs of every run"),
        "n_probe": Parameter("int", minimum=1, optional=True, help="images in each probe set, train and test"),
        "seed": Parameter("int", minimum=0, optional=True, help="seed of the base runs, training subset, probes"),
    },
    setup=setup, claims=tuple(CLAIMS))}
