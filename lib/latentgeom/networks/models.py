"""Network families with named probe layers at relative depths.

Every model is a :class:`ProbedModel`: a list of stages applied in order, each stage's output
a probe layer, so activations, ID and curvature can be read at "the input, each block / pool,
the penultimate layer and the logits" for any family, on one relative-depth axis.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .batch_norm import BatchNorm2d

SMALL_MODELS = ("plain_cnn", "vgg_small", "resnet_small", "mlp")
PAPER_MODELS = ("resnet18", "resnet50", "resnet101", "vgg13", "vgg16", "vgg19")
MODELS = SMALL_MODELS + PAPER_MODELS


@dataclass(frozen=True)
class ProbeLayer:
    """A layer whose activations are read: its name and depth in [0, 1] (input 0, logits 1)."""

    name: str
    relative_depth: float


class ProbedModel(nn.Module):
    """A network as an ordered sequence of named stages; each stage's output is a probe layer.

    ``probe_layers`` lists ``input``, every stage and ``logits`` (the last stage). Manifold
    mixup mixes the hidden state after a randomly chosen stage boundary through ``mix``.
    """

    def __init__(self, stages: list[tuple[str, nn.Module]]):
        super().__init__()
        if stages[-1][0] != "logits":
            raise ValueError("the last stage must be named 'logits'")
        self.stages = nn.ModuleDict(stages)
        names = ["input"] + [n for n, _ in stages]
        self.probe_layers = [ProbeLayer(n, i / (len(names) - 1)) for i, n in enumerate(names)]

    def probe_module(self, name: str) -> nn.Module | None:
        """The module whose forward output is layer ``name`` (None for ``input``)."""
        if name == "input":
            return None
        if name not in self.stages:
            raise ValueError(f"unknown layer {name!r}; valid: {[p.name for p in self.probe_layers]}")
        return self.stages[name]

    def forward(self, x: torch.Tensor, *, mix: tuple[int, Callable[[torch.Tensor], torch.Tensor]] | None = None):
        """Logits [B, classes] of images [B, C, H, W].

        ``mix = (k, fn)`` applies ``fn`` to the hidden state entering stage ``k`` (0 = the input):
        manifold mixup's interpolation at a random depth.
        """
        for index, stage in enumerate(self.stages.values()):
            if mix is not None and mix[0] == index:
                x = mix[1](x)
            x = stage(x)
        return x

    @property
    def n_mixable(self) -> int:
        """Stage boundaries where manifold mixup may mix (the input and every hidden stage)."""
        return len(self.stages) - 1


def _conv_bn(cin, cout, stride=1):
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), BatchNorm2d(cout), nn.ReLU(inplace=True)]


class _Head(nn.Sequential):
    def __init__(self, cin, classes):
        super().__init__(nn.Flatten(), nn.Linear(cin, classes))


class _GlobalPool(nn.Sequential):
    def __init__(self):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Flatten())


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(cin, cout, stride)[:2], nn.ReLU(inplace=True),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), BatchNorm2d(cout))
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), BatchNorm2d(cout))

    def forward(self, x):
        # In place on the sum, a temporary: one activation-sized allocation less per block.
        return torch.relu_(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        cout = planes * 4
        self.body = nn.Sequential(
            nn.Conv2d(cin, planes, 1, bias=False), BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, stride, 1, bias=False), BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, cout, 1, bias=False), BatchNorm2d(cout))
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), BatchNorm2d(cout))

    def forward(self, x):
        # In place on the sum, a temporary: one activation-sized allocation less per block.
        return torch.relu_(self.body(x) + self.shortcut(x))


def _plain_cnn(c, classes, width, depth, size):
    depth = depth or 3
    stages, ch, s = [], c, size
    for i in range(depth):
        out = width * 2 ** min(i, 2)
        layers = [nn.Conv2d(ch, out, 3, padding=1), nn.ReLU(inplace=True)]
        if s >= 4:
            layers.append(nn.MaxPool2d(2))
            s //= 2
        stages.append((f"conv{i + 1}", nn.Sequential(*layers)))
        ch = out
    stages.append(("pool", _GlobalPool()))
    stages.append(("logits", _Head(ch, classes)))
    return stages


def _vgg(c, classes, cfg):
    stages, layers, ch, block = [], [], c, 1
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
            stages.append((f"pool{block}", nn.Sequential(*layers)))
            layers, block = [], block + 1
        else:
            layers += _conv_bn(ch, v)
            ch = v
    stages.append(("avgpool", _GlobalPool()))
    stages.append(("logits", _Head(ch, classes)))
    return stages


def _resnet(c, classes, block, blocks_per_stage, base, stem_stride=1):
    stages = [("stem", nn.Sequential(*_conv_bn(c, base, stem_stride)))]
    cin = base
    for s, n_blocks in enumerate(blocks_per_stage):
        planes = base * 2 ** s
        for b in range(n_blocks):
            stride = 2 if (s > 0 and b == 0) else 1
            stages.append((f"block{s + 1}_{b + 1}", block(cin, planes, stride)))
            cin = planes * block.expansion
    stages.append(("avgpool", _GlobalPool()))
    stages.append(("logits", _Head(cin, classes)))
    return stages


def _mlp(c, classes, width, depth, size):
    depth = depth or 3
    hidden = width * 16
    stages, cin = [], c * size * size
    for i in range(depth):
        stages.append((f"fc{i + 1}", nn.Sequential(nn.Flatten(), nn.Linear(cin, hidden), nn.ReLU(inplace=True))))
        cin = hidden
    stages.append(("logits", _Head(cin, classes)))
    return stages


_VGG_CFG = {
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def build_model(name: str, *, num_classes: int = 10, in_channels: int = 1, image_size: int = 28,
                width: int = 16, depth: int | None = None, seed: int = 0) -> ProbedModel:
    """A freshly initialised network, deterministic under ``seed``.

    Parameters
    ----------
    name : str
        One of :data:`MODELS`. Small 28x28 families: ``plain_cnn``, ``vgg_small``,
        ``resnet_small``, ``mlp``; the paper's CIFAR variants: ``resnet18/50/101``,
        ``vgg13/16/19`` (``width`` is their base channel count, 64 in the paper).
    width : int
        Channels of the first stage (hidden units / 16 for ``mlp``).
    depth : int, optional
        Stages (``plain_cnn``, ``mlp``) or blocks per stage (``vgg_small``, ``resnet_small``).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {MODELS}")
    for label, value, low in (("width", width, 1), ("num_classes", num_classes, 2),
                              ("in_channels", in_channels, 1), ("image_size", image_size, 8)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{label} must be an integer >= {low}, got {value!r}")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise ValueError(f"depth must be a positive integer or None, got {depth!r}")
    if depth is not None and name in PAPER_MODELS:
        # The paper's networks have a fixed depth; silently ignoring depth would also give the
        # same network several cache keys.
        raise ValueError(f"depth applies to {SMALL_MODELS} only; {name!r} has a fixed depth (pass depth=None)")
    torch.manual_seed(seed)
    c, k = in_channels, num_classes
    if name == "plain_cnn":
        stages = _plain_cnn(c, k, width, depth, image_size)
    elif name == "mlp":
        stages = _mlp(c, k, width, depth, image_size)
    elif name == "vgg_small":
        per = depth or 2
        cfg = []
        for s in range(3):
            cfg += [width * 2 ** s] * per + ["M"]
        stages = _vgg(c, k, cfg)
    elif name == "resnet_small":
        stages = _resnet(c, k, BasicBlock, [depth or 1] * 3, width)
    elif name.startswith("vgg"):
        scale = width / 64
        stages = _vgg(c, k, [v if v == "M" else max(1, int(v * scale)) for v in _VGG_CFG[name]])
    else:
        blocks = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet50": (Bottleneck, [3, 4, 6, 3]),
                  "resnet101": (Bottleneck, [3, 4, 23, 3])}[name]
        stages = _resnet(c, k, blocks[0], blocks[1], width)
    return ProbedModel(stages)
