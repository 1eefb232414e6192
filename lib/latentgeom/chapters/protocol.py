"""The chapter protocol: one shape for every paper's chapter, its pages and the sweep.

A chapter is a module of :mod:`latentgeom.chapters`. It defines

- ``CLAIMS``: ``{claim id: Claim}``, the paper's claims it tests, one :class:`Claim` each: the
  statement, the paper's number and source, the thresholds of its tests (fixed before the data)
  and the preconditions without which the tests mean nothing;
- ``SETTINGS``: a :class:`PresetTable`, the chapter's scale per preset (``tiny`` for tests,
  ``default`` for the book on 2 CPU cores, ``paper`` where the chapter has the paper's scale);
- ``PAGES``: ``{page name: Page}``, its book pages, one :class:`Page` each (the path, the
  parameters the page declares and what they accept, and the page's ``setup``);
- ``setup(...) -> Study``: the page's preamble, one call: it checks every parameter (one clear
  ``ValueError`` naming a bad one) and returns the chapter's :class:`Study`;
- a :class:`Study` subclass: ``plan()`` lists the work units (:mod:`latentgeom.units`) that
  the page measures, and :meth:`Study.measure` computes or reads them; the chapter's checks
  turn the measurements into one :class:`Outcome` per claim, and :meth:`Study.record` writes
  each as a result file (:func:`latentgeom.reporting.findings.write_finding`). The study
  keeps the page's clock (:attr:`Study.clock`): result files carry where the time went.

The sweep (:mod:`latentgeom.sweep`) finds the chapters by their ``PAGES`` and computes each
page's ``study.plan()`` ahead of time: the same list the page measures, so there is no second,
hand-built plan. Chapters never import the sweep.

Adding a fifth paper's chapter: copy :mod:`.toroids` (the smallest), write its ``CLAIMS``,
``SETTINGS``, ``PAGES``, ``setup`` and ``Study.plan``, and a page under ``book/findings/``
that calls ``setup``, ``measure``, the checks and ``record``.
"""
from __future__ import annotations

import ast
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Generic, Iterable, Mapping, TypeVar

import pandas as pd

from ..paths import home
from ..reporting.findings import Finding, write_finding
from ..reporting.provenance import StageClock
from ..validation import Parameter, check_choice, check_parameters
from ..workers import compute

__all__ = ["Claim", "Outcome", "Page", "PresetTable", "Study", "book_dir", "page_parameters", "with_overrides"]

S = TypeVar("S")


# --------------------------------------------------------------------------------------------
# Settings per preset


def with_overrides(settings: S, what: str, **overrides) -> S:
    """A copy of the frozen dataclass ``settings`` with single fields replaced.

    ``None`` values keep the field (a page parameter left at ``None`` means "the preset's");
    unknown field names raise ``ValueError`` listing the valid ones.
    """
    valid = {f.name for f in fields(settings)} - {"name"}
    unknown = set(overrides) - valid
    if unknown:
        raise ValueError(f"unknown {what} field(s) {sorted(unknown)}; valid: {sorted(valid)}")
    return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


class PresetTable(Generic[S]):
    """A chapter's settings per preset name: ``SETTINGS("default", n_train=500)`` is the
    ``default`` entry with one field replaced (``None`` keeps a field). An unknown preset or
    field raises ``ValueError`` listing the valid ones."""

    def __init__(self, what: str, table: Mapping[str, S]):
        self.what = what
        self.table = dict(table)

    def __call__(self, preset: str, **overrides) -> S:
        check_choice(preset, "preset", list(self.table))
        return with_overrides(self.table[preset], self.what, **overrides)

    def __contains__(self, preset) -> bool:
        return preset in self.table

    def __iter__(self):
        return iter(self.table)

    @property
    def presets(self) -> tuple[str, ...]:
        return tuple(self.table)


# --------------------------------------------------------------------------------------------
# Claims and what a page found about them


