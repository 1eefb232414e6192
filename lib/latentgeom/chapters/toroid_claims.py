"""The toroidal-landscape paper's five claims and their tests, fixed before the data.

Pittorino et al., ICML 2022 (arXiv:2202.03038); the chapter is :mod:`latentgeom.chapters.toroids`.
Each :class:`~latentgeom.chapters.protocol.Claim` of :data:`CLAIMS` carries the thresholds of its
tests with their reasons and its preconditions; one function per claim turns the measured
tables of every run (:func:`latentgeom.chapters.toroid_grid.combine`) into its
:class:`~latentgeom.chapters.protocol.Outcome`:

- claims 1 and 5 (flatness vs test error) are correlations over independently trained networks,
  pooled over the runs and decided once (:func:`~latentgeom.reporting.statistics.
  bootstrap_correlation`, every network its own unit);
- claims 2 and 5 (the distance of a pair vs its flatness) are Mantel-type permutation tests
  (:func:`~latentgeom.reporting.statistics.mantel_test`): pairs share networks, so the
  networks are permuted, not the pairs;
- claims 3 and 4 (barriers along paths between two minimisers) are judged per run and the
  runs combined (:func:`~latentgeom.reporting.findings.over_seeds`).

Claims 1-4 are about *minimisers*: only networks that reached zero training error count, and
too few of them make a claim "not testable" (a precondition, never a passing check).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..reporting.findings import NOT_TESTABLE, over_seeds, undecided, verdict
from ..reporting.statistics import Correlation, MantelTest, bootstrap_correlation, mantel_test
from .protocol import Claim, Outcome
from .toroid_grid import barriers

__all__ = ["BARRIERS", "BINARY", "CLAIMS", "CLOSE_MINIMA", "FLATNESS", "NOTEBOOK", "ONE_BEND", "binary_networks",
           "flat_minima_close", "flatness_generalisation", "geodesic_barriers", "mantel_alpha", "mean_distances",
           "one_bend_paths"]

NOTEBOOK = "book/findings/toroids-landscape.md"  # the chapter's page
SOURCE = "Pittorino et al., ICML 2022 (arXiv:2202.03038)"
_CONFIDENCE_WHY = ("the usual 95 %: the bootstrap interval of Spearman's rho over the networks (each network "
                   "its own unit) must lie above 0 at this confidence for a positive correlation")
_MANTEL_WHY = ("a pair's distance and its mean flatness are defined on pairs that share networks, so the "
               "test permutes the networks (Mantel-type) and the one-sided p-value must be below "
               "(1 - confidence) / 2 = 0.025: the strength of a two-sided 95 % interval above 0")
_MINIMISER_WHY = ("a minimiser reaches zero training error (the paper's 'solutions'; training stops there): "
                  "a network above it is not a minimum and is left out of the claim")
_NETWORKS_WHY = "a correlation across networks is decided on at least 8 independently trained networks"


def _claim(k: int, slug: str, title: str, statement: str, paper_value: str, **more) -> Claim:
    return Claim(id=f"toroids-{k}-{slug}", title=title, statement=statement, source=SOURCE,
                 paper={"statement": paper_value}, paper_value=paper_value, page=NOTEBOOK, **more)


#: The paper's five claims, in the paper's order (claim k is ``toroids-k-...``).
FLATNESS = _claim(
    1, "flatness-generalisation", "Flatter minimisers generalise better",
    "Flatter minimisers generalise better: the local energy correlates with the test error.",
    "flatter (lower local energy) minima have lower test error, across algorithms",
    thresholds={"confidence": 0.95, "minimiser_error": 0.0, "min_networks": 8},
    reasons={"confidence": _CONFIDENCE_WHY, "minimiser_error": _MINIMISER_WHY, "min_networks": _NETWORKS_WHY},
    preconditions=("every architecture has at least min_networks minimisers over the runs",))
CLOSE_MINIMA = _claim(
    2, "flat-minima-close", "After symmetry removal, flatter minima are closer to each other",
    "After symmetry removal, flatter minima are closer to each other.",
    "flatter minima lie closer together on the product of spheres",
    thresholds={"confidence": 0.95, "minimiser_error": 0.0, "min_networks": 8},
    reasons={"confidence": _MANTEL_WHY, "minimiser_error": _MINIMISER_WHY, "min_networks": _NETWORKS_WHY},
    preconditions=("every architecture has at least min_networks minimisers, in pairs of one run, over the runs",))
BARRIERS = _claim(
    3, "geodesic-barriers", "Small error barriers along geodesics between aligned minima",
    "Error barriers along geodesics between aligned minima are small, and smaller than along "
    "linear paths between the raw networks.",
    "small (near-zero) geodesic barriers; large barriers on linear paths without symmetry removal",
    thresholds={"small_barrier": 0.05, "geodesic_wins": 0.8, "minimiser_error": 0.0, "min_pairs": 4},
    reasons={"small_barrier": "'small': the median geodesic barrier of the training error is at most "
                              "5 points of error, an order of magnitude below what a linear path "
                              "between two independently trained networks typically crosses (tens "
                              "of points)",
             "geodesic_wins": "'smaller than linear': the geodesic barrier is below the linear one in at least "
                              "this share of the pairs; compared with the unaligned linear path (the paper's) "
                              "and with the aligned linear path (B permuted to A, raw weights): the unaligned "
                              "path carries the permutation barrier, which alignment removes by construction, "
                              "so the geodesic must beat the aligned one too (a tie is not a win)",
             "minimiser_error": _MINIMISER_WHY,
             "min_pairs": "a median and a share over pairs of minimisers need at least 4 pairs per architecture "
                          "in every run"},
    preconditions=("every path architecture has at least min_pairs pairs of minimisers in every run",))
ONE_BEND = _claim(
    4, "one-bend-paths", "Minimisers connect through a one-bend path at zero training error",
    "Minimisers found by gradient-descent variants connect through a zero-training-error path "
    "with a single bend.", "a one-bend path at zero training error between any two minimisers",
    thresholds={"bend_tolerance": 0.01, "bend_share": 0.75, "minimiser_error": 0.0, "min_pairs": 1},
    reasons={"bend_tolerance": "'zero training error' at this scale: the path's largest training "
                               "error exceeds the larger endpoint's by at most 1 point; a geodesic above it "
                               "has a barrier",
             "bend_share": "in at least this share of the pairs of minima found by different optimisers whose "
                           "geodesic has a barrier",
             "minimiser_error": _MINIMISER_WHY,
             "min_pairs": "the one bend must remove a barrier: tested only on pairs whose geodesic has one (above "
                          "bend_tolerance), at least this many per run; none: nothing to remove"},
    preconditions=("every bend architecture has at least min_pairs pairs of minimisers of different optimisers "
                   "whose geodesic has a barrier, in every run",))
BINARY = _claim(
    5, "binary-networks", "Binary networks: the same qualitative picture",
    "The same qualitative results hold for networks with binary weights and activations.",
    "binary networks: flatter minima generalise better and are closer to each other",
    thresholds={"confidence": 0.95, "min_networks": 8},
    reasons={"confidence": _CONFIDENCE_WHY + " (flatness vs test error); " + _MANTEL_WHY + " (pairs)",
             "min_networks": _NETWORKS_WHY},
    preconditions=("at least min_networks binary networks (sign weights) over the runs; they are measured as "
                   "trained, whether or not they reached zero training error (the tables show it)",))
CLAIMS: dict[str, Claim] = {c.id: c for c in (FLATNESS, CLOSE_MINIMA, BARRIERS, ONE_BEND, BINARY)}


# ---------------------------------------------------------------------------------------------
# Shared pieces


def mantel_alpha(confidence: float) -> float:
    """The one-sided p-value a Mantel test must beat: ``(1 - confidence) / 2``."""
    return (1 - confidence) / 2


def _minimisers(networks: pd.DataFrame, claim: Claim) -> pd.DataFrame:
    """The networks whose training error is at most the claim's ``minimiser_error``."""
    return networks[networks["train_error"] <= claim.thresholds["minimiser_error"]]


