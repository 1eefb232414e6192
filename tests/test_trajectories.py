"""latentgeom.chapters.trajectories without training: the run grid, its replicates, checkpoint
steps, settings and parameter validation, the page's plan, the claims, their checks on constructed
tables (undecided -> not testable, replicates combined by seed agreement) and the tables on
made-up predictions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latentgeom.chapters import trajectories as tj
from latentgeom.chapters import trajectory_claims as claims
from latentgeom.chapters import trajectory_runs as runs_module
from latentgeom.chapters import trajectory_tables as tables
from latentgeom.chapters.protocol import Claim, Outcome
from latentgeom.reporting.findings import undecided
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
    with pytest.raises(ValueError, match="at least two different widths"):
        tj.SETTINGS("tiny", widths=(4, 4))


def test_init_starts_choose_the_very_different_starts():
    S = tj.SETTINGS("tiny", init_starts=("scaled", "shuffled"))
    starts = {r.factors["initialisation"] for r in runs_module.run_grid(S)}
    assert starts == {runs_module.DEFAULT_INIT, f"weights x{S.init_scale:g}",
                      f"pretrained {S.pretrain_epochs} ep on shuffled labels"}
    with pytest.raises(ValueError, match="init_starts must be among"):
        tj.SETTINGS("tiny", init_starts=("zeros",))


def test_replicates_reseed_every_run_and_draw_their_own_data():
    """Replicate r runs at seed + 2 r: every run's initialisation and data order (its "another
    seed" variant at + 1), its training subset and its probes; no run is shared between
    replicates, and no seed either."""
    S = tj.SETTINGS("tiny", seed=5, n_seeds=3)
    assert S.seeds == (5, 7, 9) and runs_module.SEED_STRIDE == 2
    assert S.replicate(5) == tj.SETTINGS("tiny", seed=5, n_seeds=3)  # the first replicate is the settings' own
    seeds_of = {}
    for seed in S.seeds:
        grid = runs_module.run_grid(S.replicate(seed))
        assert {r.config.data_seed for r in grid} == {seed}                 # the training subset
        assert {r.config.seed for r in grid} == {seed, seed + 1}             # initialisation, data order
        assert [r.name for r in grid if r.config.seed == seed + 1] == ["mlp w2 seed"]
        seeds_of[seed] = {r.config.seed for r in grid}
    assert not seeds_of[5] & seeds_of[7] and not seeds_of[7] & seeds_of[9]
    train_a, test_a = (x[0] for x in runs_module.probes(S.replicate(5)).values())
    train_b, test_b = (x[0] for x in runs_module.probes(S.replicate(7)).values())
    assert not np.array_equal(train_a.numpy(), train_b.numpy()) and not np.array_equal(test_a.numpy(), test_b.numpy())
    with pytest.raises(ValueError, match="seed must be one of the replicates' seeds"):
        S.replicate(6)
    with pytest.raises(ValueError, match="n_seeds must be an integer >= 1"):
        tj.SETTINGS("tiny", n_seeds=0)


@pytest.mark.parametrize("preset", ["tiny", "default"])
def test_the_page_plans_every_replicate_of_what_the_old_work_units_returned(preset):
    """``work_units(preset)`` (deleted) was: the settings at the page's n_train, epochs, n_probe
    and seed, and one Train unit per run of their grid; the page now plans that grid (same cache
    keys: the first replicate's numbers do not change) and one more per further replicate."""
    [page] = tj.PAGES.values()
    values = page.defaults()
    assert values["n_seeds"] == 2
    S = tj.SETTINGS(preset, **{k: values.get(k) for k in ("n_train", "epochs", "n_probe", "seed", "n_seeds")})
    old = [Train(run.config) for run in runs_module.run_grid(S)]
    plan = page.study(preset).plan()
    assert all(isinstance(u, Train) for u in plan) and len(set(plan)) == len(plan)
    assert set(old) <= set(plan)
    assert set(plan) == {Train(r.config) for s in S.seeds for r in runs_module.run_grid(S.replicate(s))}
    assert all(u.config.checkpoint_steps for u in plan)  # the page reads its step checkpoints
    assert len(plan) == {"tiny": 9, "default": 18}[preset] * 2


def test_setup_takes_the_page_parameters():
    [page] = tj.PAGES.values()
    names = {"preset", "n_train", "epochs", "n_probe", "seed", "n_seeds"}
    assert set(page.parameters) == set(page.defaults()) == names
    study = tj.setup("tiny", n_train=128, epochs=1, n_probe=20, seed=3, n_seeds=3)
    S = study.settings
    assert (S.name, S.n_train, S.epochs, S.n_probe, S.seed, S.n_seeds) == ("tiny", 128, 1, 20, 3, 3)
    assert study.parameters["name"] == "tiny" and study.parameters["n_seeds"] == 3  # result files' parameters
    assert {u.config.n_train for u in study.plan()} == {128}
    assert list(study.grids) == [3, 5, 7] and study.grids[3] == runs_module.run_grid(S)
    assert study.runs == [r for grid in study.grids.values() for r in grid]


@pytest.mark.parametrize("bad, message", [
    (dict(n_probe=0), r"^n_probe must be an integer >= 1"),
    (dict(epochs="abc"), r"^epochs must be an integer >= 1"),
    (dict(preset="huge"), r"^preset must be one of \['tiny', 'default'\], got 'huge'"),
    (dict(n_train=2.5), r"^n_train must be an integer >= 1"),
    (dict(seed=-1), r"^seed must be an integer >= 0"),
    (dict(n_seeds=0), r"^n_seeds must be an integer >= 1"),
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
        assert list(c.thresholds_table().index) == list(c.thresholds) and c.preconditions
    assert tj.MINOR == ("optimizer", "weight_decay", "augmentation", "seed")


# --------------------------------------------------------------------------------------------
# The claims on constructed tables


class _InPCA:
    def __init__(self, stress, timelike=(False, True)):
        self.stress, self.timelike = np.asarray(stress), np.asarray(timelike)


def _tables(arch=1.0, minor=0.2, distance=0.3, ahead=0.75, d_end=0.1, d_late=0.2, chi=0.7):
    """One replicate's tables: (embeddings, number of checkpoints, factors, widths, inits)."""
    points = pd.DataFrame({"run": ["a"] * 4})
    embeddings = {"train": {"inpca": _InPCA([0.4, 0.55, chi]), "points": points},
                  "test": {"inpca": _InPCA([0.3, 0.45, 0.6]), "points": points}}
    pairs = pd.DataFrame(dict(factor=["architecture", "seed", "optimizer", "weight_decay", "augmentation"],
                              distance=[arch, minor, minor / 2, minor / 4, minor / 8]))
    factors = tables.factor_table(pairs)
    widths = pd.DataFrame(dict(architecture=["mlp", "plain_cnn"], distance=[distance, distance / 2],
                               progress_narrow=[0.1, 0.2], progress_wide=[0.2, 0.3], ahead=[ahead, 1.0]))
    inits = pd.DataFrame(dict(run=["mlp w2 scaled"], reference=["mlp w2"], d_start=[1.0], d_end=[d_end],
                              d_late=[d_late], progress_start=[0.05]))
    return embeddings, 4, factors, widths, inits


def _evidence(tabled):
    embeddings, n, factors, widths, inits = tabled
    arch = tables.architecture_median(factors)
    return [claims.low_dimension(embeddings, n), claims.architecture(factors), claims.width(widths, arch),
            claims.initialisation(inits, arch)]


def _outcomes(*per_seed_tables):
    """The outcomes of replicates (seeds 0, 2, ...) given by their tables."""
    found = {2 * i: _evidence(t) for i, t in enumerate(per_seed_tables)}
    return [claims.outcome(c, {s: e[i] for s, e in found.items()}, runs=9) for i, c in enumerate(tj.CLAIMS.values())]


def test_evidence_keeps_the_check_names_numbers_and_texts():
    low, arch, width, init = _evidence(_tables())
    assert low.checks == {"chi_3 >= 0.5 on the train probes": True, "chi_3 >= 0.5 on the test probes": True}
    assert low.preconditions == {"all checkpoints of all runs embedded together": True}
    assert low.numbers == {"train": {"chi_1": 0.4, "chi_2": 0.55, "chi_3": 0.7},
                           "test": {"chi_1": 0.3, "chi_2": 0.45, "chi_3": 0.6}, "timelike_components": 1}
    assert low.text == "top 3 InPCA components explain 70% (train) / 60% (test) of the stress"
    assert arch.checks == {f"{f}: median <= 0.5 x architecture median": True for f in tj.MINOR}
    assert arch.numbers["ratio_to_architecture"]["seed"] == 0.2 and arch.verdict == "reproduced"
    assert width.checks == {
        "same path (distance <= 0.5 x architecture median) for >= 75% of architectures": True,
        "wider further along (> 50% of checkpoints) for >= 75% of architectures": True}
    assert width.numbers["architecture_median"] == 1.0 and width.numbers["mlp"]["ahead"] == 0.75
    assert init.checks == {"converge: final distance <= 0.5 x initial, every run": True,
                           "similar manifold late: distance <= 0.5 x architecture median, every run": True}
    assert init.text == "final / initial distance 0.10; late-trajectory distance / architecture median 0.20"


def test_checks_fail_beyond_their_thresholds():
    low, arch, width, init = _evidence(_tables(minor=0.6, distance=0.8, ahead=0.5, d_end=0.6, d_late=0.6))
    assert low.verdict == "reproduced"
    assert arch.checks["seed: median <= 0.5 x architecture median"] is False
    assert arch.checks["optimizer: median <= 0.5 x architecture median"] is True
    assert arch.verdict == "partly reproduced"
    assert not any(width.checks.values()) and width.verdict == "not reproduced"  # 1 of 2 architectures: 50 %
    assert not any(init.checks.values()) and init.verdict == "not reproduced"


def test_replicates_that_agree_give_their_verdict_with_the_agreement_and_spread():
    low, arch, width, init = _outcomes(_tables(), _tables(minor=0.3, chi=0.9))
    assert [o.claim.id for o in (low, arch, width, init)] == list(tj.CLAIMS)
    assert all(isinstance(o, Outcome) and o.verdict == "reproduced" for o in (low, arch, width, init))
    assert low.seeds == {"bhattacharyya": {"verdict": "reproduced", "majority": "reproduced", "agree": 2,
                                           "runs": 2, "per_seed": ("reproduced", "reproduced")}}
    assert low.spread == {"chi_3 (train probes)": [0.7, 0.9], "chi_3 (test probes)": [0.6, 0.6]}
    assert low.our_value == "chi_3 (train probes) 0.70 to 0.90; chi_3 (test probes) 0.60 (2 seeds)"
    assert low.summary.startswith("reproduced: 2 of 2 seeds reproduced. Seed 0 (reproduced): top 3 InPCA")
    assert arch.spread["seed / architecture median"] == [0.2, 0.3]
    assert low.checks == _evidence(_tables())[0].checks  # the first replicate's
    assert set(low.ours["per_seed"]) == {"seed 0", "seed 2"} and low.ours["replicates"] == 2
    assert low.ours["preconditions"] == {"all checkpoints of all runs embedded together": True}
    assert low.ours["per_seed"]["seed 2"]["train"]["chi_3"] == 0.9
    table = tj.verdict_table([low, arch, width, init])
    assert table.index.names == ["claim", "check"] and list(table.columns) == ["seed 0", "seed 2", "verdict",
                                                                               "seeds agree"]
    assert (table["seeds agree"] == "2/2").all() and len(table) == 3 + 6 + 4 + 4 + 4


def test_replicates_that_disagree_are_unstable_never_reproduced():
    low, arch, width, init = _outcomes(_tables(), _tables(minor=0.6, chi=0.3))
    assert low.verdict == arch.verdict == "unstable across seeds" and width.verdict == "reproduced"
    assert low.seeds["bhattacharyya"]["per_seed"] == ("reproduced", "partly reproduced")
    assert tj.verdict_table([low])["seeds agree"].iloc[0] == "1/2"


def test_a_grid_of_one_architecture_is_not_testable_where_it_needs_the_yardstick_never_a_crash():
    """No architecture pairs: claim 2 has no yardstick (it raised KeyError), and neither do the
    same-path check of claim 3 and the late check of claim 4: undecided, never passed."""
    embeddings, n, factors, widths, inits = _tables()
    pairs = pd.DataFrame(dict(factor=list(tj.MINOR), distance=[0.1, 0.2, 0.3, 0.4]))
    factors = tables.factor_table(pairs)
    assert np.isnan(tables.architecture_median(factors)) and factors["/ architecture"].isna().all()
    low, arch, width, init = _outcomes((embeddings, n, factors, widths, inits))
    assert low.verdict == "reproduced"
    for o in (arch, width, init):
        assert o.verdict == "not testable" and "precondition failed" in o.summary, o.claim.id
    assert set(arch.checks.values()) == {None}
    assert list(width.checks.values())[0] is None and list(width.checks.values())[1] is True
    assert list(init.checks.values()) == [True, None]
    assert arch.ours["preconditions"] == {"at least two architectures in the grid": False,
                                          "runs differing from a base run in one factor": True}


def test_a_missing_factor_or_start_or_a_nan_distance_is_undecided():
    embeddings, n, factors, widths, inits = _tables()
    arch = claims.architecture(factors.drop(index="augmentation"))
    assert arch.checks["augmentation: median <= 0.5 x architecture median"] is None
    assert arch.verdict == "not testable"
    assert "undecided: augmentation: median <= 0.5 x architecture median" in undecided(arch.checks)
    no_starts = claims.initialisation(inits.iloc[:0], 1.0)  # `.all()` of nothing would have passed
    assert set(no_starts.checks.values()) == {None} and no_starts.verdict == "not testable"
    apart = claims.initialisation(inits.assign(d_late=np.nan), 1.0)  # no common progress range
    assert list(apart.checks.values()) == [True, None] and apart.verdict == "not testable"
    nan_width = claims.width(widths.assign(distance=[0.1, np.nan]), 1.0)
    assert list(nan_width.checks.values())[0] is None and nan_width.verdict == "not testable"
    few = claims.low_dimension({p: {**e, "inpca": _InPCA([0.8, 0.9])} for p, e in embeddings.items()}, n)
    assert set(few.checks.values()) == {None} and few.verdict == "not testable"
    assert claims.low_dimension(embeddings, n + 1).verdict == "not testable"  # a checkpoint missing


def test_one_replicate_not_testable_makes_the_claim_not_testable_with_the_reason():
    low, arch, width, init = _outcomes(_tables(), _tables(d_late=np.nan))
    assert init.verdict == "not testable" and init.seeds["bhattacharyya"]["per_seed"] == ("reproduced",
                                                                                         "not testable")
    assert "Not decided: seed 2: undecided: similar manifold late" in init.summary
    assert init.spread["late distance / architecture median (worst run)"] == [0.2, 0.2]
    assert "(undefined for seed 2)" in init.our_value


# --------------------------------------------------------------------------------------------
# The tables on a grid without training: predictions that move from P0 towards the labels


def _trajectories(S, rng) -> runs_module.Trajectories:
    """What ``TrajectoriesStudy.collect`` gives for one replicate, with made-up predictions: every
    run moves from uniform towards the one-hot labels at its own (architecture-dependent) pace."""
    grid = runs_module.run_grid(S)
    labels = {k: rng.integers(0, 10, S.n_probe) for k in tables.PROBES}
    pace = {a: 0.3 + 0.6 * i / max(1, len(S.architectures) - 1) for i, a in enumerate(S.architectures)}
    rows, p = [], {k: [] for k in tables.PROBES}
    for run in grid:
        per = steps_per_epoch(run.config)
        for step in run.config.checkpoint_steps:
            rows.append(dict(run=run.name, step=step, epoch=step / per, **run.factors))
            t = pace[run.factors["architecture"]] * step / max(run.config.checkpoint_steps)
            for k in tables.PROBES:
                noisy = rng.dirichlet(np.ones(10), S.n_probe)
                p[k].append((1 - t) * (0.9 / 10 + 0.1 * noisy) + t * np.eye(10)[labels[k]])
    return runs_module.Trajectories(grid, pd.DataFrame(rows), {k: np.stack(v) for k, v in p.items()}, labels,
                                    pd.DataFrame({"run": [r.name for r in grid]}))


def test_a_grid_of_one_architecture_without_variants_runs_through_the_tables_to_not_testable():
    S = tj.SETTINGS("tiny", architectures=("mlp",), variant_architectures=(), init_architectures=())
    replicate = tables.analyse(_trajectories(S, np.random.default_rng(0)), S)
    assert replicate.pairs.factor.tolist() == ["width"] and np.isnan(replicate.architecture_median)
    assert replicate.inits.empty and list(replicate.inits.columns) == tables.INIT_COLUMNS
    low, arch, width, init = tj.outcomes({S.seed: replicate})
    assert low.verdict in ("reproduced", "partly reproduced", "not reproduced")
    assert arch.verdict == width.verdict == init.verdict == "not testable"
    none = tables.factor_table(tables.pair_distances(replicate.data, replicate.points).iloc[:0])
    assert none.empty and np.isnan(tables.architecture_median(none))


def test_the_tables_of_a_full_grid_decide_every_check_and_stack_replicates_apart():
    S = tj.SETTINGS("tiny")
    reps = {s: tables.analyse(_trajectories(S.replicate(s), np.random.default_rng(s)), S.replicate(s))
            for s in S.seeds}
    found = tj.outcomes(reps)
    assert all(v is not None for o in found for v in o.checks.values())
    assert all(o.ours["runs_per_replicate"] == 9 and o.ours["replicates"] == 2 for o in found)
    pairs = tables.stack({s: r.pairs for s, r in reps.items()}, runs=("run_a", "run_b"))
    assert list(pairs.columns[:2]) == ["seed", "factor"] and set(pairs.seed) == {0, 2}
    assert pairs.run_a.str.endswith(("(seed 0)", "(seed 2)")).all()
    assert pairs.run_a.nunique() > reps[0].pairs.run_a.nunique()
    factors = tables.stack({s: r.factors for s, r in reps.items()})
    assert "factor" in factors.columns and len(factors) == 2 * len(reps[0].factors)


def test_the_pages_charts_build_on_every_replicate():
    """The distance chart (it read a channel's ``.title``, altair's property setter, and failed to
    build), the progress chart and the trajectory chart on stacked replicates."""
    import latentgeom as lg

    S = tj.SETTINGS("tiny")
    reps = {s: tables.analyse(_trajectories(S.replicate(s), np.random.default_rng(s)), S.replicate(s))
            for s in S.seeds}
    pairs = tables.stack({s: r.pairs for s, r in reps.items()}, runs=("run_a", "run_b"))
    base = tables.stack({s: tables.base_points(r.points, S.replicate(s)) for s, r in reps.items()}, runs=("run",))
    charts = [lg.plots.distance_chart(pairs, title="d"), lg.plots.progress_chart(base, title="p"),
              lg.plots.trajectory_chart(reps[0].points, reps[0].embeddings["train"]["references"], title="t")]
    specs = [c.to_dict() for c in charts]
    assert specs[0]["layer"][1]["encoding"]["y"]["title"] == "trajectory distance (d_B, nats/example)"
    assert base.run.str.endswith(("(seed 0)", "(seed 2)")).all()
