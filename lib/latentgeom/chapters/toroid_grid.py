"""The toroidal-landscape chapter's grid and its measurements (:mod:`latentgeom.chapters.toroids`).

:class:`ToroidSettings` is the chapter's scale: architectures x optimisers (:data:`~latentgeom.
networks.toroid_networks.RECIPES`) x seeds, trained to zero training error on a Fashion-MNIST
subset, and the binary MLP's grid. :func:`run` is one run (replicate) of the chapter, every
part of it following the run's seed (data subsets, the networks' starting points, weight
noise): it trains (or loads) every network, measures its errors and local energy, the
distances between every two networks of one architecture, and the errors along the geodesic,
linear, aligned linear and one-bend paths between minimisers (:data:`PATHS`,
:mod:`latentgeom.networks.weight_space`); every table is cached by content key, so the book's
second build trains and measures nothing. :func:`combine` joins the runs' tables;
:func:`barriers` and :func:`recipe_table` summarise them.
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

__all__ = ["BARRIER_COLUMNS", "NETWORK_COLUMNS", "PATHS", "PATH_COLUMNS", "TABLES_VERSION", "ToroidSettings",
           "barriers", "combine", "load_data", "network_label", "network_seed", "path_pairs", "recipe_table", "run",
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
        Per architecture: networks of every recipe in one run (each from its own starting point:
        :func:`network_seed`), and the epoch cap (training stops earlier at zero training error).
    sigmas : tuple of float
        Relative noise levels of the local energy; flatness is its mean over them.
    n_perturb : int
        Seeded noise draws per sigma.
    path_points : int
        Points per path (including both ends).
    path_architectures : tuple of str
        Architectures whose geodesic and linear paths are measured (between minimisers:
        :func:`path_pairs`).
    bend_architectures : tuple of str
        Architectures whose one-bend paths are measured (between minimisers of different recipes).
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
    ``settings`` (``n_train`` / ``n_test`` images, drawn with ``seed``, the run's seed)."""
    return {"train": load_tensors("fashion-mnist", "train", n=settings.n_train, seed=seed),
            "test": load_tensors("fashion-mnist", "test", n=settings.n_test, seed=seed)}


def network_seed(run_seed: int, index: int, per_run: int) -> int:
    """The training seed of network ``index`` (0 .. ``per_run``-1) of a recipe in the run of
    ``run_seed``: ``run_seed * per_run + index``, so that every run trains its own networks
    (their starting points are :func:`~latentgeom.networks.toroid_networks.init_seed` of it) and
    run 0's networks are seeds ``0 .. per_run-1``."""
    return run_seed * per_run + index


def network_label(recipe: str, seed: int) -> str:
    """A network's name in the tables: ``"<recipe> #<seed>"`` (unique within an architecture
    over every run, since the seeds of different runs differ: :func:`network_seed`)."""
    return f"{recipe} #{seed}"


def _networks(settings, data, architecture, recipes, per_run, max_epochs, sigmas, seed, progress):
    """Train (or load) every network of one architecture in the run of ``seed`` and measure its
    errors and flatness; ``minimiser``: zero training error."""
    nets, rows = {}, []
    grid = [(r, network_seed(seed, i, per_run)) for r, i in itertools.product(recipes, range(per_run))]
    for recipe, s in bar(grid, desc=f"{architecture} networks (run {seed})", enabled=progress):
        net, epochs = train_network(architecture, recipe, s, *data["train"], max_epochs=max_epochs)
        if architecture == "binary_mlp":
            net = binarised(net)
        energy = local_energy(net, *data["train"], sigmas, n_samples=settings.n_perturb, seed=seed)
        nets[(recipe, s)] = net
        train_error = error(net, *data["train"])
        rows.append({"run": seed, "architecture": architecture, "recipe": recipe, "seed": s,
                     "network": network_label(recipe, s), "epochs": epochs, "train_error": train_error,
                     "test_error": error(net, *data["test"]), "minimiser": train_error == 0,
                     "flatness": float(energy.mean()),
                     **{f"dE_{sigma:g}": float(e) for sigma, e in zip(sigmas, energy)}})
    return nets, pd.DataFrame(rows)


