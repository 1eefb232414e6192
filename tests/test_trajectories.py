"""latentgeom.chapters.trajectories without training: the run grid, checkpoint steps, settings and
parameter validation, the page's plan, the claims and their checks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latentgeom.chapters import trajectories as tj
from latentgeom.chapters import trajectory_runs as runs_module
from latentgeom.chapters import trajectory_tables as tables
from latentgeom.chapters.protocol import Claim, Outcome
from latentgeom.networks.training import steps_per_epoch
from latentgeom.units import Train


def test_default_grid_has_one_factor_variants_and_dense_early_checkpoints():
    S = tj.SETTINGS("default")
    runs = runs_module.run_grid(S)
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
    S = tj.SETTINGS("tiny", n_probe=10, architectures=["mlp", "plain_cnn"])
    assert S.name == "tiny" and S.n_probe == 10 and S.architectures == ("mlp", "plain_cnn")
    with pytest.raises(ValueError, match="preset must be one of"):
        tj.SETTINGS("huge")
    with pytest.raises(ValueError, match="unknown trajectory settings field"):
        tj.SETTINGS("tiny", n_probes=3)
    with pytest.raises(ValueError, match="n_probe .* must be <= n_train"):
        tj.SETTINGS("tiny", n_probe=10_000)
    with pytest.raises(ValueError, match="variant_architectures must be among"):
        tj.SETTINGS("tiny", variant_architectures=("vgg_small",))
    with pytest.raises(ValueError, match="checkpoints must start at 0"):
        tj.SETTINGS("tiny", checkpoints=(0.5, 1))


def test_init_starts_choose_the_very_different_starts():
    S = tj.SETTINGS("tiny", init_starts=("scaled", "shuffled"))
    starts = {r.factors["initialisation"] for r in runs_module.run_grid(S)}
    assert starts == {runs_module.DEFAULT_INIT, f"weights x{S.init_scale:g}",
                      f"pretrained {S.pretrain_epochs} ep on shuffled labels"}
    with pytest.raises(ValueError, match="init_starts must be among"):
        tj.SETTINGS("tiny", init_starts=("zeros",))


@pytest.mark.parametrize("preset", ["tiny", "default"])
def test_the_page_plans_what_the_old_work_units_returned(preset):
    """``work_units(preset)`` (deleted) was: the settings at the page's n_train, epochs, n_probe
    and seed, and one Train unit per run of their grid. The page's study plans the same units."""
    [page] = tj.PAGES.values()
    values = page.defaults()
    S = tj.SETTINGS(preset, **{k: values.get(k) for k in ("n_train", "epochs", "n_probe", "seed")})
    old = [Train(run.config) for run in runs_module.run_grid(S)]
    plan = page.study(preset).plan()
    assert all(isinstance(u, Train) for u in plan) and len(plan) == len(old)
    assert sorted(u.config.key() for u in plan) == sorted(u.config.key() for u in old)
    assert set(plan) == set(old)
    assert all(u.config.checkpoint_steps for u in plan)  # the page reads its step checkpoints
    assert len(plan) == {"tiny": 9, "default": 18}[preset]


def test_setup_takes_the_page_parameters():
    [page] = tj.PAGES.values()
    assert set(page.parameters) == set(page.defaults()) == {"preset", "n_train", "epochs", "n_probe", "seed"}
    study = tj.setup("tiny", n_train=128, epochs=1, n_probe=20, seed=3)
    S = study.settings
    assert (S.name, S.n_train, S.epochs, S.n_probe, S.seed) == ("tiny", 128, 1, 20, 3)
    assert study.parameters["name"] == "tiny" and study.parameters["n_train"] == 128  # result files' parameters
    assert {u.config.n_train for u in study.plan()} == {128}
    assert study.runs == runs_module.run_grid(S)


@pytest.mark.parametrize("bad, message", [
    (dict(n_probe=0), r"^n_probe must be an integer >= 1"),
    (dict(epochs="abc"), r"^epochs must be an integer >= 1"),
    (dict(preset="huge"), r"^preset must be one of \['tiny', 'default'\], got 'huge'"),
    (dict(n_train=2.5), r"^n_train must be an integer >= 1"),
    (dict(seed=-1), r"^seed must be an integer >= 0"),
])
def test_a_bad_parameter_raises_one_value_error_naming_it(bad, message):
    with pytest.raises(ValueError, match=message):
        tj.setup(**{"preset": "tiny", **bad})


