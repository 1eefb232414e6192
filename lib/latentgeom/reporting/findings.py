"""Finding results and verdicts: what every finding page ends with.

Every finding page ends with :func:`write_finding`, which stores one JSON file under
``results_dir()/findings``; the scorecard (:mod:`latentgeom.reporting.scorecard`) collects them
with :func:`load_findings`.
Verdicts come from numeric checks fixed before the data are looked at (:func:`verdict`), never
from hand-written strings. The vocabulary (:data:`VERDICTS`): *reproduced* (every check passes),
*partly reproduced* (some do), *not reproduced* (none does), *unstable across seeds* (the runs
disagree) and *not testable*: a precondition failed, or a check could not be decided (too few
units, an undefined statistic, an interval too wide for its margin). Preconditions gate: they
are never counted as passing checks.
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
#: A claim whose precondition failed, or whose checks could not be decided, is "not testable":
#: never "partly reproduced".
NOT_TESTABLE = "not testable"
VERDICTS = ("reproduced", "partly reproduced", "not reproduced", UNSTABLE, NOT_TESTABLE)
#: What decides a verdict (:mod:`latentgeom.chapters.attribution`): an attribution line starts with one of these.
ATTRIBUTIONS = ("training scale", "claim", "instrument", "undetermined")
#: The only verdict text that names the scale: shown where "not reproduced" is attributed to the training scale.
AT_THIS_SCALE = "not reproduced at this scale"
#: The verdicts one run can have (:func:`verdict`); :func:`over_seeds` adds :data:`UNSTABLE`.
RUN_VERDICTS = ("reproduced", "partly reproduced", "not reproduced", NOT_TESTABLE)


def verdict(checks: Mapping[str, bool | None], preconditions: Mapping[str, bool] | None = None) -> str:
    """Overall verdict of one run from named checks: all pass, some pass, none pass.

    A check is ``True``/``False``, or ``None`` where it could not be decided (too few units, an
    undefined statistic, an interval too wide for its margin); ``preconditions`` must all hold
    for the checks to mean anything. Any failed precondition or undecided check gives
    :data:`NOT_TESTABLE`: a claim is never "partly reproduced" for lack of evidence.
    """
    if not checks:
        raise ValueError("verdict() needs at least one check")
    if preconditions is not None and not all(bool(v) for v in preconditions.values()):
        return NOT_TESTABLE
    if any(v is None for v in checks.values()):
        return NOT_TESTABLE
    passed = sum(bool(v) for v in checks.values())
    if passed == len(checks):
        return VERDICTS[0]
    return VERDICTS[1] if passed else VERDICTS[2]


def attribution_kind(line: str | None) -> str | None:
    """The kind (one of :data:`ATTRIBUTIONS`) an attribution line starts with, or ``None``."""
    text = str(line or "").strip()
    return next((k for k in ATTRIBUTIONS if text.startswith(k)), None)


def displayed_verdict(verdict: str, attribution: str | None) -> str:
    """The verdict as pages and the scorecard show it: "not reproduced" becomes
    :data:`AT_THIS_SCALE` only where ``attribution`` (a kind of :data:`ATTRIBUTIONS`, or an
    attribution line starting with one) is *training scale*; every other verdict is shown as is.
    The one place that rule lives."""
    kind = attribution if attribution in ATTRIBUTIONS else attribution_kind(attribution)
    return AT_THIS_SCALE if verdict == VERDICTS[2] and kind == ATTRIBUTIONS[0] else verdict


def undecided(checks: Mapping[str, bool | None], preconditions: Mapping[str, bool] | None = None) -> list[str]:
    """Why a run is not testable: the failed preconditions and the undecided checks, by name."""
    failed = [f"precondition failed: {k}" for k, ok in (preconditions or {}).items() if not ok]
    return failed + [f"undecided: {k}" for k, v in checks.items() if v is None]


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
        return f"{self.verdict} ({self.agree}/{self.runs} runs {self.majority})" \
            if self.verdict in (UNSTABLE, NOT_TESTABLE) and self.majority != self.verdict \
            else f"{self.verdict} ({self.agree}/{self.runs} runs)"

    def as_dict(self) -> dict:
        return asdict(self)


def over_seeds(verdicts: Sequence[str]) -> SeedAgreement:
    """Combine per-seed verdicts (each from :func:`verdict`) into one :class:`SeedAgreement`.

    Every run agreeing gives their verdict; a run that was not testable makes the whole claim
    :data:`NOT_TESTABLE` (its precondition failed on an independent replicate: the design did
    not hold); runs that disagree otherwise give :data:`UNSTABLE`.
    """
    verdicts = tuple(verdicts)
    if not verdicts:
        raise ValueError("over_seeds() needs at least one per-seed verdict")
    unknown = [v for v in verdicts if v not in RUN_VERDICTS]
    if unknown:
        raise ValueError(f"per-seed verdicts must be one of {RUN_VERDICTS}, got {unknown}")
    counts = {v: verdicts.count(v) for v in RUN_VERDICTS}
    majority = max(reversed(RUN_VERDICTS), key=lambda v: counts[v])  # ties -> the less favourable
    if counts[majority] == len(verdicts):
        combined = verdicts[0]
    else:
        combined = NOT_TESTABLE if counts[NOT_TESTABLE] else UNSTABLE
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
    why: dict | str = field(default_factory=dict)  # instrument -> attribution line (:data:`ATTRIBUTIONS`), or one

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


def evidence_dir(findings_directory: str | os.PathLike | None = None) -> Path:
    """Where evidence pages write their result (``results/evidence``, beside ``results/findings``)."""
    findings = Path(findings_directory) if findings_directory is not None else results_dir() / "findings"
    return findings.parent / "evidence"


def write_evidence(notebook: str, payload: Mapping, directory: str | os.PathLike | None = None) -> Path:
    """Write the result of an *evidence page* (a page that backs other findings' ``why``, e.g. the
    training ladder, and has no verdict of its own) as ``<directory>/<page name>.json``, with
    ``notebook``, ``written_at`` and ``provenance``; ``directory`` defaults to :func:`evidence_dir`."""
    directory = Path(directory) if directory is not None else evidence_dir()
    directory.mkdir(parents=True, exist_ok=True)
    record = {**payload, "notebook": notebook, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "provenance": {**build_provenance(), "preset": (payload.get("parameters") or {}).get("name")}}
    return atomic_write(directory / f"{Path(notebook).stem}.json", json.dumps(_jsonable(record), indent=2,
                                                                              sort_keys=True))


def load_evidence(directory: str | os.PathLike | None = None) -> dict[str, dict]:
    """Every evidence page's result under ``directory`` (default :func:`evidence_dir`), by notebook."""
    directory = Path(directory) if directory is not None else evidence_dir()
    records = [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))] if directory.is_dir() else []
    return {r["notebook"]: r for r in records}


def load_findings(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """All finding results under ``directory`` as a DataFrame, one row per finding, sorted by id."""
    directory = Path(directory) if directory is not None else results_dir() / "findings"
    rows = [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]
    columns = list(Finding.__dataclass_fields__)
    return pd.DataFrame(rows, columns=columns).sort_values("finding_id").reset_index(drop=True)
