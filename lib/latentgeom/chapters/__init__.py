"""The book's chapters, one per paper, all written in one protocol (:mod:`.protocol`).

- :mod:`.protocol`: claims, pages, settings per preset, the study a page runs and its result files;
- :mod:`.presets`: the scale of every page (``tiny``, ``default``, ``paper``) and the shared model zoo;
- :mod:`.curvature` (with :mod:`.curvature_claims` and :mod:`.curvature_shapes`): Kaufman &
  Azencot (ICML 2023), the curvature chapter;
- :mod:`.intrinsic_dimension`: Ansuini et al. (NeurIPS 2019), the intrinsic-dimension chapter (its
  study: :mod:`.id_study`; the profile helpers the ladder shares: :mod:`.id_profiles`);
- :mod:`.ladder`: the training ladder (every finding's headline statistic along training);
- :mod:`.trajectories`: Mao et al. (PNAS 2024), the training-trajectories chapter (its runs:
  :mod:`.trajectory_runs`; its tables: :mod:`.trajectory_tables`; its claims and verdicts:
  :mod:`.trajectory_claims`);
- :mod:`.toroids`: Pittorino et al. (ICML 2022), the loss-landscapes-on-toroids chapter (its grid:
  :mod:`.toroid_grid`; its claims and tests: :mod:`.toroid_claims`);
- :mod:`.getting_started` and :mod:`.own_network`: the two pages without a paper claim;
- :mod:`.measuring_curvature`: the methods page "Measuring curvature" (its parameter check and
  two experiments).

Chapters import the layers below them (units, profiles, networks, estimators, reporting) and
never the sweep; the sweep finds them by their ``PAGES``.

Each chapter loads on first use (``chapters.curvature``, ``from latentgeom.chapters import
curvature``), so a page imports its own chapter and not the others' (the own-network guide's
alone loads torchvision, about a second).
"""
from __future__ import annotations

import importlib
import importlib.util

__all__ = ["curvature", "getting_started", "intrinsic_dimension", "ladder", "measuring_curvature", "own_network",
           "presets", "protocol", "toroid_grid", "toroids", "trajectories"]


def __getattr__(name: str):
    """Import the chapter (or any other module of this package) ``name`` on first use."""
    if name.startswith("_") or importlib.util.find_spec(f"{__name__}.{name}") is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module(f".{name}", __name__)  # the import binds it on this package


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
