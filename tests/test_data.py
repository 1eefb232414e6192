"""latentgeom.networks.data: real Fashion-MNIST, the other datasets through tiny fake files, augmentation, errors.

The CIFAR/MNIST/SVHN tests write a handful of images in torchvision's own on-disk formats into a
temporary folder; torchvision's md5 check is replaced (here only) by an existence check.
"""
from __future__ import annotations

import os
import pickle
import struct

import numpy as np
import pytest
import torch

from latentgeom.networks import data as lgdata
from latentgeom.networks.data import DATASETS, augment_batch, dataset_info, load_tensors
from latentgeom.paths import data_dir

FMNIST_RAW = data_dir() / "FashionMNIST" / "raw"
needs_fmnist = pytest.mark.skipif(not (FMNIST_RAW / "train-images-idx3-ubyte").is_file(),
                                  reason=f"Fashion-MNIST not under {FMNIST_RAW} (run `make data`)")


# --------------------------------------------------------------------------------------------
# Real Fashion-MNIST
# --------------------------------------------------------------------------------------------

@needs_fmnist
def test_fashion_mnist_shapes_dtypes_and_labels():
    x, y = load_tensors("fashion-mnist", "train", n=200, seed=0)
    assert x.shape == (200, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (200,) and y.dtype == torch.int64
    assert int(y.min()) >= 0 and int(y.max()) <= 9
    assert len(torch.unique(y)) == 10  # 200 random images cover all ten classes
    assert torch.isfinite(x).all()


@needs_fmnist
def test_fashion_mnist_whole_test_split_and_normalisation():
    raw, y = load_tensors("fashion-mnist", "test", normalize=False)
    assert raw.shape == (10000, 1, 28, 28)
    assert torch.bincount(y).tolist() == [1000] * 10
    assert float(raw.min()) == 0.0 and float(raw.max()) == 1.0
    # 8-bit pixels: every value is k / 255
    sample = raw[:50] * 255
    assert torch.allclose(sample, sample.round(), atol=1e-4)
    norm, y2 = load_tensors("fashion-mnist", "test", normalize=True)
    assert torch.equal(y, y2)
    info = dataset_info("fashion-mnist")
    assert torch.allclose(norm, (raw - info.mean[0]) / info.std[0], atol=1e-5)
    # the stored mean/std are the dataset's: standardised pixels have mean ~0 and std ~1
    assert abs(float(norm.mean())) < 0.05 and abs(float(norm.std()) - 1) < 0.05


@needs_fmnist
def test_subset_is_deterministic_and_seeded():
    a = load_tensors("fashion-mnist", "test", n=64, seed=3)
    load_tensors("fashion-mnist", "test", n=10, seed=99)  # another call in between changes nothing
    b = load_tensors("fashion-mnist", "test", n=64, seed=3)
    c = load_tensors("fashion-mnist", "test", n=64, seed=4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    # a prefix property: a smaller n with the same seed is the start of the same permutation
    small = load_tensors("fashion-mnist", "test", n=16, seed=3)
    assert torch.equal(small[0], a[0][:16])


@needs_fmnist
def test_subset_images_are_distinct_rows_of_the_split():
    full, full_y = load_tensors("fashion-mnist", "test", normalize=False)
    sub, sub_y = load_tensors("fashion-mnist", "test", n=40, seed=7, normalize=False)
    nearest = torch.cdist(sub.flatten(1), full.flatten(1)).argmin(1)
    assert torch.equal(full[nearest], sub)                                 # each is an actual image
    assert len(torch.unique(nearest)) == 40                                # drawn without replacement
    assert torch.equal(full_y[nearest], sub_y)                             # with its own label


@needs_fmnist
def test_per_class_and_classes():
    x, y = load_tensors("fashion-mnist", "train", per_class=5, seed=1)
    assert x.shape == (50, 1, 28, 28)
    assert torch.bincount(y, minlength=10).tolist() == [5] * 10
    # shuffled, not grouped by class
    assert not torch.equal(y, torch.sort(y).values)
    x2, y2 = load_tensors("fashion-mnist", "train", per_class=5, seed=1)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = load_tensors("fashion-mnist", "train", per_class=5, seed=2)
    assert not torch.equal(x, x3)

    _, y = load_tensors("fashion-mnist", "train", per_class=4, classes=[0, 3], seed=0)
    assert sorted(y.tolist()) == [0] * 4 + [3] * 4
    _, y = load_tensors("fashion-mnist", "train", n=6, per_class=4, classes=(2, 7), seed=0)
    assert len(y) == 6 and set(y.tolist()) <= {2, 7}
    _, y = load_tensors("fashion-mnist", "test", n=30, classes=[9], seed=0)
    assert y.tolist() == [9] * 30


@needs_fmnist
def test_default_root_follows_latentgeom_data(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENTGEOM_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        load_tensors("fashion-mnist", "test", n=5)
    assert str(tmp_path) in str(err.value)


# --------------------------------------------------------------------------------------------
# Bad input: one clear error each
# --------------------------------------------------------------------------------------------

def test_unknown_dataset_lists_known_names():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'") as err:
        load_tensors("imagenet")
    for name in DATASETS:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="cifar10"):
        dataset_info("CIFAR-10")


@pytest.mark.parametrize("kwargs, match", [
    (dict(split="val"), "unknown split 'val'"),
    (dict(n=0), "n must be a positive integer"),
    (dict(n=-3), "n must be a positive integer"),
    (dict(n=2.5), "n must be a positive integer"),
    (dict(n=True), "n must be a positive integer"),
    (dict(per_class=0), "per_class must be a positive integer"),
    (dict(per_class="5"), "per_class must be a positive integer"),
])
def test_invalid_arguments_fail_before_reading_files(kwargs, match, tmp_path):
    # an empty root: validation must come first, before any "not found" error
    with pytest.raises(ValueError, match=match):
        load_tensors("fashion-mnist", root=tmp_path, **kwargs)


@needs_fmnist
@pytest.mark.parametrize("kwargs, match", [
    (dict(n=10001), r"n=10001 exceeds the 10000 available"),
    (dict(per_class=1001), r"fewer than per_class=1001"),
    (dict(classes=[10]), r"classes must be labels in 0\.\.9"),
    (dict(classes=[-1, 2]), r"classes must be labels in 0\.\.9"),
    (dict(classes=[]), r"classes must be labels"),
])
def test_impossible_subsets(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_tensors("fashion-mnist", "test", **kwargs)


@pytest.mark.parametrize("name, hint", [
    ("fashion-mnist", "make data"),
    ("mnist", "download=True"),
    ("cifar10", "download=True"),
    ("cifar100", "download=True"),
    ("svhn", "download=True"),
])
def test_missing_data_offline_is_one_clear_error(name, hint, tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_tensors(name, "train", root=tmp_path, download=False)
    message = str(err.value)
    assert name in message and hint in message
    assert str(tmp_path) in message                       # says where it looked
    assert lgdata._EXPECTED_FILES[name].split(",")[0].split(" ")[0] in message  # and which files
    # not chained onto torchvision's traceback
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_partial_cifar_is_reported_as_missing(tmp_path, monkeypatch):
    _md5_is_existence(monkeypatch)
    _write_cifar10(tmp_path)
    os.remove(tmp_path / "cifar-10-batches-py" / "data_batch_3")
    with pytest.raises(FileNotFoundError, match="cifar10 \\(train\\) not found") as err:
        load_tensors("cifar10", "train", root=tmp_path)
    assert "data_batch_1 ... data_batch_5" in str(err.value)


# --------------------------------------------------------------------------------------------
# Fake CIFAR-10 / CIFAR-100 / MNIST / SVHN in torchvision's formats
# --------------------------------------------------------------------------------------------

def _md5_is_existence(monkeypatch):
    """torchvision checks md5 sums of the real files; for the fakes, existence is enough."""
    import torchvision.datasets.cifar as tv_cifar
    import torchvision.datasets.svhn as tv_svhn
    import torchvision.datasets.utils as tv_utils

    def exists(fpath, md5=None):
        return os.path.isfile(fpath)

    for module in (tv_cifar, tv_svhn, tv_utils):
        monkeypatch.setattr(module, "check_integrity", exists)


def _pattern(n, c, h, w, offset=0):
    """uint8 images whose every pixel differs between image, channel, row and column."""
    n_, c_, h_, w_ = np.meshgrid(np.arange(n), np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    return ((offset + 37 * n_ + 101 * c_ + 7 * h_ + 3 * w_) % 256).astype(np.uint8)


def _pickle(path, obj):
    with open(path, "wb") as fh:
        pickle.dump(obj, fh)


def _write_cifar10(root):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images = _pattern(26, 3, 32, 32)                   # 20 train (5 batches of 4) + 6 test
    labels = [(3 * i) % 10 for i in range(26)]
    for b in range(5):
        sl = slice(4 * b, 4 * b + 4)
        _pickle(folder / f"data_batch_{b + 1}", {"data": images[sl].reshape(4, -1), "labels": labels[sl],
                                                "batch_label": f"training batch {b + 1} of 5"})
    _pickle(folder / "test_batch", {"data": images[20:].reshape(6, -1), "labels": labels[20:]})
    _pickle(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)]})
    return images, np.array(labels)


def _write_cifar100(root):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    images = _pattern(15, 3, 32, 32, offset=5)
    fine = [(41 * i) % 100 for i in range(15)]
    coarse = [i % 20 for i in range(15)]
    _pickle(folder / "train", {"data": images[:10].reshape(10, -1), "fine_labels": fine[:10],
                               "coarse_labels": coarse[:10]})
    _pickle(folder / "test", {"data": images[10:].reshape(5, -1), "fine_labels": fine[10:],
                              "coarse_labels": coarse[10:]})
    _pickle(folder / "meta", {"fine_label_names": [f"f{i}" for i in range(100)],
                              "coarse_label_names": [f"c{i}" for i in range(20)]})
    return images, np.array(fine)


def _write_idx(path, array):
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x0800 + array.ndim
    with open(path, "wb") as fh:
        fh.write(struct.pack(">I", magic))
        fh.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        fh.write(array.tobytes())


def _write_mnist(root):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = _pattern(18, 1, 28, 28, offset=11)[:, 0]  # [N, 28, 28]
    labels = np.array([(7 * i) % 10 for i in range(18)], dtype=np.uint8)
    _write_idx(raw / "train-images-idx3-ubyte", images[:12])
    _write_idx(raw / "train-labels-idx1-ubyte", labels[:12])
    _write_idx(raw / "t10k-images-idx3-ubyte", images[12:])
    _write_idx(raw / "t10k-labels-idx1-ubyte", labels[12:])
    return images[:, None], labels.astype(np.int64)


def _write_svhn(root):
    import scipy.io

    root.mkdir(parents=True, exist_ok=True)
    images = _pattern(14, 3, 32, 32, offset=23)         # [N, C, H, W]
    y = np.array([1 + (i % 10) for i in range(14)])     # SVHN's labels are 1..10, 10 meaning digit 0
    for split, sl in (("train", slice(0, 10)), ("test", slice(10, 14))):
        X = images[sl].transpose(2, 3, 1, 0)              # SVHN's .mat layout: [H, W, C, N]
        scipy.io.savemat(root / f"{split}_32x32.mat", {"X": X, "y": y[sl, None].astype(np.uint8)})
    return images, y % 10


def _check_fake(name, root, images, labels, split_slices):
    info = dataset_info(name)
    for split, sl in split_slices.items():
        x, y = load_tensors(name, split, root=root, normalize=False)
        n = len(images[sl])
        assert x.shape == (n, info.channels, info.image_size, info.image_size) and x.dtype == torch.float32
        assert y.dtype == torch.int64 and int(y.min()) >= 0 and int(y.max()) < info.num_classes
        # the split comes shuffled (seeded): find each loaded image among the written ones
        pixels = (x * 255).round().to(torch.uint8)
        written = torch.from_numpy(images[sl])
        match = (pixels.flatten(1)[:, None] == written.flatten(1)[None]).all(-1)  # [loaded, written]
        assert (match.sum(1) == 1).all(), "every image loads exactly as written, layout [N, C, H, W]"
        order = match.int().argmax(1)
        assert sorted(order.tolist()) == list(range(n))
        assert y.tolist() == labels[sl][order.numpy()].tolist()
    # normalisation uses the dataset's per-channel statistics
    split, sl = next(iter(split_slices.items()))
    xr, yr = load_tensors(name, split, root=root, normalize=False)
    xn, yn = load_tensors(name, split, root=root, normalize=True)
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    std = torch.tensor(info.std).view(1, -1, 1, 1)
    assert torch.equal(yr, yn)
    assert torch.allclose(xn * std + mean, xr, atol=1e-5)
    # subsets work the same way on every dataset
    xs, ys = load_tensors(name, split, root=root, n=3, seed=1, normalize=False)
    xs2, ys2 = load_tensors(name, split, root=root, n=3, seed=1, normalize=False)
    assert xs.shape[0] == 3 and torch.equal(xs, xs2) and torch.equal(ys, ys2)


def test_fake_cifar10(tmp_path, monkeypatch):
    _md5_is_existence(monkeypatch)
    images, labels = _write_cifar10(tmp_path)
    _check_fake("cifar10", tmp_path, images, labels, {"train": slice(0, 20), "test": slice(20, 26)})
    x, y = load_tensors("cifar10", "train", root=tmp_path, per_class=2, seed=0)
    assert torch.bincount(y, minlength=10).tolist() == [2] * 10


def test_fake_cifar100_uses_fine_labels(tmp_path, monkeypatch):
    _md5_is_existence(monkeypatch)
    images, fine = _write_cifar100(tmp_path)
    _check_fake("cifar100", tmp_path, images, fine, {"train": slice(0, 10), "test": slice(10, 15)})
    _, y = load_tensors("cifar100", "train", root=tmp_path)
    assert int(y.max()) >= 20  # fine (100) labels, not the 20 coarse ones


def test_fake_mnist(tmp_path):
    images, labels = _write_mnist(tmp_path)  # no md5 check for MNIST's raw files
    _check_fake("mnist", tmp_path, images, labels, {"train": slice(0, 12), "test": slice(12, 18)})


def test_fake_svhn_maps_label_10_to_0(tmp_path, monkeypatch):
    _md5_is_existence(monkeypatch)
    images, labels = _write_svhn(tmp_path)
    _check_fake("svhn", tmp_path, images, labels, {"train": slice(0, 10), "test": slice(10, 14)})
    _, y = load_tensors("svhn", "train", root=tmp_path)
    assert 0 in y.tolist() and 10 not in y.tolist()


# --------------------------------------------------------------------------------------------
# The paper's augmentation: random crop (zero padding 4) + horizontal flip
# --------------------------------------------------------------------------------------------

def _images(n=12, c=3, size=16, seed=0):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed)) + 0.1  # no zeros


