"""The five curvature-paper finding notebooks, executed through papermill at preset="tiny".

One module-scoped model/profile cache is shared by all notebooks, so the tiny zoo trains once
(as in the book, where each notebook reuses the models of the ones before it).
"""
import math

import pytest

from latentgeom.reporting.findings import VERDICTS
from latentgeom.chapters.curvature import INSTRUMENTS

from notebooks import execute, finding, numbers, parameter_names, pasted_prose

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


POOLED = {"curvature-3-gap-accuracy", "curvature-4-id-vs-curvature"}


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_notebook_runs_at_tiny_scale(stem, shared_notebook_env, tmp_path):
    nb = execute(_path(stem), tmp_path, preset="tiny")
    result = finding(shared_notebook_env / "results", stem)
    assert result["finding_id"] == stem
    assert result["notebook"] == _path(stem)
    assert result["verdict"] in VERDICTS
    assert set(result["estimator_modes"]) == set(INSTRUMENTS) == {"paper", "robust", "scale-free"}
    assert all(v in VERDICTS for v in result["estimator_modes"].values())
    assert result["verdict"] == result["estimator_modes"]["paper"]
    # Per-run claims: the page's n_seeds runs of training seed 0 + 1 run of training seed 1
    # (every network re-seeded), combined per instrument; pooled claims: one decision on every
    # run's networks.
    from latentgeom.chapters.curvature import N_SEEDS
    assert N_SEEDS == 1  # one sample of training seed 0 (300 points by default), one of seed 1
    runs = 1 if stem in POOLED else N_SEEDS + 1
    assert set(result["seeds"]) == set(INSTRUMENTS)
    for instrument, agreement in result["seeds"].items():
        assert agreement["runs"] == runs and len(agreement["per_seed"]) == runs
        assert agreement["verdict"] == result["estimator_modes"][instrument]
        if len(set(agreement["per_seed"])) > 1:
            assert agreement["verdict"] in ("unstable across seeds", "not testable")
    if stem in POOLED:  # the tiny zoo: 6 configurations x 2 training seeds
        assert result["ours"]["networks_per_decision"] == 12
        assert list(result["ours"]["runs"]) == ["all runs, pooled"]
    if stem == "curvature-3-gap-accuracy":
        assert result["ours"]["correlation"]["units"] == 12 and result["ours"]["trend"]
    assert result["spread"] and all(lo <= hi for lo, hi in result["spread"].values() if lo is not None)
    assert result["checks"] and all(v in (True, False, None) for v in result["checks"].values())
    assert result["parameters"]["name"] == "tiny"
    assert result["seconds"] > 0 and result["summary"]
    # Why: from the training ladder for the claims on it, else off the ladder (undetermined).
    from latentgeom.chapters.ladder import FINDINGS as ON_LADDER, not_on_ladder
    kinds = {line.split(":")[0] for line in result["why"].values()}
    assert kinds <= {"training scale", "claim", "instrument", "undetermined"} and kinds
    if stem in ON_LADDER:
        assert set(result["why"]) <= set(INSTRUMENTS)
    else:
        assert result["why"] == {"verdict": not_on_ladder(stem).line}
    assert result["ours"]["test_accuracy"] and result["ours"]["measurability"] and result["ours"]["precision"]
    values = numbers(result["ours"])
    assert values and all(math.isfinite(x) for x in values)
    prose = pasted_prose(_path(stem), nb)  # every number of the prose is glued, and formats
    assert prose["n_runs:"] == str(N_SEEDS + 1) and prose["verdict_paper:"] == result["verdict"]
    text = "\n".join(str(o.get("data", {}).get("text/html", "")) for c in nb.cells for o in c.get("outputs", []))
    assert "test accuracy of every network measured" in text and "dirs_paper" in text


def test_invalid_preset_fails_clearly(shared_notebook_env, tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="preset must be one of .*got .nope."):
        execute(_path(NOTEBOOKS[0]), tmp_path, preset="nope")


def test_invalid_override_fails_clearly(shared_notebook_env, tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="seed must be an integer"):
        execute(_path(NOTEBOOKS[3]), tmp_path, preset="tiny", seed=-1)
