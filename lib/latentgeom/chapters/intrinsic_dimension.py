"""Intrinsic-dimension profiles of the model zoo (Ansuini et al., NeurIPS 2019, arXiv:1905.12784).

Used by the book's page ``book/findings/intrinsic-dimension.md``. The page measures, per probe
layer, the TwoNN intrinsic dimension (and the linear PC-ID baseline) of a network's activations,
on training images of one class at a time (averaged over classes, as the paper does with 7) or
on mixed classes, and checks the paper's four findings over several seeds. This module holds
what the page needs twice or what a reader need not see:

- :func:`prepare`: the page's preamble in one call (preset, settings, validation, the models:
  the shared zoo, its untrained twins, one zoo member retrained with other training seeds, and
  the random-label networks), returning a :class:`Study`;
- :func:`measure`: one *run* (one image-sample seed, one training seed): per-class profiles of
  trained and untrained models, last-hidden-layer IDs of every zoo member and checkpoint, and
  the random-label profiles; :func:`mixed_and_blocks`: the descriptive mixed-class profiles and
  block analysis;
- :func:`evaluate`: a run's numeric checks under thresholds the page fixes before the data
  are seen; :func:`over_runs`: per-run verdicts combined with
  :func:`latentgeom.reporting.findings.over_seeds`, and the spread of the headline numbers;
  :func:`write_findings`: the four result files;
- :class:`IDSettings`: the chapter's scale per preset;
- :func:`latentgeom.profiles.dimension_profile` (re-exported here): per-layer TwoNN
  of a trained model, cached on disk;
- :func:`class_profiles` / :func:`average_over_classes`, :func:`hunchback_summary`,
  :func:`flatness`, :func:`last_hidden`: the numbers the verdicts are computed from.

The estimator itself is documented on the book's methods page "Measuring intrinsic dimension".
Layer conventions: the probe layers of every model run from ``input`` (relative depth 0) to
``logits`` (relative depth 1); the *last hidden layer* is the one just before the logits (the
input of the final linear classifier), and the hunchback is read on ``input .. last hidden``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm  # not tqdm.auto: its notebook bar warns without ipywidgets

from ..reporting.findings import Finding, over_seeds, verdict, write_finding
from ..reporting.statistics import bootstrap_correlation
from ..estimators.intrinsic_dimension import twonn_block_analysis
from ..networks.activations import extract
from ..networks.data import load_tensors
from ..networks.training import train
from ..validation import check_choice, check_int, check_range
from .curvature import label
from ..profiles import dimension_profile
from .presets import PRESETS, Preset, get_preset, trajectory, with_overrides

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
        TwoNN repeats on random 90 % subsets for the error bars (5-50 are usual).
    block_max : int
        Largest number of disjoint blocks in the block analysis (Facco et al. 2017: 20).
    random_label_architecture : str
        The single architecture trained on shuffled labels.
    random_label_epochs : int
        Epochs of the random-label network (memorising needs more than fitting true labels).
    random_label_n_train : int or None
        Training images of the random-label network (fewer images are memorised faster).
    n_seeds : int
        Image-sample seeds the checks run over (the page's ``seed``, ``seed + 1``, ...): each
        draws other class images and mixed images and other TwoNN subsets.
    training_seeds : int
        Training seeds (0, 1, ...) of ``twin_architecture`` (the zoo's first width) and of the
        random-label pair: each seed above 0 retrains them and repeats the checks.
    twin_architecture : str
        The zoo architecture retrained with other training seeds.
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
    n_seeds: int = 3
    training_seeds: int = 2
    twin_architecture: str = "plain_cnn"

    def __post_init__(self):
        for name in ("n_per_class", "n_classes", "n_mixed", "n_mixed_profile", "pca_classes", "n_resamples",
                     "block_max", "random_label_epochs", "n_seeds", "training_seeds"):
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
                       n_resamples=3, block_max=4, random_label_epochs=2, random_label_n_train=256,
                       n_seeds=2, training_seeds=2),
    # Sized for ~4 minutes on 2 CPU cores with 3 image-sample seeds and 2 training seeds: 3 of the
    # paper's 7 classes, 1000 mixed images (paper: 2000) and 3 TwoNN resamples per estimate.
    # 300 images per class (paper ~500): per-class TwoNN profiles dominate the page and grow
    # faster than linearly with the points (measured: 286 s for the page at 500).
    "default": IDSettings(n_per_class=300, n_classes=3, n_mixed=1000, n_mixed_profile=500, pca_classes=1,
                          n_resamples=3, block_max=20, random_label_architecture="vgg_small",
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
# The page: set-up, runs over seeds, checks, verdicts and result files

NOTEBOOK = "book/findings/intrinsic-dimension.md"
FINDING_IDS = ("id-1-hunchback", "id-2-pca-vs-twonn", "id-3-last-layer-vs-accuracy",
               "id-4-untrained-random-labels")
#: The thresholds the page fixes before looking at the data (see the page for their reasons).
THRESHOLD_NAMES = ("rise_min", "fall_max", "peak_depth_max", "share_min", "width_ratio_min", "pca_ratio_min",
                   "pca_same_max", "r_min", "flat_max", "rl_fit_min", "rl_rise_min", "rl_above_min")


@dataclass
class Study:
    """What the intrinsic-dimension page measures: its scale, its seeds and its models.

    ``trajectories[t]`` are the zoo's trajectories (checkpoints, then the final model) under
    training seed ``t``: for ``t > 0`` only the ``twin`` member is retrained with that seed, the
    others are the seed-0 models. ``untrained[t]`` are the same configurations at epoch 0, and
    ``random_label[t]`` is the (random labels, true labels) pair trained with seed ``t``.
    """

    preset: Preset
    settings: IDSettings
    seed: int
    sample_seeds: tuple[int, ...]
    training_seeds: tuple[int, ...]
    twin: str
    trajectories: dict
    untrained: dict
    random_label: dict

    @property
    def runs(self) -> list[tuple[int, int]]:
        """(image-sample seed, training seed) of every run; the first is the page's primary run."""
        return [(s, 0) for s in self.sample_seeds] + [(self.seed, t) for t in self.training_seeds[1:]]

    def models_frame(self) -> pd.DataFrame:
        """One row per trained model of training seed 0 and per retrained twin."""
        rows = [dict(model=label(m.config, m.epoch), training_seed=t, epoch=m.epoch, test_accuracy=m.test_accuracy)
                for t, trajectories in self.trajectories.items() for traj in trajectories for m in traj
                if t == 0 or label(m.config) == self.twin]
        rows += [dict(model=f"{label(m.config)} ({kind} labels)", training_seed=t, epoch=m.epoch,
                      test_accuracy=m.test_accuracy, train_accuracy=m.train_accuracy)
                 for t, pair in self.random_label.items() for kind, m in zip(("random", "true"), pair)]
        return pd.DataFrame(rows)

    def parameters(self) -> dict:
        return {**asdict(self.preset), **self.settings.as_dict(), "seed": self.seed,
                "sample_seeds": list(self.sample_seeds), "training_seeds": list(self.training_seeds)}


