"""Work units: what a page trains and measures, described so that it can be computed anywhere.

A chapter's study lists its work as units (``study.plan()``); the page measures by asking each
unit for its :meth:`result`, and the sweep (:mod:`latentgeom.sweep`) computes the same units
ahead of time on Slurm or local processes. One list serves both, so what the sweep fills is
exactly what the page reads.

Units are small frozen dataclasses that pickle (submitit ships them to the jobs):

- :class:`Train`: train one configuration (with its checkpoints);
- :class:`Profile`: one model at one epoch measured on one image sample (:class:`Images`), a
  curvature or an ID profile;
- :class:`Computation`: a chapter's own cached function, named by module and function, for work
  that is not a :class:`~latentgeom.TrainConfig`'s (the toroids chapter trains and measures its
  networks in one call; the own-network guide trains a torchvision model).

Each unit answers :meth:`done` by running its own cache lookup with computing switched off
(:func:`latentgeom.storage.lookup_only`), so "done" means exactly "the page will find it", and
:meth:`run` computes and caches it (a job calls it). ``model_key`` groups the units of one
model into one job (train it, then measure it).
"""
from __future__ import annotations

import importlib
import math
import warnings
from dataclasses import dataclass, replace
from functools import lru_cache

from .estimators.curvature_result import UnresolvedCurvatureWarning
from .networks import model_cache
from .networks.data import load_tensors
from .networks.training import TrainConfig, TrainedModel, load_checkpoint, train
from .paths import model_cache_dir
from .profiles import GeometryConfig, dimension_profile, profile
from .storage import CacheMiss, lookup_only
from .validation import check_choice

__all__ = ["KINDS", "Computation", "Images", "Profile", "Train", "unit_label", "untrained"]

#: What a :class:`Profile` measures: a curvature profile or an intrinsic-dimension profile.
KINDS = ("curvature", "dimension")


def untrained(config: TrainConfig) -> TrainConfig:
    """The config of ``config``'s network at initialisation (what ``load_checkpoint(config, 0)``
    and the pages' untrained models are): same seed, 0 epochs."""
    return replace(config, epochs=0, checkpoint_epochs=())


def unit_label(config: TrainConfig, epoch: int | None = None) -> str:
    """A model's name in progress lines and job reports: family, width, what is special about
    its training, the epoch of a checkpoint and the start of its cache key."""
    text = f"{config.model} w{config.width}"
    if config.epochs == 0:
        return text + " untrained"
    extra = [f"{config.epochs} ep"] + [name for name, on in (
        ("mixup", config.mixup_alpha > 0), ("manifold mixup", config.manifold_mixup_alpha > 0),
        ("random labels", config.random_labels)) if on]
    if epoch is not None and epoch != config.epochs:
        extra.append(f"@ep{epoch}")
    return f"{text} ({', '.join(extra)}) [{config.key()[:6]}]"


def _without_computing(call) -> bool:
    """Whether ``call()`` finds everything in the caches (nothing computed: a miss raises)."""
    with lookup_only():
        try:
            call()
        except CacheMiss:
            return False
    return True


@dataclass(frozen=True)
class Train:
    """Train one configuration (and cache its checkpoint epochs and steps)."""

    config: TrainConfig

    @property
    def model_key(self) -> str:
        return self.config.key()

    @property
    def name(self) -> str:
        return f"train {unit_label(self.config)}"

    def done(self) -> bool:
        return model_cache.has(self.model_key, {self.config.epochs, *self.config.checkpoint_epochs},
                               steps=self.config.checkpoint_steps)

    def result(self) -> TrainedModel:
        """The trained model (from the model cache when present)."""
        return train(self.config, progress=False)

    def run(self) -> None:
        self.result()


@dataclass(frozen=True)
class Images:
    """An image sample, described instead of shipped: :meth:`load` draws it.

    The fields are :func:`latentgeom.load_tensors`'s arguments; ``first`` keeps the first
    ``first`` images of the result (as a page slicing ``images[:first]``).
    """

    dataset: str
    split: str = "train"
    n: int | None = None
    per_class: int | None = None
    classes: tuple[int, ...] | None = None
    seed: int = 0
    first: int | None = None

    def load(self):
        """The images, [n, C, H, W] float32 (cached per process: units of one job share them)."""
        return _load_images(self)

    @property
    def size(self) -> str:
        """``"300 images"`` / ``"40 images per class"``, for labels."""
        return f"{self.n} images" if self.per_class is None else f"{self.per_class} images per class"


