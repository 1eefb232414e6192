"""Loss landscapes on toroids (Pittorino et al., ICML 2022): ``book/findings/toroids-landscape.md``.

Pittorino, Ferraro, Perugini, Feinauer, Baldassi & Zecchina, "Deep networks on toroids:
removing symmetries reveals the structure of flat regions in the landscape geometry", ICML
2022 (arXiv:2202.03038). With the rescaling and permutation symmetries of ReLU networks removed
(:mod:`latentgeom.networks.symmetries`), every hidden unit lives on a unit sphere and a network
is a point of a product of spheres (:mod:`latentgeom.networks.weight_space`). The chapter, in
the shape of :mod:`latentgeom.chapters.protocol`:

- :data:`CLAIMS`: the paper's five claims, with the thresholds of their tests and why, and one
  function per claim turning the measurements into its :class:`~latentgeom.chapters.protocol.
  Outcome` (:mod:`latentgeom.chapters.toroid_claims`; all five: :meth:`ToroidsStudy.outcomes`);
- :data:`SETTINGS`: the scale per preset (:class:`~latentgeom.chapters.toroid_grid.ToroidSettings`);
- :data:`PAGES` and :func:`setup`: the page's parameters, checked, and its :class:`ToroidsStudy`,
  whose :meth:`~ToroidsStudy.plan` is one unit per run (replicate):
  :func:`latentgeom.chapters.toroid_grid.run` at the run's seed, which trains (or loads) every
  network of the run and measures it (:mod:`latentgeom.networks.toroid_networks`);
- the page's tables (:func:`verdict_table`, :func:`checks_table`, :func:`barrier_table`, ...;
  :func:`~latentgeom.chapters.toroid_grid.recipe_table`, the networks per optimiser with their
  test accuracy) and the numbers its prose pastes (:func:`prose_values`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

import pandas as pd

from ..networks.toroid_networks import RECIPES, describe
from ..units import Computation
from ..validation import Parameter
from . import toroid_grid
from .protocol import Outcome, Page, PresetTable, Study
from .toroid_claims import (BARRIERS, BINARY, CLAIMS, CLOSE_MINIMA, FLATNESS, NOTEBOOK, ONE_BEND, binary_networks,
                            flat_minima_close, flatness_generalisation, geodesic_barriers, mantel_alpha,
                            mean_distances, one_bend_paths)
from .toroid_grid import ToroidSettings, recipe_table

__all__ = ["BARRIERS", "BINARY", "CLAIMS", "CLOSE_MINIMA", "FLATNESS", "ONE_BEND", "NOTEBOOK", "PAGES", "SETTINGS",
           "ToroidsStudy", "architectures_text", "barrier_table", "bend_table", "binary_networks", "checks_table",
           "correlation_table", "distance_table", "flat_minima_close", "flatness_generalisation", "geodesic_barriers",
           "mantel_table", "mean_distances", "minimisers", "one_bend_paths", "prose_values", "recipe_table",
           "recipes_text", "setup", "verdict_table"]

#: The chapter's scale per preset (``tiny``: the MLP alone, on 200 images, long enough for
#: minimisers, so that the tests run every claim's code).
SETTINGS: PresetTable[ToroidSettings] = PresetTable("toroids setting", {
    "tiny": ToroidSettings(name="tiny", n_train=200, n_test=200, architectures=("mlp",),
                           recipes=("SGD bs32", "Adam bs100", "Adam bs100 wd"), seeds={"mlp": 2},
                           max_epochs={"mlp": 40}, sigmas=(0.2, 0.5), n_perturb=1, path_points=3,
                           path_architectures=("mlp",), bend_steps=5, bend_architectures=("mlp",),
                           binary_recipes=("SGD bs32", "Adam bs100"), binary_seeds=2, binary_sigmas=(0.5,),
                           binary_max_epochs=2),
    "default": ToroidSettings(name="default"),
})


# ---------------------------------------------------------------------------------------------
# The page and its study


@dataclass(kw_only=True)
class ToroidsStudy(Study):
    """The toroids page's runs: its settings, the bootstrap resamples (and Mantel permutations),
    the first run's seed and the number of runs. Run ``k`` has seed ``seed + k``: its own data
    subsets, networks, weight noise and one-bend SGD (:func:`~latentgeom.chapters.toroid_grid.run`)."""

    settings: ToroidSettings
    n_boot: int
    seed: int
    n_seeds: int = 2

    @property
    def run_seeds(self) -> tuple[int, ...]:
        """The seeds of the runs: ``seed, seed + 1, ...``."""
        return tuple(self.seed + k for k in range(self.n_seeds))

    def plan(self) -> list:
        """One unit per run: :func:`~latentgeom.chapters.toroid_grid.run` at the page's settings and the run's seed."""
        return [Computation(toroid_grid.__name__, "run", (self.settings, s), (("progress", False),),
                            label=f"toroidal landscapes at {self.settings.name} (seed {s})") for s in self.run_seeds]

    def results(self) -> dict:
        """The measured tables of every run (:func:`~latentgeom.chapters.toroid_grid.run`), computed or
        read, joined (:func:`~latentgeom.chapters.toroid_grid.combine`: a ``run`` column tells them apart)."""
        return toroid_grid.combine(self.measure())

    def outcomes(self, results: dict) -> dict[int, Outcome]:
        """The five claims' outcomes, keyed by claim number."""
        stats = dict(n_boot=self.n_boot, seed=self.seed)
        return {1: flatness_generalisation(results, **stats), 2: flat_minima_close(results, **stats),
                3: geodesic_barriers(results, self.settings.path_architectures),
                4: one_bend_paths(results, self.settings.bend_architectures), 5: binary_networks(results, **stats)}


