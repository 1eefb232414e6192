"""Measured prose and check lists for the book's methods pages.

The methods pages ("Measuring curvature", "Measuring intrinsic dimension", ...) state every
result in Markdown sentences whose numbers are pasted from the run: a hidden cell hands the
measured values to myst-nb with :func:`glue`, and the prose pastes them with
``{glue:text}`name:.3g``` (a format specification after the colon). Each claim is collected
with its measured value and criterion in a :class:`Checklist`, shown as one table at the end.
"""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from .tables import show

__all__ = ["Checklist", "glue", "plain"]


def plain(value):
    """``value`` as a plain Python number, string or ``None``, for :func:`glue`.

    myst-nb pastes a glued value from its ``text/plain`` representation, which it reads back with
    ``ast.literal_eval`` before applying the page's format specification: a numpy scalar there
    reads ``np.float64(0.5)``, which neither evaluates nor formats. Numpy scalars become their
    Python value; anything that is not a number, a string or ``None`` raises ``TypeError`` (a
    table or chart is shown, not pasted into a sentence).
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, numbers.Number)):
        return value
    raise TypeError(f"glue numbers, strings or None into prose, not {type(value).__name__}")


def glue(**values) -> None:
    """Glue every ``name=value`` for the page's Markdown, without displaying it.

    The prose pastes it as ``{glue:text}`name``` (as ``str(value)``) or with a format
    specification, ``{glue:text}`name:.1%```. Names must be unique within a page. Values go
    through :func:`plain` (numpy scalars become Python numbers).
    """
    from myst_nb import glue as glue_one

    for name, value in values.items():
        glue_one(name, plain(value), display=False)


class Checklist:
    """Claims checked on a page: ``claim``, the ``measured`` value (text), the ``criterion`` it
    is held to and whether it ``holds``."""

    def __init__(self):
        self.rows: list[dict] = []

    def add(self, claim: str, measured: str, criterion: str, holds) -> bool:
        """Record one check and return whether it holds."""
        if not claim:
            raise ValueError("claim must be a non-empty string")
        self.rows.append(dict(claim=claim, measured=str(measured), criterion=criterion, holds=bool(holds)))
        return bool(holds)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["claim", "measured", "criterion", "holds"])

    def failed(self) -> list[str]:
        """Claims that did not hold."""
        return [row["claim"] for row in self.rows if not row["holds"]]

    def show(self):
        """The checks as a table, captioned with how many hold."""
        frame, failed = self.frame(), self.failed()
        caption = f"{int(frame.holds.sum())} of {len(frame)} checks hold"
        if failed:
            caption += " — not holding on this run: " + "; ".join(failed)
        return show(frame, caption=caption, index=False)
