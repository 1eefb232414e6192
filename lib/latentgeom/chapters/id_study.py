"""The intrinsic-dimension chapter's study: its scale, its models, its plan of work and its runs.

What ``book/findings/intrinsic-dimension.md`` measures (the chapter, its claims and checks are
in :mod:`.intrinsic_dimension`):

- :class:`IDSettings` and :data:`SETTINGS`: the chapter's scale per preset;
- :func:`configurations`: the page's models: the zoo under every training seed (every member
  re-seeded, the same configurations as the curvature chapter's training-seed run, so the model
  cache is shared) and the random/true-label pair's recipe; :func:`random_label_pair`: the pair
  of one run (its training seed, trained on that run's own image sample);
- :class:`IDStudy`: the page's :class:`~latentgeom.chapters.protocol.Study`. Its
  :meth:`~IDStudy.plan` lists every work unit the page measures (per run, see
  :meth:`~IDStudy.run_plan`), and the page's frames are assembled from exactly those units'
  results (:meth:`~IDStudy.measure_runs`, :meth:`~IDStudy.mixed_and_blocks`), so the sweep
  computes what the page reads;
- :class:`Run`: the frames of one run (one training seed of every network, one image sample);
  :func:`last_hidden_points`: the last-hidden-layer points of every run pooled, one per network,
  epoch and sample (the cross-network claim's data).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from ..estimators.intrinsic_dimension import twonn_block_analysis
from ..networks.activations import extract
from ..networks.training import TrainConfig
from ..units import Images, Profile, Train, untrained
from .id_profiles import (average_over_classes, block_frame, hunchback_summary, last_hidden_layer_of, stack_classes,
                          with_labels)
from .presets import Preset, label, trajectory_epochs
from .protocol import PresetTable, Study

__all__ = ["IDSettings", "IDStudy", "Run", "RunPlan", "SETTINGS", "configurations", "fit_settings",
           "last_hidden_points", "network_name", "random_label_pair"]


@dataclass(frozen=True)
class IDSettings:
    """Scale of the intrinsic-dimension chapter.

    Attributes
    ----------
    n_per_class : int
        Training images of one class whose per-layer ID is measured (paper: ~500).
    n_classes : int
        Classes averaged in the per-class profiles (paper: 7, the first 7 labels here).
    n_mixed : int
        Mixed-class training images for the last-hidden-layer study (paper: 2000).
    n_mixed_profile : int
        Mixed-class images (the first of the ``n_mixed``) for the all-layer mixed profiles and
        the block analysis, where wide early layers make the neighbour search expensive.
    pca_classes : int
        Classes (the first ones) whose per-class samples also get PC-ID.
    n_resamples : int
        TwoNN repeats on random 90 % subsets for the error bars (5-50 are usual).
    block_max : int
        Largest number of disjoint blocks in the block analysis (Facco et al. 2017: 20).
    random_label_architecture : str
        The single architecture trained on shuffled labels.
    random_label_epochs : int
        Epochs of the random-label network (memorising needs more than fitting true labels).
    random_label_n_train : int or None
        Training images of the random-label network (fewer images are memorised faster).
    n_seeds : int
        Runs of training seed 0, each on its own image sample (the page's ``seed``, ``seed + 1``,
        ...): other class images, mixed images, random-label training images and TwoNN subsets.
    training_seeds : int
        Training seeds (0, 1, ...) of every network: each seed above 0 retrains the whole zoo and
        the random-label pair and adds one run, on the next image-sample seed.
    """

    n_per_class: int = 500
    n_classes: int = 7
    n_mixed: int = 2000
    n_mixed_profile: int = 1000
    pca_classes: int = 1
    n_resamples: int = 10
    block_max: int = 20
    random_label_architecture: str = "plain_cnn"
    random_label_epochs: int = 30
    random_label_n_train: int | None = 2000
    n_seeds: int = 3
    training_seeds: int = 2

    def __post_init__(self):
        for name in ("n_per_class", "n_classes", "n_mixed", "n_mixed_profile", "pca_classes", "n_resamples",
                     "block_max", "random_label_epochs", "n_seeds", "training_seeds"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.n_per_class < 10 or self.n_mixed < 10:
            raise ValueError(f"TwoNN needs at least 10 points; got n_per_class={self.n_per_class}, "
                             f"n_mixed={self.n_mixed}")
        if self.random_label_n_train is not None and (
                not isinstance(self.random_label_n_train, (int, np.integer)) or self.random_label_n_train < 10):
            raise ValueError(f"random_label_n_train must be None or an integer >= 10, "
                             f"got {self.random_label_n_train!r}")

    def as_dict(self) -> dict:
        return asdict(self)


SETTINGS: PresetTable[IDSettings] = PresetTable("intrinsic-dimension setting", {
    "tiny": IDSettings(n_per_class=40, n_classes=2, n_mixed=80, n_mixed_profile=80, pca_classes=1,
                       n_resamples=3, block_max=4, random_label_epochs=2, random_label_n_train=256,
                       n_seeds=2, training_seeds=2),
    # Sized for ~4 minutes on 2 CPU cores with 3 image-sample seeds and 2 training seeds: 3 of the
    # paper's 7 classes, 1000 mixed images (paper: 2000) and 3 TwoNN resamples per estimate.
    # 300 images per class (paper ~500): per-class TwoNN profiles dominate the page and grow
    # faster than linearly with the points (measured: 286 s for the page at 500).
    "default": IDSettings(n_per_class=300, n_classes=3, n_mixed=1000, n_mixed_profile=500, pca_classes=1,
                          n_resamples=3, block_max=20, random_label_architecture="vgg_small",
                          # measured: vgg_small w16 fits 1000 shuffled labels in 40 epochs (23 s on
                          # 2 cores); plain_cnn stays at ~15 % train accuracy.
                          random_label_epochs=40, random_label_n_train=1000),
    "paper": IDSettings(n_per_class=500, n_classes=7, n_mixed=2000, n_mixed_profile=2000, pca_classes=7,
                        n_resamples=20, block_max=20,
                        random_label_architecture="vgg16", random_label_epochs=200,
                        random_label_n_train=None),
})


def fit_settings(settings: IDSettings, preset: Preset) -> IDSettings:
    """``settings`` with its random-label architecture moved to the preset's first one when it is
    not in the preset's zoo."""
    if settings.random_label_architecture not in preset.architectures:
        settings = replace(settings, random_label_architecture=preset.architectures[0])
    return settings


