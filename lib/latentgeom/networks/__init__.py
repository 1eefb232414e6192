"""Networks and their data: datasets, model families with named probe layers, training with a
model cache, and activations of any torch module read through forward hooks (probe layers named
as the module names its submodules; torchvision models adapted and trained in ``external``); the
toroidal-landscape chapter's small networks (``toroid_networks``), their symmetries
(``symmetries``) and their geometry on the product of spheres (``weight_space``)."""
from .activations import extract, iter_layers
from .data import DATASETS, load_tensors
from .external import TorchvisionConfig, as_trained, torchvision_model, train_torchvision
from .models import MODELS, ProbeLayer, ProbedModel, build_model
from .probes import default_layers, fit_images, probe_layers
from .training import TrainConfig, TrainedModel, load_checkpoint, train
from . import symmetries, toroid_networks, weight_space

__all__ = ["DATASETS", "MODELS", "ProbeLayer", "ProbedModel", "TrainConfig", "TrainedModel", "build_model",
           "extract", "iter_layers", "load_checkpoint", "load_tensors", "symmetries", "toroid_networks", "train",
           "TorchvisionConfig", "as_trained", "default_layers", "fit_images", "probe_layers", "torchvision_model",
           "train_torchvision", "weight_space"]
