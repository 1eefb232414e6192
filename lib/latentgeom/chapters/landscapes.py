"""Loss landscapes on toroids (Pittorino et al., ICML 2022): ``book/findings/toroids-landscape.md``.

Pittorino, Ferraro, Perugini, Feinauer, Baldassi & Zecchina, "Deep networks on toroids:
removing symmetries reveals the structure of flat regions in the landscape geometry", ICML
2022 (arXiv:2202.03038). With the rescaling and permutation symmetries of ReLU networks removed
(:mod:`latentgeom.networks.symmetries`), every hidden unit lives on a unit sphere and a network
is a point of a product of spheres. This module measures, on that space:

- :func:`distance`: the product-manifold geodesic distance between two normalised, aligned
  networks, as the root-mean-square angle between their units (radians, 0..pi);
- :func:`geodesic_point` / :func:`linear_point`: a point of the geodesic (unit-wise slerp) or of
  the straight line between the raw weights; :func:`path_errors` the train/test 0-1 error along
  either, :func:`barrier` the error barrier of a path;
- :func:`local_energy`: flatness as the mean rise of the training error under seeded
  multiplicative Gaussian weight noise ``w * (1 + sigma z)``;
- :func:`one_bend_path`: A -> C -> B along two geodesic segments, with the bend C trained (from
  the geodesic midpoint) for a low training loss along both segments;
- the networks: :func:`build` (bias-free ReLU MLP, small CNN, binary MLP with sign weights and
  activations), :func:`train_network` (a compact loop, trained weights cached under
  ``lg.paths.model_cache_dir()/toroids``), :data:`RECIPES` (optimisers that find minima of
  different flatness);
- :func:`run`: the chapter's grid (architectures x recipes x seeds, pairs, paths), every table
  cached by content key, so the book's second build trains and measures nothing; and the
  chapter's charts (:func:`path_chart`, :func:`energy_chart`).
"""
from __future__ import annotations

import copy
import io
import itertools
from dataclasses import asdict, dataclass, field

import altair as alt
import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from ..networks import symmetries as sym
from ..networks.data import load_tensors
from ..paths import model_cache_dir
from ..storage import atomic_write, cached_frame, content_key, refuse_if_cache_only
from ..validation import check_choice, check_int, check_range
from .protocol import with_overrides

ARCHITECTURES = ("mlp", "cnn", "binary_mlp")
PATH_KINDS = ("geodesic", "linear")
CACHE_VERSION = 1
NOTEBOOK = "book/findings/toroids-landscape.md"  # the chapter's page


# ---------------------------------------------------------------------------------------------
# Networks


class BinaryLinear(nn.Linear):
    """A linear layer with weights ``sign(w) / sqrt(fan_in)``; gradients reach the real latent
    weights ``w`` through the straight-through estimator."""

    def forward(self, x):
        w = self.weight
        binary = torch.where(w >= 0, 1.0, -1.0)
        w = w + (binary - w).detach()
        return nn.functional.linear(x, w) / self.in_features ** 0.5


class Sign(nn.Module):
    """Sign activation (+1 for x >= 0, else -1); straight-through gradient of hardtanh."""

    homogeneous_degree = 0  # sign(a x) == sign(x) for a > 0 (see latentgeom.networks.symmetries)

    def forward(self, x):
        clipped = x.clamp(-1, 1)
        return clipped + (torch.where(x >= 0, 1.0, -1.0) - clipped).detach()


def build(architecture: str, seed: int = 0) -> nn.Sequential:
    """A freshly initialised network for 28x28 grey images and 10 classes (no biases).

    ``"mlp"``: 784-128-64-10 ReLU; ``"cnn"``: two 3x3 conv layers (8, 16 channels) with ReLU and
    2x2 max-pooling, then a linear classifier; ``"binary_mlp"``: 784-128-64-10 with sign weights
    and sign activations.
    """
    check_choice(architecture, "architecture", ARCHITECTURES)
    torch.manual_seed(seed)
    if architecture == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 128, bias=False), nn.ReLU(),
                             nn.Linear(128, 64, bias=False), nn.ReLU(), nn.Linear(64, 10, bias=False))
    if architecture == "cnn":
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(16 * 7 * 7, 10, bias=False))
    return nn.Sequential(nn.Flatten(), BinaryLinear(784, 128, bias=False), Sign(),
                         BinaryLinear(128, 64, bias=False), Sign(), BinaryLinear(64, 10, bias=False))


