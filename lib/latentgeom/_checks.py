"""Small shared input validation for latentgeom's estimators.

Every public estimator funnels its array arguments through these helpers so that bad input
fails early with one clear ``ValueError`` (what is wrong, how many values, which argument)
instead of a deep torch traceback or, worse, a silently wrong number.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

__all__ = ["as_tensor", "check_finite", "check_ndim", "check_int", "resolve_device"]


def resolve_device(device: str | torch.device | None, like: torch.Tensor | None = None) -> torch.device:
    """``"auto"``/``None`` -> the device of ``like`` if given and on an accelerator, else CUDA
    when available, else CPU. Anything else is passed to :class:`torch.device`."""
    if device is None or device == "auto":
        if like is not None and like.device.type != "cpu":
            return like.device
        if like is not None:
            return torch.device("cpu")  # CPU data stays on the CPU: no silent host-to-device copies
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def as_tensor(x, name: str, *, dtype: torch.dtype | None = None, device: str | torch.device | None = None,
              ndim: int | Sequence[int] | None = None, finite: bool = True) -> torch.Tensor:
    """Convert ``x`` (numpy array, torch tensor, nested list) to a torch tensor.

    Parameters
    ----------
    x : array-like or Tensor
    name : str
        Argument name used in error messages.
    dtype : torch.dtype, optional
        Target floating dtype (default: keep floating dtypes, cast others to float64).
    device : str or torch.device, optional
        Target device (default: keep the tensor's device; numpy input goes to the CPU).
    ndim : int or sequence of int, optional
        Allowed numbers of dimensions.
    finite : bool
        Reject NaN / inf values (default True).

    Returns
    -------
    Tensor
    """
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise ValueError(f"{name} could not be converted to an array: {exc}") from None
        if arr.dtype == object:
            raise ValueError(f"{name} must be a numeric array, got dtype=object")
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be a real numeric array, got dtype={arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_complex():
        raise ValueError(f"{name} must be real, got {t.dtype}")
    if dtype is None:
        dtype = t.dtype if t.is_floating_point() else torch.float64
    t = t.to(device=device if device is not None else t.device, dtype=dtype)
    if ndim is not None:
        check_ndim(t, name, ndim)
    if finite:
        check_finite(t, name)
    return t


def check_ndim(t, name: str, ndim: int | Sequence[int]) -> None:
    """Raise ``ValueError`` unless ``t.ndim`` is one of ``ndim``."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if t.ndim not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(t.shape)}")


def check_finite(t, name: str) -> None:
    """Raise ``ValueError`` naming how many values of ``t`` are NaN or infinite."""
    if isinstance(t, torch.Tensor):
        if not t.is_floating_point():
            return
        bad = (~torch.isfinite(t)).sum().item()
        n_nan = torch.isnan(t).sum().item() if bad else 0
    else:
        arr = np.asarray(t)
        if arr.dtype.kind != "f":
            return
        bad = int((~np.isfinite(arr)).sum())
        n_nan = int(np.isnan(arr).sum()) if bad else 0
    if bad:
        raise ValueError(f"{name} contains {bad} non-finite value(s) ({n_nan} NaN, {bad - n_nan} inf) "
                         f"out of {int(np.prod(tuple(t.shape)))}; remove or impute them first")


def check_int(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an int, raising ``ValueError`` if it is not an integer in range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value
