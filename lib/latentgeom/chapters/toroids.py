"""Loss landscapes on toroids (Pittorino et al., ICML 2022): ``book/findings/toroids-landscape.md``.

Pittorino, Ferraro, Perugini, Feinauer, Baldassi & Zecchina, "Deep networks on toroids:
removing symmetries reveals the structure of flat regions in the landscape geometry", ICML
2022 (arXiv:2202.03038). With the rescaling and permutation symmetries of ReLU networks removed
(:mod:`latentgeom.networks.symmetries`), every hidden unit lives on a unit sphere and a network
is a point of a product of spheres (:mod:`latentgeom.networks.weight_space`). The chapter, in
the shape of :mod:`latentgeom.chapters.protocol`:

- :data:`CLAIMS`: the paper's five claims, with the thresholds of their tests and why;
- :data:`SETTINGS`: the scale per preset (:class:`~latentgeom.chapters.toroid_grid.ToroidSettings`);
- :data:`PAGES` and :func:`setup`: the page's parameters, checked, and its :class:`ToroidsStudy`,
  whose :meth:`~ToroidsStudy.plan` is one unit: :func:`latentgeom.chapters.toroid_grid.run`, which
  trains (or loads) every network and measures it (:mod:`latentgeom.networks.toroid_networks`);
- one function per claim turning the measurements into its :class:`~latentgeom.chapters.protocol.
  Outcome` (:func:`flatness_generalisation`, :func:`flat_minima_close`, :func:`geodesic_barriers`,
  :func:`one_bend_paths`, :func:`binary_networks`; all five: :meth:`ToroidsStudy.outcomes`), and
  the page's tables of them (and :func:`~latentgeom.chapters.toroid_grid.recipe_table`, the
  optimisers' table).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Iterable

import pandas as pd

from ..reporting.findings import verdict
from ..reporting.statistics import Correlation, bootstrap_correlation
from ..units import Computation
from ..validation import Parameter
from . import toroid_grid
from .protocol import Claim, Outcome, Page, PresetTable, Study
from .toroid_grid import ToroidSettings, barriers, recipe_table

__all__ = ["BARRIERS", "BINARY", "CLAIMS", "CLOSE_MINIMA", "FLATNESS", "ONE_BEND", "NOTEBOOK", "PAGES", "SETTINGS",
           "ToroidsStudy", "binary_networks", "checks_table",
           "correlation_table", "distance_table", "flat_minima_close", "flatness_generalisation",
           "geodesic_barriers", "mean_distances", "one_bend_paths", "recipe_table", "setup", "verdict_table"]

NOTEBOOK = "book/findings/toroids-landscape.md"  # the chapter's page
SOURCE = "Pittorino et al., ICML 2022 (arXiv:2202.03038)"
_CONFIDENCE_WHY = ("the usual 95 %: the bootstrap interval of Spearman's rho must lie above 0 at this "
                   "confidence for a positive correlation")


def _claim(k: int, slug: str, title: str, statement: str, paper_value: str, **more) -> Claim:
    return Claim(id=f"toroids-{k}-{slug}", title=title, statement=statement, source=SOURCE,
                 paper={"statement": paper_value}, paper_value=paper_value, page=NOTEBOOK, **more)


#: The paper's five claims, in the paper's order (claim k is ``toroids-k-...``).
FLATNESS = _claim(1, "flatness-generalisation", "Flatter minimisers generalise better",
              "Flatter minimisers generalise better: the local energy correlates with the test error.",
              "flatter (lower local energy) minima have lower test error, across algorithms",
              thresholds={"confidence": 0.95}, reasons={"confidence": _CONFIDENCE_WHY},
              preconditions=("the networks are minimisers: trained to zero training error or the epoch "
                             "cap (the tables show each optimiser's training error)",))
CLOSE_MINIMA = _claim(2, "flat-minima-close", "After symmetry removal, flatter minima are closer to each other",
              "After symmetry removal, flatter minima are closer to each other.",
              "flatter minima lie closer together on the product of spheres",
              thresholds={"confidence": 0.95},
              reasons={"confidence": _CONFIDENCE_WHY + "; pairs share networks, so the interval over "
                                                       "pairs is, if anything, too narrow"},
              preconditions=("distances between normalised and aligned networks (both symmetries removed)",))
BARRIERS = _claim(3, "geodesic-barriers", "Small error barriers along geodesics between aligned minima",
              "Error barriers along geodesics between aligned minima are small, and smaller than along "
              "linear paths between the raw networks.",
              "small (near-zero) geodesic barriers; large barriers on linear paths without symmetry removal",
              thresholds={"small_barrier": 0.05, "geodesic_wins": 0.8},
              reasons={"small_barrier": "'small': the median geodesic barrier of the training error is at most "
                                        "5 points of error, an order of magnitude below what a linear path "
                                        "between two independently trained networks typically crosses (tens "
                                        "of points)",
                       "geodesic_wins": "'smaller than linear': the geodesic barrier is below the linear one "
                                        "in at least this share of the pairs"},
              preconditions=("the geodesic joins normalised networks, the second aligned to the first",))
ONE_BEND = _claim(4, "one-bend-paths", "Minimisers connect through a one-bend path at zero training error",
              "Minimisers found by gradient-descent variants connect through a zero-training-error path "
              "with a single bend.", "a one-bend path at zero training error between any two minimisers",
              thresholds={"bend_tolerance": 0.01, "bend_share": 0.75},
              reasons={"bend_tolerance": "'zero training error' at this scale: the path's largest training "
                                         "error exceeds the larger endpoint's by at most 1 point",
                       "bend_share": "in at least this share of the pairs of minima found by different "
                                     "optimisers"},
              preconditions=("the endpoints are minima of different optimisers",))
BINARY = _claim(5, "binary-networks", "Binary networks: the same qualitative picture",
              "The same qualitative results hold for networks with binary weights and activations.",
              "binary networks: flatter minima generalise better and are closer to each other",
              thresholds={"confidence": 0.95}, reasons={"confidence": _CONFIDENCE_WHY},
              preconditions=("the networks' latent weights replaced by their signs (binary weights)",))
CLAIMS: dict[str, Claim] = {c.id: c for c in (FLATNESS, CLOSE_MINIMA, BARRIERS, ONE_BEND, BINARY)}

#: The chapter's scale per preset.
SETTINGS: PresetTable[ToroidSettings] = PresetTable("toroids setting", {
    "tiny": ToroidSettings(name="tiny", n_train=200, n_test=200, architectures=("mlp",),
                           recipes=("SGD bs32", "Adam bs100"), seeds={"mlp": 2}, max_epochs={"mlp": 3},
                           sigmas=(0.2, 0.5), n_perturb=1, path_points=3, path_architectures=("mlp",),
                           bend_steps=5, bend_architectures=("mlp",), binary_recipes=("SGD bs32", "Adam bs100"),
                           binary_seeds=2, binary_sigmas=(0.5,), binary_max_epochs=2),
    "default": ToroidSettings(name="default"),
})


# ---------------------------------------------------------------------------------------------
# The page and its study


@dataclass(kw_only=True)
class ToroidsStudy(Study):
    """The toroids page's run: its settings, bootstrap resamples and seed (data subsets, weight
    noise, bootstrap)."""

    settings: ToroidSettings
    n_boot: int
    seed: int

    def plan(self) -> list:
        """One unit: :func:`~latentgeom.chapters.toroid_grid.run` at the page's settings and seed."""
        return [Computation(toroid_grid.__name__, "run", (self.settings, self.seed), (("progress", False),),
                            label=f"toroidal landscapes at {self.settings.name} (seed {self.seed})")]

    def results(self) -> dict:
        """The measured tables (:func:`~latentgeom.chapters.toroid_grid.run`), computed or read."""
        [frames] = self.measure()
        return frames

    def correlate(self, x, y, confidence: float) -> Correlation:
        """Bootstrap correlation of ``x`` and ``y`` with the page's ``n_boot`` and ``seed``."""
        return bootstrap_correlation(x, y, n_boot=self.n_boot, confidence=confidence, seed=self.seed)

    def outcomes(self, results: dict) -> dict[int, Outcome]:
        """The five claims' outcomes, keyed by claim number."""
        return {1: flatness_generalisation(results, self.correlate), 2: flat_minima_close(results, self.correlate),
                3: geodesic_barriers(results), 4: one_bend_paths(results),
                5: binary_networks(results, self.correlate)}


