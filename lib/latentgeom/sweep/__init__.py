"""Sweeps: compute what the book's pages need on a cluster (Slurm) or on local processes.

The pages train models and measure their profiles through caches (the model cache of
:func:`latentgeom.train`, the profile cache of :func:`latentgeom.profile` and
:func:`latentgeom.dimension_profile`). A sweep fills those caches ahead of time, so that
executing the book trains nothing::

    python -m latentgeom sweep --preset tiny                  # Slurm when present, else local processes
    python -m latentgeom sweep --preset paper --executor slurm --partition gpu --gpus-per-job 1

- :mod:`.plan`: the chapters (found by their ``PAGES``), every unit their pages need
  (:mod:`latentgeom.units`: each page's own ``study.plan()``), and the units grouped into jobs;
- :mod:`.jobs`: a job's run, submission through submitit (Slurm or local processes) and the
  follow-up to the end, with a :class:`SweepReport`;
- :mod:`.cli`: ``python -m latentgeom sweep``.

The sweep sits on top of the library: it imports the chapters, and no chapter imports it.
"""
from .cli import main
from .jobs import EXECUTORS, SweepReport, job_threads, run_job, slurm_available, sweep
from .plan import chapters, jobs_of, pages_of, plan

__all__ = ["EXECUTORS", "SweepReport", "chapters", "job_threads", "jobs_of", "main", "pages_of", "plan", "run_job",
           "slurm_available", "sweep"]
