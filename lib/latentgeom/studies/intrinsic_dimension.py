"""Intrinsic-dimension profiles of the model zoo (Ansuini et al., NeurIPS 2019).

The book's intrinsic-dimension chapter measures, per probe layer, the TwoNN intrinsic
dimension (and the linear PC-ID baseline) of a network's activations, on ~500 training images
of one class at a time (averaged over classes, as the paper does with 7) or on mixed classes.
This module holds what the chapter needs more than once:

- :class:`IDSettings`: the chapter's scale per preset (points per class, classes, mixed
  points, TwoNN resamples, the random-label network);
- :func:`latentgeom.studies.layerwise.dimension_profile` (re-exported here): per-layer TwoNN
  of a trained model, cached on disk and labelled with the model's name, width, epoch and
  accuracy;
- :func:`class_profiles` / :func:`average_over_classes`: the per-class profiles and their mean;
- :func:`hunchback_summary`, :func:`flatness`, :func:`last_hidden`: the numbers the verdicts
  are computed from (pure functions of a profile frame).

Layer conventions: the probe layers of every model run from ``input`` (relative depth 0) to
``logits`` (relative depth 1); the *last hidden layer* is the one just before the logits (the
input of the final linear classifier), and the hunchback is read on ``input .. last hidden``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..networks.data import load_tensors
from .layerwise import dimension_profile
from .presets import with_overrides

OUTPUT_LAYER = "logits"


@dataclass(frozen=True)
class IDSettings:
    """Scale of the intrinsic-dimension chapter.

    Attributes
    ----------
    n_per_class : int
        Training images of one class whose per-layer ID is measured (paper: ~500).
    n_classes : int
        Classes averaged in the per-class profiles (paper: 7, the first 7 labels here).
    n_mixed : int
        Mixed-class training images for the last-hidden-layer study (paper: 2000).
    n_mixed_profile : int
        Mixed-class images (the first of the ``n_mixed``) for the all-layer mixed profiles and
        the block analysis, where wide early layers make the neighbour search expensive.
    pca_classes : int
        Classes (the first ones) whose per-class samples also get PC-ID.
    n_resamples : int
        TwoNN repeats on random 90 % subsets for the error bars (spec: 5-50).
    block_max : int
        Largest number of disjoint blocks in the block analysis (spec: 20).
    random_label_architecture : str
        The single architecture trained on shuffled labels.
    random_label_epochs : int
        Epochs of the random-label network (memorising needs more than fitting true labels).
    random_label_n_train : int or None
        Training images of the random-label network (fewer images are memorised faster).
    """

    n_per_class: int = 500
    n_classes: int = 7
    n_mixed: int = 2000
    n_mixed_profile: int = 1000
    pca_classes: int = 1
    n_resamples: int = 10
    block_max: int = 20
    random_label_architecture: str = "plain_cnn"
    random_label_epochs: int = 30
    random_label_n_train: int | None = 2000

    def __post_init__(self):
        for name in ("n_per_class", "n_classes", "n_mixed", "n_mixed_profile", "pca_classes", "n_resamples", "block_max", "random_label_epochs"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.n_per_class < 10 or self.n_mixed < 10:
            raise ValueError(f"TwoNN needs at least 10 points; got n_per_class={self.n_per_class}, "
                             f"n_mixed={self.n_mixed}")
        if self.random_label_n_train is not None and (
                not isinstance(self.random_label_n_train, (int, np.integer)) or self.random_label_n_train < 10):
            raise ValueError(f"random_label_n_train must be None or an integer >= 10, "
                             f"got {self.random_label_n_train!r}")

    def as_dict(self) -> dict:
        return asdict(self)


ID_SETTINGS: dict[str, IDSettings] = {
    "tiny": IDSettings(n_per_class=40, n_classes=2, n_mixed=80, n_mixed_profile=80, pca_classes=1,
                       n_resamples=3, block_max=4, random_label_epochs=2, random_label_n_train=256),
    "default": IDSettings(n_per_class=500, n_classes=7, n_mixed=2000, n_mixed_profile=1000, pca_classes=1,
                          n_resamples=5, block_max=20, random_label_architecture="vgg_small",
                          # measured: vgg_small w16 fits 1000 shuffled labels in 40 epochs (23 s on
                          # 2 cores); plain_cnn stays at ~15 % train accuracy.
                          random_label_epochs=40, random_label_n_train=1000),
    "paper": IDSettings(n_per_class=500, n_classes=7, n_mixed=2000, n_mixed_profile=2000, pca_classes=7,
                        n_resamples=20, block_max=20,
                        random_label_architecture="vgg16", random_label_epochs=200,
                        random_label_n_train=None),
}


def id_settings(preset: str, **overrides) -> IDSettings:
    """The chapter's settings for a preset name, with single fields overridden (None = keep)."""
    if preset not in ID_SETTINGS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(ID_SETTINGS)}")
    return with_overrides(ID_SETTINGS[preset], "intrinsic-dimension setting", **overrides)