def configurations(preset: Preset, settings: IDSettings) -> tuple[dict[int, list[TrainConfig]], TrainConfig]:
    """The page's models: ``(zoo, random_label_recipe)``.

    ``zoo[t]`` is the whole zoo (:meth:`Preset.zoo`) under training seed ``t``, every member
    re-seeded (``replace(c, seed=t)``: the configurations of the curvature chapter's training-seed
    runs, so both read one model cache); ``random_label_recipe`` is the true-label recipe of the
    random/true-label pair (:func:`random_label_pair` makes one run's pair of it).
    """
    zoo = preset.zoo()
    # Memorisation recipe (Zhang et al. 2017): no weight decay, augmentation or label smoothing.
    recipe = replace(preset.config(settings.random_label_architecture, max(preset.widths)),
                     epochs=settings.random_label_epochs, n_train=settings.random_label_n_train,
                     checkpoint_epochs=(), weight_decay=0.0, augment=False, label_smoothing=0.0)
    return {t: [replace(c, seed=t) for c in zoo] for t in range(settings.training_seeds)}, recipe


def random_label_pair(recipe: TrainConfig, sample_seed: int, training_seed: int) -> tuple[TrainConfig, TrainConfig]:
    """The (random labels, true labels) pair of one run: ``recipe`` initialised with the run's
    training seed and trained on the run's own image sample (``data_seed``: the images and their
    shuffled labels follow the sample seed). Where the two seeds are equal ``data_seed`` stays
    None, which trains the same network (and keeps its cache key)."""
    true = replace(recipe, seed=training_seed, data_seed=None if sample_seed == training_seed else sample_seed)
    return replace(true, random_labels=True), true