def setup(preset: str = "default", n_train: int | None = None, n_boot: int = 2000, seed: int = 0) -> ToroidsStudy:
    """The page's preamble: every parameter checked (one ``ValueError`` naming a bad one), the
    preset's settings with ``n_train`` overridden (``None``: the preset's), and the study."""
    values = PAGES["toroids-landscape"].check(dict(preset=preset, n_train=n_train, n_boot=n_boot, seed=seed))
    settings = SETTINGS(values["preset"], n_train=values["n_train"])
    return ToroidsStudy(page=PAGES["toroids-landscape"], settings=settings, n_boot=values["n_boot"],
                        seed=values["seed"],
                        parameters={**asdict(settings), "dataset": "fashion-mnist", "n_boot": values["n_boot"],
                                    "seed": values["seed"]})


PAGES = {"toroids-landscape": Page("findings/toroids-landscape.md", {
    "preset": Parameter("str", choices=SETTINGS.presets, help="the chapter's scale"),
    "n_train": Parameter("int", minimum=20, optional=True, help="training images"),
    "n_boot": Parameter("int", minimum=100, help="bootstrap resamples of the correlations"),
    "seed": Parameter("int", minimum=0, help="seeds the image subsets, the weight noise and the bootstrap"),
}, setup, claims=tuple(CLAIMS))}



