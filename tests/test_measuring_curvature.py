"""The library side of the methods page "Measuring curvature" (latentgeom.chapters.measuring_curvature)."""
import pandas as pd
import pytest

from latentgeom.chapters.measuring_curvature import (MASK_RCONDS, UNIT_RADII, UNIT_SCALES, check_parameters,
                                                     lost_at, mask_experiment, units_experiment)

GOOD = dict(n_points=2000, n_local=40, rho=0.2, radii=[0.5, 1.0], sphere_dims=[1, 2], ambient_dims=[4, 8],
            neighbour_counts=[8, 16], q=4, n_images=30, seed=0)


@pytest.mark.parametrize("name,value", [("n_points", 10), ("n_local", 2), ("rho", 1.0), ("radii", [0.0]),
                                        ("sphere_dims", [15]), ("ambient_dims", [2]), ("neighbour_counts", [4]),
                                        ("q", 2), ("q", 9), ("n_images", 1), ("seed", -1)])
def test_check_parameters_names_the_bad_one(name, value):
    check_parameters(**GOOD)
    with pytest.raises(ValueError, match=name):
        check_parameters(**{**GOOD, name: value})


def test_binary_masks_lose_the_curvature_continuous_factors_keep_it():
    masks = mask_experiment(3, 4, seed=0)
    assert len(masks) == 2 * (len(MASK_RCONDS) + 1)
    ratio = masks.set_index(["neighbourhood", "setting", "rcond"]).ratio
    assert ratio.loc[("binary masks", "paper")].max() < 0.1
    assert ratio.loc[("continuous factors", "paper", 1e-6)] == pytest.approx(1, rel=0.05)
    assert ratio.loc[("continuous factors", "robust")].iloc[0] == pytest.approx(1, rel=0.05)


def test_units_experiment_and_where_paper_mode_lost_the_curvature():
    units = units_experiment(5, 0.2, seed=0)
    assert len(units) == (len(UNIT_SCALES) + len(UNIT_RADII)) * 2 * 2
    robust = units[(units["mode"] == "robust") & (units.sweep == "scale")]
    assert robust.value.max() / robust.value.min() - 1 < 1e-3  # scale-free
    lost = lost_at(units, "scale", "float64")
    assert lost is not None and lost < 1.0


def test_lost_at_reads_the_largest_setting_below_half():
    units = pd.DataFrame(dict(sweep="scale", mode="paper max |κ|", precision="float64", x=[1e-4, 1e-2, 1.0],
                              value=[0.0, 0.4, 1.0]))
    assert lost_at(units, "scale", "float64") == 1e-2
    assert lost_at(units.assign(value=1.0), "scale", "float64") is None
