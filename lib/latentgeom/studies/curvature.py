"""Study code of the curvature chapter (Kaufman & Azencot, ICML 2023): ``book/findings/curvature-*.md``.

The pages measure per-layer curvature *profiles* (:func:`latentgeom.profile`: one row
per probe layer, with ``mapc_M``, ``max_abs_M`` and ``carrying_M`` for each estimator mode
``M``) of several models, then run numeric checks on them. What they share lives here:

- :func:`label` / :func:`profile_models` name and profile a list of trained models;
- :func:`tidy` turns wide profiles into one long frame (one row per model x layer x mode);
- :func:`segments` / :func:`shape_metrics` / :func:`shape_table` cut a profile into the
  paper's three segments (input, middle plateau, last layer) and measure the ratios between
  them;
- :func:`gap_table` gives each model's curvature gap under both estimator modes;
- verdicts under every estimator mode come from :mod:`latentgeom.book.findings`.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from ..estimators.curvature import MODES
from .layerwise import curvature_gap, profile
#: Per-mode quantities of a profile (column ``f"{q}_{mode}"``).
QUANTITIES = ("mapc", "max_abs", "carrying")
QUANTITY_TITLES = {
    "mapc": "MAPC (mean |κ| over all directions)",
    "max_abs": "mean per-point largest |κ|",
    "carrying": "mean |κ| over carrying directions",
}


def label(config, epoch: int | None = None) -> str:
    """A short model name for charts: ``"vgg_small w16"`` (``" @ep2"`` for a checkpoint)."""
    text = f"{config.model} w{config.width}"
    if epoch is not None and epoch != config.epochs:
        text += f" @ep{epoch}"
    return text


def profile_models(trained: Iterable, images, geometry, *, labels: Sequence[str] | None = None,
                   profile_fn: Callable | None = None, **columns) -> pd.DataFrame:
    """Curvature profiles of several trained models, concatenated (wide form).

    Each row gains ``label`` (see :func:`label`, or ``labels``) and the constant ``columns``
    (e.g. ``state="trained"``). Profiles come from the profile cache when present.
    """
    if profile_fn is None:
        profile_fn = profile
    trained = list(trained)
    if labels is not None and len(labels) != len(trained):
        raise ValueError(f"got {len(labels)} labels for {len(trained)} models")
    frames = []
    for i, model in enumerate(trained):
        frame = profile_fn(model, images, geometry, progress=False)
        frame.insert(0, "label", labels[i] if labels is not None else label(model.config, model.epoch))
        for key, value in columns.items():
            frame[key] = value
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _modes_in(frame: pd.DataFrame) -> list[str]:
    return [m for m in MODES if f"mapc_{m}" in frame.columns]


def tidy(profiles: pd.DataFrame, modes: Sequence[str] | None = None) -> pd.DataFrame:
    """Wide profiles -> long form: one row per (model x layer) x mode.

    The per-mode columns ``mapc_M, max_abs_M, carrying_M, d_M, K_M`` become ``mapc, max_abs,
    carrying, d, K`` plus a ``mode`` column; every other column is kept.
    """
    modes = list(modes) if modes is not None else _modes_in(profiles)
    if not modes:
        raise ValueError("profiles have no mapc_<mode> column")
    per_mode = [f"{q}_{m}" for m in MODES for q in (*QUANTITIES, "d", "K")]
    keep = [c for c in profiles.columns if c not in per_mode]
    parts = []
    for mode in modes:
        missing = [f"{q}_{mode}" for q in QUANTITIES if f"{q}_{mode}" not in profiles]
        if missing:
            raise ValueError(f"profiles lack columns {missing}")
        part = profiles[keep].copy()
        part["mode"] = mode
        for q in (*QUANTITIES, "d", "K"):
            if f"{q}_{mode}" in profiles:
                part[q] = profiles[f"{q}_{mode}"].to_numpy()
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def segments(profile: pd.DataFrame, column: str) -> dict:
    """The paper's three segments of one model's profile, by relative depth.

    ``input`` is the shallowest layer, ``last`` the deepest (logits), ``penultimate`` the one
    before it; ``first`` is the first latent layer after the input; ``middle`` holds every
    layer strictly between the input and the last layer (the plateau).
    """
    if column not in profile:
        raise ValueError(f"profile has no column {column!r}")
    ordered = profile.sort_values("relative_depth")
    values = ordered[column].to_numpy(dtype=float)
    if len(values) < 4:
        raise ValueError(f"a profile needs at least 4 layers for its segments, got {len(values)}")
    return dict(input=values[0], first=values[1], middle=values[1:-1], penultimate=values[-2],
                last=values[-1], layers=list(ordered["layer"]))


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 and np.isfinite(a) and np.isfinite(b) else math.nan


def shape_metrics(profile: pd.DataFrame, column: str) -> dict[str, float]:
    """Ratios between a profile's segments (see :func:`segments`).

    - ``rise``: median of the middle layers / input (steep rise from the input);
    - ``plateau_spread``: max / min over the middle layers (1 = perfectly flat);
    - ``final_ratio``: last / penultimate layer (``1 + `` the normalised curvature gap);
    - ``final_vs_plateau``: last layer / largest middle layer;
    - ``depth_trend``: penultimate / first latent layer (< 1: curvature falls with depth).
    """
    s = segments(profile, column)
    middle = s["middle"]
    return dict(
        input=float(s["input"]),
        plateau_median=float(np.median(middle)),
        last=float(s["last"]),
        rise=_ratio(np.median(middle), s["input"]),
        plateau_spread=_ratio(middle.max(), middle.min()),
        final_ratio=_ratio(s["last"], s["penultimate"]),
        final_vs_plateau=_ratio(s["last"], middle.max()),
        depth_trend=_ratio(s["penultimate"], s["first"]),
    )


def shape_table(profiles: pd.DataFrame, column: str, by: str | Sequence[str] = "label") -> pd.DataFrame:
    """:func:`shape_metrics` of every model in a wide frame of profiles (one row per model)."""
    by = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, group in profiles.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), **shape_metrics(group, column)})
    return pd.DataFrame(rows)


def gap_table(profiles: pd.DataFrame, by: str | Sequence[str] = "label",
              modes: Sequence[str] | None = None, extra: Sequence[str] = ("model", "width", "epoch", "test_accuracy")
              ) -> pd.DataFrame:
    """Curvature gap of every model, per mode: ``gap_M`` (normalised), ``raw_gap_M``, ``ratio_M``."""
    by = [by] if isinstance(by, str) else list(by)
    modes = list(modes) if modes is not None else _modes_in(profiles)
    rows = []
    for key, group in profiles.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        row.update({c: group[c].iloc[0] for c in extra if c in group and c not in row})
        for mode in modes:
            gap = curvature_gap(group, mode)
            row.update({f"gap_{mode}": gap["normalised"], f"raw_gap_{mode}": gap["raw"],
                        f"ratio_{mode}": gap["ratio"]})
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# The sweep (python -m latentgeom sweep): what the curvature pages train and measure


def work_units(preset: str) -> list:
    """The units of :mod:`latentgeom.sweep` that ``book/findings/curvature-*.md`` need at ``preset``.

    Per seed of the pages (their ``seed`` parameter, read from the pages): the curvature
    profile of every zoo member at its final epoch and at every saved checkpoint (findings 1,
    3, 4), of the untrained twins of the largest-width zoo members (finding 2) and of the
    regularisation recipes (finding 5), all on the pages' image sample and geometry.
    """
    from .. import sweep
    from .presets import get_preset

    P = get_preset(preset)
    pages = sorted(p.name for p in (sweep._book_dir() / "findings").glob("curvature-*.md"))
    seeds = sorted({s for page in pages for s in sweep.page_seeds(f"findings/{page}")} or {0})
    units = []
    for seed in seeds:
        images = sweep.Images(P.dataset, n=P.n_points, seed=seed)  # lg.sample_images(P, seed)
        geometry = P.geometry(seed=seed)
        for config in P.zoo():
            for epoch in sorted({*config.checkpoint_epochs, config.epochs}):
                units.append(sweep.Profile.curvature(config, epoch, images, geometry))
            if config.width == max(P.widths):  # finding 2: the largest width's untrained twins
                units.append(sweep.Profile.curvature(sweep.untrained(config), 0, images, geometry))
        for config in P.recipes().values():
            units.append(sweep.Profile.curvature(config, config.epochs, images, geometry))
    return units
