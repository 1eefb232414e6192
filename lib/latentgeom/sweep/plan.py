"""The sweep's plan: every work unit the book's pages need at a preset, grouped into jobs.

The chapters are found, not listed: every module of :mod:`latentgeom.chapters` that defines
``PAGES`` (see :mod:`latentgeom.chapters.protocol`) is a chapter of the sweep, named by its
module (``intrinsic_dimension`` -> ``intrinsic-dimension``). For every page the plan builds the
study the page runs (its own parameters, read from the page, at the given preset) and takes
its ``plan()``: the very units the page measures.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import pkgutil
from dataclasses import replace
from types import ModuleType
from typing import Iterable, Sequence

from .. import chapters as chapters_package
from ..networks.training import TrainConfig
from ..units import Computation, Profile, Train
from ..validation import check_choice, check_int

__all__ = ["chapters", "jobs_of", "pages_of", "plan"]


def chapters() -> dict[str, ModuleType]:
    """``{name: module}`` of every chapter (a module of :mod:`latentgeom.chapters` with ``PAGES``)."""
    found = {}
    for info in sorted(pkgutil.iter_modules(chapters_package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{chapters_package.__name__}.{info.name}")
        if getattr(module, "PAGES", None):
            found[info.name.replace("_", "-")] = module
    return found


def pages_of(chapter: ModuleType) -> list:
    """A chapter's :class:`~latentgeom.chapters.protocol.Page` objects."""
    return list(chapter.PAGES.values())


def _page_units(page, preset: str) -> list:
    """The units of one page's study at ``preset`` (the page's one-line scale print silenced)."""
    overrides = {"preset": preset} if "preset" in page.parameters else {}
    with contextlib.redirect_stdout(io.StringIO()):
        return page.study(**overrides).plan()


def plan(preset: str, chapter_names: Iterable[str] | None = None) -> list:
    """Every unit the chosen chapters' pages need at ``preset`` (all chapters by default),
    without repeats; a :class:`~latentgeom.units.Train` unit is added for every profiled model,
    and the units of one configuration are merged (their checkpoint epochs joined)."""
    found = chapters()
    names = list(found) if chapter_names is None else list(chapter_names)
    for name in names:
        check_choice(name, "chapter", tuple(found))
    units = [u for name in names for page in pages_of(found[name]) for u in _page_units(page, preset)]
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
