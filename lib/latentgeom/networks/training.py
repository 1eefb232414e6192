"""Training with the paper's recipe (SGD + momentum + cosine schedule), cached by config.

``train(TrainConfig(...))`` trains once; the same config later comes from the model cache
(:mod:`latentgeom.cache`). Regularisers are options: weight decay, augmentation (random crop
+ flip), mixup, manifold mixup, label smoothing; ``random_labels`` permutes the training
labels; ``epochs=0`` gives the untrained network. Deterministic under ``seed`` on CPU.

Options added for the training-trajectories chapter (each one enters the cache key only when it
differs from its default, so every earlier config keeps its key): ``optimizer="adam"``,
``init_scale`` (all weights of the fresh network multiplied by a factor),
``pretrain_random_label_epochs`` (start from the same network trained on shuffled labels), ``data_seed`` (the
training subset drawn independently of the initialisation seed) and ``checkpoint_steps``
(weights cached after given optimiser steps, e.g. every quarter epoch early on; read them back
with :func:`load_step`).
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import model_cache as cache
from ..validation import resolve_device
from .data import DATASETS, augment_batch, dataset_info, load_tensors
from .models import MODELS, SMALL_MODELS, ProbedModel, build_model

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
#: Images in each dataset's training split (for the steps of an epoch when ``n_train`` is None).
_TRAIN_SIZES = {"fashion-mnist": 60000, "mnist": 60000, "cifar10": 50000, "cifar100": 50000, "svhn": 73257}


#: The well-trained recipe (:meth:`TrainConfig.well_trained`): every training image, the
#: defaults otherwise (SGD, momentum 0.9, weight decay 5e-4, batch 256, learning rate 0.1 on a
#: cosine schedule to 0, the bfloat16 loop), no augmentation, mixup or label smoothing: the zoo's
#: small networks underfit Fashion-MNIST (train accuracy within 2 points of test), so
#: regularisers cost passes here rather than save them.
WELL_TRAINED = dict(dataset="fashion-mnist", n_train=None, width=16, augment=False, label_smoothing=0.0)
#: Epochs of the well-trained recipe per family: the fewest measured to give >= 0.90 test accuracy
#: at width 16 with a margin (README, "Speed"): plain_cnn (no batch norm, global pooling of a
#: 3 x 3 map) needs the most.
WELL_TRAINED_EPOCHS = {"plain_cnn": 12, "vgg_small": 3, "resnet_small": 4}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained model (and so its cache key).

    Attributes
    ----------
    dataset, model : str
        Names from ``DATASETS`` and ``MODELS``.
    width, depth : int
        Model size knobs (see :func:`latentgeom.models.build_model`).
    n_train : int or None
        Training images (a seeded subset of the training split; None = all).
    epochs : int
        Passes over the training subset; 0 = untrained.
    batch_size, lr, momentum, weight_decay :
        SGD settings; the learning rate follows a cosine schedule to 0 over all steps. The
        defaults, 256 and 0.1, are the first version's 128 and 0.05 with the learning rate
        scaled with the batch: half the optimiser steps per epoch (each cheaper per image on
        the CPU) for the same test accuracy per epoch (``make bench`` compares them).
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
    batch_size: int = 256
    lr: float = 0.1
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
        of the float32 loop is taken for one of the bfloat16 loop or the reverse.
        """
        content = {f.name: getattr(self, f.name) for f in fields(self)
                   if f.name not in ("checkpoint_epochs", "checkpoint_steps")
                   and not (f.name in _LATER_FIELDS and getattr(self, f.name) == _LATER_FIELDS[f.name])}
        content["version"] = CONFIG_VERSION
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
    """A network and how it scores: accuracies are fractions in [0, 1]."""

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