def network_name(config: TrainConfig) -> str:
    """One independently trained network: ``"vgg_small w16, training seed 1"``."""
    return f"{label(config)}, training seed {config.seed}"


@dataclass(frozen=True)
class RunPlan:
    """The work units of one run, grouped as its frames are assembled.

    ``per_class``: ``(state, class, unit)`` for every trained zoo model, then every untrained
    one, each class in order; ``last_hidden``: the last hidden layer of every zoo member and
    checkpoint on mixed images; ``random_label``: the (random labels, true labels) pair.
    """

    sample_seed: int
    training_seed: int
    per_class: tuple[tuple[str, int, Profile], ...]
    last_hidden: tuple[Profile, ...]
    random_label: tuple[Profile, Profile]

    def units(self) -> list[Profile]:
        return [unit for _, _, unit in self.per_class] + [*self.last_hidden, *self.random_label]


@dataclass
class Run:
    """The measurements of one run: ``profiles`` (per-class profiles averaged over classes,
    ``state`` trained/untrained), ``per_class``, ``last`` (last-hidden-layer ID and test error of
    every zoo member and checkpoint, with its ``network`` and ``stage``), ``rl`` (profiles of the
    random/true-label pair), the pair's train accuracies, and ``pca_points``: the images of the
    sample PC-ID was measured on (its cap)."""

    sample_seed: int
    training_seed: int
    per_class: pd.DataFrame
    profiles: pd.DataFrame
    last: pd.DataFrame
    rl: pd.DataFrame
    rl_accuracy: dict
    pca_points: int

    @property
    def name(self) -> str:
        return f"image seed {self.sample_seed}, training seed {self.training_seed}"


def last_hidden_points(runs) -> pd.DataFrame:
    """The last-hidden-layer rows of every run, one per network, epoch and image sample, with
    the ``run``, its ``sample_seed`` and ``training_seed``: the networks of one training seed
    appear once per run of that seed (one ``network`` is one independent unit)."""
    return pd.concat([r.last.assign(run=r.name, sample_seed=r.sample_seed, training_seed=r.training_seed)
                      for r in runs], ignore_index=True)


