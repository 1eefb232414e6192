"""Result files, verdicts, correlations and the scorecard built from them."""
import numpy as np
import pytest

import latentgeom as lg
from latentgeom.paths import find_toc


def _finding(fid, notebook, verdict="reproduced", **kw):
    return lg.Finding(finding_id=fid, title=f"title <{fid}>", notebook=notebook, paper_claim="claim",
                      paper={"x": 1.0}, ours={"x": np.float32(0.5), "bad": float("nan")},
                      checks={"a": True}, verdict=verdict, parameters={"name": "tiny", "n_points": 40},
                      estimator_modes={"paper": verdict, "robust": "not reproduced"}, seconds=3.2, **kw)


def test_verdict_from_checks():
    assert lg.verdict({"a": True, "b": True}) == "reproduced"
    assert lg.verdict({"a": True, "b": False}) == "partly reproduced"
    assert lg.verdict({"a": False}) == "not reproduced"
    with pytest.raises(ValueError):
        lg.verdict({})
    with pytest.raises(ValueError, match="verdict must be one of"):
        _finding("x", "book/findings/x.md", verdict="sort of")


def test_bootstrap_correlation_recovers_a_monotone_relation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    c = lg.bootstrap_correlation(x, 2 * x + 0.1 * rng.normal(size=30))
    assert c.pearson > 0.95 and c.spearman > 0.9 and c.significant_positive()
    assert c.pearson_ci[0] <= c.pearson <= c.pearson_ci[1]
    noise = lg.bootstrap_correlation(x, rng.normal(size=30))
    assert not noise.significant_positive()
    with pytest.raises(ValueError, match="at least 4"):
        lg.bootstrap_correlation([1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="finite"):
        lg.bootstrap_correlation([1, 2, np.nan, 4], [1, 2, 3, 4])


def test_scorecard_collects_results_and_refuses_missing_ones(tmp_path):
    out = tmp_path / "findings"
    agreement = lg.reporting.findings.over_seeds(["reproduced"] * 3 + ["partly reproduced"])
    two = _finding("b-two", "book/findings/two.md", our_value="0.5", seeds={"paper": agreement})
    two.estimator_modes["scale-free"] = "reproduced"
    lg.write_finding(two, out)
    lg.write_finding(_finding("a-one", "book/findings/one.md", verdict="not reproduced"), out)
    frame = lg.load_findings(out)
    assert list(frame["finding_id"]) == ["a-one", "b-two"]
    assert frame.loc[0, "ours"]["bad"] is None  # NaN is stored as null, not invalid JSON

    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: book/intro\nchapters:\n- file: book/findings/one\n"
                   "- file: book/findings/two\n")
    table = lg.scorecard(out, toc=toc)
    assert list(table["verdict"]) == ["not reproduced", "reproduced"]
    assert list(table["robust estimator"]) == ["not reproduced"] * 2
    assert list(table["scale-free"]) == ["—", "reproduced"]
    assert list(table["seeds"]) == ["—", "3/4 agree"]
    assert table.loc[1, "our number"] == "0.5"
    assert 'href="findings/one.html"' in table.loc[0, "finding"]
    assert "&lt;a-one&gt;" in table.loc[0, "finding"]  # titles are escaped, links are not
    html = lg.scorecard_html(table)
    assert html.count("<tr") == 3 and "preset tiny" in html

    toc.write_text(toc.read_text() + "- file: book/findings/three\n")
    with pytest.raises(RuntimeError, match="three.md"):
        lg.scorecard(out, toc=toc)


def test_find_toc_walks_up(tmp_path):
    (tmp_path / "_toc.yml").write_text("root: x\n")
    deep = tmp_path / "book" / "findings"
    deep.mkdir(parents=True)
    assert find_toc(deep) == tmp_path / "_toc.yml"


def test_scorecard_seed_column_reads_the_primary_instrument(tmp_path):
    """``paper`` where a finding has several instruments, else its only one (``twonn``)."""
    for fid, seeds in (("a", {"twonn": {"agree": 3, "runs": 4}}),
                       ("b", {"paper": {"agree": 4, "runs": 4}, "robust": {"agree": 1, "runs": 4}}), ("c", {})):
        lg.write_finding(lg.Finding(finding_id=fid, title=fid, notebook=f"book/findings/{fid}.md", paper_claim="",
                                    paper={}, ours={}, checks={"x": True}, verdict="reproduced",
                                    parameters={"name": "tiny"}, seeds=seeds), tmp_path)
    assert list(lg.scorecard(tmp_path)["seeds"]) == ["3/4 agree", "4/4 agree", "—"]
