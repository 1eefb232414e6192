"""The landing page's compact scorecard, on constructed result files: one short row per finding,
badges per instrument, one-line numbers, the full text one click away."""
import re

import latentgeom as lg
from latentgeom.reporting.findings import over_seeds
from latentgeom.reporting.scorecard import HEADLINE_CHARS, compact_scorecard, headline

LONG = ("rise 3.1 to 5.6, plateau_spread 1.9 to 2.4, final_ratio 1.05 to 1.31, final_vs_plateau 0.8 to "
        "1.2, depth_trend 0.5 to 0.9 over 4 runs (paper MAPC)")


def _write(directory, fid, verdict, modes, **kw):
    lg.write_finding(lg.Finding(
        finding_id=fid, title=f"Finding <{fid}>", notebook=f"book/findings/{fid}.md", paper_claim="the claim",
        paper={}, ours={}, checks={"a": True}, verdict=verdict, parameters={"name": "tiny", "n_points": 40},
        estimator_modes=modes, **kw), directory)


def _rows(html):
    body = re.search(r"<tbody>(.*)</tbody>", html, flags=re.S).group(1)
    return re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)


def test_one_compact_row_per_finding_with_a_badge_per_instrument(tmp_path):
    seeds = {"paper": over_seeds(["reproduced"] * 3 + ["partly reproduced"])}
    _write(tmp_path, "curv", "partly reproduced",
           {"paper": "partly reproduced", "robust": "reproduced", "scale-free": "unstable across seeds"},
           paper_value="MAPC ~1.6e-4 at the input, 0.03-0.25 plateau, 1.5-4 at the last layer (last/penultimate "
                       "~6-20x)", our_value=LONG, seeds=seeds)
    _write(tmp_path, "id", "not reproduced", {}, paper_value="ID rises then falls", our_value="hunchback in 1/4 runs",
           seeds={"twonn": {"agree": 4, "runs": 4}})
    html = compact_scorecard(tmp_path)
    rows = _rows(html)
    assert len(rows) == 2 and html.startswith('<table class="lg-scorecard">')
    curv, id_row = rows
    # Badges: one per instrument, in order, coloured by verdict; a one-instrument finding names it.
    badges = re.findall(r'<span class="lg-badge (lg-\w+)"[^>]*><b>([^<]+)</b>([^<]+)</span>', curv)
    assert badges == [("lg-partly", "paper", "partly"), ("lg-reproduced", "robust", "reproduced"),
                      ("lg-unstable", "scale-free", "unstable")]
    assert re.findall(r'<b>([^<]+)</b>([^<]+)</span>', id_row)[0] == ("twonn", "not reproduced")
    # The numbers: one short line each, the full text in the details and the hover title.
    lines = re.findall(r'<div title="[^"]*"><b>(paper|ours)</b> ([^<]*)</div>', curv)
    assert [k for k, _ in lines] == ["paper", "ours"]
    assert all(len(text) <= HEADLINE_CHARS + 2 for _, text in lines)
    assert lines[1][1] == "rise 3.1 to 5.6, plateau_spread 1.9 to 2.4 …"
    details = re.search(r"<details>(.*?)</details>", curv, flags=re.S).group(1)
    assert LONG in details and "3/4 agree" in details and "preset tiny" in details and "commit " in details
    # Titles are escaped and linked; no "why" yet: a dash.
    assert 'href="findings/curv.html">Finding &lt;curv&gt;</a>' in curv
    assert '<td class="lg-why">—</td>' in curv


def test_compact_scorecard_refuses_a_finding_without_result(tmp_path):
    _write(tmp_path / "r", "one", "reproduced", {"paper": "reproduced"})
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: book/intro\nchapters:\n- file: book/findings/one\n"
                   "- file: book/findings/two\n")
    try:
        compact_scorecard(tmp_path / "r", toc=toc)
    except RuntimeError as error:
        assert "two.md" in str(error)
    else:
        raise AssertionError("a finding in the table of contents without a result file must stop the scorecard")


def test_headline_is_the_first_clause():
    assert headline("short") == "short"
    assert headline(LONG).endswith(" …") and len(headline(LONG)) <= HEADLINE_CHARS + 2
    assert headline("x" * 200).endswith("…") and len(headline("x" * 200)) <= HEADLINE_CHARS + 2