# ---------------------------------------------------------------------------------------------
# The claims' checks

Correlate = Callable[..., Correlation]  # (x, y, confidence) -> Correlation, e.g. ToroidsStudy.correlate


def _outcome(claim: Claim, checks: dict, ours: dict, our_value: str) -> Outcome:
    """The outcome of one run of ``checks``; the summary names the failing checks."""
    v = verdict(checks)
    failed = [name for name, ok in checks.items() if not ok]
    summary = f"{v}" + (f" (failing: {'; '.join(failed)})" if failed else "") + f". {our_value}."
    return Outcome(claim=claim, checks=checks, verdict=v, ours=ours, our_value=our_value, summary=summary)


def _positive(corr: Correlation, what: str) -> dict:
    """A positive rank correlation whose bootstrap interval lies above zero."""
    return {f"{what}: Spearman rho > 0, {corr.confidence:.0%} interval above 0": corr.spearman_ci[0] > 0}


def _rho(c: Correlation) -> str:
    return f"Spearman {c.spearman:.2f} [{c.spearman_ci[0]:.2f}, {c.spearman_ci[1]:.2f}] (n={c.n})"


def _by_architecture(frame: pd.DataFrame, x: str, y: str, correlate: Correlate, claim: Claim) -> dict:
    return {a: correlate(g[x], g[y], claim.thresholds["confidence"]) for a, g in frame.groupby("architecture")}


def flatness_generalisation(results: dict, correlate: Correlate) -> Outcome:
    """Claim 1: per architecture, Spearman's rho of flatness (mean local energy) and test error
    over the networks is positive with its interval above 0."""
    claim = FLATNESS
    corr = _by_architecture(results["networks"], "flatness", "test_error", correlate, claim)
    checks = {k: v for a, c in corr.items() for k, v in _positive(c, f"{a}, flatness vs test error").items()}
    return _outcome(claim, checks, {"correlations": corr, "networks": results["networks"].to_dict("records")},
                    "; ".join(f"{a}: {_rho(c)}" for a, c in corr.items()))