@lru_cache(maxsize=64)
def _load_images(spec: Images):
    images, _ = load_tensors(spec.dataset, split=spec.split, n=spec.n, per_class=spec.per_class,
                             classes=None if spec.classes is None else list(spec.classes), seed=spec.seed)
    return images if spec.first is None else images[:spec.first]


@lru_cache(maxsize=8)
def _trained_model(config: TrainConfig, epoch: int, cache: str) -> TrainedModel:
    """One model, kept per model cache folder (``cache``: a test's own cache is another entry)."""
    if epoch == config.epochs:
        return train(config, progress=False)
    return load_checkpoint(config, epoch)


@dataclass(frozen=True)
class Profile:
    """One model (``config`` after ``epoch`` epochs) measured on one image sample.

    ``kind="curvature"``: :func:`latentgeom.profile` with ``geometry``; ``kind="dimension"``:
    :func:`latentgeom.dimension_profile` with the keyword arguments ``options`` (sorted
    ``(name, value)`` pairs; see :meth:`dimension`).
    """

    kind: str
    config: TrainConfig
    epoch: int
    images: Images
    geometry: GeometryConfig | None = None
    options: tuple = ()

    def __post_init__(self):
        check_choice(self.kind, "kind", KINDS)
        if (self.kind == "curvature") != (self.geometry is not None):
            raise ValueError("geometry is required for kind='curvature' and only for it")

    @classmethod
    def curvature(cls, config: TrainConfig, epoch: int, images: Images, geometry: GeometryConfig) -> "Profile":
        return cls("curvature", config, epoch, images, geometry=geometry)

    @classmethod
    def dimension(cls, config: TrainConfig, epoch: int, images: Images, **options) -> "Profile":
        if options.get("layers") is not None:
            options["layers"] = tuple(options["layers"])
        return cls("dimension", config, epoch, images, options=tuple(sorted(options.items())))

    @property
    def model_key(self) -> str:
        return self.config.key()

    @property
    def name(self) -> str:
        return f"{self.kind} profile of {unit_label(self.config, self.epoch)} on {self.images.size} " \
               f"(seed {self.images.seed})"

    def model(self) -> TrainedModel:
        """The measured model: the trained config, or its checkpoint at ``epoch`` (the last few
        are kept in memory: a page measures one model on several samples in a row)."""
        return _trained_model(self.config, self.epoch, str(model_cache_dir()))

    def _measure(self, trained):
        images = self.images.load()
        if self.kind == "curvature":
            # The chapters report each layer's measurability in their tables (the frame's
            # measurable_<mode> column); the pipeline's warning would only repeat it in the page.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UnresolvedCurvatureWarning)
                return profile(trained, images, self.geometry, progress=False)
        options = dict(self.options)
        if options.get("layers") is not None:
            options["layers"] = list(options["layers"])
        return dimension_profile(trained, images, **options)

    def done(self) -> bool:
        stub = TrainedModel(None, self.config, self.epoch, math.nan, math.nan)  # the lookup needs no weights
        return _without_computing(lambda: self._measure(stub))

    def result(self, trained: TrainedModel | None = None):
        """The profile frame (one row per layer; see :func:`latentgeom.profile`), from the
        profile cache when present. ``trained``: the model, when the caller has it loaded."""
        return self._measure(self.model() if trained is None else trained)

    def run(self) -> None:
        self.result()


@dataclass(frozen=True)
class Computation:
    """A chapter's own cached computation, ``module.function(*args, **dict(kwargs))``: one job.

    The function must cache everything it computes through :mod:`latentgeom.storage`, so that
    under :func:`~latentgeom.storage.lookup_only` a miss raises :class:`CacheMiss`: that is how
    :meth:`done` asks. The function is named, not held, so the unit pickles by name.
    """

    module: str
    function: str
    args: tuple = ()
    kwargs: tuple = ()  # sorted (name, value) pairs
    label: str = ""

    @property
    def model_key(self) -> str:  # its own job
        return f"{self.module}.{self.function}{self.args!r}{self.kwargs!r}"

    @property
    def name(self) -> str:
        return self.label or f"{self.module}.{self.function}"

    def result(self):
        """What the function returns (computed, or read from its caches)."""
        return getattr(importlib.import_module(self.module), self.function)(*self.args, **dict(self.kwargs))

    def done(self) -> bool:
        return _without_computing(self.result)

    def run(self) -> None:
        self.result()
