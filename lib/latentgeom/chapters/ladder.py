"""Study code of the training-ladder page (``book/findings/training-ladder.md``).

The question: when a finding is not reproduced at the book's scale (Fashion-MNIST, a few epochs,
test accuracy well below the papers' ~95 %), is that the scale or the claim? The page trains one
network per family (the preset zoo's ``plain_cnn``, ``vgg_small``, ``resnet_small``) longer, saves
checkpoints along the way (the *ladder*), computes every finding's headline statistic at each
checkpoint with the definitions of the finding pages, and asks whether each statistic moves
toward the paper's value as test accuracy rises.

- :class:`LadderSettings` / :func:`ladder_settings`: the ladder's scale per preset (checkpoint
  epochs, training images, width, points, estimator modes, classes of the ID profiles);
- :func:`setup` -> :class:`Ladder`: the page's whole configuration in one call;
- :func:`measure` -> :class:`Measurements`: trains (cached), profiles (cached) and computes the
  per-checkpoint statistics (:func:`model_statistics`), timing each stage;
- :data:`HEADLINES`: each statistic, the finding page it comes from and the paper's value;
- :func:`distance_to_paper`, :func:`within_family_spearman`, :func:`direction_label`,
  :func:`directions`, :func:`checks`: the direction test (pure functions of the statistics);
- :func:`relation_correlations`: curvature 3's and intrinsic dimension 3's correlations, pooled
  over the ladder's checkpoints;
- :func:`charts`, :func:`write_result`: the page's charts and its result file.

Definitions reused from the finding pages: :func:`latentgeom.chapters.curvature.shape_metrics`
(curvature 1: ``final_ratio``, ``plateau_spread``), :func:`latentgeom.chapters.curvature.gap_table`
(curvature 3: normalised gap), the within-model Spearman of TwoNN ID against MAPC over latent
layers (curvature 4), :func:`latentgeom.chapters.intrinsic_dimension.hunchback_summary` on
class-averaged profiles (intrinsic dimension 1: ``rise``, ``fall``) and the last hidden layer's
ID on mixed-class images (intrinsic dimension 3). Papers: Kaufman & Azencot, "Data
representations' study of latent image manifolds", ICML 2023 (arXiv 2305.19730); Ansuini, Laio,
Macke & Zoccolan, "Intrinsic dimension of data representations in deep neural networks",
NeurIPS 2019 (arXiv 1905.12784).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..reporting.provenance import StageClock
from ..reporting.statistics import bootstrap_correlation
from ..estimators.curvature import MODES
from ..networks.data import load_tensors
from ..validation import check_choice, check_int, check_range
from .curvature import gap_table, label, profile_models, shape_metrics
from .intrinsic_dimension import (IDSettings, average_over_classes, class_images, class_profiles,
                                  dimension_profile, hunchback_summary, id_settings, last_hidden_layer)
from ..profiles import GeometryConfig
from .presets import Preset, get_preset, sample_images, trajectory, with_overrides

#: Prefix of the scale-free curvature columns of a profile (reported when present, never required).
SCALE_FREE_PREFIX = "scale_free_"
DIRECTIONS = ("toward", "away", "no trend", "at the paper's value")
#: Directions of the statistics read without a paper value (the scale-free columns).
READING_DIRECTIONS = ("rises", "falls", "no trend")


@dataclass(frozen=True)
class LadderSettings:
    """Scale of the training ladder.

    Attributes
    ----------
    epochs : tuple of int
        Checkpoint epochs of one training run; the largest is the run's length (the cosine
        learning-rate schedule spans the whole run, as in the paper's checkpoints).
    n_train : int or None
        Training images (None: the whole training split).
    width : int or None
        Width multiplier of every family's network (None: the preset's smallest width).
    n_points : int or None
        Training images whose curvature profile is measured (None: the preset's).
    modes : tuple of str
        Curvature estimator modes (``"paper"``, ``"robust"``); the verdict uses the first.
    id_classes : int
        Classes averaged in the per-class ID profiles (the intrinsic-dimension page uses 7).
    """

    epochs: tuple[int, ...] = (1, 2, 4, 8)
    n_train: int | None = 6000
    width: int | None = None
    n_points: int | None = 150
    modes: tuple[str, ...] = ("paper",)
    id_classes: int = 2

    def __post_init__(self):
        epochs = tuple(sorted({check_int(e, "epochs", minimum=1) for e in self.epochs}))
        if len(epochs) < 3:
            raise ValueError(f"epochs needs at least 3 distinct checkpoint epochs >= 1 (a trend needs "
                             f"3 points per family), got {self.epochs!r}")
        object.__setattr__(self, "epochs", epochs)
        if self.n_train is not None:
            check_int(self.n_train, "n_train", minimum=10)
        if self.width is not None:
            check_int(self.width, "width", minimum=1)
        if self.n_points is not None:
            check_int(self.n_points, "n_points", minimum=10)
        modes = (self.modes,) if isinstance(self.modes, str) else tuple(self.modes)
        for mode in modes:
            check_choice(mode, "modes", MODES)
        if not modes:
            raise ValueError(f"modes must name at least one of {MODES}")
        object.__setattr__(self, "modes", modes)
        check_int(self.id_classes, "id_classes", minimum=1)


LADDER_SETTINGS: dict[str, LadderSettings] = {
    "tiny": LadderSettings(epochs=(1, 2, 3), n_train=256, n_points=None, modes=("paper",), id_classes=2),
    # Sized for ~4 minutes on 2 CPU cores from a cold cache (measured: see the page). The zoo's
    # default trains 4 epochs on 12000 images; the ladder trains 8 on 6000 (the same 48000 image
    # passes) at the smallest width and measures 150 points with the paper estimator only.
    "default": LadderSettings(epochs=(1, 2, 4, 8), n_train=6000, n_points=150, modes=("paper",), id_classes=2),
    "paper": LadderSettings(epochs=(10, 25, 50, 100, 200), n_train=None, n_points=None,
                            modes=MODES, id_classes=7),
}


def ladder_settings(preset: str, **overrides) -> LadderSettings:
    """The ladder's settings for a preset name, with single fields overridden (None = keep)."""
    check_choice(preset, "preset", sorted(LADDER_SETTINGS))
    return with_overrides(LADDER_SETTINGS[preset], "ladder setting", **overrides)


@dataclass(frozen=True)
class Ladder:
    """Everything the page needs to train and measure: one per page run (see :func:`setup`)."""

    preset: Preset
    settings: LadderSettings
    id: IDSettings
    geometry: GeometryConfig
    configs: tuple
    seed: int = 0

    def __repr__(self) -> str:
        s = self.settings
        return (f"ladder ({self.preset.name}): {', '.join(c.model for c in self.configs)} at width "
                f"{self.configs[0].width}, {self.preset.dataset}, {s.n_train} training images, checkpoints "
                f"at epochs {list(s.epochs)}; curvature on {self.preset.n_points} points (q = {self.preset.q}, "
                f"modes {list(s.modes)}); ID on {self.id.n_per_class} images x {self.id.n_classes} classes "
                f"and {self.id.n_mixed} mixed images")

    def parameters(self) -> dict:
        return {**asdict(self.preset), "ladder": asdict(self.settings), "id": self.id.as_dict(), "seed": self.seed}


def setup(preset: str = "default", *, seed: int = 0, **overrides) -> Ladder:
    """The ladder of ``preset`` with single :class:`LadderSettings` fields overridden (None = keep).

    Bad names or values raise one ``ValueError`` naming the parameter.
    """
    check_choice(preset, "preset", sorted(LADDER_SETTINGS))
    check_int(seed, "seed", minimum=0)
    if isinstance(overrides.get("epochs"), (int, np.integer)):
        raise ValueError(f"epochs must be a list of checkpoint epochs, got {overrides['epochs']!r}")
    settings = ladder_settings(preset, **overrides)
    P = get_preset(preset, n_points=settings.n_points)
    width = min(P.widths) if settings.width is None else settings.width
    id_ = id_settings(preset, n_classes=settings.id_classes)
    configs = tuple(P.config(a, width, n_train=settings.n_train, epochs=max(settings.epochs),
                             checkpoint_epochs=settings.epochs) for a in P.architectures)
    return Ladder(P, settings, id_, P.geometry(modes=settings.modes, seed=seed), configs, seed)


# --------------------------------------------------------------------------------------------
# Statistics of one model (the finding pages' definitions)


def id_curvature_rho(profile: pd.DataFrame, column: str) -> float:
    """Spearman rho of TwoNN ``id_mean`` against ``column`` over one model's latent layers
    (relative depth > 0): curvature 4's within-model statistic (NaN if constant)."""
    latent = profile[profile["relative_depth"] > 0]
    if len(latent) < 3:
        raise ValueError(f"need at least 3 latent layers, got {len(latent)}")
    return float(latent["id_mean"].corr(latent[column], method="spearman"))


def curvature_columns(profile: pd.DataFrame, modes: Sequence[str]) -> dict[str, str]:
    """``{suffix: column}`` of the curvature quantities to summarise: ``mapc_M`` for each mode
    (suffix ``M``) and every numeric ``scale_free_*`` column (suffix: the column name)."""
    out = {m: f"mapc_{m}" for m in modes if f"mapc_{m}" in profile}
    out.update({c: c for c in profile.columns
                if c.startswith(SCALE_FREE_PREFIX) and pd.api.types.is_numeric_dtype(profile[c])})
    return out


def model_statistics(profile: pd.DataFrame, id_profile: pd.DataFrame, last_hidden_id: float,
                     modes: Sequence[str]) -> dict:
    """Every headline statistic of one model (one checkpoint of one family).

    ``profile`` is its curvature profile (:func:`latentgeom.profile`), ``id_profile`` its
    class-averaged ID profile (:func:`latentgeom.chapters.intrinsic_dimension.average_over_classes`),
    ``last_hidden_id`` the TwoNN ID of its last hidden layer on mixed-class images. Curvature
    columns are suffixed by the mode (``final_ratio_paper``) or the scale-free column name.
    """
    out = {}
    for suffix, column in curvature_columns(profile, modes).items():
        shape = shape_metrics(profile, column)
        out[f"final_ratio_{suffix}"] = shape["final_ratio"]
        out[f"plateau_spread_{suffix}"] = shape["plateau_spread"]
    for mode in modes:
        out[f"gap_{mode}"] = float(gap_table(profile, by="model", modes=[mode])[f"gap_{mode}"].iloc[0])
        out[f"id_mapc_rho_{mode}"] = id_curvature_rho(profile, f"mapc_{mode}")
    hunch = hunchback_summary(id_profile)
    out.update(id_rise=hunch["rise"], id_fall=hunch["fall"], last_hidden_id=float(last_hidden_id))
    return out


@dataclass
class Measurements:
    """What :func:`measure` returns: ``stats`` (one row per family x checkpoint: ``model, width,
    epoch, test_accuracy, train_accuracy`` and the statistics), the curvature ``profiles`` and the
    class-averaged ``id_profiles`` (long frames), and ``timings`` (seconds per stage)."""

    stats: pd.DataFrame
    profiles: pd.DataFrame
    id_profiles: pd.DataFrame
    timings: pd.DataFrame = field(default_factory=pd.DataFrame)


def measure(ladder: Ladder, *, progress: bool = True) -> Measurements:
    """Train every family's ladder (cached), measure every checkpoint (cached), time each stage.

    Timings are wall and process CPU seconds (all threads) of training (or reading the model
    cache), curvature profiles, ID profiles, and the statistics.
    """
    clock = StageClock()
    P, S = ladder.preset, ladder.id
    with clock("training (or model cache)"):
        members = [m for c in ladder.configs for m in trajectory(c, device=P.device)]
    images, _ = sample_images(P, seed=ladder.seed)
    with clock("curvature profiles"):
        profiles = profile_models(members, images, ladder.geometry)
    kw = dict(id_resamples=S.n_resamples, seed=ladder.seed, device=P.device)

    def id_profiles():
        by_class = class_images(P.dataset, range(S.n_classes), S.n_per_class, seed=ladder.seed)
        per_class = pd.concat([class_profiles(m, by_class, **kw) for m in members], ignore_index=True)
        mixed, _ = load_tensors(P.dataset, split="train", n=S.n_mixed, seed=ladder.seed)
        last = [float(dimension_profile(m, mixed, layers=[last_hidden_layer(m.model)], **kw)["id_mean"].iloc[0])
                for m in members]
        return average_over_classes(per_class), last

    with clock("ID profiles"):
        averaged, last = id_profiles()

    def statistics():
        rows = []
        for m, lid in zip(members, last):
            name = label(m.config, m.epoch)
            one = averaged[(averaged["model"] == m.config.model) & (averaged["epoch"] == m.epoch)]
            rows.append(dict(model=m.config.model, width=m.config.width, epoch=m.epoch,
                             test_accuracy=m.test_accuracy, train_accuracy=m.train_accuracy,
                             **model_statistics(profiles[profiles["label"] == name], one, lid,
                                                ladder.settings.modes)))
        return pd.DataFrame(rows)

    with clock("statistics"):
        table = statistics()
    return Measurements(table, profiles, averaged, pd.DataFrame(clock.records()))


# --------------------------------------------------------------------------------------------
# The paper's values and the direction test (pure functions)


@dataclass(frozen=True)
class Headline:
    """One finding's headline statistic on the ladder.

    ``kind="level"``: the paper gives a value (range ``low..high``) and the test asks whether our
    distance to it shrinks as accuracy rises. ``kind="relation"``: the paper's claim is itself a
    relation with accuracy (``sign`` +1: the statistic rises with accuracy, -1: it falls); the
    range is drawn for orientation only. ``log``: distances are in decades (ratios).
    """

    key: str
    finding: str
    title: str
    kind: str
    low: float
    high: float
    log: bool
    source: str
    sign: int = 0
    per_mode: bool = True


HEADLINES: tuple[Headline, ...] = (
    Headline("final_ratio", "curvature-1-profile-shape", "last / penultimate MAPC", "level", 6.0, 19.6, True,
             "Kaufman & Azencot 2023, Figs. 2-3: CIFAR-10 normalised gaps 5-18.6, i.e. ratios 6-19.6"),
    Headline("plateau_spread", "curvature-1-profile-shape", "plateau spread (max / min middle MAPC)", "level",
             1.0, 8.3, True, "Kaufman & Azencot 2023, Fig. 2: the plateau spans 0.03-0.25 over six networks"),
    Headline("gap", "curvature-3-gap-accuracy", "normalised curvature gap", "relation", 5.0, 18.6, False,
             "Kaufman & Azencot 2023, Fig. 3: the gap rises with accuracy, also along training; CIFAR-10 5-18.6",
             sign=+1),
    Headline("id_mapc_rho", "curvature-4-id-vs-curvature", "Spearman(ID, MAPC) over latent layers", "level",
             -0.7, 0.7, False, "Kaufman & Azencot 2023, Sec. 5: ID not indicative of curvature "
             "(|rho| < 0.7, curvature 4's threshold)"),
    Headline("id_rise", "id-1-hunchback", "ID peak / input", "level", 2.5, 2.5, True,
             "Ansuini et al. 2019: VGG-16 ID 29 at the input, 72 at the peak", per_mode=False),
    Headline("id_fall", "id-1-hunchback", "ID last hidden / peak", "level", 0.09, 0.2, True,
             "Ansuini et al. 2019: VGG-16 6.5 / 72 = 0.09; ImageNet models ~0.2", per_mode=False),
    Headline("last_hidden_id", "id-3-last-layer-vs-accuracy", "last hidden layer ID", "relation", 6.5, 25.0, True,
             "Ansuini et al. 2019, Fig. 5: lower last-hidden ID, lower error (r = 0.94); VGG-16 6.5, ImageNet 15-25",
             sign=-1, per_mode=False),
)


def headline_table(headlines: Sequence[Headline] = HEADLINES) -> pd.DataFrame:
    """The headline statistics and the paper's values, as a table for the page."""
    return pd.DataFrame([dict(statistic=h.title, finding=h.finding, test=h.kind, paper_low=h.low,
                              paper_high=h.high, scale="log" if h.log else "linear", source=h.source)
                         for h in headlines])


def distance_to_paper(values, low: float, high: float, *, log: bool) -> np.ndarray:
    """Distance of each value to the paper's range ``[low, high]``: 0 inside; outside, the
    distance to the nearer end, in decades (``log=True``, values must be > 0) or plain units.

    NaN values stay NaN.
    """
    values = np.asarray(values, dtype=float)
    if not low <= high:
        raise ValueError(f"low must be <= high, got {low} > {high}")
    if log:
        if low <= 0:
            raise ValueError(f"a log distance needs a positive range, got low={low}")
        if (values[np.isfinite(values)] <= 0).any():
            raise ValueError("a log distance needs positive values")
        values, low, high = np.log10(values), math.log10(low), math.log10(high)
    distance = np.where(values < low, low - values, np.where(values > high, values - high, 0.0))
    return np.where(np.isnan(values), np.nan, distance)


def within_family_spearman(frame: pd.DataFrame, column: str, *, x: str = "test_accuracy",
                           family: str = "model") -> pd.Series:
    """Spearman rho of ``column`` against ``x`` across each family's checkpoints (NaN rows
    dropped; NaN where a family has fewer than 3 points or a constant column)."""
    for c in (column, x, family):
        if c not in frame:
            raise ValueError(f"frame has no column {c!r}")
    out = {}
    for name, g in frame.groupby(family, sort=False):
        g = g[[x, column]].dropna()
        constant = g[column].nunique() < 2 or g[x].nunique() < 2
        out[name] = math.nan if len(g) < 3 or constant else float(sps.spearmanr(g[x], g[column]).statistic)
    return pd.Series(out, name=column, dtype=float)


def direction_label(rho: float, threshold: float = 0.5, *, at_paper: bool = False) -> str:
    """``rho`` is the (mean within-family) Spearman of the *distance to the paper* against
    accuracy: <= -threshold is "toward", >= +threshold "away", else "no trend"; ``at_paper``
    (the distance is 0 at every checkpoint) gives "at the paper's value"."""
    check_range(threshold, "threshold", 0, 1, closed="right")
    if at_paper:
        return DIRECTIONS[3]
    if not np.isfinite(rho):
        return DIRECTIONS[2]
    return DIRECTIONS[0] if rho <= -threshold else DIRECTIONS[1] if rho >= threshold else DIRECTIONS[2]


def _suffixes(stats: pd.DataFrame, key: str) -> list[str]:
    return [c[len(key) + 1:] for c in stats.columns if c.startswith(f"{key}_")]


def _columns(stats: pd.DataFrame, h: Headline) -> list[tuple[str | None, str]]:
    """``(mode or None, column)`` of a headline in the statistics table (scale-free ones excluded)."""
    if not h.per_mode:
        return [(None, h.key)] if h.key in stats else []
    return [(s, f"{h.key}_{s}") for s in _suffixes(stats, h.key) if not s.startswith(SCALE_FREE_PREFIX)]


def relation_correlations(stats: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0,
                          headlines: Sequence[Headline] = HEADLINES) -> pd.DataFrame:
    """The relation findings' own test on the ladder: Pearson and Spearman (bootstrap 95 %
    intervals, :func:`latentgeom.bootstrap_correlation`) of each relation statistic against test
    accuracy, pooled over every checkpoint of every family — curvature 3's gap-accuracy
    correlation and intrinsic dimension 3's last-hidden ID against accuracy. ``paper_sign`` is the
    sign the paper reports (+: rises with accuracy)."""
    rows = []
    for h in headlines:
        for suffix, column in (_columns(stats, h) if h.kind == "relation" else []):
            frame = stats[[column, "test_accuracy"]].dropna()
            c = bootstrap_correlation(frame[column], frame["test_accuracy"], n_boot=n_boot, seed=seed)
            rows.append(dict(statistic=h.title, finding=h.finding, mode=suffix or "—",
                             paper_sign="+" if h.sign > 0 else "-", n=c.n, pearson=c.pearson,
                             pearson_low=c.pearson_ci[0], pearson_high=c.pearson_ci[1], spearman=c.spearman,
                             spearman_low=c.spearman_ci[0], spearman_high=c.spearman_ci[1]))
    return pd.DataFrame(rows)


def directions(stats: pd.DataFrame, threshold: float = 0.5,
               headlines: Sequence[Headline] = HEADLINES) -> pd.DataFrame:
    """The direction of every headline statistic along the ladder (one row per statistic and
    estimator mode / scale-free column).

    ``rho`` is the mean over families of the within-family Spearman of the *toward-the-paper
    score* against test accuracy, with its sign set so that negative means toward: for a level
    statistic the score is the distance to the paper's range (:func:`distance_to_paper`); for a
    relation statistic it is ``-sign x statistic``. ``rho_pooled`` is the same Spearman over all
    checkpoints of all families, for reading; ``first`` / ``last`` the median over families of the
    statistic at the first / last checkpoint; ``closed`` (level statistics) the median over
    families of the share of the first checkpoint's distance to the paper closed by the last one
    (1: reached, 0: no closer, < 0: farther; NaN when the first is already at the paper's value). Scale-free columns (no paper value) get
    ``kind="reading"``: ``rho`` of the statistic itself, and direction "rises"/"falls"/"no trend".
    """
    rows = []
    for h in headlines:
        for suffix, column in _columns(stats, h):
            values = stats[column].to_numpy(dtype=float)
            score = distance_to_paper(values, h.low, h.high, log=h.log) if h.kind == "level" else -h.sign * values
            frame = stats[["model", "test_accuracy"]].assign(score=score)
            per_family = within_family_spearman(frame, "score")
            rho = float(per_family.mean()) if per_family.notna().any() else math.nan
            pooled = within_family_spearman(frame.assign(model="all"), "score")["all"]
            finite = score[np.isfinite(score)]
            at_paper = h.kind == "level" and finite.size > 0 and bool(np.all(finite == 0))
            ordered = stats.assign(value=values, score=score).sort_values("epoch", kind="stable").groupby("model")
            ends, gaps = ordered["value"], ordered["score"]
            with np.errstate(divide="ignore", invalid="ignore"):
                closed = (1 - gaps.last() / gaps.first()).replace([np.inf, -np.inf], np.nan)
            rows.append(dict(statistic=h.title, finding=h.finding, key=h.key, mode=suffix or "—", kind=h.kind,
                             paper=f"{h.low:g}" if h.low == h.high else f"{h.low:g} to {h.high:g}",
                             first=float(ends.first().median()), last=float(ends.last().median()),
                             closed=float(closed.median()) if h.kind == "level" and closed.notna().any() else math.nan,
                             **{f"rho_{k}": v for k, v in per_family.items()}, rho=rho, rho_pooled=pooled,
                             direction=direction_label(rho, threshold, at_paper=at_paper)))
    for key in ("final_ratio", "plateau_spread"):
        for suffix in (s for s in _suffixes(stats, key) if s.startswith(SCALE_FREE_PREFIX)):
            per_family = within_family_spearman(stats, f"{key}_{suffix}")
            rho = float(per_family.mean()) if per_family.notna().any() else math.nan
            rows.append(dict(statistic=f"{key} of {suffix}", finding="curvature-1-profile-shape", key=key,
                             mode=suffix, kind="reading", paper="—", **{f"rho_{k}": v for k, v in per_family.items()},
                             rho=rho, direction=READING_DIRECTIONS[0] if rho >= threshold
                             else READING_DIRECTIONS[1] if rho <= -threshold else READING_DIRECTIONS[2]))
    return pd.DataFrame(rows)


def checks(table: pd.DataFrame, mode: str = "paper") -> dict[str, bool]:
    """One check per headline statistic under ``mode`` (and every mode-free one): passes when it
    moves toward the paper's value as accuracy rises, or sits at it throughout."""
    rows = table[(table["kind"] != "reading") & table["mode"].isin([mode, "—"])]
    if rows.empty:
        raise ValueError(f"no headline statistic measured under mode {mode!r}")
    return {f"{r.statistic} ({r.finding}) moves toward the paper's value as accuracy rises":
            r.direction in (DIRECTIONS[0], DIRECTIONS[3]) for r in rows.itertuples()}


# --------------------------------------------------------------------------------------------
# Charts and the result file


def charts(stats: pd.DataFrame, mode: str = "paper", headlines: Sequence[Headline] = HEADLINES) -> list:
    """One chart per headline statistic: its value against test accuracy, a line per family
    through its checkpoints, the paper's value (range) as horizontal rules."""
    from ..reporting.plots import reference_chart

    out = []
    for h in headlines:
        column = f"{h.key}_{mode}" if h.per_mode else h.key
        if column in stats:
            out.append(reference_chart(stats, "test_accuracy", column, color="model", order="epoch",
                                       reference=(h.low, h.high), log=h.log,
                                       title=f"{h.title} ({h.finding})", y_title=h.title,
                                       x_title="test accuracy"))
    return out


def write_result(ladder: Ladder, measurements: Measurements, table: pd.DataFrame,
                 checks_by_mode: Mapping[str, Mapping[str, bool]], correlations: pd.DataFrame | None = None, *,
                 seconds: float | None = None):
    """Write the page's result file (finding id ``training-ladder``); returns its path.

    ``ours`` holds, per statistic (and mode), the direction, its Spearman numbers and the
    first/last checkpoint values, the statistics at every checkpoint, the pooled
    ``correlations`` (:func:`relation_correlations`) and the stage timings;
    ``estimator_modes`` the verdict under every mode measured.
    """
    from ..reporting.findings import Finding, verdict, write_finding

    primary = ladder.settings.modes[0]
    modes = {m: verdict(c) for m, c in checks_by_mode.items()}
    scored = table[table["kind"] != "reading"]
    ours = {f"{r.key}/{r.mode}": {k: getattr(r, k, math.nan) for k in ("direction", "rho", "rho_pooled", "first",
                                                                       "last", "closed")}
            for r in table.itertuples()}
    short = "; ".join(f"{r.key}: {r.direction} (rho {r.rho:+.2f})" for r in scored.itertuples()
                      if r.mode in (primary, "—"))
    acc = measurements.stats["test_accuracy"]
    passed = sum(checks_by_mode[primary].values())
    summary = (f"{modes[primary]}: {passed} of {len(checks_by_mode[primary])} headline statistics move toward "
               f"the paper's value as test accuracy rises from {acc.min():.3f} to {acc.max():.3f} "
               f"({len(ladder.configs)} families, checkpoints at epochs {list(ladder.settings.epochs)}). {short}.")
    finding = Finding(
        finding_id="training-ladder", title="Does the verdict move with training?",
        notebook="book/findings/training-ladder.md",
        paper_claim=("The papers' numbers are those of fully trained networks (~95 % on CIFAR-10); if ours "
                     "differ because of scale, each headline statistic moves toward the paper's value as "
                     "test accuracy rises."),
        paper={h.key: {"finding": h.finding, "low": h.low, "high": h.high, "kind": h.kind, "source": h.source}
               for h in HEADLINES},
        ours={"directions": ours, "checkpoints": measurements.stats.to_dict("records"),
              "pooled_correlations": [] if correlations is None else correlations.to_dict("records"),
              "timings": measurements.timings.to_dict("records")},
        checks=dict(checks_by_mode[primary]), verdict=modes[primary], parameters=ladder.parameters(),
        estimator_modes=modes,
        paper_value="each statistic at the paper's value once trained to ~95 %",
        our_value=short, summary=summary, seconds=seconds)
    return write_finding(finding)


# --------------------------------------------------------------------------------------------
# The sweep (python -m latentgeom sweep): what the ladder page trains and measures


def work_units(preset: str) -> list:
    """The units of :mod:`latentgeom.sweep` that ``book/findings/training-ladder.md`` needs:
    every family's run with its checkpoints, and at every checkpoint the curvature profile, the
    per-class ID profiles and the last hidden layer's ID, as :func:`measure` takes them (the
    page's parameters are read from the page)."""
    from .. import sweep
    from ..networks.training import new_model

    values = sweep.page_parameters("findings/training-ladder.md")
    overrides = {k: v for k, v in values.items() if k in LadderSettings.__dataclass_fields__}
    ladder = setup(preset, seed=values.get("seed", 0), **overrides)
    P, S = ladder.preset, ladder.id
    kw = dict(id_resamples=S.n_resamples, seed=ladder.seed, device=P.device)
    images = sweep.Images(P.dataset, n=P.n_points, seed=ladder.seed)  # = sample_images(P, seed)
    mixed = sweep.Images(P.dataset, n=S.n_mixed, seed=ladder.seed)
    by_class = [sweep.Images(P.dataset, per_class=S.n_per_class, classes=(k,), seed=ladder.seed)
                for k in range(S.n_classes)]  # = class_images(...)
    units = []
    for config in ladder.configs:
        last = last_hidden_layer(new_model(config))
        for epoch in sorted({*config.checkpoint_epochs, config.epochs}):
            units.append(sweep.Profile.curvature(config, epoch, images, ladder.geometry))
            units += [sweep.Profile.dimension(config, epoch, one_class, with_pca=False, **kw) for one_class in by_class]
            units.append(sweep.Profile.dimension(config, epoch, mixed, layers=[last], **kw))
    return units
