"""The training ladder: ``book/findings/training-ladder.md``, the evidence of the scorecard's "why".

A verdict at the book's scale can be decided by the claim, by the training scale or by the
instrument. The ladder trains the pages' own zoo families at one width with the well-trained
recipe (:meth:`TrainConfig.well_trained`: all training images, >= 0.90 Fashion-MNIST test
accuracy at width 16) under every training seed of the chapters' runs, saves checkpoints along
each run (the *rungs*; the page's own network of the same family, width and seed is the lowest
rung), trains the mixup page's family once more with the mixup recipe along the same rungs, the
page rung included (the mixup finding compares the two at each rung), and measures at every rung each finding's own
statistic (:mod:`.ladder_findings`) under every instrument; :mod:`.attribution` turns the trends
into one attribution per finding and instrument. The chapter, in the shape of :mod:`latentgeom.chapters.protocol`:

- :data:`SETTINGS` (:class:`LadderSettings` per preset), :data:`PAGES` and :func:`setup`;
- :meth:`LadderStudy.plan`: every unit the page measures (trainings and profiles), the list the
  sweep computes ahead of time; :meth:`LadderStudy.measure_ladder` the frame of every rung;
- :meth:`LadderStudy.attributions` and :meth:`LadderStudy.record_evidence` (the page writes an
  evidence file, no finding of its own); :func:`attribution_for` and :func:`with_why`, which a
  finding page calls to attribute its own verdicts (same units: the second caller reads caches).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import pandas as pd

from ..estimators.curvature import MODES
from ..networks.train_config import WELL_TRAINED_EPOCHS, TrainConfig
from ..reporting.findings import displayed_verdict, write_evidence
from ..units import Images, Profile, Train, untrained
from ..validation import Parameter, check_choice, check_int
from .attribution import ACCURACY_MIN, Attribution, attribute, top_rung_accuracy
from .curvature_runs import recipe_fields
from .id_profiles import average_over_classes, last_hidden_layer_of, stack_classes, with_labels
from .id_study import SETTINGS as ID_SETTINGS, IDSettings
from .ladder_findings import FINDINGS, Rung, rung_statistics
# Re-exported: the pages read the tables and the why lines through this module.
from .ladder_tables import (NO_RUNGS, NOT_ON_LADDER, attribution_table, findings_table,  # noqa: F401
                            mixup_top_rung_accuracy, not_on_ladder, page_verdicts, ranked_by, top_rungs, why_lines,
                            with_why)
from .presets import Preset, get_preset, sample
from .protocol import Outcome, Page, PresetTable, Study

__all__ = ["ACCURACY_MIN", "FINDINGS", "NOTEBOOK", "PAGES", "SETTINGS", "LadderSettings", "LadderStudy", "RungPlan",
           "attributed", "attribution_for", "attribution_table", "findings_table", "mixup_top_rung_accuracy",
           "page_verdicts", "rung_epochs", "not_on_ladder", "setup", "top_rungs", "why_lines", "with_why",
           "NOT_ON_LADDER", "NO_RUNGS"]

NOTEBOOK = "book/findings/training-ladder.md"


@dataclass(frozen=True)
class LadderSettings:
    """Scale of the training ladder.

    Attributes
    ----------
    width : int
        Width multiplier of every family's network (the well-trained recipe is measured at 16).
    training_seeds : int
        Independent training runs (seeds 0, 1, ...; run ``t`` measures on image-sample seed
        ``seed + t``): the chapters' training seeds.
    rungs : int
        Checkpoints per run, evenly spread over its epochs (the last is the trained network).
    recipe : dict
        Overrides of the well-trained recipe (e.g. ``n_train``, ``epochs`` for the tests).
    page_rung : bool
        Add the page's own network (the preset zoo's, same family, width and seed) as the lowest rung.
    n_points : int or None
        Images whose curvature profile is measured (None: the preset's).
    modes : tuple of str
        Curvature estimator modes (``paper`` also gives the scale-free instrument).
    id_classes : int
        Classes averaged in the per-class ID profiles.
    mixup : bool
        Also train the mixup page's family (the preset's ``mixup_architecture``, when it is one of
        the ladder's families) with the mixup page's mixup recipe along the same rungs, the page
        rung's recipe included: curvature 5's statistic compares it with the plain network of
        each rung.
    """

    width: int = 16
    training_seeds: int = 2
    rungs: int = 3
    recipe: dict = field(default_factory=dict)
    page_rung: bool = True
    n_points: int | None = None
    modes: tuple[str, ...] = MODES
    id_classes: int = 2
    mixup: bool = True

    def __post_init__(self):
        check_int(self.width, "width", minimum=1)
        check_int(self.training_seeds, "training_seeds", minimum=1)
        check_int(self.rungs, "rungs", minimum=2)
        if self.n_points is not None:
            check_int(self.n_points, "n_points", minimum=10)
        modes = (self.modes,) if isinstance(self.modes, str) else tuple(self.modes)
        if not modes:
            raise ValueError(f"modes must name at least one of {MODES}")
        for mode in modes:
            check_choice(mode, "modes", MODES)
        object.__setattr__(self, "modes", modes)
        check_int(self.id_classes, "id_classes", minimum=1)
        if not isinstance(self.mixup, bool):
            raise ValueError(f"mixup must be True or False, got {self.mixup!r}")


SETTINGS: PresetTable[LadderSettings] = PresetTable("ladder setting", {
    "tiny": LadderSettings(width=4, rungs=3, recipe=dict(n_train=256, epochs=3, n_test=500), n_points=20,
                           modes=("paper",)),
    # Training dominates: 2 seeds x 3 families on all 60 000 images (vgg 3, resnet 4, plain_cnn 12
    # epochs), and resnet_small (the mixup page's family) once more with mixup. Rungs: 3
    # checkpoints per run plus the page's own network; the pages' image samples (300 points:
    # the page rung's and the untrained networks' profiles are the curvature pages' own units),
    # both estimators, ID on 2 classes.
    "default": LadderSettings(width=16, rungs=3, id_classes=2),
    "paper": LadderSettings(width=64, rungs=5, recipe=dict(dataset="cifar10"), id_classes=7),
})


def rung_epochs(epochs: int, rungs: int) -> tuple[int, ...]:
    """``rungs`` checkpoint epochs spread evenly over a run of ``epochs`` (the last is ``epochs``;
    fewer when the run is shorter than ``rungs``)."""
    return tuple(sorted({max(1, round(epochs * k / rungs)) for k in range(1, rungs + 1)}))


@dataclass(frozen=True)
class RungPlan:
    """One rung's work units: the network (``config`` after ``epoch`` epochs; ``source`` is
    ``"page"`` for the page's own network, ``"ladder"`` for a checkpoint of the well-trained
    run), its run (training and image-sample seed), its curvature profile, its per-class ID
    profiles, its last hidden layer's ID on mixed images, the curvature profile of its run's
    untrained network (the same unit for every rung of the run) and, on the rungs of the mixup
    page's family, the curvature profile of the rung's mixup twin (:meth:`LadderStudy.mixup_twin`:
    the same recipe with mixup, at the same epoch; else None)."""

    config: TrainConfig
    epoch: int
    source: str
    sample_seed: int
    curvature: Profile
    per_class: tuple[Profile, ...]
    last_hidden: Profile
    untrained: Profile
    mixup: Profile | None = None

    def units(self) -> list[Profile]:
        return [self.curvature, *self.per_class, self.last_hidden, self.untrained,
                *([self.mixup] if self.mixup else [])]


@dataclass(kw_only=True)
class LadderStudy(Study):
    """The ladder page's run (from :func:`setup`)."""

    preset: Preset
    settings: LadderSettings
    id_settings: IDSettings
    seed: int

    def __repr__(self) -> str:
        s, S = self.settings, self.id_settings
        return (f"ladder ({self.preset.name}): {', '.join(self.preset.architectures)} at width {s.width}, "
                f"well-trained recipe, {s.training_seeds} training seeds, rungs at epochs "
                f"{ {a: list(self.epochs(a)) for a in self.preset.architectures} }"
                f"{' + the page network' if s.page_rung else ''}; curvature on {self.preset.n_points} points "
                f"(modes {list(s.modes)}), ID on {S.n_per_class} x {S.n_classes} classes, {S.n_mixed} mixed"
                + (f"; {self.mixup_family} also with mixup" if self.mixup_family else ""))

    def ladder_config(self, family: str, training_seed: int) -> TrainConfig:
        """The well-trained run of ``family`` under ``training_seed``, saving its rungs."""
        s = self.settings
        base = TrainConfig.well_trained(family, width=s.width, seed=training_seed, **s.recipe)
        return replace(base, checkpoint_epochs=rung_epochs(base.epochs, s.rungs))

    @property
    def mixup_family(self) -> str | None:
        """The family also trained with mixup: the preset's ``mixup_architecture`` (the mixup
        page's) when it is one of the ladder's families and the settings ask for it, else None."""
        family = self.preset.mixup_architecture
        return family if self.settings.mixup and family in self.preset.architectures else None

    def mixup_twin(self, config: TrainConfig | None) -> TrainConfig | None:
        """``config`` (a rung's run: the page's network or the well-trained run) with what the
        mixup page's mixup recipe changes in its baseline (:func:`~.curvature_runs.recipe_fields`
        of the preset's ``recipes()``), saving the same checkpoints; None unless ``config`` is
        of :attr:`mixup_family`. The page rung's twin is the mixup page's recipe at the ladder's
        width (the page's own pair is at the preset's first width), so the finding has as many
        rungs as every other."""
        if config is None or config.model != self.mixup_family:
            return None
        return replace(config, **recipe_fields(self.preset.recipes())["mixup"])

    def epochs(self, family: str) -> tuple[int, ...]:
        return self.ladder_config(family, 0).checkpoint_epochs

    def page_config(self, family: str, training_seed: int) -> TrainConfig | None:
        """The page's own network of that family, width and seed (the chapters' zoo), or None."""
        P = self.preset
        if not self.settings.page_rung or self.settings.width not in P.widths:
            return None
        # The zoo's member itself (its checkpoints included), so that its units equal the pages'.
        return replace(P.config(family, self.settings.width, checkpoint_epochs=P.checkpoint_epochs),
                       seed=training_seed)

    def rungs(self) -> list[RungPlan]:
        """Every rung of every run and family, lowest first within each."""
        P, S = self.preset, self.id_settings
        out = []
        for t in range(self.settings.training_seeds):
            s = self.seed + t
            options = dict(id_resamples=S.n_resamples, seed=s, device=P.device)
            images, geometry = sample(P, seed=s), P.geometry(modes=self.settings.modes, seed=s)
            classes = [Images(P.dataset, per_class=S.n_per_class, classes=(k,), seed=s) for k in range(S.n_classes)]
            mixed = Images(P.dataset, n=S.n_mixed, seed=s)
            for family in P.architectures:
                page, run = self.page_config(family, t), self.ladder_config(family, t)
                points = ([(page, page.epochs, "page")] if page else []) + \
                    [(run, e, "ladder") for e in run.checkpoint_epochs]
                # The run's initialisation (the page's untrained network where there is one:
                # the same weights, and a unit the curvature pages measure too).
                start = untrained(page or run)
                for config, epoch, source in points:
                    twin = self.mixup_twin(config)
                    out.append(RungPlan(
                        config, epoch, source, s, Profile.curvature(config, epoch, images, geometry),
                        tuple(Profile.dimension(config, epoch, c, with_pca=k < S.pca_classes, **options)
                              for k, c in enumerate(classes)),
                        Profile.dimension(config, epoch, mixed, layers=[last_hidden_layer_of(config)], **options),
                        Profile.curvature(start, 0, images, geometry),
                        Profile.curvature(twin, epoch, images, geometry) if twin else None))
        return out

    def trainings(self) -> list[Train]:
        """Every network the ladder trains (each run once: it saves its rungs on the way), each
        run's untrained network, and the mixup runs."""
        rungs = self.rungs()
        return [Train(c) for c in dict.fromkeys([*(r.config for r in rungs), *(r.untrained.config for r in rungs),
                                                 *(r.mixup.config for r in rungs if r.mixup)])]

    def plan(self) -> list:
        return list(dict.fromkeys([*self.trainings(), *(u for r in self.rungs() for u in r.units())]))

    # ---- the measurements

    def measure_ladder(self) -> pd.DataFrame:
        """One row per rung: ``run`` (training seed), ``sample_seed``, ``family``, ``source``,
        ``epoch``, ``rung`` (0 = lowest), ``test_accuracy``, ``train_accuracy``, the mixup run's
        ``mixup_test_accuracy`` at the same epoch and ``mixup_pair_test_accuracy`` (the lower of
        the two; NaN where the rung has no mixup twin) and every finding's statistic under every
        instrument (``"<claim id>/<instrument>"``)."""
        rungs = self.rungs()
        # Every rung's networks and profiles at once (the workers share them out, measuring the
        # networks trained while the last ones train); the loop reads them.
        self.compute_together({
            "training (or model cache)": self.trainings(),
            "curvature profiles": [u for r in rungs for u in (r.curvature, r.untrained, r.mixup) if u is not None],
            "ID profiles": [u for r in rungs for u in (*r.per_class, r.last_hidden)]})
        rows, index = [], {}
        for r in rungs:
            curvature, start = self.measure([r.curvature, r.untrained], stage="curvature profiles")
            mixup = self.measure([r.mixup], stage="curvature profiles")[0] if r.mixup else None
            per_class = self.measure(r.per_class, stage="ID profiles")
            last = self.measure([r.last_hidden], stage="ID profiles")[0]
            with self.clock("statistics"):
                averaged = average_over_classes(stack_classes(
                    with_labels(frame, class_label=c) for c, frame in enumerate(per_class)))
                key = (r.config.seed, r.config.model)
                index[key] = index.get(key, -1) + 1
                accuracy = float(curvature["test_accuracy"].iloc[0])
                mixed = float(mixup["test_accuracy"].iloc[0]) if mixup is not None else math.nan
                pair = min(accuracy, mixed) if math.isfinite(mixed) else math.nan  # min() would drop a NaN
                rows.append(dict(run=r.config.seed, sample_seed=r.sample_seed, family=r.config.model,
                                 source=r.source, epoch=r.epoch, rung=index[key], test_accuracy=accuracy,
                                 train_accuracy=float(curvature["train_accuracy"].iloc[0]),
                                 mixup_test_accuracy=mixed, mixup_pair_test_accuracy=pair,
                                 **rung_statistics(Rung(curvature, averaged, float(last["id_mean"].iloc[0]), start,
                                                        mixup))))
        return pd.DataFrame(rows)

    def attributions(self, stats: pd.DataFrame, verdicts: dict | None = None) -> dict[str, dict[str, Attribution]]:
        """``{claim id: {instrument: Attribution}}`` for every finding measured in ``stats``;
        ``verdicts`` (claim id -> instrument -> per-run verdicts) enables the instrument rule."""
        out = {}
        for claim_id, f in FINDINGS.items():
            columns = {i: f"{claim_id}/{i}" for i in f.instruments if f"{claim_id}/{i}" in stats}
            own = ranked_by(stats, f.accuracy)  # the finding's own rungs (the mixup pair's lower accuracy)
            if own.empty:
                out[claim_id] = {i: NO_RUNGS for i in columns}
                continue
            out[claim_id] = {i: attribute(own.rename(columns={c: "statistic"}), f.side, instrument=i,
                                          verdicts=(verdicts or {}).get(claim_id), seed=self.seed)
                             for i, c in columns.items()}
        return out

    def record_evidence(self, stats: pd.DataFrame, attributions: dict) -> None:
        """Write the page's evidence file: the top rung's accuracy per family (and of the mixup
        run), every finding's statistic at every rung, the attributions and the timings."""
        write_evidence(NOTEBOOK, {
            "parameters": self.parameters, "top_rung_accuracy": top_rung_accuracy(stats),
            "mixup_top_rung_accuracy": mixup_top_rung_accuracy(stats),
            "rungs": stats.to_dict("records"), "seconds": self.seconds, "timings": self.timings(),
            "attributions": {c: {i: a.as_dict() for i, a in by.items()} for c, by in attributions.items()}})
        print(f"training-ladder: evidence for {len(attributions)} findings")


