"""Per-layer activations of any ``torch.nn.Module`` through forward hooks, flattened per image.

Layers are named as the model names its submodules, or ``"input"``; which layers exist, the
default list per family, relative depths, input checks and how non-tensor outputs are treated
are in :mod:`latentgeom.networks.probes` (its docstring argues hooks over torchvision's
feature extraction). The library's own :class:`ProbedModel` networks keep their probe layers.
"""
from __future__ import annotations

import copy
import weakref
from typing import Iterator, Sequence

import torch
from torch import nn

from ..validation import check_choice, check_finite, check_int, resolve_device
from .batch_norm import BatchNorm2d
from .models import ProbedModel, ProbeLayer
from .probes import TOKENS, as_features, check_images_fit, probe_layers, probe_module


class _Stop(Exception):
    """Raised by a hook once every wanted layer is captured: nothing after it is needed."""


# Layers of a model already seen to run exactly once in a full forward pass: later calls may stop
# early from their first batch (iter_layers and the curvature chunks call extract many times).
_RUN_ONCE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def extract(model: nn.Module, images: torch.Tensor, layers: Sequence[str | ProbeLayer] | str | None = None, *,
            device: str = "auto", batch_size: int = 256, keep_on_device: bool = False,
            tokens: str = "flatten", progress: bool = False) -> dict[str, torch.Tensor]:
    """Activations of ``images`` [N, C, H, W] at probe ``layers`` of ``model``.

    Parameters
    ----------
    model : nn.Module
        Any network; a :class:`ProbedModel` of this library or e.g. a torchvision ResNet.
    images : Tensor [N, C, H, W]
        Prepared as the model expects (channels, size, normalisation: see
        :mod:`latentgeom.networks.probes`); a mismatch is a ``ValueError`` saying how to adapt.
    layers : names (or :class:`ProbeLayer`), optional
        ``"input"`` or names from ``model.named_modules()`` (default:
        :func:`latentgeom.networks.probes.default_layers`). Unknown names: ``ValueError``
        listing the valid ones.
    tokens : {"flatten", "cls", "mean"}
        How a ``[N, tokens, dim]`` output (a transformer block) becomes one vector per image.

    Returns
    -------
    dict
        ``{layer: float32 [N, D]}`` in model order, flattened per image; on CPU unless
        ``keep_on_device``.

    Perturbed neighbours go through the same call: flatten them to [N * K, C, H, W] and reshape
    the result to [N, K, D]. The forward pass stops after the last wanted layer. A module that
    runs more than once per forward pass, or never, is refused.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a tensor [N, C, H, W], got {getattr(images, 'shape', type(images))}")
    if len(images) == 0:
        raise ValueError(f"images is empty (shape {tuple(images.shape)}); pass at least one image")
    check_finite(images, "images")  # before any forward pass: blame the input, not a layer
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    check_choice(tokens, "tokens", TOKENS)
    probes = probe_layers(model, layers)
    check_images_fit(model, images)
    dev = resolve_device(device)
    out_device = dev if keep_on_device else torch.device("cpu")
    captured: set[str] = set()
    calls: dict[str, int] = {}
    # Each layer's activations are written straight into one [N, D] tensor, allocated at the
    # first batch: one copy per value (concatenating per-batch copies made three on a
    # channels-last output, a fifth of a curvature profile's forward-pass time).
    result: dict[str, torch.Tensor] = {}
    rows = [0, 0]  # the current batch's first and last row

    def store(name, output):
        if name in result:
            as_features(name, output, tokens, out=result[name][rows[0]:rows[1]])
            return
        first = as_features(name, output, tokens)  # the first batch says the feature count
        result[name] = torch.empty((len(images), first.shape[1]), dtype=torch.float32, device=out_device)
        result[name][rows[0]:rows[1]] = first
    hooked = [p.name for p in probes if p.name != "input"]
    with_input = len(hooked) < len(probes)  # the images themselves are a probe layer
    # A ProbedModel runs each stage once; any other model's first batch runs in full (unless these
    # layers were checked before), so that a module called twice (no single output) or never is
    # caught before stopping early.
    checked = [isinstance(model, ProbedModel) or set(hooked) <= _RUN_ONCE.get(model, set())]

    def make_hook(name):
        def hook(_module, _inputs, output):
            calls[name] = calls.get(name, 0) + 1
            store(name, output)
            captured.add(name)
            if checked[0] and len(captured) == len(hooked):
                raise _Stop
        return hook

    handles = [probe_module(model, name).register_forward_hook(make_hook(name)) for name in hooked]
    was_training = model.training
    model.eval()
    model.to(dev)
    # On the CPU, convolutions run faster in channels-last layout (the book's vgg_small, 6400
    # images, all layers, measured side by side: 1.7 s at batch 512 -> 1.17 s at batch 256);
    # activations come back in the usual (C, H, W) order either way, and the model gets its own
    # layout back afterwards.
    layout = _conv_layout(model) if dev.type == "cpu" else None
    if layout is not None:
        model.to(memory_format=torch.channels_last)
    try:
        # Inference mode: no autograd bookkeeping at all; the returned tensors are made by
        # torch.cat below, outside it, so they are ordinary tensors.
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                batch = images[start:start + batch_size].to(dev, non_blocking=True)
                rows[:] = start, start + len(batch)
                if layout is not None:
                    batch = batch.contiguous(memory_format=torch.channels_last)
                captured.clear()
                calls.clear()
                if hooked:
                    _forward(model, batch, first=start == 0 and not isinstance(model, ProbedModel))
                    if not checked[0]:
                        _check_calls(model, hooked, calls)
                        _RUN_ONCE.setdefault(model, set()).update(hooked)
                        checked[0] = True
                if with_input:
                    store("input", batch)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
        if layout is not None:
            model.to(memory_format=layout)
    for p in probes:
        check_finite(result[p.name], f"the activations of layer {p.name!r}")
    return {p.name: result[p.name] for p in probes}  # in model order


def _conv_layout(model: nn.Module) -> torch.memory_format | None:
    """The memory format of the model's convolution weights (judged on the first weight whose
    layout is not ambiguous: a 1-channel kernel is both), None without any."""
    weights = [p for p in model.parameters() if p.ndim == 4]
    if not weights:
        return None
    for w in weights:
        plain, last = w.is_contiguous(), w.is_contiguous(memory_format=torch.channels_last)
        if plain != last:
            return torch.contiguous_format if plain else torch.channels_last
    return torch.contiguous_format


def _forward(model: nn.Module, batch: torch.Tensor, first: bool) -> None:
    try:
        model(batch)
    except _Stop:
        pass
    except RuntimeError as err:
        if not first:
            raise
        # The first batch through a foreign model: a shape error is most likely the input's.
        raise ValueError(f"the model could not run on images of shape {list(batch.shape)[1:]} (C, H, W): {err}. "
                         "Check the channels, the size and the normalisation the model expects; "
                         "latentgeom.fit_images adapts channels and size") from err


def _check_calls(model: nn.Module, hooked: list[str], calls: dict[str, int]) -> None:
    never = [name for name in hooked if calls.get(name, 0) == 0]
    if never:
        raise ValueError(f"layer(s) {never} did not run in the model's forward pass; probe modules that "
                         f"forward() calls")
    twice = {name: n for name, n in calls.items() if n > 1}
    if twice:
        name, n = next(iter(twice.items()))
        parent = name.rpartition(".")[0] or "a parent module"
        raise ValueError(f"layer {name!r} runs {n} times in one forward pass (a module reused inside "
                         f"{parent!r}), so it has no single output; probe {parent!r} or another module "
                         f"that runs once. Reused: {sorted(twice)}")


def neighbourhood_activations(model: nn.Module, points: torch.Tensor, neighbours: torch.Tensor,
                              layers: Sequence[str | ProbeLayer] | str | None = None,
                              **kwargs) -> dict[str, torch.Tensor]:
    """Activations of ``points`` [n, C, H, W] and of their ``neighbours`` [n, K, C, H, W] (e.g.
    perturbed copies) at ``layers``, from one :func:`extract` call.

    Returns ``{layer: float32 [n, 1 + K, D]}``: index 0 is the point itself, 1..K its
    neighbours. Each point goes through the network right before its neighbours, so a paper-mode
    neighbourhood (the point first) is a view of the result rather than a concatenation, and
    nothing runs twice. ``kwargs`` go to :func:`extract`.
    """
    if not isinstance(neighbours, torch.Tensor) or neighbours.ndim != 5:
        raise ValueError(f"neighbours must be a tensor [n, K, C, H, W], got "
                         f"{getattr(neighbours, 'shape', type(neighbours))}")
    if not isinstance(points, torch.Tensor) or points.shape != (neighbours.shape[0], *neighbours.shape[2:]):
        raise ValueError(f"points must be a tensor [n, C, H, W] = {[neighbours.shape[0], *neighbours.shape[2:]]} "
                         f"to match neighbours {list(neighbours.shape)}, got {getattr(points, 'shape', type(points))}")
    n, k = neighbours.shape[:2]
    both = torch.cat([points[:, None].to(neighbours.dtype), neighbours], 1).flatten(0, 1)
    return {name: value.reshape(n, k + 1, -1) for name, value in extract(model, both, layers, **kwargs).items()}


def iter_layers(model: nn.Module, images: torch.Tensor, layers: Sequence[str | ProbeLayer] | str | None = None,
                **kwargs) -> Iterator[tuple[ProbeLayer, torch.Tensor]]:
    """Yield ``(probe layer, activations [N, D])`` one layer at a time (bounded memory).

    Each layer costs one forward pass that stops right after that layer. ``kwargs`` go to
    :func:`extract`.
    """
    for probe in probe_layers(model, layers):
        yield probe, extract(model, images, [probe.name], **kwargs)[probe.name]


def inference_copy(model: nn.Module, keep: Sequence[str] = ()) -> nn.Module:
    """An eval-mode copy of ``model`` that computes the same float32 activations in fewer passes
    over memory, for many forward passes through one network (a curvature profile's
    neighbourhoods).

    Every ``BatchNorm2d`` with running statistics that directly follows a ``Conv2d`` inside a
    plain ``nn.Sequential`` is folded into that convolution (weight x gamma / sqrt(var + eps),
    bias (b - mean) x gamma / sqrt(var + eps) + beta, computed in float64 and rounded once to the
    weights' dtype) and replaced by ``nn.Identity``, which then outputs what the batch norm did.
    In eval mode this is the same affine map, so activations agree with ``model``'s to float32
    round-off (about 1e-6 relative); it saves one read and one write of every such activation.
    A pair whose convolution or batch norm is named in ``keep`` (layers to be probed by
    ``named_modules`` names) is left alone, so every probe layer keeps its meaning. ``model``
    itself is not changed.
    """
    fast = copy.deepcopy(model).eval()
    keep = set(keep)
    for prefix, parent in fast.named_modules():
        # Only nn.Sequential's own forward guarantees that the convolution's output goes to the
        # batch norm and nowhere else.
        if not isinstance(parent, nn.Sequential) or type(parent).forward is not nn.Sequential.forward:
            continue
        children = list(parent.named_children())
        for (conv_name, conv), (bn_name, bn) in zip(children, children[1:]):
            names = {f"{prefix}.{conv_name}".lstrip("."), f"{prefix}.{bn_name}".lstrip(".")}
            if type(conv) is nn.Conv2d and type(bn) in (nn.BatchNorm2d, BatchNorm2d) and bn.running_mean is not None \
                    and conv.out_channels == bn.num_features and not names & keep:
                _fold(conv, bn)
                setattr(parent, bn_name, nn.Identity())
    return fast


@torch.no_grad()
def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold eval-mode ``bn`` into ``conv`` in place (float64 arithmetic, one rounding)."""
    dtype = conv.weight.dtype
    scale = bn.running_var.double().add(bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    bias = -bn.running_mean.double() * scale
    if conv.bias is not None:
        bias = bias + conv.bias.double() * scale
    if bn.bias is not None:
        bias = bias + bn.bias.double()
    conv.weight.copy_(conv.weight.double() * scale.view(-1, 1, 1, 1))
    conv.bias = nn.Parameter(bias.to(dtype), requires_grad=False)
