"""The claims of the training-trajectories chapter (Mao et al., PNAS 2024), their checks and verdicts.

The chapter is :mod:`.trajectories`; the tables the checks read are :mod:`.trajectory_tables`.
This module holds

- :data:`CLAIMS`: the paper's four claims, with the thresholds of their tests, why, and the
  preconditions without which the tests mean nothing;
- the checks (:func:`checks_low_dimension`, :func:`checks_architecture`, :func:`checks_width`,
  :func:`checks_initialisation`): ``True``/``False``, or ``None`` where the replicate cannot decide
  them (no architecture pairs to measure against, no run from another start, a NaN distance);
- the evidence of one replicate (:class:`Evidence`, from :func:`low_dimension`,
  :func:`architecture`, :func:`width`, :func:`initialisation`; all four: :func:`evidence`);
- the outcomes (:func:`outcomes`): one :class:`~.protocol.Outcome` per claim, its verdict over
  the replicates (:func:`~latentgeom.reporting.findings.over_seeds`: replicates that disagree
  make it "unstable across seeds", one that is not testable makes it "not testable").

Why every claim is judged per replicate. A replicate re-seeds every run of the grid and draws its
own training subset and probes, so replicates are independent; within one, the runs are not: in
claim 2 a base run enters every pair of its architecture's variants and several architecture
pairs, so the pair distances share runs and are no sample of independent units. No interval is
therefore computed over pairs. The medians of claim 2 (and the yardstick of claims 3 and 4) are
descriptive statistics of one replicate, the threshold is applied to them per replicate, and the
evidence that the comparison holds is that independent replicates agree. (A permutation test
over runs was not used: a replicate holds one pair per factor and variant architecture, two at
the default scale, too few arrangements for any level, and it would test "no difference" where
the claim is "at most half".) Claims 3 and 4 are per architecture and per run within a
replicate, and are judged the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from ..reporting.findings import over_seeds, undecided, verdict
from .protocol import Claim, Outcome
from .trajectory_tables import Replicate, architecture_median

__all__ = ["CLAIMS", "INSTRUMENT", "MINOR", "Evidence", "architecture", "checks_architecture",
           "checks_initialisation", "checks_low_dimension", "checks_width", "evidence", "initialisation",
           "low_dimension", "outcomes", "verdict_table", "width"]

PAPER = "Mao et al., PNAS 2024 (arXiv 2305.01604)"
#: The instrument the verdicts are given under (the key of a result file's seed agreement).
INSTRUMENT = "bhattacharyya"
#: The factors the paper finds of minimal influence on a trajectory (claim 2).
MINOR = ("optimizer", "weight_decay", "augmentation", "seed")


def _claim(paper_value: str, **fields) -> Claim:
    """A :class:`~.protocol.Claim` of the paper whose paper side is its headline in words (the
    paper reports these claims as statements and pictures, not numbers)."""
    return Claim(source=PAPER, paper={"statement": paper_value}, paper_value=paper_value, **fields)


_YARDSTICK = "the median trajectory distance of pairs differing only in architecture (claim 2) is the yardstick"
_PER_REPLICATE = ("; judged per replicate (pairs share runs, so their median describes one replicate and "
                  "is never resampled as if the pairs were independent), and the replicates must agree")

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
                                "of pairs differing only in architecture" + _PER_REPLICATE},
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
# The checks: the thresholds above applied to the tables of one replicate


def _finite(*values) -> bool:
    """Every value a finite number (a table of no rows gives no values: not finite)."""
    values = np.asarray(values, dtype=float).ravel()
    return bool(values.size) and bool(np.isfinite(values).all())


def _yardstick(arch_median: float) -> bool:
    """The architecture median can measure the others: a finite, positive distance."""
    return _finite(arch_median) and arch_median > 0


def checks_low_dimension(stress_train, stress_test) -> dict[str, bool | None]:
    """Claim 1 on the explained stress chi_k (k = 1, 2, ...) of the InPCA of each probe set
    (``None``: fewer than three components, or a NaN)."""
    low = LOW_DIMENSION.thresholds["STRESS_TOP3_MIN"]

    def holds(stress):
        return bool(stress[2] >= low) if len(stress) >= 3 and _finite(stress[2]) else None
    return {f"chi_3 >= {low:g} on the train probes": holds(stress_train),
            f"chi_3 >= {low:g} on the test probes": holds(stress_test)}


def checks_architecture(table: pd.DataFrame) -> dict[str, bool | None]:
    """Claim 2 on :func:`~.trajectory_tables.factor_table`: one check per factor of :data:`MINOR`,
    ``None`` where no pair differs in it or there is no yardstick (fewer than two architectures)."""
    ratio = ARCHITECTURE.thresholds["MINOR_RATIO_MAX"]
    arch = architecture_median(table)
    medians = {f: table.loc[f, "median"] if f in table.index else math.nan for f in MINOR}
    return {f"{f}: median <= {ratio:g} x architecture median":
            bool(m <= ratio * arch) if _yardstick(arch) and _finite(m) else None for f, m in medians.items()}


def checks_width(widths: pd.DataFrame, arch_median: float) -> dict[str, bool | None]:
    """Claim 3 on :func:`~.trajectory_tables.width_table` (one row per architecture);
    ``arch_median``: the architecture pairs' median distance, nats per example. ``None`` where an
    architecture's distance or share is NaN, or there is no yardstick."""
    t = WIDTH.thresholds
    share = f"for >= {t['SHARE_MIN']:.0%} of architectures"
    same = (widths["distance"] <= t["SAME_PATH_RATIO_MAX"] * arch_median).mean()
    ahead = (widths["ahead"] > t["AHEAD_MIN"]).mean()
    same_ok = _yardstick(arch_median) and _finite(*widths["distance"])
    return {f"same path (distance <= {t['SAME_PATH_RATIO_MAX']:g} x architecture median) {share}":
            bool(same >= t["SHARE_MIN"]) if same_ok else None,
            f"wider further along (> {t['AHEAD_MIN']:.0%} of checkpoints) {share}":
            bool(ahead >= t["SHARE_MIN"]) if _finite(*widths["ahead"]) else None}


