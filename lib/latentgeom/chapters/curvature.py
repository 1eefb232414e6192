"""The curvature chapter (Kaufman & Azencot, ICML 2023): ``book/findings/curvature-*.md``.

Five pages, one claim each (:data:`~latentgeom.chapters.curvature_claims.CLAIMS`). A page
measures per-layer curvature profiles (:func:`latentgeom.profile`) of its models on every
:class:`~latentgeom.chapters.curvature_runs.Run` (a training seed of every model and an image
sample of its own), then runs its tests (:data:`~latentgeom.chapters.curvature_claims.TESTS`)
under every instrument of :data:`INSTRUMENTS`: per run (claims 1, 2, 5), or once on the final
networks of every run pooled (claims 3, 4):

- :func:`setup` is the page's preamble (parameters checked, preset, models, runs) and returns a
  :class:`CurvatureStudy`;
- :meth:`CurvatureStudy.plan` lists every profile the page measures (the sweep computes the
  same list ahead of time); :meth:`CurvatureStudy.over_seeds` measures each run through it and
  runs the tests, :meth:`CurvatureStudy.outcome` sums the runs up for
  :meth:`~latentgeom.chapters.protocol.Study.record`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from functools import partial

import pandas as pd

from ..networks.models import MODELS
from ..progress import bar
from ..reporting.findings import NOT_TESTABLE, over_seeds, undecided
from ..reporting.tables import show
from ..units import Profile, Train, untrained
from ..validation import Parameter, check_choice
from .curvature_claims import (CLAIMS, MEASURABILITY, TESTS, checks_of, gap_vs_accuracy, id_vs_curvature, preconditions,
                               unmeasurable_share)
from .curvature_shapes import INSTRUMENTS
from .curvature_runs import (POOLED_RUN, PRECISION, Run, SeedRuns, accuracy_table, across_control, measurability_table,
                             precision_table, recipe_changes)
from . import ladder
from .presets import PRESETS, Preset, get_preset, label, sample
from .protocol import Outcome, Page, Study

__all__ = ["CLAIMS", "INSTRUMENTS", "MIN_POINTS", "PAGES", "SETTINGS", "CurvatureStudy", "Run", "SeedRuns",
           "setup"]

#: Fewest image-sample points per seed: TwoNN and the robust input-layer fit need a few dozen.
MIN_POINTS = 40
#: Runs of the first training seed when the page does not say (each on its own image sample of
#: the preset's ``n_points``; one run of the second training seed follows). One: two samples of
#: 300 points of the same networks do not fit the book's budget beside the second training seed.
N_SEEDS = 1
#: Bootstrap resamples of the pooled correlations when the page does not say.
N_BOOT = 2000
#: The chapter's scale per preset: the shared zoo (:mod:`.presets`).
SETTINGS = PRESETS
#: The instruments whose MAPC precision a page reports (the scale-free value's relative
#: interval is the paper one's: its length scale is one number per layer).
PRECISION_INSTRUMENTS = ("paper", "robust")


def _whole_or_undefined(value: float) -> int | str:
    """A count for the prose: an integer, or "undefined" where it is NaN (a MAPC or its
    standard error undefined on every layer), so that the page states it instead of failing."""
    return int(value) if math.isfinite(value) else "undefined"


@dataclass(kw_only=True)
class CurvatureStudy(Study):
    """A curvature page's set-up (from :func:`setup`): preset, models, runs and parameters.

    ``models`` are the page's networks under the first training seed; a run (:class:`Run`)
    re-seeds *every* one of them with its training seed and measures them on its own image
    sample: ``n_seeds`` runs of the first training seed on image seeds ``seed, seed + 1, ...``,
    then one run of the next training seed on the next image seed.
    """

    name: str
    preset: Preset
    seed: int
    n_seeds: int
    models: list

    @property
    def claim(self):
        return CLAIMS[self.name]

    @property
    def tests(self):
        return TESTS[self.name]

    @property
    def kind(self) -> str:
        """Which models the page measures (see :class:`~latentgeom.chapters.curvature_claims.Tests`)."""
        return self.tests.models

    @property
    def runs(self) -> list[Run]:
        """``n_seeds`` runs of the first training seed, then one of the second; each run on an
        image sample of its own."""
        first = self.models[0].seed
        return [Run(self.seed + i, first) for i in range(self.n_seeds)] + [Run(self.seed + self.n_seeds, first + 1)]

    def configs(self, run: Run) -> list:
        """Every model of the page, re-seeded with ``run``'s training seed."""
        return [replace(c, seed=run.train_seed) for c in self.models]

    def members(self, run: Run) -> list[tuple]:
        """``(config, epoch)`` of every model ``run`` measures: the checkpoints and final model of
        each trajectory, the final models, and (pages 1 and 2) each network at initialisation."""
        configs = self.configs(run)
        if self.kind == "trajectories":
            return [(c, e) for c in configs for e in sorted({*c.checkpoint_epochs, c.epochs})]
        members = [(c, c.epochs) for c in configs]
        if self.kind in ("width", "untrained"):
            members += [(untrained(c), 0) for c in configs]
        return members

    def units(self, run: Run) -> list[Profile]:
        """The curvature profiles of ``run``: every member on the run's image sample."""
        geometry = self.preset.geometry(seed=run.sample_seed)
        images = sample(self.preset, seed=run.sample_seed)
        return [Profile.curvature(c, e, images, geometry) for c, e in self.members(run)]

    def plan(self) -> list:
        """Every run's profiles, then the training ladder's units when the claim is on it (its
        attribution, :meth:`attributed`, measures them), in order, without repeats."""
        units = [u for run in self.runs for u in self.units(run)]
        if self.claim.id in ladder.FINDINGS:
            units += ladder.PAGES["training-ladder"].study(preset=self.preset.name, seed=self.seed).plan()
        return list(dict.fromkeys(units))

    def names(self, run: Run) -> list[str]:
        """The name of every member's network (its checkpoints and initialisation share it):
        recipe names on the mixup page, else model and width; the chart label."""
        if self.kind == "recipes":
            return list(self.parameters["recipes"])
        names = [c.model if self.kind == "untrained" else label(c) for c in self.configs(run)]
        if self.kind == "trajectories":
            return [n for n, c in zip(names, self.configs(run)) for _ in sorted({*c.checkpoint_epochs, c.epochs})]
        return names * (2 if self.kind in ("width", "untrained") else 1)

    def measure_run(self, run: Run) -> pd.DataFrame:
        """Wide profiles of the page's models on ``run``'s image sample (from the caches when
        present): models first (stage "training"), then their profiles (stage "profiles"). Each
        row names its ``network`` (name and training seed) and ``training_seed``."""
        units = self.units(run)
        self.compute([Train(u.config) for u in units], stage="training")
        self.compute(units, stage="profiles")
        with self.clock("profiles"):
            frames = [u.result() for u in units]
        for frame, name in zip(frames, self.names(run)):
            frame.insert(0, "label", name)
            frame["network"] = f"{name}, training seed {run.train_seed}"
            frame["training_seed"] = run.train_seed
        frame = pd.concat(frames, ignore_index=True)
        if self.kind == "recipes":
            return frame.rename(columns={"label": "recipe"})
        if self.kind in ("width", "untrained"):
            frame["state"] = ["trained" if e > 0 else "untrained" for e in frame["epoch"]]
        if self.kind == "trajectories":
            final = self.models[0].epochs
            frame["stage"] = frame["epoch"].map(lambda e: "checkpoint" if e < final else "final")
            frame["label"] = [f"{n} @ep{e}" if e < final else n for n, e in zip(frame["label"], frame["epoch"])]
        return frame

    def decide(self, name: str, frame: pd.DataFrame) -> tuple[dict, dict, list]:
        """Checks, preconditions and headline rows of one decision (a run, or the pooled runs)."""
        checks, pre, rows = {}, {}, []
        for instrument, column in INSTRUMENTS.items():
            checks[(name, instrument)] = checks_of(self, frame, column)
            pre[(name, instrument)] = preconditions(self, frame, column)
            rows.append({"run": name, "instrument": instrument, **self.tests.headline(self, frame, column),
                         "unmeasurable deciding layers": unmeasurable_share(self, frame, column)})
        return checks, pre, rows

    def over_seeds(self) -> SeedRuns:
        """The page's tests under every instrument: on every run's profiles, or once on every
        run's pooled (``Tests.pooled``). Progress on the console."""
        units = [u for run in self.runs for u in self.units(run)]
        self.compute_together({"training": [Train(u.config) for u in units], "profiles": units})
        profiles = {run.name: self.measure_run(run) for run in bar(self.runs, desc=f"{self.name} runs", leave=False)}
        runs = SeedRuns(self.runs, profiles, [], {}, {}, None, {}, {})
        frames = {POOLED_RUN: runs.pooled} if self.tests.pooled else profiles
        rows = []
        for name, frame in frames.items():
            checks, pre, decided = self.decide(name, frame)
            runs.checks.update(checks)
            runs.preconditions.update(pre)
            runs.decisions.append(name)
            rows += decided
        runs.numbers = numbers = pd.DataFrame(rows)
        runs.agreement = {i: over_seeds([runs.verdict(d, i) for d in runs.decisions]) for i in INSTRUMENTS}
        heads = [c for c in numbers.columns if c not in ("run", "instrument")]
        runs.spread = {f"{h} ({i})": [float(g[h].min()), float(g[h].max())]
                       for i, g in numbers.groupby("instrument", sort=False) for h in heads}
        return runs

    def extra_numbers(self, runs: SeedRuns) -> dict:
        """Numbers a page keeps beside its decisions: the networks' test accuracies, the layers'
        measurability and MAPC precision, and (curvature 3) the pooled points and the
        along-training trend, (curvature 4) the equivalence tests, (curvature 5) each recipe's
        change to the baseline."""
        accuracy = accuracy_table(runs)
        precision = self.precision(runs)
        extra = {"test_accuracy": accuracy.to_dict("records"),
                 "measurability": measurability_table(runs.main).to_dict("records"),
                 "precision": precision.to_dict("records"),
                 "precise_share": {i: float(precision[f"precise_{i}"].mean()) for i in PRECISION_INSTRUMENTS}}
        if self.name == "curvature-3-gap-accuracy":
            corr, final, trend = gap_vs_accuracy(self, runs.pooled, INSTRUMENTS["paper"])
            extra.update(correlation=corr.as_dict() if corr else {}, networks=int(final["network"].nunique()),
                         training_runs=int(final["training_seed"].nunique()), points=len(final),
                         models=final.to_dict("records"), trend=trend.to_dict("records"))
        if self.name == "curvature-4-id-vs-curvature":
            extra["equivalence"] = {i: {k: v for k, v in id_vs_curvature(self, runs.pooled, c).items()
                                        if v is not None and not (isinstance(v, float) and math.isnan(v))}
                                    for i, c in INSTRUMENTS.items()}
        if self.name == "curvature-5-mixup":
            extra["recipe_changes"] = recipe_changes(self.preset.recipes())
        return extra

    def outcome(self, runs: SeedRuns) -> Outcome:
        """The page's claim summed up: verdicts under every instrument over all decisions, seed
        agreement, the headline spread, the first decision's paper checks, and why a verdict is
        not testable."""
        modes = {i: a.verdict for i, a in runs.agreement.items()}
        paper_spread = {k[:-len(" (paper)")]: v for k, v in runs.spread.items() if k.endswith(" (paper)")}
        where = f"over {len(runs.runs)} runs" if not self.tests.pooled else \
            f"decided once on the final networks of {len(runs.runs)} runs pooled"
        our_value = ", ".join(f"{k} {lo:.2g} to {hi:.2g}" for k, (lo, hi) in paper_spread.items()) + \
            f" {where} (paper MAPC)"
        first = runs.decisions[0]
        checks = runs.checks[(first, "paper")]
        pre = {f"{i}: {k}": ok for i in INSTRUMENTS for k, ok in runs.preconditions[(first, i)].items()}
        failed = [name for name, ok in checks.items() if ok is False]
        reasons = {i: undecided(runs.checks[(d, i)], runs.preconditions[(d, i)])
                   for i in INSTRUMENTS for d in runs.decisions}
        summary = ("; ".join(f"{i}: {v}" for i, v in modes.items()) + ". Runs agreeing: "
                   + "; ".join(f"{i} {a}" for i, a in runs.agreement.items()) + f". {our_value}."
                   + (f" Failing (paper, {first}): {'; '.join(failed)}." if failed else "")
                   + "".join(f" Not testable under {i}: {'; '.join(sorted(set(r)))}." for i, r in reasons.items()
                             if r and modes[i] == NOT_TESTABLE))
        numbers = {run: {i: {k: v for k, v in g.drop(columns=["run", "instrument"]).iloc[0].items()}
                         for i, g in frame.groupby("instrument", sort=False)}
                   for run, frame in runs.numbers.groupby("run", sort=False)}
        ours = {"runs": numbers, "preconditions": pre, "networks_per_decision": self.networks(runs),
                **self.extra_numbers(runs)}
        return Outcome(self.claim, checks, modes["paper"], ours, our_value, summary, modes=modes,
                       seeds={i: a.as_dict() for i, a in runs.agreement.items()}, spread=runs.spread)

    def precision(self, runs: SeedRuns) -> pd.DataFrame:
        """Each layer's MAPC interval from resampling its points, under the paper and robust
        instruments (:func:`~.curvature_runs.precision_table` at this page's sample size; the
        scale-free value's relative interval is the paper one's, its length scale being one
        number per layer)."""
        return precision_table(runs, {i: INSTRUMENTS[i] for i in PRECISION_INSTRUMENTS}, self.preset.n_points)

    def page_numbers(self, runs: SeedRuns) -> dict:
        """The numbers every curvature page's prose pastes (``glue``): the scale (runs, points,
        networks), the trained networks' test accuracy, the share of deciding layers each mode
        cannot measure and of layers whose MAPC is within :data:`~.curvature_runs.PRECISION`,
        each instrument's verdict and how unmeasurable layers are treated."""
        frame = runs.pooled
        final = frame[frame["epoch"] == self.models[0].epochs]
        unmeasurable = runs.numbers.groupby("instrument", sort=False)["unmeasurable deciding layers"].mean()
        precision = self.precision(runs)
        return dict(n_runs=len(runs.runs), n_seeds=self.n_seeds, n_points=self.preset.n_points,
                    n_networks=self.networks(runs), n_sample_networks=int(runs.main["network"].nunique()),
                    architectures=", ".join(dict.fromkeys(c.model for c in self.models)),
                    accuracy_min=float(final["test_accuracy"].min()), accuracy_max=float(final["test_accuracy"].max()),
                    unmeasurable_paper=float(unmeasurable["paper"]), unmeasurable_robust=float(unmeasurable["robust"]),
                    precise_paper=float(precision["precise_paper"].mean()),
                    precise_robust=float(precision["precise_robust"].mean()),
                    needed_paper=_whole_or_undefined(precision["needed_paper"].median()),
                    across_control=across_control(precision),
                    **{f"verdict_{i.replace('-', '_')}": a.verdict for i, a in runs.agreement.items()},
                    treatment=MEASURABILITY, precision=PRECISION)

    def attributed(self, runs: SeedRuns) -> tuple[Outcome, pd.DataFrame]:
        """:meth:`outcome` with its ``why`` and the page's table of it, from the training ladder
        (:func:`latentgeom.chapters.ladder.attributed`, same preset and seed: the ladder page's
        networks, measured once for every page; a claim the ladder does not follow is
        undetermined, :func:`~.ladder.not_on_ladder`, and so is the mixup claim when this page
        trains mixup on another family than the one the ladder follows)."""
        off = {}
        if self.kind == "recipes":
            # The ladder follows the preset's mixup family; a page run on another one is off it.
            follows = ladder.PAGES["training-ladder"].study(preset=self.preset.name, seed=self.seed).mixup_family
            if self.preset.mixup_architecture != follows:
                off[self.claim.id] = (f"this page trains mixup on {self.preset.mixup_architecture}, the ladder "
                                      f"follows {follows or 'no mixup family'}")
        [outcome], table = ladder.attributed([self.outcome(runs)], preset=self.preset.name, seed=self.seed,
                                             off_ladder=off)
        return outcome, table

    def instrument_tables(self, runs: SeedRuns) -> list:
        """The three tables of every curvature page's section on its networks and instruments
        (the methods page "Measuring curvature", §9, says what they compute), styled for
        ``display``: the test accuracy of every network measured (:func:`~.curvature_runs.accuracy_table`),
        each layer's tangent dimension d next to the input directions its neighbourhoods span in
        the first run (:func:`~.curvature_runs.measurability_table`) and each layer's MAPC interval
        from resampling points (:meth:`precision`). :meth:`page_numbers` summarises them."""
        return [show(accuracy_table(runs), caption="test accuracy of every network measured"),
                show(measurability_table(runs.main),
                     caption="tangent dimension d, input directions spanned, measurable (first run)"),
                # (without the control's columns when one sample per training seed leaves them empty)
                show(self.precision(runs).dropna(axis=1, how="all"),
                     caption="each layer's 95 % MAPC interval from resampling points")]

    def verdict_tables(self, runs: SeedRuns, numbers: str = "headlines per run") -> list:
        """The three tables of every curvature page's "Verdict" section, as styled tables for
        ``display``: the verdict per run and instrument, the headlines per run (captioned
        ``numbers``), and the first decision's checks and preconditions."""
        return [show(runs.verdict_table(), caption="verdict per run and instrument"),
                show(runs.numbers.set_index(["instrument", "run"]), caption=numbers),
                show(runs.checks_table(), caption=f"checks, {runs.decisions[0]}")]

    def record_attributed(self, runs: SeedRuns):
        """Write the page's result file with its ``why`` (:meth:`attributed`); returns the
        :class:`~latentgeom.reporting.findings.Finding` and the why table, styled for ``display``."""
        outcome, why = self.attributed(runs)
        [finding] = self.record([outcome])
        return finding, show(why, index=False, caption="what decides each verdict: claim, training scale or "
                                                       "instrument (see the training ladder)")

    def networks(self, runs: SeedRuns) -> int:
        """Independently trained networks behind one decision (a run's, or the pooled runs')."""
        frame = runs.pooled if self.tests.pooled else runs.main
        return int(frame["network"].nunique())


