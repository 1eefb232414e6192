"""Shapes of curvature profiles: the paper's segments and ratios, gaps, long form.

A curvature profile (:func:`latentgeom.profile`) has one row per probe layer, with ``mapc_M``,
``max_abs_M``, ``carrying_M``, ``scale_free_M`` and ``bend_M`` for each estimator mode ``M``.
The curvature chapter's checks (:mod:`.curvature`) and the training ladder (:mod:`.ladder`)
read them through these functions:

- :func:`profile_models` profiles a list of trained models into one wide frame;
- :func:`tidy` turns wide profiles into one long frame (one row per model x layer x mode);
- :func:`segments` / :func:`shape_metrics` / :func:`shape_table` cut a profile into the
  paper's three segments (input, middle plateau, last layer) and measure the ratios between
  them;
- :func:`gap_table` gives each model's curvature gap under every estimator mode (or any
  column, e.g. every instrument).
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from ..estimators.curvature import MODES
from ..profiles import profile
from .presets import label

__all__ = ["QUANTITIES", "QUANTITY_TITLES", "gap_table", "profile_models", "segments", "shape_metrics",
           "shape_table", "tidy"]

#: Per-mode quantities of a profile (column ``f"{q}_{mode}"``); ``scale_free`` and ``bend`` are
#: the dimensionless curvatures of :mod:`latentgeom.estimators.scale_free`.
#: The instruments every curvature verdict is computed under: name -> profile column. ``scale-free``
#: is the paper's MAPC times the layer's RMS radius (:mod:`latentgeom.estimators.scale_free`): the
#: paper instrument with the activation scale divided out and nothing else changed.
INSTRUMENTS = {"paper": "mapc_paper", "robust": "mapc_robust", "scale-free": "scale_free_paper"}
QUANTITIES = ("mapc", "max_abs", "carrying", "scale_free", "bend")
QUANTITY_TITLES = {
    "mapc": "MAPC (mean |κ| over all directions)",
    "max_abs": "mean per-point largest |κ|",
    "carrying": "mean |κ| over carrying directions",
    "scale_free": "scale-free MAPC (MAPC × RMS radius)",
    "bend": "bending (per-point |κ| × neighbourhood radius)",
    "rms_radius": "the layer's length scale: RMS radius",
}
#: Per-mode columns that go with the quantities: what the estimator could measure (tangent
#: dimension, neighbours, spanned input directions, resolved share, measurable) and the MAPC's
#: standard error from resampling points.
_LIMITS = ("d", "K", "dirs", "resolved", "measurable", "mapc_se")


def profile_models(trained: Iterable, images, geometry, *, labels: Sequence[str] | None = None,
                   profile_fn: Callable | None = None, **columns) -> pd.DataFrame:
    """Curvature profiles of several trained models, concatenated (wide form).

    Each row gains ``label`` (see :func:`~latentgeom.chapters.presets.label`, or ``labels``) and
    the constant ``columns`` (e.g. ``state="trained"``). Profiles come from the profile cache when present.
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


def tidy(profiles: pd.DataFrame, modes: Sequence[str] | None = None, *,
         blank_unmeasurable: Sequence[str] = ("robust",)) -> pd.DataFrame:
    """Wide profiles -> long form: one row per (model x layer) x mode, for the pages' charts.

    The per-mode columns ``mapc_M, max_abs_M, carrying_M, ..., d_M, K_M, dirs_M, resolved_M,
    measurable_M, mapc_se_M`` become ``mapc, max_abs, carrying, ..., d, K, dirs, resolved,
    measurable, mapc_se`` plus
    a ``mode`` column; every other column is kept. For the modes in ``blank_unmeasurable`` a layer
    that is not measurable (``measurable`` False) has its curvature quantities blanked (NaN): the
    book says "not measurable" (the measurability table) rather than drawing a number.
    """
    modes = list(modes) if modes is not None else _modes_in(profiles)
    if not modes:
        raise ValueError("profiles have no mapc_<mode> column")
    per_mode = [f"{q}_{m}" for m in MODES for q in (*QUANTITIES, *_LIMITS)]
    keep = [c for c in profiles.columns if c not in per_mode]
    parts = []
    for mode in modes:
        if f"mapc_{mode}" not in profiles:
            raise ValueError(f"profiles lack column mapc_{mode}")
        part = profiles[keep].copy()
        part["mode"] = mode
        for q in (*QUANTITIES, *_LIMITS):
            if f"{q}_{mode}" in profiles:
                part[q] = profiles[f"{q}_{mode}"].to_numpy()
        if mode in blank_unmeasurable and "measurable" in part:
            unmeasurable = ~part["measurable"].astype(bool)
            part.loc[unmeasurable, [q for q in QUANTITIES if q in part]] = np.nan
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
              modes: Sequence[str] | None = None, extra: Sequence[str] = ("model", "width", "epoch", "test_accuracy"),
              columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Curvature gap of every model, per mode: ``gap_M`` (normalised), ``raw_gap_M``, ``ratio_M``.

    ``columns`` (name -> profile column, e.g. :data:`INSTRUMENTS`) measures the gap on any
    column instead, named ``gap_<name>`` etc.
    """
    by = [by] if isinstance(by, str) else list(by)
    modes = list(modes) if modes is not None else _modes_in(profiles)
    columns = columns if columns is not None else {mode: f"mapc_{mode}" for mode in modes}
    rows = []
    for key, group in profiles.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        row.update({c: group[c].iloc[0] for c in extra if c in group and c not in row})
        for name, column in columns.items():
            s = segments(group, column)
            row.update({f"gap_{name}": _ratio(s["last"] - s["penultimate"], s["penultimate"]),
                        f"raw_gap_{name}": float(s["last"] - s["penultimate"]),
                        f"ratio_{name}": _ratio(s["last"], s["penultimate"])})
        rows.append(row)
    return pd.DataFrame(rows)
