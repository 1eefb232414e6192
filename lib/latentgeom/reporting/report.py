"""Measured prose and check lists for the book's methods pages.

The methods pages ("Measuring curvature", "Measuring intrinsic dimension") state every result
in sentences built from the numbers measured on that run (:func:`say`) and collect each claim
with its measured value and criterion in a :class:`Checklist`, shown as one table at the end.
"""
from __future__ import annotations

import pandas as pd

from .tables import show

__all__ = ["Checklist", "say"]


def say(text: str) -> None:
    """Render ``text`` (Markdown, usually an f-string of measured numbers) in the notebook."""
    from IPython.display import Markdown, display

    display(Markdown(text))


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
