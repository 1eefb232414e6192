"""The toroidal-landscape chapter's networks: small bias-free nets for 28x28 grey images, trained
to zero training error by optimisers that find minima of different flatness, and cached.

Used by :mod:`latentgeom.chapters.toroids` (Pittorino et al., ICML 2022); their geometry on the
product of spheres is :mod:`latentgeom.networks.weight_space`.

- :func:`build`: a bias-free ReLU MLP, a small CNN, or a binary MLP with sign weights
  (:class:`BinaryLinear`) and sign activations (:class:`Sign`); :func:`binarised` replaces a
  binary network's latent weights by their signs; :func:`describe` says what :func:`build` builds;
- :data:`RECIPES`: the optimisers (:class:`Recipe`); :func:`fit_to_zero_error` the training loop;
  :func:`init_seed` every run's own starting point;
- :func:`train_network`: train (or load) one network, cached under
  ``lg.paths.model_cache_dir()/toroids`` through :func:`latentgeom.storage.cached_state`;
- :func:`error`: the 0-1 error of a network on images.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..paths import model_cache_dir
from ..storage import cached_state, content_key
from ..validation import check_choice, check_int

__all__ = ["ARCHITECTURES", "CACHE_VERSION", "RECIPES", "BinaryLinear", "Recipe", "Sign", "binarised", "build",
           "describe", "error", "fit_to_zero_error", "init_seed", "network_path", "train_network"]

ARCHITECTURES = ("mlp", "cnn", "binary_mlp")
#: Part of the cache key of every trained network and of the chapter's measured tables: bump it
#: when a change of the code changes their numbers.
CACHE_VERSION = 1


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


def describe(architecture: str) -> str:
    """What :func:`build` makes of ``architecture``, in words read off the network itself: the
    layer widths of a fully connected net (``"784-128-64-10"``), the kernels and channels of the
    conv layers, and the number of weights."""
    net = build(architecture)
    convs = [m for m in net if isinstance(m, nn.Conv2d)]
    linears = [m for m in net if isinstance(m, nn.Linear)]
    widths = "-".join(str(n) for n in [linears[0].in_features] + [m.out_features for m in linears])
    weights = f"{sum(p.numel() for p in net.parameters()):,} weights"
    if not convs:
        return f"{widths}, {weights}"
    kernel = "×".join(map(str, convs[0].kernel_size))
    channels = " and ".join(str(m.out_channels) for m in convs)
    return f"{len(convs)} {kernel} conv layers with {channels} channels, then a linear {widths} layer, {weights}"


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

    def optimiser_for(self, params) -> torch.optim.Optimizer:
        """The torch optimiser of this recipe over ``params``."""
        if self.optimiser == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=0.9, weight_decay=self.weight_decay)
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)


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


def fit_to_zero_error(net: nn.Sequential, recipe: Recipe, images: torch.Tensor, labels: torch.Tensor, *,
                      max_epochs: int, seed: int) -> int:
    """Train ``net`` in place until zero training error or ``max_epochs``; returns the epochs run.

    Mini-batches of ``recipe.batch_size`` in a seeded random order per epoch; a binary
    network's latent weights are clipped to [-1, 1] after every step.
    """
    opt = recipe.optimiser_for(net.parameters())
    g = torch.Generator().manual_seed(seed)
    binary = any(isinstance(m, BinaryLinear) for m in net.modules())
    for epochs_run in range(1, max_epochs + 1):  # noqa: B007 (returned: the epochs it took)
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
    return epochs_run


def init_seed(recipe: str, seed: int) -> int:
    """The initialisation (and mini-batch order) seed of run ``seed`` of ``recipe``: every
    network starts from its own random point, also across recipes."""
    return int(content_key("init", recipe, seed)[:8], 16)


def network_path(architecture: str, recipe: str, seed: int, images: torch.Tensor, labels: torch.Tensor, *,
                 max_epochs: int):
    """Where :func:`train_network` caches a network: ``model_cache_dir()/toroids/<key>.pt``, the
    key being the content key of the architecture, recipe, seed, epoch cap and training tensors."""
    key = content_key("toroids", CACHE_VERSION, architecture, asdict(RECIPES[recipe]), seed, max_epochs,
                      images, labels)
    return model_cache_dir() / "toroids" / f"{key}.pt"


def train_network(architecture: str, recipe: str, seed: int, images: torch.Tensor, labels: torch.Tensor,
                  *, max_epochs: int, cache: bool = True) -> tuple[nn.Sequential, int]:
    """A network trained with one of :data:`RECIPES` until zero training error (or ``max_epochs``).

    Parameters
    ----------
    architecture : str
        One of :data:`ARCHITECTURES`.
    recipe : str
        A key of :data:`RECIPES`.
    seed : int
        The run: its starting point and mini-batch order are :func:`init_seed` ``(recipe, seed)``.
    images, labels : Tensor
        Training images [N, 1, 28, 28] and labels [N].
    max_epochs : int
        Epoch cap (training stops earlier at zero training error).
    cache : bool
        Read and write the cache (:func:`network_path`): a second call loads. With
        ``LATENTGEOM_NO_TRAIN=1`` (or inside :func:`latentgeom.storage.lookup_only`) a miss raises
        :class:`latentgeom.storage.CacheMiss`.

    Returns
    -------
    (net, epochs) : the network in eval mode and the epochs it trained.
    """
    check_choice(recipe, "recipe", RECIPES)
    check_int(max_epochs, "max_epochs", minimum=1)
    net = build(architecture, init_seed(recipe, seed))

    def fit() -> dict:
        epochs = fit_to_zero_error(net, RECIPES[recipe], images, labels, max_epochs=max_epochs,
                                   seed=init_seed(recipe, seed))
        return {"state": net.state_dict(), "epochs": epochs}

    saved = cached_state(network_path(architecture, recipe, seed, images, labels, max_epochs=max_epochs), fit,
                         what=f"toroids network {architecture}/{recipe}/seed {seed}", cache=cache)
    net.load_state_dict(saved["state"])
    return net.eval(), int(saved["epochs"])
