"""Study code of the training-trajectories chapter (Mao et al., PNAS 2024, arXiv 2305.01604).

Used by ``book/findings/trajectories-prediction-space.md``. A training run becomes a
*trajectory* in prediction space: the class probabilities of the network at every checkpoint
(dense early, at fractions of an epoch, including initialisation) on two fixed probe sets of
training and test images. The estimators (Bhattacharyya distance, InPCA, progress, trajectory
distance) are in :mod:`latentgeom.estimators.prediction_space`; this module holds

- :class:`TrajectorySettings` and :data:`SETTINGS` (per preset; override with
  :func:`trajectory_settings`), the run grid :func:`run_grid` (architectures x widths, and
  for some architectures Adam, no weight decay, augmentation, another seed and scaled-up
  initial weights), and :func:`checkpoint_steps` (fractional epochs -> optimiser steps);
- :func:`collect`: trains every run (cached in the model cache, sub-epoch checkpoints via
  ``TrainConfig.checkpoint_steps``) and returns the prediction matrices (:class:`Trajectories`);
- :func:`embed`, :func:`pair_distances`, :func:`factor_table`, :func:`base_points`, :func:`width_table`,
  :func:`init_table`: the numbers
  the four claims are checked on; :func:`trajectory_chart`, :func:`distance_chart`,
  :func:`progress_chart`: the chapter's altair charts; :func:`write_findings`: its four
  result files.
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import asdict, dataclass, replace

import altair as alt
import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..reporting.findings import Finding, verdict, write_finding
from ..estimators import prediction_space as ps
from ..networks.data import DATASETS, load_tensors
from ..networks.training import TrainConfig, load_step, steps_per_epoch, train
from ..validation import check_choice, check_int, resolve_device
from .protocol import with_overrides

#: What may differ between two runs of the grid (the columns of :func:`run_frame`).
FACTORS = ("architecture", "width", "optimizer", "weight_decay", "augmentation", "seed", "initialisation")
NOTEBOOK = "book/findings/trajectories-prediction-space.md"
#: The ``initialisation`` factor of runs started from the usual random initialisation.
DEFAULT_INIT = "default"
#: Very different starting points a run can have (see ``TrajectorySettings.init_starts``).
INIT_STARTS = ("scaled", "shuffled")
PAPER = "Mao et al., PNAS 2024 (arXiv 2305.01604)"


@dataclass(frozen=True)
class TrajectorySettings:
    """Scale of the training-trajectories chapter.

    Attributes
    ----------
    name : str
        The preset (``"tiny"``, ``"default"``).
    dataset : str
    architectures : tuple of str
        Families of the grid, each trained at every width with the base recipe.
    widths : tuple of int
        Two (or more) width multipliers; the first is the width of the variants.
    variant_architectures : tuple of str
        Families that also get one run per variant: Adam, no weight decay, augmentation,
        another seed (each differing from the base run in that one factor).
    init_architectures : tuple of str
        Families that also get runs from very different starting points (``init_starts``).
    init_starts : tuple of str
        ``"scaled"``: initial weights multiplied by ``init_scale``; ``"shuffled"``: the network
        first trained ``pretrain_epochs`` epochs on shuffled labels. The default grid uses
        ``"scaled"`` only: at its scale (2 epochs on 2,000 images) shuffled-label pretraining
        leaves the predictions within d_B = 0.01 of the normal initialisation, so it is not a
        *very different* start (it is one with enough epochs to memorise the labels).
    init_scale : float
        Factor on every initial weight (confident random predictions, far from P0).
    pretrain_epochs : int
        Epochs on shuffled labels before the real training starts.
    n_train, epochs, batch_size : int
        Training subset (the same images for every run), epochs and batch size.
    lr_sgd, lr_adam, weight_decay : float
        Peak learning rates (cosine schedule) and the base recipe's weight decay.
    checkpoints : tuple of float
        Checkpoint times in epochs (fractions early on; 0 = initialisation).
    n_probe : int
        Images of each probe set (training images the networks see; test images).
    n_test : int
        Test images for the final test accuracy.
    n_grid : int
        Progress values on which two trajectories are compared.
    seed : int
        Seeds initialisation and data order of the base runs (variants use ``seed + 1``), the
        training subset and the probes.
    device : str
    """

    name: str = "default"
    dataset: str = "fashion-mnist"
    architectures: tuple[str, ...] = ("mlp", "plain_cnn", "vgg_small", "resnet_small")
    widths: tuple[int, ...] = (4, 8)
    variant_architectures: tuple[str, ...] = ("mlp", "plain_cnn")
    init_architectures: tuple[str, ...] = ("mlp", "plain_cnn")
    init_starts: tuple[str, ...] = ("scaled",)
    init_scale: float = 3.0
    pretrain_epochs: int = 2
    n_train: int = 2000
    epochs: int = 4
    batch_size: int = 64
    lr_sgd: float = 0.05
    lr_adam: float = 0.002
    weight_decay: float = 5e-4
    checkpoints: tuple[float, ...] = (0, 1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2, 3 / 4, 1, 1.5, 2, 3, 4)
    n_probe: int = 300
    n_test: int = 1000
    n_grid: int = 50
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        check_choice(self.dataset, "dataset", DATASETS)
        for name in ("n_train", "epochs", "batch_size", "n_probe", "n_test", "n_grid", "pretrain_epochs"):
            check_int(getattr(self, name), name, minimum=1)
        check_int(self.seed, "seed", minimum=0)
        if len(self.widths) < 2:
            raise ValueError(f"widths must hold at least two widths, got {self.widths!r}")
        if self.n_probe > self.n_train:
            raise ValueError(f"n_probe ({self.n_probe}) must be <= n_train ({self.n_train}): "
                             "the training probe is drawn from the training images")
        bad_starts = set(self.init_starts) - set(INIT_STARTS)
        if bad_starts:
            raise ValueError(f"init_starts must be among {INIT_STARTS}, got {sorted(bad_starts)}")
        for name in ("variant_architectures", "init_architectures"):
            bad = set(getattr(self, name)) - set(self.architectures)
            if bad:
                raise ValueError(f"{name} must be among architectures {self.architectures}, got {sorted(bad)}")
        if not self.checkpoints or min(self.checkpoints) != 0 or max(self.checkpoints) > self.epochs:
            raise ValueError(f"checkpoints must start at 0 and lie in [0, epochs={self.epochs}], "
                             f"got {self.checkpoints!r}")


SETTINGS: dict[str, TrajectorySettings] = {
    # tests: two cheap families, one epoch on 256 images, checkpoints at 0, 1/4, 1/2, 1 epoch
    "tiny": TrajectorySettings(name="tiny", architectures=("mlp", "plain_cnn"), widths=(2, 4), variant_architectures=("mlp",),
                               init_architectures=("mlp",), n_train=256, epochs=1, checkpoints=(0, 0.25, 0.5, 1),
                               n_probe=60, n_test=200, n_grid=20),
    # 2 CPU cores, a few minutes from a cold cache: 18 runs of 4 epochs on 2000 images
    "default": TrajectorySettings(),
}


def trajectory_settings(preset: str, **overrides) -> TrajectorySettings:
    """The chapter's settings for ``preset`` with single fields overridden (None keeps the preset's)."""
    check_choice(preset, "preset", SETTINGS)
    for name in ("architectures", "widths", "variant_architectures", "init_architectures", "init_starts",
                 "checkpoints"):
        if overrides.get(name) is not None:
            overrides[name] = tuple(overrides[name])
    return with_overrides(SETTINGS[preset], "trajectory settings", **overrides)


def checkpoint_steps(config: TrainConfig, epochs) -> tuple[int, ...]:
    """Optimiser steps of the checkpoint times ``epochs`` (fractional epochs, rounded to steps)."""
    per = steps_per_epoch(config)
    return tuple(sorted({int(round(e * per)) for e in epochs}))


@dataclass(frozen=True)
class Run:
    """One training run of the grid: its name, config and the value of every factor."""

    name: str
    config: TrainConfig
    factors: dict

    def differs(self, other: "Run") -> list[str]:
        return [f for f in FACTORS if self.factors[f] != other.factors[f]]


def _initialisation(config: TrainConfig) -> str:
    if config.pretrain_random_label_epochs:
        return f"pretrained {config.pretrain_random_label_epochs} ep on shuffled labels"
    return DEFAULT_INIT if config.init_scale == 1 else f"weights x{config.init_scale:g}"


def _run(S: TrajectorySettings, architecture: str, width: int, variant: str = "base") -> Run:
    base = dict(dataset=S.dataset, model=architecture, width=width, n_train=S.n_train, epochs=S.epochs,
                batch_size=S.batch_size, lr=S.lr_sgd, momentum=0.9, weight_decay=S.weight_decay,
                augment=False, n_test=S.n_test, seed=S.seed, data_seed=S.seed)
    change = {"base": {}, "adam": dict(optimizer="adam", lr=S.lr_adam), "no wd": dict(weight_decay=0.0),
              "augment": dict(augment=True), "seed": dict(seed=S.seed + 1),
              "scaled": dict(init_scale=S.init_scale),
              "shuffled": dict(pretrain_random_label_epochs=S.pretrain_epochs)}[variant]
    config = TrainConfig(**{**base, **change})
    config = replace(config, checkpoint_steps=checkpoint_steps(config, S.checkpoints))
    factors = dict(architecture=architecture, width=width, optimizer=config.optimizer,
                   weight_decay=config.weight_decay, augmentation=config.augment, seed=config.seed,
                   initialisation=_initialisation(config))
    name = f"{architecture} w{width}" + ("" if variant == "base" else f" {variant}")
    return Run(name, config, factors)


def run_grid(S: TrajectorySettings) -> list[Run]:
    """Architectures x widths (base recipe: SGD, weight decay, no augmentation), then per variant
    architecture Adam / no weight decay / augmentation / seed + 1, then per init architecture the
    very different starts of ``init_starts``."""
    runs = [_run(S, a, w) for a in S.architectures for w in S.widths]
    runs += [_run(S, a, S.widths[0], v) for a in S.variant_architectures for v in ("adam", "no wd", "augment", "seed")]
    runs += [_run(S, a, S.widths[0], v) for a in S.init_architectures for v in S.init_starts]
    return runs


def run_frame(runs) -> pd.DataFrame:
    """One row per run: name and factors."""
    return pd.DataFrame([dict(run=r.name, **r.factors) for r in runs])


def probes(S: TrajectorySettings):
    """The two probe sets: ``n_probe`` images of the (shared) training subset, and of the test split.

    Returns ``{"train": (images, labels), "test": (images, labels)}``.
    """
    train_images, train_labels = load_tensors(S.dataset, "train", n=S.n_train, seed=S.seed)
    return {"train": (train_images[:S.n_probe], train_labels[:S.n_probe]),
            "test": load_tensors(S.dataset, "test", n=S.n_probe, seed=S.seed)}


def predictions(model, images: torch.Tensor, device, batch_size: int = 500) -> np.ndarray:
    """Softmax probabilities float64 [N, C] of ``model`` (eval mode) on ``images`` [N, ...]."""
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(images), batch_size):
            out.append(torch.softmax(model(images[s:s + batch_size].to(device)).double(), 1).cpu())
    return torch.cat(out).numpy()


@dataclass
class Trajectories:
    """Prediction matrices of every checkpoint of every run.

    ``checkpoints``: one row per checkpoint (``run``, ``step``, ``epoch`` and the run's factors),
    in run then step order; ``p[probe]``: float64 [M, N, C] for ``probe`` in ``("train", "test")``;
    ``labels[probe]``: int [N]; ``runs``: the :class:`Run` list; ``accuracy``: final accuracies.
    """

    runs: list
    checkpoints: pd.DataFrame
    p: dict
    labels: dict
    accuracy: pd.DataFrame

    def rows(self, run: str) -> np.ndarray:
        return np.flatnonzero(self.checkpoints["run"].to_numpy() == run)

    def references(self, probe: str = "train"):
        """(P0, P*) on ``probe``: float64 [N, C] each."""
        labels = self.labels[probe]
        classes = self.p[probe].shape[-1]
        return ps.ignorance(len(labels), classes), ps.truth(labels, classes)


def collect(S: TrajectorySettings, *, progress: bool = True) -> Trajectories:
    """Train (or load from the model cache) every run of :func:`run_grid` and read its checkpoints."""
    device = resolve_device(S.device)
    sets = probes(S)
    runs = run_grid(S)
    rows, p, acc = [], {k: [] for k in sets}, []
    for run in tqdm(runs, desc="training runs", disable=not progress):
        final = train(run.config, device=S.device, progress=False)
        acc.append(dict(run=run.name, train_accuracy=final.train_accuracy, test_accuracy=final.test_accuracy))
        per = steps_per_epoch(run.config)
        for step in run.config.checkpoint_steps:
            model = load_step(run.config, step, device=S.device).model
            rows.append(dict(run=run.name, step=step, epoch=step / per, **run.factors))
            for k, (images, _) in sets.items():
                p[k].append(predictions(model, images, device))
    return Trajectories(runs, pd.DataFrame(rows), {k: np.stack(v) for k, v in p.items()},
                        {k: v[1].numpy() for k, v in sets.items()}, pd.DataFrame(acc))


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
    return pd.DataFrame(rows)


def factor_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Median, min, max distance and pair count per differing factor (sorted by median)."""
    g = pairs.groupby("factor")["distance"]
    return pd.DataFrame({"pairs": g.size(), "median": g.median(), "min": g.min(), "max": g.max()}) \
        .sort_values("median", ascending=False)


def base_points(points: pd.DataFrame, S: TrajectorySettings) -> pd.DataFrame:
    """The checkpoints of the base-recipe runs (every architecture x width; no variants)."""
    return points[(points.optimizer == "sgd") & ~points.augmentation.astype(bool) & (points.initialisation == DEFAULT_INIT)
                  & (points.seed == S.seed) & (points.weight_decay == S.weight_decay)]


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
        rows.append(dict(architecture=arch, distance=float(dist.distance.median()) if len(dist) else math.nan,
                         progress_narrow=float(narrow[steps].mean()), progress_wide=float(wide[steps].mean()),
                         ahead=float(np.mean(wide[steps].to_numpy() > narrow[steps].to_numpy()))))
    return pd.DataFrame(rows)


def init_table(data: Trajectories, points: pd.DataFrame, probe: str = "train", n_grid: int = 50) -> pd.DataFrame:
    """Per run from a non-default start, against its architecture's base run at the same width:

    ``d_start`` / ``d_end``: d_B between the two at initialisation / at the last checkpoint;
    ``d_late``: trajectory distance over the upper half of their common progress range;
    ``progress_start``: the scaled run's progress at initialisation.
    """
    rows = []
    by_name = {r.name: r for r in data.runs}
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
        rows.append(dict(run=run.name, reference=by_name[ref.name].name,
                         d_start=float(ps.bhattacharyya(P[ia[0]], P[ib[0]])[0, 0]),
                         d_end=float(ps.bhattacharyya(P[ia[-1]], P[ib[-1]])[0, 0]), d_late=late,
                         progress_start=float(prog[ia[0]])))
    return pd.DataFrame(rows)


# --- charts -------------------------------------------------------------------------------------

def trajectory_chart(points: pd.DataFrame, references: pd.DataFrame, *, color: str = "architecture",
                     pairs=((1, 2), (1, 3), (2, 3)), title: str = "", width: int = 300) -> alt.ConcatChart:
    """Trajectories in pairs of InPCA components (one panel per pair), with P0, P* and the geodesic."""
    panels = []
    data = points.assign(epoch=points.epoch.round(3))
    for i, j in pairs:
        x, y = f"c{i}", f"c{j}"
        if x not in points or y not in points:
            continue
        enc = dict(x=alt.X(f"{x}:Q", title=f"InPCA {i}"), y=alt.Y(f"{y}:Q", title=f"InPCA {j}"))
        lines = alt.Chart(data).mark_line(point=alt.OverlayMarkDef(size=12), opacity=0.7).encode(
            **enc, color=alt.Color(f"{color}:N"), detail="run:N", order="step:Q",
            tooltip=["run", "epoch", "progress"])
        geo = alt.Chart(references).mark_line(color="black", strokeDash=[4, 3]).encode(**enc, order="t:Q")
        ends = alt.Chart(references[references.point != "geodesic"]).mark_point(
            color="black", filled=True, size=70, shape="diamond").encode(**enc, tooltip=["point"])
        labels = alt.Chart(references[references.point != "geodesic"]).mark_text(dx=12, dy=-8).encode(
            **enc, text="point:N")
        panels.append((geo + lines + ends + labels).properties(width=width, height=width))
    return alt.concat(*panels, columns=3).properties(title=title)


def distance_chart(pairs: pd.DataFrame, title: str = "", width: int = 360) -> alt.LayerChart:
    """Trajectory distance of every one-factor pair (points) and the median per factor (ticks)."""
    order = list(pairs.groupby("factor")["distance"].median().sort_values(ascending=False).index)
    x = alt.X("factor:N", sort=order, title="what differs between the two runs")
    pts = alt.Chart(pairs).mark_circle(size=50, opacity=0.7).encode(
        x=x, y=alt.Y("distance:Q", title="trajectory distance (d_B, nats/example)"),
        color=alt.Color("architecture:N"), tooltip=["run_a", "run_b", "distance"])
    med = alt.Chart(pairs).mark_tick(color="black", thickness=2, size=30).encode(x=x, y="median(distance):Q")
    return (pts + med).properties(width=width, height=240, title=title)


def progress_chart(points: pd.DataFrame, title: str = "", width: int = 340) -> alt.Chart:
    """Progress along the P0 -> P* geodesic against epochs, one line per run."""
    return alt.Chart(points).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epoch"), y=alt.Y("progress:Q", title="progress t along P0 → P*"),
        color=alt.Color("architecture:N"), strokeDash=alt.StrokeDash("width:N"), detail="run:N",
        tooltip=["run", "epoch", "progress"]).properties(width=width, height=240, title=title)


