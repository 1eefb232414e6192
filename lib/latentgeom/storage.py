"""Files on disk: atomic writes, and frames cached under a key derived from their content.

Every file latentgeom writes (trained models, measured profiles, finding results) goes through
:func:`atomic_write`: a temporary file in the same folder, flushed and fsync'ed, then renamed
over the target, so a reader never sees half a file and a crash leaves no truncated entry.

Several processes may fill the same caches at once (a sweep's jobs on a cluster, a notebook
beside them): :func:`file_lock` serialises the *computation* of one entry (an exclusive
``fcntl.flock`` on a ``.NAME.lock`` file next to it, released by the kernel when its holder
dies), and whoever gets the lock re-checks the cache first, so an entry is computed once.
The switches ``LATENTGEOM_NO_TRAIN=1`` (no training on a model-cache miss) and
``LATENTGEOM_NO_COMPUTE=1`` (no training and no computing of a cached frame either) make a
miss raise :class:`CacheMiss`: the way to check that the book reads what a sweep computed
(``python -m latentgeom sweep``).
"""
from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import pickle
import tempfile
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

__all__ = ["CacheMiss", "atomic_write", "cache_only", "cached_frame", "cached_state", "content_key", "file_lock",
           "lookup_only", "refuse_if_cache_only"]

#: Set inside :func:`lookup_only`: a miss raises instead of computing.
_LOOKUP_ONLY: ContextVar[bool] = ContextVar("latentgeom_lookup_only", default=False)


class CacheMiss(RuntimeError):
    """A cache entry is missing where computing it is switched off (see :func:`cache_only`)."""


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def cache_only(kind: str = "frame") -> bool:
    """Whether a miss of a ``kind`` entry (``"model"`` or ``"frame"``) must raise :class:`CacheMiss`.

    Models: ``LATENTGEOM_NO_TRAIN`` or ``LATENTGEOM_NO_COMPUTE`` set; frames:
    ``LATENTGEOM_NO_COMPUTE`` set; both inside :func:`lookup_only`.
    """
    if kind not in ("model", "frame"):
        raise ValueError(f"kind must be 'model' or 'frame', got {kind!r}")
    return _LOOKUP_ONLY.get() or _flag("LATENTGEOM_NO_COMPUTE") or (kind == "model" and _flag("LATENTGEOM_NO_TRAIN"))


def refuse_if_cache_only(kind: str, what: str, where=None) -> None:
    """Raise :class:`CacheMiss` for the missing entry ``what`` (found in no cache at ``where``,
    if given) when computing a ``kind`` entry is switched off (:func:`cache_only`): the one
    message of the frame cache, the model cache and :func:`cached_state`, naming the switch
    and the way out (the sweep)."""
    if not cache_only(kind):
        return
    place = "" if where is None else f" {where}"
    if kind == "model":
        raise CacheMiss(f"{what} is not in the model cache{place} and training is switched off "
                        "(LATENTGEOM_NO_TRAIN); train it first: python -m latentgeom sweep")
    raise CacheMiss(f"{what} is not in the cache{place} and computing is switched off "
                    "(LATENTGEOM_NO_COMPUTE or a lookup); run the sweep first: python -m latentgeom sweep")


@contextmanager
def lookup_only():
    """Within this block every cache miss raises :class:`CacheMiss` instead of computing.

    The sweep asks "is this unit done?" by running the unit's own cache lookup in this mode.
    """
    token = _LOOKUP_ONLY.set(True)
    try:
        yield
    finally:
        _LOOKUP_ONLY.reset(token)


@contextmanager
def file_lock(path: str | os.PathLike):
    """Hold an exclusive lock for the cache entry ``path`` (blocks until it is free).

    The lock is ``fcntl.flock`` on ``.NAME.lock`` next to the entry: it serialises processes
    on this machine and, on Linux NFS (v4), across the nodes of a cluster; the kernel releases
    it when the holder exits or crashes, so a killed job never leaves the entry locked. The
    lock file itself stays (empty, harmless).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


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
    file that does not parse is recomputed and replaced. Safe under concurrency: processes
    that miss the same entry at once compute it once (under :func:`file_lock`; the others wait
    and then read it). A miss raises :class:`CacheMiss` where computing is switched off
    (:func:`cache_only`).
    """
    if not cache:
        return compute()
    path = Path(path)
    return _read_or_compute(path, _read_frame, compute, lambda frame: frame.to_json(orient="records"),
                            refuse=lambda: refuse_if_cache_only("frame", path.name))


def _read_or_compute(path: Path, read: Callable[[Path], Any], compute: Callable[[], Any],
                     encode: Callable[[Any], bytes | str], refuse: Callable[[], None]):
    """The entry at ``path`` (``read`` gives None when it is missing or unreadable), else
    ``compute()`` written as ``encode(value)``: computed once under :func:`file_lock`, after
    ``refuse()`` raised :class:`CacheMiss` where computing is switched off."""
    value = read(path)
    if value is not None:
        return value
    refuse()
    with file_lock(path):
        value = read(path)  # another process may have computed it while we waited
        if value is None:
            value = compute()
            atomic_write(path, encode(value))
    return value


def _read_frame(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_json(io.StringIO(path.read_text()), orient="records")
    except ValueError:
        return None  # an unreadable file is recomputed


def cached_state(path: str | os.PathLike, compute: Callable[[], dict], *, what: str, cache: bool = True) -> dict:
    """The dict of tensors stored at ``path`` (``torch.save``), else ``compute()``, stored atomically.

    For trained weights: ``compute`` trains and returns e.g. ``{"state": net.state_dict(),
    "epochs": 12}`` (tensors, numbers, strings, lists and dicts: what ``torch.load(...,
    weights_only=True)`` reads back). Callers derive ``path`` from :func:`content_key` of
    everything that changes the weights. A miss raises :class:`CacheMiss` naming ``what`` where
    training is switched off (:func:`cache_only` of a ``"model"``: ``LATENTGEOM_NO_TRAIN``,
    ``LATENTGEOM_NO_COMPUTE`` or :func:`lookup_only`). Processes that miss the same entry at once
    train it once (:func:`file_lock`), and a file that does not load is recomputed and replaced.
    ``cache=False``: ``compute()``, nothing read or written.
    """
    if not cache:
        return compute()
    path = Path(path)
    return _read_or_compute(path, _read_state, compute, _torch_bytes,
                            refuse=lambda: refuse_if_cache_only("model", what, path.parent))


def _torch_bytes(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _read_state(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True)
    except (RuntimeError, EOFError, ValueError, OSError, pickle.UnpicklingError):
        return None  # an unreadable file is recomputed