@dataclass(frozen=True)
class Claim:
    """One claim of a paper, described before any data are seen.

    Attributes
    ----------
    id : str
        The result file's name (``results/findings/<id>.json``) and the scorecard's row.
    title : str
        The claim in a few words (the page's and the scorecard's heading).
    statement : str
        What the paper says, in words.
    source : str
        Paper, figure or table the statement and the numbers come from.
    paper : dict
        The paper's numbers, as the result file stores them.
    paper_value : str
        The paper's headline number in words (the scorecard's "paper" column).
    thresholds : dict
        Name -> value of every threshold of the claim's tests, fixed before the data.
    reasons : dict
        Name -> why that value (shown beside it on the page).
    preconditions : tuple of str
        What must hold before the tests mean anything (e.g. "the network memorised its
        random labels").
    page : str
        The page that tests it, relative to the repository (``book/findings/...md``).
    """

    id: str
    title: str
    statement: str
    source: str
    paper: dict
    paper_value: str
    thresholds: dict = field(default_factory=dict)
    reasons: dict = field(default_factory=dict)
    preconditions: tuple[str, ...] = ()
    page: str = ""

    def __post_init__(self):
        unexplained = set(self.reasons) - set(self.thresholds)
        if unexplained:
            raise ValueError(f"claim {self.id}: reasons for unknown thresholds {sorted(unexplained)}")

    def thresholds_table(self) -> pd.DataFrame:
        """The thresholds fixed before the data, one row each: value and why."""
        return pd.DataFrame([dict(threshold=k, value=v, why=self.reasons.get(k, ""))
                             for k, v in self.thresholds.items()]).set_index("threshold")


@dataclass
class Outcome:
    """What a page found about one :class:`Claim`: the checks of its primary run and
    instrument, the verdict over every run, the numbers (``ours``), the headline in words
    (``our_value``) and a summary sentence; with several instruments, ``modes`` holds each
    one's verdict and ``seeds`` each one's agreement over runs
    (:meth:`~latentgeom.reporting.findings.SeedAgreement.as_dict`), and ``spread`` each
    headline number's [min, max] over the runs. ``why`` says what decides the verdict: one
    attribution line per instrument (:mod:`latentgeom.chapters.attribution`), or one line."""

    claim: Claim
    checks: dict
    verdict: str
    ours: dict
    our_value: str
    summary: str
    modes: dict = field(default_factory=dict)
    seeds: dict = field(default_factory=dict)
    spread: dict = field(default_factory=dict)
    why: dict | str = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Pages


def book_dir() -> Path:
    """The folder of the book's pages: the checkout's ``book/`` (or ``$LATENTGEOM_HOME/book``)."""
    checkout = Path(__file__).resolve().parents[3] / "book"
    return checkout if checkout.is_dir() else home() / "book"


def page_parameters(page: str | Path) -> dict:
    """The literal values assigned in a book page's cell tagged ``parameters`` ({} without the page).

    ``page`` is a path under ``book/`` (``"findings/curvature-1-profile-shape.md"``) or a file.
    """
    path = Path(page) if Path(page).is_file() else book_dir() / page
    if not path.is_file():
        return {}
    import jupytext

    values = {}
    for cell in jupytext.read(path).cells:
        if "parameters" not in cell.metadata.get("tags", []):
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


@dataclass(frozen=True)
class Page:
    """One book page of a chapter.

    ``path`` is relative to ``book/``; ``parameters`` is what each parameter of its
    ``parameters`` cell accepts (the page declares exactly these); ``setup(**values)`` is the
    page's preamble; ``claims`` the ids of the claims whose result files it writes.
    """

    path: str
    parameters: Mapping[str, Parameter]
    setup: Callable[..., "Study"]
    claims: tuple[str, ...] = ()

    @property
    def notebook(self) -> str:
        """The page relative to the repository, as result files name it."""
        return f"book/{self.path}"

    @property
    def name(self) -> str:
        return Path(self.path).stem

    def defaults(self) -> dict:
        """The values of the page's ``parameters`` cell, as the page runs by default."""
        return page_parameters(self.path)

    def check(self, values: Mapping[str, Any]) -> dict:
        """``values`` checked against :attr:`parameters` (one ``ValueError`` naming a bad or
        unknown one)."""
        return check_parameters(values, self.parameters, where=f"parameter(s) of {self.path}")

    def study(self, preset: str | None = None, **overrides) -> "Study":
        """The study the page runs with its own defaults, ``preset`` and ``overrides`` applied
        (what the sweep plans for)."""
        values = {**self.defaults(), **overrides}
        if preset is not None:
            values["preset"] = preset
        return self.setup(**values)


