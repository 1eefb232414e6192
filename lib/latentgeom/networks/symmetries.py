"""Symmetry removal for ReLU networks: positive rescaling and permutations of hidden units.

Used by the toroidal-landscape chapter (Pittorino, Ferraro, Perugini, Feinauer, Baldassi &
Zecchina, "Deep networks on toroids: removing symmetries reveals the structure of flat regions
in the landscape geometry", ICML 2022, arXiv:2202.03038): ``book/findings/toroids-landscape.md``
through :mod:`latentgeom.chapters.toroids`; the geometry built on it (distances, geodesics,
flatness) is :mod:`latentgeom.networks.weight_space`.

A network is an ``nn.Sequential`` of *stages*: a weight layer (``nn.Linear`` or ``nn.Conv2d``,
with or without bias), optionally an ``nn.BatchNorm1d/2d`` right after it, then a positively
homogeneous activation (``nn.ReLU``, or any module with ``homogeneous_degree = 0`` such as a
sign activation) and pass-through layers (``nn.Flatten``, ``nn.MaxPool2d``, ``nn.AvgPool2d``,
``nn.Dropout``, ``nn.Identity``). The last weight layer is the output layer. Anything else is a
``ValueError`` naming the layer.

- :func:`normalise`: every hidden unit's incoming vector (weights and bias) is divided by its
  norm and the unit's outgoing weights multiplied by it, layer by layer from the input, so each
  unit lives on a unit sphere (a product of spheres: the "toroidal" parameterisation). A unit
  followed by BatchNorm is scale-free in its pre-BN weights: they are normalised and the running
  statistics rescaled exactly (what recomputing them on the same data gives), and the BN
  affine pair (gamma, beta) is the vector that is normalised against the outgoing weights. The
  output layer keeps its global scale (the 0-1 error does not depend on it; geometry uses its
  direction).
- :func:`align`: permutes the hidden units of one network to match another, layer by layer, by
  linear assignment (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``) on the
  cosine similarity of the normalised incoming vectors (``raw=True``: the same permutation of
  the raw, unnormalised weights).
- :func:`spheres` / :func:`load_spheres`: the unit vectors of a normalised network, as blocks of
  rows ``[units, fan_in]`` (the output layer is one row), and back.
- :func:`recompute_batchnorm`: fresh BN running statistics on a batch (after a perturbation or
  at a path point).

Every function returns new modules; its inputs are never modified.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["align", "load_spheres", "normalise", "random_symmetry", "recompute_batchnorm", "same_architecture",
           "spheres", "stages"]

WEIGHTS = (nn.Linear, nn.Conv2d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
PASS_THROUGH = (nn.Flatten, nn.MaxPool2d, nn.AvgPool2d, nn.Dropout, nn.Identity)
SUPPORTED = "Linear, Conv2d, BatchNorm1d/2d, ReLU (or homogeneous_degree=0 activations), Flatten, " \
            "MaxPool2d, AvgPool2d, Dropout, Identity"


@dataclass
class Stage:
    """One weight layer with its optional BatchNorm and the activation's homogeneity degree."""

    weight: nn.Module
    bn: nn.Module | None = None
    degree: int = 1  # 1: ReLU (outgoing weights compensate a rescaling); 0: sign-like (no compensation)


def _activation_degree(module: nn.Module) -> int | None:
    if isinstance(module, nn.ReLU):
        return 1
    degree = getattr(module, "homogeneous_degree", None)
    return degree if degree in (0, 1) else None


def stages(net: nn.Module) -> list[Stage]:
    """Parse an ``nn.Sequential`` into stages; ``ValueError`` naming any unsupported layer."""
    if not isinstance(net, nn.Sequential):
        raise ValueError(f"net must be an nn.Sequential of {SUPPORTED}; got {type(net).__name__}")
    out: list[Stage] = []
    for i, module in enumerate(net):
        if isinstance(module, WEIGHTS):
            out.append(Stage(module))
        elif isinstance(module, NORMS):
            if not out or out[-1].bn is not None or net[i - 1] is not out[-1].weight:
                raise ValueError(f"layer {i} ({type(module).__name__}) must directly follow a Linear/Conv2d layer")
            out[-1].bn = module
        elif _activation_degree(module) is not None or isinstance(module, PASS_THROUGH):
            if _activation_degree(module) is not None and out:
                out[-1].degree = _activation_degree(module)
        else:
            raise ValueError(f"unsupported layer {i} ({type(module).__name__}); supported layers: {SUPPORTED}")
    if len(out) < 2:
        raise ValueError(f"net needs at least two weight layers (one hidden layer), got {len(out)}")
    for a, b in zip(out, out[1:]):
        n_out = a.weight.weight.shape[0]
        n_in = b.weight.weight.shape[1]
        if n_in % n_out:
            raise ValueError(f"layer with {n_out} outputs cannot feed a layer with {n_in} inputs")
    return out


def _incoming(stage: Stage) -> torch.Tensor:
    """Pre-activation incoming vectors, [units, fan_in (+1 for the bias)]."""
    w = stage.weight.weight.detach().flatten(1)
    if stage.weight.bias is not None:
        w = torch.cat([w, stage.weight.bias.detach()[:, None]], 1)
    return w


