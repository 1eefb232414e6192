"""latentgeom: the geometry of deep-network representations, for the latent-geometry book.

The small public API used by the book's pages::

    import latentgeom as lg
    images, labels = lg.load_tensors("fashion-mnist", n=500)
    trained = lg.train(lg.TrainConfig(model="vgg_small"))
    acts = lg.extract(trained.model, images)            # {layer: [n, D] float32}
    lg.twonn(acts["logits"]).id                         # intrinsic dimension
    lg.mapc(points, neighbours, d, mode="robust").mapc  # curvature

The library's layers, bottom to top (``ls lib/latentgeom``; README, "Layout"): the shared
:mod:`.paths`, :mod:`.validation`, :mod:`.storage` and :mod:`.progress`; :mod:`.estimators` (pure
numpy/torch), :mod:`.networks` (data, models, training, activations, model cache),
:mod:`.reporting` (verdicts, statistics, tables, charts, scorecard) and :mod:`.synthetic`
(ground-truth manifolds); :mod:`.profiles` (per-layer profiles of a network); :mod:`.units` (the
work a page measures) and :mod:`.workers` (the processes that compute it); :mod:`.chapters` (one
module per paper, in one protocol); and :mod:`.sweep`, which computes what the pages need on Slurm or local processes
(``python -m latentgeom sweep``). This module, the public API, sits on top.

Its names load on first use (PEP 562 ``__getattr__``): ``import latentgeom`` alone imports
nothing heavy, so a worker process that needs the units and a network pays for torch, not for
every chapter, scipy, altair and torchvision. ``lg.mapc``, ``from latentgeom import train`` and
``lg.chapters`` work as before. One table below names every public name and its module;
``__all__`` is derived from it.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: The modules that ``lg.<name>`` loads: name -> path below this package.
_MODULES = {**{name: name for name in ("chapters", "estimators", "networks", "paths", "profiles", "progress",
                                       "reporting", "storage", "synthetic", "sweep", "units", "validation",
                                       "workers")},
            "plots": "reporting.plots"}
#: Every other public name, by the module (path below this package) that defines it.
_NAMES = {
    "reporting.findings": ("Finding", "load_findings", "verdict", "write_finding"),
    "reporting.scorecard": ("scorecard", "scorecard_html"),
    "reporting.statistics": ("Correlation", "bootstrap_correlation"),
    "reporting.tables": ("show",),
    "estimators": ("MODES", "CurvatureResult", "TwoNNResult", "UnresolvedCurvatureWarning",
                   "continuous_svd_perturbations", "knn_neighbourhoods", "mapc", "pca_id", "spanned_directions",
                   "svd_perturbations", "twonn", "twonn_block_analysis"),
    "estimators.prediction_space": ("InPCA", "bhattacharyya", "inpca"),
    "estimators.scale_free": ("scale_free_mapc",),
    "networks": ("DATASETS", "MODELS", "ProbeLayer", "TrainConfig", "TrainedModel", "build_model", "extract",
                 "iter_layers", "load_checkpoint", "load_tensors", "train", "TorchvisionConfig", "default_layers",
                 "fit_images", "probe_layers", "torchvision_model", "train_torchvision"),
    "profiles": ("GeometryConfig", "curvature_gap", "curvature_profile", "dimension_profile", "layer_dimensions",
                 "profile"),
    "chapters.presets": ("PRESETS", "Preset", "get_preset", "sample_images", "trajectory"),
    "validation": ("resolve_device",),
}
_WHERE = {name: module for module, names in _NAMES.items() for name in names}
__all__ = sorted({*_MODULES, *_WHERE})


def __getattr__(name: str):
    """Load a public name on first use and keep it (the next lookup is a plain attribute)."""
    if name in _MODULES:
        value = importlib.import_module(f".{_MODULES[name]}", __name__)
    elif name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

