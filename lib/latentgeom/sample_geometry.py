"""What a curvature profile measures on the image sample alone, whatever the network.

A page measures many networks on one image sample. Three steps of
:func:`latentgeom.profiles.curvature_profile` depend on the images only:

- the input layer's curvature (data kNN neighbourhoods: :func:`input_curvature`);
- the perturbed copies of every image (:func:`perturbation_neighbourhoods`: the paper's binary
  singular-value masks or the robust estimator's continuous scalings);
- the number of input directions each image's perturbations span (the ``dirs_M`` column).

Each is computed once per sample and kept in memory for the next network on the same images,
keyed by the images' content (so a different sample, chunk or seed is computed afresh). The
results are the ones a fresh computation gives (tests compare them).
"""
from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Callable

import numpy as np
import torch

from .estimators.curvature import (MODES, CurvatureResult, UnresolvedCurvatureWarning, mapc, min_neighbours,
                                   spanned_directions)
from .estimators.neighbourhoods import continuous_svd_perturbations, knn_neighbourhoods, svd_perturbations
from .estimators.scale_free import neighbourhood_radius
from .storage import content_key
from .validation import check_choice

__all__ = ["RecentSamples", "INPUT_CURVATURES", "PERTURBATIONS", "input_curvature",
           "perturbation_neighbourhoods", "quiet_mapc", "tangent_dim"]


class RecentSamples:
    """The last few results computed on image samples, newest kept, oldest dropped first.

    ``entries``: at most this many results; ``max_bytes``: at most this many bytes of tensors
    and arrays in them (a result larger than that alone is returned but not kept). Entries are
    plain values: callers must not modify what :meth:`get` returns.
    """

    def __init__(self, entries: int, max_bytes: int):
        self.entries, self.max_bytes = entries, max_bytes
        self._items: OrderedDict[tuple, tuple[object, int]] = OrderedDict()
        self.computed = 0  # results computed (not found): what the tests count

    def get(self, key: tuple, compute: Callable[[], object]):
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key][0]
        value = compute()
        self.computed += 1
        size = _nbytes(value)
        if size <= self.max_bytes:
            self._items[key] = (value, size)
            while len(self._items) > self.entries or sum(s for _, s in self._items.values()) > self.max_bytes:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        self._items.clear()
        self.computed = 0


def _nbytes(value) -> int:
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, CurvatureResult):
        return sum(_nbytes(v) for v in vars(value).values())
    return 0


#: The input layer's curvature of the last samples: per-point arrays only (a page's samples).
INPUT_CURVATURES = RecentSamples(entries=8, max_bytes=256 * 2 ** 20)
#: Perturbed copies of the last samples (paper and robust of one sample: 2 x 59 MB at 300
#: Fashion-MNIST images and q = 6); the profile's chunks of a larger sample do not fit and are
#: made afresh, as before.
PERTURBATIONS = RecentSamples(entries=4, max_bytes=512 * 2 ** 20)


def tangent_dim(id_mean: float, cap: int) -> int:
    """The tangent dimension ``d``: the mean TwoNN ID rounded, in [1, ``cap``]."""
    return int(max(1, min(round(id_mean), cap)))


def quiet_mapc(points, neighbours, d: int, mode: str) -> CurvatureResult:
    """:func:`~latentgeom.estimators.curvature.mapc` without its per-call
    :class:`UnresolvedCurvatureWarning`: a profile calls it chunk by chunk and warns once at the
    end, naming the layers that are not measurable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnresolvedCurvatureWarning)
        return mapc(points, neighbours, d, mode=mode)


def input_curvature(images: torch.Tensor, input_id: float, mode: str) -> tuple[CurvatureResult, np.ndarray, float]:
    """The input layer's curvature on ``images`` [n, C, H, W] under ``mode``: data kNN
    neighbourhoods (paper: K = 2d, the paper's; robust: twice as many neighbours as the fit's
    unknowns) in the tangent dimension of the input's TwoNN ``input_id`` (the mean over
    resamples). Returns ``(CurvatureResult, neighbourhood RMS radii [n], median input
    directions spanned)``.

    At 300 points the robust fit (K ~ 150 neighbours in 784 dimensions) is ~2.7 s of a ~16 s
    profile: it is computed once per sample (:data:`INPUT_CURVATURES`).
    """
    check_choice(mode, "mode", MODES)
    flat = images.flatten(1)
    # Keyed by the images' bytes, shape and dtype (storage.content_key, as the disk caches are).
    return INPUT_CURVATURES.get((content_key(flat), float(input_id), mode),
                                lambda: _input_curvature(flat, input_id, mode))


def _input_curvature(flat: torch.Tensor, input_id: float, mode: str):
    n = flat.shape[0]
    if mode == "paper":
        d = tangent_dim(input_id, min(flat.shape[1] - 1, n - 2))
        k = min(2 * d, n - 1)  # the paper's K = 2d
    else:
        d = tangent_dim(input_id, max((dd for dd in range(1, n) if 2 * min_neighbours(dd, "robust") <= n - 1),
                                      default=1))
        k = min(2 * min_neighbours(d, "robust"), n - 1)  # twice the unknowns: a well-posed fit
    nb = knn_neighbourhoods(flat, k)
    result = mapc(flat, nb, d, mode="paper") if mode == "paper" else quiet_mapc(flat, nb, d, "robust")
    return result, neighbourhood_radius(flat, nb), float(np.median(spanned_directions(flat, nb).numpy()))


def perturbation_neighbourhoods(images: torch.Tensor, mode: str, q: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """The latent layers' neighbourhoods of ``images`` [m, C, H, W] in input space, and the
    input directions each spans.

    ``paper``: the 2**q - 1 binary masks of the q smallest singular values
    (:func:`~latentgeom.estimators.neighbourhoods.svd_perturbations`); ``robust``: 2**q - 1
    continuous scalings of them drawn under ``seed``. Returns ``(perturbed [m, 2**q - 1, C, H,
    W], directions spanned per image [m])``; kept for the next network on the same images
    (:data:`PERTURBATIONS`: ~0.45 s per mode at 300 images).
    """
    check_choice(mode, "mode", MODES)
    key = (content_key(images), mode, int(q), int(seed) if mode == "robust" else None)

    def compute():
        if mode == "paper":
            perturbed = svd_perturbations(images, q)
        else:
            perturbed = continuous_svd_perturbations(images, q, 2 ** q - 1, seed=seed)
        return perturbed, spanned_directions(images.flatten(1), perturbed.flatten(2)).numpy()
    return PERTURBATIONS.get(key, compute)