def setup(preset: str = "default", n_train: int | None = None, n_boot: int = 2000, seed: int = 0,
          n_seeds: int = 2) -> ToroidsStudy:
    """The page's preamble: every parameter checked (one ``ValueError`` naming a bad one), the
    preset's settings with ``n_train`` overridden (``None``: the preset's), and the study."""
    page = PAGES["toroids-landscape"]
    values = page.check(dict(preset=preset, n_train=n_train, n_boot=n_boot, seed=seed, n_seeds=n_seeds))
    settings = SETTINGS(values["preset"], n_train=values["n_train"])
    study = ToroidsStudy(page=page, settings=settings, n_boot=values["n_boot"], seed=values["seed"],
                         n_seeds=values["n_seeds"], parameters={})
    study.parameters = {**asdict(settings), "dataset": "fashion-mnist", "n_boot": values["n_boot"],
                        "seed": values["seed"], "n_seeds": values["n_seeds"], "run_seeds": list(study.run_seeds)}
    return study


PAGES = {"toroids-landscape": Page("findings/toroids-landscape.md", {
    "preset": Parameter("str", choices=SETTINGS.presets, help="the chapter's scale"),
    "n_train": Parameter("int", minimum=20, optional=True, help="training images"),
    "n_boot": Parameter("int", minimum=100, help="bootstrap resamples and permutations of the tests"),
    "seed": Parameter("int", minimum=0, help="the first run's seed (its data, networks, noise; the bootstrap)"),
    "n_seeds": Parameter("int", minimum=1, help="runs, each with its own seed, data subsets and networks"),
}, setup, claims=tuple(CLAIMS))}


# ---------------------------------------------------------------------------------------------
# The page's tables


def correlation_table(correlations: dict, columns=("n", "units", "spearman", "spearman_ci", "pearson", "pearson_ci")):
    """One row per correlation of an outcome's ``ours["correlations"]``: ``columns`` of it."""
    return pd.DataFrame({k: c.as_dict() for k, c in correlations.items()}, index=list(columns)).T


def mantel_table(tests: dict) -> pd.DataFrame:
    """One row per Mantel test of an outcome's ``ours["mantel"]``: networks, pairs, Spearman's rho
    and the permutation p-value."""
    return pd.DataFrame({k: t.as_dict() for k, t in tests.items()},
                        index=["units", "pairs", "spearman", "p_value", "permutations"]).T


def distance_table(outcome: Outcome) -> pd.DataFrame:
    """Claim 2's table: per architecture, the mean unaligned and aligned distance over the pairs of
    minimisers and the Mantel test of flatness and distance."""
    return pd.DataFrame(outcome.ours["mean_distances"]).T.join(mantel_table(outcome.ours["mantel"]))


def _run_stats(outcome: Outcome) -> pd.DataFrame:
    return pd.DataFrame([{"seed": r, "architecture": a, **s} for r, run in outcome.ours["runs"].items()
                         for a, s in run["stats"].items()]).set_index(["seed", "architecture"])


def barrier_table(outcome: Outcome) -> pd.DataFrame:
    """Claim 3's table: per run and architecture, the pairs of minimisers, the median barrier of
    every path and the share of pairs where the geodesic's is lower."""
    return _run_stats(outcome)


def bend_table(outcome: Outcome) -> pd.DataFrame:
    """Claim 4's table: per run and architecture, the pairs of minimisers of different optimisers,
    those whose geodesic has a barrier, and how the one-bend path does on them."""
    return _run_stats(outcome)


