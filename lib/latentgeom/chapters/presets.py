"""Presets and the shared model zoo of the book's findings.

A *preset* fixes the scale of every finding notebook: ``"default"`` runs the book on
Fashion-MNIST on 2 CPU cores, ``"tiny"`` is for tests (seconds), and ``"paper"`` selects the
paper's setting (CIFAR-10, CIFAR ResNets and VGGs, 5000 points, q = 10, GPU). Every notebook
takes the preset name as a papermill parameter and can override single fields.

All notebooks train through :func:`latentgeom.networks.training.train`, so a model trained by one
notebook is read from the model cache by the next. Curvature profiles are cached the same way
(:func:`latentgeom.profiles.profile`), keyed by the model's config, epoch, the sample
and the geometry settings.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from ..networks.data import load_tensors
from ..networks.training import TrainConfig, TrainedModel, load_checkpoint, train
from ..profiles import GeometryConfig
from ..units import Images
from .protocol import PresetTable


@dataclass(frozen=True)
class Preset:
    """The scale of a finding notebook.

    Attributes
    ----------
    name : str
    dataset : str
        Dataset name (see ``latentgeom.DATASETS``).
    architectures : tuple of str
        Model families compared in the profile findings.
    widths : tuple of int
        Width multipliers of the zoo (architectures x widths models).
    train : dict
        Training settings passed to :class:`TrainConfig` (epochs, n_train, lr, ...).
    checkpoint_epochs : tuple of int
        Epochs saved during training (the paper's "during training" panel).
    mixup_architecture : str
        The architecture trained with the four recipes of the regularisation finding.
    n_points : int
        Training images whose layer geometry is measured (paper: 5000).
    q : int
        Smallest singular values perturbed per channel (paper: 10, K = 2**q neighbours).
    id_resamples : int
        TwoNN repeats averaged for the tangent dimension (paper: 10).
    device : str
        ``"auto"`` uses CUDA when present.
    """

    name: str
    dataset: str
    architectures: tuple[str, ...]
    widths: tuple[int, ...]
    train: dict = field(default_factory=dict)
    checkpoint_epochs: tuple[int, ...] = ()
    mixup_architecture: str = "resnet_small"
    n_points: int = 300
    q: int = 6
    id_resamples: int = 5
    device: str = "auto"

    def config(self, architecture: str, width: int | None = None, **overrides) -> TrainConfig:
        """The TrainConfig of one zoo member (defaults: the preset's first width)."""
        settings = dict(self.train)
        settings.update(overrides)
        return TrainConfig(dataset=self.dataset, model=architecture,
                           width=self.widths[0] if width is None else width, **settings)

    def zoo(self) -> list[TrainConfig]:
        """Architectures x widths, each saving the preset's checkpoint epochs."""
        return [self.config(a, w, checkpoint_epochs=self.checkpoint_epochs)
                for a in self.architectures for w in self.widths]

    def recipes(self) -> dict[str, TrainConfig]:
        """The regularisation finding's four recipes on ``mixup_architecture``."""
        base = self.config(self.mixup_architecture)
        return {
            "baseline": base,
            "mixup": replace(base, mixup_alpha=1.0),
            "manifold mixup": replace(base, manifold_mixup_alpha=2.0),
            "no regularisers": replace(base, weight_decay=0.0, augment=False, label_smoothing=0.0),
        }

    def geometry(self, **overrides) -> GeometryConfig:
        return GeometryConfig(q=self.q, id_resamples=self.id_resamples, device=self.device, **overrides)


PRESETS: PresetTable[Preset] = PresetTable("preset", {
    "tiny": Preset(
        name="tiny", dataset="fashion-mnist", architectures=("plain_cnn", "vgg_small", "resnet_small"),
        widths=(4, 6), train=dict(n_train=512, epochs=2, n_test=500), checkpoint_epochs=(1,),
        n_points=40, q=3, id_resamples=2),
    "default": Preset(
        name="default", dataset="fashion-mnist", architectures=("plain_cnn", "vgg_small", "resnet_small"),
        # Sized for the book's budget on 2 CPU cores (35 min for the whole book): 12000
        # training images (4 epochs, checkpoint at 2); 300 points per image sample, the
        # fewest a measured sample may have (a referee's floor). The curvature pages run one
        # sample of the first training seed and one run of the second, each on its own 300;
        # profiles cost about linearly in the points (2 + 1 samples of 300 took the book to
        # 2348 s, over its budget). The README's "Quick start" lists what each page spent in a
        # cold build.
        widths=(8, 16), train=dict(n_train=12000), checkpoint_epochs=(2,), n_points=300, q=6, id_resamples=5),
    "paper": Preset(
        name="paper", dataset="cifar10",
        architectures=("resnet18", "resnet50", "resnet101", "vgg13", "vgg16", "vgg19"), widths=(64,),
        train=dict(n_train=None, epochs=200, batch_size=128, lr=0.1, momentum=0.9, weight_decay=5e-4,
                   augment=True),
        checkpoint_epochs=(10, 25, 50, 100), mixup_architecture="resnet50",
        n_points=5000, q=10, id_resamples=10),
})


def get_preset(name: str, **overrides) -> Preset:
    """A preset by name, with single fields overridden (``None`` values are ignored).

    ``get_preset("default", n_points=1000)``; unknown names or fields raise ValueError.
    """
    return PRESETS(name, **overrides)


def sample_images(preset: Preset, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``n_points`` training images whose geometry is measured (not chosen per class)."""
    return load_tensors(preset.dataset, split="train", n=preset.n_points, seed=seed)


def sample(preset: Preset, seed: int = 0) -> Images:
    """:func:`sample_images` described as a work unit's image sample (the same images)."""
    return Images(preset.dataset, n=preset.n_points, seed=seed)


def trajectory_epochs(config: TrainConfig) -> list[int]:
    """The epochs of :func:`trajectory`'s models: the saved checkpoints, then the final epoch."""
    return sorted(set(config.checkpoint_epochs) - {config.epochs}) + [config.epochs]


def trajectory(config: TrainConfig, *, device: str = "auto") -> list[TrainedModel]:
    """The trained model and its saved checkpoints, in epoch order (trains once, then cached)."""
    final = train(config, device=device)
    return [load_checkpoint(config, e, device=device) for e in trajectory_epochs(config)[:-1]] + [final]


def label(config, epoch: int | None = None) -> str:
    """A short model name for charts: ``"vgg_small w16"`` (``" @ep2"`` for a checkpoint)."""
    text = f"{config.model} w{config.width}"
    if epoch is not None and epoch != config.epochs:
        text += f" @ep{epoch}"
    return text
