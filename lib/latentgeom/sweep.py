"""Sweeps: compute what the book's pages need on a cluster (Slurm) or on local processes.

The pages train models and measure their profiles through caches (the model cache of
:func:`latentgeom.train`, the profile cache of :func:`latentgeom.profile` and
:func:`latentgeom.dimension_profile`). A sweep fills those caches ahead of time, so that
executing the book trains nothing::

    python -m latentgeom sweep --preset tiny                  # Slurm when present, else local processes
    python -m latentgeom sweep --preset paper --executor slurm --partition gpu --gpus-per-job 1

Work is described by *units*, small frozen dataclasses that pickle (submitit ships them to
the jobs): :class:`Train` (train one configuration, with its checkpoints), :class:`Profile`
(one model, at one epoch, measured on one image sample: a curvature or an ID profile) and
:class:`Computation` (a chapter's own cached function, for work that is not a
:class:`~latentgeom.TrainConfig`'s: the toroids chapter trains and measures its networks in
one). Each unit answers :meth:`done` by running its own cache lookup with computing switched
off (:func:`latentgeom.storage.lookup_only`), so "done" means exactly "the page will find it".

Registry: every study module in :mod:`latentgeom.chapters` that defines
``work_units(preset: str) -> list[unit]`` is a chapter of the sweep (curvature, intrinsic
dimension, the ladder, trajectories and the toroidal landscapes do); a new chapter registers
by defining that function, built from the same preset helpers its pages call. Page
parameters that the sweep must follow (``seed`` / ``seeds``) are read from the pages
themselves by :func:`page_seeds`.

Scheduling: the units of one model (train it, then every profile of it) form one job, run in
order; jobs are independent. Units already cached are skipped, so a second run resumes. Each
job sets its threads from the CPUs it was given (``SLURM_CPUS_PER_TASK``, or the local share),
so one job per core does not oversubscribe. Caches are safe under concurrency (see
:mod:`latentgeom.storage`): a sweep can run beside a notebook or a second sweep.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import math
import os
import pkgutil
import shutil
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Sequence

from tqdm import tqdm

from .networks import model_cache
from .networks.data import load_tensors
from .networks.training import TrainConfig, TrainedModel, load_checkpoint, train
from .paths import model_cache_dir
from .storage import CacheMiss, lookup_only
from .profiles import GeometryConfig, dimension_profile, profile
from .validation import check_choice, check_int

__all__ = ["EXECUTORS", "Computation", "Images", "Profile", "SweepReport", "Train", "chapters", "main", "page_parameters", "page_seeds", "plan",
           "run_job", "slurm_available", "sweep", "untrained"]

EXECUTORS = ("auto", "slurm", "local")
KINDS = ("curvature", "dimension")


# --------------------------------------------------------------------------------------------
# Units


def untrained(config: TrainConfig) -> TrainConfig:
    """The config of ``config``'s network at initialisation (what ``load_checkpoint(config, 0)``
    and the pages' untrained models are): same seed, 0 epochs."""
    return replace(config, epochs=0, checkpoint_epochs=())


def _label(config: TrainConfig, epoch: int | None = None) -> str:
    text = f"{config.model} w{config.width}"
    if config.epochs == 0:
        return text + " untrained"
    extra = [f"{config.epochs} ep"] + [name for name, on in (
        ("mixup", config.mixup_alpha > 0), ("manifold mixup", config.manifold_mixup_alpha > 0),
        ("random labels", config.random_labels)) if on]
    if epoch is not None and epoch != config.epochs:
        extra.append(f"@ep{epoch}")
    return f"{text} ({', '.join(extra)}) [{config.key()[:6]}]"


@dataclass(frozen=True)
class Train:
    """Train one configuration (and cache its checkpoint epochs)."""

    config: TrainConfig

    @property
    def model_key(self) -> str:
        return self.config.key()

    @property
    def name(self) -> str:
        return f"train {_label(self.config)}"

    def done(self) -> bool:
        return model_cache.has(self.model_key, {self.config.epochs, *self.config.checkpoint_epochs},
                               steps=self.config.checkpoint_steps)

    def run(self) -> None:
        train(self.config, progress=False)


