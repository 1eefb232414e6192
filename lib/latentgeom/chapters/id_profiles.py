"""Intrinsic-dimension profiles and the numbers read from them (Ansuini et al., NeurIPS 2019).

The profile helpers of the intrinsic-dimension chapter (:mod:`.intrinsic_dimension`), which the
training ladder (:mod:`.ladder`) reuses. A *profile* is the frame
:func:`latentgeom.profiles.dimension_profile` returns: one row per probe layer of one model, with
``layer``, ``relative_depth`` (0 at ``input``, 1 at ``logits``), ``layer_width`` (features per
image), ``id_mean`` / ``id_std`` (TwoNN and its spread over random 90 % subsets) and, when
measured, ``pca_id``, after the leading columns ``model, width, epoch, test_accuracy,
train_accuracy`` and any labels.

- Samples and profiles: :func:`class_images` (the images of one class at a time),
  :func:`class_profiles` (a model's per-class profiles), :func:`with_labels` /
  :func:`stack_classes` (the same frames assembled from work units' results),
  :func:`average_over_classes` (the mean profile, as the paper averages 7 classes),
  :func:`block_frame` (the block analysis as a chart's frame);
- layers: :data:`OUTPUT_LAYER`, :func:`last_hidden_layer` (of a built model) and
  :func:`last_hidden_layer_of` (of a configuration, without training it);
- numbers (pure functions of one profile): :func:`hidden_profile`, :func:`last_hidden`,
  :func:`hunchback_summary`, :func:`flatness`, and :func:`per_model` to apply one per model.

Layer conventions: the *last hidden layer* is the one just before the logits (the input of the
final linear classifier), and the hunchback is read on ``input .. last hidden``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from ..networks.data import DATASETS, load_tensors
from ..networks.models import build_model
from ..networks.training import TrainConfig
from ..profiles import dimension_profile

__all__ = ["OUTPUT_LAYER", "average_over_classes", "block_frame", "class_images", "class_profiles", "flatness",
           "hidden_profile", "hunchback_summary", "last_hidden", "last_hidden_layer", "last_hidden_layer_of",
           "per_model", "stack_classes", "with_labels"]

#: The probe layer of a model's output (excluded from the hidden layers).
OUTPUT_LAYER = "logits"


# --------------------------------------------------------------------------------------------
# Layers


def last_hidden_layer(model) -> str:
    """Name of the last hidden probe layer of a model (the one just before ``logits``)."""
    probes = sorted(model.probe_layers, key=lambda p: p.relative_depth)
    names = [p.name for p in probes]
    if OUTPUT_LAYER in names:
        names.remove(OUTPUT_LAYER)
    else:
        names = names[:-1]
    if not names:
        raise ValueError("model has no hidden probe layer")
    return names[-1]


@lru_cache(maxsize=None)
def last_hidden_layer_of(config: TrainConfig) -> str:
    """:func:`last_hidden_layer` of ``config``'s network, known before it is trained (a plan of
    work needs it): the network is built as training builds it (:func:`build_model` with the
    dataset's classes, channels and image size), never trained. Building seeds torch's global
    CPU generator; its state is restored afterwards, so planning leaves no trace on later draws."""
    info = DATASETS[config.dataset]
    with torch.random.fork_rng(devices=[]):
        model = build_model(config.model, num_classes=info.num_classes, in_channels=info.channels,
                            image_size=info.image_size, width=config.width, depth=config.depth, seed=config.seed)
    return last_hidden_layer(model)


# --------------------------------------------------------------------------------------------
# Samples and profiles


def class_images(dataset: str, classes: Iterable[int], n_per_class: int, *, split: str = "train",
                 seed: int = 0) -> dict[int, torch.Tensor]:
    """``{class: images}`` with ``n_per_class`` images of each class (same images for every
    model), each [n_per_class, C, H, W] float32."""
    out = {}
    for c in classes:
        images, labels = load_tensors(dataset, split=split, per_class=n_per_class, classes=[int(c)], seed=seed)
        if len(images) < 10:
            raise ValueError(f"class {c} of {dataset} has only {len(images)} images")
        out[int(c)] = images
    return out


def with_labels(frame: pd.DataFrame, **labels) -> pd.DataFrame:
    """A copy of the profile ``frame`` with constant label columns (``class_label=3``,
    ``state="trained"``), placed where ``dimension_profile(..., **labels)`` places them: right
    after the leading ``train_accuracy`` column. A work unit's result is unlabelled (labels are
    not part of what it measures); this gives it the columns the page's frames have."""
    out = frame.copy()
    at = out.columns.get_loc("train_accuracy") + 1
    for offset, (name, value) in enumerate(labels.items()):
        out.insert(at + offset, name, value)
    return out