def _pairs(architecture, nets, table) -> pd.DataFrame:
    """Every two networks of one architecture in one run: aligned and unaligned distance, mean
    flatness, and whether both are minimisers."""
    rows_of = {(r.recipe, r.seed): r for r in table.itertuples()}
    rows = []
    for (ka, a), (kb, b) in itertools.combinations(nets.items(), 2):
        ra, rb = rows_of[ka], rows_of[kb]
        rows.append({"run": ra.run, "architecture": architecture, "a": ra.network, "b": rb.network,
                     "same_recipe": ka[0] == kb[0], "recipe_a": ka[0], "recipe_b": kb[0],
                     "minimisers": bool(ra.minimiser and rb.minimiser), "flatness": (ra.flatness + rb.flatness) / 2,
                     "distance_aligned": distance(sym.normalise(a), sym.align(a, b)),
                     "distance_unaligned": distance(sym.normalise(a), sym.normalise(b))})
    return pd.DataFrame(rows)


def path_pairs(minimisers: dict) -> list:
    """The pairs of minimisers whose paths are measured, as ``((recipe, seed), (recipe, seed))``.

    ``minimisers``: recipe -> the seeds of its minimisers, in training order. The pairs: the
    first two minimisers of every recipe, and the first minimiser of every two recipes (claims
    3 and 4 are about minimisers: a network that did not reach zero training error is none).
    """
    same = [((r, s[0]), (r, s[1])) for r, s in minimisers.items() if len(s) >= 2]
    firsts = [(r, s[0]) for r, s in minimisers.items() if s]
    return same + list(itertools.combinations(firsts, 2))


#: The paths measured between two minimisers A and B: the geodesic between A and B aligned to A
#: (both normalised), the linear path between the raw networks (no symmetry removed) and the
#: *aligned linear* path between A and B permuted to A (raw weights, no normalisation: the
#: control that removes the permutation barrier the unaligned path carries); between minimisers
#: of different recipes, also the one-bend path (two geodesic segments).
PATHS = ("geodesic", "linear", "aligned linear", "one bend")


def _paths(settings, data, architecture, nets, table, seed, progress) -> pd.DataFrame:
    """Errors along the paths (:data:`PATHS`) of every pair of :func:`path_pairs`."""
    minimisers = {r: [int(s) for s in g.sort_values("seed")["seed"]]
                  for r, g in table[table["minimiser"]].groupby("recipe", sort=False)}
    frames = []
    for ka, kb in bar(path_pairs(minimisers), desc=f"{architecture} paths (run {seed})", enabled=progress):
        a, b = nets[ka], nets[kb]
        na, nb = sym.normalise(a), sym.align(a, b)
        label = dict(run=seed, architecture=architecture,
                     pair=f"{network_label(*ka)} / {network_label(*kb)}", same_recipe=ka[0] == kb[0])
        parts = {"geodesic": path_errors(na, nb, "geodesic", data, settings.path_points),
                 "linear": path_errors(a, b, "linear", data, settings.path_points),
                 "aligned linear": path_errors(a, sym.align(a, b, raw=True), "linear", data, settings.path_points)}
        if ka[0] != kb[0] and architecture in settings.bend_architectures:
            bend = one_bend_path(na, nb, *data["train"], steps=settings.bend_steps, seed=seed)
            first = path_errors(na, bend, "geodesic", data, settings.path_points)
            second = path_errors(bend, nb, "geodesic", data, settings.path_points)
            first["t"] /= 2
            second["t"] = 0.5 + second["t"] / 2
            parts["one bend"] = pd.concat([first, second.iloc[1:]], ignore_index=True)
        for kind, frame in parts.items():
            frames.append(frame.assign(kind=kind, **label))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=PATH_COLUMNS)


#: The columns of the paths table (also of an empty one: a run without two minimisers).
PATH_COLUMNS = ["t", "train_error", "test_error", "kind", "run", "architecture", "pair", "same_recipe"]
#: Part of :func:`run_key`: bump it when a change of the code changes the tables (not the
#: networks: those are keyed by :data:`~latentgeom.networks.toroid_networks.CACHE_VERSION`).
#: 2: runs over seeds (a ``run`` column, each run's own networks), minimisers, the paths between
#: minimisers only, and the aligned linear path.
TABLES_VERSION = 2


def run_key(settings: ToroidSettings, seed: int) -> str:
    """The content key of :func:`run`'s cached tables: the settings, the recipes they name and
    the run's seed (and :data:`~latentgeom.networks.toroid_networks.CACHE_VERSION`,
    :data:`TABLES_VERSION`)."""
    recipes = {r: asdict(RECIPES[r]) for r in (*settings.recipes, *settings.binary_recipes)}
    return content_key("toroids-run", CACHE_VERSION, asdict(settings), recipes, seed, "tables", TABLES_VERSION)