# --- result files -------------------------------------------------------------------------------

CLAIMS = {
    "trajectories-1-low-dimension": dict(
        title="Training trajectories explore a low-dimensional manifold",
        paper_claim="The trajectories of many networks, from P0 to P*, lie on an effectively low-dimensional "
                    "manifold: the top few InPCA components explain most of the stress.",
        paper_value="top 3 InPCA components explain most of the stress (trajectories bow away from the geodesic)"),
    "trajectories-2-architecture": dict(
        title="Architecture separates trajectories; optimiser, regularisation, seed barely do",
        paper_claim="Networks with different architectures follow distinguishable trajectories; optimiser, "
                    "weight decay, augmentation and seed have a minimal influence.",
        paper_value="architecture pairs far apart; other factors minimal"),
    "trajectories-3-width": dict(
        title="Wider networks follow the same path, further along",
        paper_claim="Larger networks train along a similar manifold as smaller ones, just faster.",
        paper_value="same manifold, wider is further along at a given epoch"),
    "trajectories-4-initialisation": dict(
        title="Very different initialisations converge along a similar manifold",
        paper_claim="Networks initialised at very different parts of prediction space converge to the "
                    "solution along a similar manifold.",
        paper_value="different starting points merge onto the same manifold"),
}


def write_findings(results: dict, S: TrajectorySettings, started: float) -> pd.DataFrame:
    """Write one result file per claim; ``results[finding_id] = dict(checks=..., ours=..., our_value=...,
    summary=...)``. Returns the table of ids and verdicts."""
    rows, seconds = [], time.perf_counter() - started
    for finding_id, r in results.items():
        claim = CLAIMS[finding_id]
        v = verdict(r["checks"])
        write_finding(Finding(finding_id=finding_id, title=claim["title"], notebook=NOTEBOOK,
                              paper_claim=claim["paper_claim"], paper={"source": PAPER, "statement": claim["paper_value"]},
                              ours=r["ours"], checks=r["checks"], verdict=v, parameters=asdict(S),
                              paper_value=claim["paper_value"], our_value=r["our_value"],
                              summary=f"{v}: {r['summary']}", seconds=seconds))
        rows.append(dict(finding=finding_id, verdict=v, our_value=r["our_value"]))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# The sweep (python -m latentgeom sweep): what the trajectories page trains


def work_units(preset: str) -> list:
    """The units of :mod:`latentgeom.sweep` that ``book/findings/trajectories-prediction-space.md``
    needs: every run of :func:`run_grid` with its checkpoint steps, at the page's parameters."""
    from .. import sweep

    page = sweep.page_parameters("findings/trajectories-prediction-space.md")
    S = trajectory_settings(preset, **{k: page.get(k) for k in ("n_train", "epochs", "n_probe", "seed")})
    return [sweep.Train(run.config) for run in run_grid(S)]
