"""Finding results and verdicts: what every finding page ends with.

Every finding page ends with :func:`write_finding`, which stores one JSON file under
``results_dir()/findings``; the scorecard (:mod:`latentgeom.reporting.scorecard`) collects them
with :func:`load_findings`.
Verdicts come from numeric checks defined in the notebook before the data are looked at
(:func:`verdict`), never from hand-written strings.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..paths import results_dir
from ..storage import atomic_write
from .provenance import build_provenance

#: A verdict that differs between seeds is never reported as reproduced: it is "unstable".
UNSTABLE = "unstable across seeds"
VERDICTS = ("reproduced", "partly reproduced", "not reproduced", UNSTABLE)


def verdict(checks: Mapping[str, bool]) -> str:
    """Overall verdict of one run from named pass/fail checks: all pass, some pass, none pass."""
    if not checks:
        raise ValueError("verdict() needs at least one check")
    passed = sum(bool(v) for v in checks.values())
    if passed == len(checks):
        return VERDICTS[0]
    return VERDICTS[1] if passed else VERDICTS[2]


@dataclass(frozen=True)
class SeedAgreement:
    """Verdicts of the same checks over several seeds, and the one verdict they add up to.

    ``verdict`` is the common verdict when every run agrees, else :data:`UNSTABLE`;
    ``majority`` is the most frequent one (ties: the less favourable); ``agree`` counts the
    runs that give ``majority``, out of ``runs``.
    """

    verdict: str
    majority: str
    agree: int
    runs: int
    per_seed: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.verdict} ({self.agree}/{self.runs} runs {self.majority})" if self.verdict == UNSTABLE \
            else f"{self.verdict} ({self.agree}/{self.runs} runs)"

    def as_dict(self) -> dict:
        return asdict(self)


def over_seeds(verdicts: Sequence[str]) -> SeedAgreement:
    """Combine per-seed verdicts (each from :func:`verdict`) into one :class:`SeedAgreement`."""
    verdicts = tuple(verdicts)
    if not verdicts:
        raise ValueError("over_seeds() needs at least one per-seed verdict")
    unknown = [v for v in verdicts if v not in VERDICTS[:3]]
    if unknown:
        raise ValueError(f"per-seed verdicts must be one of {VERDICTS[:3]}, got {unknown}")
    counts = {v: verdicts.count(v) for v in VERDICTS[:3]}
    majority = max(reversed(VERDICTS[:3]), key=lambda v: counts[v])  # ties -> the less favourable
    combined = verdicts[0] if counts[majority] == len(verdicts) else UNSTABLE
    return SeedAgreement(verdict=combined, majority=majority, agree=counts[majority], runs=len(verdicts),
                         per_seed=verdicts)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if hasattr(value, "as_dict"):
        return _jsonable(value.as_dict())
    return value


def checks_frame(checks: Mapping[str, Mapping[str, bool]]) -> pd.DataFrame:
    """Checks of every mode side by side (rows: check, columns: mode)."""
    return pd.DataFrame({mode: dict(c) for mode, c in checks.items()})



@dataclass
class Finding:
    """One finding's result: what the paper says, what we measured, and the verdict."""

    finding_id: str
    title: str
    notebook: str              # path of the MyST notebook, relative to the repository root
    paper_claim: str           # the claim in words
    paper: dict                # the paper's numbers
    ours: dict                 # our numbers
    checks: dict               # named numeric checks -> bool (defined before looking at the data)
    verdict: str
    parameters: dict
    estimator_modes: dict = field(default_factory=dict)   # instrument -> verdict under that instrument
    seeds: dict = field(default_factory=dict)   # instrument -> SeedAgreement.as_dict() over the runs
    spread: dict = field(default_factory=dict)  # headline statistic -> [min, max] over the runs
    paper_value: str = ""      # the paper's headline number, in words (scorecard column)
    our_value: str = ""        # our headline number at this run's scale (scorecard column)
    summary: str = ""
    seconds: float | None = None
    timings: dict = field(default_factory=dict)  # wall seconds per stage of the page (training, profiles, ...)
    written_at: str = ""
    provenance: dict = field(default_factory=dict)  # commit, date, machine, preset: filled by write_finding

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


def write_finding(finding: Finding, directory: str | os.PathLike | None = None) -> Path:
    """Write ``finding`` atomically as ``<directory>/<finding_id>.json`` and return the path."""
    directory = Path(directory) if directory is not None else results_dir() / "findings"
    directory.mkdir(parents=True, exist_ok=True)
    finding.written_at = time.strftime("%Y-%m-%dT%H:%M:%S")
    finding.provenance = {**build_provenance(), "preset": (finding.parameters or {}).get("name")}
    payload = json.dumps(_jsonable(asdict(finding)), indent=2, sort_keys=True)
    return atomic_write(directory / f"{finding.finding_id}.json", payload)


def load_findings(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """All finding results under ``directory`` as a DataFrame, one row per finding, sorted by id."""
    directory = Path(directory) if directory is not None else results_dir() / "findings"
    rows = [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]
    columns = list(Finding.__dataclass_fields__)
    return pd.DataFrame(rows, columns=columns).sort_values("finding_id").reset_index(drop=True)