def _summary(head: str, checks: dict, preconditions: dict, our_value: str, not_testable: bool) -> str:
    """The verdict (or seed agreement) with why: the reasons when not testable, else the failing checks."""
    if not_testable:
        why = undecided(checks, preconditions)
    else:
        why = [f"failing: {name}" for name, ok in checks.items() if ok is False]
    return f"{head}" + (f" ({'; '.join(why)})" if why else "") + f". {our_value}."


def _pooled_outcome(claim: Claim, checks: dict, preconditions: dict, ours: dict, our_value: str,
                    pooled_runs: int) -> Outcome:
    """A claim decided once on the pooled networks of ``pooled_runs`` runs: its seed agreement
    is that one decision (``over_seeds([v])``), ``ours["pooled_runs"]`` says how many runs."""
    v = verdict(checks, preconditions)
    return Outcome(claim=claim, checks=checks, verdict=v, ours={**ours, "preconditions": preconditions,
                                                              "pooled_runs": pooled_runs},
                   our_value=our_value, summary=_summary(v, checks, preconditions, our_value, v == NOT_TESTABLE),
                   seeds={"verdict": over_seeds([v]).as_dict()})


def _defined(x, y) -> bool:
    """A rank correlation of ``x`` and ``y`` is defined: neither is constant."""
    return bool(np.ptp(np.asarray(x, float)) > 0 and np.ptp(np.asarray(y, float)) > 0)