def checks_initialisation(inits: pd.DataFrame, arch_median: float) -> dict[str, bool | None]:
    """Claim 4 on :func:`~.trajectory_tables.init_table` (one row per run from another start);
    ``None`` without such runs, with a NaN distance, or without a yardstick (late check)."""
    converge, late = (INITIALISATION.thresholds[k] for k in ("CONVERGE_RATIO_MAX", "LATE_RATIO_MAX"))
    converged = bool((inits["d_end"] <= converge * inits["d_start"]).all()) \
        if _finite(*inits["d_end"], *inits["d_start"]) else None
    similar = bool((inits["d_late"] <= late * arch_median).all()) \
        if _yardstick(arch_median) and _finite(*inits["d_late"]) else None
    return {f"converge: final distance <= {converge:g} x initial, every run": converged,
            f"similar manifold late: distance <= {late:g} x architecture median, every run": similar}


# --------------------------------------------------------------------------------------------
# One replicate's evidence per claim


@dataclass(frozen=True)
class Evidence:
    """One claim on one replicate: its ``checks`` and ``preconditions`` (names of the claim's
    :attr:`~.protocol.Claim.preconditions` -> held), the replicate's ``numbers`` (the result
    file's ``ours`` per seed), the ``headline`` numbers whose range over the replicates is the
    outcome's spread (name -> (value, format)) and the numbers in words (``text``)."""

    checks: dict
    preconditions: dict
    numbers: dict
    headline: dict
    text: str

    @property
    def verdict(self) -> str:
        """The replicate's verdict (:func:`~latentgeom.reporting.findings.verdict`)."""
        return verdict(self.checks, self.preconditions)


def _span(lo: float, hi: float, form: str) -> str:
    """``lo`` and ``hi`` formatted with ``form``: one number when they print alike."""
    lo, hi = f"{lo:{form}}", f"{hi:{form}}"
    return lo if lo == hi else f"{lo} to {hi}"


def _range(values, form: str) -> str:
    """The range of ``values`` formatted with ``form`` (e.g. ``".2f"``; ``nan`` if none is a number)."""
    values = pd.Series(values, dtype=float)
    return _span(values.min(), values.max(), form)


