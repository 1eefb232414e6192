"""The methods pages (book/methods/*.md) run at a small scale through papermill."""
import pytest

from notebooks import execute, parameter_names, pasted_prose

pytestmark = pytest.mark.slow

CURVATURE = "book/methods/measuring-curvature.md"
DIMENSION = "book/methods/measuring-intrinsic-dimension.md"
SMALL = {
    CURVATURE: dict(n_points=300, n_local=8, radii=[0.5, 2.0], sphere_dims=[1, 2], ambient_dims=[4, 16],
                    neighbour_counts=[8, 16], n_images=4),
    DIMENSION: dict(n_id=300, n_resamples=2, n_independent=2, max_blocks=3, duplicated=[0.0, 0.1]),
}
#: Numbers of the prose that follow from the parameters alone, as the book pastes them
#: (``"key:format"``): the sentences state this run's numbers, not typed-in ones.
PASTED = {
    CURVATURE: {"sweep_n:": "4"},  # 2 sphere dimensions x 2 radii
    DIMENSION: {"id_n:": "300", "blocks_n:": "300", "id_n_indep:": "2", "dups_fractions:": "10.0%"},
}


@pytest.mark.parametrize("notebook", [CURVATURE, DIMENSION])
def test_runs_small_and_shows_its_checks(notebook_env, notebook):
    assert set(SMALL[notebook]) <= parameter_names(notebook)
    nb = execute(notebook, notebook_env, **SMALL[notebook])
    html = "".join(str(o.get("data", {}).get("text/html", "")) for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert "checks hold" in html  # the check list at the end of the page
    svg = sum("image/svg+xml" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []))
    assert svg >= 3  # charts render offline, as SVG
    prose = pasted_prose(notebook, nb)  # every number of the prose was glued, and its format fits
    assert len(prose) >= 15 and all(prose.values())
    assert {key: prose[key] for key in PASTED[notebook]} == PASTED[notebook]


@pytest.mark.parametrize("notebook,parameter,value", [(CURVATURE, "n_points", 10), (CURVATURE, "q", 2),
                                                      (DIMENSION, "n_id", 10)])
def test_bad_parameter_fails_clearly(notebook_env, notebook, parameter, value):
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError, match=parameter):
        execute(notebook, notebook_env, **{parameter: value})
