"""Neighbourhood builders for the curvature estimator (Kaufman & Azencot, *Data Representations'
Study of Latent Image Manifolds*, ICML 2023, arXiv:2305.19730; see the book's methods page
"Measuring curvature").

Two kinds of neighbourhood feed :func:`latentgeom.estimators.curvature.mapc`:

- data neighbourhoods, the k nearest other samples of each point (the paper's input layer);
- input-perturbation neighbourhoods, made in image space by editing the q smallest singular
  values of every channel and then pushed through the network, so every layer sees the
  images of the same perturbations.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from ..validation import as_tensor, check_int

__all__ = ["knn_neighbourhoods", "svd_perturbations", "continuous_svd_perturbations"]

_CHUNK_BYTES = 256 * 2**20
# 2**16 - 1 perturbed copies per image is already far beyond the paper's q = 10 (1023 copies).
_MAX_BINARY_Q = 16
# Singular values below this fraction of a channel's largest are numerical zeros: scaling them
# would not move the image. Rank-deficient images (Fashion-MNIST: blank rows and columns, the
# smallest ~9 of 28 singular values are exactly 0) therefore have their q smallest *nonzero*
# values perturbed. Full-rank natural images (CIFAR, the paper's data) are unaffected.
RELATIVE_FLOOR = 1e-4


def knn_neighbourhoods(X, k: int) -> torch.Tensor:
    """The k nearest *other* samples of every row of ``X`` (Euclidean).

    Parameters
    ----------
    X : array-like or Tensor, shape [n, D]
    k : int, 1 <= k < n

    Returns
    -------
    Tensor, shape [n, k, D]
        Neighbours ordered by increasing distance, same dtype and device as ``X`` (numpy
        input gives a CPU tensor). A row never counts as its own neighbour (exact duplicates
        of it do).
    """
    t = as_tensor(X, "X", ndim=2)
    n = t.shape[0]
    k = check_int(k, "k", minimum=1)
    if k >= n:
        raise ValueError(f"k={k} neighbours need at least k + 1 = {k + 1} points, got n={n}")
    x64 = t.to(torch.float64)  # float64 ranking: the Gram trick in float32 misorders near ties
    sq = (x64 * x64).sum(1)
    chunk = max(1, min(n, _CHUNK_BYTES // (8 * n)))
    idx = torch.empty((n, k), dtype=torch.long, device=t.device)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        d2 = sq[start:stop, None] + sq[None, :] - 2.0 * (x64[start:stop] @ x64.T)
        rows = torch.arange(stop - start, device=t.device)
        d2[rows, rows + start] = float("inf")  # exclude self by index
        idx[start:stop] = torch.topk(d2, k, dim=1, largest=False, sorted=True).indices
    return t[idx]


def _check_images(images, q: int) -> tuple[torch.Tensor, int]:
    t = as_tensor(images, "images", ndim=4)
    if not t.is_floating_point():
        t = t.to(torch.float32)
    h, w = t.shape[-2:]
    q = check_int(q, "q", minimum=1)
    if q > min(h, w):
        raise ValueError(f"q={q} exceeds the {min(h, w)} singular values of a {h} x {w} channel")
    return t, q


def _svd(t: torch.Tensor):
    # float64 SVD: the rebuilt images must differ from the original only in the masked
    # directions, not by float32 round-off spread over all of them.
    u, s, vh = torch.linalg.svd(t.to(torch.float64), full_matrices=False)
    return u, s, vh


def svd_perturbations(images, q: int) -> torch.Tensor:
    """Binary singular-value masks of every image (the paper's latent neighbourhoods).

    For each image and channel, take the SVD of the H x W matrix; for every binary mask over
    the q smallest nonzero singular values (above ``RELATIVE_FLOOR`` of the largest) except the
    all-ones (keep-everything) mask, zero the masked-out values and rebuild. The same mask is applied to all channels.

    Parameters
    ----------
    images : array-like or Tensor, shape [n, C, H, W]
    q : int, 1 <= q <= min(H, W)
        Number of smallest singular values that are switched on and off (paper: 10). More
        than 16 (65 535 copies per image) is refused.

    Returns
    -------
    Tensor, shape [n, 2**q - 1, C, H, W], dtype and device of ``images``
        Mask ``b`` (b = 0 .. 2**q - 2) keeps singular value ``min(H, W) - q + i`` (i-th of the
        q smallest, ascending order of index = descending value) iff bit i of ``b`` is set.
        Mask 0 zeroes all q values; the all-ones mask (the image itself) is left out: append
        the point itself to get the paper's K = 2**q.
    """
    t, q = _check_images(images, q)
    if q > _MAX_BINARY_Q:
        raise ValueError(f"q={q} would make 2**q - 1 = {2**q - 1} copies per image; use q <= {_MAX_BINARY_Q} "
                         "or continuous_svd_perturbations with an explicit n_samples")
    if q > 12:
        warnings.warn(f"svd_perturbations(q={q}) makes {2**q - 1} copies of each image", stacklevel=2)
    u, s, vh = _svd(t)
    bits = torch.arange(2**q - 1, device=t.device)[:, None].bitwise_right_shift(
        torch.arange(q, device=t.device)[None, :]).bitwise_and(1).to(s.dtype)  # [M, q]
    return _rebuild(t.to(torch.float64), u, s, vh, bits[None].expand(t.shape[0], -1, -1)).to(t.dtype)


def _rebuild(base, u, s, vh, factors):
    """base [n, C, H, W] (float64 images), u [n, C, H, r], s [n, C, r], vh [n, C, r, W],
    factors [n, M, q] -> [n, M, C, H, W].

    Factor i scales the i-th of the q smallest singular values above ``RELATIVE_FLOOR`` of each
    channel (ascending index = descending value, so i = q - 1 is the smallest). Only the
    perturbed part is rebuilt per copy: x' = x + U diag((f - 1) s) V^T, a rank-q update, so the
    unperturbed directions stay bit-identical to the original image.
    """
    q = factors.shape[-1]
    rank = (s > RELATIVE_FLOOR * s[..., :1]).sum(-1)                     # [n, C] nonzero values
    raw = rank[..., None] - q + torch.arange(q, device=s.device)          # [n, C, q]
    valid = raw >= 0                     # a channel of rank < q has fewer values to perturb
    idx = raw.clamp(min=0)
    sq = torch.gather(s, -1, idx) * valid                                 # [n, C, q]
    uq = torch.gather(u, -1, idx[..., None, :].expand(*u.shape[:-1], q))  # [n, C, H, q]
    vq = torch.gather(vh, -2, idx[..., :, None].expand(*idx.shape, vh.shape[-1]))  # [n, C, q, W]
    delta = (factors - 1)[:, :, None, :] * sq[:, None]                     # [n, M, C, q]
    pert = (uq[:, None] * delta[..., None, :]) @ vq[:, None]               # [n, M, C, H, W]
    return base[:, None] + pert


def continuous_svd_perturbations(images, q: int, n_samples: int, seed: int = 0, low: float = 0.0,
                                 high: float = 1.0) -> torch.Tensor:
    """Continuous random scalings of the q smallest singular values of every channel.

    Each copy multiplies each of the q smallest nonzero singular values by an independent factor
    drawn uniformly from [low, high] (the same factors for all channels of one copy, as with
    the binary masks). Unlike binary masks, whose coordinates sit on cube vertices where
    u_k^2 = u_k, these neighbourhoods make the quadratic fit identifiable.

    Parameters
    ----------
    images : array-like or Tensor, shape [n, C, H, W]
    q : int, 1 <= q <= min(H, W)
    n_samples : int >= 1
        Perturbed copies per image.
    seed : int
        Seed of a CPU ``torch.Generator``: the same seed gives the same factors on any device.
    low, high : float, low < high
        Range of the scaling factors (0 removes the value, 1 keeps it).

    Returns
    -------
    Tensor, shape [n, n_samples, C, H, W], dtype and device of ``images``
    """
    t, q = _check_images(images, q)
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"need finite low < high, got low={low}, high={high}")
    u, s, vh = _svd(t)
    gen = torch.Generator().manual_seed(int(seed))
    draws = torch.rand((t.shape[0], n_samples, q), generator=gen, dtype=torch.float64)
    factors = low + (high - low) * draws
    return _rebuild(t.to(torch.float64), u, s, vh, factors.to(t.device)).to(t.dtype)