def low_dimension(embeddings: dict, n_checkpoints: int) -> Evidence:
    """Claim 1 from ``{"train": ..., "test": ...}``, :func:`~.trajectory_tables.embed` of each
    probe set (the explained stress chi_1..3 and the number of time-like components);
    ``n_checkpoints``: how many checkpoints the replicate's runs saved."""
    chi = {p: np.asarray(e["inpca"].stress, dtype=float) for p, e in embeddings.items()}
    top = {p: np.pad(c[:3], (0, max(0, 3 - len(c))), constant_values=np.nan) for p, c in chi.items()}
    embedded = all(len(e["points"]) == n_checkpoints for e in embeddings.values())
    numbers = {p: {f"chi_{k}": float(c[k - 1]) for k in (1, 2, 3)} for p, c in top.items()}
    train, test = top["train"], top["test"]
    return Evidence(checks_low_dimension(chi["train"], chi["test"]),
                    {LOW_DIMENSION.preconditions[0]: embedded},
                    numbers | {"timelike_components": int(embeddings["train"]["inpca"].timelike.sum())},
                    {"chi_3 (train probes)": (train[2], ".2f"), "chi_3 (test probes)": (test[2], ".2f")},
                    f"top 3 InPCA components explain {train[2]:.0%} (train) / {test[2]:.0%} (test) of the stress")


def architecture(factors: pd.DataFrame) -> Evidence:
    """Claim 2 from :func:`~.trajectory_tables.factor_table` (distances in nats per example)."""
    arch = architecture_median(factors)
    minor = {f: float(factors.loc[f, "/ architecture"]) for f in MINOR if f in factors.index}
    preconditions = dict(zip(ARCHITECTURE.preconditions, ("architecture" in factors.index,
                                                          all(f in factors.index for f in MINOR))))
    return Evidence(checks_architecture(factors), preconditions,
                    {"median_distance": factors["median"].to_dict(), "ratio_to_architecture": minor},
                    {f"{f} / architecture median": (v, ".3g") for f, v in minor.items()},
                    f"architecture pairs median {arch:.3g} nats; "
                    + ", ".join(f"{k} {v:.3g}x" for k, v in minor.items()))


def width(widths: pd.DataFrame, arch_median: float) -> Evidence:
    """Claim 3 from :func:`~.trajectory_tables.width_table`; ``arch_median``: the yardstick,
    the architecture pairs' median distance (nats per example)."""
    numbers = {r.architecture: {k: float(getattr(r, k)) for k in ("distance", "progress_narrow", "progress_wide",
                                                                  "ahead")} for r in widths.itertuples()}
    preconditions = dict(zip(WIDTH.preconditions, (_finite(*widths["distance"], *widths["ahead"]),
                                                   _yardstick(arch_median))))
    ratio = widths.distance / arch_median
    return Evidence(checks_width(widths, arch_median), preconditions,
                    numbers | {"architecture_median": float(arch_median)},
                    {"narrow-vs-wide distance / architecture median (worst architecture)": (ratio.max(), ".2f"),
                     "share of checkpoints with the wide network ahead (least)": (widths.ahead.min(), ".0%")},
                    f"wide networks ahead at {_range(widths.ahead, '.0%')} of checkpoints; narrow-vs-wide "
                    f"distance / architecture median {_range(ratio, '.2f')}")


def initialisation(inits: pd.DataFrame, arch_median: float) -> Evidence:
    """Claim 4 from :func:`~.trajectory_tables.init_table`; ``arch_median`` as for :func:`width`."""
    numbers = {r.run: {k: float(getattr(r, k)) for k in ("d_start", "d_end", "d_late", "progress_start")}
               for r in inits.itertuples()}
    preconditions = dict(zip(INITIALISATION.preconditions, (len(inits) > 0, _yardstick(arch_median))))
    converged, late = inits.d_end / inits.d_start, inits.d_late / arch_median
    return Evidence(checks_initialisation(inits, arch_median), preconditions,
                    numbers | {"architecture_median": float(arch_median)},
                    {"d_end / d_start (worst run)": (converged.max(), ".2f"),
                     "late distance / architecture median (worst run)": (late.max(), ".2f")},
                    f"final / initial distance {_range(converged, '.2f')}; "
                    f"late-trajectory distance / architecture median {_range(late, '.2f')}")


