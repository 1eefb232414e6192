"""Per-layer geometry of a trained network: intrinsic dimension and curvature profiles.

Both the curvature and the intrinsic-dimension chapters measure networks through this module.
The curvature pipeline is Kaufman & Azencot (2023), step by step as the book's methods page
"Measuring curvature" describes it:

1. per layer, the tangent dimension ``d`` is the TwoNN intrinsic dimension of the layer's
   activations over the sample, averaged over resamples and rounded;
2. neighbourhoods are made in *input* space and pushed through the network: for the
   ``paper`` estimator, the 2**q - 1 binary SVD masks plus the point itself (K = 2**q), with
   plain k-nearest neighbours (K = 2d) at the input layer; for the ``robust`` estimator,
   2**q - 1 continuous random scalings of the same q singular values (no cube-vertex
   collinearity), with ``d`` capped at q * channels, the dimension those perturbations can
   span at all, and at the input layer kNN with twice as many neighbours as fit unknowns.
   (At the input, perturbation neighbourhoods are flat by construction: rebuilding an image
   is linear in its singular values.) The q perturbed values are the smallest *nonzero*
   ones (see :data:`latentgeom.estimators.neighbourhoods.RELATIVE_FLOOR`);
3. :func:`latentgeom.estimators.curvature.mapc` turns each neighbourhood into principal curvatures.

Work is streamed in chunks of points, and layers are grouped so that one chunk's
neighbourhood activations stay under ``max_bytes``: memory is bounded for any model.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from .estimators import curvature as curvature_estimator
from .estimators import intrinsic_dimension as id_estimator
from .estimators.curvature import MODES, CurvatureResult, UnresolvedCurvatureWarning, min_neighbours
from .estimators.intrinsic_dimension import pca_id, twonn
from .estimators.scale_free import RMSRadius, bending, neighbourhood_radius
from .networks.activations import inference_copy, iter_layers, neighbourhood_activations
from .networks.external import as_trained
from .paths import model_cache_dir
from .progress import bar as progress_bar
from .sample_geometry import input_curvature, perturbation_neighbourhoods, quiet_mapc, tangent_dim
from .storage import cached_frame, content_key
from .validation import resolve_device

#: Version of the columns a profile stores, part of its cache key: a profile cached with fewer
#: columns (before ``mapc_se_M``) is recomputed rather than read without them.
FRAME_VERSION = 2


@dataclass(frozen=True)
class GeometryConfig:
    """How per-layer geometry is measured.

    Attributes
    ----------
    q : int
        Number of smallest singular values perturbed per channel (paper: 10, K = 2**q).
    modes : tuple of str
        Estimator modes to run: ``"paper"`` and/or ``"robust"``.
    id_resamples : int
        TwoNN repeats on random 90 % subsets whose mean gives ``d`` (paper: 10 runs).
    max_bytes : int
        Memory budget for one chunk's neighbourhood activations (bytes, float32).
    batch_size : int
        Forward-pass batch size.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    seed : int
        Seeds the continuous perturbations and TwoNN resampling.
    """

    q: int = 6
    modes: tuple[str, ...] = MODES
    id_resamples: int = 5
    max_bytes: int = 1_500_000_000
    batch_size: int = 256  # measured fastest on 2 CPU cores (channels-last convolutions)
    device: str = "auto"
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.q, int) or self.q < 1:
            raise ValueError(f"q must be a positive integer, got {self.q!r}")
        unknown = set(self.modes) - set(MODES)
        if unknown or not self.modes:
            raise ValueError(f"modes must be a non-empty subset of {MODES}, got {self.modes!r}")
        if self.id_resamples < 1:
            raise ValueError(f"id_resamples must be >= 1, got {self.id_resamples}")
        if self.max_bytes < 1_000_000:
            raise ValueError(f"max_bytes must be at least 1e6, got {self.max_bytes}")


def layer_dimensions(model, images: torch.Tensor, *, layers: Sequence[str] | None = None,
                     id_resamples: int = 5, with_pca: bool = False, seed: int = 0,
                     device: str = "auto", batch_size: int = 512, progress: bool = False) -> pd.DataFrame:
    """TwoNN (and optionally PC-ID) per probe layer, one layer in memory at a time.

    ``model`` is any ``nn.Module``; ``layers`` are named as in
    :func:`latentgeom.networks.activations.extract` (default: the model's default list).

    Returns a DataFrame with columns ``layer, relative_depth, width`` (D, features per image),
    ``id`` (TwoNN on all points), ``id_mean, id_std`` (over 90 % subsets), ``n_duplicates``
    and, with ``with_pca``, ``pca_id``.
    """
    rows = []
    for probe, acts in iter_layers(model, images, layers, device=device, batch_size=batch_size):
        res = twonn(acts, n_resamples=id_resamples, seed=seed)
        row = dict(layer=probe.name, relative_depth=probe.relative_depth, width=acts.shape[1],
                   id=res.id, id_mean=res.mean, id_std=res.std, n_duplicates=res.n_duplicates)
        if with_pca:
            row["pca_id"] = pca_id(acts)
        rows.append(row)
        if progress:
            print(f"  {probe.name:>12}: D={acts.shape[1]:>6}  TwoNN={res.mean:.1f}±{res.std:.1f}")
    return pd.DataFrame(rows)


def _layer_groups(widths: dict[str, int], k: int, max_bytes: int, min_chunk: int = 4) -> list[list[str]]:
    """Greedy groups of layers whose neighbourhoods for `min_chunk` points fit the budget."""
    groups, current, used = [], [], 0
    for name, width in widths.items():
        cost = min_chunk * k * width * 4
        if current and used + cost > max_bytes:
            groups.append(current)
            current, used = [], 0
        current.append(name)
        used += cost
    if current:
        groups.append(current)
    return groups


def curvature_profile(model, images: torch.Tensor, config: GeometryConfig = GeometryConfig(), *,
                      layers: Sequence[str] | None = None, progress: bool = True) -> pd.DataFrame:
    """MAPC per probe layer (the curvature profile) of ``model`` on ``images``.

    Parameters
    ----------
    model : nn.Module
        A network from :func:`latentgeom.networks.models.build_model` (trained or not), or any other
        ``nn.Module`` (e.g. a torchvision ResNet; see :mod:`latentgeom.networks.probes`).
    images : Tensor, shape [n, C, H, W]
        The sample points (normalised inputs). The paper uses n = 5000.
    config : GeometryConfig
    layers : list of str, optional
        Probe-layer names (default: all, input to logits), as the model names its submodules,
        or ``"input"``.

    Returns
    -------
    DataFrame, one row per layer: ``layer, relative_depth, width, id_mean, id_std`` and, for
    each mode ``M`` in ``config.modes``: ``d_M`` (tangent dimension used), ``K_M``,
    ``mapc_M`` (the mode's headline), ``mapc_se_M`` (its standard error from resampling the
    points: the standard deviation of the per-point values over sqrt(n)), ``max_abs_M`` (mean
    per-point largest |kappa|) and
    ``carrying_M`` (mean |kappa| over curvature-carrying directions); the dimensionless
    curvatures of :mod:`latentgeom.estimators.scale_free`: ``rms_radius`` (the layer's length
    scale R, activation units), ``scale_free_M`` = ``mapc_M`` * R and ``bend_M`` (mean per-point
    curvature x neighbourhood RMS radius); and whether the number can be trusted:
    ``dirs_M`` (median over points of the input directions the neighbourhoods span,
    :func:`latentgeom.spanned_directions`: q x channels for perturbations, up to K at the
    input's kNN), ``resolved_M`` (robust: the share of points whose curvature the
    neighbourhood resolved; NaN for paper) and ``measurable_M`` (``d_M <= dirs_M`` and, for
    robust, at least half the points resolved). A layer that is not measurable keeps its
    ``mapc_M`` (the estimator's output) but is to be reported as "not measurable"; the
    profile warns once (:class:`latentgeom.UnresolvedCurvatureWarning`) naming such layers.
    """
    if images.ndim != 4:
        raise ValueError(f"images must have shape [n, C, H, W], got {tuple(images.shape)}")
    n, channels, height, width_px = images.shape
    if config.q > min(height, width_px):
        raise ValueError(f"q={config.q} exceeds min(H, W)={min(height, width_px)} singular values per channel")
    device = resolve_device(config.device)
    dims = layer_dimensions(model, images, layers=layers, id_resamples=config.id_resamples,
                            seed=config.seed, device=config.device, batch_size=config.batch_size)
    names = list(dims["layer"])
    widths = dict(zip(names, dims["width"]))
    k_latent = 2 ** config.q
    d_paper = {r.layer: tangent_dim(r.id_mean, min(r.width - 1, k_latent - 2)) for r in dims.itertuples()}
    # Perturbations of q singular values per channel span at most q * C input directions.
    # The robust fit also needs K >= 1 + d + d(d+1)/2 neighbours (intercept, gradient, Hessian).
    d_fit = max((d for d in range(1, k_latent) if min_neighbours(d, "robust") <= k_latent - 1), default=1)
    d_robust = {r.layer: tangent_dim(r.id_mean, min(r.width - 1, config.q * channels, d_fit))
                for r in dims.itertuples()}

    results: dict[tuple[str, str], list[CurvatureResult]] = {}
    radii: dict[tuple[str, str], list] = {}  # neighbourhood RMS radii, chunk by chunk like results
    # Input directions each image's perturbations span, per mode (every latent layer sees the
    # images of the same perturbations, so it is one count per point, not per layer).
    spans: dict[str, list] = {mode: [] for mode in config.modes}
    input_spans: dict[str, float] = {}
    lengths = {name: RMSRadius() for name in names}
    groups = _layer_groups(widths, k_latent, config.max_bytes)
    chunk = max(1, min(n, config.max_bytes // (k_latent * 4 * max(sum(widths[l] for l in g) for g in groups))))
    # The neighbourhoods' forward passes run through an eval-mode copy with each batch norm folded
    # into its convolution (float32, equal to the model's activations to round-off), channels-last.
    fast = inference_copy(model, names)
    generator_seed = config.seed
    bar = progress_bar(total=len(groups) * ((n + chunk - 1) // chunk) * len(config.modes),
                       desc="curvature", enabled=progress, leave=False)
    for start in range(0, n, chunk):
        x = images[start:start + chunk]
        for mode in config.modes:
            # Perturbed once per chunk and mode, whatever the number of layer groups.
            perturbed, spanned = perturbation_neighbourhoods(x, mode, config.q, generator_seed + start)
            spans[mode].append(spanned)
            for group in groups:
                hidden = [name for name in group if name != "input"]  # data kNN at the input layer (below)
                # one pass: each point, then its 2**q - 1 neighbours: [m, 2**q, D] per layer
                acts = neighbourhood_activations(fast, x, perturbed, hidden, device=config.device,
                                                 batch_size=config.batch_size) if hidden else {}
                for name in group:
                    p = x.flatten(1).float() if name == "input" else acts[name][:, 0]
                    if mode == config.modes[0]:
                        lengths[name].add(p)
                    if name == "input":
                        continue
                    # paper: the point itself first, K = 2**q; robust: the 2**q - 1 perturbations
                    nb = acts[name] if mode == "paper" else acts[name][:, 1:]
                    d = d_paper[name] if mode == "paper" else d_robust[name]
                    results.setdefault((mode, name), []).append(
                        quiet_mapc(p.to(device), nb.to(device), d, mode))
                    radii.setdefault((mode, name), []).append(neighbourhood_radius(p, nb))
                bar.update(1)
    bar.close()

    # At the input, rebuilding an image is linear in its singular values, so perturbation
    # neighbourhoods are flat by construction: like the paper, use data kNN there.
    if "input" in names:
        input_id = float(dims.set_index("layer").loc["input", "id_mean"])
        for mode in config.modes:
            result, radius, input_spans[mode] = input_curvature(images, input_id, mode)
            results[(mode, "input")], radii[(mode, "input")] = [result], [radius]  # as the chunks' lists
    latent_spans = {mode: float(np.median(np.concatenate(s))) if s else math.nan for mode, s in spans.items()}
    rows, unmeasurable = dims.to_dict("records"), []
    for row in rows:
        length = lengths[row["layer"]].value
        row["rms_radius"] = length
        for mode in config.modes:
            res = CurvatureResult.concatenate(results[(mode, row["layer"])])
            dirs = input_spans[mode] if row["layer"] == "input" else latent_spans[mode]
            measurable = res.d <= dirs and res.measurable is not False
            row.update({f"d_{mode}": res.d, f"K_{mode}": res.K, f"mapc_{mode}": res.mapc,
                        f"mapc_se_{mode}": standard_error(res.per_point),
                        f"max_abs_{mode}": res.max_abs, f"carrying_{mode}": res.carrying_mean_abs,
                        f"scale_free_{mode}": res.mapc * length,
                        f"bend_{mode}": bending(res.per_point, np.concatenate(radii[(mode, row["layer"])])),
                        f"dirs_{mode}": dirs, f"resolved_{mode}": res.resolved_share,
                        f"measurable_{mode}": bool(measurable)})
            if not measurable:
                unmeasurable.append(f"{row['layer']} ({mode}: d = {res.d}, {dirs:g} directions spanned"
                                    + (f", {res.resolved_share:.0%} resolved)" if res.resolved is not None else ")"))
    if unmeasurable:
        warnings.warn(f"curvature not measurable at {len(unmeasurable)} layer-mode pairs (the neighbourhoods span "
                      "fewer input directions than d, or under half the points resolved): "
                      + "; ".join(unmeasurable), UnresolvedCurvatureWarning, stacklevel=2)
    return pd.DataFrame(rows)


def curvature_gap(profile: pd.DataFrame, mode: str = "paper") -> dict[str, float]:
    """The curvature gap between the last two probe layers of a profile.

    ``normalised`` is (MAPC_L - MAPC_{L-1}) / MAPC_{L-1}, the definition that fits the paper's
    plotted magnitudes (Kaufman & Azencot, ICML 2023, Fig. 4; see the book's page
    "Curvature 3: the curvature gap and test accuracy"); ``raw`` is MAPC_L - MAPC_{L-1}; ``ratio`` is
    MAPC_L / MAPC_{L-1}.
    """
    column = f"mapc_{mode}"
    if column not in profile:
        raise ValueError(f"profile has no column {column!r}; modes measured: "
                         f"{[c[5:] for c in profile.columns if c.startswith('mapc_')]}")
    ordered = profile.sort_values("relative_depth")
    last, before = float(ordered[column].iloc[-1]), float(ordered[column].iloc[-2])
    if before <= 0:
        raise ValueError(f"MAPC of the penultimate layer is {before}; the normalised gap is undefined")
    return {"raw": last - before, "normalised": (last - before) / before, "ratio": last / before}



def standard_error(values) -> float:
    """Standard error of the mean of ``values`` (finite ones; sample standard deviation over
    sqrt(n)): the spread of a mean over points when the points are resampled. NaN with fewer
    than 2 values."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan


def _cached(kind: str, trained, images: torch.Tensor, settings: dict, compute, *, cache: bool = True,
            **labels) -> pd.DataFrame:
    """A per-layer frame of a trained model, cached under ``<model cache>/../profiles/`` by a
    content key of ``kind``, the model's config, its epoch, the images and ``settings``.

    The frame gains the leading columns ``model, width, epoch, test_accuracy, train_accuracy``
    and ``labels`` (``width`` is the model's width multiplier; a layer's feature count is
    ``layer_width``).
    """
    # The estimators' versions are part of the key: a profile measured by an older engine is
    # recomputed rather than trusted.
    versions = (curvature_estimator.ESTIMATOR_VERSION, id_estimator.ESTIMATOR_VERSION, FRAME_VERSION)
    key = content_key(kind, trained.config.key(), trained.epoch, settings, versions, images)
    path = model_cache_dir().parent / "profiles" / f"{kind}-{key}.json"
    frame = cached_frame(path, compute, cache=cache).rename(columns={"width": "layer_width"})
    front = dict(model=trained.config.model, width=trained.config.width, epoch=trained.epoch,
                 test_accuracy=trained.test_accuracy,
                 train_accuracy=getattr(trained, "train_accuracy", float("nan")), **labels)
    for i, (name, value) in enumerate(front.items()):
        frame.insert(i, name, value)
    return frame


def profile(trained, images: torch.Tensor, geometry: GeometryConfig, *, layers: Sequence[str] | None = None,
            cache: bool = True, progress: bool = True) -> pd.DataFrame:
    """:func:`curvature_profile` of a trained model, cached on disk next to the model cache.

    Used by every curvature finding page. ``trained`` is a :class:`TrainedModel` or any
    ``nn.Module`` (cached by its weights). Settings that do not change the numbers (device,
    batch size, memory budget) are left out of the cache key.
    """
    trained = as_trained(trained)
    settings = {**asdict(geometry), "device": "any", "batch_size": 0, "max_bytes": 0,
                "columns": "measurable"}  # profiles cached before the measurability columns are recomputed
    if layers is not None:
        settings["layers"] = list(layers)
    return _cached("curvature", trained, images, settings,
                   lambda: curvature_profile(trained.model, images, geometry, layers=layers, progress=progress),
                   cache=cache)


def dimension_profile(trained, images: torch.Tensor, *, layers: Sequence[str] | None = None,
                      id_resamples: int = 10, with_pca: bool = False, seed: int = 0, device: str = "auto",
                      cache: bool = True, **labels) -> pd.DataFrame:
    """:func:`layer_dimensions` (TwoNN, optionally PC-ID, per probe layer) of a trained model,
    cached on disk. Used by the intrinsic-dimension page; ``labels`` become constant leading
    columns (e.g. ``class_label=3``). ``trained`` may also be any ``nn.Module``."""
    trained = as_trained(trained)
    settings = dict(layers=None if layers is None else list(layers), id_resamples=id_resamples,
                    with_pca=with_pca, seed=seed)
    return _cached("dimension", trained, images, settings,
                   lambda: layer_dimensions(trained.model, images, layers=layers, id_resamples=id_resamples,
                                            with_pca=with_pca, seed=seed, device=device),
                   cache=cache, **labels)
