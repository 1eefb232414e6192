"""The methods page "Curvature under noise", executed through papermill at tiny scale."""
import pytest

from notebooks import execute, parameter_names, pasted_prose

PAGE = "book/methods/curvature-under-noise.md"
TINY = dict(n_points=300, noise_levels=[0.0, 0.01], k_pool=40, neighbour_counts=[15, 30], radii=[0.2, 0.6],
            n_local=10)


def test_parameters_are_documented():
    assert parameter_names(PAGE) == set(TINY) | {"ambient", "sigma_for_k", "seed"}


@pytest.mark.slow
def test_page_runs_at_tiny_scale(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTGEOM_RESULTS", str(tmp_path / "results"))
    nb = execute(PAGE, tmp_path, **TINY)
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/markdown", ""))
                   for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Traceback" not in text
    prose = pasted_prose(PAGE, nb)  # the sentences' numbers, as the book pastes them
    assert prose["sigma_max:g"] == "0.01" and prose["sigma_K:"] == "40" and prose["rho_max:g"] == "0.6"
