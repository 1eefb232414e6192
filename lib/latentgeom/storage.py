"""Files on disk: atomic writes, and frames cached under a key derived from their content.

Every file latentgeom writes (trained models, measured profiles, finding results) goes through
:func:`atomic_write`: a temporary file in the same folder, flushed and fsync'ed, then renamed
over the target, so a reader never sees half a file and a crash leaves no truncated entry.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

__all__ = ["atomic_write", "cached_frame", "content_key"]


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def content_key(*parts: Any, length: int = 32) -> str:
    """A hex digest of everything that changes a cached result.

    ``parts`` may be strings, numbers, JSON-able dicts/lists (hashed with sorted keys), numpy
    arrays or torch tensors (hashed by their bytes, so the same images give the same key).
    """
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            part = part.detach().cpu().contiguous().numpy()
        if isinstance(part, np.ndarray):
            h.update(str((part.dtype.str, part.shape)).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        elif isinstance(part, bytes):
            h.update(part)
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()[:length]


def cached_frame(path: str | os.PathLike, compute: Callable[[], pd.DataFrame], *, cache: bool = True) -> pd.DataFrame:
    """The DataFrame stored at ``path`` (JSON records), else ``compute()``, stored atomically.

    Callers derive ``path`` from :func:`content_key` of everything that changes the numbers. A
    file that does not parse is recomputed and replaced.
    """
    path = Path(path)
    if cache and path.is_file():
        try:
            return pd.read_json(io.StringIO(path.read_text()), orient="records")
        except ValueError:
            pass  # an unreadable file is recomputed
    frame = compute()
    if cache:
        atomic_write(path, frame.to_json(orient="records"))
    return frame
