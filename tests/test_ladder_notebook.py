"""The training-ladder page (book/findings/training-ladder.md) through papermill at preset="tiny":
an evidence page, no finding of its own."""
import json
import math

import pytest

from notebooks import execute, parameter_names

NOTEBOOK = "book/findings/training-ladder.md"
PARAMETERS = {"preset", "width", "training_seeds", "rungs", "n_train", "n_points", "modes", "seed"}

pytestmark = pytest.mark.slow


def test_parameters_are_documented():
    assert parameter_names(NOTEBOOK) == PARAMETERS


def test_notebook_runs_at_tiny_scale(notebook_env):
    from latentgeom.chapters.attribution import ATTRIBUTIONS
    from latentgeom.chapters.ladder import FINDINGS

    env = notebook_env
    execute(NOTEBOOK, env, preset="tiny")
    assert not (env / "results" / "findings" / "training-ladder.json").exists()
    evidence = json.loads((env / "results" / "evidence" / "training-ladder.json").read_text())
    rungs = evidence["rungs"]
    assert evidence["notebook"] == NOTEBOOK and evidence["parameters"]["name"] == "tiny"
    assert set(evidence["top_rung_accuracy"]) == {"plain_cnn", "vgg_small", "resnet_small"}
    # The mixup page's family is also trained with mixup, and curvature 5 is measured on its rungs.
    assert set(evidence["mixup_top_rung_accuracy"]) == {"resnet_small with mixup"}
    mixed = [r for r in rungs if r["mixup_test_accuracy"] is not None]  # NaN is stored as null
    assert {(r["family"], r["source"]) for r in mixed} == {("resnet_small", "ladder"), ("resnet_small", "page")}
    assert all(r["curvature-5-mixup/paper"] is not None for r in mixed)
    assert set(evidence["attributions"]) == set(FINDINGS)
    kinds = {a["kind"] for by in evidence["attributions"].values() for a in by.values()}
    assert kinds <= set(ATTRIBUTIONS)
    assert {r["run"] for r in rungs} == {0, 1} and {r["source"] for r in rungs} == {"page", "ladder"}
    assert all(math.isfinite(r["test_accuracy"]) for r in rungs)
    assert "id-3-last-layer-vs-accuracy/twonn" in rungs[0] and evidence["seconds"] > 0


def test_invalid_parameter_fails_clearly(notebook_env):
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError, match="rungs"):
        execute(NOTEBOOK, notebook_env, preset="tiny", rungs=1)
    with pytest.raises(PapermillExecutionError, match="preset"):
        execute(NOTEBOOK, notebook_env, preset="huge")