@torch.no_grad()
def binarised(net: nn.Sequential) -> nn.Sequential:
    """A copy of a binary network whose latent weights are replaced by their signs (same function)."""
    net = copy.deepcopy(net)
    for m in net.modules():
        if isinstance(m, BinaryLinear):
            m.weight.copy_(torch.where(m.weight >= 0, 1.0, -1.0))
    return net


@dataclass(frozen=True)
class Recipe:
    """An optimiser setting: ``optimiser`` "sgd" (momentum 0.9) or "adam", learning rate,
    mini-batch size and (decoupled for Adam, i.e. AdamW) weight decay."""

    optimiser: str
    lr: float
    batch_size: int
    weight_decay: float = 0.0


#: Optimisers known to end in minima of different flatness: small-batch SGD (flat), large-batch
#: SGD and Adam (sharper), with and without weight decay.
RECIPES: dict[str, Recipe] = {
    "SGD bs32": Recipe("sgd", 0.02, 32),
    "SGD bs32 wd": Recipe("sgd", 0.02, 32, 1e-3),
    "SGD bs500": Recipe("sgd", 0.05, 500),  # lr 0.1 left the CNN at chance level (measured)
    "Adam bs100": Recipe("adam", 2e-3, 100),
    "Adam bs100 wd": Recipe("adam", 2e-3, 100, 0.05),
}


@torch.no_grad()
def error(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """0-1 error (fraction of wrong argmax predictions) of ``net`` on ``images`` [N, 1, 28, 28]."""
    net.eval()
    wrong = sum((net(x).argmax(1) != y).sum().item() for x, y in zip(images.split(batch_size),
                                                                       labels.split(batch_size)))
    return wrong / len(labels)


def _optimiser(recipe: Recipe, params):
    if recipe.optimiser == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=0.9, weight_decay=recipe.weight_decay)
    return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def _fit(net: nn.Sequential, recipe: Recipe, images, labels, *, max_epochs: int, seed: int) -> int:
    """Train ``net`` in place until zero training error or ``max_epochs``; returns the epochs run."""
    opt = _optimiser(recipe, net.parameters())
    g = torch.Generator().manual_seed(seed)
    binary = any(isinstance(m, BinaryLinear) for m in net.modules())
    for epoch in range(1, max_epochs + 1):
        net.train()
        mistakes = 0
        for idx in torch.randperm(len(labels), generator=g).split(recipe.batch_size):
            opt.zero_grad()
            logits = net(images[idx])
            nn.functional.cross_entropy(logits, labels[idx]).backward()
            opt.step()
            mistakes += int((logits.argmax(1) != labels[idx]).sum())
            if binary:  # latent weights of a binary network stay in [-1, 1]
                with torch.no_grad():
                    for p in net.parameters():
                        p.clamp_(-1, 1)
        # no mistake on any mini-batch of the epoch (seen before each step): then check exactly
        if mistakes == 0 and error(net, images, labels) == 0:
            break
    return epoch


def init_seed(recipe: str, seed: int) -> int:
    """The initialisation (and mini-batch order) seed of run ``seed`` of ``recipe``: every
    network starts from its own random point, also across recipes."""
    return int(content_key("init", recipe, seed)[:8], 16)


def train_network(architecture: str, recipe: str, seed: int, images: torch.Tensor, labels: torch.Tensor,
                  *, max_epochs: int, cache: bool = True) -> tuple[nn.Sequential, int]:
    """A network trained with one of :data:`RECIPES` until zero training error (or ``max_epochs``).

    Returns ``(net, epochs)``. Cached under ``model_cache_dir()/toroids`` by the content key of
    the architecture, recipe, seed, epochs and the training tensors: a second call loads. With
    ``LATENTGEOM_NO_TRAIN=1`` a cache miss raises ``latentgeom.storage.CacheMiss``.
    """
    check_choice(recipe, "recipe", RECIPES)
    check_int(max_epochs, "max_epochs", minimum=1)
    key = content_key("toroids", CACHE_VERSION, architecture, asdict(RECIPES[recipe]), seed, max_epochs,
                      images, labels)
    path = model_cache_dir() / "toroids" / f"{key}.pt"
    net = build(architecture, init_seed(recipe, seed))
    if cache and path.is_file():
        saved = torch.load(path, weights_only=True)
        net.load_state_dict(saved["state"])
        return net.eval(), int(saved["epochs"])
    if cache:
        refuse_if_cache_only("model", f"toroids network {architecture}/{recipe}/seed {seed}", path.parent)
    epochs = _fit(net, RECIPES[recipe], images, labels, max_epochs=max_epochs, seed=init_seed(recipe, seed))
    if cache:
        buffer = io.BytesIO()
        torch.save({"state": net.state_dict(), "epochs": epochs}, buffer)
        atomic_write(path, buffer.getvalue())
    return net.eval(), epochs