def test_build_time_counts_each_page_once_and_merges_stages(tmp_path):
    from latentgeom.reporting.scorecard import build_time

    timings = {"training (or model cache)": 60.0, "profiles": 30.0, "total": 120.0}
    found = tmp_path / "findings"  # evidence files go beside it, in tmp_path / "evidence"
    _write(found, "a", "reproduced", {}, seconds=100.0, timings={"training": 50.0, "total": 100.0})
    lg.write_finding(lg.Finding(  # a second claim of page a, written later: its seconds count, once
        finding_id="a2", title="a2", notebook="book/findings/a.md", paper_claim="c", paper={}, ours={},
        checks={"a": True}, verdict="reproduced", parameters={}, seconds=120.0, timings=timings), found)
    _write(found, "b", "reproduced", {}, seconds=180.0, timings={"training": 90.0, "total": 180.0})
    spent = build_time(found)
    assert spent["pages"] == 2 and abs(spent["minutes"] - 5.0) < 1e-12            # 120 + 180 s
    assert spent["stages"] == {"training": 2.5, "profiles": 0.5}                   # (60 + 90) s, 30 s
    assert abs(spent["share"]["training"] - 0.5) < 1e-12
    # An evidence page (no verdict of its own) counts with its one file.
    from latentgeom.reporting.findings import evidence_dir, write_evidence
    write_evidence("book/findings/ladder.md", {"seconds": 60.0, "timings": {"training": 60.0, "total": 60.0}},
                   evidence_dir(found))
    spent = build_time(found)
    assert spent["pages"] == 3 and abs(spent["minutes"] - 6.0) < 1e-12
    assert spent["stages"]["training"] == 3.5


def test_an_evidence_page_needs_its_evidence_file_not_a_finding_row(tmp_path):
    """The training ladder backs the why column: in the toc it needs an evidence file, and it is
    no row of its own."""
    from latentgeom.reporting.findings import evidence_dir, write_evidence

    findings = tmp_path / "results" / "findings"
    _write(findings, "one", "reproduced", {"paper": "reproduced"})
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: book/intro\nchapters:\n- file: book/findings/one\n"
                   "- file: book/findings/training-ladder\n")
    try:
        compact_scorecard(findings, toc=toc)
    except RuntimeError as error:
        assert "training-ladder.md" in str(error)
    else:
        raise AssertionError("an evidence page without its evidence file must stop the scorecard")
    write_evidence("book/findings/training-ladder.md", {"attributions": {}}, evidence_dir(findings))
    rows = _rows(compact_scorecard(findings, toc=toc))
    assert len(rows) == 1 and "training-ladder" not in rows[0]


def test_why_decides_the_words_at_this_scale_and_the_landing_counts(tmp_path):
    from latentgeom.reporting.scorecard import landing_counts

    _write(tmp_path, "scale", "not reproduced", {"paper": "not reproduced", "robust": "not reproduced"},
           why={"paper": "training scale: moves toward", "robust": "claim: flat at 0.92"})
    _write(tmp_path, "claim", "not reproduced", {}, seeds={"twonn": {"agree": 2, "runs": 2}},
           why={"twonn": "claim: flat at 0.92"})
    _write(tmp_path, "none", "reproduced", {"paper": "reproduced"})
    html = compact_scorecard(tmp_path)
    rows = dict(zip(("claim", "none", "scale"), _rows(html)))  # sorted by id
    badges = re.findall(r'<b>([^<]+)</b>([^<]+)</span>', rows["scale"])
    assert badges == [("paper", "not at this scale"), ("robust", "not reproduced")]
    assert re.findall(r'<b>([^<]+)</b>([^<]+)</span>', rows["claim"]) == [("twonn", "not reproduced")]
    assert 'title="paper: training scale: moves toward; robust: claim: flat at 0.92"' in rows["scale"]
    counts = landing_counts(tmp_path)
    assert counts["findings"] == 3
    assert counts["verdicts"]["not reproduced at this scale"] == 1 and counts["verdicts"]["not reproduced"] == 1
    assert counts["attributions"] == {"training scale": 1, "claim": 1, "instrument": 0, "undetermined": 0,
                                      "none": 1}
    assert "3 findings: 1 reproduced, 1 not reproduced, 1 not reproduced at this scale; why: 1 training scale, " \
           "1 claim, 1 none." in html


def test_a_verdict_wide_why_line_counts_for_the_primary_instrument(tmp_path):
    """Off-ladder findings store one ``why`` line under "verdict": the landing counts and the
    badges read it for whatever instrument the finding is decided under."""
    from latentgeom.reporting.scorecard import landing_counts

    _write(tmp_path, "mixup", "partly reproduced", {"paper": "partly reproduced", "robust": "not testable"},
           why={"verdict": "undetermined: not on the training ladder"})
    _write(tmp_path, "traj", "reproduced", {}, seeds={"bhattacharyya": {"agree": 2, "runs": 2}},
           why={"verdict": "undetermined: off the training ladder"})
    _write(tmp_path, "own", "not reproduced", {"paper": "not reproduced"},
           why={"paper": "training scale: moves toward", "verdict": "undetermined: not used"})
    counts = landing_counts(tmp_path)
    assert counts["attributions"] == {"training scale": 1, "claim": 0, "instrument": 0, "undetermined": 2,
                                      "none": 0}
    assert counts["verdicts"]["not reproduced at this scale"] == 1