def attribution_for(claim_id: str, *, preset: str = "default", verdicts: dict | None = None,
                    **overrides) -> dict[str, Attribution]:
    """The attribution of one finding (``claim_id`` of :data:`FINDINGS`) under each of its
    instruments, from the ladder page's study at ``preset`` (its defaults, ``overrides``
    applied): the same cached units as the ladder page, so the second caller reads caches.
    ``verdicts``: the finding's per-run verdicts per instrument (the instrument rule)."""
    check_choice(claim_id, "claim_id", list(FINDINGS))
    study = PAGES["training-ladder"].study(preset=preset, **overrides)
    return study.attributions(study.measure_ladder(), {claim_id: verdicts or {}})[claim_id]


def attributed(outcomes: list[Outcome], *, preset: str = "default", seed: int = 0,
               off_ladder: dict[str, str] | None = None, **overrides) -> tuple[list[Outcome], pd.DataFrame]:
    """A finding page's outcomes with their ``why`` (:func:`with_why`) for every claim on the
    ladder (:func:`attribution_for`, the outcome's per-run verdicts per instrument feeding the
    instrument rule; the others unchanged), and the page's table: :func:`attribution_table`
    with each instrument's verdict and the verdict as shown (``displayed_verdict``). A claim
    whose statistic the ladder does not measure gets :func:`not_on_ladder` (one row, its
    verdict under every instrument); so does a claim named in ``off_ladder`` (claim id -> why
    the ladder's networks are not this page's, e.g. another mixup architecture). The table's
    ``reason`` is empty where the trend columns decide (training scale, claim)."""
    out, found, off = [], {}, []
    off_ladder = off_ladder or {}
    for o in outcomes:
        if o.claim.id in FINDINGS and o.claim.id not in off_ladder:
            runs = {i: list(a.get("per_seed", ())) for i, a in o.seeds.items() if isinstance(a, dict)}
            found[o.claim.id] = attribution_for(o.claim.id, preset=preset, verdicts=runs, seed=seed, **overrides)
            o = with_why(o, found[o.claim.id])
        else:
            why = not_on_ladder(o.claim.id, off_ladder.get(o.claim.id))
            o = replace(o, why={"verdict": why.line})
            verdicts = " / ".join(f"{i}: {v}" for i, v in o.modes.items()) if o.modes else o.verdict
            off.append(dict(finding=o.claim.id, instrument="every", verdict=verdicts, shown=verdicts,
                            why=why.kind, reason=why.reason))
        out.append(o)
    table = attribution_table(found)
    if not table.empty:
        # Where the trend decides (training scale, claim) its columns say why; the reason stays
        # where they cannot (undetermined, instrument).
        table["reason"] = table["reason"].where(~table["why"].isin(["training scale", "claim"]), "")
        verdicts = {(o.claim.id, i): o.modes.get(i, o.verdict) for o in outcomes for i in found.get(o.claim.id, {})}
        table.insert(2, "verdict", [verdicts[k] for k in zip(table["finding"], table["instrument"])])
        table.insert(3, "shown", [displayed_verdict(v, w) for v, w in zip(table["verdict"], table["why"])])
    return out, pd.concat([table, pd.DataFrame(off)], ignore_index=True) if off else table


