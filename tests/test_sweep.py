"""The sweep (python -m latentgeom sweep): its plan covers the pages' models and profiles, its
units pickle, it runs on local processes and on a REAL single-node Slurm, and the book then
executes without training.

The Slurm test starts the cluster with scripts/start-slurm.sh (root, Debian packages munge,
slurmctld, slurmd, slurm-client: scripts/setup-system.sh installs them). Without them it
skips, except under CI (``CI`` set), where it fails.
"""
from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

import latentgeom as lg
from latentgeom import sweep
from latentgeom.chapters import ladder
from latentgeom.chapters.protocol import page_parameters
from latentgeom.networks import model_cache
from latentgeom.units import Computation, Images, Profile, Train, untrained

from notebooks import execute

ROOT = Path(__file__).resolve().parents[1]
TINY = lg.get_preset("tiny")


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty model/profile caches and results for one test (jobs inherit the environment)."""
    monkeypatch.setenv("LATENTGEOM_CACHE", str(tmp_path / "cache" / "models"))
    monkeypatch.setenv("LATENTGEOM_RESULTS", str(tmp_path / "results"))
    for name in ("LATENTGEOM_NO_TRAIN", "LATENTGEOM_NO_COMPUTE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


# --------------------------------------------------------------------------------------------
# The plan


def _trains(units):
    return {u.config.key(): u.config for u in units if isinstance(u, Train)}


def test_the_chapters_are_found_by_their_pages():
    found = sweep.chapters()
    assert {"curvature", "getting-started", "own-network", "toroids"} <= set(found)
    for name, chapter in found.items():
        assert sweep.pages_of(chapter), name


@pytest.mark.parametrize("chapter", sorted(sweep.chapters()))
def test_plan_is_every_page_own_plan(chapter):
    """The sweep computes exactly what each page measures: every unit of every page's
    ``study.plan()`` (at the page's own parameters), and a Train unit for every profiled model
    with the checkpoint epochs its profiles read."""
    units = sweep.plan("tiny", [chapter])
    trains = _trains(units)
    for page in sweep.pages_of(sweep.chapters()[chapter]):
        study = page.study(**({"preset": "tiny"} if "preset" in page.parameters else {}))
        for unit in study.plan():
            if isinstance(unit, Train):
                assert unit.config.key() in trains
                continue
            assert unit in units, unit.name
            if isinstance(unit, Profile):
                config = trains[unit.model_key]
                assert unit.epoch in {config.epochs, *config.checkpoint_epochs}
    assert all(a != b for i, a in enumerate(units) for b in units[i + 1:])  # no repeats


def test_plan_covers_the_curvature_pages():
    units = sweep.plan("tiny", ["curvature"])
    trains = _trains(units)
    for config in TINY.zoo():  # the zoo with its checkpoints (findings 1, 3, 4)
        assert trains[config.key()].checkpoint_epochs == config.checkpoint_epochs
        assert untrained(config).key() in trains or config.width != max(TINY.widths)  # finding 2
    for config in TINY.recipes().values():  # finding 5
        assert config.key() in trains
    # The second training seed of each page's re-seeded member is trained too.
    assert replace(TINY.config(TINY.architectures[0], max(TINY.widths)), seed=1).key() in trains
    # The curvature profiles of the pages, and the training ladder's units (pages 1, 3 and 4
    # attribute their verdicts from it): nothing else.
    ladder_units = set(ladder.PAGES["training-ladder"].study(preset="tiny").plan())
    profiles = [u for u in units if isinstance(u, Profile) and u not in ladder_units]
    assert profiles and all(u.kind == "curvature" for u in profiles)
    assert {u for u in ladder_units if isinstance(u, Profile)} <= set(units)  # its trainings come with them


def test_plan_covers_the_getting_started_page():
    [unit] = sweep.plan("tiny", ["getting-started"])
    values = page_parameters("getting-started.md")
    assert isinstance(unit, Train)
    assert (unit.config.model, unit.config.epochs, unit.config.n_train) == (values["model"], values["epochs"],
                                                                           values["n_train"])


def test_plan_covers_the_own_network_guide():
    from latentgeom.networks.external import TorchvisionConfig

    [unit] = sweep.plan("tiny", ["own-network"])
    values = page_parameters("guides/measure-your-own-network.md")
    assert isinstance(unit, Computation) and unit.function == "train_torchvision"
    assert unit.args == (TorchvisionConfig(values["architecture"], image_size=values["image_size"],
                                           n_train=values["n_train"], epochs=values["epochs"], seed=values["seed"]),)


def test_plan_covers_the_toroids_page():
    from latentgeom.chapters import toroids

    units = sweep.plan("tiny", ["toroids"])
    values = page_parameters("findings/toroids-landscape.md")
    assert all(isinstance(u, Computation) and (u.module, u.function) == ("latentgeom.chapters.toroid_grid", "run")
               for u in units)
    settings = toroids.SETTINGS("tiny", n_train=values["n_train"])
    assert [u.args for u in units] == [(settings, values["seed"] + k) for k in range(values["n_seeds"])]
    assert pickle.loads(pickle.dumps(units)) == units and len(sweep.jobs_of(units)) == values["n_seeds"]


@pytest.mark.slow
def test_toroids_swept_then_the_page_computes_nothing(caches, monkeypatch):
    units = sweep.plan("tiny", ["toroids"])
    assert not any(u.done() for u in units)
    report = sweep.sweep("tiny", executor="local", units=units, logs=caches / "logs", poll_s=0.5)
    assert report.ok and report.jobs == len(units), report.failed
    assert all(u.done() for u in units)
    monkeypatch.setenv("LATENTGEOM_NO_COMPUTE", "1")  # a miss would raise: no training, no measuring
    execute("book/findings/toroids-landscape.md", caches, preset="tiny")
    assert (caches / "results" / "findings" / "toroids-1-flatness-generalisation.json").is_file()


def test_units_pickle_and_jobs_group_by_model():
    units = sweep.plan("tiny", ["curvature"])
    assert pickle.loads(pickle.dumps(units)) == units
    jobs = sweep.jobs_of(units)
    assert len(jobs) == len(_trains(units))
    for job in jobs:
        assert isinstance(job[0], Train) and len({u.model_key for u in job}) == 1
    packed = sweep.jobs_of(units, max_jobs=2)
    assert len(packed) == 2 and sorted(map(id, (u for j in packed for u in j))) == sorted(map(id, units))
    with pytest.raises(ValueError, match="max_jobs"):
        sweep.jobs_of(units, max_jobs=0)


def test_bad_input_fails_clearly():
    with pytest.raises(ValueError, match="preset must be one of .* got 'nope'"):
        sweep.plan("nope")
    with pytest.raises(ValueError, match="chapter"):
        sweep.plan("tiny", ["no-such-chapter"])
    with pytest.raises(ValueError, match="executor"):
        sweep.sweep("tiny", executor="kubernetes", units=[])
    with pytest.raises(ValueError, match="kind"):
        Profile("volume", TINY.zoo()[0], 2, Images(TINY.dataset, n=10))
    with pytest.raises(SystemExit):
        sweep.main(["--preset", "nope", "--dry-run"])


def test_command_line_help(capsys):
    from latentgeom.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "--executor" in text and "--partition" in text and "--gpus-per-job" in text
    assert main(["nope"]) == 2 and main([]) == 2 and "sweep" in capsys.readouterr().out


def test_job_threads_follow_the_allocation(monkeypatch):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert sweep.job_threads() == 3
    assert sweep.job_threads(1) == 1
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    assert sweep.job_threads() == len(os.sched_getaffinity(0))


# --------------------------------------------------------------------------------------------
# Running: local processes


def _small_units():
    config = lg.TrainConfig(model="plain_cnn", width=2, n_train=128, n_test=64, epochs=1, batch_size=64)
    images = Images(TINY.dataset, n=20, seed=0)
    geometry = TINY.geometry(seed=0)
    good = [Train(config), Profile.curvature(config, 1, images, geometry)]
    bad = Profile.curvature(replace(config, seed=1), 3, images, geometry)  # epoch 3 was never saved
    return good, bad


@pytest.mark.slow
def test_local_executor_runs_resumes_and_reports_failures(caches, capsys):
    good, bad = _small_units()
    report = sweep.sweep("tiny", executor="local", units=[*good, bad], parallel=2, logs=caches / "logs", poll_s=0.5)
    assert report.executor == "local" and report.units == 3 and report.cached == 0 and report.jobs == 2
    assert len(report.results) == 1 and report.results[0]["slurm_job_id"] is None
    assert report.results[0]["threads"] == 1
    [failed] = report.failed
    assert Path(failed["log"]).is_file() and "is not saved" in Path(failed["log"]).read_text()
    assert failed["units"] == [bad.name] and "is not saved" in failed["error"]
    assert "FAILED" in capsys.readouterr().out  # reported with its log path as it happens
    assert all(u.done() for u in good) and not bad.done()
    again = sweep.sweep("tiny", executor="local", units=good)
    assert again.jobs == 0 and again.cached == 2 and again.ok


# --------------------------------------------------------------------------------------------
# Running: a real single-node Slurm


def _require(reason_if_missing: str | None):
    if reason_if_missing is None:
        return
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason_if_missing} (CI is set: the Slurm test must run; see scripts/setup-system.sh)")
    pytest.skip(reason_if_missing)


@pytest.fixture(scope="module")
def slurm():
    """A running single-node Slurm (scripts/start-slurm.sh)."""
    missing = [c for c in ("munged", "slurmctld", "slurmd", "sbatch", "squeue") if shutil.which(c) is None
               and not Path("/usr/sbin", c).exists()]
    _require("starting Slurm needs root" if os.geteuid() != 0 else
             f"Slurm is not installed ({', '.join(missing)} missing; scripts/setup-system.sh installs "
             "munge slurmctld slurmd slurm-client)" if missing else None)
    out = subprocess.run(["bash", str(ROOT / "scripts" / "start-slurm.sh")], capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, f"scripts/start-slurm.sh failed:\n{out.stdout}\n{out.stderr}"
    assert sweep.slurm_available()


@pytest.mark.slow
def test_tiny_zoo_on_slurm_then_the_page_trains_nothing(slurm, caches, monkeypatch):
    units = sweep.plan("tiny", ["curvature"])
    # Two jobs (the models dealt between them) keep the test to a couple of minutes on 2 cores.
    report = sweep.sweep("tiny", executor="auto", units=units, max_jobs=2, logs=caches / "logs", poll_s=1)
    assert report.executor == "slurm" and report.ok, report.failed
    assert len(report.results) == report.jobs == 2
    ids = [r["slurm_job_id"] for r in report.results]
    assert all(ids) and len(set(ids)) == 2  # every job ran under Slurm, as its own job
    assert all(r["job_id"] and "_" in r["job_id"] for r in report.results)  # tasks of one array
    jobcomp = Path("/var/log/slurm/jobcomp.log")  # start-slurm.sh's job completion log (no sacct here)
    if jobcomp.is_file():
        def completed():
            lines = jobcomp.read_text().splitlines()
            return all(any(l.startswith(f"JobId={i} ") and "JobState=COMPLETED" in l for l in lines) for i in ids)

        deadline = time.time() + 60  # slurmctld records a job shortly after its result is written
        while not completed() and time.time() < deadline:
            time.sleep(1)
        assert completed(), f"jobs {ids} not recorded as COMPLETED in {jobcomp}"
    assert sum(len(r["units"]) for r in report.results) == len(units)
    assert all(u.done() for u in units)  # every model and profile is in the caches
    for config in TINY.zoo():
        assert model_cache.has(config.key(), {config.epochs, *config.checkpoint_epochs})

    again = sweep.sweep("tiny", executor="slurm", units=units)  # a second run resumes: nothing left
    assert again.jobs == 0 and again.cached == len(units)

    monkeypatch.setenv("LATENTGEOM_NO_COMPUTE", "1")  # a miss would raise: no training, no profiling
    execute("book/findings/curvature-1-profile-shape.md", caches, preset="tiny")
    assert (caches / "results" / "findings" / "curvature-1-profile-shape.json").is_file()