# ---------------------------------------------------------------------------------------------
# Geometry on the product of spheres


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


def _slerp(u: torch.Tensor, v: torch.Tensor, t: float) -> torch.Tensor:
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
    blocks = [_slerp(u, v, t) for u, v in zip(sym.spheres(a), sym.spheres(b))]
    point = sym.load_spheres(a, blocks, (1 - t) * _output_norm(a) + t * _output_norm(b))
    return _bn(point, bn_images)


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
    return _bn(point, bn_images)


def _bn(net: nn.Sequential, bn_images) -> nn.Sequential:
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
            total += error(_bn(noisy, bn_images), images, labels)
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
        point = _path_module(end, c, t)
        opt.zero_grad()
        nn.functional.cross_entropy(point(images[idx]), labels[idx]).backward()
        opt.step()
    bend = sym.load_spheres(c, sym.spheres(c))  # the network of c's unit directions (as the path saw it)
    return sym.align(a, bend.eval())


def _path_module(end_blocks, c: nn.Sequential, t: float) -> nn.Module:
    """A differentiable network at fraction ``t`` of the segment end -> ``c``.

    Each unit is the renormalised linear mix of its two end directions: a point of the same
    great-circle arc as the slerp (at a reparametrised ``t``), through which the gradient
    reaches ``c``."""
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


# ---------------------------------------------------------------------------------------------
# The chapter's grid


@dataclass(frozen=True)
class LandscapeSettings:
    """Scale of the toroidal-landscape chapter.

    Attributes
    ----------
    n_train, n_test : int
        Fashion-MNIST training images (networks are trained to zero training error on them) and
        test images.
    architectures : tuple of str
        Real-valued networks of claims 1-4 (see :func:`build`).
    recipes : tuple of str
        Optimisers (keys of :data:`RECIPES`).
    seeds, max_epochs : dict
        Per architecture: runs of every recipe, and the epoch cap (training stops earlier at
        zero training error).
    sigmas : tuple of float
        Relative noise levels of the local energy; flatness is its mean over them.
    n_perturb : int
        Seeded noise draws per sigma.
    path_points : int
        Points per path (including both ends).
    path_architectures : tuple of str
        Architectures whose geodesic and linear paths are measured.
    bend_architectures : tuple of str
        Architectures whose one-bend paths are measured (between minima of different recipes).
    bend_steps : int
        SGD steps of the one-bend path's bend point.
    binary_recipes, binary_seeds, binary_sigmas, binary_max_epochs
        The binary MLP's grid (claim 5).
    """

    name: str
    n_train: int = 2000
    n_test: int = 2000
    architectures: tuple = ("mlp", "cnn")
    recipes: tuple = tuple(RECIPES)
    seeds: dict = field(default_factory=lambda: {"mlp": 3, "cnn": 2})
    max_epochs: dict = field(default_factory=lambda: {"mlp": 60, "cnn": 20})
    sigmas: tuple = (0.1, 0.2, 0.3, 0.4, 0.5)
    n_perturb: int = 3
    path_points: int = 9
    path_architectures: tuple = ("mlp", "cnn")
    bend_architectures: tuple = ("mlp",)
    bend_steps: int = 300
    binary_recipes: tuple = ("SGD bs32", "SGD bs500", "Adam bs100", "Adam bs100 wd")
    binary_seeds: int = 3
    binary_sigmas: tuple = (0.2, 0.3, 0.4, 0.5)
    binary_max_epochs: int = 30

    def __post_init__(self):
        check_int(self.n_train, "n_train", minimum=20)
        check_int(self.n_test, "n_test", minimum=20)
        for a in self.architectures:
            if a not in self.seeds or a not in self.max_epochs:
                raise ValueError(f"seeds and max_epochs must name every architecture {self.architectures}")
            check_int(self.seeds[a], f"seeds[{a!r}]", minimum=2)
            check_int(self.max_epochs[a], f"max_epochs[{a!r}]", minimum=1)
        check_int(self.binary_seeds, "binary_seeds", minimum=2)
        check_int(self.path_points, "path_points", minimum=3)
        for a in (*self.path_architectures, *self.bend_architectures):
            check_choice(a, "path and bend architectures", self.architectures)
        for a in self.architectures:
            check_choice(a, "architectures", ARCHITECTURES[:2])
        for r in (*self.recipes, *self.binary_recipes):
            check_choice(r, "recipes", RECIPES)


