"""What determines a trained network: :class:`TrainConfig` (and so its cache key), the
result type :class:`TrainedModel` and the measured recipes.

Split from :mod:`latentgeom.networks.training` (the loop) so that a reader of the recipe need
not read the loop; every name here is re-exported there.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, fields

import numpy as np

from .data import DATASETS, dataset_info
from .models import MODELS, SMALL_MODELS, ProbedModel

CONFIG_VERSION = 1
OPTIMIZERS = ("sgd", "adam")
#: The training step's arithmetic (:attr:`TrainConfig.precision`).
PRECISIONS = ("bfloat16", "float32")
#: Fields added after CONFIG_VERSION 1, with the value at which each reproduces the version-1
#: loop: a field enters the cache key only when it differs from that value, so every earlier
#: config keeps its key, and a config trained another way (bfloat16) never meets a model of
#: the old loop in the cache.
_LATER_FIELDS = dict(optimizer="sgd", init_scale=1.0, data_seed=None, pretrain_random_label_epochs=0,
                     precision="float32")
#: Revision of the bfloat16 loop's arithmetic, in the cache key of every bfloat16 config from
#: revision 2 on, so that a cached model is always one the current loop trains (a revision
#: changes roundings, not the recipe). 1: batch norm in the channels-last kernel; 2: narrow
#: layers' batch norm in the contiguous layout (:mod:`latentgeom.networks.batch_norm`).
BFLOAT16_LOOP = 2
#: Images in each dataset's training split (for the steps of an epoch when ``n_train`` is None).
_TRAIN_SIZES = {"fashion-mnist": 60000, "mnist": 60000, "cifar10": 50000, "cifar100": 50000, "svhn": 73257}


#: The well-trained recipe (:meth:`TrainConfig.well_trained`): every training image, the
#: defaults otherwise (SGD, momentum 0.9, weight decay 5e-4, batch 128, learning rate 0.05 on a
#: cosine schedule to 0, the bfloat16 loop), no augmentation, mixup or label smoothing: the zoo's
#: small networks underfit Fashion-MNIST (train accuracy within 2 points of test), so
#: regularisers cost passes here rather than save them.
WELL_TRAINED = dict(dataset="fashion-mnist", n_train=None, width=16, augment=False, label_smoothing=0.0)
#: Epochs of the well-trained recipe per family: the fewest measured to give >= 0.90 test accuracy
#: at width 16 on both seeds tried, and at least 3 (the training ladder's three checkpoints per
#: run; README, "Speed of training"): plain_cnn (no batch norm, global pooling of a 3 x 3 map)
#: needs the most.
WELL_TRAINED_EPOCHS = {"plain_cnn": 11, "vgg_small": 3, "resnet_small": 3}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained model (and so its cache key).

    Attributes
    ----------
    dataset, model : str
        Names from ``DATASETS`` and ``MODELS``.
    width, depth : int
        Model size knobs (see :func:`latentgeom.networks.models.build_model`).
    n_train : int or None
        Training images (a seeded subset of the training split; None = all).
    epochs : int
        Passes over the training subset; 0 = untrained.
    batch_size, lr, momentum, weight_decay :
        SGD settings; the learning rate follows a cosine schedule to 0 over all steps. The
        defaults, batch 128 and learning rate 0.05, are the first version's: with them the
        bfloat16 loop reaches the plain float32 loop's test accuracy per epoch on every family
        and width of the default zoo (``make bench``). Batch 256 with the learning rate scaled
        to 0.1 took 4-10 % less time per image at width 8 but cost 0.1-3 points of test accuracy
        after 4 epochs of 12 000 images, with every setting of its SGD tried (README, "Speed of
        training").
    augment : bool
        Random crop (4-pixel padding) + horizontal flip.
    mixup_alpha, manifold_mixup_alpha : float
        Beta(alpha, alpha) mixing of inputs / of a random hidden layer (0 = off).
    label_smoothing : float in [0, 1)
    random_labels : bool
        Train on a seeded permutation of the labels (memorisation).
    checkpoint_epochs : tuple of int
        Epochs whose weights are also cached.
    checkpoint_steps : tuple of int
        Optimiser steps (0 = initialisation) after which the weights are also cached, for
        checkpoints at fractions of an epoch (see :func:`steps_per_epoch`, :func:`load_step`).
    optimizer : {"sgd", "adam"}
        SGD with ``momentum``, or Adam (default betas; ``momentum`` unused); both with
        ``weight_decay`` as an L2 term and the cosine schedule.
    init_scale : float > 0
        Every weight tensor of the fresh network (not biases or batch-norm parameters) is
        multiplied by this factor (1 = the default initialisation).
    data_seed : int or None
        Seeds the training subset (and its random labels); None = ``seed``.
    pretrain_random_label_epochs : int >= 0
        Start from this config's network trained that many epochs on shuffled labels (its own
        cached run; 0 = from the fresh initialisation).
    precision : {"bfloat16", "float32"}
        The arithmetic of the training step. ``"bfloat16"`` (default): the forward and backward
        passes' convolutions and matrix products run in bfloat16 under ``torch.autocast``
        (the network's input and activations in channels-last layout), while the weights, their
        gradients, the optimiser's state and update, the loss and the batch-norm statistics stay
        float32 (the master copy that is saved). ``"float32"``: the plain eager float32 loop of
        the first version, operation for operation (its configs keep their earlier cache keys).
        Evaluation (the accuracies) is float32 either way, and so is everything measured on the
        saved network. Every field above means the same in both, so an epoch of one reaches
        the accuracy of the other (``make bench`` compares them).
    n_test : int or None
        Test images for the test accuracy (None = the whole test split).
    seed : int
        Seeds initialisation, data order, augmentation and mixing.
    """

    dataset: str = "fashion-mnist"
    model: str = "plain_cnn"
    width: int = 16
    depth: int | None = None
    n_train: int | None = 12000
    epochs: int = 4
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: bool = False
    mixup_alpha: float = 0.0
    manifold_mixup_alpha: float = 0.0
    label_smoothing: float = 0.0
    random_labels: bool = False
    checkpoint_epochs: tuple[int, ...] = ()
    n_test: int | None = None
    seed: int = 0
    checkpoint_steps: tuple[int, ...] = ()
    optimizer: str = "sgd"
    init_scale: float = 1.0
    data_seed: int | None = None
    pretrain_random_label_epochs: int = 0
    precision: str = "bfloat16"

    def __post_init__(self):
        def is_int(v):
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        def is_number(v):
            return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) \
                and math.isfinite(v)

        if not isinstance(self.dataset, str):
            raise ValueError(f"dataset must be a name from {sorted(DATASETS)}, got {self.dataset!r}")
        dataset_info(self.dataset)
        if not isinstance(self.model, str) or self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {MODELS}")
        for name in ("width", "batch_size"):
            if not is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("n_train", "n_test", "depth"):
            v = getattr(self, name)
            if v is not None and (not is_int(v) or v < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {v!r}")
        if not is_int(self.epochs) or self.epochs < 0:
            raise ValueError(f"epochs must be an integer >= 0, got {self.epochs!r}")
        if not is_int(self.seed) or not 0 <= self.seed < 2 ** 62:
            raise ValueError(f"seed must be an integer in [0, 2**62), got {self.seed!r}")
        for name in ("lr", "momentum", "weight_decay", "mixup_alpha", "manifold_mixup_alpha", "label_smoothing"):
            if not (is_number(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)!r}")
        if self.momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.mixup_alpha > 0 and self.manifold_mixup_alpha > 0:
            raise ValueError("choose mixup_alpha or manifold_mixup_alpha, not both")
        for name in ("augment", "random_labels"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.depth is not None and self.model not in SMALL_MODELS:
            raise ValueError(f"depth applies to {SMALL_MODELS} only; {self.model!r} has a fixed depth")
        # Plain Python types, so that equal configs (lr=1 and lr=1.0) share one cache key.
        for name in ("width", "batch_size", "n_train", "n_test", "depth", "epochs", "seed"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("lr", "momentum", "weight_decay", "mixup_alpha", "manifold_mixup_alpha", "label_smoothing"):
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("augment", "random_labels"):
            object.__setattr__(self, name, bool(getattr(self, name)))
        try:
            epochs = [e for e in self.checkpoint_epochs]
        except TypeError:
            raise ValueError(f"checkpoint_epochs must be a sequence of epochs, got {self.checkpoint_epochs!r}") \
                from None
        if not all(is_int(e) for e in epochs):
            raise ValueError(f"checkpoint_epochs must be integers, got {self.checkpoint_epochs!r}")
        object.__setattr__(self, "checkpoint_epochs", tuple(sorted(set(int(e) for e in epochs))))
        bad = [e for e in self.checkpoint_epochs if not 0 <= e <= self.epochs]
        if bad:
            raise ValueError(f"checkpoint_epochs {bad} are outside 0..epochs={self.epochs}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not (is_number(self.init_scale) and self.init_scale > 0):
            raise ValueError(f"init_scale must be a finite number > 0, got {self.init_scale!r}")
        object.__setattr__(self, "init_scale", float(self.init_scale))
        if not is_int(self.pretrain_random_label_epochs) or self.pretrain_random_label_epochs < 0:
            raise ValueError(f"pretrain_random_label_epochs must be an integer >= 0, "
                             f"got {self.pretrain_random_label_epochs!r}")
        object.__setattr__(self, "pretrain_random_label_epochs", int(self.pretrain_random_label_epochs))
        if self.data_seed is not None:
            if not is_int(self.data_seed) or not 0 <= self.data_seed < 2 ** 62:
                raise ValueError(f"data_seed must be an integer in [0, 2**62) or None, got {self.data_seed!r}")
            object.__setattr__(self, "data_seed", int(self.data_seed))
        try:
            steps = list(self.checkpoint_steps)
        except TypeError:
            raise ValueError(f"checkpoint_steps must be a sequence of steps, got {self.checkpoint_steps!r}") \
                from None
        if not all(is_int(s) and s >= 0 for s in steps):
            raise ValueError(f"checkpoint_steps must be integers >= 0, got {self.checkpoint_steps!r}")
        object.__setattr__(self, "checkpoint_steps", tuple(sorted(set(int(s) for s in steps))))
        too_late = [s for s in self.checkpoint_steps if s > steps_per_epoch(self) * self.epochs]
        if too_late:
            raise ValueError(f"checkpoint_steps {too_late} are after the last step "
                             f"({steps_per_epoch(self) * self.epochs} = epochs x steps_per_epoch)")

    def key(self) -> str:
        """Stable hash of the config (checkpoint epochs/steps excluded: they do not change the weights).

        Fields added after the first version enter only when they differ from the value that
        reproduces the first version's loop, so the keys (and cached models) of every earlier
        config are unchanged; ``precision="bfloat16"`` (the default) enters the key, so no model
        of the float32 loop is taken for one of the bfloat16 loop or the reverse, and
        :data:`BFLOAT16_LOOP` enters it too, so no model of an earlier bfloat16 loop is taken
        for one of the current loop.
        """
        content = {f.name: getattr(self, f.name) for f in fields(self)
                   if f.name not in ("checkpoint_epochs", "checkpoint_steps")
                   and not (f.name in _LATER_FIELDS and getattr(self, f.name) == _LATER_FIELDS[f.name])}
        content["version"] = CONFIG_VERSION
        if self.precision == "bfloat16" and BFLOAT16_LOOP > 1:
            content["bfloat16_loop"] = BFLOAT16_LOOP
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:24]

    @classmethod
    def well_trained(cls, model: str = "vgg_small", **kwargs) -> "TrainConfig":
        """The recipe that takes every zoo family at width 16 to >= 0.90 Fashion-MNIST test
        accuracy in few image passes (the training ladder's top rung): :data:`WELL_TRAINED`
        (all 60 000 training images, the default SGD recipe and bfloat16 loop, no augmentation
        or label smoothing) for :data:`WELL_TRAINED_EPOCHS` epochs of ``model``; ``kwargs``
        override any field (``width``, ``seed``, ...)."""
        if model not in WELL_TRAINED_EPOCHS:
            raise ValueError(f"the well-trained recipe is measured for {sorted(WELL_TRAINED_EPOCHS)}, "
                             f"got model={model!r}")
        return cls(**{**WELL_TRAINED, "model": model, "epochs": WELL_TRAINED_EPOCHS[model], **kwargs})

    @classmethod
    def no_regularisers(cls, **kwargs) -> "TrainConfig":
        """The recipe without weight decay, augmentation, mixup or label smoothing."""
        kwargs.update(weight_decay=0.0, augment=False, mixup_alpha=0.0, manifold_mixup_alpha=0.0,
                      label_smoothing=0.0)
        return cls(**kwargs)


@dataclass
class TrainedModel:
    """A network and how it scores: accuracies are fractions in [0, 1], ``test_accuracy`` on the
    whole test split (``config.n_test`` images), ``train_accuracy`` on the first
    :data:`latentgeom.networks.training.TRAIN_ACCURACY_IMAGES` training images (all when fewer)."""

    model: ProbedModel
    config: TrainConfig
    epoch: int
    train_accuracy: float
    test_accuracy: float
    history: list[dict] = field(default_factory=list)


def steps_per_epoch(config: TrainConfig) -> int:
    """Optimiser steps in one epoch of ``config`` (the last batch may be smaller)."""
    n = config.n_train if config.n_train is not None else _TRAIN_SIZES[config.dataset]
    return math.ceil(n / config.batch_size)
