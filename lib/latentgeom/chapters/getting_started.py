"""The getting-started page (``book/getting-started.md``): one trained network of the zoo, its
probe layers and activations. No paper claim: the page shows the four library calls every
finding is built on, so its study only trains (or reads) one model."""
from __future__ import annotations

from dataclasses import dataclass

from ..networks.data import DATASETS
from ..networks.models import MODELS
from ..networks.training import TrainConfig, TrainedModel
from ..units import Train
from ..validation import Parameter
from .protocol import Page, Study

__all__ = ["PAGES", "GettingStartedStudy", "setup"]

PARAMETERS = dict(
    dataset=Parameter("str", choices=tuple(DATASETS), help="a name from latentgeom.DATASETS"),
    model=Parameter("str", choices=MODELS, help="a name from latentgeom.MODELS"),
    epochs=Parameter("int", minimum=0, help="training epochs (0: the untrained network)"),
    n_train=Parameter("int", minimum=10, optional=True, help="training images (None: the whole split)"),
    n_points=Parameter("int", minimum=1, help="test images whose activations the page shows"),
    seed=Parameter("int", minimum=0, help="seeds initialisation, data order and the test images"),
)


@dataclass(kw_only=True)
class GettingStartedStudy(Study):
    """The page's one model (:attr:`config`) and how many test images it looks at."""

    config: TrainConfig
    n_points: int

    def plan(self) -> list[Train]:
        return [Train(self.config)]

    def trained(self) -> TrainedModel:
        """The trained model (from the model cache when present), timed as "training"."""
        [model] = self.measure(stage="training")
        return model


def setup(dataset: str = "fashion-mnist", model: str = "plain_cnn", epochs: int = 4, n_train: int | None = 12000,
          n_points: int = 500, seed: int = 0) -> GettingStartedStudy:
    """The page's preamble: its parameters checked (one ``ValueError`` names a bad one)."""
    values = PAGES["getting-started"].check(dict(dataset=dataset, model=model, epochs=epochs, n_train=n_train,
                                                 n_points=n_points, seed=seed))
    config = TrainConfig(dataset=values["dataset"], model=values["model"], epochs=values["epochs"],
                         n_train=values["n_train"], seed=values["seed"])
    return GettingStartedStudy(page=PAGES["getting-started"], parameters=values, config=config,
                               n_points=values["n_points"])


PAGES = {"getting-started": Page("getting-started.md", PARAMETERS, setup)}