def mean_distances(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per architecture: the mean unaligned and aligned distance over the pairs of minima."""
    return pairs.groupby("architecture")[["distance_unaligned", "distance_aligned"]].mean()


def flat_minima_close(results: dict, correlate: Correlate) -> Outcome:
    """Claim 2: per architecture, Spearman's rho of a pair's mean flatness and its aligned
    distance is positive with its interval above 0."""
    claim = CLOSE_MINIMA
    corr = _by_architecture(results["pairs"], "flatness", "distance_aligned", correlate, claim)
    checks = {k: v for a, c in corr.items() for k, v in _positive(c, f"{a}, pair flatness vs distance").items()}
    return _outcome(claim, checks,
                    {"correlations": corr, "mean_distances": mean_distances(results["pairs"]).to_dict("index")},
                    "; ".join(f"{a}: {_rho(c)}" for a, c in corr.items()))


def geodesic_barriers(results: dict) -> Outcome:
    """Claim 3: per architecture, the median geodesic training-error barrier is small and the
    geodesic barrier is below the linear one in most pairs (``ours["barriers"]``: per
    architecture, the medians, the share and the number of pairs)."""
    claim = BARRIERS
    small, wins = claim.thresholds["small_barrier"], claim.thresholds["geodesic_wins"]
    wide = barriers(results["paths"]).pivot_table(index=["architecture", "pair"], columns="kind",
                                                  values="train_barrier")
    checks, stats = {}, {}
    for a, g in wide.groupby("architecture"):
        stats[a] = {"median geodesic barrier": g["geodesic"].median(), "median linear barrier": g["linear"].median(),
                    "share geodesic < linear": float((g["geodesic"] < g["linear"]).mean()), "pairs": len(g)}
        checks[f"{a}: median geodesic train barrier <= {small:g}"] = stats[a]["median geodesic barrier"] <= small
        checks[f"{a}: geodesic barrier < linear in >= {wins:.0%} of pairs"] = \
            stats[a]["share geodesic < linear"] >= wins
    return _outcome(claim, checks, {"barriers": stats}, "; ".join(
        f"{a}: median barrier geodesic {s['median geodesic barrier']:.3f} vs linear "
        f"{s['median linear barrier']:.3f}, geodesic lower in {s['share geodesic < linear']:.0%}"
        for a, s in stats.items()))


def one_bend_paths(results: dict) -> Outcome:
    """Claim 4: per architecture, the one-bend path's largest training error exceeds the larger
    endpoint's by at most the tolerance in enough pairs (``ours["one_bend"]``: per architecture,
    the pairs, the median and largest excess, the share within tolerance, the largest endpoint
    error)."""
    claim = ONE_BEND
    tolerance, enough = claim.thresholds["bend_tolerance"], claim.thresholds["bend_share"]
    b = barriers(results["paths"])
    bend = b[b["kind"] == "one bend"].copy()
    bend["excess"] = bend["max_train_error"] - bend["end_train_error"]
    checks, stats = {}, {}
    for a, g in bend.groupby("architecture"):
        share = float((g["excess"] <= tolerance).mean())
        stats[a] = {"pairs": len(g), "median excess": g["excess"].median(), "max excess": g["excess"].max(),
                    "share within tolerance": share, "largest endpoint train error": g["end_train_error"].max()}
        checks[f"{a}: one-bend path within {tolerance:g} of the endpoints' train error in >= "
               f"{enough:.0%} of pairs"] = share >= enough
    return _outcome(claim, checks, {"one_bend": stats}, "; ".join(
        f"{a}: median excess {s['median excess']:.3f}, within {tolerance:g} in "
        f"{s['share within tolerance']:.0%} of {s['pairs']} pairs" for a, s in stats.items()))


def binary_networks(results: dict, correlate: Correlate) -> Outcome:
    """Claim 5: for the binary MLP, claims 1 and 2's correlations (over networks and over pairs)."""
    claim = BINARY
    confidence = claim.thresholds["confidence"]
    bn, bp = results["binary_networks"], results["binary_pairs"]
    corr = {"flatness vs test error": correlate(bn["flatness"], bn["test_error"], confidence),
            "pair flatness vs distance": correlate(bp["flatness"], bp["distance_aligned"], confidence)}
    checks = {k: v for what, c in corr.items() for k, v in _positive(c, f"binary MLP, {what}").items()}
    return _outcome(claim, checks, {"correlations": corr, "networks": bn.to_dict("records")},
                    "; ".join(f"{w}: {_rho(c)}" for w, c in corr.items()))


# ---------------------------------------------------------------------------------------------
# The page's tables


def correlation_table(correlations: dict, columns=("n", "spearman", "spearman_ci", "pearson", "pearson_ci")):
    """One row per correlation of an outcome's ``ours["correlations"]``: ``columns`` of it."""
    return pd.DataFrame({k: c.as_dict() for k, c in correlations.items()}).T[list(columns)]


def distance_table(outcome: Outcome) -> pd.DataFrame:
    """Claim 2's table: per architecture, the mean unaligned and aligned distance and the rank
    correlation of flatness and distance."""
    return pd.DataFrame(outcome.ours["mean_distances"]).T.join(
        correlation_table(outcome.ours["correlations"], ("spearman", "spearman_ci")))


def verdict_table(outcomes: Iterable[Outcome]) -> pd.DataFrame:
    """One row per claim: the paper's value, ours and the verdict."""
    return pd.DataFrame([{"claim": o.claim.id, "paper": o.claim.paper_value, "ours": o.our_value,
                          "verdict": o.verdict} for o in outcomes]).set_index("claim")


def checks_table(outcomes: Iterable[Outcome]) -> pd.DataFrame:
    """One row per check of every claim: its name and whether it passed."""
    return pd.DataFrame([{"claim": o.claim.id, "check": name, "passed": ok}
                         for o in outcomes for name, ok in o.checks.items()])