def stack_classes(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Per-class profiles stacked into one frame; a class whose PC-ID was not measured gets NaN
    in ``pca_id``, which :func:`average_over_classes` skips."""
    return pd.concat([f if "pca_id" in f else f.assign(pca_id=np.nan) for f in frames], ignore_index=True)


def class_profiles(trained, images_by_class: dict, *, pca_classes: Iterable[int] = (), **kwargs) -> pd.DataFrame:
    """:func:`dimension_profile` for each class, stacked with a ``class_label`` column.

    PC-ID (an SVD per layer, the expensive part) is computed only for ``pca_classes``; the
    other classes get NaN in ``pca_id``. ``kwargs`` go to :func:`dimension_profile` (its options,
    and labels such as ``state="trained"``).
    """
    pca_classes = {int(c) for c in pca_classes}
    return stack_classes(dimension_profile(trained, images, class_label=c, with_pca=int(c) in pca_classes, **kwargs)
                         for c, images in images_by_class.items())


def average_over_classes(frame: pd.DataFrame, by: Sequence[str] = ("model", "width", "epoch")) -> pd.DataFrame:
    """Mean profile over classes: one row per ``by`` x layer.

    ``id_mean`` is the mean over classes of the per-class TwoNN mean, ``id_std`` the mean of the
    per-class resampling standard deviations (the TwoNN error bar), ``class_std`` the spread
    across classes; other numeric columns (``pca_id``, ``test_accuracy``, ...) are averaged.
    """
    keys = [c for c in by if c in frame.columns] + ["layer"]
    numeric = [c for c in frame.select_dtypes("number").columns if c not in keys and c != "class_label"]
    grouped = frame.groupby(keys, sort=False)
    out = grouped[numeric].mean()
    out["class_std"] = grouped["id_mean"].std(ddof=0)
    out["n_classes"] = grouped["id_mean"].size()
    return out.reset_index().sort_values(keys[:-1] + ["relative_depth"]).reset_index(drop=True)


_BLOCK_ALIASES = {
    "n_points": ("n_points", "points", "n", "block_size", "n_per_block"),
    "id_mean": ("id_mean", "mean", "id"),
    "id_std": ("id_std", "std"),
    "n_blocks": ("n_blocks", "blocks", "b"),
}


def block_frame(result) -> pd.DataFrame:
    """The output of :func:`latentgeom.twonn_block_analysis` as a frame with the columns
    ``n_blocks, n_points, id_mean, id_std`` (one row per number of blocks, for the chart)."""
    frame = result if isinstance(result, pd.DataFrame) else pd.DataFrame(result)
    out = {}
    for target, aliases in _BLOCK_ALIASES.items():
        found = next((a for a in aliases if a in frame.columns), None)
        if found is None and target != "n_blocks":
            raise ValueError(f"block analysis result has no {target!r} column (got {list(frame.columns)})")
        if found is not None:
            out[target] = frame[found].to_numpy()
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------------------
# Numbers the verdicts are computed from (pure functions of a profile)


def _ordered(profile: pd.DataFrame) -> pd.DataFrame:
    if profile.empty:
        raise ValueError("empty profile")
    if profile["layer"].duplicated().any():
        raise ValueError("profile has repeated layers: pass one model's profile at a time")
    return profile.sort_values("relative_depth").reset_index(drop=True)


def hidden_profile(profile: pd.DataFrame) -> pd.DataFrame:
    """``input .. last hidden`` (the output layer ``logits`` dropped), ordered by depth."""
    ordered = _ordered(profile)
    if (ordered["layer"] == OUTPUT_LAYER).any():
        ordered = ordered[ordered["layer"] != OUTPUT_LAYER]
    else:
        ordered = ordered.iloc[:-1]
    if len(ordered) < 3:
        raise ValueError(f"need at least 3 layers from input to the last hidden layer, got {len(ordered)}")
    return ordered.reset_index(drop=True)


def last_hidden(profile: pd.DataFrame) -> pd.Series:
    """The row of the last hidden layer (the input of the final linear classifier)."""
    return hidden_profile(profile).iloc[-1]


def hunchback_summary(profile: pd.DataFrame, column: str = "id_mean") -> dict:
    """Shape of one ID profile on ``input .. last hidden``.

    Returns ``input_id, peak_id, peak_layer, peak_depth, last_id, last_depth``, ``rise``
    (peak / input), ``fall`` (last hidden / peak), ``peak_interior`` (the peak is neither the
    input nor the last hidden layer) and ``last_vs_previous`` (last hidden / the layer before).
    """
    hidden = hidden_profile(profile)
    values = hidden[column].to_numpy(dtype=float)
    if not np.isfinite(values).all() or (values <= 0).any():
        raise ValueError(f"{column} must be finite and positive, got {values}")
    peak = int(np.argmax(values))
    return dict(
        input_id=float(values[0]), peak_id=float(values[peak]), peak_layer=str(hidden["layer"].iloc[peak]),
        peak_depth=float(hidden["relative_depth"].iloc[peak]), last_id=float(values[-1]),
        last_depth=float(hidden["relative_depth"].iloc[-1]),
        rise=float(values[peak] / values[0]), fall=float(values[-1] / values[peak]),
        peak_interior=bool(0 < peak < len(values) - 1),
        last_vs_previous=float(values[-1] / values[-2]),
    )


def flatness(profile: pd.DataFrame, column: str = "id_mean") -> float:
    """max / min of ``column`` over ``input .. last hidden`` (1 = perfectly flat)."""
    values = hidden_profile(profile)[column].to_numpy(dtype=float)
    if (values <= 0).any():
        raise ValueError(f"{column} must be positive, got {values}")
    return float(values.max() / values.min())


def per_model(frame: pd.DataFrame, fn, by: Sequence[str] = ("model", "width", "epoch")) -> pd.DataFrame:
    """Apply ``fn(profile) -> dict`` to each model's profile; one row per model."""
    keys = [c for c in by if c in frame.columns]
    rows = []
    for values, group in frame.groupby(keys, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        rows.append({**dict(zip(keys, values)), **fn(group)})
    return pd.DataFrame(rows)
