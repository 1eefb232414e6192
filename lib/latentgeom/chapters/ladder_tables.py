"""What the training ladder's page and the finding pages show of it (pure): its tables and the
``why`` lines of the findings' outcomes, including those of claims off the ladder.

Split from :mod:`.ladder` (the chapter: settings, rungs, measurements, attributions) so that
they can be read without the study; every name here is re-exported by :mod:`.ladder`.
"""
from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from ..reporting.findings import load_findings
from .attribution import Attribution, top_rung_accuracy
from .ladder_findings import FINDINGS, OFF_LADDER
from .protocol import Outcome

__all__ = ["NOT_ON_LADDER", "NO_RUNGS", "attribution_table", "findings_table", "mixup_top_rung_accuracy",
           "not_on_ladder", "page_verdicts", "ranked_by", "top_rungs", "why_lines", "with_why"]


def findings_table() -> pd.DataFrame:
    """The findings on the ladder (the statistic, the paper's side from the claim, the
    instruments), then the findings off it with the reason (:data:`OFF_LADDER`)."""
    return pd.DataFrame([dict(finding=f.claim_id, statistic=f.title, paper_side=f.side.describe(),
                              instruments=", ".join(f.instruments)) for f in FINDINGS.values()]
                        + [dict(finding=c, statistic=f"not on the ladder: {why}", paper_side="", instruments="")
                           for c, why in OFF_LADDER.items()])


def ranked_by(stats: pd.DataFrame, accuracy: str) -> pd.DataFrame:
    """The rows of a ladder frame that carry the accuracy column ``accuracy`` (not NaN), with it
    as their ``test_accuracy``: the rungs of a finding ranked by another accuracy than the
    network's own (``stats`` itself for ``"test_accuracy"``; no rows when the column is absent)."""
    if accuracy == "test_accuracy":
        return stats
    if accuracy not in stats:
        return stats.iloc[:0]
    return stats[stats[accuracy].notna()].drop(columns="test_accuracy").rename(columns={accuracy: "test_accuracy"})


def mixup_top_rung_accuracy(stats: pd.DataFrame) -> dict[str, float]:
    """The mixup run's test accuracy at its top rung, mean over runs: ``{"<family> with mixup":
    accuracy}`` (empty when the ladder trains no mixup run)."""
    return {f"{family} with mixup": accuracy
            for family, accuracy in top_rung_accuracy(ranked_by(stats, "mixup_test_accuracy")).items()}


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
                             high=t["high"], top_rung=min(a.numbers.get("top_rung_accuracy", {}).values(),
                                                            default=math.nan),
                             reason=a.reason))
    return pd.DataFrame(rows)


#: The attribution of a claim the ladder does not measure (its page's networks are the ladder's
#: lowest rung, but no statistic of the claim is followed up the rungs); :func:`not_on_ladder`
#: gives the claim's own reason where :data:`~.ladder_findings.OFF_LADDER` has one.
NOT_ON_LADDER = Attribution("undetermined", "the training ladder does not follow this claim's statistic (it follows "
                                            + ", ".join(FINDINGS) + "), so training scale and claim are not told apart")


#: The attribution of a finding on the ladder whose own rungs the ladder did not measure (the
#: mixup finding when the ladder trains no mixup run: ``LadderSettings.mixup`` off, or the
#: preset's ``mixup_architecture`` not among its families).
NO_RUNGS = Attribution("undetermined", "no rung of the training ladder measured this finding (for the mixup "
                                       "finding: the ladder trains no mixup run), so training scale and claim are "
                                       "not told apart",
                       dict(trend=dict(per_run={}, mean=math.nan, low=math.nan, high=math.nan), top_rung_accuracy={}))


def not_on_ladder(claim_id: str, reason: str | None = None) -> Attribution:
    """The attribution of a claim off the ladder: undetermined, with ``reason`` (default: the
    claim's own in :data:`OFF_LADDER`, else the generic :data:`NOT_ON_LADDER`)."""
    reason = reason or OFF_LADDER.get(claim_id)
    if reason is None:
        return NOT_ON_LADDER
    return Attribution("undetermined", f"not on the training ladder: {reason}, so training scale and "
                                       "claim are not told apart")


def why_lines(attributions: dict[str, Attribution]) -> dict[str, str]:
    """Instrument -> attribution line: what a result file's ``why`` stores."""
    return {i: a.line for i, a in attributions.items()}


def with_why(outcome: Outcome, attributions: dict[str, Attribution]) -> Outcome:
    """``outcome`` with its ``why`` (:func:`why_lines`) and ``ours["ladder"]``: each
    instrument's attribution with its numbers (the top rung's accuracy per family included)."""
    return replace(outcome, why=why_lines(attributions),
                   ours={**outcome.ours, "ladder": {i: a.as_dict() for i, a in attributions.items()}})
