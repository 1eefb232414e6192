"""Progress bars for long work, on the console and never in a rendered page.

A notebook captures what its kernel writes to ``sys.stderr`` into the cell's output, so a tqdm
bar there would end up in the published page as dozens of lines. :func:`bar` writes to the
process's own standard error instead (``sys.__stderr__``): in a terminal, in ``make book``'s log
and in a sweep job's log file, never in the page.
"""
from __future__ import annotations

import sys

from tqdm import tqdm  # not tqdm.auto: its notebook widget would draw in the page

__all__ = ["bar"]


def bar(iterable=None, *, desc: str = "", total: int | None = None, enabled: bool = True, **options) -> tqdm:
    """A tqdm bar on the console (``sys.__stderr__``), or a silent pass-through when ``enabled``
    is false. ``options`` go to tqdm (``leave``, ``mininterval``, ...)."""
    stream = sys.__stderr__ if sys.__stderr__ is not None else sys.stderr
    return tqdm(iterable, desc=desc, total=total, disable=not enabled, file=stream, **options)