@dataclass(kw_only=True)
class IDStudy(Study):
    """What the intrinsic-dimension page measures: its scale, its seeds and its models.

    A run is one training seed of every network and one image sample of its own
    (:attr:`run_seeds`). ``zoo[t]`` are the zoo's configurations under training seed ``t``
    (every member re-seeded); ``random_label_recipe`` makes each run's random/true-label pair
    (:func:`random_label_pair`); the untrained networks are the zoo's configurations at epoch 0
    (:func:`latentgeom.units.untrained`). Nothing is trained before :meth:`measure_runs`.
    """

    preset: Preset
    settings: IDSettings
    seed: int
    training_seeds: tuple[int, ...]
    zoo: dict[int, list[TrainConfig]]
    random_label_recipe: TrainConfig

    @property
    def run_seeds(self) -> list[tuple[int, int]]:
        """(image-sample seed, training seed) of every run, no two on one image sample:
        ``n_seeds`` runs of the first training seed on ``seed``, ``seed + 1``, ..., then one run
        per further training seed on the next sample seeds. The first is the page's primary run."""
        first, n = self.training_seeds[0], self.settings.n_seeds
        return [(self.seed + k, first) for k in range(n)] + \
            [(self.seed + n + i, t) for i, t in enumerate(self.training_seeds[1:])]

    @property
    def sample_seeds(self) -> tuple[int, ...]:
        """The image-sample seed of every run."""
        return tuple(s for s, _ in self.run_seeds)

    # ---- the plan

    def random_label_pair(self, sample_seed: int, training_seed: int) -> tuple[TrainConfig, TrainConfig]:
        """The run's (random labels, true labels) pair (:func:`random_label_pair`)."""
        return random_label_pair(self.random_label_recipe, sample_seed, training_seed)

    def run_plan(self, sample_seed: int, training_seed: int) -> RunPlan:
        """The units of one run: per-class profiles (PC-ID on the first ``pca_classes``) of the
        trained and untrained zoo, the last hidden layer of every zoo member and checkpoint on
        ``n_mixed`` mixed images, and the run's random/true-label pair on the images it was
        trained on."""
        P, S = self.preset, self.settings
        if training_seed not in self.zoo:
            raise ValueError(f"training_seed must be one of {sorted(self.zoo)}, got {training_seed!r}")
        options = dict(id_resamples=S.n_resamples, seed=sample_seed, device=P.device)
        classes = [Images(P.dataset, per_class=S.n_per_class, classes=(c,), seed=sample_seed)
                   for c in range(S.n_classes)]
        zoo = self.zoo[training_seed]
        states = [("trained", c, c.epochs) for c in zoo] + [("untrained", untrained(c), 0) for c in zoo]
        per_class = tuple((state, c, Profile.dimension(config, epoch, images, with_pca=c < S.pca_classes, **options))
                          for state, config, epoch in states for c, images in enumerate(classes))
        mixed = Images(P.dataset, n=S.n_mixed, seed=sample_seed)
        last_hidden = tuple(Profile.dimension(config, epoch, mixed, layers=[last_hidden_layer_of(config)], **options)
                            for config in zoo for epoch in trajectory_epochs(config))
        # The pair is measured on images it was trained on: the first of its training subset,
        # which the run's sample seed draws.
        trained_on = Images(P.dataset, n=min(S.n_mixed, S.random_label_n_train or S.n_mixed), seed=sample_seed)
        random_label = tuple(Profile.dimension(c, c.epochs, trained_on, **options)
                             for c in self.random_label_pair(sample_seed, training_seed))
        return RunPlan(sample_seed, training_seed, per_class, last_hidden, random_label)

    def mixed_units(self, sample_seed: int, training_seed: int) -> list[Profile]:
        """Mixed-class profiles (``n_mixed_profile`` images) of the first-width trained models of
        each architecture: descriptive, measured for the primary run only."""
        P, S = self.preset, self.settings
        images = Images(P.dataset, n=S.n_mixed_profile, seed=sample_seed)
        return [Profile.dimension(c, c.epochs, images, id_resamples=S.n_resamples, seed=sample_seed, device=P.device)
                for c in self.zoo[training_seed] if c.width == P.widths[0]]

    def plan(self) -> list:
        """Every unit of every run, and the primary run's mixed-class profiles, without repeats."""
        units = [u for seeds in self.run_seeds for u in self.run_plan(*seeds).units()]
        # The page attributes its claims on the training ladder (ladder.attributed); the
        # ladder builds on this module's settings, hence the import here and not at the top.
        from .ladder import PAGES as LADDER_PAGES
        ladder = LADDER_PAGES["training-ladder"].study(preset=self.preset.name, seed=self.seed).plan()
        return list(dict.fromkeys(units + self.mixed_units(*self.run_seeds[0]) + ladder))

    def trainings(self) -> list[Train]:
        """Every network the page measures, trained (or read from the model cache)."""
        configs = [c for t in self.training_seeds for c in (*self.zoo[t], *map(untrained, self.zoo[t]))]
        configs += [c for seeds in self.run_seeds for c in self.random_label_pair(*seeds)]
        return [Train(c) for c in dict.fromkeys(configs)]

    # ---- the measurements

    def measure_runs(self) -> list[Run]:
        """Every run of :attr:`run_seeds` (the primary run first), after training every network
        and computing every run's profiles (each as soon as its network is trained)."""
        plans = [self.run_plan(*seeds) for seeds in self.run_seeds]
        self.compute_together({"training": self.trainings(),
                               "per-class profiles": [u for p in plans for _, _, u in p.per_class],
                               "last hidden layers": [u for p in plans for u in p.last_hidden],
                               "random-label profiles": [u for p in plans for u in p.random_label]})
        return [self.measure_run(*seeds) for seeds in self.run_seeds]

    def measure_run(self, sample_seed: int, training_seed: int = 0) -> Run:
        """One run's frames, from the results of :meth:`run_plan`'s units (computed, or read
        from the profile cache), with the page's label columns."""
        plan = self.run_plan(sample_seed, training_seed)
        frames = self.measure([unit for _, _, unit in plan.per_class], stage="per-class profiles")
        per_class = stack_classes(with_labels(frame, class_label=c, state=state)
                                  for (state, c, _), frame in zip(plan.per_class, frames))
        per_class["label"] = [f"{m} w{w}" for m, w in zip(per_class.model, per_class.width)]
        profiles = average_over_classes(per_class, by=("state", "label", "model", "width", "epoch"))
        last = pd.concat(self.measure(plan.last_hidden, stage="last hidden layers"), ignore_index=True)
        last["label"] = [label(u.config, u.epoch) for u in plan.last_hidden]
        last["network"] = [network_name(u.config) for u in plan.last_hidden]
        last["stage"] = ["final" if u.epoch == u.config.epochs else "checkpoint" for u in plan.last_hidden]
        last["test_error"] = 1 - last.test_accuracy
        random_net, true_net = self.measure(plan.random_label, stage="random-label profiles")
        rl = pd.concat([with_labels(random_net, labels="random"), with_labels(true_net, labels="true")],
                       ignore_index=True)
        rl["label"] = rl["labels"] + " labels"
        accuracy = dict(random=float(random_net.train_accuracy.iloc[0]), true=float(true_net.train_accuracy.iloc[0]))
        return Run(sample_seed, training_seed, per_class, profiles, last, rl, accuracy,
                   pca_points=self.settings.n_per_class)

    def mixed_and_blocks(self, run: Run) -> tuple[pd.DataFrame, pd.DataFrame, str]:
        """Descriptive measurements of ``run`` (the page passes its primary run): mixed-class
        profiles of the first-width model of each architecture (:meth:`mixed_units`), and the
        block analysis of the first one at its peak layer. Returns ``(mixed, blocks, title of the
        block analysis)``."""
        P, S = self.preset, self.settings
        units = self.mixed_units(run.sample_seed, run.training_seed)
        mixed = pd.concat(self.measure(units, stage="mixed-class profiles"), ignore_index=True)
        mixed["label"] = [f"{m} w{w}" for m, w in zip(mixed.model, mixed.width)]
        first = units[0]
        name = label(first.config)
        trained = run.profiles[(run.profiles.state == "trained") & (run.profiles.label == name)]
        layer = hunchback_summary(trained)["peak_layer"]
        images = first.images.load()
        with self.clock("block analysis"):
            acts = extract(first.model().model, images, [layer], device=P.device)[layer]
            blocks = block_frame(twonn_block_analysis(acts, max_blocks=S.block_max, seed=run.sample_seed))
        return mixed, blocks, f"Block analysis: {name}, layer {layer} ({len(images)} mixed images)"

    def models_frame(self, runs: list[Run]) -> pd.DataFrame:
        """The test accuracy of every zoo network the page measures: one row per architecture and
        width, one column per training seed and epoch (0: untrained; the checkpoints; the end of
        training), read from the first run of each training seed."""
        first = {r.training_seed: r for r in reversed(runs)}
        rows = [dict(model=m.label, training_seed=t, epoch=0, test_accuracy=m.test_accuracy)
                for t, r in first.items() for m in r.profiles[r.profiles.state == "untrained"]
                .drop_duplicates("label").itertuples()]
        rows += [dict(model=f"{m.model} w{m.width}", training_seed=t, epoch=m.epoch, test_accuracy=m.test_accuracy)
                 for t, r in first.items() for m in r.last.itertuples()]
        table = pd.DataFrame(rows).pivot_table(index="model", columns=["training_seed", "epoch"],
                                               values="test_accuracy", sort=True)
        table.columns = [f"training seed {t}, epoch {e}" for t, e in table.columns]
        return table.loc[list(dict.fromkeys(f"{c.model} w{c.width}" for c in self.preset.zoo()))]

    def random_label_frame(self, runs: list[Run]) -> pd.DataFrame:
        """The random/true-label pair of every run with its train and test accuracy."""
        return pd.DataFrame([dict(run=r.name, network=f"{m.model} w{m.width}", labels=m.labels, epochs=m.epoch,
                                  train_accuracy=m.train_accuracy, test_accuracy=m.test_accuracy)
                             for r in runs for m in r.rl.drop_duplicates("labels").itertuples()])
