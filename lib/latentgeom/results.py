"""Machine-readable finding results, verdicts and the statistics behind them.

Every finding notebook ends with :func:`write_finding`, which stores one JSON file under
``results_dir()/findings``; the book's scorecard collects them with :func:`load_findings`.
Verdicts come from numeric checks defined in the notebook before the data are looked at
(:func:`verdict`), never from hand-written strings.
"""
from __future__ import annotations

import html
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from .paths import results_dir

VERDICTS = ("reproduced", "partly reproduced", "not reproduced")


def verdict(checks: Mapping[str, bool]) -> str:
    """Overall verdict from named pass/fail checks: all pass, some pass, none pass."""
    if not checks:
        raise ValueError("verdict() needs at least one check")
    passed = sum(bool(v) for v in checks.values())
    if passed == len(checks):
        return VERDICTS[0]
    return VERDICTS[1] if passed else VERDICTS[2]


@dataclass(frozen=True)
class Correlation:
    """Pearson and Spearman correlation with percentile-bootstrap confidence intervals."""

    n: int
    pearson: float
    pearson_ci: tuple[float, float]
    pearson_p: float
    spearman: float
    spearman_ci: tuple[float, float]
    spearman_p: float
    confidence: float

    def significant_positive(self) -> bool:
        """Both coefficients positive with bootstrap intervals above zero."""
        return self.pearson_ci[0] > 0 and self.spearman_ci[0] > 0

    def as_dict(self) -> dict:
        return asdict(self)


def bootstrap_correlation(x, y, *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> Correlation:
    """Pearson and Spearman coefficients of paired samples, with bootstrap intervals.

    Parameters
    ----------
    x, y : array-like, shape [n]
        Paired observations (e.g. curvature gap and test accuracy per model); n >= 4.
    n_boot : int
        Bootstrap resamples of the pairs (with replacement).
    confidence : float in (0, 1)
        Width of the percentile interval.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d of equal length, got shapes {x.shape} and {y.shape}")
    if len(x) < 4:
        raise ValueError(f"need at least 4 pairs for a correlation with an interval, got {len(x)}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite (found NaN or inf)")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    boot_p, boot_s = [], []
    for row in idx:
        bx, by = x[row], y[row]
        if np.ptp(bx) == 0 or np.ptp(by) == 0:
            continue  # a resample with a constant column has no correlation
        boot_p.append(np.corrcoef(bx, by)[0, 1])
        boot_s.append(stats.spearmanr(bx, by).statistic)
    lo, hi = (1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100
    pr = stats.pearsonr(x, y)
    sr = stats.spearmanr(x, y)
    return Correlation(
        n=len(x),
        pearson=float(pr.statistic),
        pearson_ci=(float(np.percentile(boot_p, lo)), float(np.percentile(boot_p, hi))),
        pearson_p=float(pr.pvalue),
        spearman=float(sr.statistic),
        spearman_ci=(float(np.percentile(boot_s, lo)), float(np.percentile(boot_s, hi))),
        spearman_p=float(sr.pvalue),
        confidence=confidence,
    )


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
    estimator_modes: dict = field(default_factory=dict)   # mode -> verdict under that estimator mode
    paper_value: str = ""      # the paper's headline number, in words (scorecard column)
    our_value: str = ""        # our headline number at this run's scale (scorecard column)
    summary: str = ""
    seconds: float | None = None
    written_at: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


def write_finding(finding: Finding, directory: str | os.PathLike | None = None) -> Path:
    """Write ``finding`` atomically as ``<directory>/<finding_id>.json`` and return the path."""
    directory = Path(directory) if directory is not None else results_dir() / "findings"
    directory.mkdir(parents=True, exist_ok=True)
    finding.written_at = time.strftime("%Y-%m-%dT%H:%M:%S")
    payload = json.dumps(_jsonable(asdict(finding)), indent=2, sort_keys=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(payload)
    path = directory / f"{finding.finding_id}.json"
    os.replace(tmp, path)
    return path


def _toc_findings(toc: Path) -> list[str]:
    """Notebook paths (``book/findings/X.md``) listed in a Jupyter Book ``_toc.yml``."""
    import yaml  # a Jupyter Book dependency

    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            entry = node.get("file")
            if isinstance(entry, str) and "/findings/" in f"/{entry}":
                found.append(entry if entry.endswith(".md") else entry + ".md")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(Path(toc).read_text()))
    return found


def scorecard(directory: str | os.PathLike | None = None, *, toc: str | os.PathLike | None = None,
              link_from: str = "book") -> pd.DataFrame:
    """The findings scorecard: one row per result file, ready to display.

    Columns: finding (an HTML link to its notebook page), paper's number, our number, verdict
    (paper estimator), verdict under the robust estimator, scale (preset and main sizes) and
    run time. With ``toc`` (a ``_toc.yml``), every findings notebook listed there must have
    written a result, else ``RuntimeError`` names the missing ones: a scorecard that silently
    drops a finding would be wrong. Links are relative to the folder ``link_from``.
    """
    frame = load_findings(directory)
    if toc is not None:
        listed = _toc_findings(Path(toc))
        missing = sorted(set(listed) - set(frame["notebook"]))
        if missing:
            raise RuntimeError(f"no result file for findings notebook(s) {missing}: did they run? "
                               f"(results folder: {directory or results_dir() / 'findings'})")
    rows = []
    for _, r in frame.iterrows():
        href = os.path.relpath(str(Path(r["notebook"]).with_suffix(".html")), link_from)
        params = r["parameters"] or {}
        scale = ", ".join(f"{k} {params[k]}" for k in ("name", "dataset", "n_points", "q")
                          if params.get(k) is not None)
        rows.append({
            "finding": f'<a href="{html.escape(href)}">{html.escape(r["title"])}</a>',
            "paper's number": html.escape(r.get("paper_value") or r["paper_claim"]),
            "our number": html.escape(r.get("our_value") or r["summary"]),
            "verdict": r["verdict"],
            "robust estimator": (r["estimator_modes"] or {}).get("robust", "—"),
            "scale": html.escape(scale.replace("name ", "preset ")),
            "seconds": None if r["seconds"] is None or pd.isna(r["seconds"]) else round(float(r["seconds"])),
        })
    return pd.DataFrame(rows)


def scorecard_html(table: pd.DataFrame) -> str:
    """``scorecard()`` as an HTML table (links kept clickable, text already escaped)."""
    return table.to_html(index=False, escape=False, na_rep="—", classes="scorecard", border=0)


def load_findings(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """All finding results under ``directory`` as a DataFrame, one row per finding, sorted by id."""
    directory = Path(directory) if directory is not None else results_dir() / "findings"
    rows = [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]
    columns = list(Finding.__dataclass_fields__)
    return pd.DataFrame(rows, columns=columns).sort_values("finding_id").reset_index(drop=True)
