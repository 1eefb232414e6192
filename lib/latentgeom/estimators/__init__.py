"""Estimators of representation geometry: pure numpy/torch, no model code.

- :mod:`.intrinsic_dimension`: TwoNN (Facco et al. 2017), its block analysis, PC-ID;
- :mod:`.curvature`: principal curvatures and MAPC from local quadratic fits (paper and robust modes);
- :mod:`.neighbourhoods`: data kNN and input-space SVD perturbation neighbourhoods;
- :mod:`.prediction_space`: Bhattacharyya distances between models, InPCA, progress and
  trajectory distances (Mao et al., PNAS 2024);
- :mod:`.scale_free`: dimensionless curvatures (scale-free MAPC, bending), unchanged under x -> c x.
"""
from .curvature import MODES, CurvatureResult, UnresolvedCurvatureWarning, mapc, min_neighbours, spanned_directions
from .intrinsic_dimension import TwoNNResult, pca_id, twonn, twonn_block_analysis
from .neighbourhoods import continuous_svd_perturbations, knn_neighbourhoods, svd_perturbations
from .prediction_space import InPCA, bhattacharyya, inpca
from .scale_free import ScaleFreeResult, scale_free_mapc

__all__ = ["InPCA", "MODES", "CurvatureResult", "ScaleFreeResult", "TwoNNResult", "bhattacharyya",
           "continuous_svd_perturbations", "inpca", "knn_neighbourhoods", "mapc", "min_neighbours", "pca_id",
           "scale_free_mapc", "spanned_directions", "svd_perturbations", "twonn", "twonn_block_analysis",
           "UnresolvedCurvatureWarning"]
