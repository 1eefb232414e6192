"""Probe layers of any ``torch.nn.Module``: their names, default lists, relative depths, inputs.

A *probe layer* is a place where activations are read. For any network it is named the way
the network names its submodules (``model.named_modules()``): ``"layer1"``, ``"layer2.1"``,
``"avgpool"``, ``"fc"``, ``"encoder.layers.encoder_layer_3"`` ... plus ``"input"`` for the
images themselves. The activations of a layer are the output of that submodule's forward call.
The library's own :class:`~latentgeom.networks.models.ProbedModel` networks keep their
``probe_layers``; every other module gets :func:`default_layers` (a list per family) unless the
caller names its layers. :mod:`latentgeom.networks.activations` reads them; the book page
"Measure your own network" (``book/guides/measure-your-own-network.md``) uses both.

**Why forward hooks, not torchvision's feature extraction.** torchvision's
``torchvision.models.feature_extraction.create_feature_extractor`` rewrites a model by
symbolic tracing (``torch.fx``) and can return any node of the traced graph, including
functional operations that are no module (``layer1.0.add``, ``flatten``). We read layers with
plain forward hooks on named modules instead, because (1) hooks work on *every* ``nn.Module``,
while tracing fails on data-dependent control flow, which many research models and checkpoints
have; (2) the names a user types are exactly ``named_modules()``, the names of their
``state_dict``, with no ``_1`` suffixes of a traced graph; (3) the forward pass can stop right
after the last wanted layer, which the curvature pipeline relies on (it pushes tens of thousands
of perturbed images per layer); (4) the model object stays untouched (no copy, no re-written
``GraphModule``). The price: a hook sees modules, not functional operations, and a module that
runs twice in one forward pass (torchvision's ``BasicBlock`` calls its ``relu`` twice) has no
single output; such a layer is refused with a message naming its parent. The tests check hooks
against ``create_feature_extractor`` on a torchvision ResNet-18 and a small ViT
(``tests/test_probes.py``): both extractions agree to float precision.

**Input conventions.** Images are float tensors ``[N, C, H, W]`` prepared the way the model
was trained: the library's own data (:func:`latentgeom.networks.data.load_tensors`) are
standardised per channel with the dataset's mean/std; ImageNet-pretrained torchvision weights
expect RGB in [0, 1] standardised with ImageNet's mean (0.485, 0.456, 0.406) and std (0.229,
0.224, 0.225) (``load_tensors(..., normalize=False)`` then :func:`fit_images` with those
``mean``/``std``). :func:`check_images_fit` names a channel or size mismatch before any
forward pass and says how to adapt: :func:`fit_images` repeats a grey channel / resizes, or the
model's first convolution is replaced (:func:`latentgeom.networks.external.torchvision_model`).

**Outputs that are not [N, features].** Every tensor output is flattened per image. Token
sequences ``[N, tokens, dim]`` (transformer blocks) follow ``tokens``: ``"flatten"`` (default,
the whole sequence, as a conv feature map is flattened), ``"cls"`` (token 0, the class token
that a ViT's head reads) or ``"mean"`` (average over tokens). Tuples, lists and dicts are
refused with a message: probe a submodule that returns a tensor instead.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import check_int
from .models import ProbedModel, ProbeLayer

TOKENS = ("flatten", "cls", "mean")


def layer_names(model: nn.Module) -> list[str]:
    """Every name :func:`probe_layers` accepts for ``model``: ``"input"`` then its submodules
    in ``named_modules()`` order (for a :class:`ProbedModel`: its probe layers)."""
    if isinstance(model, ProbedModel):
        return [p.name for p in model.probe_layers]
    return ["input"] + [name for name, _ in model.named_modules() if name]


def default_layers(model: nn.Module) -> list[str]:
    """The layers probed when none are named, input to logits.

    - :class:`ProbedModel` (this library): its ``probe_layers``.
    - torchvision ResNet: ``input``, the stem (``maxpool``), every residual block
      (``layer1.0`` ... ``layer4.1``), the pooled features ``avgpool`` and the logits ``fc``.
    - torchvision VGG: ``input``, every max-pool of ``features`` (the end of each conv block),
      ``avgpool``, the two hidden fully connected layers after their ReLU (``classifier.1``,
      ``classifier.4``) and the logits ``classifier.6``.
    - torchvision VisionTransformer: ``input``, the patch embedding ``conv_proj``, every encoder
      block, the final norm ``encoder.ln`` (whose class token, ``tokens="cls"``, is what the head
      reads: a ViT has no pooling module) and the logits ``heads``.
    - any model with a ``features`` sequence and a ``classifier`` (DenseNet, MobileNet,
      EfficientNet, ConvNeXt, AlexNet): ``input``, every child of ``features``, ``avgpool`` when
      present, ``classifier``.
    - anything else: ``input`` and every direct child, in registration order.
    """
    if isinstance(model, ProbedModel):
        return [p.name for p in model.probe_layers]
    from torchvision.models import VGG, ResNet, VisionTransformer

    modules = dict(model.named_modules())
    if isinstance(model, ResNet):
        blocks = [f"{stage}.{i}" for stage in ("layer1", "layer2", "layer3", "layer4")
                  for i in range(len(modules[stage]))]
        return ["input", "maxpool", *blocks, "avgpool", "fc"]
    if isinstance(model, VGG):
        pools = [f"features.{i}" for i, m in enumerate(model.features) if isinstance(m, nn.MaxPool2d)]
        return ["input", *pools, "avgpool", "classifier.1", "classifier.4", "classifier.6"]
    if isinstance(model, VisionTransformer):
        blocks = [f"encoder.layers.{name}" for name, _ in model.encoder.layers.named_children()]
        return ["input", "conv_proj", *blocks, "encoder.ln", "heads"]
    if isinstance(modules.get("features"), nn.Sequential) and "classifier" in modules:
        children = [f"features.{name}" for name, _ in model.features.named_children()]
        return ["input", *children, *(["avgpool"] if "avgpool" in modules else []), "classifier"]
    return ["input"] + [name for name, _ in model.named_children()]


def probe_layers(model: nn.Module, layers: Sequence[str | ProbeLayer] | str | None = None) -> list[ProbeLayer]:
    """The probe layers of ``model``: names with relative depths in [0, 1].

    Parameters
    ----------
    model : nn.Module
        Any network (a :class:`ProbedModel` keeps its own probe layers and depths).
    layers : list of str or ProbeLayer, or one str, optional
        Layer names as ``model.named_modules()`` names them, or ``"input"`` (default:
        :func:`default_layers`). :class:`ProbeLayer` entries keep the depth they carry.

    Returns
    -------
    list of ProbeLayer, in model order. Relative depth is the position in the model's default
    list (0 = input, 1 = logits) when every named layer is in it, else the position among the
    named layers (in ``named_modules()`` order). Unknown names: ``ValueError`` listing the
    valid ones.
    """
    if isinstance(layers, (str, ProbeLayer)):
        layers = [layers]
    if isinstance(model, ProbedModel):
        probes = list(model.probe_layers)
        if layers is None:
            return probes
        names = [p.name if isinstance(p, ProbeLayer) else p for p in layers]
        _check_known(names, [p.name for p in probes])
        wanted = set(names)
        return [p for p in probes if p.name in wanted]  # probe order, whatever order was asked
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    defaults = default_layers(model)
    if layers is None:
        return _spread(defaults, defaults)
    given = {p.name: p for p in layers if isinstance(p, ProbeLayer)}
    names = [p.name if isinstance(p, ProbeLayer) else p for p in layers]
    if not names:
        raise ValueError("layers is empty; name at least one layer (or pass None for the default list)")
    valid = layer_names(model)
    _check_known(names, valid)
    order = {name: i for i, name in enumerate(valid)}
    names = sorted(set(names), key=order.__getitem__)
    reference = defaults if set(names) <= set(defaults) else names
    return [given.get(p.name, p) for p in _spread(names, reference)]


def _spread(names: list[str], reference: list[str]) -> list[ProbeLayer]:
    index = {name: i for i, name in enumerate(reference)}
    last = max(1, len(reference) - 1)
    return [ProbeLayer(name, index[name] / last) for name in names]


def _check_known(names: Sequence, valid: list[str]) -> None:
    bad = [name for name in names if not isinstance(name, str)]
    if bad:
        raise ValueError(f"layer names must be strings, got {bad!r}")
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ValueError(f"unknown layer(s) {unknown}; valid: {valid}")


def probe_module(model: nn.Module, name: str) -> nn.Module | None:
    """The submodule whose forward output is layer ``name`` (None for ``"input"``)."""
    if isinstance(model, ProbedModel):
        return model.probe_module(name)
    if name == "input":
        return None
    modules = dict(model.named_modules())
    if name not in modules or not name:
        raise ValueError(f"unknown layer {name!r}; valid: {layer_names(model)}")
    return modules[name]


def as_features(name: str, output, tokens: str = "flatten", out: torch.Tensor | None = None) -> torch.Tensor:
    """A layer's forward ``output`` as float32 ``[N, D]`` (a copy: later in-place operations of
    the network cannot change it). ``[N, T, dim]`` token sequences follow ``tokens``; outputs
    that are not tensors are a ``ValueError`` naming the layer. With ``out`` (float32 [N, D],
    contiguous) the features are written there and ``out`` is returned: one copy from any
    memory layout (a channels-last output is reordered on the way), where flattening first
    would copy twice."""
    if not isinstance(output, torch.Tensor):
        kind = type(output).__name__
        inner = ""
        if isinstance(output, (tuple, list)):
            inner = f" of {len(output)}: " + ", ".join(
                f"Tensor{list(o.shape)}" if isinstance(o, torch.Tensor) else type(o).__name__ for o in output)
        elif isinstance(output, dict):
            inner = f" with keys {list(output)}"
        raise ValueError(f"layer {name!r} outputs a {kind}{inner}, not a tensor; probe one of its submodules "
                         f"that returns a tensor, or wrap the model so that this layer returns one")
    if output.ndim < 2:
        raise ValueError(f"layer {name!r} outputs shape {list(output.shape)}; expected [N, ...] per image")
    output = output.detach()
    if output.ndim == 3 and tokens != "flatten":
        output = output[:, 0] if tokens == "cls" else output.mean(dim=1)
    if out is None:
        return output.flatten(1).to(torch.float32, copy=True)
    out.view(output.shape).copy_(output)
    return out


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d] | None:
    """The first ``nn.Conv2d`` of ``model`` in registration order, with its name (or None)."""
    return next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)


def check_images_fit(model: nn.Module, images: torch.Tensor) -> None:
    """``ValueError`` saying how to adapt when ``images`` [N, C, H, W] cannot enter ``model``.

    Checks the channels of the model's first convolution and, for a torchvision ViT, its fixed
    ``image_size``. (Other mismatches surface in the first forward pass, see
    :func:`latentgeom.networks.activations.extract`.)
    """
    conv = first_conv(model)
    channels = images.shape[1]
    if conv is not None and conv[1].in_channels != channels:
        name, layer = conv
        raise ValueError(
            f"images have {channels} channel(s) but the model's first convolution {name!r} takes "
            f"{layer.in_channels}: repeat or average the channels with "
            f"latentgeom.fit_images(images, channels={layer.in_channels}), or build the model for "
            f"{channels}-channel images (latentgeom.torchvision_model(..., in_channels={channels}) "
            f"replaces the first convolution)")
    size = getattr(model, "image_size", None)
    if isinstance(size, int) and tuple(images.shape[2:]) != (size, size):
        raise ValueError(
            f"images are {images.shape[2]}x{images.shape[3]} but the model takes {size}x{size} images: "
            f"resize them with latentgeom.fit_images(images, size={size}), or build the model with "
            f"image_size={images.shape[2]}")


def fit_images(images: torch.Tensor, *, channels: int | None = None, size: int | None = None,
               mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> torch.Tensor:
    """Images ``[N, C, H, W]`` adapted to a model's input convention.

    ``channels``: a single grey channel is repeated (1 -> 3, the usual way to feed grey images
    to an RGB network), several are averaged to one (3 -> 1). ``size``: bilinear resize to
    ``size x size`` (antialiased when shrinking). ``mean``/``std`` (one value per output
    channel): standardise ``(x - mean) / std`` after the other steps, e.g. ImageNet's for
    pretrained weights on [0, 1] pixels.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a tensor [N, C, H, W], got {getattr(images, 'shape', type(images))}")
    out = images.float()
    if channels is not None:
        channels = check_int(channels, "channels", minimum=1)
        have = out.shape[1]
        if channels != have:
            if have == 1:
                out = out.expand(-1, channels, -1, -1).contiguous()
            elif channels == 1:
                out = out.mean(dim=1, keepdim=True)
            else:
                raise ValueError(f"channels: cannot turn {have} channels into {channels}; "
                                 f"from 1 channel any count works, from several only 1 (their mean)")
    if size is not None:
        size = check_int(size, "size", minimum=1)
        if tuple(out.shape[2:]) != (size, size):
            out = F.interpolate(out, size=(size, size), mode="bilinear", align_corners=False,
                                antialias=size < max(out.shape[2:]))
    if (mean is None) != (std is None):
        raise ValueError("mean and std must be given together (one value per channel each)")
    if mean is not None:
        m, s = torch.as_tensor(mean, dtype=out.dtype), torch.as_tensor(std, dtype=out.dtype)
        if m.shape != (out.shape[1],) or s.shape != (out.shape[1],) or not bool((s > 0).all()):
            raise ValueError(f"mean and std must have one value per channel ({out.shape[1]}), std > 0; "
                             f"got mean={list(mean)}, std={list(std)}")
        out = (out - m.view(1, -1, 1, 1)) / s.view(1, -1, 1, 1)
    return out