def _correlation(frame: pd.DataFrame, x: str, y: str, confidence: float, n_boot: int, seed: int) -> Correlation | None:
    """Bootstrap correlation over the networks of ``frame`` (one row each: every network is its
    own unit, ``clusters`` = its run and name); None when a column is constant."""
    if not _defined(frame[x], frame[y]):
        return None
    units = frame["run"].astype(str) + "/" + frame["network"].astype(str)
    return bootstrap_correlation(frame[x], frame[y], clusters=units, n_boot=n_boot, confidence=confidence, seed=seed)


def _mantel(pairs: pd.DataFrame, flatness: pd.Series, n_boot: int, seed: int) -> MantelTest | None:
    """Mantel test of a pair's aligned distance against its networks' mean flatness, over the
    pairs of one architecture; ``flatness`` is that architecture's, indexed by ``(run,
    network)``. None when the distances are constant or too few networks."""
    ids = {key: i for i, key in enumerate(sorted({*zip(pairs["run"], pairs["a"]), *zip(pairs["run"], pairs["b"])}))}
    if len(ids) < 4 or not _defined(pairs["distance_aligned"], pairs["flatness"]):
        return None
    index = np.array([[ids[(r, a)], ids[(r, b)]] for r, a, b in zip(pairs["run"], pairs["a"], pairs["b"])])
    values = np.array([flatness[key] for key in ids])
    return mantel_test(pairs["distance_aligned"].to_numpy(), values, index, alternative="greater",
                       permutations=n_boot, seed=seed)


def _rho(c: Correlation | None) -> str:
    if c is None:
        return "undefined (a constant column)"
    return f"Spearman {c.spearman:.2f} [{c.spearman_ci[0]:.2f}, {c.spearman_ci[1]:.2f}] (n={c.n})"


def _p(m: MantelTest | None) -> str:
    if m is None:
        return "undefined"
    return f"Mantel Spearman {m.spearman:.2f}, p={m.p_value:.3f} ({m.units} networks, {m.pairs} pairs)"


def _positive(c: Correlation | None) -> bool | None:
    return None if c is None else bool(c.spearman_ci[0] > 0)


def _significant(m: MantelTest | None, confidence: float) -> bool | None:
    return None if m is None or not math.isfinite(m.spearman) else bool(m.p_value < mantel_alpha(confidence))


def _runs(results: dict) -> list:
    return sorted(int(r) for r in results["networks"]["run"].unique())


# ---------------------------------------------------------------------------------------------
# Claims 1, 2 and 5: pooled over the runs, decided once