def _fit_settings(S: IDSettings, P: Preset) -> IDSettings:
    """``S`` with its single architectures moved to the preset's first one when not in the zoo."""
    for field_name in ("random_label_architecture", "twin_architecture"):
        if getattr(S, field_name) not in P.architectures:
            S = replace(S, **{field_name: P.architectures[0]})
    return S


def _configs(P: Preset, S: IDSettings) -> tuple[dict, dict, int]:
    """The page's models per training seed ``t``: ``(zoo[t], random_label[t], twin)``.

    ``zoo[t]`` is the zoo with only the ``twin`` member (index ``twin``) retrained with seed
    ``t``; ``random_label[t]`` the (random labels, true labels) pair of seed ``t``.
    """
    zoo = P.zoo()
    twin = next(i for i, c in enumerate(zoo) if c.model == S.twin_architecture and c.width == P.widths[0])
    # Memorisation recipe (Zhang et al. 2017): no weight decay, augmentation or label smoothing.
    rl_base = replace(P.config(S.random_label_architecture, max(P.widths)), epochs=S.random_label_epochs,
                      n_train=S.random_label_n_train, checkpoint_epochs=(), weight_decay=0.0, augment=False,
                      label_smoothing=0.0)
    seeds = range(S.training_seeds)
    configs = {t: [c if t == 0 or i != twin else replace(c, seed=t) for i, c in enumerate(zoo)] for t in seeds}
    pairs = {t: (replace(rl_base, random_labels=True, seed=t), replace(rl_base, seed=t)) for t in seeds}
    return configs, pairs, twin


