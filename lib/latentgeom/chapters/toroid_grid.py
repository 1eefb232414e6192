"""The toroidal-landscape chapter's grid and its measurements (:mod:`latentgeom.chapters.toroids`).

:class:`ToroidSettings` is the chapter's scale: architectures x optimisers (:data:`~latentgeom.
networks.toroid_networks.RECIPES`) x seeds, trained to zero training error on a Fashion-MNIST
subset, and the binary MLP's grid. :func:`run` trains (or loads) every network, measures its
errors and local energy, the distances between every two minima of one architecture, and the
errors along geodesic, linear and one-bend paths (:mod:`latentgeom.networks.weight_space`);
every table is cached by content key, so the book's second build trains and measures nothing.
:func:`barriers` and :func:`recipe_table` summarise the tables.
"""
from __future__ import annotations

import io
import itertools
from dataclasses import asdict, dataclass, field

import pandas as pd

from ..networks import symmetries as sym
from ..networks.data import load_tensors
from ..networks.toroid_networks import ARCHITECTURES, CACHE_VERSION, RECIPES, binarised, error, train_network
from ..networks.weight_space import barrier, distance, local_energy, one_bend_path, path_errors
from ..paths import model_cache_dir
from ..progress import bar
from ..storage import cached_frame, content_key
from ..validation import check_choice, check_int

__all__ = ["NETWORK_COLUMNS", "ToroidSettings", "barriers", "load_data", "path_pairs", "recipe_table", "run",
           "run_key"]


@dataclass(frozen=True)
class ToroidSettings:
    """Scale of the toroidal-landscape chapter.

    Attributes
    ----------
    n_train, n_test : int
        Fashion-MNIST training images (networks are trained to zero training error on them) and
        test images.
    architectures : tuple of str
        Real-valued networks of claims 1-4 (see :func:`latentgeom.networks.toroid_networks.build`).
    recipes : tuple of str
        Optimisers (keys of :data:`~latentgeom.networks.toroid_networks.RECIPES`).
    seeds, max_epochs : dict
        Per architecture: runs of every recipe, and the epoch cap (training stops earlier at
        zero training error).
    sigmas : tuple of float
        Relative noise levels of the local energy; flatness is its mean over them.
    n_perturb : int
        Seeded noise draws per sigma.
    path_points : int
        Points per path (including both ends).
    path_architectures : tuple of str
        Architectures whose geodesic and linear paths are measured.
    bend_architectures : tuple of str
        Architectures whose one-bend paths are measured (between minima of different recipes).
    bend_steps : int
        SGD steps of the one-bend path's bend point.
    binary_recipes, binary_seeds, binary_sigmas, binary_max_epochs
        The binary MLP's grid (claim 5).
    """

    name: str
    n_train: int = 2000
    n_test: int = 2000
    architectures: tuple = ("mlp", "cnn")
    recipes: tuple = tuple(RECIPES)
    seeds: dict = field(default_factory=lambda: {"mlp": 3, "cnn": 2})
    max_epochs: dict = field(default_factory=lambda: {"mlp": 60, "cnn": 20})
    sigmas: tuple = (0.1, 0.2, 0.3, 0.4, 0.5)
    n_perturb: int = 3
    path_points: int = 9
    path_architectures: tuple = ("mlp", "cnn")
    bend_architectures: tuple = ("mlp",)
    bend_steps: int = 300
    binary_recipes: tuple = ("SGD bs32", "SGD bs500", "Adam bs100", "Adam bs100 wd")
    binary_seeds: int = 3
    binary_sigmas: tuple = (0.2, 0.3, 0.4, 0.5)
    binary_max_epochs: int = 30

    def __post_init__(self):
        check_int(self.n_train, "n_train", minimum=20)
        check_int(self.n_test, "n_test", minimum=20)
        for a in self.architectures:
            if a not in self.seeds or a not in self.max_epochs:
                raise ValueError(f"seeds and max_epochs must name every architecture {self.architectures}")
            check_int(self.seeds[a], f"seeds[{a!r}]", minimum=2)
            check_int(self.max_epochs[a], f"max_epochs[{a!r}]", minimum=1)
        check_int(self.binary_seeds, "binary_seeds", minimum=2)
        check_int(self.path_points, "path_points", minimum=3)
        for a in (*self.path_architectures, *self.bend_architectures):
            check_choice(a, "path and bend architectures", self.architectures)
        for a in self.architectures:
            check_choice(a, "architectures", ARCHITECTURES[:2])
        for r in (*self.recipes, *self.binary_recipes):
            check_choice(r, "recipes", RECIPES)


