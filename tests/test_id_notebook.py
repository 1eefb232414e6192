"""The intrinsic-dimension chapter (book/findings/intrinsic-dimension.md) at preset="tiny"."""
import math

import jupytext
import pytest

from latentgeom.chapters import intrinsic_dimension as ida
from latentgeom.reporting.findings import VERDICTS

from notebooks import ROOT, execute, finding, numbers, parameter_names, pasted_prose

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
    nb = execute(NOTEBOOK, notebook_env, preset="tiny")
    runs = ["image seed 0, training seed 0", "image seed 1, training seed 0", "image seed 2, training seed 1"]
    for finding_id in FINDINGS:
        result = finding(notebook_env / "results", finding_id)
        assert result["finding_id"] == finding_id
        assert result["notebook"] == NOTEBOOK
        assert result["verdict"] in VERDICTS
        # a check is True/False, or None where the data could not decide it; preconditions apart
        assert result["checks"] and all(v in (True, False, None) for v in result["checks"].values())
        assert all(isinstance(v, bool) for v in result["ours"]["preconditions"].values())
        assert result["parameters"]["name"] == "tiny" and result["parameters"]["seed"] == 0
        assert result["parameters"]["runs"] == [[0, 0], [1, 0], [2, 1]]
        assert result["seconds"] > 0 and result["summary"]
        assert result["timings"]["total"] > 0 and result["timings"]["per-class profiles"] > 0
        assert result["paper"]["source"].startswith("Ansuini")
        values = numbers(result["ours"])
        assert values and all(math.isfinite(x) for x in values), finding_id
        agreement = result["seeds"]["twonn"]
        if finding_id == "id-3-last-layer-vs-accuracy":
            # decided once on the pooled final networks: 6 configurations x 2 training seeds
            assert agreement["runs"] == 1 and result["ours"]["networks"] == 12
            assert result["ours"]["training_runs"] == 2 and result["ours"]["trend"]
            assert [run["run"] for run in result["ours"]["runs"]] == ["all runs, pooled"]
        else:  # tiny: 2 runs of training seed 0 + 1 run of training seed 1, combined by over_seeds
            assert agreement["runs"] == 3 and len(agreement["per_seed"]) == 3
            assert [run["run"] for run in result["ours"]["runs"]] == runs
        per_seed = set(agreement["per_seed"])
        assert agreement["verdict"] == (agreement["per_seed"][0] if len(per_seed) == 1
                                        else "not testable" if "not testable" in per_seed
                                        else "unstable across seeds")
        assert result["verdict"] == agreement["verdict"]
        assert all(lo <= hi for lo, hi in result["spread"].values())
        # Why: the ladder's attribution for the claims on it, else the claim's own reason.
        from latentgeom.chapters.ladder import FINDINGS as ON_LADDER, not_on_ladder
        if finding_id in ON_LADDER:
            assert set(result["why"]) == {"twonn"}
        else:
            assert result["why"] == {"verdict": not_on_ladder(finding_id).line}
    corr = finding(notebook_env / "results", "id-3-last-layer-vs-accuracy")["ours"]["correlation"]
    assert -1 <= corr["pearson"] <= 1 and corr["units"] == 12 and corr["n"] == 18
    prose = pasted_prose(NOTEBOOK, nb)  # every number of the prose is glued, and formats
    assert prose["n_runs:"] == "3" and prose["id3_networks:"] == "12"
    assert prose["on_ladder:"] == "1, 2, 3"  # the claims the training ladder follows
    text = "\n".join(str(o.get("data", {}).get("text/html", "")) for c in nb.cells for o in c.get("outputs", []))
    assert "Test accuracy of the zoo" in text and "train_accuracy" in text  # the networks' accuracies


def test_invalid_parameter_fails_clearly(notebook_env):
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError, match="n_per_class"):
        execute(NOTEBOOK, notebook_env, preset="tiny", n_per_class=3)
    with pytest.raises(PapermillExecutionError, match="unknown preset|preset must be one of"):
        execute(NOTEBOOK, notebook_env, preset="huge")
