"""``python -m latentgeom sweep``: the sweep's command line (see ``--help``)."""
from __future__ import annotations

import argparse
from typing import Sequence

from .jobs import EXECUTORS, sweep
from .plan import chapters

__all__ = ["main"]


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
