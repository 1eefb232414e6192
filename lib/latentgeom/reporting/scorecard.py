"""The scorecard: one row per finding result file, linked to its page.

:func:`scorecard` is the full table (the page "Scorecard"); :func:`compact_scorecard` is the
landing page's: one short row per finding, the verdict as a coloured badge per instrument, the
paper's and our headline number in one line each, the rest one click away."""
from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pandas as pd

from ..paths import results_dir
from .findings import (ATTRIBUTIONS, AT_THIS_SCALE, VERDICTS, attribution_kind, displayed_verdict, evidence_dir,
                       load_evidence, load_findings)

__all__ = ["compact_scorecard", "counts_sentence", "headline", "landing_counts", "scorecard", "scorecard_html"]


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
    ones: a scorecard that silently drops a finding would be wrong. Links are relative to the
    folder ``link_from``.
    """
    frame = _findings(directory, toc)
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
            "verdict": displayed_verdict(r["verdict"], _why_of(r, "paper" if "paper" in _modes(r) else
                                                                next(iter(_modes(r))))),
            "robust estimator": displayed_verdict((r["estimator_modes"] or {}).get("robust", "—"),
                                                  _why_of(r, "robust")),
            "scale-free": displayed_verdict((r["estimator_modes"] or {}).get("scale-free", "—"),
                                            _why_of(r, "scale-free")),
            "why": _why(r),
            "seeds": _agreement(_primary(r.get("seeds"))),
            "scale": html.escape(scale.replace("name ", "preset ")),
            "seconds": None if r["seconds"] is None or pd.isna(r["seconds"]) else round(float(r["seconds"])),
            "provenance": _provenance(r.get("provenance")),
        })
    return pd.DataFrame(rows)


def _findings(directory, toc) -> pd.DataFrame:
    """The result files, checked against the table of contents when ``toc`` is given: every
    findings page listed must have written a finding's result file, or, for an evidence page
    (the training ladder, which backs the ``why`` column), its evidence file
    (:func:`~latentgeom.reporting.findings.write_evidence`)."""
    frame = load_findings(directory)
    if toc is not None:
        listed = _toc_findings(Path(toc))
        evidence = load_evidence(evidence_dir(directory))
        missing = sorted(set(listed) - set(frame["notebook"]) - set(evidence))
        if missing:
            raise RuntimeError(f"no result file for findings notebook(s) {missing}: did they run? "
                               f"(results folder: {directory or results_dir() / 'findings'})")
    return frame


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


# --------------------------------------------------------------------------------------------
# The landing page's compact scorecard.

#: The instruments a finding's verdict may be given under, in the order of their badges.
INSTRUMENTS = ("paper", "robust", "scale-free")
#: A verdict's badge: its short text and its CSS class (colours in _ext/book_html.py).
BADGES = {
    "reproduced": ("reproduced", "lg-reproduced"),
    "partly reproduced": ("partly", "lg-partly"),
    "not reproduced": ("not reproduced", "lg-not"),
    "unstable across seeds": ("unstable", "lg-unstable"),
    AT_THIS_SCALE: ("not at this scale", "lg-not"),
}
#: The longest headline shown in a row, in characters; the full text is one click away.
HEADLINE_CHARS = 70


def headline(text: str, limit: int = HEADLINE_CHARS) -> str:
    """The first clause of a result's number (up to the first ``;`` or ``,`` that ends a clause
    past a third of ``limit``), cut to ``limit`` characters with an ellipsis when longer."""
    text = " ".join(str(text or "").split())
    if len(text) <= limit:
        return text
    for match in re.finditer(r"[;,] ", text):
        if limit // 3 <= match.start() <= limit - 1:
            return text[:match.start()] + " …"
    cut = text[:limit - 1].rsplit(" ", 1)[0]
    return cut + " …"


def _badge(instrument: str, verdict: str | None) -> str:
    short, css = BADGES.get(verdict or "", (verdict or "—", "lg-none"))
    return (f'<span class="lg-badge {css}" title="{html.escape(instrument)}: {html.escape(verdict or "not measured")}">'
            f"<b>{html.escape(instrument)}</b>{html.escape(short)}</span>")


def _modes(row) -> dict:
    """Instrument -> verdict of a result row (one instrument, e.g. TwoNN: the finding's verdict, named after it)."""
    modes = dict(row.get("estimator_modes") or {})
    if not modes:
        seeds = row.get("seeds") or {}
        modes = {next(iter(seeds), "verdict"): row["verdict"]}
    return modes


def _why_of(row, instrument: str) -> str | None:
    """The attribution line of one instrument. A single ``why`` string, or a ``why`` dict's
    ``"verdict"`` line (a finding attributed once, e.g. off the training ladder), holds for
    every instrument that has no line of its own."""
    why = row.get("why")
    if isinstance(why, dict):
        return why.get(instrument, why.get("verdict"))
    return why if isinstance(why, str) else None


def _badges(row) -> str:
    modes = _modes(row)
    order = [m for m in INSTRUMENTS if m in modes] + [m for m in modes if m not in INSTRUMENTS]
    return " ".join(_badge(m, displayed_verdict(modes[m], _why_of(row, m))) for m in order)


def landing_counts(directory: str | os.PathLike | None = None) -> dict:
    """How many findings have each verdict and each attribution, under each one's primary
    instrument (``paper`` where there are several): ``{"findings": n, "verdicts": {verdict: n},
    "attributions": {kind: n}}``, with every verdict of
    :data:`~latentgeom.reporting.findings.VERDICTS` (and "not reproduced at this scale") and
    every kind of :data:`~latentgeom.reporting.findings.ATTRIBUTIONS` (plus "none" for a result
    file without a ``why``) as keys, zeros included."""
    frame = load_findings(directory)
    verdicts = dict.fromkeys((*VERDICTS, AT_THIS_SCALE), 0)
    kinds = dict.fromkeys((*ATTRIBUTIONS, "none"), 0)
    for _, row in frame.iterrows():
        modes = _modes(row)
        primary = "paper" if "paper" in modes else next(iter(modes))
        line = _why_of(row, primary)
        verdicts[displayed_verdict(modes[primary], line)] += 1
        kinds[attribution_kind(line) or "none"] += 1
    return {"findings": len(frame), "verdicts": verdicts, "attributions": kinds}


def counts_sentence(counts: dict) -> str:
    """``"9 findings: 2 reproduced, ...; why: 3 claim, ..."`` (zero counts left out)."""
    verdicts = ", ".join(f"{n} {v}" for v, n in counts["verdicts"].items() if n)
    why = ", ".join(f"{n} {k}" for k, n in counts["attributions"].items() if n)
    return f"{counts['findings']} findings: {verdicts}; why: {why}."


def _why(row) -> str:
    """Why a verdict is what it is, once result files say (a ``why`` text, or one per
    instrument): a short line, the full text on hover; ``—`` until then."""
    why = row.get("why")
    if isinstance(why, dict):
        why = "; ".join(f"{k}: {v}" for k, v in why.items() if v)
    if not isinstance(why, str) or not why.strip():
        return "—"
    return f'<span title="{html.escape(why)}">{html.escape(headline(why, 60))}</span>'


def compact_scorecard(directory: str | os.PathLike | None = None, *, toc: str | os.PathLike | None = None,
                      link_from: str = "book", details: str | None = "scorecard.html") -> str:
    """The scorecard a reader takes in at a glance, as HTML (``<table class="lg-scorecard">``).

    One row per result file: the finding (linked to its page); its verdict under each
    instrument as a coloured badge (``paper``, ``robust``, ``scale-free``; a finding with one
    instrument shows that one); why, when the result file says (``—`` until it does); the
    paper's and our headline number in one short line each (:func:`headline`), with the full
    numbers, the seed agreement, the scale and the provenance in a ``<details>`` element one
    click away. ``toc`` and ``link_from`` as for :func:`scorecard`; ``details`` links the full
    table (relative to ``link_from``; ``None``: no link).
    """
    frame = _findings(directory, toc)
    rows = []
    for _, r in frame.iterrows():
        href = os.path.relpath(str(Path(r["notebook"]).with_suffix(".html")), link_from)
        paper_full = str(r.get("paper_value") or r["paper_claim"] or "—")
        ours_full = str(r.get("our_value") or r["summary"] or "—")
        params = r["parameters"] or {}
        scale = ", ".join(f"{k} {params[k]}" for k in ("name", "dataset", "n_points", "q") if params.get(k) is not None)
        more = [f"<p><b>Paper:</b> {html.escape(paper_full)}</p>", f"<p><b>Ours:</b> {html.escape(ours_full)}</p>"]
        seeds = _agreement(_primary(r.get("seeds")))
        if seeds != "—":
            more.append(f"<p><b>Runs:</b> {html.escape(seeds)}</p>")
        if scale:
            more.append(f"<p><b>Scale:</b> {html.escape(scale.replace('name ', 'preset '))}</p>")
        more.append(f"<p><b>Provenance:</b> {_provenance(r.get('provenance'))}</p>")
        rows.append(
            "<tr>"
            f'<td class="lg-finding"><a href="{html.escape(href)}">{html.escape(r["title"])}</a></td>'
            f'<td class="lg-verdicts">{_badges(r)}</td>'
            f'<td class="lg-why">{_why(r)}</td>'
            '<td class="lg-numbers">'
            f'<div title="{html.escape(paper_full)}"><b>paper</b> {html.escape(headline(paper_full))}</div>'
            f'<div title="{html.escape(ours_full)}"><b>ours</b> {html.escape(headline(ours_full))}</div>'
            f'<details><summary>details</summary>{"".join(more)}</details></td>'
            "</tr>")
    counts = html.escape(counts_sentence(landing_counts(directory))) if rows else ""
    caption = (f'<caption>{counts} Verdicts per instrument; numbers: the paper\'s headline and ours. Full table: '
               f'<a href="{html.escape(details)}">Scorecard</a>.</caption>' if details else "")
    columns = ('<colgroup><col style="width:30%"><col style="width:24%"><col style="width:8%">'
               '<col style="width:38%"></colgroup>')
    return ('<table class="lg-scorecard">' + caption + columns
            + "<thead><tr><th>finding</th><th>verdict</th><th>why</th><th>paper · ours</th></tr></thead>"
            + "<tbody>" + "".join(rows) + "</tbody></table>")


def build_time(directory: str | os.PathLike | None = None) -> dict:
    """Where the findings pages of the build that wrote the result files spent their time.

    Returns ``{"pages": n, "minutes": total, "stages": {stage: minutes}, "share": {stage:
    fraction of the total}}``: a page's seconds are the largest of its result files' (a page
    writes one file per claim, each with the seconds since it began), its stages those of the
    same file (:meth:`latentgeom.chapters.protocol.Study.timings`); evidence pages (the
    training ladder, :func:`~latentgeom.reporting.findings.write_evidence`) count with their one
    file. Stage names are merged by their first word (``training (or model cache)`` counts as
    ``training``). Pages that wrote no timings count in ``minutes`` only. The landing page
    states the build time from it.
    """
    frame = load_findings(directory)
    if frame.empty:
        raise RuntimeError("no result files: run the findings pages first")
    records = [page.loc[page["seconds"].astype(float).idxmax()].to_dict() for _, page in frame.groupby("notebook")]
    records += [r for r in load_evidence(evidence_dir(directory)).values() if r.get("seconds") is not None]
    total, stages = 0.0, {}
    for record in records:
        total += float(record["seconds"])
        timings = record.get("timings") if isinstance(record.get("timings"), dict) else {}
        for stage, seconds in timings.items():
            if stage != "total":
                key = stage.split()[0]
                stages[key] = stages.get(key, 0.0) + float(seconds)
    return {"pages": len(records), "minutes": total / 60, "stages": {k: v / 60 for k, v in stages.items()},
            "share": {k: v / total for k, v in stages.items()} if total else {}}
