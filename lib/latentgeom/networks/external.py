"""Networks from outside the library: torchvision models adapted to its datasets, briefly trained.

:func:`torchvision_model` builds any torchvision classification model by name for a dataset's
channels and classes (the first convolution is replaced when the channels differ: a 1-channel
Fashion-MNIST ResNet-18 keeps its 7x7 stride-2 stem, so 28x28 images reach ``layer4`` at 1x1).
:func:`train_torchvision` trains it with the recipe of :mod:`latentgeom.networks.training`
(SGD + momentum, cosine schedule to 0, cross-entropy) on a seeded subset, cached in the model
cache like the library's own models, or loads a ``checkpoint`` (a ``state_dict`` file) instead.
It lives beside ``training.py``, whose :func:`~latentgeom.networks.training.train` builds the
library's own families by name; both return a :class:`TrainedModel`, so the cached
:func:`latentgeom.profiles.profile` / ``dimension_profile`` take either.
:func:`as_trained` wraps any bare ``nn.Module`` the same way (cache key: its weights).

Used by the book page "Measure your own network" (``book/guides/measure-your-own-network.md``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import model_cache as cache
from ..progress import bar
from ..storage import content_key
from ..validation import check_choice, check_int, resolve_device
from .data import DATASETS, dataset_info, load_tensors
from .probes import first_conv, fit_images
from .training import TrainedModel, accuracy, cache_payload, from_cache_payload, optimiser_and_schedule


def torchvision_architectures() -> list[str]:
    """Names of torchvision's image-classification models (``torchvision.models.list_models``)."""
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def torchvision_model(architecture: str, *, num_classes: int = 10, in_channels: int = 1, seed: int = 0,
                      **kwargs) -> nn.Module:
    """A randomly initialised torchvision classifier for ``in_channels``-channel images.

    ``architecture`` is a torchvision model name (``"resnet18"``, ``"vgg11_bn"``,
    ``"vit_b_16"``, ...); ``kwargs`` go to its builder (e.g. ``image_size=32`` for a ViT).
    When ``in_channels`` differs from the model's first convolution, that convolution is
    replaced by a freshly initialised one with the same kernel, stride and padding.
    Deterministic under ``seed``.
    """
    import torchvision

    check_choice(architecture, "architecture", torchvision_architectures())
    num_classes = check_int(num_classes, "num_classes", minimum=2)
    in_channels = check_int(in_channels, "in_channels", minimum=1)
    torch.manual_seed(seed)
    try:
        model = torchvision.models.get_model(architecture, weights=None, num_classes=num_classes, **kwargs)
    except (TypeError, ValueError, AssertionError, RuntimeError) as err:
        raise ValueError(f"torchvision could not build {architecture!r} with {kwargs}: {err}") from None
    conv = first_conv(model)
    if conv is not None and conv[1].in_channels != in_channels:
        name, old = conv
        new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, old.dilation,
                        old.groups, old.bias is not None, old.padding_mode)
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, attr, new)
    return model


@dataclass(frozen=True)
class TorchvisionConfig:
    """Everything that determines a briefly trained torchvision model (and so its cache key).

    Attributes
    ----------
    architecture : str
        A torchvision model name (:func:`torchvision_architectures`).
    dataset : str
        A name from ``DATASETS``; the model is built for its channels and classes.
    image_size : int or None
        Images are resized to ``image_size`` x ``image_size`` (None: the dataset's own size).
        Passed to the builder of ViTs, whose size is fixed at construction.
    n_train, n_test : int
        Seeded training subset / test images for the test accuracy.
    epochs, batch_size, lr, momentum, weight_decay :
        The library's recipe: SGD with momentum, cosine schedule to 0 over all steps.
    checkpoint : str or None
        Path of a ``state_dict`` for this architecture (as saved by ``torch.save(model.state_dict(),
        path)``, or a dict holding one under ``"state_dict"``): loaded instead of training.
    seed : int
        Seeds initialisation, data subset and order.
    """

    architecture: str = "resnet18"
    dataset: str = "fashion-mnist"
    image_size: int | None = None
    n_train: int = 4000
    n_test: int = 1000
    epochs: int = 1
    batch_size: int = 64  # more SGD steps in one brief epoch than the library recipe's 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    checkpoint: str | None = None
    seed: int = 0

    def __post_init__(self):
        check_choice(self.architecture, "architecture", torchvision_architectures())
        dataset_info(self.dataset)
        for name in ("n_train", "n_test", "batch_size"):
            check_int(getattr(self, name), name, minimum=1)
        check_int(self.epochs, "epochs", minimum=0)
        check_int(self.seed, "seed", minimum=0)
        if self.image_size is not None:
            check_int(self.image_size, "image_size", minimum=8)
        for name in ("lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.checkpoint is not None and not Path(self.checkpoint).is_file():
            raise ValueError(f"checkpoint must be the path of a state_dict file, got {self.checkpoint!r} "
                             f"(no such file)")

    @property
    def model(self) -> str:
        """The architecture (the ``model`` column of cached profiles)."""
        return self.architecture

    @property
    def width(self) -> None:
        """No width multiplier (the ``width`` column of cached profiles)."""
        return None

    def key(self) -> str:
        """Content key: the settings and, with a checkpoint, the checkpoint file's bytes."""
        settings = asdict(self)
        weights = Path(self.checkpoint).read_bytes() if self.checkpoint else b""
        return content_key("torchvision", settings | {"checkpoint": None}, weights, length=24)

    def build(self) -> nn.Module:
        """The untrained model for this config's dataset."""
        info = DATASETS[self.dataset]
        extra = {"image_size": self.image_size or info.image_size} if self.architecture.startswith("vit") else {}
        return torchvision_model(self.architecture, num_classes=info.num_classes, in_channels=info.channels,
                                 seed=self.seed, **extra)

    def load_images(self, split: str = "train", n: int | None = None, seed: int | None = None):
        """``(images [n, C, S, S], labels [n])`` of the dataset, normalised and resized to
        ``image_size`` (see :func:`latentgeom.networks.data.load_tensors`)."""
        images, labels = load_tensors(self.dataset, split, n=n, seed=self.seed if seed is None else seed)
        if self.image_size is not None:
            images = fit_images(images, size=self.image_size)
        return images, labels


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load the ``state_dict`` saved at ``path`` into ``model`` (strict); ``ValueError`` naming
    the missing / unexpected keys when it belongs to another architecture."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"checkpoint {str(path)!r} does not fit {type(model).__name__} built for this dataset "
                         f"(channels, classes): {err}") from None
    return model