def flatness_generalisation(results: dict, *, n_boot: int = 2000, seed: int = 0) -> Outcome:
    """Claim 1: per architecture, over the minimisers of every run, Spearman's rho of flatness
    (mean local energy) and test error is positive with its bootstrap interval above 0."""
    claim = FLATNESS
    need, confidence = claim.thresholds["min_networks"], claim.thresholds["confidence"]
    networks = results["networks"]
    checks, pre, corr, units, parts = {}, {}, {}, {}, []
    for a, g in networks.groupby("architecture", sort=False):
        m = _minimisers(g, claim)
        units[a] = {"networks": len(g), "minimisers": len(m), "runs": int(g["run"].nunique())}
        pre[f"{a}: >= {need} minimisers over the runs"] = enough = len(m) >= need
        corr[a] = _correlation(m, "flatness", "test_error", confidence, n_boot, seed) if enough else None
        checks[f"{a}, flatness vs test error: Spearman rho > 0, {confidence:.0%} interval above 0"] = \
            _positive(corr[a]) if enough else None
        parts.append(f"{a}: {_rho(corr[a])}, {len(m)} of {len(g)} networks are minimisers" if enough else
                     f"{a}: {len(m)} of {len(g)} networks are minimisers")
    return _pooled_outcome(claim, checks, pre, {"correlations": {a: c for a, c in corr.items() if c is not None},
                                                "units": units, "networks": networks.to_dict("records")},
                           "; ".join(parts), int(networks["run"].nunique()))