def prepare(preset: str = "default", *, seed: int = 0, dataset: str | None = None,
            architectures: Sequence[str] | None = None, widths: Sequence[int] | None = None,
            **overrides) -> Study:
    """The page's preamble in one call: validate the parameters, pick the preset and the
    chapter's settings (``overrides``: fields of :class:`IDSettings`, None = the preset's), and
    train (or read from the model cache) every model the page measures.

    Raises ValueError naming the parameter on an unknown preset, a bad seed, a bad list or an
    invalid setting.
    """
    check_choice(preset, "preset", PRESETS)
    seed = check_int(seed, "seed", minimum=0)
    for name, value in dict(architectures=architectures, widths=widths).items():
        if value is not None and (isinstance(value, str) or not hasattr(value, "__iter__") or not list(value)):
            raise ValueError(f"{name} must be a non-empty list or None, got {value!r}")
    P = get_preset(preset, dataset=dataset, architectures=None if architectures is None else tuple(architectures),
                   widths=None if widths is None else tuple(int(w) for w in widths))
    S = _fit_settings(id_settings(preset, **overrides), P)
    configs, pairs, twin = _configs(P, S)
    zoo = configs[0]
    trajectories, untrained, random_label = {}, {}, {}
    for t in tqdm(range(S.training_seeds), desc="models (training seeds)"):
        trajectories[t] = [trajectory(c, device=P.device) if t == 0 or i == twin else trajectories[0][i]
                           for i, c in enumerate(configs[t])]
        untrained[t] = [train(replace(c, epochs=0, checkpoint_epochs=()), device=P.device)
                        if t == 0 or i == twin else untrained[0][i] for i, c in enumerate(configs[t])]
        random_label[t] = tuple(train(c, device=P.device) for c in pairs[t])
    return Study(preset=P, settings=S, seed=seed, sample_seeds=tuple(seed + k for k in range(S.n_seeds)),
                 training_seeds=tuple(range(S.training_seeds)), twin=label(zoo[twin]),
                 trajectories=trajectories, untrained=untrained, random_label=random_label)


@dataclass
class Run:
    """The measurements of one run: ``profiles`` (per-class profiles averaged over classes,
    ``state`` trained/untrained), ``per_class``, ``last`` (last-hidden-layer ID and test error of
    every zoo member and checkpoint), ``rl`` (profiles of the random/true-label pair) and the
    pair's train accuracies."""

    sample_seed: int
    training_seed: int
    per_class: pd.DataFrame
    profiles: pd.DataFrame
    last: pd.DataFrame
    rl: pd.DataFrame
    rl_accuracy: dict

    @property
    def name(self) -> str:
        return f"image seed {self.sample_seed}, training seed {self.training_seed}"


def measure(study: Study, sample_seed: int, training_seed: int = 0) -> Run:
    """One run of the page's measurements (profiles come from the profile cache when present)."""
    P, S = study.preset, study.settings
    if training_seed not in study.trajectories:
        raise ValueError(f"training_seed must be one of {sorted(study.trajectories)}, got {training_seed!r}")
    kw = dict(id_resamples=S.n_resamples, seed=sample_seed, device=P.device)
    images = class_images(P.dataset, range(S.n_classes), S.n_per_class, seed=sample_seed)
    models = [("trained", t[-1]) for t in study.trajectories[training_seed]]
    models += [("untrained", m) for m in study.untrained[training_seed]]
    per_class = pd.concat([class_profiles(m, images, pca_classes=range(S.pca_classes), state=state, **kw)
                           for state, m in tqdm(models, desc=f"per-class profiles, seed {sample_seed}")],
                          ignore_index=True)
    per_class["label"] = [f"{m} w{w}" for m, w in zip(per_class.model, per_class.width)]
    profiles = average_over_classes(per_class, by=("state", "label", "model", "width", "epoch"))
    mixed_images, _ = load_tensors(P.dataset, split="train", n=S.n_mixed, seed=sample_seed)
    members = [m for traj in study.trajectories[training_seed] for m in traj]
    last = pd.concat([dimension_profile(m, mixed_images, layers=[last_hidden_layer(m.model)], **kw)
                      for m in tqdm(members, desc="last hidden layers")], ignore_index=True)
    last["label"] = [label(m.config, m.epoch) for m in members]
    last["test_error"] = 1 - last.test_accuracy
    random_net, true_net = study.random_label[training_seed]
    rl_images, _ = load_tensors(P.dataset, split="train", n=min(S.n_mixed, S.random_label_n_train or S.n_mixed),
                                seed=random_net.config.seed)
    rl = pd.concat([dimension_profile(random_net, rl_images, labels="random", **kw),
                    dimension_profile(true_net, rl_images, labels="true", **kw)], ignore_index=True)
    rl["label"] = rl["labels"] + " labels"
    return Run(sample_seed, training_seed, per_class, profiles, last, rl,
               dict(random=random_net.train_accuracy, true=true_net.train_accuracy))


