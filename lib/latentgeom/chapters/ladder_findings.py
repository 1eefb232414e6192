"""Each finding's own statistic at one rung of the training ladder, and the paper's side of it.

One :class:`FindingStatistic` per finding the ladder attributes: the statistic (computed by the
finding's own code: one small adapter function each, the only place the ladder touches that
finding's module), the instruments its page uses (name -> profile column) and the paper's side
(:class:`~.attribution.Side`), built from the finding's :class:`~.protocol.Claim` thresholds:
one source of truth.

- curvature 1 (profile shape): last / penultimate MAPC, paper at or above ``final_ratio_min``;
- curvature 2 (untrained networks): the final jump (last / penultimate MAPC) over the untrained
  network's of the same run (the run's initialisation), paper at or above
  ``trained_over_untrained_min`` (its other checks are of untrained networks alone, the same at
  every rung);
- curvature 3 (gap and accuracy): the normalised curvature gap, paper: rises with accuracy;
- curvature 4 (ID and curvature): the within-model Spearman rho of ID against MAPC over the
  latent layers, paper: ``|rho|`` below ``indicative_rho``;
- curvature 5 (mixup): the median over the middle layers of MAPC(mixup) / MAPC(baseline), the
  mixup page's headline check, paper at or below ``middle_ratio_max``; measured only on the rungs
  of the mixup page's family, where the ladder also trains that family with the mixup recipe
  (:attr:`Rung.mixup_profile`), and ranked by the lower test accuracy of the two networks;
- intrinsic dimension 1 (hunchback): last hidden / peak ID, paper at or below ``fall_max``;
- intrinsic dimension 2 (ID far below the width): the smallest width / TwoNN ID over the
  hidden layers, paper at or above ``width_ratio_min`` (the claim's headline test, decided per
  network; its PC-ID tests compare a network with its untrained twin and over the zoo);
- intrinsic dimension 3 (last layer and accuracy): last-hidden ID, paper: falls as accuracy rises.

One finding is not on the ladder (:data:`OFF_LADDER` says why): ID 4 measures untrained
networks and networks trained on random labels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import pandas as pd

from .attribution import Side
from .curvature_claims import CLAIMS as CURVATURE_CLAIMS, mixup_ratios, within_rho
from .curvature_shapes import INSTRUMENTS as CURVATURE_INSTRUMENTS, gap_table, shape_metrics
from .id_claims import HUNCHBACK, LAST_LAYER, TRAINING, WIDTH_AND_PCA, hidden_layers, width_over_id
from .id_profiles import hunchback_summary

__all__ = ["FINDINGS", "OFF_LADDER", "FindingStatistic", "Rung", "rung_statistics"]

#: The ID chapter's one instrument: TwoNN (its result files name it ``twonn``).
ID_INSTRUMENTS = {"twonn": "id_mean"}


@dataclass(frozen=True)
class Rung:
    """The measurements of one rung: its curvature ``profile`` (one row per layer, a column per
    instrument), its class-averaged ID profile ``id_profile`` (with ``pca_id`` where measured),
    its last hidden layer's TwoNN ID on mixed-class images ``last_hidden_id``, the curvature
    profile of its run's untrained network ``untrained_profile`` (same images and pipeline) and,
    on the rungs of the mixup page's family, the curvature profile of the same family trained
    with the mixup recipe to the same epoch ``mixup_profile`` (same images and pipeline)."""

    profile: pd.DataFrame
    id_profile: pd.DataFrame
    last_hidden_id: float
    untrained_profile: pd.DataFrame | None = None
    mixup_profile: pd.DataFrame | None = None


@dataclass(frozen=True)
class FindingStatistic:
    """One finding on the ladder: ``claim_id`` (its result file), ``title`` (the statistic in
    words), ``side`` (the paper's side), ``instruments`` (name -> the column measured),
    ``measure(rung, column)`` (the statistic at one rung, NaN where undefined) and ``accuracy``
    (the ladder frame's column that ranks this finding's rungs: ``test_accuracy``, or a column
    that only the rungs measuring the finding carry; rows where it is NaN are not its rungs)."""

    claim_id: str
    title: str
    side: Side
    instruments: Mapping[str, str]
    measure: Callable[[Rung, str], float]
    accuracy: str = "test_accuracy"


# ---- the adapters: one per finding, each calling that finding's own code


def _curvature_1(rung: Rung, column: str) -> float:
    return shape_metrics(rung.profile, column)["final_ratio"]


def _curvature_2(rung: Rung, column: str) -> float:
    if rung.untrained_profile is None:
        return math.nan
    trained, untrained = (shape_metrics(p, column)["final_ratio"] for p in (rung.profile, rung.untrained_profile))
    return trained / untrained if untrained > 0 else math.nan


def _curvature_3(rung: Rung, column: str) -> float:
    return float(gap_table(rung.profile, by="model", columns={"x": column})["gap_x"].iloc[0])


def _curvature_4(rung: Rung, column: str) -> float:
    within = within_rho(rung.profile.assign(label="rung"), column, by=("label",))
    return float(within.iloc[0]) if len(within) else math.nan


def _curvature_5(rung: Rung, column: str) -> float:
    if rung.mixup_profile is None:
        return math.nan
    pair = pd.concat([rung.profile.assign(recipe="baseline"), rung.mixup_profile.assign(recipe="mixup")])
    return mixup_ratios(None, pair, column)["middle mixup/baseline (median)"]


def _id_1(rung: Rung, column: str) -> float:
    return hunchback_summary(rung.id_profile, column)["fall"]


def _id_2(rung: Rung, column: str) -> float:
    return float(width_over_id(hidden_layers(rung.id_profile), column).min())


def _id_3(rung: Rung, column: str) -> float:
    return float(rung.last_hidden_id)


def _threshold(claim, name: str) -> float:
    return float(claim.thresholds[name])


_C = CURVATURE_CLAIMS
FINDINGS: dict[str, FindingStatistic] = {f.claim_id: f for f in (
    FindingStatistic("curvature-1-profile-shape", "last / penultimate MAPC",
                     Side(+1, _threshold(_C["curvature-1-profile-shape"], "final_ratio_min"), log=True,
                          name="final_ratio_min"), CURVATURE_INSTRUMENTS, _curvature_1),
    FindingStatistic("curvature-2-untrained", "final jump (last / penultimate MAPC) over the untrained network's",
                     Side(+1, _threshold(_C["curvature-2-untrained"], "trained_over_untrained_min"), log=True,
                          name="trained_over_untrained_min"), CURVATURE_INSTRUMENTS, _curvature_2),
    FindingStatistic("curvature-3-gap-accuracy", "normalised curvature gap", Side(+1),
                     CURVATURE_INSTRUMENTS, _curvature_3),
    FindingStatistic("curvature-4-id-vs-curvature", "Spearman rho of ID against MAPC over the latent layers",
                     Side(-1, _threshold(_C["curvature-4-id-vs-curvature"], "indicative_rho"), absolute=True,
                          name="indicative_rho"), CURVATURE_INSTRUMENTS, _curvature_4),
    FindingStatistic("curvature-5-mixup", "median middle-layer MAPC, mixup / baseline (same rung)",
                     Side(-1, _threshold(_C["curvature-5-mixup"], "middle_ratio_max"), log=True,
                          name="middle_ratio_max"), CURVATURE_INSTRUMENTS, _curvature_5,
                     accuracy="mixup_pair_test_accuracy"),
    FindingStatistic(HUNCHBACK.id, "last hidden / peak ID (class-averaged)",
                     Side(-1, _threshold(HUNCHBACK, "fall_max"), log=True, name="fall_max"), ID_INSTRUMENTS, _id_1),
    FindingStatistic(WIDTH_AND_PCA.id, "smallest width / TwoNN ID over the hidden layers (class-averaged)",
                     Side(+1, _threshold(WIDTH_AND_PCA, "width_ratio_min"), log=True, name="width_ratio_min"),
                     ID_INSTRUMENTS, _id_2),
    FindingStatistic(LAST_LAYER.id, "last-hidden-layer ID (mixed classes)", Side(-1), ID_INSTRUMENTS, _id_3),
)}

#: Why a finding is not on the ladder: its statistic is not a property of the ladder's networks.
OFF_LADDER = {
    TRAINING.id: ("its statistics are of untrained networks (the same at every rung) and of networks trained on "
                  "random labels, which the ladder does not train; nor could its axis, test accuracy, rank them: "
                  "a random-label network's test accuracy stays at chance however well it memorises"),
}


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