def mean_distances(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per architecture: the mean unaligned and aligned distance over the given pairs."""
    return pairs.groupby("architecture", sort=False)[["distance_unaligned", "distance_aligned"]].mean()


def _pair_test(pairs: pd.DataFrame, flatness: pd.Series, need: int, confidence: float, n_boot: int, seed: int):
    """The Mantel test of one architecture's pairs and whether it passes (None: too few networks)."""
    n_units = len({*zip(pairs["run"], pairs["a"]), *zip(pairs["run"], pairs["b"])})
    test = _mantel(pairs, flatness, n_boot, seed) if n_units >= need else None
    return n_units, test, (_significant(test, confidence) if n_units >= need else None)


def flat_minima_close(results: dict, *, n_boot: int = 2000, seed: int = 0) -> Outcome:
    """Claim 2: per architecture, over the pairs of minimisers of one run (every run pooled), a
    pair's aligned distance rises with its mean flatness: Mantel test, networks permuted."""
    claim = CLOSE_MINIMA
    need, confidence = claim.thresholds["min_networks"], claim.thresholds["confidence"]
    networks, pairs = results["networks"], results["pairs"]
    # network names are unique within an architecture (over every run), not across architectures
    minimisers = set(zip(*[_minimisers(networks, claim)[c] for c in ("run", "architecture", "network")]))
    kept = pairs[[(r, arch, a) in minimisers and (r, arch, b) in minimisers
                  for r, arch, a, b in zip(pairs["run"], pairs["architecture"], pairs["a"], pairs["b"])]]
    checks, pre, tests, parts = {}, {}, {}, []
    for a in pairs["architecture"].unique():
        m = kept[kept["architecture"] == a]
        flatness = networks[networks["architecture"] == a].set_index(["run", "network"])["flatness"]
        n_units, tests[a], ok = _pair_test(m, flatness, need, confidence, n_boot, seed)
        pre[f"{a}: >= {need} minimisers in pairs over the runs"] = n_units >= need
        checks[f"{a}, pair flatness vs distance: Mantel p < {mantel_alpha(confidence):g} (rho > 0)"] = ok
        parts.append(f"{a}: {_p(tests[a])}" if n_units >= need else f"{a}: {n_units} minimisers in pairs")
    return _pooled_outcome(claim, checks, pre, {"mantel": {a: t for a, t in tests.items() if t is not None},
                                                "mean_distances": mean_distances(kept).to_dict("index")},
                           "; ".join(parts), int(results["networks"]["run"].nunique()))


def binary_networks(results: dict, *, n_boot: int = 2000, seed: int = 0) -> Outcome:
    """Claim 5: for the binary MLP (every network, pooled over the runs), claim 1's correlation
    (bootstrap over networks) and claim 2's Mantel test (over every pair of one run)."""
    claim = BINARY
    need, confidence = claim.thresholds["min_networks"], claim.thresholds["confidence"]
    bn, bp = results["binary_networks"], results["binary_pairs"]
    pre = {f"binary MLP: >= {need} networks over the runs": len(bn) >= need}
    corr = _correlation(bn, "flatness", "test_error", confidence, n_boot, seed) if len(bn) >= need else None
    _, test, significant = _pair_test(bp, bn.set_index(["run", "network"])["flatness"], need, confidence, n_boot,
                                      seed)
    checks = {f"binary MLP, flatness vs test error: Spearman rho > 0, {confidence:.0%} interval above 0":
              _positive(corr) if len(bn) >= need else None,
              f"binary MLP, pair flatness vs distance: Mantel p < {mantel_alpha(confidence):g} (rho > 0)": significant}
    zero = int((bn["train_error"] == 0).sum())
    return _pooled_outcome(
        claim, checks, pre,
        {"correlations": {} if corr is None else {"flatness vs test error": corr},
         "mantel": {} if test is None else {"pair flatness vs distance": test},
         "units": {"networks": len(bn), "zero train error": zero, "runs": int(bn["run"].nunique())},
         "networks": bn.to_dict("records")},
        f"flatness vs test error: {_rho(corr)}; pair flatness vs distance: {_p(test)}; "
        f"{zero} of {len(bn)} binary networks at zero training error", int(bn["run"].nunique()))


# ---------------------------------------------------------------------------------------------
# Claims 3 and 4: per run, combined over the runs


def _per_run_outcome(claim: Claim, runs: dict, our_value: str, spread: dict) -> Outcome:
    """A claim judged in every run (``runs``: run seed -> (checks, preconditions, stats)) and
    combined with :func:`over_seeds`; check and precondition names carry the run's seed."""
    checks = {f"seed {r}: {k}": v for r, (c, _, _) in runs.items() for k, v in c.items()}
    pre = {f"seed {r}: {k}": v for r, (_, p, _) in runs.items() for k, v in p.items()}
    agreement = over_seeds([verdict(c, p) for c, p, _ in runs.values()])
    ours = {"runs": {r: {"verdict": verdict(c, p), "stats": s} for r, (c, p, s) in runs.items()},
            "preconditions": pre}
    return Outcome(claim=claim, checks=checks, verdict=agreement.verdict, ours=ours, our_value=our_value,
                   summary=_summary(str(agreement), checks, pre, our_value, agreement.verdict == NOT_TESTABLE),
                   seeds={"verdict": agreement.as_dict()}, spread=spread)


def _spread(runs: dict, names: tuple) -> dict:
    """[min, max] over the runs of each named per-architecture statistic that every run has."""
    out = {}
    for a in {a for _, _, s in runs.values() for a in s}:
        for name in names:
            values = [s[a][name] for _, _, s in runs.values() if a in s and s[a].get(name) is not None]
            if len(values) == len(runs):
                out[f"{a}: {name}"] = [float(min(values)), float(max(values))]
    return out


def _barrier_stats(g: pd.DataFrame) -> dict:
    """Claim 3's numbers over one run's pairs of one architecture (columns: the paths' barriers)."""
    return {"pairs": len(g), "median geodesic barrier": float(g["geodesic"].median()),
            "median linear barrier": float(g["linear"].median()),
            "median aligned linear barrier": float(g["aligned linear"].median()),
            "share geodesic < linear": float((g["geodesic"] < g["linear"]).mean()),
            "share geodesic < aligned linear": float((g["geodesic"] < g["aligned linear"]).mean())}


def geodesic_barriers(results: dict, architectures=None) -> Outcome:
    """Claim 3, in every run and per path architecture (``architectures``; default: those of
    the networks), over the pairs of minimisers: the median geodesic training-error barrier is
    small, and the geodesic barrier is below the unaligned *and* the aligned linear one in most
    pairs (``ours["runs"][seed]["stats"]``: the medians, the shares and the pairs)."""
    claim = BARRIERS
    small, wins, need = (claim.thresholds[k] for k in ("small_barrier", "geodesic_wins", "min_pairs"))
    architectures = architectures or list(results["networks"]["architecture"].unique())
    kinds = ["geodesic", "linear", "aligned linear"]
    b = barriers(results["paths"])
    b = b[b["kind"].isin(kinds)]
    wide = b.pivot_table(index=["run", "architecture", "pair"], columns="kind", values="train_barrier") \
        .reindex(columns=kinds).reset_index() if len(b) else pd.DataFrame(columns=["run", "architecture", *kinds])
    runs = {}
    for r in _runs(results):
        checks, pre, stats = {}, {}, {}
        for a in architectures:
            g = wide[(wide["run"] == r) & (wide["architecture"] == a)]
            pre[f"{a}: >= {need} pairs of minimisers"] = enough = len(g) >= need
            s = stats[a] = _barrier_stats(g) if enough else {"pairs": len(g)}
            checks[f"{a}: median geodesic train barrier <= {small:g}"] = \
                bool(s["median geodesic barrier"] <= small) if enough else None
            for path in ("linear", "aligned linear"):
                checks[f"{a}: geodesic barrier < {path} in >= {wins:.0%} of pairs"] = \
                    bool(s[f"share geodesic < {path}"] >= wins) if enough else None
        runs[r] = (checks, pre, stats)
    return _per_run_outcome(claim, runs, "; ".join(
        f"seed {r}, {a}: " + (f"median barrier geodesic {s['median geodesic barrier']:.3f} vs linear "
                              f"{s['median linear barrier']:.3f} vs aligned linear "
                              f"{s['median aligned linear barrier']:.3f}, geodesic lower in "
                              f"{s['share geodesic < linear']:.0%} / {s['share geodesic < aligned linear']:.0%}"
                              if "median geodesic barrier" in s else f"{s['pairs']} pairs of minimisers")
        for r, (_, _, stats) in runs.items() for a, s in stats.items()),
        _spread(runs, ("median geodesic barrier", "median aligned linear barrier")))


def _bend_stats(pairs: pd.DataFrame, barred: pd.DataFrame, tolerance: float) -> dict:
    """Claim 4's numbers over one run's bend ``pairs`` of one architecture, of which ``barred``
    have a geodesic barrier (the share is None without any)."""
    stats = {"pairs": len(pairs), "pairs with a geodesic barrier": len(barred)}
    if not len(barred):
        return {**stats, "share within tolerance": None}
    return {**stats, "share within tolerance": float((barred["excess"] <= tolerance).mean()),
            "median excess": float(barred["excess"].median()), "max excess": float(barred["excess"].max()),
            "median geodesic barrier": float(barred["geodesic_barrier"].median())}


def one_bend_paths(results: dict, architectures=None) -> Outcome:
    """Claim 4, in every run and per bend architecture (``architectures``; default: those with
    one-bend paths), over the pairs of minimisers of different optimisers whose geodesic has a
    barrier (above the tolerance): the one-bend path's largest training error exceeds the
    larger endpoint's by at most the tolerance in enough pairs."""
    claim = ONE_BEND
    tolerance, enough_share, need = (claim.thresholds[k] for k in ("bend_tolerance", "bend_share", "min_pairs"))
    b = barriers(results["paths"])
    geodesic = b[b["kind"] == "geodesic"].set_index(["run", "architecture", "pair"])["train_barrier"]
    bend = b[b["kind"] == "one bend"].copy()
    bend["excess"] = bend["max_train_error"] - bend["end_train_error"]
    bend["geodesic_barrier"] = [geodesic.get(k, np.nan) for k in zip(bend["run"], bend["architecture"], bend["pair"])]
    architectures = architectures or list(bend["architecture"].unique())
    runs = {}
    for r in _runs(results):
        checks, pre, stats = {}, {}, {}
        for a in architectures:
            pairs = bend[(bend["run"] == r) & (bend["architecture"] == a)]
            barred = pairs[pairs["geodesic_barrier"] > tolerance]
            pre[f"{a}: >= {need} pairs whose geodesic has a barrier > {tolerance:g}"] = enough = len(barred) >= need
            s = stats[a] = _bend_stats(pairs, barred, tolerance)
            checks[f"{a}: one-bend path within {tolerance:g} of the endpoints' train error in >= {enough_share:.0%} "
                   "of the pairs with a geodesic barrier"] = \
                bool(s["share within tolerance"] >= enough_share) if enough else None
        runs[r] = (checks, pre, stats)
    return _per_run_outcome(claim, runs, "; ".join(
        f"seed {r}, {a}: " + (f"median excess {s['median excess']:.3f}, within {tolerance:g} in "
                              f"{s['share within tolerance']:.0%} of {s['pairs with a geodesic barrier']} pairs with "
                              "a geodesic barrier" if s["share within tolerance"] is not None else
                              f"{s['pairs with a geodesic barrier']} of {s['pairs']} pairs have a geodesic barrier")
        for r, (_, _, stats) in runs.items() for a, s in stats.items()),
        _spread(runs, ("median excess", "share within tolerance")))
