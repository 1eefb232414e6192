"""The training-trajectories page (Mao et al., PNAS 2024), executed through papermill at preset="tiny"."""
import math

import pytest

from latentgeom.reporting.findings import VERDICTS

from notebooks import execute, finding, isolated_env, leaves, numbers, parameter_names

NOTEBOOK = "book/findings/trajectories-prediction-space.md"
FINDINGS = ("trajectories-1-low-dimension", "trajectories-2-architecture", "trajectories-3-width",
            "trajectories-4-initialisation")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from isolated_env(tmp_path_factory, "trajectories")


def test_parameters_are_documented():
    assert parameter_names(NOTEBOOK) == {"preset", "n_train", "epochs", "n_probe", "seed"}


def test_notebook_runs_at_tiny_scale(env, tmp_path):
    execute(NOTEBOOK, tmp_path, preset="tiny")
    for finding_id in FINDINGS:
        result = finding(env / "results", finding_id)
        assert result["notebook"] == NOTEBOOK
        assert result["verdict"] in VERDICTS[:3]
        assert result["checks"] and all(isinstance(v, bool) for v in result["checks"].values())
        assert result["seconds"] > 0 and result["summary"] and result["our_value"]
        assert result["parameters"]["name"] == "tiny" and result["parameters"]["n_train"] == 256
        values = numbers(result["ours"])
        assert values and all(math.isfinite(x) for x in values)
        assert None not in list(leaves(result["ours"]))
    low = finding(env / "results", FINDINGS[0])["ours"]["train"]
    assert 0 <= low["chi_1"] <= low["chi_2"] <= low["chi_3"] <= 1


def test_invalid_parameter_fails_clearly(env, tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="n_probe must be an integer >= 1"):
        execute(NOTEBOOK, tmp_path, preset="tiny", n_probe=0)