def evidence(replicate: Replicate) -> list[Evidence]:
    """The four claims' evidence on one replicate, in the order of :data:`CLAIMS`; the
    replicate's architecture median is the yardstick of the last three."""
    arch = replicate.architecture_median
    n_checkpoints = sum(len(run.config.checkpoint_steps) for run in replicate.data.runs)
    return [low_dimension(replicate.embeddings, n_checkpoints), architecture(replicate.factors),
            width(replicate.widths, arch), initialisation(replicate.inits, arch)]


# --------------------------------------------------------------------------------------------
# The outcomes: every replicate's evidence combined


def outcome(claim: Claim, per_seed: Mapping[int, Evidence], runs: int) -> Outcome:
    """``claim``'s :class:`~.protocol.Outcome` from its evidence on every replicate (seed ->
    :class:`Evidence`, the first seed's checks are the outcome's); ``runs``: training runs per
    replicate. The verdict is :func:`~latentgeom.reporting.findings.over_seeds` of the
    replicates' verdicts; ``spread`` each headline number's [min, max] over the replicates."""
    agreement = over_seeds([e.verdict for e in per_seed.values()])
    primary = next(iter(per_seed.values()))
    spread, text = {}, []
    for name, (_, form) in primary.headline.items():
        values = {s: float(e.headline[name][0]) for s, e in per_seed.items() if name in e.headline}
        defined = [v for v in values.values() if math.isfinite(v)]
        spread[name] = [min(defined), max(defined)] if defined else [math.nan, math.nan]
        missing = [str(s) for s, v in values.items() if not math.isfinite(v)]
        text.append(f"{name} {_span(*spread[name], form)}"
                    + (f" (undefined for seed {', '.join(missing)})" if missing else ""))
    our_value = "; ".join(text) + f" ({len(per_seed)} seeds)"
    why = [f"seed {s}: {r}" for s, e in per_seed.items() for r in undecided(e.checks, e.preconditions)]
    summary = (f"{agreement.verdict}: {agreement.agree} of {agreement.runs} seeds {agreement.majority}. "
               + " ".join(f"Seed {s} ({e.verdict}): {e.text}." for s, e in per_seed.items())
               + (f" Not decided: {'; '.join(why)}." if why else ""))
    ours = {"per_seed": {f"seed {s}": {**e.numbers, "verdict": e.verdict, "checks": e.checks,
                                       "preconditions": e.preconditions} for s, e in per_seed.items()},
            "preconditions": {k: all(e.preconditions[k] for e in per_seed.values()) for k in primary.preconditions},
            "replicates": len(per_seed), "runs_per_replicate": runs}
    return Outcome(claim, checks=primary.checks, verdict=agreement.verdict, ours=ours, our_value=our_value,
                   summary=summary, seeds={INSTRUMENT: agreement.as_dict()}, spread=spread)


def outcomes(replicates: Mapping[int, Replicate]) -> list[Outcome]:
    """One :class:`~.protocol.Outcome` per claim of :data:`CLAIMS`, in order, from every
    replicate (seed -> :class:`~.trajectory_tables.Replicate`)."""
    if not replicates:
        raise ValueError("outcomes() needs at least one replicate")
    per_seed = {seed: evidence(r) for seed, r in replicates.items()}
    runs = len(next(iter(replicates.values())).data.runs)
    return [outcome(claim, {seed: found[i] for seed, found in per_seed.items()}, runs)
            for i, claim in enumerate(CLAIMS.values())]


def verdict_table(found: list[Outcome]) -> pd.DataFrame:
    """Every precondition and check of every outcome, indexed by (claim, check): held or passed
    on each replicate (columns ``seed s``; ``None``: undecided), the claim's verdict per
    replicate, and over them (``verdict``, ``seeds agree``)."""
    rows = []
    for o in found:
        per_seed = o.ours["per_seed"]
        agree = f"{o.seeds[INSTRUMENT]['agree']}/{o.seeds[INSTRUMENT]['runs']}"
        names = [("precondition: " + k, "preconditions", k) for k in o.claim.preconditions] + \
                [(k, "checks", k) for k in o.checks] + [("verdict of the seed", "verdict", None)]
        for label, field, key in names:
            row = {seed: (numbers[field] if key is None else numbers[field].get(key))
                   for seed, numbers in per_seed.items()}
            rows.append(dict(claim=o.claim.id, check=label, **row, verdict=o.verdict, **{"seeds agree": agree}))
    return pd.DataFrame(rows).set_index(["claim", "check"])