# --------------------------------------------------------------------------------------------
# The pages


_COMMON = dict(
    preset=Parameter("str", choices=tuple(PRESETS), help="the scale: tiny (tests), default, paper"),
    n_points=Parameter("int", minimum=MIN_POINTS, optional=True, help="images per sample seed"),
    q=Parameter("int", minimum=1, optional=True, help="smallest singular values perturbed per channel"),
    seed=Parameter("int", minimum=0, help="first image-sample seed"),
    n_seeds=Parameter("int", minimum=1, help="runs of the first training seed, each on its own image sample"),
)
_EXTRA = {
    "width": dict(width=Parameter("int", minimum=1, optional=True, help="width of the zoo members compared")),
    "untrained": dict(width=Parameter("int", minimum=1, optional=True, help="width of the zoo members compared")),
    "trajectories": dict(n_boot=Parameter("int", minimum=100, help="bootstrap resamples")),
    "zoo": dict(n_boot=Parameter("int", minimum=100, help="bootstrap resamples")),
    "recipes": dict(mixup_architecture=Parameter("str", choices=MODELS, optional=True,
                                                 help="the architecture trained with the four recipes")),
}


def setup(page: str, preset: str = "default", **parameters) -> CurvatureStudy:
    """A curvature page's preamble in one call: checked parameters, preset, models, runs.

    ``parameters`` are the page's own (``n_points``, ``q``, ``seed``, ``n_seeds`` and ``width``,
    ``n_boot`` or ``mixup_architecture``); one ``ValueError`` names a bad or unknown one.
    ``n_points`` is the sample size of every run (None: the preset's ``n_points``, whatever
    ``n_seeds`` is: more runs cost more, never fewer points each). Prints one line describing
    the scale.
    """
    check_choice(page, "page", list(TESTS))
    values = PAGES[page].check({"preset": preset, "seed": 0, "n_seeds": N_SEEDS, **parameters})
    seed, n_seeds, q = values["seed"], values["n_seeds"], values.get("q")
    options = {k: v for k, v in values.items() if k in ("width", "n_boot", "mixup_architecture")}
    mixup = options.get("mixup_architecture")
    P = get_preset(preset, n_points=values.get("n_points"), q=q, mixup_architecture=mixup)  # None: the preset's
    kind = TESTS[page].models
    recorded = {**asdict(P), "seed": seed, "n_seeds": n_seeds,
                **{k: v for k, v in options.items() if k != "mixup_architecture"}}
    if kind in ("trajectories", "zoo"):
        recorded.setdefault("n_boot", N_BOOT)
    if kind in ("width", "untrained"):
        width = max(P.widths) if options.get("width") is None else options["width"]
        check_choice(width, "width", P.widths)
        recorded["width"] = width
        models = [c for c in P.zoo() if c.width == width]
    elif kind == "recipes":
        recipes = P.recipes()
        recorded["recipes"] = list(recipes)
        models = list(recipes.values())
    else:
        models = P.zoo()
    study = CurvatureStudy(page=PAGES[page], parameters=recorded, name=page, preset=P, seed=seed,
                           n_seeds=n_seeds, models=models)
    print(f"preset {P.name}: {P.dataset}, {len(models)} models ({', '.join(sorted({c.model for c in models}))}); "
          f"{len(study.runs)} runs of {P.n_points} points each (image seeds from {seed}): {n_seeds} of training "
          f"seed {models[0].seed}, one of training seed {models[0].seed + 1} (every model re-seeded); "
          f"q = {P.q} (K = {2 ** P.q})")
    return study


#: The chapter's pages by name (``PAGES["curvature-1-profile-shape"]``).
PAGES: dict[str, Page] = {
    name: Page(f"findings/{name}.md", {**_COMMON, **_EXTRA[tests.models]}, partial(setup, name), claims=(name,))
    for name, tests in TESTS.items()}