def load_data(settings: ToroidSettings, seed: int) -> dict:
    """``{"train": (images, labels), "test": (images, labels)}``: the Fashion-MNIST subsets of
    ``settings`` (``n_train`` / ``n_test`` images, drawn with ``seed``)."""
    return {"train": load_tensors("fashion-mnist", "train", n=settings.n_train, seed=seed),
            "test": load_tensors("fashion-mnist", "test", n=settings.n_test, seed=seed)}


def _networks(settings, data, architecture, recipes, seeds, max_epochs, sigmas, seed, progress):
    """Train (or load) every network of one architecture and measure errors and flatness."""
    nets, rows = {}, []
    grid = list(itertools.product(recipes, range(seeds)))
    for recipe, s in bar(grid, desc=f"{architecture} networks", enabled=progress):
        net, epochs = train_network(architecture, recipe, s, *data["train"], max_epochs=max_epochs)
        if architecture == "binary_mlp":
            net = binarised(net)
        energy = local_energy(net, *data["train"], sigmas, n_samples=settings.n_perturb, seed=seed)
        nets[(recipe, s)] = net
        rows.append({"architecture": architecture, "recipe": recipe, "seed": s, "epochs": epochs,
                     "train_error": error(net, *data["train"]), "test_error": error(net, *data["test"]),
                     "flatness": float(energy.mean()),
                     **{f"dE_{sigma:g}": float(e) for sigma, e in zip(sigmas, energy)}})
    return nets, pd.DataFrame(rows)


def _pairs(architecture, nets, table) -> pd.DataFrame:
    """Every two networks of one architecture: aligned and unaligned distance, mean flatness."""
    flat = {(r.recipe, r.seed): r.flatness for r in table.itertuples()}
    rows = []
    for (ka, a), (kb, b) in itertools.combinations(nets.items(), 2):
        rows.append({"architecture": architecture, "a": f"{ka[0]} #{ka[1]}", "b": f"{kb[0]} #{kb[1]}",
                     "same_recipe": ka[0] == kb[0], "recipe_a": ka[0], "recipe_b": kb[0],
                     "flatness": (flat[ka] + flat[kb]) / 2,
                     "distance_aligned": distance(sym.normalise(a), sym.align(a, b)),
                     "distance_unaligned": distance(sym.normalise(a), sym.normalise(b))})
    return pd.DataFrame(rows)


def path_pairs(recipes) -> list:
    """The pairs of networks whose paths are measured, as ``((recipe, seed), (recipe, seed))``:
    seeds 0 and 1 of every recipe, and seed 0 of every two recipes."""
    return [((r, 0), (r, 1)) for r in recipes] + [((r, 0), (q, 0)) for r, q in itertools.combinations(recipes, 2)]


def _paths(settings, data, architecture, nets, seed, progress) -> pd.DataFrame:
    """Errors along the geodesic, linear (and one-bend) path of every pair of :func:`path_pairs`."""
    frames = []
    for ka, kb in bar(path_pairs(settings.recipes), desc=f"{architecture} paths", enabled=progress):
        a, b = nets[ka], nets[kb]
        na, nb = sym.normalise(a), sym.align(a, b)
        label = dict(architecture=architecture, pair=f"{ka[0]} #{ka[1]} / {kb[0]} #{kb[1]}",
                     same_recipe=ka[0] == kb[0])
        parts = {"geodesic": path_errors(na, nb, "geodesic", data, settings.path_points),
                 "linear": path_errors(a, b, "linear", data, settings.path_points)}
        if ka[0] != kb[0] and architecture in settings.bend_architectures:
            bend = one_bend_path(na, nb, *data["train"], steps=settings.bend_steps, seed=seed)
            first = path_errors(na, bend, "geodesic", data, settings.path_points)
            second = path_errors(bend, nb, "geodesic", data, settings.path_points)
            first["t"] /= 2
            second["t"] = 0.5 + second["t"] / 2
            parts["one bend"] = pd.concat([first, second.iloc[1:]], ignore_index=True)
        for kind, frame in parts.items():
            frames.append(frame.assign(kind=kind, **label))
    return pd.concat(frames, ignore_index=True)


