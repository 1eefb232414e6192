"""The guide "Measure your own network" (``book/guides/measure-your-own-network.md``): a
torchvision model adapted to the book's data, trained briefly with the library's recipe or
loaded from a ``state_dict``, then its ID and curvature profiles. No paper claim; its study
trains (or loads) the one model, and the sweep can train it ahead of time."""
from __future__ import annotations

from dataclasses import dataclass

from ..networks.external import TorchvisionConfig, torchvision_architectures, train_torchvision
from ..networks.training import TrainedModel
from ..units import Computation
from ..validation import Parameter
from .protocol import Page, Study

__all__ = ["PAGES", "OwnNetworkStudy", "setup"]

PARAMETERS = dict(
    architecture=Parameter("str", choices=tuple(torchvision_architectures()),
                           help="a torchvision classification model"),
    checkpoint=Parameter("str", optional=True, help="a state_dict file for that architecture (None: train)"),
    image_size=Parameter("int", minimum=8, optional=True, help="resize the images (None: keep 28x28)"),
    n_train=Parameter("int", minimum=10, help="training images"),
    epochs=Parameter("int", minimum=0, help="training epochs"),
    n_points=Parameter("int", minimum=20, help="training images whose geometry is measured"),
    q=Parameter("int", minimum=1, help="smallest singular values perturbed per channel"),
    seed=Parameter("int", minimum=0, help="seeds initialisation, data subsets and the estimators"),
)


@dataclass(kw_only=True)
class OwnNetworkStudy(Study):
    """The guide's model (:attr:`config`) and its measurement sizes."""

    config: TorchvisionConfig
    n_points: int
    q: int
    seed: int

    def plan(self) -> list[Computation]:
        """Training the model, as one job (nothing to train when a checkpoint is given)."""
        if self.config.checkpoint is not None:
            return []
        c = self.config
        return [Computation("latentgeom.networks.external", "train_torchvision", (c,), (("progress", False),),
                            label=f"train {c.architecture} ({c.epochs} epochs, {c.n_train} images)")]

    def trained(self) -> TrainedModel:
        """The trained (or loaded) model, from the model cache when present, timed as "training"."""
        with self.clock("training"):
            return train_torchvision(self.config, progress=False)


def setup(architecture: str = "resnet18", checkpoint: str | None = None, image_size: int | None = None,
          n_train: int = 3000, epochs: int = 1, n_points: int = 300, q: int = 4, seed: int = 0) -> OwnNetworkStudy:
    """The guide's preamble: its parameters checked (one ``ValueError`` names a bad one; a
    checkpoint path that is no file is refused by :class:`TorchvisionConfig`)."""
    page = PAGES["measure-your-own-network"]
    values = page.check(dict(architecture=architecture, checkpoint=checkpoint, image_size=image_size,
                             n_train=n_train, epochs=epochs, n_points=n_points, q=q, seed=seed))
    config = TorchvisionConfig(values["architecture"], image_size=values["image_size"], n_train=values["n_train"],
                               epochs=values["epochs"], checkpoint=values["checkpoint"], seed=values["seed"])
    return OwnNetworkStudy(page=page, parameters=values, config=config, n_points=values["n_points"], q=values["q"],
                           seed=values["seed"])


PAGES = {"measure-your-own-network": Page("guides/measure-your-own-network.md", PARAMETERS, setup)}
