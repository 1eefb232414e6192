"""The numbers the training-trajectories chapter checks its claims on (Mao et al., PNAS 2024).

The tables of the run grid and of the prediction matrices of
:class:`~.trajectory_runs.Trajectories` (every checkpoint of every run, built by
:meth:`.trajectories.TrajectoriesStudy.collect`):

- :func:`run_frame`: the run grid, one row per run and its factors;
- :func:`embed`: the InPCA embedding of all checkpoints, with P0, P* and the geodesic projected
  in, and every checkpoint's progress (claim 1);
- :func:`pair_distances` and :func:`factor_table`: the trajectory distance of every two runs that
  differ in one factor, and its median per factor (claim 2, and the yardstick of claims 3, 4);
- :func:`base_points` and :func:`width_table`: narrow against wide networks (claim 3);
- :func:`init_table`: very different starts against normal ones (claim 4);
- :class:`Replicate` and :func:`analyse`: all of the above for one replicate of the grid (one
  seed, its own probes), and :func:`stack`: a table of every replicate in one frame.

A table never fails for a grid that lacks what it is about (one architecture, no variants, no
other starts): it is empty, or its number is NaN, and the claim that needs it is not testable.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from ..estimators import prediction_space as ps
from .trajectory_runs import DEFAULT_INIT, Trajectories, TrajectorySettings

__all__ = ["PROBES", "Replicate", "analyse", "architecture_median", "base_points", "embed", "factor_table",
           "init_table", "pair_distances", "run_frame", "stack", "width_table"]

#: The two probe sets a trajectory is read on: training images every run sees, and test images.
PROBES = ("train", "test")
PAIR_COLUMNS = ["factor", "run_a", "run_b", "distance", "architecture"]
INIT_COLUMNS = ["run", "reference", "d_start", "d_end", "d_late", "progress_start"]


def run_frame(runs) -> pd.DataFrame:
    """One row per :class:`~.trajectory_runs.Run`: ``run`` (its name) and its factors
    (:data:`~.trajectory_runs.FACTORS`)."""
    return pd.DataFrame([dict(run=r.name, **r.factors) for r in runs])


def embed(data: Trajectories, probe: str = "train", n_geodesic: int = 21) -> dict:
    """InPCA of all checkpoints on ``probe``, with P0, P* and the geodesic projected in.

    Returns ``inpca`` (:class:`~latentgeom.estimators.prediction_space.InPCA`), ``points``
    (checkpoints frame + ``progress`` + coordinates ``c1, c2, ...``), ``references`` (P0, P*,
    geodesic points with coordinates) and ``distances`` [M, M].
    """
    P = data.p[probe]
    p0, p_star = data.references(probe)
    D = ps.bhattacharyya(P)
    emb = ps.inpca(D)
    k = min(3, emb.coordinates.shape[1])
    points = data.checkpoints.copy()
    points["progress"] = ps.progress(P, p0, p_star)
    for i in range(k):
        points[f"c{i + 1}"] = emb.coordinates[:, i]
    t = np.linspace(0, 1, n_geodesic)
    geo = ps.geodesic(p0, p_star, t)
    ref = emb.project(ps.bhattacharyya(geo, P))[:, :k]
    references = pd.DataFrame({"t": t, "point": ["P0"] + ["geodesic"] * (n_geodesic - 2) + ["P*"],
                               **{f"c{i + 1}": ref[:, i] for i in range(k)}})
    return dict(inpca=emb, points=points, references=references, distances=D)


def pair_distances(data: Trajectories, points: pd.DataFrame, probe: str = "train", n_grid: int = 50) -> pd.DataFrame:
    """Distance between every two runs that differ in exactly one factor (see :data:`FACTORS`).

    Both trajectories are re-indexed on ``n_grid`` common progress values (their overlap) and
    d_B averaged (:func:`~latentgeom.estimators.prediction_space.trajectory_distance`). One row
    per pair: ``factor``, ``run_a``, ``run_b``, ``distance``, ``architecture`` (of ``run_a``).
    """
    rows = []
    for a, b in itertools.combinations(data.runs, 2):
        diff = a.differs(b)
        if len(diff) != 1:
            continue
        ia, ib = data.rows(a.name), data.rows(b.name)
        d = ps.trajectory_distance(data.p[probe][ia], data.p[probe][ib], points["progress"].to_numpy()[ia],
                                   points["progress"].to_numpy()[ib], n_grid=n_grid)
        rows.append(dict(factor=diff[0], run_a=a.name, run_b=b.name, distance=d,
                         architecture=a.factors["architecture"]))
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def factor_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Median, min, max distance (nats per example) and pair count per differing factor (sorted
    by median), and each median over the architecture pairs' (``"/ architecture"``; NaN
    without architecture pairs)."""
    g = pairs.groupby("factor")["distance"]
    table = pd.DataFrame({"pairs": g.size(), "median": g.median(), "min": g.min(), "max": g.max()}) \
        .sort_values("median", ascending=False)
    table["/ architecture"] = table["median"] / architecture_median(table)
    return table


def architecture_median(factors: pd.DataFrame) -> float:
    """The yardstick of claims 2-4: the median distance of the pairs that differ only in
    architecture (:func:`factor_table`), nats per example; NaN when the grid has none."""
    return float(factors.loc["architecture", "median"]) if "architecture" in factors.index else math.nan


