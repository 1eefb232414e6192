"""The intrinsic-dimension chapter (book/findings/intrinsic-dimension.md) at preset="tiny"."""
import math

import jupytext
import pytest

from latentgeom.chapters import intrinsic_dimension as ida
from latentgeom.reporting.findings import VERDICTS

from notebooks import ROOT, execute, finding, numbers, parameter_names

NOTEBOOK = "book/findings/intrinsic-dimension.md"
FINDINGS = ("id-1-hunchback", "id-2-pca-vs-twonn", "id-3-last-layer-vs-accuracy", "id-4-untrained-random-labels")
PARAMETERS = {"preset", "dataset", "architectures", "widths", "n_per_class", "n_classes", "n_mixed",
              "n_resamples", "random_label_epochs", "random_label_n_train", "n_seeds", "training_seeds", "seed"}

pytestmark = pytest.mark.slow



def test_parameters_are_documented():
    assert parameter_names(NOTEBOOK) == PARAMETERS == set(ida.PAGES["intrinsic-dimension"].parameters)


def test_page_is_narrative_parameters_calls_and_charts():
    nb = jupytext.read(ROOT / NOTEBOOK)
    code = [line for cell in nb.cells if cell.cell_type == "code" for line in cell.source.splitlines()]
    assert all(len(line) <= 88 for line in code), max(code, key=len)
    assert len(code) <= 250
    assert not any("perf_counter" in line or "THRESHOLDS" in line for line in code)  # the study keeps time
    assert any("claim.thresholds_table()" in line for line in code)  # thresholds from the claims


def test_notebook_runs_at_tiny_scale(notebook_env):
    execute(NOTEBOOK, notebook_env, preset="tiny")
    for finding_id in FINDINGS:
        result = finding(notebook_env / "results", finding_id)
        assert result["finding_id"] == finding_id
        assert result["notebook"] == NOTEBOOK
        assert result["verdict"] in VERDICTS
        assert result["checks"] and all(isinstance(v, bool) for v in result["checks"].values())
        assert result["parameters"]["name"] == "tiny" and result["parameters"]["seed"] == 0
        assert result["seconds"] > 0 and result["summary"]
        assert result["timings"]["total"] > 0 and result["timings"]["per-class profiles"] > 0
        assert result["paper"]["source"].startswith("Ansuini")
        values = numbers(result["ours"])
        assert values and all(math.isfinite(x) for x in values), finding_id
        # tiny: 2 image-sample seeds + 1 more training seed = 3 runs, combined by over_seeds
        agreement = result["seeds"]["twonn"]
        assert agreement["runs"] == 3 and len(agreement["per_seed"]) == 3
        assert agreement["verdict"] == (agreement["per_seed"][0] if len(set(agreement["per_seed"])) == 1
                                        else "unstable across seeds")
        assert result["verdict"] == agreement["verdict"]
        assert result["spread"] and all(lo <= hi for lo, hi in result["spread"].values())
        assert [run["run"] for run in result["ours"]["runs"]] == [
            "image seed 0, training seed 0", "image seed 1, training seed 0", "image seed 0, training seed 1"]
    corr = finding(notebook_env / "results", "id-3-last-layer-vs-accuracy")["ours"]["correlation"]
    assert -1 <= corr["pearson"] <= 1 and corr["n"] >= 4


def test_invalid_parameter_fails_clearly(notebook_env):
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError, match="n_per_class"):
        execute(NOTEBOOK, notebook_env, preset="tiny", n_per_class=3)
    with pytest.raises(PapermillExecutionError, match="unknown preset|preset must be one of"):
        execute(NOTEBOOK, notebook_env, preset="huge")