def new_model(config: TrainConfig) -> ProbedModel:
    """The freshly initialised network of ``config`` (float32, contiguous layout, on the CPU).

    Built by :func:`latentgeom.networks.models.build_model` from the config's dataset, model,
    width, depth and seed, with every convolution and linear weight multiplied by
    ``config.init_scale``: the weights :func:`train` starts from (before any random-label
    pre-training), and the architecture a cached state dict of ``config`` loads into.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    info = DATASETS[config.dataset]
    model = build_model(config.model, num_classes=info.num_classes, in_channels=info.channels,
                        image_size=info.image_size, width=config.width, depth=config.depth, seed=config.seed)
    if config.init_scale != 1.0:
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                    module.weight.mul_(config.init_scale)
    return model


def _training_data(config: TrainConfig):
    data_seed = config.seed if config.data_seed is None else config.data_seed
    images, labels = load_tensors(config.dataset, "train", n=config.n_train, seed=data_seed)
    if config.random_labels:
        g = torch.Generator().manual_seed(data_seed + 1)
        labels = labels[torch.randperm(len(labels), generator=g)]
    return images, labels


def accuracy(model: ProbedModel, images: torch.Tensor, labels: torch.Tensor, device, batch_size=1000, *,
             memory_format: torch.memory_format = torch.contiguous_format) -> float:
    """Fraction of ``images`` [N, C, H, W] classified as ``labels`` [N], in float32 (eval mode,
    no autocast). ``memory_format``: the layout the batches are given in (channels-last for a
    model trained channels-last: the convolutions then need no layout conversion)."""
    was = model.training
    model.eval()
    correct = 0
    with torch.inference_mode():
        for s in range(0, len(images), batch_size):
            x = images[s:s + batch_size].to(device).contiguous(memory_format=memory_format)
            correct += (model(x).argmax(1).cpu() == labels[s:s + batch_size].cpu()).sum().item()
    model.train(was)
    return correct / max(1, len(images))


def cache_payload(model, config, epoch, train_acc, test_acc, history) -> dict:
    """What the model cache stores for one trained model (float32 weights on the CPU in the
    default contiguous layout, whatever layout they were trained in; its config as a dict,
    epoch, accuracies, loss history): the one format of :func:`train` and
    :func:`latentgeom.networks.external.train_torchvision`."""
    return dict(state_dict={k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                config=asdict(config), epoch=epoch, train_accuracy=train_acc, test_accuracy=test_acc,
                history=list(history))


def _from_payload(config: TrainConfig, payload: dict, device) -> TrainedModel:
    return from_cache_payload(new_model(config), config, payload, device)


def from_cache_payload(model: torch.nn.Module, config, payload: dict, device) -> TrainedModel:
    """``model`` (built for ``config``) with the weights and scores of a :func:`cache_payload`,
    on ``device`` in eval mode: the inverse of :func:`cache_payload`, for :func:`train` and
    :func:`latentgeom.networks.external.train_torchvision`."""
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    return TrainedModel(model, config, payload["epoch"], payload["train_accuracy"],
                        payload["test_accuracy"], payload.get("history", []))


def train(config: TrainConfig, *, device: str = "auto", cache_models: bool = True,
          progress: bool = True) -> TrainedModel:
    """Train ``config`` (or load it from the cache) and return the model with its accuracies.

    Checkpoint epochs are cached on the way. A corrupt cache file is retrained, not fatal.
    Processes asking for the same config at once train it once (:func:`model_cache.claim`);
    with ``LATENTGEOM_NO_TRAIN=1`` a cache miss raises ``latentgeom.storage.CacheMiss``.
    The returned network is float32, in the default contiguous layout, in eval mode.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not cache_models:
        return _train(config, device=device, cache_models=False, progress=progress)
    with cache.claim(config.key(), {config.epochs, *config.checkpoint_epochs}, steps=config.checkpoint_steps,
                     what=f"{config.model} w{config.width} ({config.epochs} epochs)"):
        return _train(config, device=device, cache_models=True, progress=progress)


