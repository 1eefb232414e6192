"""Geometry of trained networks on the product of spheres (Pittorino et al., ICML 2022).

With the rescaling and permutation symmetries of ReLU networks removed
(:mod:`latentgeom.networks.symmetries`), every hidden unit lives on a unit sphere and a network
is a point of a product of spheres. On that space:

- :func:`angles` / :func:`distance`: the angle between every two matched units, and the
  product-manifold geodesic distance between two normalised, aligned networks as the
  root-mean-square angle (radians, 0..pi);
- :func:`slerp`, :func:`geodesic_point` / :func:`linear_point`: a point of the geodesic (unit-wise
  slerp) or of the straight line between the raw weights; :func:`path_errors` the train/test 0-1
  error along either, :func:`barrier` the error barrier of a path;
- :func:`local_energy`: flatness as the mean rise of the training error under seeded
  multiplicative Gaussian weight noise ``w * (1 + sigma z)``;
- :func:`one_bend_path`: A -> C -> B along two geodesic segments, with the bend C trained (from
  the geodesic midpoint) for a low training loss along both segments (:func:`path_module`).

Used by :mod:`latentgeom.chapters.toroids`; the networks are :mod:`.toroid_networks`'.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..validation import check_choice, check_int, check_range
from . import symmetries as sym
from .toroid_networks import error

__all__ = ["PATH_KINDS", "angles", "barrier", "distance", "geodesic_point", "linear_point", "local_energy",
           "one_bend_path", "path_errors", "path_module", "slerp", "with_batchnorm_statistics"]

PATH_KINDS = ("geodesic", "linear")


def angles(a: nn.Sequential, b: nn.Sequential) -> np.ndarray:
    """Angle (radians) between every unit of two normalised, aligned networks (the output layer
    counts as one unit); ``ValueError`` when the architectures differ."""
    sym.same_architecture(a, b)
    pairs = zip(sym.spheres(sym.normalise(a)), sym.spheres(sym.normalise(b)))
    return torch.cat([torch.arccos((u * v).sum(1).clamp(-1, 1)) for u, v in pairs]).numpy()


def distance(a: nn.Sequential, b: nn.Sequential) -> float:
    """Geodesic distance on the product of spheres, per unit: ``sqrt(mean_i theta_i^2)`` (radians).

    The sum over units ``sqrt(sum theta^2)`` is the product manifold's geodesic distance; we
    divide by the number of units so that networks of different sizes compare (0: same point,
    pi/2: orthogonal units on average). Pass aligned networks (:func:`latentgeom.networks.
    symmetries.align`) for the symmetry-removed distance.
    """
    theta = angles(a, b)
    return float(np.sqrt(np.mean(theta ** 2)))


def slerp(u: torch.Tensor, v: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation, row by row, at fraction ``t`` from the unit rows ``u`` to ``v``
    ([units, fan_in] each); rows at (numerically) the same point interpolate linearly. Returns
    unit rows."""
    cos = (u * v).sum(1, keepdim=True).clamp(-1, 1)
    theta = torch.arccos(cos)
    sin = torch.sin(theta)
    small = sin < 1e-6
    wa = torch.where(small, 1 - t, torch.sin((1 - t) * theta) / torch.where(small, 1.0, sin))
    wb = torch.where(small, t, torch.sin(t * theta) / torch.where(small, 1.0, sin))
    out = wa * u + wb * v
    return out / out.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _output_norm(net: nn.Sequential) -> float:
    return float(sym.stages(net)[-1].weight.weight.detach().norm())


def geodesic_point(a: nn.Sequential, b: nn.Sequential, t: float, bn_images: torch.Tensor | None = None):
    """The point at fraction ``t`` of the geodesic from ``a`` to ``b`` (both normalised and aligned).

    Every unit moves along its great circle (slerp); the output layer's norm is interpolated
    linearly (the 0-1 error does not depend on it). BatchNorm statistics are recomputed on
    ``bn_images`` (required when the network has BatchNorm).
    """
    t = check_range(t, "t", 0.0, 1.0)
    blocks = [slerp(u, v, t) for u, v in zip(sym.spheres(a), sym.spheres(b))]
    point = sym.load_spheres(a, blocks, (1 - t) * _output_norm(a) + t * _output_norm(b))
    return with_batchnorm_statistics(point, bn_images)


def linear_point(a: nn.Sequential, b: nn.Sequential, t: float, bn_images: torch.Tensor | None = None):
    """``(1 - t) a + t b`` on the raw parameters (no alignment, no normalisation)."""
    t = check_range(t, "t", 0.0, 1.0)
    sym.stages(a)
    point = copy.deepcopy(a)
    with torch.no_grad():
        for p, pa, pb in zip(point.parameters(), a.parameters(), b.parameters()):
            if pa.shape != pb.shape:
                raise ValueError(f"networks must have the same architecture; got shapes {pa.shape} and {pb.shape}")
            p.copy_((1 - t) * pa + t * pb)
    return with_batchnorm_statistics(point, bn_images)


def with_batchnorm_statistics(net: nn.Sequential, bn_images: torch.Tensor | None) -> nn.Sequential:
    """``net`` in eval mode, its BatchNorm statistics recomputed on ``bn_images`` when it has
    BatchNorm (then ``bn_images`` is required: a new point of weight space has no statistics)."""
    has_bn = any(isinstance(m, sym.NORMS) for m in net.modules())
    if has_bn and bn_images is None:
        raise ValueError("bn_images is required for a network with BatchNorm (statistics are recomputed)")
    return sym.recompute_batchnorm(net, bn_images) if has_bn else net.eval()