def test_augment_preserves_shape_and_is_seeded():
    x = _images()
    a = augment_batch(x, torch.Generator().manual_seed(5))
    b = augment_batch(x, torch.Generator().manual_seed(5))
    c = augment_batch(x, torch.Generator().manual_seed(6))
    assert a.shape == x.shape and a.dtype == x.dtype and a.is_contiguous()
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(x, _images())  # the input is not modified


def test_augment_is_a_crop_of_the_padded_image_possibly_flipped():
    x = _images(n=16)
    pad = 4
    out = augment_batch(x, torch.Generator().manual_seed(0), padding=pad)
    padded = torch.nn.functional.pad(x, (pad,) * 4)
    size = x.shape[-1]
    flips, shifts = [], []
    for i in range(len(x)):
        matches = [(dy, dx, flip)
                   for dy in range(2 * pad + 1) for dx in range(2 * pad + 1) for flip in (False, True)
                   if torch.equal(out[i], (lambda v: v.flip(-1) if flip else v)(
                       padded[i, :, dy:dy + size, dx:dx + size]))]
        assert matches, f"image {i} is not a (flipped) crop of its padded original"
        flips.append(matches[0][2])
        shifts.append(matches[0][:2])
    assert any(flips) and not all(flips)           # both flipped and unflipped images
    assert len(set(shifts)) > 1                    # several different crops


def test_augment_without_padding_only_flips():
    x = _images(n=20)
    out = augment_batch(x, torch.Generator().manual_seed(1), padding=0)
    same = (out == x).flatten(1).all(1)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    assert (same | flipped).all() and same.any() and flipped.any()