def mixed_and_blocks(study: Study, run: Run) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Descriptive measurements of the primary run: mixed-class profiles of the smallest model
    of each architecture on ``n_mixed_profile`` images, and the block analysis of the first one
    at its peak layer. Returns ``(mixed, blocks, title of the block analysis)``."""
    P, S = study.preset, study.settings
    images, _ = load_tensors(P.dataset, split="train", n=S.n_mixed_profile, seed=run.sample_seed)
    first = [t[-1] for t in study.trajectories[run.training_seed] if t[-1].config.width == P.widths[0]]
    mixed = pd.concat([dimension_profile(m, images, id_resamples=S.n_resamples, seed=run.sample_seed,
                                         device=P.device) for m in first], ignore_index=True)
    mixed["label"] = [f"{m} w{w}" for m, w in zip(mixed.model, mixed.width)]
    name = label(first[0].config)
    trained = run.profiles[(run.profiles.state == "trained") & (run.profiles.label == name)]
    layer = hunchback_summary(trained)["peak_layer"]
    acts = extract(first[0].model, images, [layer], device=P.device)[layer]
    blocks = block_frame(twonn_block_analysis(acts, max_blocks=S.block_max, seed=run.sample_seed))
    return mixed, blocks, f"Block analysis: {name}, layer {layer} ({len(images)} mixed images)"


@dataclass
class Evaluation:
    """One finding in one run: named ``checks``, their ``verdict``, the ``headline`` numbers
    (whose spread over runs the page reports), ``ours`` (all numbers, for the result file) and
    ``tables`` (frames the page shows)."""

    checks: dict
    verdict: str
    headline: dict
    ours: dict
    tables: dict = field(default_factory=dict)


def _thresholds(thresholds: Mapping[str, float]) -> dict:
    missing, unknown = set(THRESHOLD_NAMES) - set(thresholds), set(thresholds) - set(THRESHOLD_NAMES)
    if missing or unknown:
        raise ValueError(f"thresholds must have exactly the keys {THRESHOLD_NAMES}; "
                         f"missing {sorted(missing)}, unknown {sorted(unknown)}")
    return {k: check_range(v, k, 0, np.inf) for k, v in thresholds.items()}


def evaluate(run: Run, thresholds: Mapping[str, float]) -> dict[str, Evaluation]:
    """The four findings' checks on one run, under ``thresholds`` (keys: :data:`THRESHOLD_NAMES`)."""
    T = _thresholds(thresholds)
    profiles = run.profiles
    trained = profiles[profiles.state == "trained"]
    # 1. hunchback
    shape = per_model(trained, hunchback_summary, by=("label",))
    hunch = dict(rise_share=float(np.mean(shape.rise >= T["rise_min"])),
                 fall_share=float(np.mean(shape.fall <= T["fall_max"])),
                 interior_share=float(np.mean(shape.peak_interior)),
                 median_peak_depth=float(shape.peak_depth.median()),
                 median_rise=float(shape.rise.median()), median_fall=float(shape.fall.median()))
    share = T["share_min"]
    checks1 = {
        f"ID rises (peak >= {T['rise_min']} x input) in >= {share:.2g} of trained models": hunch["rise_share"] >= share,
        f"ID falls (last hidden <= {T['fall_max']} x peak) in >= {share:.2g} of trained models": hunch["fall_share"] >= share,
        f"peak at an interior layer in >= {share:.2g} of trained models": hunch["interior_share"] >= share,
        f"median peak depth <= {T['peak_depth_max']}": hunch["median_peak_depth"] <= T["peak_depth_max"],
    }
    # 2. ID vs width and PC-ID
    inner = profiles[~profiles.layer.isin(["input", OUTPUT_LAYER])].copy()
    inner["width_over_id"] = inner.layer_width / inner.id_mean
    inner["pca_over_id"] = inner.pca_id / inner.id_mean
    paired = inner[inner.state == "trained"].merge(inner[inner.state == "untrained"][["label", "layer", "id_mean", "pca_id"]],
                                                   on=["label", "layer"], suffixes=("", "_untrained"))
    paired["pca_change"] = (paired.pca_id - paired.pca_id_untrained).abs() / paired.pca_id_untrained
    paired["twonn_change"] = (paired.id_mean - paired.id_mean_untrained).abs() / paired.id_mean_untrained
    trained_inner = inner[inner.state == "trained"]
    ratios = dict(min_width_over_id=float(trained_inner.width_over_id.min()),
                  median_width_over_id=float(trained_inner.width_over_id.median()),
                  median_pca_over_id=float(trained_inner.pca_over_id.median()),
                  median_pca_change=float(paired.pca_change.median()),
                  median_twonn_change=float(paired.twonn_change.median()))
    checks2 = {
        f"every hidden layer's width >= {T['width_ratio_min']} x its ID": ratios["min_width_over_id"] >= T["width_ratio_min"],
        f"PC-ID much larger: median PC-ID / TwoNN >= {T['pca_ratio_min']}": ratios["median_pca_over_id"] >= T["pca_ratio_min"],
        f"PC-ID nearly the same trained vs untrained (median change <= {T['pca_same_max']:.0%})":
            ratios["median_pca_change"] <= T["pca_same_max"],
    }
    # 3. last hidden layer vs test error
    c = bootstrap_correlation(run.last.id_mean, run.last.test_error, seed=run.sample_seed)
    checks3 = {"r(ID, error) > 0 with both 95 % bootstrap intervals above 0": c.significant_positive(),
               f"strong: Pearson r >= {T['r_min']}": c.pearson >= T["r_min"]}
    # 4. untrained and random labels
    flat = per_model(profiles[profiles.state == "untrained"], lambda f: {"flatness": flatness(f)}, by=("label",))
    rl_random = hunchback_summary(run.rl[run.rl["labels"] == "random"])
    rl_true = hunchback_summary(run.rl[run.rl["labels"] == "true"])
    flat_share = float(np.mean(flat.flatness <= T["flat_max"]))
    checks4 = {
        f"untrained profile flat (max/min <= {T['flat_max']}) in >= {share:.2g} of models": flat_share >= share,
        f"random labels memorised (train accuracy >= {T['rl_fit_min']})": run.rl_accuracy["random"] >= T["rl_fit_min"],
        f"random labels: last hidden ID >= {T['rl_rise_min']} x the layer before":
            rl_random["last_vs_previous"] >= T["rl_rise_min"],
        f"random labels: last hidden ID >= {T['rl_above_min']} x true labels":
            rl_random["last_id"] >= T["rl_above_min"] * rl_true["last_id"],
    }
    rl_ratio = rl_random["last_id"] / rl_true["last_id"]
    return {
        FINDING_IDS[0]: Evaluation(checks1, verdict(checks1),
                                   dict(median_rise=hunch["median_rise"], median_fall=hunch["median_fall"],
                                        median_peak_depth=hunch["median_peak_depth"]),
                                   {**hunch, "models": shape.to_dict("records")}, {"models": shape}),
        FINDING_IDS[1]: Evaluation(checks2, verdict(checks2),
                                   {k: ratios[k] for k in ("min_width_over_id", "median_pca_over_id", "median_pca_change")},
                                   {**ratios, "layers": paired.to_dict("records")}, {"layers": paired, "inner": inner}),
        FINDING_IDS[2]: Evaluation(checks3, verdict(checks3), dict(pearson=c.pearson, spearman=c.spearman),
                                   {"correlation": c.as_dict(),
                                    "models": run.last.drop(columns=["relative_depth"]).to_dict("records")},
                                   {"models": run.last}),
        FINDING_IDS[3]: Evaluation(checks4, verdict(checks4),
                                   dict(untrained_flat_share=flat_share,
                                        random_last_vs_previous=rl_random["last_vs_previous"],
                                        random_over_true_last=rl_ratio),
                                   {"untrained": {"flat_share": flat_share, "models": flat.to_dict("records")},
                                    "random_labels": {"train_accuracy": run.rl_accuracy["random"], **rl_random},
                                    "true_labels": {"train_accuracy": run.rl_accuracy["true"], **rl_true}},
                                   {"untrained": flat}),
    }