def _affine(stage: Stage) -> torch.Tensor | None:
    bn = stage.bn
    if bn is None or not bn.affine:
        return None
    return torch.stack([bn.weight.detach(), bn.bias.detach()], 1)


@torch.no_grad()
def _scale_in(stage: Stage, s: torch.Tensor) -> None:
    """Multiply each unit's incoming weights (and bias) by ``s`` [units].

    Before a BatchNorm the running statistics are rescaled so that the function is exactly
    unchanged (what recomputing them on the same data gives):
    ``(s x - s m) / sqrt(v' + eps) == (x - m) / sqrt(v + eps)`` with ``v' = s^2 (v + eps) - eps``.
    """
    shape = (-1,) + (1,) * (stage.weight.weight.ndim - 1)
    stage.weight.weight.mul_(s.view(shape))
    if stage.weight.bias is not None:
        stage.weight.bias.mul_(s)
    bn = stage.bn
    if bn is not None and bn.track_running_stats and bn.running_mean is not None:
        bn.running_mean.mul_(s)
        bn.running_var.copy_(s ** 2 * (bn.running_var + bn.eps) - bn.eps)


@torch.no_grad()
def _scale_out(stage: Stage, nxt: Stage, s: torch.Tensor) -> None:
    """Multiply the next layer's input columns fed by each unit by ``s`` [units]."""
    w = nxt.weight.weight
    per_unit = w.shape[1] // len(s)  # > 1 when a conv layer feeds a Linear through Flatten
    col = s.repeat_interleave(per_unit)
    w.mul_(col.view((1, -1) + (1,) * (w.ndim - 2)))


@torch.no_grad()
def _permute(stage: Stage, nxt: Stage, perm: torch.Tensor) -> None:
    stage.weight.weight.copy_(stage.weight.weight[perm])
    if stage.weight.bias is not None:
        stage.weight.bias.copy_(stage.weight.bias[perm])
    if stage.bn is not None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            t = getattr(stage.bn, name)
            if t is not None:
                t.copy_(t[perm])
    w = nxt.weight.weight
    per_unit = w.shape[1] // len(perm)
    cols = (perm[:, None] * per_unit + torch.arange(per_unit)).flatten()
    w.copy_(w[:, cols])


def _norms(rows: torch.Tensor) -> torch.Tensor:
    n = rows.norm(dim=1)
    return torch.where(n > 0, n, torch.ones_like(n))


@torch.no_grad()
def normalise(net: nn.Sequential) -> nn.Sequential:
    """A copy of ``net`` with every hidden unit's incoming vector of unit norm, same function.

    Layer by layer from the input (see the module docstring for BatchNorm); the output layer
    is unchanged. Normalising twice changes nothing.
    """
    net = copy.deepcopy(net)
    st = stages(net)
    for stage, nxt in zip(st, st[1:]):
        a = _norms(_incoming(stage))
        _scale_in(stage, 1 / a)
        if stage.bn is not None:
            affine = _affine(stage)
            if affine is None:
                continue  # BN without affine absorbs the scale: nothing reaches the next layer
            g = _norms(affine)
            stage.bn.weight.div_(g)
            stage.bn.bias.div_(g)
            a = g
        if stage.degree == 1:
            _scale_out(stage, nxt, a)
    return net


def spheres(net: nn.Sequential) -> list[torch.Tensor]:
    """The unit vectors of a *normalised* network, as blocks of rows (float64).

    One block ``[units, fan_in (+1)]`` per hidden layer (incoming weights and bias), one
    ``[units, 2]`` block per affine BatchNorm (gamma, beta), and the output layer as a single
    row (its direction: all its weights and bias, divided by their norm).
    """
    st = stages(net)
    blocks = []
    for stage in st[:-1]:
        rows = _incoming(stage).double()
        blocks.append(rows / _norms(rows)[:, None])
        affine = _affine(stage)
        if affine is not None:
            blocks.append(affine.double() / _norms(affine.double())[:, None])
    out = _incoming(st[-1]).double().flatten()[None]
    blocks.append(out / _norms(out)[:, None])
    return blocks


@torch.no_grad()
def load_spheres(net: nn.Sequential, blocks: list[torch.Tensor], output_norm: float | None = None) -> nn.Sequential:
    """A copy of ``net`` whose parameters are set from ``blocks`` (the layout of :func:`spheres`).

    The output layer's direction is scaled to ``output_norm`` (default: ``net``'s). BatchNorm
    running statistics are *not* valid afterwards: call :func:`recompute_batchnorm`.
    """
    net = copy.deepcopy(net)
    st = stages(net)
    blocks = list(blocks)
    expected = len(st) + sum(_affine(s) is not None for s in st[:-1])
    if len(blocks) != expected:
        raise ValueError(f"blocks must hold {expected} arrays for this network, got {len(blocks)}")

    def put(stage: Stage, rows: torch.Tensor) -> None:
        w = stage.weight.weight
        rows = rows.to(w.dtype)
        if rows.numel() != w.numel() + (0 if stage.weight.bias is None else stage.weight.bias.numel()):
            raise ValueError(f"a block of shape {tuple(rows.shape)} does not fit layer {stage.weight}")
        rows = rows.reshape(w.shape[0], -1)
        w.copy_(rows[:, : w[0].numel()].reshape(w.shape))
        if stage.weight.bias is not None:
            stage.weight.bias.copy_(rows[:, -1])

    for stage in st[:-1]:
        put(stage, blocks.pop(0))
        if _affine(stage) is not None:
            pair = blocks.pop(0).to(stage.bn.weight.dtype)
            stage.bn.weight.copy_(pair[:, 0])
            stage.bn.bias.copy_(pair[:, 1])
    norm = float(_incoming(st[-1]).norm()) if output_norm is None else float(output_norm)
    put(st[-1], blocks.pop(0) * norm)
    return net


