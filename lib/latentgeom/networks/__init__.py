"""Networks and their data: datasets, model families with named probe layers, training with a
model cache, and activations read through forward hooks."""
from .activations import extract, iter_layers
from .data import DATASETS, load_tensors
from .models import MODELS, ProbeLayer, ProbedModel, build_model
from .training import TrainConfig, TrainedModel, load_checkpoint, train
from . import symmetries

__all__ = ["DATASETS", "MODELS", "ProbeLayer", "ProbedModel", "TrainConfig", "TrainedModel", "build_model",
           "extract", "iter_layers", "load_checkpoint", "load_tensors", "symmetries", "train"]