def over_runs(runs: Sequence[Run], evaluations: Sequence[Mapping[str, Evaluation]]) -> pd.DataFrame:
    """One row per finding: the verdict over all runs (:func:`over_seeds`: a verdict that
    differs between runs is "unstable across seeds"), how many runs agree, the per-run
    verdicts, and each headline number's [min, max] over the runs."""
    if not runs or len(runs) != len(evaluations):
        raise ValueError(f"need one evaluation per run, got {len(runs)} runs and {len(evaluations)} evaluations")
    rows = []
    for finding_id in FINDING_IDS:
        per_run = [e[finding_id] for e in evaluations]
        agreement = over_seeds([e.verdict for e in per_run])
        spread = {k: [float(min(e.headline[k] for e in per_run)), float(max(e.headline[k] for e in per_run))]
                  for k in per_run[0].headline}
        rows.append(dict(finding=finding_id, verdict=agreement.verdict, agreement=str(agreement),
                         per_run=" / ".join(e.verdict for e in per_run),
                         spread="; ".join(f"{k} {lo:.3g}–{hi:.3g}" for k, (lo, hi) in spread.items()),
                         seeds=agreement, spread_values=spread))
    return pd.DataFrame(rows).set_index("finding")


_PAPER = {
    FINDING_IDS[0]: dict(
        title="Across layers the ID rises, then falls (the hunchback)",
        paper_claim=("The intrinsic dimension of layer representations first rises from the input to a peak in the "
                     "first half of the network, then falls towards the last hidden layer."),
        paper={"vgg16": {"input": 29, "peak_pool1": 72, "last_hidden": 6.5},
               "imagenet_models": {"peak": [100, 120], "peak_relative_depth": [0.2, 0.45], "last_hidden": [15, 25]}},
        paper_value="VGG-16: ID 29 at the input, peak 72, 6.5 at the last hidden layer"),
    FINDING_IDS[1]: dict(
        title="ID is far below the width; PC-ID is far larger and misses training",
        paper_claim=("The ID is orders of magnitude below the number of units; PC-ID (90 % variance) is far larger "
                     "(hundreds) and nearly the same for trained and untrained networks."),
        paper={"vgg16_width_over_id": {"pool1": 802816 / 72, "last_hidden": 4096 / 6.5}, "pca_id": "hundreds",
               "pca_trained_vs_untrained": "nearly the same"},
        paper_value="width/ID ~600-10^4; PC-ID in the hundreds, same trained or untrained"),
    FINDING_IDS[2]: dict(
        title="Lower last-hidden-layer ID, lower test error",
        paper_claim="The ID of the last hidden layer predicts test error: Pearson r ~ 0.94 across 14 models.",
        paper={"pearson_r_top5_error": 0.94, "n_models": 14},
        paper_value="Pearson r = 0.94 (last-hidden ID vs top-5 error, 14 models)"),
    FINDING_IDS[3]: dict(
        title="Untrained: flat ID profile; random labels: ID rises again at the last hidden layer",
        paper_claim=("Untrained networks have a flat ID profile; networks trained on random labels show an ID that "
                     "rises again at the last hidden layer instead of falling."),
        paper={"untrained": "flat profile", "random_labels": "ID increases at the last hidden layer"},
        paper_value="untrained: flat profile; random labels: last hidden ID rises"),
}


