"""Progress bars for long work, on the console and never in a rendered page.

A notebook captures what its kernel writes to standard error into the cell's output (ipykernel
captures the file descriptor too, so ``sys.__stderr__`` is no way out), and a tqdm bar there would
end up in the published page as dozens of lines. :func:`bar` writes to the stream that ipykernel
keeps for the terminal (a copy of the original descriptor, the one its own ``fileno()`` returns):
in a terminal, in ``make book``'s log and in a sweep job's log file, never in the page.
"""
from __future__ import annotations

import os
import sys
from typing import TextIO

from tqdm import tqdm  # not tqdm.auto: its notebook widget would draw in the page

__all__ = ["bar", "console"]

_CONSOLE: dict[int, TextIO] = {}


def console() -> TextIO:
    """The process's own standard error: inside a notebook kernel the descriptor ipykernel kept
    for the terminal (``sys.stderr._original_stdstream_copy``), elsewhere ``sys.stderr``."""
    fd = getattr(sys.stderr, "_original_stdstream_copy", None)
    if fd is None:
        return sys.stderr
    if fd not in _CONSOLE:
        _CONSOLE[fd] = os.fdopen(os.dup(fd), "w", buffering=1, encoding="utf-8", errors="replace")
    return _CONSOLE[fd]


def bar(iterable=None, *, desc: str = "", total: int | None = None, enabled: bool = True, **options) -> tqdm:
    """A tqdm bar on the console (:func:`console`), or a silent pass-through when ``enabled``
    is false. ``options`` go to tqdm (``leave``, ``mininterval``, ...)."""
    return tqdm(iterable, desc=desc, total=total, disable=not enabled, file=console(), **options)