@dataclass(frozen=True)
class Images:
    """An image sample, described instead of shipped: a job loads it with :meth:`load`.

    The fields are :func:`latentgeom.load_tensors`'s arguments; ``first`` keeps the first
    ``first`` images of the result (as a page slicing ``images[:first]``).
    """

    dataset: str
    split: str = "train"
    n: int | None = None
    per_class: int | None = None
    classes: tuple[int, ...] | None = None
    seed: int = 0
    first: int | None = None

    def load(self):
        return _load_images(self)


@lru_cache(maxsize=64)
def _load_images(spec: Images):
    images, _ = load_tensors(spec.dataset, split=spec.split, n=spec.n, per_class=spec.per_class,
                             classes=None if spec.classes is None else list(spec.classes), seed=spec.seed)
    return images if spec.first is None else images[:spec.first]


@dataclass(frozen=True)
class Profile:
    """One model (``config`` after ``epoch`` epochs) measured on one image sample.

    ``kind="curvature"``: :func:`latentgeom.profile` with ``geometry``; ``kind="dimension"``:
    :func:`latentgeom.dimension_profile` with the keyword arguments ``options`` (sorted
    ``(name, value)`` pairs; see :meth:`dimension`).
    """

    kind: str
    config: TrainConfig
    epoch: int
    images: Images
    geometry: GeometryConfig | None = None
    options: tuple = ()

    def __post_init__(self):
        check_choice(self.kind, "kind", KINDS)
        if (self.kind == "curvature") != (self.geometry is not None):
            raise ValueError("geometry is required for kind='curvature' and only for it")

    @classmethod
    def curvature(cls, config: TrainConfig, epoch: int, images: Images, geometry: GeometryConfig) -> "Profile":
        return cls("curvature", config, epoch, images, geometry=geometry)

    @classmethod
    def dimension(cls, config: TrainConfig, epoch: int, images: Images, **options) -> "Profile":
        if options.get("layers") is not None:
            options["layers"] = tuple(options["layers"])
        return cls("dimension", config, epoch, images, options=tuple(sorted(options.items())))

    @property
    def model_key(self) -> str:
        return self.config.key()

    @property
    def name(self) -> str:
        return f"{self.kind} profile of {_label(self.config, self.epoch)} on {self.images.n or self.images.per_class}" \
               f" images (seed {self.images.seed})"

    def _measure(self, trained):
        images = self.images.load()
        if self.kind == "curvature":
            return profile(trained, images, self.geometry, progress=False)
        options = dict(self.options)
        if options.get("layers") is not None:
            options["layers"] = list(options["layers"])
        return dimension_profile(trained, images, **options)

    def done(self) -> bool:
        stub = TrainedModel(None, self.config, self.epoch, math.nan, math.nan)  # the lookup needs no weights
        with lookup_only():
            try:
                self._measure(stub)
            except CacheMiss:
                return False
        return True

    def run(self) -> None:
        if self.epoch == self.config.epochs:
            trained = train(self.config, progress=False)
        else:
            trained = load_checkpoint(self.config, self.epoch)
        self._measure(trained)


@dataclass(frozen=True)
class Computation:
    """A chapter's own cached computation, ``module.function(*args, **dict(kwargs))``: one job.

    For work that is not a :class:`Train` or a :class:`Profile` (the toroids chapter's
    :func:`latentgeom.chapters.landscapes.run` trains and measures its networks in one call).
    The function must cache everything it computes through :mod:`latentgeom.storage`, so that
    under :func:`~latentgeom.storage.lookup_only` a miss raises :class:`CacheMiss`: that is how
    :meth:`done` asks. The function is named, not held, so the unit pickles by name.
    """

    module: str
    function: str
    args: tuple = ()
    kwargs: tuple = ()  # sorted (name, value) pairs
    label: str = ""

    @property
    def model_key(self) -> str:  # its own job
        return f"{self.module}.{self.function}{self.args!r}{self.kwargs!r}"

    @property
    def name(self) -> str:
        return self.label or f"{self.module}.{self.function}"

    def _call(self):
        return getattr(importlib.import_module(self.module), self.function)(*self.args, **dict(self.kwargs))

    def done(self) -> bool:
        with lookup_only():
            try:
                self._call()
            except CacheMiss:
                return False
        return True

    def run(self) -> None:
        self._call()