def test_claims_carry_the_thresholds_fixed_before_the_data():
    assert list(tj.CLAIMS) == ["trajectories-1-low-dimension", "trajectories-2-architecture",
                               "trajectories-3-width", "trajectories-4-initialisation"]
    thresholds = {k: v for c in tj.CLAIMS.values() for k, v in c.thresholds.items()}
    assert thresholds == dict(STRESS_TOP3_MIN=0.5, MINOR_RATIO_MAX=0.5, SAME_PATH_RATIO_MAX=0.5, AHEAD_MIN=0.5,
                              SHARE_MIN=0.75, CONVERGE_RATIO_MAX=0.5, LATE_RATIO_MAX=0.5)
    for c in tj.CLAIMS.values():
        assert isinstance(c, Claim) and set(c.reasons) == set(c.thresholds) and all(c.reasons.values())
        assert c.source.startswith("Mao et al., PNAS 2024") and c.paper == {"statement": c.paper_value}
        assert list(c.thresholds_table().index) == list(c.thresholds)
    assert tj.MINOR == ("optimizer", "weight_decay", "augmentation", "seed")


class _InPCA:
    def __init__(self, stress, timelike=(False, True)):
        self.stress, self.timelike = np.asarray(stress), np.asarray(timelike)


def _tables(arch=1.0, minor=0.2, distance=0.3, ahead=0.75, d_end=0.1, d_late=0.2):
    embeddings = {"train": {"inpca": _InPCA([0.4, 0.55, 0.7])}, "test": {"inpca": _InPCA([0.3, 0.45, 0.6])}}
    pairs = pd.DataFrame(dict(factor=["architecture", "seed", "optimizer"], distance=[arch, minor, minor / 2]))
    factors = tables.factor_table(pairs)
    widths = pd.DataFrame(dict(architecture=["mlp", "plain_cnn"], distance=[distance, distance / 2],
                               progress_narrow=[0.1, 0.2], progress_wide=[0.2, 0.3], ahead=[ahead, 1.0]))
    inits = pd.DataFrame(dict(run=["mlp w2 scaled"], reference=["mlp w2"], d_start=[1.0], d_end=[d_end],
                              d_late=[d_late], progress_start=[0.05]))
    return embeddings, factors, widths, inits


def test_outcomes_keep_the_check_names_numbers_and_summaries():
    found = tj.outcomes(*_tables())
    assert [o.claim.id for o in found] == list(tj.CLAIMS) and all(isinstance(o, Outcome) for o in found)
    embeddings, factors, widths, inits = _tables()
    assert found == [tj.low_dimension(embeddings), tj.architecture(factors), tj.width(widths, 1.0),
                     tj.initialisation(inits, 1.0)]
    low, arch, width, init = found
    assert low.checks == {"chi_3 >= 0.5 on the train probes": True, "chi_3 >= 0.5 on the test probes": True}
    assert low.ours == {"train": {"chi_1": 0.4, "chi_2": 0.55, "chi_3": 0.7},
                        "test": {"chi_1": 0.3, "chi_2": 0.45, "chi_3": 0.6}, "timelike_components": 1}
    assert low.our_value == "chi_1,2,3 = 0.40, 0.55, 0.70 (train probes)"
    assert low.summary == "reproduced: top 3 InPCA components explain 70% (train) / 60% (test) of the stress."
    assert arch.checks == {"optimizer: median <= 0.5 x architecture median": True,
                           "seed: median <= 0.5 x architecture median": True}
    assert arch.ours["ratio_to_architecture"] == {"optimizer": 0.1, "seed": 0.2}
    assert arch.summary == "reproduced: architecture pairs median 1 nats; optimizer 0.1x, seed 0.2x."
    assert width.checks == {
        "same path (distance <= 0.5 x architecture median) for >= 75% of architectures": True,
        "wider further along (> 50% of checkpoints) for >= 75% of architectures": True}
    assert width.our_value == "narrow-vs-wide distance 0.15-0.3 (architecture median 1); " \
                              "wide ahead at 75%-100% of checkpoints"
    assert width.ours["architecture_median"] == 1.0 and width.ours["mlp"]["ahead"] == 0.75
    assert init.checks == {"converge: final distance <= 0.5 x initial, every run": True,
                           "similar manifold late: distance <= 0.5 x architecture median, every run": True}
    assert init.our_value == "d_end / d_start 0.10, late distance / architecture median 0.20 (worst run)"
    assert init.summary == "reproduced: final / initial distance 0.10-0.10; " \
                           "late-trajectory distance / architecture median 0.20-0.20."
    table = tj.verdict_table(found)
    assert table.index.names == ["claim", "check"] and len(table) == 8 and table["passed"].all()


def test_checks_fail_beyond_their_thresholds():
    low, arch, width, init = tj.outcomes(*_tables(minor=0.6, distance=0.8, ahead=0.5, d_end=0.6, d_late=0.6))
    assert low.verdict == "reproduced"
    assert arch.checks == {"optimizer: median <= 0.5 x architecture median": True,
                           "seed: median <= 0.5 x architecture median": False}
    assert arch.verdict == "partly reproduced" and arch.summary.startswith("partly reproduced: ")
    assert not any(width.checks.values()) and width.verdict == "not reproduced"  # 1 of 2 architectures: 50 %
    assert not any(init.checks.values())