def run_key(settings: ToroidSettings, seed: int) -> str:
    """The content key of :func:`run`'s cached tables: the settings, the recipes they name and
    the seed (and :data:`~latentgeom.networks.toroid_networks.CACHE_VERSION`)."""
    recipes = {r: asdict(RECIPES[r]) for r in (*settings.recipes, *settings.binary_recipes)}
    return content_key("toroids-run", CACHE_VERSION, asdict(settings), recipes, seed)


def run(settings: ToroidSettings, seed: int = 0, *, progress: bool = True, cache: bool = True) -> dict:
    """The chapter's measurements, each cached under :func:`run_key` of the settings and seed.

    Returns ``{"networks", "pairs", "paths", "binary_networks", "binary_pairs"}`` frames:
    one row per network (errors, local energy per sigma, ``flatness``), per pair of networks of
    one architecture (aligned and unaligned distance, mean flatness), per path point (``kind``
    geodesic / linear / one bend), and the same for the binary MLP. ``seed`` picks the
    data subset and the perturbations; the networks' seeds are ``0 .. seeds-1``. Progress bars
    (``progress``) go to the console, never into a page.
    """
    check_int(seed, "seed", minimum=0)
    key = run_key(settings, seed)
    folder = model_cache_dir() / "toroids" / "results"
    data = load_data(settings, seed)
    state: dict = {}

    def real():
        if "nets" not in state:
            state["nets"], state["tables"] = {}, []
            for arch in settings.architectures:
                state["nets"][arch], table = _networks(settings, data, arch, settings.recipes, settings.seeds[arch],
                                                       settings.max_epochs[arch], settings.sigmas, seed, progress)
                state["tables"].append(table)
        return state

    def binary():
        if "binary" not in state:
            state["binary"] = _networks(settings, data, "binary_mlp", settings.binary_recipes,
                                        settings.binary_seeds, settings.binary_max_epochs,
                                        settings.binary_sigmas, seed, progress)
        return state["binary"]

    def stored(name, compute):
        # the numbers exactly as the cache file holds them, on the first run too (ties in
        # rank correlations must not depend on whether the table was just computed)
        return cached_frame(folder / f"{key}-{name}.json",
                            lambda: pd.read_json(io.StringIO(compute().to_json(orient="records")), orient="records"),
                            cache=cache)

    return {
        "networks": stored("networks", lambda: pd.concat(real()["tables"], ignore_index=True)),
        "pairs": stored("pairs", lambda: pd.concat(
            [_pairs(a, real()["nets"][a], t) for a, t in zip(settings.architectures, real()["tables"])],
            ignore_index=True)),
        "paths": stored("paths", lambda: pd.concat(
            [_paths(settings, data, a, real()["nets"][a], seed, progress) for a in settings.path_architectures],
            ignore_index=True)),
        "binary_networks": stored("binary-networks", lambda: binary()[1]),
        "binary_pairs": stored("binary-pairs", lambda: _pairs("binary_mlp", *binary())),
    }


# ---------------------------------------------------------------------------------------------
# Summaries of the tables


def barriers(paths: pd.DataFrame) -> pd.DataFrame:
    """One row per (architecture, pair, kind): the train and test error barriers (:func:`barrier`),
    the largest training error on the path and the larger endpoint training error."""
    rows = []
    for (arch, pair, kind), g in paths.groupby(["architecture", "pair", "kind"], sort=False):
        g = g.sort_values("t")
        rows.append({"architecture": arch, "pair": pair, "kind": kind, "same_recipe": bool(g["same_recipe"].iloc[0]),
                     "train_barrier": barrier(g["train_error"]), "test_barrier": barrier(g["test_error"]),
                     "max_train_error": float(g["train_error"].max()),
                     "end_train_error": float(max(g["train_error"].iloc[0], g["train_error"].iloc[-1]))})
    return pd.DataFrame(rows)


#: The per-network columns averaged over seeds in the optimisers' tables.
NETWORK_COLUMNS = ["epochs", "train_error", "test_error", "flatness"]


def recipe_table(networks: pd.DataFrame, pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (architecture, recipe): mean epochs, errors and flatness over seeds, and (with
    ``pairs``) the mean aligned and unaligned distance between the recipe's own seeds."""
    table = networks.groupby(["architecture", "recipe"], sort=False)[NETWORK_COLUMNS].mean()
    if pairs is None:
        return table
    own = pairs[pairs["same_recipe"]].groupby(["architecture", "recipe_a"], sort=False)[
        ["distance_aligned", "distance_unaligned"]].mean()
    own.index.names = ["architecture", "recipe"]
    return table.join(own)