def verdict_table(outcomes: Iterable[Outcome]) -> pd.DataFrame:
    """One row per claim: the paper's value, ours, the verdict and how many runs agree."""
    return pd.DataFrame([{"claim": o.claim.id, "paper": o.claim.paper_value, "ours": o.our_value,
                          "verdict": o.verdict, "runs": _agreement(o)} for o in outcomes]).set_index("claim")


def _agreement(o: Outcome) -> str:
    """How many runs agree on the verdict, or over how many runs a pooled decision was made."""
    if "pooled_runs" in o.ours:
        return f"pooled over {o.ours['pooled_runs']} runs"
    s = (o.seeds or {}).get("verdict")
    return "" if not s else f"{s['agree']}/{s['runs']}"


def checks_table(outcomes: Iterable[Outcome]) -> pd.DataFrame:
    """One row per precondition and check of every claim: its name and whether it holds
    (``None``: not decided)."""
    return pd.DataFrame([{"claim": o.claim.id, "kind": kind, "name": name, "holds": ok}
                         for o in outcomes
                         for kind, items in (("precondition", o.ours.get("preconditions", {})), ("check", o.checks))
                         for name, ok in items.items()])


def recipes_text(names: Iterable[str]) -> str:
    """The optimisers of ``names`` (keys of :data:`~latentgeom.networks.toroid_networks.RECIPES`)
    in words, from their settings: optimiser, mini-batch sizes and which run with weight decay."""
    by: dict = {}
    for n in names:
        r = RECIPES[n]
        by.setdefault(r.optimiser, {}).setdefault(r.batch_size, set()).add(r.weight_decay > 0)
    decay = {frozenset({False}): "without weight decay", frozenset({True}): "with weight decay",
             frozenset({False, True}): "with and without weight decay"}
    title = {"sgd": "SGD (momentum 0.9)", "adam": "Adam(W)"}

    def batches(sizes: dict) -> str:  # sizes sharing their weight decay named once: "32 and 500 (without ...)"
        groups: dict = {}
        for b, w in sizes.items():
            groups.setdefault(decay[frozenset(w)], []).append(str(b))
        return " and ".join(f"{' and '.join(bs)} ({phrase})" for phrase, bs in groups.items())

    return "; ".join(f"{title[o]} with mini-batches of {batches(sizes)}" for o, sizes in by.items())


def architectures_text(settings: ToroidSettings) -> str:
    """The real-valued networks of ``settings`` in words: what each is
    (:func:`~latentgeom.networks.toroid_networks.describe`) and its epoch cap."""
    names = {"mlp": "the MLP", "cnn": "the CNN"}
    return " and ".join(f"{names[a]} ({describe(a)}; at most {settings.max_epochs[a]} epochs)"
                        for a in settings.architectures)


def minimisers(networks: pd.DataFrame) -> pd.DataFrame:
    """The networks that reached zero training error (the minimisers claims 1-4 are about)."""
    return networks[networks["minimiser"].astype(bool)]


def prose_values(study: ToroidsStudy, results: dict, outcomes: dict) -> dict:
    """The numbers and words the page's prose pastes (myst-nb glue), all from the settings and
    the measurements."""
    S, networks, binary = study.settings, results["networks"], results["binary_networks"]
    counts = networks.groupby("architecture", sort=False)["minimiser"].agg(["sum", "size"])
    values = {"n_train": S.n_train, "n_test": S.n_test, "n_runs": study.n_seeds,
              "run_seeds": ", ".join(map(str, study.run_seeds)), "n_recipes": len(S.recipes),
              "recipes": recipes_text(S.recipes), "binary_recipes": recipes_text(S.binary_recipes),
              "architectures": architectures_text(S), "binary_mlp": describe("binary_mlp"),
              "binary_epochs": S.binary_max_epochs,
              "minimisers": "; ".join(f"{a}: {int(m['sum'])} of {int(m['size'])}" for a, m in counts.iterrows()),
              "binary_zero": f"{int((binary['train_error'] == 0).sum())} of {len(binary)}",
              "confidence": FLATNESS.thresholds["confidence"], "min_networks": FLATNESS.thresholds["min_networks"],
              "mantel_alpha": mantel_alpha(CLOSE_MINIMA.thresholds["confidence"]),
              "min_pairs": BARRIERS.thresholds["min_pairs"]}
    values.update({k: BARRIERS.thresholds[k] for k in ("small_barrier", "geodesic_wins")})
    values.update({k: ONE_BEND.thresholds[k] for k in ("bend_tolerance", "bend_share")})
    values.update({f"verdict_{k}": o.verdict for k, o in outcomes.items()})
    return values
