"""The training ladder (lib/latentgeom/chapters/ladder.py): set-up, rungs and plan, and the
findings' statistics and sides (ladder_findings.py), on the claims' own thresholds."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from latentgeom.chapters import curvature, ladder, ladder_findings
from latentgeom.chapters.curvature_claims import CLAIMS as CURVATURE
from latentgeom.chapters.id_claims import HUNCHBACK, WIDTH_AND_PCA
from latentgeom.units import Profile, Train, untrained


def test_rung_epochs_spread_over_the_run():
    assert ladder.rung_epochs(12, 3) == (4, 8, 12)
    assert ladder.rung_epochs(3, 3) == (1, 2, 3)
    assert ladder.rung_epochs(4, 3) == (1, 3, 4)
    assert ladder.rung_epochs(2, 3) == (1, 2)


def test_default_ladder_is_the_well_trained_recipe_on_every_seed_with_the_page_network_lowest():
    study = ladder.setup("default")
    rungs = study.rungs()
    assert {r.config.seed for r in rungs} == {0, 1} and {r.sample_seed for r in rungs} == {0, 1}
    vgg = [r for r in rungs if r.config.model == "vgg_small" and r.config.seed == 0]
    assert [r.source for r in vgg] == ["page", "ladder", "ladder", "ladder"]
    page, top = vgg[0].config, vgg[-1].config
    assert page.width == top.width == 16 and page.n_train == 12000 and top.n_train is None
    assert top.epochs == 3 and [r.epoch for r in vgg[1:]] == [1, 2, 3]
    # One untrained network per run and family: the page network's initialisation (same weights).
    assert {r.untrained.config for r in vgg} == {untrained(page)} and vgg[0].untrained.epoch == 0
    plan = study.plan()
    assert plan == list(dict.fromkeys(plan))
    assert {u.config for u in plan if isinstance(u, Train)} == {r.config for r in rungs} | {
        r.untrained.config for r in rungs} | {r.mixup.config for r in rungs if r.mixup}
    runs = len({(r.config.seed, r.config.model) for r in rungs})
    twins = sum(r.mixup is not None for r in rungs)
    assert twins == 2 * 4  # resnet_small's page rung and three ladder rungs in each of the two runs
    assert sum(isinstance(u, Profile) for u in plan) == len(rungs) * (2 + study.id_settings.n_classes) + runs + twins
    # PC-ID where the ID page measures it (its first pca_classes classes): the ID page's units.
    assert [dict(u.options)["with_pca"] for u in vgg[0].per_class] == [
        k < study.id_settings.pca_classes for k in range(study.id_settings.n_classes)]


def test_sides_come_from_the_claims_thresholds():
    F = ladder_findings.FINDINGS
    assert F["curvature-1-profile-shape"].side.threshold == CURVATURE["curvature-1-profile-shape"].thresholds[
        "final_ratio_min"]
    assert F["curvature-4-id-vs-curvature"].side.threshold == CURVATURE["curvature-4-id-vs-curvature"].thresholds[
        "indicative_rho"]
    assert F["id-1-hunchback"].side.threshold == HUNCHBACK.thresholds["fall_max"]
    assert F["id-3-last-layer-vs-accuracy"].side.direction == -1 and F["curvature-3-gap-accuracy"].side.direction == 1
    assert F["curvature-2-untrained"].side.threshold == CURVATURE["curvature-2-untrained"].thresholds[
        "trained_over_untrained_min"]
    assert F["id-2-pca-vs-twonn"].side.threshold == WIDTH_AND_PCA.thresholds["width_ratio_min"]
    assert list(ladder.findings_table()["finding"]) == [*F, *ladder_findings.OFF_LADDER]
    assert not set(F) & set(ladder_findings.OFF_LADDER)


def _profile(values, column="mapc"):
    return pd.DataFrame({"layer": [f"l{i}" for i in range(len(values))],
                         "relative_depth": np.linspace(0, 1, len(values)), column: values})


def test_curvature_2_statistic_is_the_final_jump_over_the_untrained_networks():
    trained, start = _profile([1.0, 4.0, 5.0, 5.0, 15.0]), _profile([1.0, 1.0, 1.0, 2.0, 3.0])
    id_profile = pd.DataFrame({"layer": ["input", "a", "b", "logits"], "id_mean": [10.0, 20.0, 10.0, 2.0],
                               "layer_width": [784, 400, 500, 10]})
    stats = ladder_findings.rung_statistics(ladder_findings.Rung(
        trained.rename(columns={"mapc": "mapc_paper"}), id_profile, 5.0,
        start.rename(columns={"mapc": "mapc_paper"})))
    assert stats["curvature-2-untrained/paper"] == pytest.approx((15 / 5) / (3 / 2))
    # ID 2: the smallest width / TwoNN ID over the hidden layers (input and logits left out).
    assert stats["id-2-pca-vs-twonn/twonn"] == pytest.approx(min(400 / 20, 500 / 10))
    # Without the untrained profile the statistic is undefined, never a number.
    bare = ladder_findings.rung_statistics(ladder_findings.Rung(trained.rename(columns={"mapc": "mapc_paper"}),
                                                                id_profile, 5.0))
    assert np.isnan(bare["curvature-2-untrained/paper"])


def test_parameters_are_checked_by_name():
    with pytest.raises(ValueError, match="rungs"):
        ladder.setup("tiny", rungs=1)
    with pytest.raises(ValueError, match="preset"):
        ladder.setup("huge")
    with pytest.raises(ValueError, match="claim_id"):
        ladder.attribution_for("id-4-untrained-random-labels", preset="tiny")


def test_a_claim_the_ladder_does_not_follow_is_undetermined_without_measuring():
    from latentgeom.chapters import id_claims, ladder
    from latentgeom.chapters.protocol import Outcome

    claim = id_claims.TRAINING
    assert claim.id not in ladder.FINDINGS
    [outcome], table = ladder.attributed([Outcome(claim, {"a": True}, "reproduced", {}, "", "")], preset="tiny")
    assert outcome.why == {"verdict": ladder.not_on_ladder(claim.id).line}
    assert outcome.why["verdict"].startswith("undetermined: not on the training ladder: its statistics are of "
                                             "untrained networks")
    assert table.to_dict("records") == [dict(finding=claim.id, instrument="every", verdict="reproduced",
                                             shown="reproduced", why="undetermined",
                                             reason=ladder.not_on_ladder(claim.id).reason)]
    # With several instruments the row names each one's verdict.
    modes = {"paper": "partly reproduced", "scale-free": "reproduced"}
    _, table = ladder.attributed([Outcome(claim, {"a": True}, "partly reproduced", {}, "", "", modes=modes)],
                                 preset="tiny")
    assert table["verdict"].tolist() == ["paper: partly reproduced / scale-free: reproduced"]
    # A claim with no reason of its own gets the generic one.
    assert ladder.not_on_ladder("another-claim") is ladder.NOT_ON_LADDER


def test_every_curvature_and_id_claim_is_on_the_ladder_or_says_why_not():
    from latentgeom.chapters.id_claims import CLAIMS as ID

    assert set(CURVATURE) | set(ID) == set(ladder_findings.FINDINGS) | set(ladder_findings.OFF_LADDER)


def test_mixup_statistic_is_the_mixup_pages_median_middle_ratio_and_undefined_without_a_twin():
    base, mixed = _profile([1.0, 4.0, 8.0, 2.0, 20.0]), _profile([1.0, 1.0, 2.0, 1.0, 18.0])
    id_profile = pd.DataFrame({"layer": ["input", "a", "logits"], "id_mean": [10.0, 20.0, 2.0],
                               "layer_width": [784, 400, 10]})
    column = {"mapc": "mapc_paper"}
    stats = ladder_findings.rung_statistics(ladder_findings.Rung(
        base.rename(columns=column), id_profile, 5.0, mixup_profile=mixed.rename(columns=column)))
    # The middle layers (between input and logits): 1/4, 2/8, 1/2 -> median 1/4 (the page's check).
    assert stats["curvature-5-mixup/paper"] == pytest.approx(0.25)
    side = ladder_findings.FINDINGS["curvature-5-mixup"].side
    assert side.threshold == CURVATURE["curvature-5-mixup"].thresholds["middle_ratio_max"] and side.direction == -1
    bare = ladder_findings.rung_statistics(ladder_findings.Rung(base.rename(columns=column), id_profile, 5.0))
    assert np.isnan(bare["curvature-5-mixup/paper"])


def test_default_ladder_trains_the_mixup_pages_family_with_mixup_on_the_same_rungs():
    study = ladder.setup("default")
    family = study.preset.mixup_architecture
    assert study.mixup_family == family == "resnet_small"
    rungs = [r for r in study.rungs() if r.config.model == family and r.config.seed == 1]
    twins = [r.mixup for r in rungs]
    assert all(t is not None for t in twins)  # the page rung included
    alpha = study.preset.recipes()["mixup"].mixup_alpha
    for twin, rung in zip(twins[:2], rungs[:2]):  # the page rung and the well-trained run
        mix = twin.config
        assert mix == replace(rung.config, mixup_alpha=alpha)
        # What the mixup page's recipe changes in its baseline, and nothing else.
        assert [f for f in mix.__dataclass_fields__ if getattr(mix, f) != getattr(rung.config, f)] == ["mixup_alpha"]
        assert Train(mix) in study.plan()
    # The page rung's twin: the mixup page's own recipe at the ladder's width.
    assert twins[0].config == replace(study.preset.recipes()["mixup"], width=16, seed=1,
                                      checkpoint_epochs=study.preset.checkpoint_epochs)
    # The page rung is the zoo's member itself, measured on the pages' samples: its profiles
    # and the untrained networks' are the curvature pages' own units.
    page = curvature.setup("curvature-1-profile-shape", "default")
    own = {u for run in page.runs for u in page.units(run)}
    assert Train(page.configs(page.runs[0])[0]) in study.plan()
    assert study.preset.n_points == page.preset.n_points == 300
    for r in study.rungs():
        assert r.untrained in own and (r.curvature in own) == (r.source == "page")
    assert [t.epoch for t in twins] == [r.epoch for r in rungs]
    assert all(t.images == r.curvature.images and t.geometry == r.curvature.geometry for t, r in zip(twins, rungs))
    assert all(t in study.plan() for t in twins)
    assert not any(r.mixup for r in study.rungs() if r.config.model != family)
    # Switched off, or a mixup family the ladder does not train: no twins.
    off = replace(study, settings=replace(study.settings, mixup=False))
    assert off.mixup_family is None and not any(r.mixup for r in off.rungs())
    with pytest.raises(ValueError, match="mixup"):
        ladder.LadderSettings(mixup="yes")


def test_mixup_finding_is_ranked_by_the_lower_accuracy_of_its_pair_on_its_own_rungs():
    study = ladder.setup("tiny")
    rows = []
    for run in (0, 1):
        for family in ("vgg_small", "resnet_small"):
            for rung, acc in enumerate((0.80, 0.85, 0.95)):
                twin = family == "resnet_small"
                rows.append(dict(run=run, family=family, rung=rung, test_accuracy=acc,
                                 mixup_test_accuracy=acc - 0.1 if twin else np.nan,
                                 mixup_pair_test_accuracy=acc - 0.1 if twin else np.nan,
                                 **{"curvature-5-mixup/paper": (1.0 - 0.3 * rung) if twin else np.nan}))
    found = study.attributions(pd.DataFrame(rows))["curvature-5-mixup"]["paper"]
    # The ratio falls toward <= 0.5 as the pair trains better: training scale, on resnet_small only,
    # with the top rung at the mixup network's 0.85.
    assert found.kind == "training scale"
    assert found.numbers["top_rung_accuracy"] == {"resnet_small": pytest.approx(0.85)}


def test_a_ladder_without_a_mixup_run_leaves_the_mixup_finding_undetermined_without_failing():
    study = ladder.setup("tiny")
    rows = [dict(run=run, family="vgg_small", rung=rung, test_accuracy=0.8 + 0.05 * rung,
                 mixup_test_accuracy=np.nan, mixup_pair_test_accuracy=np.nan,
                 **{"curvature-5-mixup/paper": np.nan, "curvature-1-profile-shape/paper": 1.0 + rung})
            for run in (0, 1) for rung in range(3)]
    found = study.attributions(pd.DataFrame(rows))
    assert found["curvature-5-mixup"] == {"paper": ladder.NO_RUNGS}
    table = ladder.attribution_table(found)
    assert table.set_index("finding").loc["curvature-5-mixup", "why"] == "undetermined"
    # A page measuring mixup on another family than the ladder's is off the ladder, with why.
    from latentgeom.chapters.protocol import Outcome

    claim = CURVATURE["curvature-5-mixup"]
    why = "this page trains mixup on vgg_small, the ladder follows resnet_small"
    [outcome], table = ladder.attributed([Outcome(claim, {"a": True}, "reproduced", {}, "", "")], preset="tiny",
                                         off_ladder={claim.id: why})
    assert outcome.why == {"verdict": ladder.not_on_ladder(claim.id, why).line}
    assert why in outcome.why["verdict"] and table["why"].tolist() == ["undetermined"]
