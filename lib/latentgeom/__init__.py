"""latentgeom: curvature and intrinsic dimension of deep-network representations.

The small public API used by the book's notebooks::

    import latentgeom as lg
    images, labels = lg.load_tensors("fashion-mnist", n=500)
    trained = lg.train(lg.TrainConfig(model="vgg_small"))
    acts = lg.extract(trained.model, images)            # {layer: [n, D] float32}
    lg.twonn(acts["logits"]).id                         # intrinsic dimension
    lg.mapc(points, neighbours, d, mode="robust").mapc  # curvature
"""
from . import plots, results
from .activations import extract, iter_layers, resolve_device
from .curvature import CurvatureResult, mapc
from .data import DATASETS, load_tensors
from .experiments import PRESETS, Preset, get_preset, profile, sample_images, trajectory
from .geometry import GeometryConfig, curvature_gap, curvature_profile, layer_dimensions
from .intrinsic_dimension import TwoNNResult, pca_id, twonn, twonn_block_analysis
from .models import MODELS, ProbeLayer, build_model
from .neighbourhoods import continuous_svd_perturbations, knn_neighbourhoods, svd_perturbations
from .results import (Correlation, Finding, bootstrap_correlation, load_findings, scorecard, scorecard_html,
                      verdict, write_finding)
from .training import TrainConfig, TrainedModel, load_checkpoint, train

__version__ = "0.1.0"

__all__ = [
    "CurvatureResult", "Correlation", "DATASETS", "Finding", "GeometryConfig", "MODELS", "PRESETS",
    "Preset", "ProbeLayer", "TrainConfig", "TrainedModel", "TwoNNResult", "bootstrap_correlation",
    "build_model", "continuous_svd_perturbations", "curvature_gap", "curvature_profile", "extract",
    "get_preset", "iter_layers", "knn_neighbourhoods", "layer_dimensions", "load_checkpoint",
    "load_findings", "load_tensors", "mapc", "pca_id", "plots", "profile", "resolve_device",
    "results", "sample_images", "scorecard", "scorecard_html", "svd_perturbations", "train", "trajectory", "twonn",
    "twonn_block_analysis", "verdict", "write_finding",
]