# --------------------------------------------------------------------------------------------
# Registry and plan


def _getting_started(preset: str) -> list:
    """The model of ``book/getting-started.md`` (no preset: its own parameters, at any preset)."""
    values = page_parameters("getting-started.md")
    if "model" not in values:
        return []
    names = ("dataset", "model", "epochs", "n_train", "seed")
    return [Train(TrainConfig(**{k: values[k] for k in names if k in values}))]


def _own_network_guide(preset: str) -> list:
    """The torchvision model of ``book/guides/measure-your-own-network.md`` (no preset: its own
    parameters); none when the page loads a checkpoint. Its profiles stay on the page."""
    from .networks.external import TorchvisionConfig

    values = page_parameters("guides/measure-your-own-network.md")
    if "architecture" not in values or values.get("checkpoint") is not None:
        return []
    names = ("image_size", "n_train", "epochs", "seed")
    config = TorchvisionConfig(values["architecture"], **{k: values[k] for k in names if k in values})
    return [Computation("latentgeom.networks.external", "train_torchvision", (config,), (("progress", False),),
                        label=f"train {config.architecture} ({config.epochs} epochs, {config.n_train} images)")]


def chapters() -> dict[str, Callable[[str], list]]:
    """``{name: work_units}``: every study module that defines ``work_units(preset)``, and the
    pages without a preset (``getting-started``, ``measure-your-own-network``)."""
    from . import chapters

    found = {"getting-started": _getting_started, "measure-your-own-network": _own_network_guide}
    for info in sorted(pkgutil.iter_modules(chapters.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{chapters.__name__}.{info.name}")
        fn = getattr(module, "work_units", None)
        if callable(fn):
            found[info.name.replace("_", "-")] = fn
    return found


def _book_dir() -> Path:
    from .paths import home

    checkout = Path(__file__).resolve().parents[2] / "book"
    return checkout if checkout.is_dir() else home() / "book"


def page_parameters(page: str) -> dict:
    """The literal values assigned in a book page's cell tagged ``parameters`` (``{}`` if no page).

    ``page`` is a path under ``book/`` (``"findings/curvature-1-profile-shape.md"``): the sweep
    reads what the pages run with, so it follows the pages as they change.
    """
    path = _book_dir() / page
    if not path.is_file():
        return {}
    import jupytext

    cells = [c for c in jupytext.read(path).cells if "parameters" in c.metadata.get("tags", [])]
    values = {}
    for cell in cells:
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                try:
                    values[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
    return values


def page_seeds(page: str, default: Sequence[int] = (0,)) -> tuple[int, ...]:
    """The seeds a book page runs with: its ``seeds`` parameter, else its ``seed``, else ``default``."""
    values = page_parameters(page)
    if values.get("seeds") is not None:
        return tuple(int(s) for s in values["seeds"])
    if isinstance(values.get("seed"), int):
        return (values["seed"],)
    return tuple(default)


def plan(preset: str, chapter_names: Iterable[str] | None = None) -> list:
    """Every unit the chosen chapters' pages need at ``preset`` (all chapters by default),
    without repeats; a :class:`Train` unit is added for every profiled model, and units of
    one configuration are merged (their checkpoint epochs joined)."""
    found = chapters()
    names = list(found) if chapter_names is None else list(chapter_names)
    for name in names:
        check_choice(name, "chapter", tuple(found))
    units = [u for name in names for u in found[name](preset)]
    trains: dict[str, TrainConfig] = {}

    def add(config: TrainConfig, epochs: Iterable[int] = ()):
        base = trains.get(config.key(), config)
        extra = {e for e in (*config.checkpoint_epochs, *base.checkpoint_epochs, *epochs) if e != config.epochs}
        trains[config.key()] = replace(base, checkpoint_epochs=tuple(sorted(extra)))

    rest = []  # profiles and computations, in order, without repeats
    for unit in units:
        if not isinstance(unit, (Train, Profile, Computation)):
            raise ValueError(f"work units must be Train, Profile or Computation, got {type(unit).__name__}")
        if isinstance(unit, Train):
            add(unit.config)
            continue
        if isinstance(unit, Profile):
            add(unit.config, [unit.epoch])
        if unit not in rest:
            rest.append(unit)
    return [Train(c) for c in trains.values()] + rest


def jobs_of(units: Sequence, max_jobs: int | None = None) -> list[tuple]:
    """Units grouped into jobs: one per model, its training first, then its profiles.

    With ``max_jobs``, the models are dealt round-robin into at most that many jobs (fewer
    job start-ups when units are small: a job imports torch once for all of its models).
    """
    groups: dict[str, list] = {}
    for unit in sorted(units, key=lambda u: not isinstance(u, Train)):
        groups.setdefault(unit.model_key, []).append(unit)
    chains = list(groups.values())
    if max_jobs is not None:
        check_int(max_jobs, "max_jobs", minimum=1)
    if max_jobs is None or len(chains) <= max_jobs:
        return [tuple(g) for g in chains]
    return [tuple(u for chain in chains[i::max_jobs] for u in chain) for i in range(max_jobs)]


# --------------------------------------------------------------------------------------------
# Jobs


def job_threads(threads: int | None = None) -> int:
    """CPU threads for this job: ``threads``, else ``SLURM_CPUS_PER_TASK``, else the CPUs it may use."""
    if threads is None:
        env = os.environ.get("SLURM_CPUS_PER_TASK")
        threads = int(env) if env and env.isdigit() else len(os.sched_getaffinity(0))
    return max(1, int(threads))


def run_job(units: Sequence, threads: int | None = None) -> dict:
    """Run ``units`` in order in this process (what a sweep job executes).

    Threads are set first (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, torch), from
    :func:`job_threads`. A failing unit does not stop the others; if any failed, raises
    ``RuntimeError`` listing them (submitit marks the job failed and keeps the traceback in
    its log). Returns ``{"slurm_job_id", "job_id", "host", "threads", "units": [{"unit", "seconds"}]}``:
    ``slurm_job_id`` is Slurm's id of this job (None outside Slurm), ``job_id`` the id submitit
    knows it by (``ARRAY_TASK`` for an array task).
    """
    import torch

    n = job_threads(threads)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(n)
    torch.set_num_threads(n)
    done, failed = [], []
    for unit in units:
        start = time.time()
        try:
            unit.run()
            done.append(dict(unit=unit.name, seconds=round(time.time() - start, 2)))
            print(f"sweep: done {unit.name} in {time.time() - start:.1f} s", flush=True)
        except Exception as err:
            failed.append(f"{unit.name}: {type(err).__name__}: {err}")
            print(f"sweep: FAILED {unit.name}\n{traceback.format_exc()}", file=sys.stderr, flush=True)
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(units)} units failed; first: {failed[0]}")
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return dict(slurm_job_id=os.environ.get("SLURM_JOB_ID"), job_id=f"{array}_{task}" if array else
                os.environ.get("SLURM_JOB_ID"), host=socket.gethostname(), threads=n, units=done)


@dataclass
class SweepReport:
    """What a sweep did: unit counts, each job's result (see :func:`run_job`) and the failures
    (``{"units": [...], "job_id": ..., "log": path, "error": last line}``)."""

    executor: str
    units: int
    cached: int
    jobs: int
    results: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def _executor(kind: str, folder: Path, *, partition: str | None, gpus: int, cpus: int, timeout_min: int,
              parallel: int):
    import submitit

    lib = str(Path(__file__).resolve().parents[1])  # jobs import this very library
    setup = [f"export PYTHONPATH={lib}${{PYTHONPATH:+:$PYTHONPATH}}"]
    cluster = None if kind == "auto" else kind
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster, slurm_python=sys.executable,
                                     local_python=sys.executable)
    params = dict(name="latentgeom-sweep", timeout_min=timeout_min, gpus_per_node=gpus, cpus_per_task=cpus)
    if executor.cluster == "slurm":
        params.update(slurm_array_parallelism=parallel, slurm_setup=setup)
        if partition:
            params["slurm_partition"] = partition
    elif executor.cluster == "local":
        params["local_setup"] = setup
    executor.update_parameters(**params)
    return executor


def slurm_available() -> bool:
    """Whether a Slurm controller answers here (``srun`` on PATH and ``scontrol ping`` says UP)."""
    if not shutil.which("srun") or not shutil.which("scontrol"):
        return False
    try:
        out = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "UP" in out


def _squeue(job_ids: Iterable[str]) -> dict[str, str] | None:
    """``{job id: state}`` of queued/running Slurm jobs (array tasks expanded), None if squeue fails."""
    masters = sorted({j.split("_")[0] for j in job_ids})
    if not masters:
        return {}
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(masters)], check=True,
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return dict(line.split()[:2] for line in out.splitlines() if len(line.split()) >= 2)