def base_points(points: pd.DataFrame, S: TrajectorySettings) -> pd.DataFrame:
    """The checkpoints of the base-recipe runs (every architecture x width; no variants)."""
    return points[(points.optimizer == "sgd") & ~points.augmentation.astype(bool)
                  & (points.initialisation == DEFAULT_INIT) & (points.seed == S.seed)
                  & (points.weight_decay == S.weight_decay)]


def width_table(points: pd.DataFrame, pairs: pd.DataFrame, S: TrajectorySettings) -> pd.DataFrame:
    """Per architecture: narrow vs widest base run, their trajectory distance and progress.

    ``progress_narrow`` / ``progress_wide`` are mean progress over the checkpoints after
    initialisation (same epochs for both); ``ahead`` is the fraction of those checkpoints
    where the wide network is further along.
    """
    rows = []
    base = base_points(points, S)
    widths = sorted(base.width.unique())
    for arch, group in base.groupby("architecture", sort=False):
        narrow = group[group.width == widths[0]].set_index("step")["progress"]
        wide = group[group.width == widths[-1]].set_index("step")["progress"]
        steps = [s for s in narrow.index if s in wide.index and s > 0]
        dist = pairs[(pairs.factor == "width") & (pairs.architecture == arch)]
        ahead = np.mean(wide[steps].to_numpy() > narrow[steps].to_numpy()) if steps else math.nan
        rows.append(dict(architecture=arch, distance=float(dist.distance.median()) if len(dist) else math.nan,
                         progress_narrow=float(narrow[steps].mean()), progress_wide=float(wide[steps].mean()),
                         ahead=float(ahead)))
    return pd.DataFrame(rows, columns=["architecture", "distance", "progress_narrow", "progress_wide", "ahead"])


def init_table(data: Trajectories, points: pd.DataFrame, probe: str = "train", n_grid: int = 50) -> pd.DataFrame:
    """Per run from a non-default start, against its architecture's base run at the same width:

    ``d_start`` / ``d_end``: d_B between the two at initialisation / at the last checkpoint;
    ``d_late``: trajectory distance over the upper half of their common progress range;
    ``progress_start``: the scaled run's progress at initialisation.
    """
    rows = []
    P = data.p[probe]
    prog = points["progress"].to_numpy()
    for run in data.runs:
        if run.factors["initialisation"] == DEFAULT_INIT:
            continue
        ref = next(r for r in data.runs if r.differs(run) == ["initialisation"]
                   and r.factors["initialisation"] == DEFAULT_INIT)
        ia, ib = data.rows(run.name), data.rows(ref.name)
        lo, hi = max(prog[ia].min(), prog[ib].min()), min(prog[ia].max(), prog[ib].max())
        late = ps.trajectory_distance(P[ia], P[ib], prog[ia], prog[ib], n_grid=n_grid, span=(lo + (hi - lo) / 2, hi)) \
            if hi > lo else math.nan
        rows.append(dict(run=run.name, reference=ref.name,
                         d_start=float(ps.bhattacharyya(P[ia[0]], P[ib[0]])[0, 0]),
                         d_end=float(ps.bhattacharyya(P[ia[-1]], P[ib[-1]])[0, 0]), d_late=late,
                         progress_start=float(prog[ia[0]])))
    return pd.DataFrame(rows, columns=INIT_COLUMNS)


@dataclass
class Replicate:
    """The tables of one replicate of the grid (one seed: its runs, training subset and probes),
    on which the claims are judged for that replicate.

    ``embeddings``: :func:`embed` of each probe set of :data:`PROBES`; ``pairs``:
    :func:`pair_distances`; ``factors``: :func:`factor_table`; ``widths``: :func:`width_table`;
    ``inits``: :func:`init_table` (all on the train probes, like the paper's figures).
    """

    seed: int
    data: Trajectories
    embeddings: dict
    pairs: pd.DataFrame
    factors: pd.DataFrame
    widths: pd.DataFrame
    inits: pd.DataFrame

    @property
    def points(self) -> pd.DataFrame:
        """Every checkpoint with its progress and InPCA coordinates on the train probes."""
        return self.embeddings["train"]["points"]

    @property
    def architecture_median(self) -> float:
        """The replicate's yardstick (:func:`architecture_median`), nats per example."""
        return architecture_median(self.factors)


def analyse(data: Trajectories, S: TrajectorySettings) -> Replicate:
    """Every table of one replicate: ``data`` read at the replicate's settings ``S`` (its seed)."""
    embeddings = {probe: embed(data, probe) for probe in PROBES}
    points = embeddings["train"]["points"]
    pairs = pair_distances(data, points, n_grid=S.n_grid)
    return Replicate(seed=S.seed, data=data, embeddings=embeddings, pairs=pairs, factors=factor_table(pairs),
                     widths=width_table(points, pairs, S), inits=init_table(data, points, n_grid=S.n_grid))


def stack(frames: Mapping[int, pd.DataFrame], runs: tuple[str, ...] = ()) -> pd.DataFrame:
    """The frames of several replicates (seed -> frame) in one, with a ``seed`` column first and,
    in the columns named by ``runs``, every run name tagged ``"(seed s)"``: runs of different
    replicates have the same names, and a chart must not join them into one line."""
    tagged = []
    for seed, frame in frames.items():
        frame = frame.reset_index() if frame.index.name else frame.copy()
        for column in runs:
            frame[column] = frame[column].astype(str) + f" (seed {seed})"
        tagged.append(frame.assign(seed=seed)[["seed", *[c for c in frame.columns if c != "seed"]]])
    return pd.concat(tagged, ignore_index=True)