def train_torchvision(config: TorchvisionConfig, *, device: str = "auto", cache_models: bool = True,
                      progress: bool = True) -> TrainedModel:
    """Train ``config`` (or load it from the model cache, or from its checkpoint).

    Returns a :class:`TrainedModel` (accuracies are fractions; ``epoch`` is None for a
    checkpoint, whose train accuracy is not measured: NaN). As :func:`latentgeom.train`:
    processes asking for the same config at once train it once, and with
    ``LATENTGEOM_NO_TRAIN=1`` a cache miss raises ``latentgeom.storage.CacheMiss``.
    """
    if not isinstance(config, TorchvisionConfig):
        raise ValueError(f"config must be a TorchvisionConfig, got {type(config).__name__}")
    dev = resolve_device(device)
    model = config.build()
    test_images, test_labels = config.load_images("test", n=config.n_test)
    if config.checkpoint is not None:
        load_weights(model, config.checkpoint).to(dev)
        return TrainedModel(model.eval(), config, None, float("nan"), accuracy(model, test_images, test_labels, dev))
    if not cache_models:
        return _train_torchvision(model, config, dev, test_images, test_labels, progress)
    key = config.key()
    with cache.claim(key, {config.epochs}, what=f"{config.architecture} ({config.epochs} epochs)"):
        payload = cache.load(key, config.epochs)  # (again: another process may have trained it)
        if payload is not None:
            return from_cache_payload(model, config, payload, dev)
        trained = _train_torchvision(model, config, dev, test_images, test_labels, progress)
        cache.save(key, config.epochs, cache_payload(trained.model, config, config.epochs, trained.train_accuracy,
                                                     trained.test_accuracy, trained.history))
        return trained


def _train_torchvision(model, config: TorchvisionConfig, dev, test_images, test_labels,
                       progress: bool) -> TrainedModel:
    """The training loop of :func:`train_torchvision` (the library's recipe), with accuracies."""
    images, labels = config.load_images("train", n=config.n_train)
    model.to(dev)
    steps = math.ceil(len(images) / config.batch_size) * config.epochs
    optimiser, schedule = optimiser_and_schedule(model, config, steps)
    g = torch.Generator().manual_seed(config.seed + 2)
    history = []
    for epoch in bar(range(1, config.epochs + 1), desc=f"train {config.architecture}", enabled=progress,
                     leave=False):
        model.train()
        losses = []
        for idx in torch.randperm(len(images), generator=g).split(config.batch_size):
            if len(idx) < 2:
                continue  # BatchNorm needs two images per batch
            loss = F.cross_entropy(model(images[idx].to(dev)), labels[idx].to(dev))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
        history.append(dict(epoch=epoch, loss=float(np.mean(losses))))
    train_acc, test_acc = accuracy(model, images, labels, dev), accuracy(model, test_images, test_labels, dev)
    return TrainedModel(model.eval(), config, config.epochs, train_acc, test_acc, history)


@dataclass(frozen=True)
class ModuleIdentity:
    """What identifies a bare ``nn.Module`` in the profile cache: its class name and weights."""

    model: str
    digest: str
    width: None = None

    def key(self) -> str:
        return self.digest


def as_trained(model) -> TrainedModel:
    """``model`` unchanged if it is a :class:`TrainedModel`; a bare ``nn.Module`` wrapped as one
    (accuracies NaN, epoch None, cache key from its class and ``state_dict``)."""
    if isinstance(model, TrainedModel):
        return model
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a TrainedModel or a torch.nn.Module, got {type(model).__name__}")
    state = model.state_dict()
    digest = content_key(type(model).__qualname__, list(state), *state.values(), length=24)
    return TrainedModel(model, ModuleIdentity(type(model).__name__, digest), None, float("nan"), float("nan"))
