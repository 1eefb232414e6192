"""Each finding's own statistic at one rung of the training ladder, and the paper's side of it.

One :class:`FindingStatistic` per finding the ladder attributes: the statistic (computed by the
finding's own code: one small adapter function each, the only place the ladder touches that
finding's module), the instruments its page uses (name -> profile column) and the paper's side
(:class:`~.attribution.Side`), built from the finding's :class:`~.protocol.Claim` thresholds:
one source of truth.

- curvature 1 (profile shape): last / penultimate MAPC, paper at or above ``final_ratio_min``;
- curvature 3 (gap and accuracy): the normalised curvature gap, paper: rises with accuracy;
- curvature 4 (ID and curvature): the within-model Spearman rho of ID against MAPC over the
  latent layers, paper: ``|rho|`` below ``indicative_rho``;
- intrinsic dimension 1 (hunchback): last hidden / peak ID, paper at or below ``fall_max``;
- intrinsic dimension 3 (last layer and accuracy): last-hidden ID, paper: falls as accuracy rises.

Curvature 2 (untrained networks) has no accuracy to rise and curvature 5 (mixup) compares
recipes: neither is on the ladder.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import pandas as pd

from .attribution import Side
from .curvature_claims import CLAIMS as CURVATURE_CLAIMS, within_rho
from .curvature_shapes import INSTRUMENTS as CURVATURE_INSTRUMENTS, gap_table, shape_metrics
from .id_claims import HUNCHBACK, LAST_LAYER
from .id_profiles import hunchback_summary

__all__ = ["FINDINGS", "FindingStatistic", "Rung", "rung_statistics"]

#: The ID chapter's one instrument: TwoNN (its result files name it ``twonn``).
ID_INSTRUMENTS = {"twonn": "id_mean"}


@dataclass(frozen=True)
class Rung:
    """The measurements of one rung: its curvature ``profile`` (one row per layer, a column per
    instrument), its class-averaged ID profile ``id_profile`` and its last hidden layer's TwoNN
    ID on mixed-class images ``last_hidden_id``."""

    profile: pd.DataFrame
    id_profile: pd.DataFrame
    last_hidden_id: float


@dataclass(frozen=True)
class FindingStatistic:
    """One finding on the ladder: ``claim_id`` (its result file), ``title`` (the statistic in
    words), ``side`` (the paper's side), ``instruments`` (name -> the column measured) and
    ``measure(rung, column)`` (the statistic at one rung, NaN where undefined)."""

    claim_id: str
    title: str
    side: Side
    instruments: Mapping[str, str]
    measure: Callable[[Rung, str], float]


# ---- the adapters: one per finding, each calling that finding's own code


def _curvature_1(rung: Rung, column: str) -> float:
    return shape_metrics(rung.profile, column)["final_ratio"]


def _curvature_3(rung: Rung, column: str) -> float:
    return float(gap_table(rung.profile, by="model", columns={"x": column})["gap_x"].iloc[0])


def _curvature_4(rung: Rung, column: str) -> float:
    within = within_rho(rung.profile.assign(label="rung"), column, by=("label",))
    return float(within.iloc[0]) if len(within) else math.nan


def _id_1(rung: Rung, column: str) -> float:
    return hunchback_summary(rung.id_profile, column)["fall"]


def _id_3(rung: Rung, column: str) -> float:
    return float(rung.last_hidden_id)


def _threshold(claim, name: str) -> float:
    return float(claim.thresholds[name])


_C = CURVATURE_CLAIMS
FINDINGS: dict[str, FindingStatistic] = {f.claim_id: f for f in (
    FindingStatistic("curvature-1-profile-shape", "last / penultimate MAPC",
                     Side(+1, _threshold(_C["curvature-1-profile-shape"], "final_ratio_min"), log=True,
                          name="final_ratio_min"), CURVATURE_INSTRUMENTS, _curvature_1),
    FindingStatistic("curvature-3-gap-accuracy", "normalised curvature gap", Side(+1),
                     CURVATURE_INSTRUMENTS, _curvature_3),
    FindingStatistic("curvature-4-id-vs-curvature", "Spearman rho of ID against MAPC over the latent layers",
                     Side(-1, _threshold(_C["curvature-4-id-vs-curvature"], "indicative_rho"), absolute=True,
                          name="indicative_rho"), CURVATURE_INSTRUMENTS, _curvature_4),
    FindingStatistic(HUNCHBACK.id, "last hidden / peak ID (class-averaged)",
                     Side(-1, _threshold(HUNCHBACK, "fall_max"), log=True, name="fall_max"), ID_INSTRUMENTS, _id_1),
    FindingStatistic(LAST_LAYER.id, "last-hidden-layer ID (mixed classes)", Side(-1), ID_INSTRUMENTS, _id_3),
)}


def rung_statistics(rung: Rung) -> dict[str, float]:
    """Every finding's statistic at one rung under every instrument whose column the rung
    measured: ``{"<claim id>/<instrument>": value}`` (NaN where the finding's code cannot
    define it on this rung, e.g. a profile too short)."""
    out = {}
    for f in FINDINGS.values():
        for instrument, column in f.instruments.items():
            frame = rung.id_profile if f.instruments is ID_INSTRUMENTS else rung.profile
            if column not in frame:
                continue
            try:
                out[f"{f.claim_id}/{instrument}"] = float(f.measure(rung, column))
            except (ValueError, IndexError, KeyError):
                out[f"{f.claim_id}/{instrument}"] = math.nan
    return out
