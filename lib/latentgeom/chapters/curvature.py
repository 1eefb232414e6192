"""The curvature chapter (Kaufman & Azencot, ICML 2023): ``book/findings/curvature-*.md``.

Five pages, one claim each (:data:`~latentgeom.chapters.curvature_claims.CLAIMS`). A page
measures per-layer curvature profiles (:func:`latentgeom.profile`) of its models, then runs its
tests (:data:`~latentgeom.chapters.curvature_claims.TESTS`) on every :class:`Run` (independent
image samples, and a second training seed of the page's re-seeded models) under every
instrument of :data:`INSTRUMENTS`:

- :func:`setup` is the page's preamble (parameters checked, preset, models, runs) and returns a
  :class:`CurvatureStudy`;
- :meth:`CurvatureStudy.plan` lists every profile the page measures (the sweep computes the
  same list ahead of time); :meth:`CurvatureStudy.over_seeds` measures each run through it and
  runs the tests, :meth:`CurvatureStudy.outcome` sums the runs up for
  :meth:`~latentgeom.chapters.protocol.Study.record`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import partial

import pandas as pd

from ..networks.models import MODELS
from ..progress import bar
from ..reporting.findings import UNSTABLE, checks_frame, over_seeds, verdict
from ..units import Profile, untrained
from ..validation import Parameter, check_choice
from .curvature_claims import CLAIMS, TESTS, checks_of
from .curvature_shapes import gap_table
from .presets import PRESETS, Preset, get_preset, label, sample
from .protocol import Outcome, Page, Study

__all__ = ["CLAIMS", "INSTRUMENTS", "MIN_POINTS", "PAGES", "SETTINGS", "CurvatureStudy", "Run", "SeedRuns",
           "attribution", "setup"]

#: The instruments every curvature verdict is computed under: name -> profile column. ``scale-free``
#: is the paper's MAPC times the layer's RMS radius (:mod:`latentgeom.estimators.scale_free`): the
#: paper instrument with the activation scale divided out and nothing else changed.
INSTRUMENTS = {"paper": "mapc_paper", "robust": "mapc_robust", "scale-free": "scale_free_paper"}
#: Fewest image-sample points per seed: TwoNN and the robust input-layer fit need a few dozen.
MIN_POINTS = 40
#: The chapter's scale per preset: the shared zoo (:mod:`.presets`).
SETTINGS = PRESETS


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


@dataclass(kw_only=True)
class CurvatureStudy(Study):
    """A curvature page's set-up (from :func:`setup`): preset, models, runs and parameters."""

    name: str
    preset: Preset
    seed: int
    n_seeds: int
    models: list
    reseeded: str

    @property
    def claim(self):
        return CLAIMS[self.name]

    @property
    def kind(self) -> str:
        """Which models the page measures (see :class:`~latentgeom.chapters.curvature_claims.Tests`)."""
        return TESTS[self.name].models

    @property
    def runs(self) -> list[Run]:
        """``n_seeds`` image-sample seeds, then one run with a second training seed."""
        first = self.models[0].seed
        return [Run(f"sample seed {self.seed + i}", self.seed + i, first) for i in range(self.n_seeds)] + \
            [Run(f"training seed {first + 1}", self.seed, first + 1)]

    def _reseed(self, config) -> bool:
        if self.kind == "recipes":
            return config.mixup_alpha > 0 or config == self.models[0]  # baseline and mixup
        return config.model == self.reseeded and config.width == max(self.preset.widths)

    def _run_configs(self, run: Run) -> tuple[list, list | None]:
        """The configs ``run`` measures (the re-seeded member(s) on its training seed) and their
        recipe names (on a second training seed, the regularisation page compares only the two
        re-seeded recipes)."""
        configs = [replace(c, seed=run.train_seed) if self._reseed(c) else c for c in self.models]
        names = self.parameters.get("recipes")
        if run.train_seed != self.models[0].seed and self.kind == "recipes":
            keep = [self._reseed(c) for c in self.models]
            configs, names = [c for c, k in zip(configs, keep) if k], [n for n, k in zip(names, keep) if k]
        return configs, names

    def members(self, run: Run) -> list[tuple]:
        """``(config, epoch)`` of every model ``run`` measures: the checkpoints and final model of
        each trajectory, the final models, and (untrained page) each network at initialisation."""
        configs, _ = self._run_configs(run)
        if self.kind == "trajectories":
            return [(c, e) for c in configs for e in sorted({*c.checkpoint_epochs, c.epochs})]
        members = [(c, c.epochs) for c in configs]
        if self.kind == "untrained":
            members += [(untrained(c), 0) for c in configs]
        return members

    def units(self, run: Run) -> list[Profile]:
        """The curvature profiles of ``run``: every member on the run's image sample."""
        geometry = self.preset.geometry(seed=run.sample_seed)
        images = sample(self.preset, seed=run.sample_seed)
        return [Profile.curvature(c, e, images, geometry) for c, e in self.members(run)]

    def plan(self) -> list[Profile]:
        units = [u for run in self.runs for u in self.units(run)]
        return list(dict.fromkeys(units))  # in order, without repeats

    def labels(self, run: Run) -> list[str]:
        """The chart label of every member of ``run``: recipe names, architectures (untrained
        page: trained and untrained alike) or model names with their checkpoint epoch."""
        configs, names = self._run_configs(run)
        if self.kind == "recipes":
            return list(names)
        if self.kind == "untrained":
            return [c.model for c in configs] * 2
        return [label(c, e) for c, e in self.members(run)]

    def measure_run(self, run: Run) -> pd.DataFrame:
        """Wide profiles of the page's models on ``run``'s image sample (from the caches when
        present): models first (stage "training"), then their profiles (stage "profiles")."""
        units = self.units(run)
        with self.clock("training"):
            models = [u.model() for u in units]
        with self.clock("profiles"):
            frames = [u.result(m) for u, m in zip(units, models)]
        for frame, name in zip(frames, self.labels(run)):
            frame.insert(0, "label", name)
        frame = pd.concat(frames, ignore_index=True)
        if self.kind == "recipes":
            return frame.rename(columns={"label": "recipe"})
        if self.kind == "untrained":
            frame["state"] = ["trained" if e > 0 else "untrained" for e in frame["epoch"]]
        if self.kind == "trajectories":
            final = self._run_configs(run)[0][0].epochs
            frame["stage"] = frame["epoch"].map(lambda e: "checkpoint" if e < final else "final")
        return frame

    def over_seeds(self) -> SeedRuns:
        """The page's tests on every run's profiles under every instrument (progress on the console)."""
        tests = TESTS[self.name]
        profiles, table, rows = {}, {}, []
        for run in bar(self.runs, desc=f"{self.name} runs", leave=False):
            profiles[run.name] = frame = self.measure_run(run)
            for instrument, column in INSTRUMENTS.items():
                table[(run.name, instrument)] = checks_of(self, frame, column)
                rows.append({"run": run.name, "instrument": instrument, **tests.headline(self, frame, column)})
        numbers = pd.DataFrame(rows)
        agreement = {i: over_seeds([verdict(table[(r.name, i)]) for r in self.runs]) for i in INSTRUMENTS}
        heads = [c for c in numbers.columns if c not in ("run", "instrument")]
        spread = {f"{h} ({i})": [float(g[h].min()), float(g[h].max())]
                  for i, g in numbers.groupby("instrument", sort=False) for h in heads}
        return SeedRuns(self.runs, profiles, table, numbers, agreement, spread)

    def extra_numbers(self, runs: SeedRuns) -> dict:
        """Numbers a page keeps beside its runs: every model's gap (curvature 3), each recipe's
        test accuracy (curvature 5)."""
        if self.name == "curvature-3-gap-accuracy":
            return {"models": gap_table(runs.main, columns=INSTRUMENTS).to_dict("records")}
        if self.name == "curvature-5-mixup":
            accuracy = runs.main.groupby("recipe", sort=False)["test_accuracy"].first()
            return {"test_accuracy": accuracy.to_dict()}
        return {}

    def outcome(self, runs: SeedRuns) -> Outcome:
        """The page's claim summed up: verdicts under every instrument over all runs, seed
        agreement, the headline spread, the first run's paper checks."""
        modes = {i: a.verdict for i, a in runs.agreement.items()}
        paper_spread = {k[:-len(" (paper)")]: v for k, v in runs.spread.items() if k.endswith(" (paper)")}
        our_value = ", ".join(f"{k} {lo:.2g} to {hi:.2g}" for k, (lo, hi) in paper_spread.items()) + \
            f" over {len(runs.runs)} runs (paper MAPC)"
        checks = runs.checks[(runs.runs[0].name, "paper")]
        failed = [name for name, ok in checks.items() if not ok]
        summary = (attribution(modes) + " Runs agreeing: "
                   + "; ".join(f"{i} {a}" for i, a in runs.agreement.items()) + f". {our_value}."
                   + (f" Failing (paper, first run): {'; '.join(failed)}." if failed else ""))
        numbers = {run: {i: {k: v for k, v in g.drop(columns=["run", "instrument"]).iloc[0].items()}
                         for i, g in frame.groupby("instrument", sort=False)}
                   for run, frame in runs.numbers.groupby("run", sort=False)}
        return Outcome(self.claim, checks, modes["paper"], {"runs": numbers, **self.extra_numbers(runs)},
                       our_value, summary, modes=modes, seeds={i: a.as_dict() for i, a in runs.agreement.items()},
                       spread=runs.spread)


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


