"""latentgeom: the geometry of deep-network representations, for the latent-geometry book.

The small public API used by the book's pages::

    import latentgeom as lg
    images, labels = lg.load_tensors("fashion-mnist", n=500)
    trained = lg.train(lg.TrainConfig(model="vgg_small"))
    acts = lg.extract(trained.model, images)            # {layer: [n, D] float32}
    lg.twonn(acts["logits"]).id                         # intrinsic dimension
    lg.mapc(points, neighbours, d, mode="robust").mapc  # curvature

Subpackages (``ls lib/latentgeom``): :mod:`.estimators` (pure numpy/torch), :mod:`.networks`
(data, models, training, activations, model cache), :mod:`.studies` (one module per chapter),
:mod:`.book` (findings, verdicts, statistics, scorecard, plots), :mod:`.synthetic` (ground-truth
manifolds), and the shared :mod:`.validation`, :mod:`.storage` and :mod:`.paths`; :mod:`.sweep`
computes what the pages need on Slurm or local processes (``python -m latentgeom sweep``).
"""
from . import chapters, estimators, networks, paths, reporting, storage, synthetic, validation
from . import sweep
from .reporting import plots
from .reporting.findings import Finding, load_findings, verdict, write_finding
from .reporting.scorecard import scorecard, scorecard_html
from .reporting.statistics import Correlation, bootstrap_correlation
from .reporting.tables import show
from .estimators import (MODES, CurvatureResult, TwoNNResult, continuous_svd_perturbations, knn_neighbourhoods,
                         mapc, pca_id, svd_perturbations, twonn, twonn_block_analysis)
from .estimators.prediction_space import InPCA, bhattacharyya, inpca
from .estimators.scale_free import scale_free_mapc
from .networks import (DATASETS, MODELS, ProbeLayer, TrainConfig, TrainedModel, build_model, extract,
                       iter_layers, load_checkpoint, load_tensors, train)
from .networks import TorchvisionConfig, default_layers, fit_images, probe_layers, torchvision_model, train_torchvision
from .profiles import (GeometryConfig, curvature_gap, curvature_profile, dimension_profile,
                                layer_dimensions, profile)
from .chapters.presets import PRESETS, Preset, get_preset, sample_images, trajectory
from .validation import resolve_device

__version__ = "0.1.0"

__all__ = [
    "MODES", "CurvatureResult", "Correlation", "DATASETS", "Finding", "GeometryConfig", "InPCA", "MODELS", "PRESETS",
    "Preset", "ProbeLayer", "TrainConfig", "TrainedModel", "TwoNNResult", "bhattacharyya", "reporting",
    "bootstrap_correlation",
    "build_model", "continuous_svd_perturbations", "curvature_gap", "curvature_profile", "dimension_profile",
    "estimators", "extract", "get_preset", "inpca", "iter_layers", "knn_neighbourhoods", "layer_dimensions",
    "load_checkpoint", "load_findings", "load_tensors", "mapc", "networks", "paths", "pca_id", "plots",
    "profile", "resolve_device", "sample_images", "scale_free_mapc", "scorecard", "scorecard_html", "show", "storage",
    "chapters", "svd_perturbations", "sweep", "synthetic", "train", "trajectory", "twonn", "twonn_block_analysis",
    "validation", "verdict",
    "write_finding",
]
__all__ += ["TorchvisionConfig", "default_layers", "fit_images", "probe_layers", "torchvision_model",
            "train_torchvision"]