# --------------------------------------------------------------------------------------------
# The page and its set-up


def setup(preset: str = "default", width: int | None = None, training_seeds: int | None = None,
          rungs: int | None = None, n_train: int | None = None, n_points: int | None = None,
          modes: list[str] | None = None, seed: int = 0) -> LadderStudy:
    """The page's preamble in one call: every parameter checked (one ``ValueError`` naming a bad
    one), the preset's ladder with single settings overridden (None = the preset's). Trains
    nothing (:meth:`LadderStudy.measure_ladder` does)."""
    page = PAGES["training-ladder"]
    values = page.check(dict(preset=preset, width=width, training_seeds=training_seeds, rungs=rungs,
                             n_train=n_train, n_points=n_points, modes=modes, seed=seed))
    preset, seed = values["preset"], values["seed"]
    settings = SETTINGS(preset, **{k: values[k] for k in ("width", "training_seeds", "rungs", "n_points", "modes")})
    if values["n_train"] is not None:
        settings = replace(settings, recipe={**settings.recipe, "n_train": values["n_train"]})
    P = get_preset(preset, n_points=settings.n_points)
    id_settings = replace(ID_SETTINGS(preset), n_classes=settings.id_classes)
    parameters = {**asdict(P), "ladder": asdict(settings), "id": id_settings.as_dict(), "seed": seed,
                  "well_trained_epochs": {a: WELL_TRAINED_EPOCHS.get(a) for a in P.architectures}}
    return LadderStudy(page=page, parameters=parameters, preset=P, settings=settings, id_settings=id_settings,
                       seed=seed)


PAGES = {"training-ladder": Page("findings/training-ladder.md", {
    "preset": Parameter("str", choices=SETTINGS.presets, help="the ladder's scale"),
    "width": Parameter("int", minimum=1, optional=True, help="width of every family's network"),
    "training_seeds": Parameter("int", minimum=1, optional=True, help="independent training runs"),
    "rungs": Parameter("int", minimum=2, optional=True, help="checkpoints per run"),
    "n_train": Parameter("int", minimum=10, optional=True, help="training images (None: all)"),
    "n_points": Parameter("int", minimum=10, optional=True, help="images whose curvature is measured"),
    "modes": Parameter("strs", choices=MODES, optional=True, help="curvature estimator modes"),
    "seed": Parameter("int", minimum=0, help="first image-sample seed"),
}, setup)}