SETTINGS: dict[str, LandscapeSettings] = {
    "tiny": LandscapeSettings(name="tiny", n_train=200, n_test=200, architectures=("mlp",),
                              recipes=("SGD bs32", "Adam bs100"), seeds={"mlp": 2}, max_epochs={"mlp": 3}, sigmas=(0.2, 0.5),
                              n_perturb=1, path_points=3, path_architectures=("mlp",), bend_steps=5,
                              bend_architectures=("mlp",),
                              binary_recipes=("SGD bs32", "Adam bs100"), binary_seeds=2, binary_sigmas=(0.5,),
                              binary_max_epochs=2),
    "default": LandscapeSettings(name="default"),
}


def get_settings(preset: str, **overrides) -> LandscapeSettings:
    """The chapter's settings for a preset name, with single fields overridden (None = keep)."""
    if preset not in SETTINGS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(SETTINGS)}")
    return with_overrides(SETTINGS[preset], "landscape setting", **overrides)


def _data(settings: LandscapeSettings, seed: int) -> dict:
    return {"train": load_tensors("fashion-mnist", "train", n=settings.n_train, seed=seed),
            "test": load_tensors("fashion-mnist", "test", n=settings.n_test, seed=seed)}


def _networks(settings, data, architecture, recipes, seeds, max_epochs, sigmas, seed, progress):
    """Train (or load) every network of one architecture and measure errors and flatness."""
    nets, rows = {}, []
    grid = list(itertools.product(recipes, range(seeds)))
    for recipe, s in tqdm(grid, desc=f"{architecture} networks", disable=not progress):
        net, epochs = train_network(architecture, recipe, s, *data["train"], max_epochs=max_epochs)
        if architecture == "binary_mlp":
            net = binarised(net)
        energy = local_energy(net, *data["train"], sigmas, n_samples=settings.n_perturb, seed=seed)
        nets[(recipe, s)] = net
        rows.append({"architecture": architecture, "recipe": recipe, "seed": s, "epochs": epochs,
                     "train_error": error(net, *data["train"]), "test_error": error(net, *data["test"]),
                     "flatness": float(energy.mean()),
                     **{f"dE_{sigma:g}": float(e) for sigma, e in zip(sigmas, energy)}})
    return nets, pd.DataFrame(rows)


def _pairs(architecture, nets, table) -> pd.DataFrame:
    flat = {(r.recipe, r.seed): r.flatness for r in table.itertuples()}
    rows = []
    for (ka, a), (kb, b) in itertools.combinations(nets.items(), 2):
        rows.append({"architecture": architecture, "a": f"{ka[0]} #{ka[1]}", "b": f"{kb[0]} #{kb[1]}",
                     "same_recipe": ka[0] == kb[0], "recipe_a": ka[0], "recipe_b": kb[0],
                     "flatness": (flat[ka] + flat[kb]) / 2,
                     "distance_aligned": distance(sym.normalise(a), sym.align(a, b)),
                     "distance_unaligned": distance(sym.normalise(a), sym.normalise(b))})
    return pd.DataFrame(rows)


def _path_pairs(recipes) -> list:
    """Seeds 0 and 1 of every recipe, and seed 0 of every two recipes."""
    return [((r, 0), (r, 1)) for r in recipes] + [((r, 0), (q, 0)) for r, q in itertools.combinations(recipes, 2)]


def _paths(settings, data, architecture, nets, seed, progress) -> pd.DataFrame:
    frames = []
    for ka, kb in tqdm(_path_pairs(settings.recipes), desc=f"{architecture} paths", disable=not progress):
        a, b = nets[ka], nets[kb]
        na, nb = sym.normalise(a), sym.align(a, b)
        label = dict(architecture=architecture, pair=f"{ka[0]} #{ka[1]} / {kb[0]} #{kb[1]}",
                     same_recipe=ka[0] == kb[0])
        parts = {"geodesic": path_errors(na, nb, "geodesic", data, settings.path_points),
                 "linear": path_errors(a, b, "linear", data, settings.path_points)}
        if ka[0] != kb[0] and architecture in settings.bend_architectures:
            bend = one_bend_path(na, nb, *data["train"], steps=settings.bend_steps, seed=seed)
            first = path_errors(na, bend, "geodesic", data, settings.path_points)
            second = path_errors(bend, nb, "geodesic", data, settings.path_points)
            first["t"] /= 2
            second["t"] = 0.5 + second["t"] / 2
            parts["one bend"] = pd.concat([first, second.iloc[1:]], ignore_index=True)
        for kind, frame in parts.items():
            frames.append(frame.assign(kind=kind, **label))
    return pd.concat(frames, ignore_index=True)


