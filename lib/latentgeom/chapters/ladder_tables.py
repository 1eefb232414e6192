"""The training ladder's tables: what its page and the finding pages show of it (pure).

Split from :mod:`.ladder` (the chapter: settings, rungs, measurements, attributions) so that the
tables can be read without the study; every name here is re-exported by :mod:`.ladder`.
"""
from __future__ import annotations

import pandas as pd

from ..reporting.findings import load_findings
from .attribution import Attribution, top_rung_accuracy
from .ladder_findings import FINDINGS, OFF_LADDER

__all__ = ["attribution_table", "findings_table", "mixup_top_rung_accuracy", "page_verdicts", "top_rungs"]


def findings_table() -> pd.DataFrame:
    """The findings on the ladder (the statistic, the paper's side from the claim, the
    instruments), then the findings off it with the reason (:data:`OFF_LADDER`)."""
    return pd.DataFrame([dict(finding=f.claim_id, statistic=f.title, paper_side=f.side.describe(),
                              instruments=", ".join(f.instruments)) for f in FINDINGS.values()]
                        + [dict(finding=c, statistic=f"not on the ladder: {why}", paper_side="", instruments="")
                           for c, why in OFF_LADDER.items()])


def mixup_top_rung_accuracy(stats: pd.DataFrame) -> dict[str, float]:
    """The mixup run's test accuracy at its top rung, mean over runs: ``{"<family> with mixup":
    accuracy}`` (empty when the ladder trains no mixup run)."""
    twins = stats[stats["mixup_test_accuracy"].notna()] if "mixup_test_accuracy" in stats else stats.iloc[:0]
    return {f"{family} with mixup": accuracy for family, accuracy in top_rung_accuracy(
        twins.drop(columns="test_accuracy").rename(columns={"mixup_test_accuracy": "test_accuracy"})).items()}


def top_rungs(stats: pd.DataFrame) -> pd.DataFrame:
    """The top rung's test accuracy per family (mean over runs; :func:`~.attribution.top_rung_accuracy`),
    then the mixup run's (:func:`mixup_top_rung_accuracy`)."""
    both = {**top_rung_accuracy(stats), **mixup_top_rung_accuracy(stats)}
    return pd.Series(both, name="test_accuracy").rename_axis("family").to_frame()


def page_verdicts(directory=None) -> dict[str, dict[str, list[str]]]:
    """Claim id -> instrument -> per-run verdicts, from the finding pages' result files that
    exist (``seeds[instrument]["per_seed"]``): what the instrument rule compares."""
    frame = load_findings(directory)
    out = {}
    for row in frame[frame["finding_id"].isin(list(FINDINGS))].itertuples():
        seeds = row.seeds if isinstance(row.seeds, dict) else {}
        out[row.finding_id] = {i: list(s.get("per_seed", ())) for i, s in seeds.items() if isinstance(s, dict)}
    return out


def attribution_table(found: dict[str, dict[str, Attribution]]) -> pd.DataFrame:
    """One row per finding and instrument: the attribution, the trend and its interval over
    runs, the lowest top-rung accuracy and the reason."""
    rows = []
    for claim_id, by in found.items():
        for instrument, a in by.items():
            t = a.numbers["trend"]
            rows.append(dict(finding=claim_id, instrument=instrument, why=a.kind, trend=t["mean"], low=t["low"],
                             high=t["high"], top_rung=min(a.numbers["top_rung_accuracy"].values()),
                             reason=a.reason))
    return pd.DataFrame(rows)
