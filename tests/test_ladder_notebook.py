"""The training-ladder page (book/findings/training-ladder.md) through papermill at preset="tiny"."""
import math

import pytest

from latentgeom.reporting.findings import VERDICTS

from notebooks import execute, finding, numbers, parameter_names

NOTEBOOK = "book/findings/training-ladder.md"
PARAMETERS = {"preset", "epochs", "n_train", "width", "n_points", "modes", "seed"}

pytestmark = pytest.mark.slow


def test_parameters_are_documented():
    assert parameter_names(NOTEBOOK) == PARAMETERS


def test_notebook_runs_at_tiny_scale(notebook_env):
    env = notebook_env
    execute(NOTEBOOK, env, preset="tiny", n_train=512, modes=["paper", "robust"])
    result = finding(env / "results", "training-ladder")
    assert result["notebook"] == NOTEBOOK
    assert result["verdict"] in VERDICTS and result["verdict"] == result["estimator_modes"]["paper"]
    assert set(result["estimator_modes"]) == {"paper", "robust"}
    assert result["checks"] and all(isinstance(v, bool) for v in result["checks"].values())
    assert all("moves toward the paper's value" in name for name in result["checks"])
    assert result["parameters"]["name"] == "tiny" and result["parameters"]["ladder"]["n_train"] == 512
    assert result["seconds"] > 0 and result["summary"]
    from latentgeom.chapters.ladder import LADDER as CLAIM

    assert result["paper"]["source"] == CLAIM.source and result["paper_value"] == CLAIM.paper_value
    directions = result["ours"]["directions"]
    assert {"final_ratio/paper", "gap/robust", "id_rise/—", "last_hidden_id/—"} <= set(directions)
    from latentgeom.chapters.ladder import DIRECTIONS, READING_DIRECTIONS

    # Statistics with a paper value move toward/away from it; scale-free readings rise or fall.
    assert all(d["direction"] in DIRECTIONS for key, d in directions.items() if "scale_free" not in key)
    assert all(d["direction"] in READING_DIRECTIONS for key, d in directions.items() if "scale_free" in key)
    checkpoints = result["ours"]["checkpoints"]
    assert len(checkpoints) == 3 * 3 and {c["epoch"] for c in checkpoints} == {1, 2, 3}
    values = numbers(checkpoints)
    assert values and all(math.isfinite(x) for x in values)
    stages = {t["stage"] for t in result["ours"]["timings"]}
    assert {"training (or model cache)", "curvature profiles", "ID profiles"} <= stages


def test_invalid_parameter_fails_clearly(notebook_env):
    env = notebook_env
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError, match="at least 3 distinct checkpoint epochs"):
        execute(NOTEBOOK, env, preset="tiny", epochs=[1, 2])
    with pytest.raises(PapermillExecutionError, match="epochs must be a non-empty list of integers"):
        execute(NOTEBOOK, env, preset="tiny", epochs=4)
    with pytest.raises(PapermillExecutionError, match="preset"):
        execute(NOTEBOOK, env, preset="huge")
