"""The five curvature-paper finding notebooks, executed through papermill at preset="tiny".

One module-scoped model/profile cache is shared by all notebooks, so the tiny zoo trains once
(as in the book, where each notebook reuses the models of the ones before it).
"""
import math

import pytest

from latentgeom.reporting.findings import VERDICTS
from latentgeom.chapters.curvature import INSTRUMENTS

from notebooks import execute, finding, leaves, numbers, parameter_names

NOTEBOOKS = [
    "curvature-1-profile-shape",
    "curvature-2-untrained",
    "curvature-3-gap-accuracy",
    "curvature-4-id-vs-curvature",
    "curvature-5-mixup",
]
COMMON = {"preset", "n_points", "q", "seed", "n_seeds"}
EXTRA = {
    "curvature-1-profile-shape": {"width"},
    "curvature-2-untrained": {"width"},
    "curvature-3-gap-accuracy": {"n_boot"},
    "curvature-4-id-vs-curvature": {"n_boot"},
    "curvature-5-mixup": {"mixup_architecture"},
}

pytestmark = pytest.mark.slow


def _path(stem):
    return f"book/findings/{stem}.md"




@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_parameters_are_documented(stem):
    assert parameter_names(_path(stem)) == COMMON | EXTRA[stem]


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_notebook_runs_at_tiny_scale(stem, shared_notebook_env, tmp_path):
    execute(_path(stem), tmp_path, preset="tiny")
    result = finding(shared_notebook_env / "results", stem)
    assert result["finding_id"] == stem
    assert result["notebook"] == _path(stem)
    assert result["verdict"] in VERDICTS
    assert set(result["estimator_modes"]) == set(INSTRUMENTS) == {"paper", "robust", "scale-free"}
    assert all(v in VERDICTS for v in result["estimator_modes"].values())
    assert result["verdict"] == result["estimator_modes"]["paper"]
    # Over seeds: 3 image samples + 1 training seed, combined per instrument.
    assert set(result["seeds"]) == set(INSTRUMENTS)
    for instrument, agreement in result["seeds"].items():
        assert agreement["runs"] == 4 and len(agreement["per_seed"]) == 4
        assert agreement["verdict"] == result["estimator_modes"][instrument]
        if len(set(agreement["per_seed"])) > 1:
            assert agreement["verdict"] == "unstable across seeds"
    assert result["spread"] and all(lo <= hi for lo, hi in result["spread"].values())
    assert result["checks"] and all(isinstance(v, bool) for v in result["checks"].values())
    assert result["parameters"]["name"] == "tiny"
    assert result["seconds"] > 0 and result["summary"]
    values = numbers(result["ours"])
    assert values and all(math.isfinite(x) for x in values)
    assert None not in list(leaves(result["ours"]))




def test_invalid_preset_fails_clearly(shared_notebook_env, tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="preset must be one of .*got .nope."):
        execute(_path(NOTEBOOKS[0]), tmp_path, preset="nope")


def test_invalid_override_fails_clearly(shared_notebook_env, tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="seed must be an integer"):
        execute(_path(NOTEBOOKS[3]), tmp_path, preset="tiny", seed=-1)
