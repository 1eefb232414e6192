"""The training ladder: ``book/findings/training-ladder.md``.

The question: when a finding is not reproduced at the book's scale (Fashion-MNIST, a few epochs,
test accuracy well below the papers' ~95 %), is that the scale or the claim? The page trains one
network per family (the preset zoo's ``plain_cnn``, ``vgg_small``, ``resnet_small``) longer, saves
checkpoints along the way (the *ladder*), computes every finding's headline statistic at each
checkpoint with the definitions of the finding pages, and asks whether each statistic moves
toward the paper's value as test accuracy rises. The chapter, in the shape of
:mod:`latentgeom.chapters.protocol`:

- :data:`LADDER` (``CLAIMS``): the one claim the page tests, with the threshold of its direction test, fixed
  before the data, and why;
- :data:`SETTINGS` (:class:`LadderSettings` per preset), :data:`PAGES` (the page and its 7
  parameters) and :func:`setup`, which checks them and returns the page's :class:`LadderStudy`;
- :meth:`LadderStudy.plan`: every work unit the page measures (each family's checkpoints, and at
  each one the curvature profile, the per-class ID profiles and the last hidden layer's ID), the
  same list the sweep computes ahead of time; :meth:`LadderStudy.measure_ladder` assembles the
  page's frames from exactly those units' results (:class:`Measurements`);
- :meth:`LadderStudy.directions`, :meth:`LadderStudy.checks_by_mode` and
  :meth:`LadderStudy.outcome`: the direction test under the claim's threshold and the
  :class:`~.protocol.Outcome` that ``study.record`` writes.

The statistics and the test itself are pure functions of frames, in :mod:`.ladder_trends`
(re-exported here for the page).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import pandas as pd

from ..estimators.curvature import MODES
from ..networks.training import TrainConfig
from ..profiles import GeometryConfig
from ..progress import bar
from ..reporting.findings import verdict
from ..units import Images, Profile
from ..validation import Parameter, check_choice, check_int
from .id_profiles import average_over_classes, last_hidden_layer_of, stack_classes, with_labels
from .id_study import SETTINGS as ID_SETTINGS, IDSettings
from .ladder_trends import (DIRECTIONS, HEADLINES, READING_DIRECTIONS, checks, directions, headline_columns,
                            headline_table, model_statistics, relation_correlations)
from .presets import Preset, get_preset, label, sample, trajectory_epochs
from .protocol import Claim, Outcome, Page, PresetTable, Study

__all__ = ["CLAIMS", "LADDER", "DIRECTIONS", "HEADLINES", "NOTEBOOK", "PAGES", "READING_DIRECTIONS", "SETTINGS",
           "Checkpoint", "LadderSettings", "LadderStudy", "Measurements", "headline_columns", "headline_table",
           "relation_correlations", "setup"]

NOTEBOOK = "book/findings/training-ladder.md"

# --------------------------------------------------------------------------------------------
# The claim, and the threshold of its test, fixed before the data

LADDER = Claim(
    id="training-ladder", page=NOTEBOOK, title="Does the verdict move with training?",
    statement=("The papers' numbers are those of fully trained networks (~95 % on CIFAR-10); if ours "
               "differ because of scale, each headline statistic moves toward the paper's value as "
               "test accuracy rises."),
    source=("Kaufman & Azencot, ICML 2023 (arXiv 2305.19730) and Ansuini, Laio, Macke & Zoccolan, NeurIPS 2019 "
            "(arXiv 1905.12784): each statistic's figure is named in its entry"),
    paper={h.key: {"finding": h.finding, "low": h.low, "high": h.high, "kind": h.kind, "source": h.source}
           for h in HEADLINES},
    paper_value="each statistic at the paper's value once trained to ~95 %",
    thresholds={"direction_rho": 0.5},
    reasons={"direction_rho": (
        "the mean within-family Spearman rho of the score (distance to the paper's value) against test "
        "accuracy: <= -0.5 moves TOWARD the paper's value, >= +0.5 AWAY, otherwise no trend. 0.5 is a large "
        "rank correlation (Cohen), the threshold curvature 3 uses for 'strong'.")},
    preconditions=(
        "Along a family only training changes: its checkpoints come from one run (one seed, one cosine "
        "learning-rate schedule spanning the whole run).",
        "Test accuracy changes along each family's checkpoints (a family whose accuracy does not change has "
        "no rho: its Spearman is NaN, read as no trend).",
    ))
CLAIMS = {LADDER.id: LADDER}


# --------------------------------------------------------------------------------------------
# The scale per preset


@dataclass(frozen=True)
class LadderSettings:
    """Scale of the training ladder.

    Attributes
    ----------
    epochs : tuple of int
        Checkpoint epochs of one training run; the largest is the run's length (the cosine
        learning-rate schedule spans the whole run, as in the paper's checkpoints).
    n_train : int or None
        Training images (None: the whole training split).
    width : int or None
        Width multiplier of every family's network (None: the preset's smallest width).
    n_points : int or None
        Training images whose curvature profile is measured (None: the preset's).
    modes : tuple of str
        Curvature estimator modes (``"paper"``, ``"robust"``); the verdict uses the first.
    id_classes : int
        Classes averaged in the per-class ID profiles (the intrinsic-dimension page uses 7).
    """

    epochs: tuple[int, ...] = (1, 2, 4, 8)
    n_train: int | None = 6000
    width: int | None = None
    n_points: int | None = 150
    modes: tuple[str, ...] = ("paper",)
    id_classes: int = 2

    def __post_init__(self):
        epochs = tuple(sorted({check_int(e, "epochs", minimum=1) for e in self.epochs}))
        if len(epochs) < 3:
            raise ValueError(f"epochs needs at least 3 distinct checkpoint epochs >= 1 (a trend needs "
                             f"3 points per family), got {self.epochs!r}")
        object.__setattr__(self, "epochs", epochs)
        if self.n_train is not None:
            check_int(self.n_train, "n_train", minimum=10)
        if self.width is not None:
            check_int(self.width, "width", minimum=1)
        if self.n_points is not None:
            check_int(self.n_points, "n_points", minimum=10)
        modes = (self.modes,) if isinstance(self.modes, str) else tuple(self.modes)
        for mode in modes:
            check_choice(mode, "modes", MODES)
        if not modes:
            raise ValueError(f"modes must name at least one of {MODES}")
        object.__setattr__(self, "modes", modes)
        check_int(self.id_classes, "id_classes", minimum=1)


SETTINGS: PresetTable[LadderSettings] = PresetTable("ladder setting", {
    "tiny": LadderSettings(epochs=(1, 2, 3), n_train=256, n_points=None, modes=("paper",), id_classes=2),
    # Sized for ~4 minutes on 2 CPU cores from a cold cache (measured: see the page). The zoo's
    # default trains 4 epochs on 12000 images; the ladder trains 8 on 6000 (the same 48000 image
    # passes) at the smallest width and measures 150 points with the paper estimator only.
    "default": LadderSettings(epochs=(1, 2, 4, 8), n_train=6000, n_points=150, modes=("paper",), id_classes=2),
    "paper": LadderSettings(epochs=(10, 25, 50, 100, 200), n_train=None, n_points=None,
                            modes=MODES, id_classes=7),
})


# --------------------------------------------------------------------------------------------
# The study: its plan of work units and the frames measured from them


@dataclass(frozen=True)
class Checkpoint:
    """The work units of one checkpoint (``config`` after ``epoch`` epochs): its curvature
    profile, its ID profile on each class's images and its last hidden layer's ID on
    mixed-class images."""

    config: TrainConfig
    epoch: int
    curvature: Profile
    per_class: tuple[Profile, ...]
    last_hidden: Profile

    @property
    def label(self) -> str:
        """The model's name in the curvature profiles (:func:`~.presets.label`)."""
        return label(self.config, self.epoch)

    def units(self) -> list[Profile]:
        return [self.curvature, *self.per_class, self.last_hidden]


@dataclass
class Measurements:
    """What :meth:`LadderStudy.measure_ladder` returns: ``stats`` (one row per family x
    checkpoint: ``model, width, epoch, test_accuracy, train_accuracy`` and the statistics of
    :func:`~.ladder_trends.model_statistics`), the curvature ``profiles`` and the class-averaged
    ``id_profiles`` (long frames), and ``timings`` (wall and CPU seconds per stage)."""

    stats: pd.DataFrame
    profiles: pd.DataFrame
    id_profiles: pd.DataFrame
    timings: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(kw_only=True)
class LadderStudy(Study):
    """The ladder page's run (from :func:`setup`): the preset, the ladder's and the ID
    profiles' settings, the curvature estimator settings, one configuration per family (trained
    ``max(epochs)`` epochs, checkpoints at ``epochs``) and the seed of the image samples, the
    estimators and the ID resampling."""

    preset: Preset
    settings: LadderSettings
    id_settings: IDSettings
    geometry: GeometryConfig
    configs: tuple[TrainConfig, ...]
    seed: int

    def __repr__(self) -> str:
        s, S = self.settings, self.id_settings
        return (f"ladder ({self.preset.name}): {', '.join(c.model for c in self.configs)} at width "
                f"{self.configs[0].width}, {self.preset.dataset}, {s.n_train} training images, checkpoints "
                f"at epochs {list(s.epochs)}; curvature on {self.preset.n_points} points (q = {self.preset.q}, "
                f"modes {list(s.modes)}); ID on {S.n_per_class} images x {S.n_classes} classes "
                f"and {S.n_mixed} mixed images")

    @property
    def claim(self) -> Claim:
        return LADDER

    # ---- the plan

    def checkpoints(self) -> list[Checkpoint]:
        """Every family's checkpoints in epoch order (the last is the trained network), each with
        its units: the curvature profile on the preset's ``n_points`` images, the per-class ID
        profiles (no PC-ID) and the last hidden layer's ID on ``n_mixed`` mixed images."""
        P, S = self.preset, self.id_settings
        options = dict(id_resamples=S.n_resamples, seed=self.seed, device=P.device)
        images = sample(P, seed=self.seed)
        classes = [Images(P.dataset, per_class=S.n_per_class, classes=(k,), seed=self.seed)
                   for k in range(S.n_classes)]
        mixed = Images(P.dataset, n=S.n_mixed, seed=self.seed)
        out = []
        for config in self.configs:
            last = last_hidden_layer_of(config)
            for epoch in trajectory_epochs(config):
                out.append(Checkpoint(
                    config, epoch, Profile.curvature(config, epoch, images, self.geometry),
                    tuple(Profile.dimension(config, epoch, one, with_pca=False, **options) for one in classes),
                    Profile.dimension(config, epoch, mixed, layers=[last], **options)))
        return out

    def plan(self) -> list[Profile]:
        return list(dict.fromkeys(u for point in self.checkpoints() for u in point.units()))

    # ---- the measurements

    def _results(self, units: list[Profile], models: list, stage: str) -> list[pd.DataFrame]:
        """Each unit's result on its already loaded model, timed as ``stage`` (progress on the console)."""
        with self.clock(stage):
            pairs = bar(list(zip(units, models)), desc=f"{self.page.name}: {stage}", leave=False)
            return [unit.result(model) for unit, model in pairs]

    def measure_ladder(self) -> Measurements:
        """Train every family's ladder (or read the model cache), then measure every checkpoint
        from the results of :meth:`plan`'s units (computed, or read from the profile cache), and
        compute the statistics; each stage is timed (:attr:`~.protocol.Study.clock`)."""
        points = self.checkpoints()
        with self.clock("training (or model cache)"):
            # each family's final network first: training it caches its checkpoints on the way
            order = sorted(range(len(points)), key=lambda i: points[i].epoch != points[i].config.epochs)
            loaded = {i: points[i].curvature.model() for i in order}
        models = [loaded[i] for i in range(len(points))]
        frames = self._results([p.curvature for p in points], models, "curvature profiles")
        for frame, point in zip(frames, points):
            frame.insert(0, "label", point.label)
        profiles = pd.concat(frames, ignore_index=True)
        # every checkpoint's per-class profiles (classes 0, 1, ... in order), then its last hidden layer
        classes = range(self.id_settings.n_classes)
        per_class = self._results([u for p in points for u in p.per_class],
                                  [m for m in models for _ in classes], "ID profiles")
        last = self._results([p.last_hidden for p in points], models, "ID profiles")
        class_labels = [c for _ in points for c in classes]
        averaged = average_over_classes(stack_classes(
            with_labels(frame, class_label=c) for c, frame in zip(class_labels, per_class)))
        with self.clock("statistics"):
            rows = []
            for point, model, last_frame in zip(points, models, last):
                one = averaged[(averaged["model"] == point.config.model) & (averaged["epoch"] == point.epoch)]
                rows.append(dict(model=point.config.model, width=point.config.width, epoch=point.epoch,
                                 test_accuracy=model.test_accuracy, train_accuracy=model.train_accuracy,
                                 **model_statistics(profiles[profiles["label"] == point.label], one,
                                                    float(last_frame["id_mean"].iloc[0]), self.settings.modes)))
            stats = pd.DataFrame(rows)
        return Measurements(stats, profiles, averaged, pd.DataFrame(self.clock.records()))

    # ---- the test and its outcome

    def directions(self, stats: pd.DataFrame) -> pd.DataFrame:
        """:func:`~.ladder_trends.directions` under the claim's ``direction_rho``."""
        return directions(stats, threshold=LADDER.thresholds["direction_rho"])

    def checks_by_mode(self, table: pd.DataFrame) -> dict[str, dict[str, bool]]:
        """The checks (:func:`~.ladder_trends.checks`) under every estimator mode measured."""
        return {mode: checks(table, mode) for mode in self.settings.modes}

    def outcome(self, measurements: Measurements, table: pd.DataFrame, checks_by_mode: dict,
                correlations: pd.DataFrame | None = None) -> Outcome:
        """The claim's outcome (for ``study.record``): the verdict under the first mode and under
        every mode; ``ours`` holds, per statistic (and mode), the direction, its Spearman numbers
        and the first/last checkpoint values, the statistics at every checkpoint, the pooled
        ``correlations`` (:func:`~.ladder_trends.relation_correlations`) and the stage timings."""
        primary = self.settings.modes[0]
        modes = {m: verdict(c) for m, c in checks_by_mode.items()}
        scored = table[table["kind"] != "reading"]
        keys = ("direction", "rho", "rho_pooled", "first", "last", "closed")
        ours = {f"{r.key}/{r.mode}": {k: getattr(r, k, math.nan) for k in keys} for r in table.itertuples()}
        short = "; ".join(f"{r.key}: {r.direction} (rho {r.rho:+.2f})" for r in scored.itertuples()
                          if r.mode in (primary, "—"))
        acc = measurements.stats["test_accuracy"]
        passed = sum(checks_by_mode[primary].values())
        summary = (f"{modes[primary]}: {passed} of {len(checks_by_mode[primary])} headline statistics move "
                   f"toward the paper's value as test accuracy rises from {acc.min():.3f} to {acc.max():.3f} "
                   f"({len(self.configs)} families, checkpoints at epochs {list(self.settings.epochs)}). "
                   f"{short}.")
        numbers = {"directions": ours, "checkpoints": measurements.stats.to_dict("records"),
                   "pooled_correlations": [] if correlations is None else correlations.to_dict("records"),
                   "timings": measurements.timings.to_dict("records")}
        return Outcome(LADDER, checks=dict(checks_by_mode[primary]), verdict=modes[primary], ours=numbers,
                       our_value=short, summary=summary, modes=modes)


# --------------------------------------------------------------------------------------------
# The page and its set-up


def setup(preset: str = "default", epochs: list[int] | None = None, n_train: int | None = None,
          width: int | None = None, n_points: int | None = None, modes: list[str] | None = None,
          seed: int = 0) -> LadderStudy:
    """The page's preamble in one call: every parameter checked (one ``ValueError`` naming a bad
    one), the preset's ladder with single settings overridden (None = the preset's), one
    configuration per family of the preset's zoo. Trains nothing (:meth:`LadderStudy.measure_ladder`
    does)."""
    page = PAGES["training-ladder"]
    values = page.check(dict(preset=preset, epochs=epochs, n_train=n_train, width=width, n_points=n_points,
                             modes=modes, seed=seed))
    preset, seed = values["preset"], values["seed"]
    settings = SETTINGS(preset, **{k: values[k] for k in ("epochs", "n_train", "width", "n_points", "modes")})
    P = get_preset(preset, n_points=settings.n_points)
    width = min(P.widths) if settings.width is None else settings.width
    id_settings = ID_SETTINGS(preset, n_classes=settings.id_classes)
    configs = tuple(P.config(a, width, n_train=settings.n_train, epochs=max(settings.epochs),
                             checkpoint_epochs=settings.epochs) for a in P.architectures)
    parameters = {**asdict(P), "ladder": asdict(settings), "id": id_settings.as_dict(), "seed": seed}
    return LadderStudy(page=page, parameters=parameters, preset=P, settings=settings, id_settings=id_settings,
                       geometry=P.geometry(modes=settings.modes, seed=seed), configs=configs, seed=seed)


PAGES = {"training-ladder": Page("findings/training-ladder.md", {
    "preset": Parameter("str", choices=SETTINGS.presets, help="the ladder's scale"),
    "epochs": Parameter("ints", minimum=1, optional=True,
                        help="checkpoint epochs of one run (at least 3 distinct); the largest is its length"),
    "n_train": Parameter("int", minimum=10, optional=True, help="training images"),
    "width": Parameter("int", minimum=1, optional=True, help="width of every family's network"),
    "n_points": Parameter("int", minimum=10, optional=True, help="images whose curvature is measured"),
    "modes": Parameter("strs", choices=MODES, optional=True,
                       help="curvature estimator modes; the verdict uses the first"),
    "seed": Parameter("int", minimum=0, help="seeds the image samples, the estimators and the ID resampling"),
}, setup, claims=tuple(CLAIMS))}
