"""The sweep's jobs: run units in a job, submit jobs through submitit, follow them to the end.

Scheduling: the units of one model (train it, then every profile of it) form one job, run in
order (:func:`run_job`); jobs are independent. Units already cached are skipped, so a second
run resumes. Each job sets its threads from the CPUs it was given (``SLURM_CPUS_PER_TASK``, or
the local share), so one job per core does not oversubscribe. Caches are safe under concurrency
(see :mod:`latentgeom.storage`): a sweep can run beside a notebook or a second sweep.

On Slurm all jobs go in as one array, throttled by Slurm itself; locally they start as slots
free up. :func:`sweep` polls until every job has a result or has failed; a Slurm job that left
the queue without a result (killed, out of memory or time) counts as failed after three polls.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ..paths import model_cache_dir
from ..progress import bar
from ..validation import check_choice, check_int, usable_cores
from .plan import jobs_of, plan

__all__ = ["EXECUTORS", "SweepReport", "job_threads", "run_job", "slurm_available", "sweep"]

EXECUTORS = ("auto", "slurm", "local")


def job_threads(threads: int | None = None) -> int:
    """CPU threads for this job: ``threads``, else ``SLURM_CPUS_PER_TASK``, else the CPUs it may use."""
    if threads is None:
        env = os.environ.get("SLURM_CPUS_PER_TASK")
        threads = int(env) if env and env.isdigit() else usable_cores()
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

    lib = str(Path(__file__).resolve().parents[2])  # jobs import this very library
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
        text = [line for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(text[-lines:])


class _Follower:
    """The jobs of one sweep in flight: submits the queued ones as slots free (local) or all at
    once as an array (Slurm), collects results and failures into ``report``."""

    def __init__(self, executor, kind: str, jobs: list, threads: int | None, parallel: int, report: SweepReport,
                 say):
        self.executor, self.kind, self.threads, self.parallel = executor, kind, threads, parallel
        self.report, self.say = report, say
        self.queue, self.running, self.missing = list(jobs), {}, {}  # missing: polls absent from squeue

    def submit_array(self, folder: Path) -> None:
        with self.executor.batch():
            submitted = [(self.executor.submit(run_job, group, self.threads), group) for group in self.queue]
        self.running, self.queue = dict(submitted), []
        self.say(f"sweep: submitted Slurm array {submitted[0][0].job_id.split('_')[0]}; logs in {folder}")

    def start_next(self) -> None:
        while self.queue and len(self.running) < self.parallel:  # local: the next jobs as slots free
            group = self.queue.pop(0)
            self.running[self.executor.submit(run_job, group, self.threads)] = group

    def _finished(self, job, states) -> tuple[bool, bool]:
        """(finished, crashed) of one running job."""
        if job.paths.result_pickle.exists():  # submitit writes it atomically
            return True, False
        if self.kind == "slurm" and states is not None and job.job_id not in states:
            self.missing[job] = self.missing.get(job, 0) + 1
            crashed = self.missing[job] >= 3  # gone from the queue without a result
            return crashed, crashed
        return (self.kind != "slurm" and job.done()), False

    def collect(self, write) -> tuple[int, dict | None]:
        """Collect the jobs that finished since the last poll; returns their number and the
        Slurm states (None locally)."""
        states = _squeue(j.job_id for j in self.running) if self.kind == "slurm" else None
        finished_now = 0
        for job in list(self.running):
            finished, crashed = self._finished(job, states)
            if not finished:
                continue
            group = self.running.pop(job)
            finished_now += 1
            try:
                if crashed:
                    raise RuntimeError("the job ended without a result (killed, out of memory or out of time?)")
                self.report.results.append(job.result())
            except Exception as err:  # the job's own error, or no result at all
                log = job.paths.stderr
                self.report.failed.append(dict(units=[u.name for u in group], job_id=job.job_id, log=str(log),
                                               error=_tail(log) or str(err).strip().splitlines()[-1]))
                write(f"sweep: job {job.job_id} FAILED ({len(group)} units: {group[0].name}, ...)\n"
                      f"       {self.report.failed[-1]['error']}\n       log: {log}")
        return finished_now, states

    def counts(self, states) -> dict:
        n_running = sum(1 for j in self.running if states is None or states.get(j.job_id, "RUNNING") == "RUNNING")
        return dict(done=len(self.report.results), running=n_running,
                    pending=len(self.running) - n_running + len(self.queue), failed=len(self.report.failed))


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
        Chapters to sweep (see :func:`latentgeom.sweep.plan.chapters`; default all).
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
    pending = [u for u in bar(units, desc="checking caches", enabled=progress, leave=False) if not u.done()]
    jobs = jobs_of(pending, max_jobs)
    kind = executor
    if executor == "auto":
        kind = "slurm" if slurm_available() else "local"
    if parallel is None:
        parallel = 256 if kind == "slurm" else max(1, usable_cores() // cpus_per_job)
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
    follower = _Follower(ex, kind, jobs, None if kind == "slurm" else cpus_per_job, parallel, report, say)
    if kind == "slurm":
        follower.submit_array(folder)
    jobs_bar = bar(total=len(jobs), desc="jobs", enabled=progress, mininterval=5)
    last: dict = {}
    while follower.queue or follower.running:
        follower.start_next()
        finished_now, states = follower.collect(jobs_bar.write)
        counts = follower.counts(states)
        if counts != last or finished_now:
            jobs_bar.set_postfix(counts, refresh=not finished_now)
            jobs_bar.update(finished_now)
            last = counts
        if follower.running or follower.queue:
            time.sleep(poll_s)
    jobs_bar.close()
    report.seconds = time.time() - start
    say(f"sweep {preset}: {len(report.results)} jobs done, {len(report.failed)} failed in {report.seconds:.0f} s"
        + ("" if report.ok else "; run the same command again to retry the failed units"))
    return report