def run(settings: LandscapeSettings, seed: int = 0, *, progress: bool = True, cache: bool = True) -> dict:
    """The chapter's measurements, each cached by the content key of the settings and seed.

    Returns ``{"networks", "pairs", "paths", "binary_networks", "binary_pairs"}`` frames:
    one row per network (errors, local energy per sigma, ``flatness``), per pair of networks of
    one architecture (aligned and unaligned distance, mean flatness), per path point (``kind``
    geodesic / linear / one bend), and the same for the binary MLP. ``seed`` picks the
    data subset and the perturbations; the networks' seeds are ``0 .. seeds-1``.
    """
    check_int(seed, "seed", minimum=0)
    recipes = {r: asdict(RECIPES[r]) for r in (*settings.recipes, *settings.binary_recipes)}
    key = content_key("toroids-run", CACHE_VERSION, asdict(settings), recipes, seed)
    folder = model_cache_dir() / "toroids" / "results"
    data = _data(settings, seed)
    state: dict = {}

    def real():
        if "nets" not in state:
            state["nets"], state["tables"] = {}, []
            for arch in settings.architectures:
                state["nets"][arch], table = _networks(settings, data, arch, settings.recipes, settings.seeds[arch],
                                                       settings.max_epochs[arch], settings.sigmas, seed, progress)
                state["tables"].append(table)
        return state

    def binary():
        if "binary" not in state:
            state["binary"] = _networks(settings, data, "binary_mlp", settings.binary_recipes,
                                        settings.binary_seeds, settings.binary_max_epochs,
                                        settings.binary_sigmas, seed, progress)
        return state["binary"]

    def stored(name, compute):
        # the numbers exactly as the cache file holds them, on the first run too (ties in
        # rank correlations must not depend on whether the table was just computed)
        return cached_frame(folder / f"{key}-{name}.json",
                            lambda: pd.read_json(io.StringIO(compute().to_json(orient="records")), orient="records"),
                            cache=cache)

    return {
        "networks": stored("networks", lambda: pd.concat(real()["tables"], ignore_index=True)),
        "pairs": stored("pairs", lambda: pd.concat(
            [_pairs(a, real()["nets"][a], t) for a, t in zip(settings.architectures, real()["tables"])],
            ignore_index=True)),
        "paths": stored("paths", lambda: pd.concat(
            [_paths(settings, data, a, real()["nets"][a], seed, progress) for a in settings.path_architectures],
            ignore_index=True)),
        "binary_networks": stored("binary-networks", lambda: binary()[1]),
        "binary_pairs": stored("binary-pairs", lambda: _pairs("binary_mlp", *binary())),
    }


def work_units(preset: str) -> list:
    """The unit of :mod:`latentgeom.sweep` that ``book/findings/toroids-landscape.md`` needs:
    :func:`run` at the page's own parameters (read from the page), as one job."""
    from .. import sweep

    page = sweep.page_parameters(NOTEBOOK.removeprefix("book/"))
    settings = get_settings(preset, n_train=page.get("n_train"))
    seed = page.get("seed", 0)
    return [sweep.Computation(__name__, "run", (settings, seed), (("progress", False),),
                              label=f"toroidal landscapes at {settings.name} (seed {seed})")]


# ---------------------------------------------------------------------------------------------
# Summaries, charts and result files of the chapter's page


def barriers(paths: pd.DataFrame) -> pd.DataFrame:
    """One row per (architecture, pair, kind): the train and test error barriers (:func:`barrier`),
    the largest training error on the path and the larger endpoint training error."""
    rows = []
    for (arch, pair, kind), g in paths.groupby(["architecture", "pair", "kind"], sort=False):
        g = g.sort_values("t")
        rows.append({"architecture": arch, "pair": pair, "kind": kind, "same_recipe": bool(g["same_recipe"].iloc[0]),
                     "train_barrier": barrier(g["train_error"]), "test_barrier": barrier(g["test_error"]),
                     "max_train_error": float(g["train_error"].max()),
                     "end_train_error": float(max(g["train_error"].iloc[0], g["train_error"].iloc[-1]))})
    return pd.DataFrame(rows)


