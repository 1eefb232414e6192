"""The training runs of the training-trajectories chapter and the predictions read from them.

Mao et al., PNAS 2024 (arXiv 2305.01604); the chapter is :mod:`.trajectories`. This module holds

- :class:`TrajectorySettings`: the chapter's scale (the chapter's ``SETTINGS`` table holds one
  per preset);
- the run grid: :func:`run_grid` (architectures x widths, and for some architectures Adam, no
  weight decay, augmentation, another seed and very different starts), each a :class:`Run`
  that differs from its base run in one of :data:`FACTORS`, and :func:`checkpoint_steps`
  (fractional epochs -> optimiser steps);
- what a trajectory is made of: the two probe sets (:func:`probes`), a checkpoint's softmax
  outputs on them (:func:`predictions`) and every checkpoint of every run together
  (:class:`Trajectories`, built by the chapter's study from the models its work units give).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd
import torch

from ..estimators import prediction_space as ps
from ..networks.data import DATASETS, load_tensors
from ..networks.training import TrainConfig, steps_per_epoch
from ..validation import check_choice, check_int

__all__ = ["DEFAULT_INIT", "FACTORS", "INIT_STARTS", "SEED_STRIDE", "Run", "Trajectories", "TrajectorySettings",
           "checkpoint_steps", "predictions", "probes", "run_grid"]

#: What may differ between two runs of the grid (the columns of :func:`run_frame`).
FACTORS = ("architecture", "width", "optimizer", "weight_decay", "augmentation", "seed", "initialisation")
#: The ``initialisation`` factor of runs started from the usual random initialisation.
DEFAULT_INIT = "default"
#: Very different starting points a run can have (see ``TrajectorySettings.init_starts``).
INIT_STARTS = ("scaled", "shuffled")
#: Replicate ``r`` of the grid runs at seed ``seed + SEED_STRIDE * r``: its "another seed" variant
#: uses that seed + 1, so with a stride of 2 no run of one replicate shares a seed (an
#: initialisation, a data order) with a run of another.
SEED_STRIDE = 2


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
        ``"scaled"`` only: nothing in the chapter checks that a shuffled-label start is far from
        the normal initialisation at a small pre-training budget (it is a *very different* start
        only with enough epochs to memorise the labels).
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
        Seeds initialisation and data order of the base runs (the "another seed" variant uses
        ``seed + 1``), the training subset and the probes: of the first replicate.
    n_seeds : int
        Independent replicates of the whole grid (:attr:`seeds`): each re-seeds every run
        (initialisation, data order), draws its own training subset and its own probes, and
        the claims are judged on each replicate separately.
    device : str

    Lists given for the tuple fields are stored as tuples.
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
    n_seeds: int = 2
    device: str = "auto"

    def __post_init__(self):
        for f in fields(self):  # a list (a page's or a caller's) becomes the frozen tuple
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        check_choice(self.dataset, "dataset", DATASETS)
        for name in ("n_train", "epochs", "batch_size", "n_probe", "n_test", "n_grid", "pretrain_epochs", "n_seeds"):
            check_int(getattr(self, name), name, minimum=1)
        check_int(self.seed, "seed", minimum=0)
        if len(set(self.widths)) < 2 or len(set(self.widths)) != len(self.widths):
            raise ValueError(f"widths must hold at least two different widths, got {self.widths!r}")
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

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seed of every replicate: ``seed``, ``seed + SEED_STRIDE``, ... (``n_seeds`` of them)."""
        return tuple(self.seed + SEED_STRIDE * r for r in range(self.n_seeds))

    def replicate(self, seed: int) -> "TrajectorySettings":
        """These settings for the replicate of seed ``seed`` (one of :attr:`seeds`): the grid,
        the training subset and the probes of :func:`run_grid` and :func:`probes` at that seed."""
        if seed not in self.seeds:
            raise ValueError(f"seed must be one of the replicates' seeds {self.seeds}, got {seed!r}")
        return replace(self, seed=seed)


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
        """The factors (of :data:`FACTORS`, in that order) in which the two runs differ."""
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
        """Indices of ``run``'s checkpoints in :attr:`checkpoints` and the first axis of ``p``."""
        return np.flatnonzero(self.checkpoints["run"].to_numpy() == run)

    def references(self, probe: str = "train"):
        """(P0, P*) on ``probe``: float64 [N, C] each."""
        labels = self.labels[probe]
        classes = self.p[probe].shape[-1]
        return ps.ignorance(len(labels), classes), ps.truth(labels, classes)