def run(settings: ToroidSettings, seed: int = 0, *, progress: bool = True, cache: bool = True) -> dict:
    """One run of the chapter's measurements (one replicate), each table cached under
    :func:`run_key` of the settings and the run's seed.

    Returns ``{"networks", "pairs", "paths", "binary_networks", "binary_pairs"}`` frames, each
    with the run's seed in a ``run`` column: one row per network (errors, ``minimiser``: zero
    training error, local energy per sigma, ``flatness``), per pair of networks of one
    architecture (aligned and unaligned distance, mean flatness, ``minimisers``: both are), per
    path point between two minimisers (``kind``, :data:`PATHS`), and the same for the binary
    MLP. ``seed`` picks everything of the run: the data subsets, the networks' starting points
    (:func:`network_seed`), the weight noise and the one-bend path's SGD. Progress bars
    (``progress``) go to the console, never into a page.
    """
    check_int(seed, "seed", minimum=0)
    key = run_key(settings, seed)
    folder = model_cache_dir() / "toroids" / "results"
    data = load_data(settings, seed)
    state: dict = {}

    def real():
        if "nets" not in state:
            state["nets"], state["tables"] = {}, {}
            for arch in settings.architectures:
                state["nets"][arch], state["tables"][arch] = _networks(
                    settings, data, arch, settings.recipes, settings.seeds[arch], settings.max_epochs[arch],
                    settings.sigmas, seed, progress)
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

    tables = {
        "networks": stored("networks", lambda: pd.concat(list(real()["tables"].values()), ignore_index=True)),
        "pairs": stored("pairs", lambda: pd.concat(
            [_pairs(a, real()["nets"][a], real()["tables"][a]) for a in settings.architectures], ignore_index=True)),
        "paths": stored("paths", lambda: pd.concat(
            [_paths(settings, data, a, real()["nets"][a], real()["tables"][a], seed, progress)
             for a in settings.path_architectures] or [pd.DataFrame(columns=PATH_COLUMNS)], ignore_index=True)),
        "binary_networks": stored("binary-networks", lambda: binary()[1]),
        "binary_pairs": stored("binary-pairs", lambda: _pairs("binary_mlp", *binary())),
    }
    if tables["paths"].empty:  # an empty table comes back from its JSON without columns
        tables["paths"] = pd.DataFrame(columns=PATH_COLUMNS)
    return tables


def combine(runs: list[dict]) -> dict:
    """The tables of several runs (each :func:`run`'s), concatenated (the ``run`` column tells
    them apart)."""
    return {name: pd.concat([r[name] for r in runs], ignore_index=True) for name in runs[0]}


# ---------------------------------------------------------------------------------------------
# Summaries of the tables


#: The columns of :func:`barriers`.
BARRIER_COLUMNS = ["run", "architecture", "pair", "kind", "same_recipe", "train_barrier", "test_barrier",
                   "max_train_error", "end_train_error"]


def barriers(paths: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, architecture, pair, kind): the train and test error barriers
    (:func:`barrier`), the largest training error on the path and the larger endpoint training
    error."""
    rows = []
    for (run_seed, arch, pair, kind), g in paths.groupby(["run", "architecture", "pair", "kind"], sort=False):
        g = g.sort_values("t")
        rows.append({"run": run_seed, "architecture": arch, "pair": pair, "kind": kind,
                     "same_recipe": bool(g["same_recipe"].iloc[0]),
                     "train_barrier": barrier(g["train_error"]), "test_barrier": barrier(g["test_error"]),
                     "max_train_error": float(g["train_error"].max()),
                     "end_train_error": float(max(g["train_error"].iloc[0], g["train_error"].iloc[-1]))})
    return pd.DataFrame(rows, columns=BARRIER_COLUMNS)


#: The per-network columns averaged over seeds in the optimisers' tables.
NETWORK_COLUMNS = ["epochs", "train_error", "test_error", "flatness"]


def recipe_table(networks: pd.DataFrame, pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (architecture, recipe), over every run: the networks, how many are minimisers (zero
    training error), the mean epochs, errors, test accuracy and flatness, and (with ``pairs``)
    the mean aligned and unaligned distance between the recipe's own networks of one run."""
    groups = networks.groupby(["architecture", "recipe"], sort=False)
    table = groups[NETWORK_COLUMNS].mean()
    table.insert(0, "minimisers", groups["minimiser"].sum().astype(int))
    table.insert(0, "networks", groups.size())
    table.insert(table.columns.get_loc("test_error") + 1, "test_accuracy", 1 - table["test_error"])
    if pairs is None:
        return table
    own = pairs[pairs["same_recipe"]].groupby(["architecture", "recipe_a"], sort=False)[
        ["distance_aligned", "distance_unaligned"]].mean()
    own.index.names = ["architecture", "recipe"]
    return table.join(own)