def optimiser_and_schedule(model: torch.nn.Module, config, total_steps: int, *, fused: bool = False):
    """The recipe's optimiser (``config.optimizer``: SGD with momentum, or Adam; L2 weight decay)
    and its cosine learning-rate schedule from ``config.lr`` to 0 over ``total_steps`` steps.

    Shared by :func:`train` and :func:`latentgeom.networks.external.train_torchvision`, so a
    torchvision model is trained with exactly the library's recipe. ``config`` needs ``lr``,
    ``momentum`` and ``weight_decay`` (``optimizer`` defaults to SGD). ``fused``: torch's
    fused update (one kernel over all parameters instead of a Python loop over them; the same
    arithmetic, rounded in another order), used by the bfloat16 loop.
    """
    options = dict(fused=True) if fused else {}
    if getattr(config, "optimizer", "sgd") == "adam":
        optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, **options)
    else:
        optimiser = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                    weight_decay=config.weight_decay, **options)
    total = max(1, int(total_steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    return optimiser, schedule


class _Arithmetic:
    """How one training step computes, by ``TrainConfig.precision``.

    ``"float32"`` is the first version's loop unchanged: contiguous tensors, no autocast.
    ``"bfloat16"``: the network and its input batches in channels-last layout (oneDNN's fast
    convolutions on the CPU need it; for one-channel images it is the same memory) and the
    forward pass under bfloat16 autocast; the logits are cast back to float32 before the loss,
    so the loss, the gradients reaching the float32 weights and the update are float32.
    """

    def __init__(self, precision: str, device: torch.device):
        self.reduced = precision == "bfloat16"
        self.device = device
        self.layout = torch.channels_last if self.reduced else torch.contiguous_format

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(memory_format=self.layout) if self.reduced else model

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=self.layout) if self.reduced and x.ndim == 4 else x

    def forward(self, model: torch.nn.Module, x: torch.Tensor, **kwargs) -> torch.Tensor:
        if not self.reduced:
            return model(x, **kwargs)
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            out = model(x, **kwargs)
        return out.float()


def _train(config: TrainConfig, *, device: str, cache_models: bool, progress: bool) -> TrainedModel:
    dev = resolve_device(device)
    key = config.key()
    if cache_models:
        payload = cache.load(key, config.epochs)
        missing = [e for e in config.checkpoint_epochs if cache.load(key, e) is None] + \
            [s for s in config.checkpoint_steps if not cache.path_for(key, s, step=True).is_file()]
        if payload is not None and not missing:
            return _from_payload(config, payload, dev)

    torch.manual_seed(config.seed)
    model = new_model(config).to(dev)
    if config.pretrain_random_label_epochs:
        start = train(replace(config, random_labels=True, epochs=config.pretrain_random_label_epochs,
                              pretrain_random_label_epochs=0, checkpoint_epochs=(), checkpoint_steps=()),
                      device=device, cache_models=cache_models, progress=False)
        model.load_state_dict(start.model.state_dict())
        torch.manual_seed(config.seed)
    arithmetic = _Arithmetic(config.precision, dev)
    model = arithmetic.prepare(model)
    images, labels = _training_data(config)
    test_images, test_labels = load_tensors(config.dataset, "test", n=config.n_test, seed=config.seed)
    # The training set on the device once (a no-op on the CPU), not batch by batch.
    images, labels = images.to(dev), labels.to(dev)
    steps_per_epoch = math.ceil(len(images) / config.batch_size)
    optimiser, schedule = optimiser_and_schedule(model, config, steps_per_epoch * config.epochs,
                                                 fused=arithmetic.reduced)
    g = torch.Generator().manual_seed(config.seed + 2)
    rng = np.random.default_rng(config.seed + 3)
    history: list[dict] = []

    def save(epoch, train_acc, test_acc):
        if cache_models:
            cache.save(key, epoch, cache_payload(model, config, epoch, train_acc, test_acc, history))

    def evaluate():
        return tuple(accuracy(model, x, y, dev, memory_format=arithmetic.layout)
                     for x, y in ((images, labels), (test_images, test_labels)))

    step, save_steps = 0, set(config.checkpoint_steps)

    def save_step():  # sub-epoch checkpoints: weights only (accuracies would cost a pass each)
        if cache_models and step in save_steps:
            was = model.training
            cache.save(key, step, cache_payload(model.eval(), config, step / steps_per_epoch, math.nan, math.nan,
                                           []), step=True)
            model.train(was)

    def finished(epoch, train_acc, test_acc):  # float32 weights in the default layout, eval mode
        model.to(memory_format=torch.contiguous_format)
        return TrainedModel(model.eval(), config, epoch, train_acc, test_acc, history)

    save_step()
    if config.epochs == 0 or 0 in config.checkpoint_epochs:
        tr, te = evaluate()
        save(0, tr, te)
        if config.epochs == 0:
            return finished(0, tr, te)

    alpha = config.mixup_alpha or config.manifold_mixup_alpha
    bar = tqdm(range(1, config.epochs + 1), desc=f"train {config.model} w{config.width}", disable=not progress,
               leave=False)
    for epoch in bar:
        model.train()
        start, seen = time.time(), 0
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)  # read once per epoch, not per step
        order = torch.randperm(len(images), generator=g).to(dev)
        for s in range(0, len(images), config.batch_size):
            idx = order[s:s + config.batch_size]
            x, y = images[idx], labels[idx]
            if config.augment:
                x = augment_batch(x, g)
            x = arithmetic.batch(x)
            if alpha > 0:
                lam = float(rng.beta(alpha, alpha))
                perm = torch.randperm(len(y), generator=g).to(dev)
                mix_fn = lambda h: lam * h + (1 - lam) * h[perm]  # noqa: E731
                k = 0 if config.mixup_alpha > 0 else int(rng.integers(0, model.n_mixable + 1))
                out = arithmetic.forward(model, x, mix=(k, mix_fn))
                loss = lam * F.cross_entropy(out, y, label_smoothing=config.label_smoothing) + \
                    (1 - lam) * F.cross_entropy(out, y[perm], label_smoothing=config.label_smoothing)
            else:
                loss = F.cross_entropy(arithmetic.forward(model, x), y, label_smoothing=config.label_smoothing)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            save_step()
            seen += len(y)
            loss_sum += loss.detach().double() * len(y)
        seconds = time.time() - start
        record = dict(epoch=epoch, loss=loss_sum.item() / seen, seconds=seconds, images_per_second=seen / seconds)
        if epoch in config.checkpoint_epochs or epoch == config.epochs:
            record["train_accuracy"], record["test_accuracy"] = evaluate()
            history.append(record)
            save(epoch, record["train_accuracy"], record["test_accuracy"])
        else:
            history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.3f}")
    final = history[-1]
    return finished(config.epochs, final["train_accuracy"], final["test_accuracy"])