# --------------------------------------------------------------------------------------------
# The pages


_COMMON = dict(
    preset=Parameter("str", choices=tuple(PRESETS), help="the scale: tiny (tests), default, paper"),
    n_points=Parameter("int", minimum=MIN_POINTS, optional=True, help="images per sample seed"),
    q=Parameter("int", minimum=1, optional=True, help="smallest singular values perturbed per channel"),
    seed=Parameter("int", minimum=0, help="first image-sample seed"),
    n_seeds=Parameter("int", minimum=1, help="independent image samples"),
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
    ``n_points`` is the sample size *per seed* (None: the preset's ``n_points`` shared among the
    ``n_seeds`` samples). Prints one line describing the scale.
    """
    check_choice(page, "page", list(TESTS))
    values = PAGES[page].check({"preset": preset, "seed": 0, "n_seeds": 3, **parameters})
    seed, n_seeds, q = values["seed"], values["n_seeds"], values.get("q")
    options = {k: v for k, v in values.items() if k in ("width", "n_boot", "mixup_architecture")}
    mixup = options.get("mixup_architecture")
    base = get_preset(preset, q=q, mixup_architecture=mixup)
    n_points = values.get("n_points")
    per_seed = n_points if n_points is not None else max(base.n_points // n_seeds, MIN_POINTS)
    P = get_preset(preset, n_points=per_seed, q=q, mixup_architecture=mixup)
    kind = TESTS[page].models
    recorded = {**asdict(P), "seed": seed, "n_seeds": n_seeds,
                **{k: v for k, v in options.items() if k != "mixup_architecture"}}
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
    reseeded = P.mixup_architecture if kind == "recipes" else P.architectures[0]
    study = CurvatureStudy(page=PAGES[page], parameters=recorded, name=page, preset=P, seed=seed,
                           n_seeds=n_seeds, models=models, reseeded=reseeded)
    print(f"preset {P.name}: {P.dataset}, {len(models)} models ({', '.join(sorted({c.model for c in models}))}); "
          f"{P.n_points} points x {n_seeds} sample seeds from {seed}, plus training seed "
          f"{models[0].seed + 1} of {reseeded}; q = {P.q} (K = {2 ** P.q})")
    return study


#: The chapter's pages by name (``PAGES["curvature-1-profile-shape"]``).
PAGES: dict[str, Page] = {
    name: Page(f"findings/{name}.md", {**_COMMON, **_EXTRA[tests.models]}, partial(setup, name), claims=(name,))
    for name, tests in TESTS.items()}
