"""Study code of the book's chapters, one module per paper, on top of shared pieces.

- :mod:`.presets`: the scale of every page (``tiny``, ``default``, ``paper``) and the model zoo;
- :mod:`.curvature`: Kaufman & Azencot (ICML 2023), the curvature chapter;
- :mod:`.intrinsic_dimension`: Ansuini et al. (NeurIPS 2019), the intrinsic-dimension chapter;
- :mod:`.ladder`: the training ladder (every finding's headline statistic along training);
- :mod:`.trajectories`: Mao et al. (PNAS 2024), the training-trajectories chapter;
- :mod:`.landscapes`: Pittorino et al. (ICML 2022), the loss-landscapes-on-toroids chapter.
"""
from . import curvature, intrinsic_dimension, ladder, landscapes, presets, trajectories

__all__ = ["curvature", "intrinsic_dimension", "ladder", "landscapes", "presets", "trajectories"]