def _range(spread: Mapping[str, list], key: str, fmt: str = ".2f") -> str:
    lo, hi = spread[key]
    return f"{lo:{fmt}}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}}–{hi:{fmt}}"


def write_findings(study: Study, runs: Sequence[Run], evaluations: Sequence[Mapping[str, Evaluation]],
                   seconds: float) -> list[Finding]:
    """Write the page's four result files (verdicts over all runs, the primary run's numbers,
    every run's verdict and the headline spreads) and return the :class:`Finding` objects."""
    table = over_runs(runs, evaluations)
    primary = evaluations[0]
    run_names = [r.name for r in runs]
    out = []
    for finding_id in FINDING_IDS:
        row, e = table.loc[finding_id], primary[finding_id]
        sp = row.spread_values
        our_value = {
            FINDING_IDS[0]: lambda: f"median peak/input {_range(sp, 'median_rise')}, last/peak {_range(sp, 'median_fall')}",
            FINDING_IDS[1]: lambda: (f"width/ID min {_range(sp, 'min_width_over_id', '.1f')}; PC-ID/TwoNN "
                                     f"{_range(sp, 'median_pca_over_id', '.1f')}; PC-ID change "
                                     f"{_range(sp, 'median_pca_change')}"),
            FINDING_IDS[2]: lambda: f"Pearson {_range(sp, 'pearson')} over {len(runs)} runs",
            FINDING_IDS[3]: lambda: (f"untrained flat share {_range(sp, 'untrained_flat_share')}; random labels: last "
                                     f"hidden ID x{_range(sp, 'random_last_vs_previous')} the layer before"),
        }[finding_id]()
        failed = [name for name, ok in e.checks.items() if not ok]
        summary = (f"{row.agreement}; per run: {row.per_run} (runs: {'; '.join(run_names)}). "
                   + (f"Failing in the primary run: {'; '.join(failed)}. " if failed else "")
                   + f"Headline ranges over runs: {row.spread}.")
        finding = Finding(finding_id=finding_id, notebook=NOTEBOOK, parameters=study.parameters(), checks=e.checks,
                          verdict=row.verdict, ours={**e.ours, "runs": [dict(run=n, verdict=ev[finding_id].verdict,
                                                                              checks=ev[finding_id].checks,
                                                                              headline=ev[finding_id].headline)
                                                                         for n, ev in zip(run_names, evaluations)]},
                          seeds={"twonn": row.seeds.as_dict()}, spread=sp, our_value=our_value, summary=summary,
                          seconds=seconds, **_PAPER[finding_id])
        write_finding(finding)
        out.append(finding)
    return out
