"""Trained-model cache: one file per (config key, epoch), written atomically, verified on load.

A file holds a sha256 digest line followed by the torch-serialised payload. A truncated,
corrupt or foreign file is reported, removed and treated as a miss, so the caller retrains
instead of crashing.

Concurrency (a sweep's jobs, notebooks beside them): :func:`claim` holds the lock of one
config key while it is trained, so processes that miss the same model at once train it once:
the first trains, the others wait and then read its files. A killed trainer leaves at most a
temporary file (never read) and releases its lock with its process.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

import torch

from ..paths import model_cache_dir
from ..storage import atomic_write, file_lock, refuse_if_cache_only

FORMAT = b"latentgeom-model-v1"


def path_for(key: str, epoch: int, directory: Path | None = None, *, step: bool = False) -> Path:
    """Cache file of ``key`` at ``epoch`` (with ``step=True``: after ``epoch`` optimiser steps)."""
    return Path(directory or model_cache_dir()) / (f"{key}-s{epoch:07d}.pt" if step else f"{key}-e{epoch:04d}.pt")


def save(key: str, epoch: int, payload: dict, directory: Path | None = None, *, step: bool = False) -> Path:
    """Store ``payload`` (state_dict, config, metrics) atomically: temp file + rename."""
    path = path_for(key, epoch, directory, step=step)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    header = FORMAT + b" " + hashlib.sha256(body).hexdigest().encode() + b"\n"
    atomic_write(path, header + body)
    return path


def load(key: str, epoch: int, directory: Path | None = None, *, step: bool = False) -> dict | None:
    """The payload stored for ``key`` at ``epoch`` (or step), or None (missing, or corrupt and removed)."""
    path = path_for(key, epoch, directory, step=step)
    if not path.is_file():
        return None
    try:
        raw = path.read_bytes()
        header, _, body = raw.partition(b"\n")
        fmt, _, digest = header.partition(b" ")
        if fmt != FORMAT or hashlib.sha256(body).hexdigest().encode() != digest:
            raise ValueError("checksum mismatch (truncated or corrupt file)")
        return torch.load(io.BytesIO(body), map_location="cpu", weights_only=False)
    except Exception as err:  # any unreadable file is a cache miss, never a crash
        warnings.warn(f"model cache file {path.name} is unusable ({err}); removing it and retraining",
                      RuntimeWarning, stacklevel=2)
        path.unlink(missing_ok=True)
        return None


def has(key: str, epochs: Iterable[int], directory: Path | None = None, *, steps: Iterable[int] = ()) -> bool:
    """Whether files for ``key`` exist at every one of ``epochs`` and optimiser ``steps``
    (not verified: see :func:`load`)."""
    return all(path_for(key, e, directory).is_file() for e in epochs) and \
        all(path_for(key, s, directory, step=True).is_file() for s in steps)


@contextmanager
def claim(key: str, epochs: Iterable[int], *, steps: Iterable[int] = (), what: str = "model",
          directory: Path | None = None):
    """Hold the training lock of ``key`` unless every epoch in ``epochs`` (and step in ``steps``)
    is cached already.

    Used by :func:`latentgeom.networks.training.train` around "look up, else train": the
    caller re-checks the cache inside the block (another process may have trained it while we
    waited). Raises :class:`~latentgeom.storage.CacheMiss` on a miss where training is
    switched off (``LATENTGEOM_NO_TRAIN=1``, see :func:`latentgeom.storage.cache_only`).
    """
    epochs, steps = tuple(epochs), tuple(steps)
    if has(key, epochs, directory, steps=steps):
        yield
        return
    refuse_if_cache_only("model", f"{what} (key {key}, epochs {sorted(set(epochs))})",
                         Path(directory or model_cache_dir()))
    with file_lock(path_for(key, 0, directory).with_name(f"{key}.pt")):
        yield