# --------------------------------------------------------------------------------------------
# Profiles


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


def class_images(dataset: str, classes: Iterable[int], n_per_class: int, *, split: str = "train",
                 seed: int = 0) -> dict[int, "object"]:
    """``{class: images}`` with ``n_per_class`` images of each class (same images for every model)."""
    out = {}
    for c in classes:
        images, labels = load_tensors(dataset, split=split, per_class=n_per_class, classes=[int(c)], seed=seed)
        if len(images) < 10:
            raise ValueError(f"class {c} of {dataset} has only {len(images)} images")
        out[int(c)] = images
    return out


def class_profiles(trained, images_by_class: dict, *, pca_classes: Iterable[int] = (), **kwargs) -> pd.DataFrame:
    """:func:`dimension_profile` for each class, stacked with a ``class_label`` column.

    PC-ID (an SVD per layer, the expensive part) is computed only for ``pca_classes``; the
    other classes get NaN in ``pca_id``, which :func:`average_over_classes` skips.
    """
    pca_classes = {int(c) for c in pca_classes}
    frames = []
    for c, images in images_by_class.items():
        frame = dimension_profile(trained, images, class_label=c, with_pca=int(c) in pca_classes, **kwargs)
        if "pca_id" not in frame:
            frame["pca_id"] = np.nan
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


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


# --------------------------------------------------------------------------------------------
# The sweep (python -m latentgeom sweep): what the intrinsic-dimension page trains and measures


def work_units(preset: str) -> list:
    """The units of :mod:`latentgeom.sweep` that ``book/findings/intrinsic-dimension.md`` needs.

    Per seed of the page: per-class TwoNN profiles (PC-ID on the first ``pca_classes``) of the
    trained zoo and its untrained twins, mixed-class profiles of the first-width models, the
    last hidden layer of every zoo member and checkpoint, and the random- vs true-label pair.
    """
    from dataclasses import replace

    from .. import sweep
    from ..networks.training import _new_model
    from .presets import get_preset

    P = get_preset(preset)
    S = id_settings(preset)
    if S.random_label_architecture not in P.architectures:
        S = replace(S, random_label_architecture=P.architectures[0])
    units = []
    for seed in sweep.page_seeds("findings/intrinsic-dimension.md"):
        kw = dict(id_resamples=S.n_resamples, seed=seed, device=P.device)
        mixed = sweep.Images(P.dataset, n=S.n_mixed, seed=seed)
        for config in P.zoo():
            final = config.epochs
            for state, model, epoch in (("trained", config, final), ("untrained", sweep.untrained(config), 0)):
                for c in range(S.n_classes):
                    images = sweep.Images(P.dataset, per_class=S.n_per_class, classes=(c,), seed=seed)
                    units.append(sweep.Profile.dimension(model, epoch, images, with_pca=c < S.pca_classes, **kw))
            if config.width == P.widths[0]:
                units.append(sweep.Profile.dimension(config, final, replace(mixed, first=S.n_mixed_profile), **kw))
            last = last_hidden_layer(_new_model(config))
            for epoch in sorted({*config.checkpoint_epochs, final}):
                units.append(sweep.Profile.dimension(config, epoch, mixed, layers=[last], **kw))
        base = replace(P.config(S.random_label_architecture, max(P.widths)), epochs=S.random_label_epochs,
                       n_train=S.random_label_n_train, checkpoint_epochs=(), weight_decay=0.0, augment=False,
                       label_smoothing=0.0)
        rl_images = sweep.Images(P.dataset, n=min(S.n_mixed, S.random_label_n_train or S.n_mixed), seed=base.seed)
        for config in (replace(base, random_labels=True), base):
            units.append(sweep.Profile.dimension(config, config.epochs, rl_images, **kw))
    return units
