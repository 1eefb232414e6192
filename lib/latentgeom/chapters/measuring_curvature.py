"""What the methods page "Measuring curvature" (``book/methods/measuring-curvature.md``) takes from
the library: its parameter check, and two experiments that take more code than a reader needs to
follow them (the page describes them in prose, calls them, charts their frames and checks what
they show).

- :func:`check_parameters`: the page's parameters, checked like the library's own;
- :func:`mask_experiment` (§5 of the page): the paper and robust modes on a great ``q``-sphere,
  with neighbourhoods from binary singular-value masks and from continuous factors;
- :func:`units_experiment` (§7): the unit sphere scaled by ``s``, and neighbourhoods of shrinking
  radius, in float64 and float32; :func:`lost_at` reads off where paper mode lost the curvature.

No paper claim and no study: the page computes nothing the sweep could prepare.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..estimators import continuous_svd_perturbations, mapc, svd_perturbations
from ..synthetic import local_sphere, smooth_images
from ..validation import check_int, check_range

__all__ = ["MASK_RCONDS", "UNIT_RADII", "UNIT_SCALES", "check_parameters", "lost_at", "mask_experiment",
           "units_experiment"]

#: Pseudo-inverse tolerances ``rcond`` of paper mode in :func:`mask_experiment`.
MASK_RCONDS = (1e-2, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12)
#: Scale factors ``s`` of the data, and neighbourhood radii ``rho`` (over r), in :func:`units_experiment`.
UNIT_SCALES = (1e-8, 1e-6, 1e-4, 1e-2, 1.0, 1e2, 1e4)
UNIT_RADII = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)


def check_parameters(*, n_points: int, n_local: int, rho: float, radii: Sequence[float], sphere_dims: Sequence[int],
                     ambient_dims: Sequence[int], neighbour_counts: Sequence[int], q: int, n_images: int,
                     seed: int) -> None:
    """The page's parameters (see its parameters cell), checked in the order of the page's own
    check: one ``ValueError`` names the first bad one and what it accepts.

    The bounds say why: at least 200 points (and 5 base points) for a stable median; ``q >= 4``
    because ``K = 2^q`` neighbours cover both fits' unknowns from ``q = 4`` on, ``q <= 8`` to
    keep the 2^q perturbations affordable; spheres of dimension at most 14 (they live in R^16);
    ambient dimensions from 3 (S^2 spans R^3) and dilution sweeps from K = 6 (the robust fit of
    d = 2 has 6 unknowns).
    """
    check_int(n_points, "n_points", minimum=200)
    check_int(n_local, "n_local", minimum=5)
    check_int(n_images, "n_images", minimum=2)
    check_int(seed, "seed", minimum=0)
    check_int(q, "q", minimum=4, maximum=8)
    check_range(rho, "rho", 0, 1, closed="neither")
    for name, values, low, high in [("radii", radii, 1e-9, np.inf), ("sphere_dims", sphere_dims, 1, 14),
                                    ("ambient_dims", ambient_dims, 3, np.inf),
                                    ("neighbour_counts", neighbour_counts, 6, np.inf)]:
        for value in values:
            check_range(value, name, low, high)


def mask_experiment(n_images: int, q: int, *, seed: int = 0) -> pd.DataFrame:
    """Curvature of a great ``q``-sphere measured on binary-mask and continuous neighbourhoods.

    ``n_images`` smooth random 12 x 12 images (:func:`latentgeom.synthetic.smooth_images`) get
    ``2^q - 1`` perturbations each: every binary mask over their ``q`` smallest singular values
    (:func:`latentgeom.svd_perturbations`), or as many continuous factors
    (:func:`latentgeom.continuous_svd_perturbations`). The radial projection ``x -> R x / |x|``
    maps each image and its perturbations onto a patch of a great ``q``-sphere of radius ``R``
    (every principal curvature ``1/R``); ``R`` is chosen so that the median neighbourhood is one
    unit across. Each neighbourhood is the point itself plus its ``2^q - 1`` copies.

    Returns
    -------
    DataFrame
        One row per neighbourhood kind (``"binary masks"``, ``"continuous factors"``) and
        setting: ``setting="paper"`` at every ``rcond`` of :data:`MASK_RCONDS` (``ratio``: the
        per-point largest |κ| times ``R``) and one ``setting="robust"`` row (``ratio``: robust
        MAPC times ``R``, ``rcond`` 1e-10 for the record). The truth is ``ratio = 1``.
    """
    images = torch.from_numpy(smooth_images(n_images, seed=seed))
    neighbourhoods = {"binary masks": svd_perturbations(images, q),
                      "continuous factors": continuous_svd_perturbations(images, q, n_samples=2**q - 1,
                                                                         seed=seed)}
    offsets = neighbourhoods["binary masks"] - images[:, None]
    spread = offsets.flatten(2).norm(dim=2) / images.flatten(1).norm(dim=1)[:, None]
    R = 1.0 / float(spread.median())  # a neighbourhood's angular size, seen from the origin, times R: one unit

    def to_sphere(t: torch.Tensor) -> torch.Tensor:
        return R * t.flatten(-3) / t.flatten(-3).norm(dim=-1, keepdim=True)

    rows = []
    for kind, perturbed in neighbourhoods.items():
        nb = torch.cat([to_sphere(images)[:, None], to_sphere(perturbed)], dim=1)  # the point + 2^q - 1 copies
        for rcond in MASK_RCONDS:
            rows.append(dict(neighbourhood=kind, setting="paper", rcond=rcond,
                             ratio=mapc(to_sphere(images), nb, q, mode="paper", rcond=rcond).max_abs * R))
        rows.append(dict(neighbourhood=kind, setting="robust", rcond=1e-10,
                         ratio=mapc(to_sphere(images), nb, q, mode="robust").mapc * R))
    return pd.DataFrame(rows)


def units_experiment(n_local: int, rho: float, *, seed: int = 0) -> pd.DataFrame:
    """The unit 2-sphere in R^10 (``n_local`` base points, ``K = 30`` neighbours each, from
    :func:`latentgeom.synthetic.local_sphere`) in float64 and float32, two sweeps:
    ``"scale"``, the data multiplied by each ``s`` of :data:`UNIT_SCALES` (neighbourhood radius
    ``rho``), and ``"radius"``, unscaled with neighbourhoods of each radius of :data:`UNIT_RADII`.

    Returns
    -------
    DataFrame
        Columns ``sweep``, ``x`` (the scale ``s`` or the radius), ``mode`` (``"paper max |κ|"``:
        paper mode's per-point largest |κ|; ``"robust"``: robust MAPC), ``precision`` and
        ``value``, the estimate times ``s`` (truth 1 in both sweeps).
    """
    rows = []
    for sweep, values in [("scale", UNIT_SCALES), ("radius", UNIT_RADII)]:
        for x in values:
            P, Y = local_sphere(n_local, 2, 1.0, 10, 30, rho=x if sweep == "radius" else rho, seed=seed)
            s = x if sweep == "scale" else 1.0
            for dtype, precision in [(torch.float64, "float64"), (torch.float32, "float32")]:
                paper, robust = (mapc(P * s, Y * s, 2, mode=m, dtype=dtype) for m in ("paper", "robust"))
                rows += [dict(sweep=sweep, x=x, mode="paper max |κ|", precision=precision, value=paper.max_abs * s),
                         dict(sweep=sweep, x=x, mode="robust", precision=precision, value=robust.mapc * s)]
    return pd.DataFrame(rows)


def lost_at(units: pd.DataFrame, sweep: str, precision: str) -> float | None:
    """The largest ``x`` of ``sweep`` at which paper mode's estimate in ``precision`` fell below
    half the truth (``None`` if it never did), from a :func:`units_experiment` frame."""
    column = units[(units.sweep == sweep) & (units["mode"] == "paper max |κ|") & (units.precision == precision)]
    return max([x for x, value in zip(column.x, column.value) if value < 0.5], default=None)
