"""Provenance of a build: which code, when, at which scale, on which machine, and how long
each stage took.

Every rendered page shows it in a footer (the book's local Sphinx extension ``_ext/book_html.py``
calls :func:`build_provenance` and :func:`page_preset`), and every finding result file carries
it (:func:`latentgeom.reporting.findings.write_finding`), so the scorecard can say where each number
came from.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import subprocess
import time
from functools import lru_cache
from pathlib import Path

from ..validation import usable_cores

__all__ = ["StageClock", "build_provenance", "machine_class", "page_preset", "source_commit"]

_PRESET_LINE = re.compile(r"""^preset\s*=\s*["']([\w-]+)["']""", re.M)


def source_commit(root: str | os.PathLike | None = None) -> str:
    """The git commit of the checkout at ``root`` (short hash, ``+dirty`` with uncommitted
    changes to tracked files), or ``$LATENTGEOM_COMMIT`` when set (e.g. by CI), or ``"unknown"``."""
    if os.environ.get("LATENTGEOM_COMMIT"):
        return os.environ["LATENTGEOM_COMMIT"][:12]
    root = str(root or Path(__file__).resolve().parents[3])
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "") if commit else "unknown"


@lru_cache(maxsize=1)
def machine_class() -> str:
    """``"2 CPU cores, no GPU"`` or ``"16 CPU cores, 1 GPU (NVIDIA H100 80GB HBM3)"``: the
    class of machine that executes the pages (CPU cores this process may use, CUDA devices)."""
    cores = usable_cores()
    text = f"{cores} CPU core{'s' if cores != 1 else ''}"
    try:
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - no torch or a broken driver: report no GPU
        count = 0
    if not count:
        return text + ", no GPU"
    return text + f", {count} GPU{'s' if count > 1 else ''} ({torch.cuda.get_device_name(0)})"


def build_provenance(root: str | os.PathLike | None = None) -> dict:
    """``{"commit", "date", "machine"}`` of a build run now from the checkout at ``root``
    (date in UTC, ISO 8601 to the minute)."""
    return {"commit": source_commit(root), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": machine_class()}


def page_preset(source: str | os.PathLike, results: str | os.PathLike | None = None,
                notebook: str | None = None) -> str | None:
    """The preset a page executed at: the ``parameters.name`` of a result file it wrote (found
    under ``results`` by its ``notebook`` field), else the default of its ``preset = "..."``
    parameter, else None (a page without presets)."""
    if results is not None and notebook is not None and Path(results).is_dir():
        for path in sorted(Path(results).glob("*.json")):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if data.get("notebook") == notebook and (data.get("parameters") or {}).get("name"):
                return str(data["parameters"]["name"])
    try:
        match = _PRESET_LINE.search(Path(source).read_text())
    except OSError:
        return None
    return match.group(1) if match else None


class StageClock:
    """Wall and process-CPU seconds of named stages, summed over every time a stage runs: the
    one stage timer of the studies (the curvature pages' ``seconds`` in their result files, the
    ladder's timing table) and of ``bench/`` (the pipeline's forward and estimator time).

    CPU seconds are the whole process's (all threads), plus what a study adds for the worker
    processes that computed for it (:meth:`latentgeom.chapters.protocol.Study.compute`), so
    cpu / wall shows how many cores a stage kept busy.

    >>> clock = StageClock("training")
    >>> with clock("training"):
    ...     pass
    >>> sorted(clock.wall)
    ['training']
    """

    def __init__(self, *stages: str):
        self.wall = dict.fromkeys(stages, 0.0)  # stage -> s, in the order stages first ran
        self.cpu = dict.fromkeys(stages, 0.0)

    @contextlib.contextmanager
    def __call__(self, stage: str):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[stage] = self.wall.get(stage, 0.0) + time.perf_counter() - wall
            self.cpu[stage] = self.cpu.get(stage, 0.0) + time.process_time() - cpu

    def timing(self, stage: str, fn):
        """``fn`` wrapped so that every call of it counts towards ``stage``."""
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            with self(stage):
                return fn(*args, **kwargs)
        return timed

    def records(self) -> list[dict]:
        """One ``{"stage", "wall_seconds", "cpu_seconds"}`` per stage, in order."""
        return [dict(stage=stage, wall_seconds=self.wall[stage], cpu_seconds=self.cpu[stage])
                for stage in self.wall]
