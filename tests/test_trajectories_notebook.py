"""The training-trajectories page (Mao et al., PNAS 2024), executed through papermill at preset="tiny"."""
import math

import jupytext
import pytest

from latentgeom.reporting.findings import VERDICTS

from notebooks import ROOT, execute, finding, leaves, numbers, parameter_names

NOTEBOOK = "book/findings/trajectories-prediction-space.md"
FINDINGS = ("trajectories-1-low-dimension", "trajectories-2-architecture", "trajectories-3-width",
            "trajectories-4-initialisation")

pytestmark = pytest.mark.slow


def test_parameters_are_documented():
    assert parameter_names(NOTEBOOK) == {"preset", "n_train", "epochs", "n_probe", "seed"}


def test_page_is_narrative_parameters_calls_and_charts():
    cells = [c for c in jupytext.read(ROOT / NOTEBOOK).cells if c.cell_type == "code"]
    code = [line for c in cells for line in c.source.splitlines()]
    assert all(len(line) <= 88 for line in code), [line for line in code if len(line) > 88]
    assert not any("perf_counter" in line or "T0" in line for line in code)  # the study keeps the clock
    [parameters] = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assigned = [line for line in parameters.source.splitlines() if "=" in line.split("#")[0]]
    assert len(assigned) == 5 and all("  # " in line for line in assigned)  # one per line, each explained
    assert len(code) < 250


def test_notebook_runs_at_tiny_scale(shared_notebook_env, tmp_path):
    execute(NOTEBOOK, tmp_path, preset="tiny")
    for finding_id in FINDINGS:
        result = finding(shared_notebook_env / "results", finding_id)
        assert result["notebook"] == NOTEBOOK
        assert result["verdict"] in VERDICTS[:3]
        assert result["checks"] and all(isinstance(v, bool) for v in result["checks"].values())
        assert result["seconds"] > 0 and result["summary"] and result["our_value"]
        assert result["summary"].startswith(result["verdict"] + ": ")
        assert {"training", "predictions", "total"} <= set(result["timings"])
        assert result["paper"]["source"].startswith("Mao et al., PNAS 2024")
        assert result["parameters"]["name"] == "tiny" and result["parameters"]["n_train"] == 256
        values = numbers(result["ours"])
        assert values and all(math.isfinite(x) for x in values)
        assert None not in list(leaves(result["ours"]))
    low = finding(shared_notebook_env / "results", FINDINGS[0])["ours"]["train"]
    assert 0 <= low["chi_1"] <= low["chi_2"] <= low["chi_3"] <= 1


def test_invalid_parameter_fails_clearly(shared_notebook_env, tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="n_probe must be an integer >= 1"):
        execute(NOTEBOOK, tmp_path, preset="tiny", n_probe=0)