def _tail(path: Path, lines: int = 1) -> str:
    try:
        text = [l for l in Path(path).read_text(errors="replace").splitlines() if l.strip()]
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def sweep(preset: str, *, executor: str = "auto", chapter_names: Iterable[str] | None = None,
          units: Sequence | None = None, partition: str | None = None, gpus_per_job: int = 0,
          cpus_per_job: int = 1, time_limit_min: int = 240, parallel: int | None = None,
          max_jobs: int | None = None, logs: str | os.PathLike | None = None, poll_s: float = 2.0,
          dry_run: bool = False, progress: bool = True) -> SweepReport:
    """Compute every uncached unit of ``preset`` (or the given ``units``) through submitit.

    Parameters
    ----------
    preset : str
        ``"tiny"``, ``"default"`` or ``"paper"``.
    executor : {"auto", "slurm", "local"}
        ``auto``: Slurm when a controller answers (:func:`slurm_available`), else local subprocesses.
    chapter_names : list of str, optional
        Chapters to sweep (see :func:`chapters`; default all).
    partition, gpus_per_job, cpus_per_job, time_limit_min :
        Per job: Slurm partition, GPUs, CPUs (threads) and time limit in minutes.
    parallel : int, optional
        Jobs running at once (Slurm: the array's parallelism; local: processes, default the
        CPUs divided by ``cpus_per_job``).
    max_jobs : int, optional
        Pack the models into at most this many jobs (default: one job per model).
    units : list, optional
        Units to compute instead of the chapters' plan (e.g. ``plan(...)`` filtered).
    logs : path, optional
        submitit's folder (job scripts, pickles, logs); default ``<cache>/../sweep/<time>``.
    """
    check_choice(executor, "executor", EXECUTORS)
    check_int(cpus_per_job, "cpus_per_job", minimum=1)
    check_int(gpus_per_job, "gpus_per_job", minimum=0)
    check_int(time_limit_min, "time_limit_min", minimum=1)
    start = time.time()
    say = print if progress else (lambda *a, **k: None)
    if units is None:
        units = plan(preset, chapter_names)
    pending = [u for u in tqdm(units, desc="checking caches", disable=not progress, leave=False) if not u.done()]
    jobs = jobs_of(pending, max_jobs)
    kind = executor
    if executor == "auto":
        kind = "slurm" if slurm_available() else "local"
    if parallel is None:
        parallel = 256 if kind == "slurm" else max(1, len(os.sched_getaffinity(0)) // cpus_per_job)
    check_int(parallel, "parallel", minimum=1)
    report = SweepReport(executor=kind, units=len(units), cached=len(units) - len(pending), jobs=len(jobs))
    say(f"sweep {preset}: {len(units)} units, {report.cached} cached, {len(pending)} to compute in "
        f"{len(jobs)} jobs on {kind} ({parallel} at a time)")
    if dry_run or not jobs:
        report.seconds = time.time() - start
        return report
    folder = Path(logs) if logs else model_cache_dir().parent / "sweep" / time.strftime("%Y%m%d-%H%M%S")
    ex = _executor(kind, folder, partition=partition, gpus=gpus_per_job, cpus=cpus_per_job,
                   timeout_min=time_limit_min, parallel=parallel)
    threads = None if kind == "slurm" else cpus_per_job
    queue = list(jobs)
    running: dict = {}  # submitit job -> units
    missing: dict = {}  # slurm jobs seen absent from squeue without a result: polls
    if kind == "slurm":  # one array, throttled by Slurm itself
        with ex.batch():
            submitted = [(ex.submit(run_job, group, threads), group) for group in queue]
        running, queue = dict(submitted), []
        say(f"sweep: submitted Slurm array {submitted[0][0].job_id.split('_')[0]}; logs in {folder}")
    bar = tqdm(total=len(jobs), desc="jobs", disable=not progress, mininterval=5)
    last: dict = {}
    while queue or running:
        while queue and len(running) < parallel:  # local: start the next jobs as slots free
            group = queue.pop(0)
            running[ex.submit(run_job, group, threads)] = group
        states = _squeue(j.job_id for j in running) if kind == "slurm" else None
        finished_now = 0
        for job in list(running):
            finished, crashed = job.paths.result_pickle.exists(), False  # submitit writes it atomically
            if not finished and kind == "slurm" and states is not None and job.job_id not in states:
                missing[job] = missing.get(job, 0) + 1
                finished = crashed = missing[job] >= 3  # gone from the queue without a result
            elif not finished and kind != "slurm":
                finished = job.done()
            if not finished:
                continue
            group = running.pop(job)
            finished_now += 1
            try:
                if crashed:
                    raise RuntimeError("the job ended without a result (killed, out of memory or out of time?)")
                report.results.append(job.result())
            except Exception as err:  # the job's own error, or no result at all
                log = job.paths.stderr
                report.failed.append(dict(units=[u.name for u in group], job_id=job.job_id, log=str(log),
                                          error=_tail(log) or str(err).strip().splitlines()[-1]))
                bar.write(f"sweep: job {job.job_id} FAILED ({len(group)} units: {group[0].name}, ...)\n"
                          f"       {report.failed[-1]['error']}\n       log: {log}")
        n_running = sum(1 for j in running if states is None or states.get(j.job_id, "RUNNING") == "RUNNING")
        counts = dict(done=len(report.results), running=n_running, pending=len(running) - n_running + len(queue),
                      failed=len(report.failed))
        if counts != last or finished_now:
            bar.set_postfix(counts, refresh=not finished_now)
            bar.update(finished_now)
            last = counts
        if running or queue:
            time.sleep(poll_s)
    bar.close()
    report.seconds = time.time() - start
    say(f"sweep {preset}: {len(report.results)} jobs done, {len(report.failed)} failed in {report.seconds:.0f} s"
        + ("" if report.ok else "; run the same command again to retry the failed units"))
    return report


# --------------------------------------------------------------------------------------------
# Command line: python -m latentgeom sweep ...


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m latentgeom sweep``: see ``--help``. Exit status 1 when a job failed."""
    parser = argparse.ArgumentParser(prog="python -m latentgeom sweep",
                                     description="Train and profile everything the book's pages need, "
                                                 "on Slurm or local processes; cached units are skipped.")
    parser.add_argument("--preset", default="default", help="tiny | default | paper (default: default)")
    parser.add_argument("--executor", default="auto", choices=EXECUTORS,
                        help="auto: Slurm when a Slurm controller answers, else local processes")
    parser.add_argument("--chapters", default=None,
                        help=f"comma-separated chapters (default: all of {', '.join(chapters())})")
    parser.add_argument("--partition", default=None, help="Slurm partition (default: the cluster's)")
    parser.add_argument("--gpus-per-job", type=int, default=0,
                        help="GPUs per job (default 0; with the local executor 0 hides the GPUs from the jobs)")
    parser.add_argument("--cpus-per-job", type=int, default=1, help="CPUs (torch threads) per job")
    parser.add_argument("--time-limit", type=int, default=240, help="minutes per job (default 240)")
    parser.add_argument("--parallel", type=int, default=None,
                        help="jobs at once (Slurm array parallelism; local default: CPUs / cpus-per-job)")
    parser.add_argument("--max-jobs", type=int, default=None,
                        help="pack the models into at most this many jobs (default: one job per model)")
    parser.add_argument("--logs", default=None, help="submitit folder for job scripts and logs")
    parser.add_argument("--dry-run", action="store_true", help="only count what is cached and what is not")
    args = parser.parse_args(argv)
    try:
        report = sweep(args.preset, executor=args.executor,
                       chapter_names=None if args.chapters is None else args.chapters.split(","),
                       partition=args.partition, gpus_per_job=args.gpus_per_job, cpus_per_job=args.cpus_per_job,
                       time_limit_min=args.time_limit, parallel=args.parallel, max_jobs=args.max_jobs, logs=args.logs,
                       dry_run=args.dry_run)
    except ValueError as err:
        parser.error(str(err))
    return 0 if report.ok else 1