def same_architecture(a: nn.Sequential, b: nn.Sequential) -> tuple[list[Stage], list[Stage]]:
    """The stages of ``a`` and ``b``; ``ValueError`` unless their layers have the same types and shapes."""
    sa, sb = stages(a), stages(b)
    shapes_a = [(type(s.weight).__name__, tuple(s.weight.weight.shape), s.weight.bias is not None, s.bn is not None)
                for s in sa]
    shapes_b = [(type(s.weight).__name__, tuple(s.weight.weight.shape), s.weight.bias is not None, s.bn is not None)
                for s in sb]
    if shapes_a != shapes_b:
        raise ValueError(f"networks must have the same architecture; got {shapes_a} and {shapes_b}")
    return sa, sb


@torch.no_grad()
def align(reference: nn.Sequential, other: nn.Sequential, *, raw: bool = False) -> nn.Sequential:
    """``other``, normalised and with its hidden units permuted to best match ``reference``.

    Both networks are normalised (:func:`normalise`); layer by layer from the input, the
    permutation maximising the summed cosine similarity of the units' incoming vectors (and
    BN pairs) is found by linear assignment, applied to the layer's units and to the next
    layer's input columns. Returns a new network computing the same function as ``other``.
    With ``raw=True`` the same permutations are applied to ``other``'s *raw* weights (no
    normalisation: only the permutation symmetry removed), e.g. for a linear path between
    aligned networks. ``ValueError`` when the architectures differ.
    """
    # Here, not at the top: scipy.optimize costs 0.4 s of every import of the networks package
    # (each worker process), and only this alignment needs it.
    from scipy.optimize import linear_sum_assignment

    same_architecture(reference, other)
    ref, out = normalise(reference), normalise(other)
    kept = copy.deepcopy(other) if raw else None
    sr, so = stages(ref), stages(out)
    sk = stages(kept) if raw else None
    for i, ((r, o), nxt) in enumerate(zip(zip(sr, so), so[1:])):
        sim = _incoming(r).double() @ _incoming(o).double().T
        if _affine(r) is not None:
            sim = sim + _affine(r).double() @ _affine(o).double().T
        _, cols = linear_sum_assignment(sim.numpy(), maximize=True)
        perm = torch.as_tensor(cols, dtype=torch.long)
        _permute(o, nxt, perm)
        if raw:
            _permute(sk[i], sk[i + 1], perm)
    return kept if raw else out


@torch.no_grad()
def random_symmetry(net: nn.Sequential, seed: int = 0, scale: tuple[float, float] = (0.2, 5.0)) -> nn.Sequential:
    """A copy of ``net`` with hidden units randomly permuted and positively rescaled (same function).

    For tests and demonstrations: scales are log-uniform in ``scale``.
    """
    net = copy.deepcopy(net)
    st = stages(net)
    g = torch.Generator().manual_seed(seed)
    lo, hi = np.log(scale[0]), np.log(scale[1])

    def draw(n: int, dtype: torch.dtype) -> torch.Tensor:  # n log-uniform positive scales
        u = torch.rand(n, generator=g, dtype=torch.float64)
        return torch.exp(lo + (hi - lo) * u).to(dtype)

    for stage, nxt in zip(st, st[1:]):
        n = stage.weight.weight.shape[0]
        _permute(stage, nxt, torch.randperm(n, generator=g))
        s = draw(n, stage.weight.weight.dtype)
        _scale_in(stage, s)
        if stage.bn is not None:
            if _affine(stage) is None:
                continue
            s = draw(n, stage.weight.weight.dtype)
            stage.bn.weight.mul_(s)
            stage.bn.bias.mul_(s)
        if stage.degree == 1:
            _scale_out(stage, nxt, 1 / s)
    return net


@torch.no_grad()
def recompute_batchnorm(net: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> nn.Module:
    """Reset every BatchNorm's running statistics to their average over ``images``.

    The statistics are the cumulative average of the per-batch ones (batches of
    ``batch_size``; one batch when ``len(images) <= batch_size``). Modifies and returns ``net``
    (left in eval mode); a network without BatchNorm is returned unchanged.
    """
    norms = [m for m in net.modules() if isinstance(m, NORMS)]
    if not norms:
        return net.eval()
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    net.train()
    for batch in images.split(batch_size):
        net(batch)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return net.eval()