def path_errors(a, b, kind: str, data: dict, n_points: int = 11, bn_images=None) -> pd.DataFrame:
    """0-1 errors along a path from ``a`` to ``b``: one row per ``t`` in ``linspace(0, 1, n_points)``.

    ``kind``: ``"geodesic"`` (pass normalised, aligned networks) or ``"linear"`` (raw networks);
    ``data``: ``{"train": (images, labels), "test": (images, labels)}``; columns ``t`` and
    ``<split>_error``.
    """
    check_choice(kind, "kind", PATH_KINDS)
    n_points = check_int(n_points, "n_points", minimum=2)
    point = geodesic_point if kind == "geodesic" else linear_point
    rows = []
    for t in np.linspace(0, 1, n_points):
        net = point(a, b, float(t), bn_images)
        rows.append({"t": float(t), **{f"{split}_error": error(net, *xy) for split, xy in data.items()}})
    return pd.DataFrame(rows)


def barrier(errors) -> float:
    """Error barrier of a path: the largest error along it minus the larger endpoint error (>= 0)."""
    errors = np.asarray(errors, dtype=float)
    return float(max(errors.max() - max(errors[0], errors[-1]), 0.0))


@torch.no_grad()
def local_energy(net: nn.Sequential, images, labels, sigmas, *, n_samples: int = 5, seed: int = 0,
                 bn_images=None) -> np.ndarray:
    """Flatness: ``dE(sigma) = E_z[err(w * (1 + sigma z))] - err(w)``, z ~ N(0, I), per sigma.

    Every weight (and bias) of every Linear/Conv layer is perturbed multiplicatively; this noise
    is invariant in distribution under unit rescaling and permutation, so it measures the same
    flatness on the raw and on the normalised network. ``n_samples`` seeded draws per sigma.
    Smaller = flatter. Returns an array of the shape of ``sigmas``.
    """
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    base = error(net, images, labels)
    g = torch.Generator().manual_seed(seed)
    out = []
    for sigma in sigmas:
        sigma = check_range(sigma, "sigma", 0.0, 10.0)
        total = 0.0
        for _ in range(n_samples):
            noisy = copy.deepcopy(net)
            for s in sym.stages(noisy):
                for p in (s.weight.weight, s.weight.bias):
                    if p is not None:
                        p.mul_(1 + sigma * torch.randn(p.shape, generator=g))
            total += error(with_batchnorm_statistics(noisy, bn_images), images, labels)
        out.append(total / n_samples - base)
    return np.asarray(out)


def one_bend_path(a, b, images, labels, *, steps: int = 200, lr: float = 0.01, batch_size: int = 100,
                  n_points: int = 11, seed: int = 0) -> nn.Sequential:
    """The bend C of a path A -> C -> B of two geodesic segments (A, B normalised and aligned).

    C starts at the geodesic midpoint and is trained by SGD (momentum 0.9) on the cross-entropy
    of the *path points* next to it: each step draws a mini-batch and a random ``t`` in (0, 1)
    of one of the two segments and moves C to lower the loss there; C is kept normalised and
    aligned to A. Returns C (normalised); measure the path with :func:`path_errors` on (A, C)
    and (C, B).
    """
    check_int(steps, "steps", minimum=0)
    st = sym.stages(a)
    if any(s.bn is not None or s.weight.bias is not None or type(s.weight) not in (nn.Linear, nn.Conv2d)
           for s in st):
        raise ValueError("one_bend_path supports bias-free real-valued ReLU networks without BatchNorm")
    c = geodesic_point(a, b, 0.5)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(c.parameters(), lr=lr, momentum=0.9)
    ends = [sym.spheres(a), sym.spheres(b)]
    c.train()
    for _ in range(steps):
        idx = torch.randint(len(labels), (batch_size,), generator=g)
        t = float(torch.rand((), generator=g))  # from the segment's end (0) to C (1)
        end = ends[int(torch.randint(2, (), generator=g))]
        point = path_module(end, c, t)
        opt.zero_grad()
        nn.functional.cross_entropy(point(images[idx]), labels[idx]).backward()
        opt.step()
    bend = sym.load_spheres(c, sym.spheres(c))  # the network of c's unit directions (as the path saw it)
    return sym.align(a, bend.eval())


def path_module(end_blocks: list[torch.Tensor], c: nn.Sequential, t: float) -> nn.Module:
    """A differentiable network at fraction ``t`` of the segment end -> ``c``.

    ``end_blocks`` are the segment end's unit vectors (:func:`latentgeom.networks.symmetries.
    spheres`). Each unit is the renormalised linear mix of its two end directions: a point of
    the same great-circle arc as the slerp (at a reparametrised ``t``), through which the
    gradient reaches ``c``'s weights."""
    st = sym.stages(c)
    weights, k = [], 0
    for i, stage in enumerate(st):
        w = stage.weight.weight
        if i < len(st) - 1:
            rows = w.flatten(1)
            rows = rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
            mixed = (1 - t) * end_blocks[k].to(w.dtype) + t * rows
            mixed = mixed / mixed.norm(dim=1, keepdim=True).clamp_min(1e-12)
            weights.append(mixed.reshape(w.shape))
        else:
            direction = w.flatten() / w.norm()
            mixed = (1 - t) * end_blocks[k].to(w.dtype).flatten() + t * direction
            mixed = mixed / mixed.norm().clamp_min(1e-12) * w.norm()
            weights.append(mixed.reshape(w.shape))
        k += 1

    class Point(nn.Module):
        def forward(self, x):
            j = 0
            for m in c:
                if isinstance(m, sym.WEIGHTS):
                    fn = nn.functional.linear if isinstance(m, nn.Linear) else (
                        lambda x, w, m=m: nn.functional.conv2d(x, w, padding=m.padding))
                    x = fn(x, weights[j])
                    j += 1
                else:
                    x = m(x)
            return x

    return Point()
