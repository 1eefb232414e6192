"""The methods page "Curvature in high dimension", executed through papermill at a small size."""
import pytest

from notebooks import execute, parameter_names

PAGE = "book/methods/curvature-in-high-dimension.md"
SMALL = dict(n_local=8, dims=[2, 6], noise_levels=[0.0, 0.02], multiples=[2], ellipsoid_dims=[3],
             book_q=4, knn_points=800)


def test_parameters_are_documented():
    assert parameter_names(PAGE) == set(SMALL) | {"ambient", "radius", "seed"}


@pytest.mark.slow
def test_page_runs_at_a_small_size(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTGEOM_RESULTS", str(tmp_path / "results"))
    nb = execute(PAGE, tmp_path, **SMALL)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    glued = {o["metadata"]["scrapbook"]["name"] for o in outputs
             if "scrapbook" in o.get("metadata", {})}
    # every key the prose cites is glued, whatever the sizes
    assert {"robust_worst_clean", "robust_worst_noisiest", "paper_d_max", "ellipsoid_worst",
            "knn_small_share", "span_count", "span_right", "span_wrong", "trust_robust_book",
            "trust_robust_top", "trust_paper_book", "noise_rtol"} <= glued