def load_checkpoint(config: TrainConfig, epoch: int, *, device: str = "auto",
                    train_if_missing: bool = True) -> TrainedModel:
    """The model of ``config`` after ``epoch`` epochs (0 = untrained, or a checkpoint epoch)."""
    allowed = {0, config.epochs, *config.checkpoint_epochs}
    if epoch not in allowed:
        raise ValueError(f"epoch {epoch} is not saved for this config; available: {sorted(allowed)}")
    dev = resolve_device(device)
    payload = cache.load(config.key(), epoch)
    if payload is None:
        if epoch == 0:
            return train(replace(config, epochs=0, checkpoint_epochs=()), device=device, progress=False)
        if not train_if_missing:
            raise FileNotFoundError(f"epoch {epoch} of {config.model} is not in the model cache")
        train(config, device=device)
        payload = cache.load(config.key(), epoch)
    return _from_payload(config, payload, dev)


def load_step(config: TrainConfig, step: int, *, device: str = "auto", train_if_missing: bool = True) -> TrainedModel:
    """The model of ``config`` after ``step`` optimiser steps (one of ``config.checkpoint_steps``).

    Its ``epoch`` is the fractional epoch ``step / steps_per_epoch`` and its accuracies are NaN
    (not measured at sub-epoch checkpoints). Trains ``config`` when the step is not cached.
    """
    if step not in config.checkpoint_steps:
        raise ValueError(f"step {step} is not saved for this config; checkpoint_steps: {list(config.checkpoint_steps)}")
    dev = resolve_device(device)
    payload = cache.load(config.key(), step, step=True)
    if payload is None:
        if not train_if_missing:
            raise FileNotFoundError(f"step {step} of {config.model} is not in the model cache")
        train(config, device=device, progress=False)
        payload = cache.load(config.key(), step, step=True)
    return _from_payload(config, payload, dev)
