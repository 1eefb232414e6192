"""The training-trajectories chapter (Mao et al., PNAS 2024, arXiv 2305.01604).

Page: ``book/findings/trajectories-prediction-space.md``. A training run becomes a *trajectory*
in prediction space: the class probabilities of the network at every checkpoint (dense early, at
fractions of an epoch, including initialisation) on two fixed probe sets of training and test
images. The estimators (Bhattacharyya distance, InPCA, progress, trajectory distance) are in
:mod:`latentgeom.estimators.prediction_space`; the run grid and the prediction data in
:mod:`.trajectory_runs`; the tables the claims are checked on in :mod:`.trajectory_tables`; the
claims, their checks and verdicts in :mod:`.trajectory_claims`; the charts in
:mod:`latentgeom.reporting.plots`. This module is the chapter (see :mod:`.protocol`):

- :data:`SETTINGS`: the scale per preset (:class:`~.trajectory_runs.TrajectorySettings`),
  including how many independent replicates of the grid the page runs (``n_seeds``);
- :data:`PAGES` and :func:`setup`: the page's parameters and its study,
  :class:`TrajectoriesStudy`, whose plan is one :class:`~latentgeom.units.Train` per run of
  every replicate's grid, whose :meth:`~TrajectoriesStudy.collect` reads the predictions of the
  models those units give and whose :meth:`~TrajectoriesStudy.analyse` builds each replicate's
  tables;
- re-exported from :mod:`.trajectory_claims` for the page: :data:`CLAIMS`, :data:`MINOR`,
  :func:`outcomes` (one :class:`~.protocol.Outcome` per claim, its verdict over the replicates)
  and :func:`verdict_table`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ..estimators.threads import single_thread
from ..networks.training import load_step, steps_per_epoch
from ..progress import bar
from ..units import Train
from ..validation import Parameter, resolve_device
from .protocol import Page, PresetTable, Study
from .trajectory_claims import CLAIMS, MINOR, outcomes, verdict_table
from .trajectory_runs import Run, Trajectories, TrajectorySettings, predictions, probes, run_grid
from .trajectory_tables import Replicate, analyse

__all__ = ["CLAIMS", "MINOR", "PAGES", "SETTINGS", "TrajectoriesStudy", "outcomes", "setup", "verdict_table"]

SETTINGS: PresetTable[TrajectorySettings] = PresetTable("trajectory settings", {
    # tests: two cheap families, one epoch on 256 images, checkpoints at 0, 1/4, 1/2, 1 epoch
    "tiny": TrajectorySettings(name="tiny", architectures=("mlp", "plain_cnn"), widths=(2, 4),
                               variant_architectures=("mlp",), init_architectures=("mlp",), n_train=256,
                               epochs=1, checkpoints=(0, 0.25, 0.5, 1), n_probe=60, n_test=200, n_grid=20),
    # 2 CPU cores, a few minutes from a cold cache: 2 replicates of 18 runs of 4 epochs on 2000 images
    "default": TrajectorySettings(),
})

# --------------------------------------------------------------------------------------------
# The study: what the page trains and reads


@dataclass(kw_only=True)
class TrajectoriesStudy(Study):
    """The page's study: the settings and the run grid of every replicate they give.

    :meth:`plan` trains every run of every replicate (with its checkpoint steps); :meth:`collect`
    reads the predictions of every checkpoint of the models those units give; :meth:`analyse`
    builds each replicate's tables, on which the claims are judged replicate by replicate.
    """

    settings: TrajectorySettings

    @cached_property
    def grids(self) -> dict[int, list[Run]]:
        """Seed -> the run grid of that replicate (:func:`~.trajectory_runs.run_grid` at the
        replicate's settings), in the order of :attr:`~.trajectory_runs.TrajectorySettings.seeds`."""
        return {seed: run_grid(self.settings.replicate(seed)) for seed in self.settings.seeds}

    @property
    def runs(self) -> list[Run]:
        """Every run of every replicate, in the order of :meth:`plan`."""
        return [run for grid in self.grids.values() for run in grid]

    def plan(self) -> list[Train]:
        """One :class:`~latentgeom.units.Train` per run of every replicate."""
        return [Train(run.config) for run in self.runs]

    def describe(self) -> str:
        """The study in one sentence: replicates, runs, images, epochs, checkpoints and probes."""
        S = self.settings
        return (f"preset {S.name}: {len(self.grids)} replicates (seeds {list(S.seeds)}) of "
                f"{len(self.grids[S.seed])} runs on {S.n_train} {S.dataset} images, {S.epochs} epochs, "
                f"checkpoints at epochs {[round(c, 3) for c in S.checkpoints]}, {S.n_probe} probe images per set")

    def collect(self) -> dict[int, Trajectories]:
        """Train every run of the plan (or read it from the model cache; stage ``"training"``), then
        read each checkpoint's softmax outputs on the two probe sets of its replicate (stage
        ``"predictions"``). Returns seed -> the replicate's :class:`~.trajectory_runs.Trajectories`."""
        trained = iter(self.measure(stage="training"))
        device = resolve_device(self.settings.device)
        found = {}
        for seed, runs in self.grids.items():
            S = self.settings.replicate(seed)
            accuracy = pd.DataFrame([dict(run=run.name, train_accuracy=model.train_accuracy,
                                          test_accuracy=model.test_accuracy)
                                     for run, model in zip(runs, trained)])
            sets, rows, p = probes(S), [], {}
            with self.clock("predictions"):
                for run in bar(runs, desc=f"{self.page.name}: predictions, seed {seed}", leave=False):
                    per = steps_per_epoch(run.config)
                    for step in run.config.checkpoint_steps:
                        model = load_step(run.config, step, device=S.device).model
                        rows.append(dict(run=run.name, step=step, epoch=step / per, **run.factors))
                        for k, (images, _) in sets.items():
                            p.setdefault(k, []).append(predictions(model, images, device))
            found[seed] = Trajectories(runs, pd.DataFrame(rows), {k: np.stack(v) for k, v in p.items()},
                                       {k: v[1].numpy() for k, v in sets.items()}, accuracy)
        return found

    def analyse(self, data: dict[int, Trajectories]) -> dict[int, Replicate]:
        """Seed -> the replicate's tables (:func:`~.trajectory_tables.analyse`; stage ``"analysis"``).

        On one torch thread: the tables are thousands of tiny tensor ops (geodesic steps on
        [N, C] predictions), where a second intra-op thread only waits for the first; on a busy
        2-core machine that made the analysis about 7x slower, with the same numbers.
        """
        with self.clock("analysis"), single_thread():
            return {seed: analyse(d, self.settings.replicate(seed)) for seed, d in data.items()}


# --------------------------------------------------------------------------------------------
# The page


def setup(preset: str = "default", n_train: int | None = None, epochs: int | None = None,
          n_probe: int | None = None, seed: int | None = None, n_seeds: int | None = None) -> TrajectoriesStudy:
    """The page's study at ``preset`` with single settings replaced (``None``: the preset's).

    Every parameter is checked first (one ``ValueError`` naming a bad one); so are the settings
    they give (``n_probe`` at most ``n_train``, checkpoints within ``epochs``). ``seed`` is the
    first replicate's seed, ``n_seeds`` the number of replicates. Result files carry the resolved
    settings as their parameters.
    """
    page = PAGES["trajectories-prediction-space"]
    values = page.check(dict(preset=preset, n_train=n_train, epochs=epochs, n_probe=n_probe, seed=seed,
                             n_seeds=n_seeds))
    settings = SETTINGS(values.pop("preset"), **values)
    return TrajectoriesStudy(page=page, parameters=asdict(settings), settings=settings)


#: The chapter's one page, by name.
PAGES = {"trajectories-prediction-space": Page(
    path="findings/trajectories-prediction-space.md",
    parameters={
        "preset": Parameter("str", choices=SETTINGS.presets, help="the chapter's scale"),
        "n_train": Parameter("int", minimum=1, optional=True, help="training images of every run of a replicate"),
        "epochs": Parameter("int", minimum=1, optional=True, help="epochs of every run"),
        "n_probe": Parameter("int", minimum=1, optional=True, help="images in each probe set, train and test"),
        "seed": Parameter("int", minimum=0, optional=True,
                          help="seed of the first replicate: its runs, training subset and probes"),
        "n_seeds": Parameter("int", minimum=1, optional=True,
                             help="independent replicates of the grid (seeds seed, seed + 2, ...)"),
    },
    setup=setup, claims=tuple(CLAIMS))}