# The sweep (python -m latentgeom sweep): what the intrinsic-dimension page trains and measures


def work_units(preset: str) -> list:
    """The units of :mod:`latentgeom.sweep` that ``book/findings/intrinsic-dimension.md`` needs.

    Follows :func:`prepare`, :func:`measure` and :func:`mixed_and_blocks` with the page's own
    parameters (read from the page): for every run (image seed, training seed), per-class
    TwoNN profiles (PC-ID on the first ``pca_classes``) of the trained zoo and its untrained
    twins, the last hidden layer of every zoo member and checkpoint, the random- vs true-label
    pair; for the primary run, the mixed-class profiles of the first-width models.
    """
    from .. import sweep
    from ..networks.training import new_model

    page = sweep.page_parameters(NOTEBOOK.removeprefix("book/"))
    names = {f.name for f in fields(IDSettings)}
    P = get_preset(preset, dataset=page.get("dataset"),
                   architectures=None if page.get("architectures") is None else tuple(page["architectures"]),
                   widths=None if page.get("widths") is None else tuple(page["widths"]))
    S = _fit_settings(id_settings(preset, **{k: v for k, v in page.items() if k in names}), P)
    seed = page.get("seed", 0)
    configs, pairs, _ = _configs(P, S)
    runs = [(seed + k, 0) for k in range(S.n_seeds)] + [(seed, t) for t in range(1, S.training_seeds)]
    units = []
    for sample_seed, t in runs:
        kw = dict(id_resamples=S.n_resamples, seed=sample_seed, device=P.device)
        mixed = sweep.Images(P.dataset, n=S.n_mixed, seed=sample_seed)
        for config in configs[t]:
            for model, epoch in ((config, config.epochs), (sweep.untrained(config), 0)):
                for c in range(S.n_classes):
                    images = sweep.Images(P.dataset, per_class=S.n_per_class, classes=(c,), seed=sample_seed)
                    units.append(sweep.Profile.dimension(model, epoch, images, with_pca=c < S.pca_classes, **kw))
            last = last_hidden_layer(new_model(config))
            for epoch in sorted({*config.checkpoint_epochs, config.epochs}):
                units.append(sweep.Profile.dimension(config, epoch, mixed, layers=[last], **kw))
            if (sample_seed, t) == runs[0] and config.width == P.widths[0]:  # mixed_and_blocks
                units.append(sweep.Profile.dimension(config, config.epochs,
                                                     sweep.Images(P.dataset, n=S.n_mixed_profile, seed=sample_seed),
                                                     id_resamples=S.n_resamples, seed=sample_seed, device=P.device))
        rl_images = sweep.Images(P.dataset, n=min(S.n_mixed, S.random_label_n_train or S.n_mixed), seed=t)
        for config in pairs[t]:
            units.append(sweep.Profile.dimension(config, config.epochs, rl_images, **kw))
    return units
