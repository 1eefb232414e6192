"""Per-layer activations through forward hooks, flattened per image, on GPU when present."""
from __future__ import annotations

from typing import Iterator, Sequence

import torch

from ..validation import check_finite, check_int, resolve_device
from .models import ProbedModel, ProbeLayer


def _layers(model: ProbedModel, layers: Sequence[str] | None) -> list[ProbeLayer]:
    probes = list(model.probe_layers)
    if layers is None:
        return probes
    if isinstance(layers, str):
        layers = [layers]
    known = {p.name: p for p in probes}
    unknown = [name for name in layers if name not in known]
    if unknown:
        raise ValueError(f"unknown layer(s) {unknown}; valid: {list(known)}")
    wanted = set(layers)
    return [p for p in probes if p.name in wanted]  # probe order, whatever order was asked


class _Stop(Exception):
    """Raised by the last hook: nothing after it is needed."""


def extract(model: ProbedModel, images: torch.Tensor, layers: Sequence[str] | None = None, *,
            device: str = "auto", batch_size: int = 256, keep_on_device: bool = False,
            progress: bool = False) -> dict[str, torch.Tensor]:
    """Activations of ``images`` [N, C, H, W] at probe ``layers`` (default: all).

    Returns ``{layer: float32 [N, D]}`` in probe order, flattened per image; on CPU unless
    ``keep_on_device``. Perturbed neighbours go through the same call: flatten them to
    [N * K, C, H, W] and reshape the result to [N, K, D].
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a tensor [N, C, H, W], got {getattr(images, 'shape', type(images))}")
    if len(images) == 0:
        raise ValueError(f"images is empty (shape {tuple(images.shape)}); pass at least one image")
    check_finite(images, "images")  # before any forward pass: blame the input, not a layer
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    probes = _layers(model, layers)
    dev = resolve_device(device)
    out_device = dev if keep_on_device else torch.device("cpu")
    captured: dict[str, torch.Tensor] = {}
    chunks: dict[str, list[torch.Tensor]] = {p.name: [] for p in probes}
    hooked = [p for p in probes if p.name != "input"]
    last = hooked[-1].name if hooked else None
    handles = []

    def make_hook(name):
        def hook(_module, _inputs, output):
            captured[name] = output.detach().flatten(1).float()
            if name == last:
                raise _Stop
        return hook

    for p in hooked:
        handles.append(model.probe_module(p.name).register_forward_hook(make_hook(p.name)))
    was_training = model.training
    model.eval()
    model.to(dev)
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                batch = images[start:start + batch_size].to(dev, non_blocking=True)
                captured.clear()
                if hooked:
                    try:
                        model(batch)
                    except _Stop:
                        pass
                for p in probes:
                    value = batch.flatten(1).float() if p.name == "input" else captured[p.name]
                    chunks[p.name].append(value.to(out_device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    result = {}
    for p in probes:
        value = torch.cat(chunks[p.name]) if chunks[p.name] else torch.empty(0)
        bad = (~torch.isfinite(value)).sum().item()
        if bad:
            raise ValueError(f"layer {p.name!r} produced {bad} NaN/inf activation values")
        result[p.name] = value
    return result


def iter_layers(model: ProbedModel, images: torch.Tensor, layers: Sequence[str] | None = None,
                **kwargs) -> Iterator[tuple[ProbeLayer, torch.Tensor]]:
    """Yield ``(probe layer, activations [N, D])`` one layer at a time (bounded memory).

    Each layer costs one forward pass that stops right after that layer.
    """
    for probe in _layers(model, layers):
        yield probe, extract(model, images, [probe.name], **kwargs)[probe.name]
