"""The toroidal-landscape chapter (book/findings/toroids-landscape.md) at preset="tiny"."""
import math

import pytest

from latentgeom.reporting.findings import VERDICTS

from notebooks import execute, finding, numbers, parameter_names, pasted_prose

NOTEBOOK = "book/findings/toroids-landscape.md"
FINDINGS = ("toroids-1-flatness-generalisation", "toroids-2-flat-minima-close", "toroids-3-geodesic-barriers",
            "toroids-4-one-bend-paths", "toroids-5-binary-networks")
PARAMETERS = {"preset", "n_train", "n_boot", "seed", "n_seeds"}

pytestmark = pytest.mark.slow


def test_parameters_are_documented():
    assert parameter_names(NOTEBOOK) == PARAMETERS


def test_the_page_is_calls_and_charts():
    """Code lines of at most 88 characters, fewer than 250 of them, no clock of its own (the
    study times the page)."""
    import jupytext

    from notebooks import ROOT

    code = [line for cell in jupytext.read(ROOT / NOTEBOOK).cells if cell.cell_type == "code"
            for line in cell.source.splitlines()]
    assert len(code) < 250 and max(len(line) for line in code) <= 88
    assert not any("perf_counter" in line or "T0" in line for line in code)


def test_notebook_runs_at_tiny_scale_and_twice_from_its_cache(notebook_env):
    nb = execute(NOTEBOOK, notebook_env, preset="tiny")
    first = {}
    for finding_id in FINDINGS:
        result = finding(notebook_env / "results", finding_id)
        assert result["finding_id"] == finding_id and result["notebook"] == NOTEBOOK
        assert result["verdict"] in VERDICTS
        # a check is decided (True/False) or not (None); preconditions are never among them
        assert result["checks"] and all(v in (True, False, None) for v in result["checks"].values())
        assert set(result["ours"]["preconditions"]).isdisjoint(result["checks"])
        assert result["seeds"]["verdict"]["runs"] in (1, 2)  # pooled once, or both runs agreeing (or not)
        assert result["parameters"]["name"] == "tiny" and result["seconds"] > 0 and result["summary"]
        assert result["parameters"]["run_seeds"] == [0, 1]
        values = numbers(result["ours"])
        assert values and all(math.isfinite(x) for x in values)
        first[finding_id] = values
    # the prose pastes only computed values, and the networks' test accuracy is on the page
    prose = pasted_prose(NOTEBOOK, nb)
    assert "500 (without weight decay)" not in prose["recipes:"]  # tiny has no large-batch SGD
    assert prose["n_runs:"] == "2" and prose["verdict_1:"] in VERDICTS
    shown = "".join(str(o.get("data", {}).get("text/html", "")) for c in nb.cells for o in c.get("outputs", []))
    assert "test_accuracy" in shown and "train_error" in shown
    cached = sorted((notebook_env / "cache" / "models" / "toroids").glob("*.pt"))
    assert cached  # trained networks are in the model cache
    execute(NOTEBOOK, notebook_env, preset="tiny")  # the second run reads everything from the cache
    assert sorted((notebook_env / "cache" / "models" / "toroids").glob("*.pt")) == cached
    for finding_id in FINDINGS:  # the same numbers (up to the JSON round trip of the cached tables)
        again = numbers(finding(notebook_env / "results", finding_id)["ours"])
        assert len(again) == len(first[finding_id])
        assert all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in zip(again, first[finding_id]))


def test_invalid_preset_fails_clearly(notebook_env):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="preset must be one of"):
        execute(NOTEBOOK, notebook_env, preset="nope")
