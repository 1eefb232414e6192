"""Datasets as in-memory tensors: Fashion-MNIST offline; CIFAR-10/100, MNIST, SVHN via torchvision.

Training small networks on 2 CPU cores is fastest on tensors held in memory (no DataLoader,
no PIL), so every split is read once per process and cached.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..paths import data_dir


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts of a dataset: classes, image shape and the standard normalisation."""

    name: str
    num_classes: int
    channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    folder: str  # where torchvision keeps it under the data root


DATASETS: dict[str, DatasetInfo] = {
    "fashion-mnist": DatasetInfo("fashion-mnist", 10, 1, 28, (0.2860,), (0.3530,), "FashionMNIST/raw"),
    "mnist": DatasetInfo("mnist", 10, 1, 28, (0.1307,), (0.3081,), "MNIST/raw"),
    "cifar10": DatasetInfo("cifar10", 10, 3, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
                           "cifar-10-batches-py"),
    "cifar100": DatasetInfo("cifar100", 100, 3, 32, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
                            "cifar-100-python"),
    "svhn": DatasetInfo("svhn", 10, 3, 32, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970), "."),
}
SPLITS = ("train", "test")

# The files torchvision reads under ``root / DatasetInfo.folder`` (named in the missing-data error).
_EXPECTED_FILES = {
    "fashion-mnist": "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                     "t10k-labels-idx1-ubyte",
    "mnist": "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte",
    "cifar10": "data_batch_1 ... data_batch_5, test_batch, batches.meta (from cifar-10-python.tar.gz)",
    "cifar100": "train, test, meta (from cifar-100-python.tar.gz)",
    "svhn": "train_32x32.mat, test_32x32.mat",
}


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name``; ValueError listing the known names otherwise."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]


def _torchvision_dataset(name: str, split: str, root: Path, download: bool):
    from torchvision import datasets

    train = split == "train"
    if name == "fashion-mnist":
        return datasets.FashionMNIST(root, train=train, download=download)
    if name == "mnist":
        return datasets.MNIST(root, train=train, download=download)
    if name == "cifar10":
        return datasets.CIFAR10(root, train=train, download=download)
    if name == "cifar100":
        return datasets.CIFAR100(root, train=train, download=download)
    return datasets.SVHN(root, split=split, download=download)


@functools.lru_cache(maxsize=8)
def _load_split(name: str, split: str, root: str, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole split as uint8 images [N, C, H, W] and int64 labels [N]."""
    info = dataset_info(name)
    try:
        ds = _torchvision_dataset(name, split, Path(root), download)
    except RuntimeError as err:  # torchvision's "Dataset not found or corrupted"
        hint = ("run `make data` (installs the Debian package dataset-fashion-mnist or downloads it)"
                if name == "fashion-mnist" else "pass download=True on a machine with internet access")
        where = (Path(root) / info.folder).resolve()
        # One clear error, not torchvision's traceback underneath it (its message is kept).
        raise FileNotFoundError(
            f"{name} ({split}) not found or corrupted under {where}: {hint}, or put torchvision's files "
            f"there ({_EXPECTED_FILES[name]}); the data root is set by root= or $LATENTGEOM_DATA "
            f"[torchvision: {err}]") from None
    data = ds.data
    images = torch.as_tensor(np.asarray(data))
    if images.ndim == 3:                      # MNIST family: [N, H, W]
        images = images[:, None]
    elif name in ("cifar10", "cifar100"):     # CIFAR: [N, H, W, C]
        images = images.permute(0, 3, 1, 2)
    labels = torch.as_tensor(np.asarray(ds.targets if hasattr(ds, "targets") else ds.labels), dtype=torch.int64)
    return images.contiguous(), labels


def _subset(labels: torch.Tensor, n: int | None, per_class: int | None, classes, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    pool = torch.arange(len(labels))
    if classes is not None:
        pool = pool[torch.isin(labels, torch.as_tensor(list(classes)))]
    pool = pool[torch.randperm(len(pool), generator=g)]
    if per_class is not None:
        chosen = []
        for c in torch.unique(labels[pool]).tolist():
            members = pool[labels[pool] == c]
            if len(members) < per_class:
                raise ValueError(f"class {c} has only {len(members)} images, fewer than per_class={per_class}")
            chosen.append(members[:per_class])
        pool = torch.sort(torch.cat(chosen)).values
        pool = pool[torch.randperm(len(pool), generator=g)]
    if n is not None:
        if n > len(pool):
            raise ValueError(f"n={n} exceeds the {len(pool)} available images")
        pool = pool[:n]
    return pool


def load_tensors(name: str = "fashion-mnist", split: str = "train", *, n: int | None = None,
                 per_class: int | None = None, classes=None, seed: int = 0, normalize: bool = True,
                 root=None, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic subset of a dataset split as tensors.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    split : {"train", "test"}
    n : int, optional
        Number of images in total (a seeded random subset; None = all).
    per_class : int, optional
        Images per class (applied before ``n``).
    classes : iterable of int, optional
        Keep only these labels.
    seed : int
        Seeds the subset choice: same arguments, same images.
    normalize : bool
        Standardise with the dataset's mean/std per channel; else pixel values in [0, 1].
    root : path, optional
        Data root in torchvision's layout (default :func:`latentgeom.paths.data_dir`).
    download : bool
        Let torchvision download missing files (needs internet).

    Returns
    -------
    images : float32 tensor [N, C, H, W]
    labels : int64 tensor [N]
    """
    info = dataset_info(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    for label, value in (("n", n), ("per_class", per_class)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                  or value < 1):
            raise ValueError(f"{label} must be a positive integer or None, got {value!r}")
    if classes is not None:
        classes = [classes] if isinstance(classes, (int, np.integer)) else list(classes)
        bad = [c for c in classes if isinstance(c, bool) or not isinstance(c, (int, np.integer))
               or not 0 <= c < info.num_classes]
        if bad or not classes:
            raise ValueError(f"classes must be labels in 0..{info.num_classes - 1} of {name}, got {classes!r}")
    root = str(Path(root) if root is not None else data_dir())
    raw, labels = _load_split(name, split, root, download)
    index = _subset(labels, n, per_class, classes, seed)
    images = raw[index].float().div_(255.0)
    if normalize:
        mean = torch.tensor(info.mean).view(1, -1, 1, 1)
        std = torch.tensor(info.std).view(1, -1, 1, 1)
        images = (images - mean) / std
    return images, labels[index].clone()


def augment_batch(images: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """The paper's augmentation on a batch [B, C, H, W]: random crop after zero padding + horizontal flip.

    The random draws come from ``generator`` (a CPU generator) whatever device ``images`` are
    on, so the same seed gives the same crops and flips on every device.
    """
    b, _, h, w = images.shape
    dev = images.device
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(dev)
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(dev)
    rows = (dy[:, None] + torch.arange(h, device=dev)[None])  # [B, H]
    cols = (dx[:, None] + torch.arange(w, device=dev)[None])  # [B, W]
    out = padded[torch.arange(b, device=dev)[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # [B, H, W, C]
    out = out.permute(0, 3, 1, 2)
    flip = (torch.rand(b, generator=generator) < 0.5).to(dev)
    out[flip] = out[flip].flip(-1)
    return out.contiguous()