# --------------------------------------------------------------------------------------------
# Studies


@dataclass(kw_only=True)
class Study:
    """What a page runs: its settings, the parameters it was given, its work and its clock.

    Subclasses (one per chapter) add their settings and models and implement :meth:`plan`.
    ``clock`` times the stages (training, profiles, ...), summed over every call, and
    ``started`` is when the page began: result files carry both.
    """

    page: Page
    parameters: dict
    clock: StageClock = field(default_factory=StageClock)
    started: float = field(default_factory=time.perf_counter)

    def plan(self) -> list:
        """Every work unit the page needs (:mod:`latentgeom.units`), in order, without repeats."""
        raise NotImplementedError

    def compute(self, units: Iterable, *, stage: str = "measurements") -> None:
        """Compute the units the caches miss (:func:`latentgeom.workers.compute`: in worker
        processes, progress on the console), timed as ``stage``: :meth:`compute_together` with
        one stage."""
        self.compute_together({stage: units})

    def compute_together(self, stages: dict[str, Iterable]) -> None:
        """Compute the units several stages miss in one call (:func:`latentgeom.workers.compute`):
        the trainings first and every other unit as soon as its network is trained, so that no
        worker idles at the end of one stage while the other finishes it. Each unit's CPU
        seconds count towards the first of ``stages`` (name -> units) that lists it, and the
        call's wall seconds are shared out among the stages in proportion to them (the workers
        are busy throughout, so that is the share of the machine each stage took)."""
        lists = {stage: list(units) for stage, units in stages.items()}
        spent, start = [], time.perf_counter()
        compute([u for units in lists.values() for u in units], desc=f"{self.page.name}: {' + '.join(lists)}",
                spent=spent)
        wall = time.perf_counter() - start
        cpu = dict.fromkeys(lists, 0.0)
        for unit, seconds in spent:
            cpu[next(s for s, units in lists.items() if unit in units)] += seconds
        total = sum(cpu.values())
        for stage, seconds in cpu.items():
            share = seconds / total if total > 0 else float(stage == next(iter(lists)))
            self.clock.wall[stage] = self.clock.wall.get(stage, 0.0) + wall * share
            self.clock.cpu[stage] = self.clock.cpu.get(stage, 0.0) + seconds

    def measure(self, units: Iterable | None = None, *, stage: str = "measurements") -> list:
        """The result of every unit (default: the whole :meth:`plan`), in order: the missing ones
        computed first (:meth:`compute`), then every one read from the caches; timed as ``stage``."""
        units = self.plan() if units is None else list(units)
        self.compute(units, stage=stage)
        with self.clock(stage):
            return [unit.result() for unit in units]

    @property
    def seconds(self) -> float:
        """Wall seconds since the page began."""
        return time.perf_counter() - self.started

    def timings(self) -> dict:
        """Wall seconds per stage and in total."""
        return {**self.clock.wall, "total": self.seconds}

    def record(self, outcomes: Iterable[Outcome]) -> list[Finding]:
        """Write one result file per outcome (:func:`~latentgeom.reporting.findings.write_finding`)
        and return the findings; prints one line per claim with its verdict."""
        written = []
        for o in outcomes:
            c = o.claim
            finding = Finding(
                finding_id=c.id, title=c.title, notebook=c.page or self.page.notebook, paper_claim=c.statement,
                paper={**c.paper, "source": c.source}, ours=o.ours, checks=o.checks, verdict=o.verdict,
                parameters=self.parameters, estimator_modes=o.modes, seeds=o.seeds, spread=o.spread,
                paper_value=c.paper_value, our_value=o.our_value, summary=o.summary, seconds=self.seconds,
                timings=self.timings(), why=o.why)
            write_finding(finding)
            written.append(finding)
            print(f"{c.id}: {o.verdict}")
        return written