def recipe_table(networks: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Per (architecture, recipe): mean errors, flatness, and the mean aligned distance between
    the recipe's own seeds."""
    table = networks.groupby(["architecture", "recipe"], sort=False)[
        ["epochs", "train_error", "test_error", "flatness"]].mean()
    own = pairs[pairs["same_recipe"]].groupby(["architecture", "recipe_a"], sort=False)[
        ["distance_aligned", "distance_unaligned"]].mean()
    own.index.names = ["architecture", "recipe"]
    return table.join(own)


def energy_chart(networks: pd.DataFrame, title: str = "", width: int = 320) -> alt.Chart:
    """Local energy dE(sigma) against sigma, mean per recipe (one panel per architecture)."""
    cols = [c for c in networks.columns if c.startswith("dE_")]
    long = networks.melt(id_vars=["architecture", "recipe", "seed"], value_vars=cols, value_name="dE")
    long["sigma"] = long["variable"].str[3:].astype(float)
    return alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("sigma:Q", title="relative weight noise sigma"),
        y=alt.Y("mean(dE):Q", title="local energy dE (train error rise)"),
        color=alt.Color("recipe:N"), column=alt.Column("architecture:N"),
    ).properties(width=width, height=220, title=title)


def path_chart(paths: pd.DataFrame, split: str = "train", width: int = 320) -> alt.Chart:
    """Mean 0-1 error along the paths (geodesic, linear, one bend) against t, per architecture."""
    check_choice(split, "split", ("train", "test"))
    return alt.Chart(paths).mark_line(point=True).encode(
        x=alt.X("t:Q", title="position along the path t"),
        y=alt.Y(f"mean({split}_error):Q", title=f"mean {split} error"),
        color=alt.Color("kind:N"), column=alt.Column("architecture:N"),
    ).properties(width=width, height=220, title=f"{split} error along the paths (mean over pairs)")


#: The paper's statements, for the result files (Pittorino et al., ICML 2022).
PAPER = {
    1: ("Flatter minimisers generalise better: the local energy correlates with the test error.",
        "flatter (lower local energy) minima have lower test error, across algorithms"),
    2: ("After symmetry removal, flatter minima are closer to each other.",
        "flatter minima lie closer together on the product of spheres"),
    3: ("Error barriers along geodesics between aligned minima are small, and smaller than along "
        "linear paths between the raw networks.",
        "small (near-zero) geodesic barriers; large barriers on linear paths without symmetry removal"),
    4: ("Minimisers found by gradient-descent variants connect through a zero-training-error path "
        "with a single bend.", "a one-bend path at zero training error between any two minimisers"),
    5: ("The same qualitative results hold for networks with binary weights and activations.",
        "binary networks: flatter minima generalise better and are closer to each other"),
}
TITLES = {
    1: "Flatter minimisers generalise better",
    2: "After symmetry removal, flatter minima are closer to each other",
    3: "Small error barriers along geodesics between aligned minima",
    4: "Minimisers connect through a one-bend path at zero training error",
    5: "Binary networks: the same qualitative picture",
}
SLUGS = {1: "flatness-generalisation", 2: "flat-minima-close", 3: "geodesic-barriers", 4: "one-bend-paths",
         5: "binary-networks"}


def write_findings(notebook: str, settings: LandscapeSettings, parameters: dict, checks: dict, ours: dict,
                   our_values: dict, seconds: float) -> list:
    """Write the chapter's five result files (``toroids-<k>-<slug>``); ``checks``, ``ours`` and
    ``our_values`` are keyed by claim number 1..5. Returns the written paths."""
    from ..reporting.findings import Finding, verdict, write_finding

    paths = []
    for k in range(1, 6):
        v = verdict(checks[k])
        failed = [name for name, ok in checks[k].items() if not ok]
        summary = f"{v}" + (f" (failing: {'; '.join(failed)})" if failed else "") + f". {our_values[k]}."
        paths.append(write_finding(Finding(
            finding_id=f"toroids-{k}-{SLUGS[k]}", title=TITLES[k], notebook=notebook, paper_claim=PAPER[k][0],
            paper={"statement": PAPER[k][1]}, ours=ours[k], checks=checks[k], verdict=v,
            parameters={**asdict(settings), "dataset": "fashion-mnist", **parameters},
            paper_value=PAPER[k][1], our_value=our_values[k], summary=summary, seconds=seconds)))
    return paths
