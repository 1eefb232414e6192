"""The scorecard: one row per finding result file, linked to its page."""
from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd

from ..paths import results_dir
from .findings import load_findings

__all__ = ["scorecard", "scorecard_html"]


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
    (paper estimator), the verdicts under the robust estimator and the scale-free curvature
    (``—`` when a finding has no such instrument), seeds (how many runs agree with the paper
    verdict's majority, e.g. ``3/4 agree``; ``—`` for a single run), scale (preset and main
    sizes), run time and provenance (the commit, date and machine class that wrote the result
    file, :mod:`latentgeom.reporting.provenance`). With ``toc`` (a ``_toc.yml``), every findings
    notebook listed there must have written a result, else ``RuntimeError`` names the missing
    ones: a scorecard that silently drops a finding would be wrong. Links are relative to the folder ``link_from``.
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
            "scale-free": (r["estimator_modes"] or {}).get("scale-free", "—"),
            "seeds": _agreement(_primary(r.get("seeds"))),
            "scale": html.escape(scale.replace("name ", "preset ")),
            "seconds": None if r["seconds"] is None or pd.isna(r["seconds"]) else round(float(r["seconds"])),
            "provenance": _provenance(r.get("provenance")),
        })
    return pd.DataFrame(rows)


def _provenance(info) -> str:
    """``"commit abc123, 2026-11-24 14:05 UTC, 2 CPU cores, no GPU"`` from a result file's
    provenance (``—`` for a file written without one)."""
    if not isinstance(info, dict) or not info.get("commit"):
        return "—"
    return html.escape(f"commit {info['commit']}, {info.get('date', '?')}, {info.get('machine', '?')}")


def _primary(seeds) -> dict | None:
    """The seed agreement of a finding's primary instrument: ``paper`` where the finding has
    several instruments, else its only one (e.g. ``twonn`` for the intrinsic-dimension pages)."""
    if not isinstance(seeds, dict) or not seeds:
        return None
    return seeds.get("paper", next(iter(seeds.values())))


def _agreement(seeds) -> str:
    """``"4/4 agree"`` from a stored SeedAgreement dict (``—`` when there is none)."""
    if not isinstance(seeds, dict) or not seeds.get("runs"):
        return "—"
    return f"{seeds['agree']}/{seeds['runs']} agree"


def scorecard_html(table: pd.DataFrame) -> str:
    """``scorecard()`` as an HTML table (links kept clickable, text already escaped)."""
    return table.to_html(index=False, escape=False, na_rep="—", classes="scorecard", border=0)
