"""latentgeom.chapters.trajectories without training: the run grid, checkpoint steps, settings validation."""
from __future__ import annotations

import pytest

from latentgeom.networks.training import steps_per_epoch
from latentgeom.chapters import trajectories as tj


def test_default_grid_has_one_factor_variants_and_dense_early_checkpoints():
    S = tj.trajectory_settings("default")
    runs = tj.run_grid(S)
    assert len(runs) >= 12 and len({r.name for r in runs}) == len(runs)
    assert len({r.config.key() for r in runs}) == len(runs)
    assert {r.factors["architecture"] for r in runs} == {"mlp", "plain_cnn", "vgg_small", "resnet_small"}
    assert {r.factors["optimizer"] for r in runs} == {"sgd", "adam"}
    base = {(r.factors["architecture"], r.factors["width"]): r for r in runs if r.name.count(" ") == 1}
    for r in runs:
        if r.name.count(" ") > 1:  # a variant: differs from its base run in exactly one factor
            ref = base[(r.factors["architecture"], r.factors["width"])]
            assert len(r.differs(ref)) == 1, r.name
    config = runs[0].config
    assert steps_per_epoch(config) == 32
    assert config.checkpoint_steps == (0, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128)
    # every run trains on the same images, whatever its seed
    assert {r.config.data_seed for r in runs} == {S.seed}


def test_settings_overrides_and_bad_values():
    S = tj.trajectory_settings("tiny", n_probe=10, architectures=["mlp", "plain_cnn"])
    assert S.name == "tiny" and S.n_probe == 10 and S.architectures == ("mlp", "plain_cnn")
    with pytest.raises(ValueError, match="preset must be one of"):
        tj.trajectory_settings("huge")
    with pytest.raises(ValueError, match="unknown trajectory settings field"):
        tj.trajectory_settings("tiny", n_probes=3)
    with pytest.raises(ValueError, match="n_probe .* must be <= n_train"):
        tj.trajectory_settings("tiny", n_probe=10_000)
    with pytest.raises(ValueError, match="variant_architectures must be among"):
        tj.trajectory_settings("tiny", variant_architectures=("vgg_small",))
    with pytest.raises(ValueError, match="checkpoints must start at 0"):
        tj.trajectory_settings("tiny", checkpoints=(0.5, 1))


def test_init_starts_choose_the_very_different_starts():
    S = tj.trajectory_settings("tiny", init_starts=("scaled", "shuffled"))
    starts = {r.factors["initialisation"] for r in tj.run_grid(S)}
    assert starts == {tj.DEFAULT_INIT, f"weights x{S.init_scale:g}",
                      f"pretrained {S.pretrain_epochs} ep on shuffled labels"}
    with pytest.raises(ValueError, match="init_starts must be among"):
        tj.trajectory_settings("tiny", init_starts=("zeros",))
