"""The training ladder (lib/latentgeom/chapters/ladder.py): set-up, rungs and plan, and the
findings' statistics and sides (ladder_findings.py), on the claims' own thresholds."""
import pytest

from latentgeom.chapters import ladder, ladder_findings
from latentgeom.chapters.curvature_claims import CLAIMS as CURVATURE
from latentgeom.chapters.id_claims import HUNCHBACK
from latentgeom.units import Profile, Train


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
    plan = study.plan()
    assert plan == list(dict.fromkeys(plan))
    assert {u.config for u in plan if isinstance(u, Train)} == {r.config for r in rungs}
    assert sum(isinstance(u, Profile) for u in plan) == len(rungs) * (2 + study.id_settings.n_classes)


def test_sides_come_from_the_claims_thresholds():
    F = ladder_findings.FINDINGS
    assert F["curvature-1-profile-shape"].side.threshold == CURVATURE["curvature-1-profile-shape"].thresholds[
        "final_ratio_min"]
    assert F["curvature-4-id-vs-curvature"].side.threshold == CURVATURE["curvature-4-id-vs-curvature"].thresholds[
        "indicative_rho"]
    assert F["id-1-hunchback"].side.threshold == HUNCHBACK.thresholds["fall_max"]
    assert F["id-3-last-layer-vs-accuracy"].side.direction == -1 and F["curvature-3-gap-accuracy"].side.direction == 1
    assert set(ladder.findings_table()["finding"]) == set(F)


def test_parameters_are_checked_by_name():
    with pytest.raises(ValueError, match="rungs"):
        ladder.setup("tiny", rungs=1)
    with pytest.raises(ValueError, match="preset"):
        ladder.setup("huge")
    with pytest.raises(ValueError, match="claim_id"):
        ladder.attribution_for("curvature-2-untrained", preset="tiny")


def test_a_claim_the_ladder_does_not_follow_is_undetermined_without_measuring():
    from latentgeom.chapters import curvature_claims, ladder
    from latentgeom.chapters.protocol import Outcome

    claim = curvature_claims.CLAIMS["curvature-2-untrained"]
    assert claim.id not in ladder.FINDINGS
    [outcome], table = ladder.attributed([Outcome(claim, {"a": True}, "reproduced", {}, "", "")], preset="tiny")
    assert table.empty and outcome.why == {"verdict": ladder.NOT_ON_LADDER.line}
    assert outcome.why["verdict"].startswith("undetermined: the training ladder does not follow")
