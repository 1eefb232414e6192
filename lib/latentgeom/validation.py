"""Every input check of latentgeom, in one place.

Public functions funnel their arguments through these helpers so that bad input fails early
with one clear ``ValueError`` naming the parameter and the accepted values, instead of a deep
torch traceback or, worse, a silently wrong number.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

__all__ = ["Parameter", "as_tensor", "check_choice", "check_finite", "check_int", "check_ndim",
           "check_parameters", "check_range", "resolve_device", "tensor_is_finite", "usable_cores"]


def usable_cores() -> int:
    """The CPU cores this process may use (its affinity mask: a Slurm job's or a container's
    share, not the machine's count), or all of them where the OS does not say."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_device(device: str | torch.device | None = "auto", like: torch.Tensor | None = None) -> torch.device:
    """The torch device to compute on.

    ``"auto"`` or ``None``: the device of ``like`` when it is given (CPU data stays on the CPU,
    no silent host-to-device copies), else CUDA when available, else CPU. ``"cpu"``,
    ``"cuda"``, ``"cuda:N"`` and :class:`torch.device` are validated: asking for CUDA on a
    machine without it is a ``ValueError``, not a late torch error.
    """
    if device is None or device == "auto":
        if like is not None:
            return like.device
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str) and (device == "cpu" or device.startswith("cuda")):
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}") from None
    else:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
    return dev


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


def tensor_is_finite(t: torch.Tensor) -> bool:
    """Whether every value of ``t`` is finite, cheaply: one sum (NaN and inf propagate through
    it, no temporaries of the tensor's size) decides the common case; only a sum that is not
    finite (bad values, or an overflow of huge finite ones) is followed by an exact check."""
    if not t.is_floating_point() or t.numel() == 0:
        return True
    # In the tensor's own precision (a float64 sum of float32 data converts it first: 25x
    # slower); half precision sums in float32, where it cannot overflow so easily.
    low = t.dtype in (torch.float16, torch.bfloat16)
    total = t.sum(dtype=torch.float32) if low else t.sum()
    return math.isfinite(total.item()) or bool(torch.isfinite(t).all())


def check_finite(t, name: str) -> None:
    """Raise ``ValueError`` naming how many values of ``t`` are NaN or infinite.

    Cheap on large arrays: one reduction (a sum, no temporaries of the array's size) decides
    the common all-finite case; NaN and inf propagate through it. Only when the sum is not
    finite (bad values, or an overflow of huge finite ones) are the bad values counted.
    """
    if isinstance(t, torch.Tensor):
        if tensor_is_finite(t):
            return
        bad = (~torch.isfinite(t)).sum().item()
        n_nan = torch.isnan(t).sum().item() if bad else 0
    else:
        arr = np.asarray(t)
        if arr.dtype.kind != "f" or arr.size == 0:
            return
        if math.isfinite(float(arr.sum(dtype=np.float64))):
            return
        bad = int((~np.isfinite(arr)).sum())
        n_nan = int(np.isnan(arr).sum()) if bad else 0
    if bad:
        raise ValueError(f"{name} contains {bad} non-finite value(s) ({n_nan} NaN, {bad - n_nan} inf) "
                         f"out of {int(np.prod(tuple(t.shape)))}; remove or impute them first")


def check_int(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int; ``ValueError`` (naming ``name`` and the range) unless it is a
    whole number within ``[minimum, maximum]``. Booleans are refused."""
    span = "".join([f" >= {minimum}" if minimum is not None else "",
                    " and" if minimum is not None and maximum is not None else "",
                    f" <= {maximum}" if maximum is not None else ""])
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer{span}, got {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer{span}, got {value}")
    return value


def check_range(value, name: str, low: float, high: float, *, closed: str = "both") -> float:
    """``value`` as a float; ``ValueError`` unless ``low <= value <= high`` (``closed`` is
    ``"both"``, ``"left"``, ``"right"`` or ``"neither"`` for open ends)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    left = v >= low if closed in ("both", "left") else v > low
    right = v <= high if closed in ("both", "right") else v < high
    if not (math.isfinite(v) and left and right):
        lo = "[" if closed in ("both", "left") else "("
        hi = "]" if closed in ("both", "right") else ")"
        raise ValueError(f"{name} must be in {lo}{low}, {high}{hi}, got {value!r}")
    return v


def check_choice(value, name: str, choices: Iterable) -> Any:
    """``value`` unchanged; ``ValueError`` listing the accepted values unless it is one of them."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


@dataclass(frozen=True)
class Parameter:
    """What a page parameter (or any setting) accepts: one clear error names it when it does not.

    Attributes
    ----------
    kind : {"int", "float", "str", "bool", "ints", "strs", "floats"}
        A number, a name, a flag, or a list of them (``"ints"``: a list of integers).
    minimum, maximum : float, optional
        Inclusive bounds of a number (of every element of a list).
    choices : tuple, optional
        The accepted values (of every element of a list).
    optional : bool
        ``None`` is accepted (on the book's pages: "the preset's value").
    help : str
        What it sets, for the error message and the page's parameters cell.
    """

    kind: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None
    optional: bool = False
    help: str = ""

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {self.kind!r}")

    def check(self, name: str, value):
        """``value`` in its canonical type (ints as int, lists as tuples); ``ValueError`` naming
        ``name`` and what is accepted otherwise."""
        if value is None:
            if self.optional:
                return None
            raise ValueError(f"{name} must be {self.describe()}, got None")
        if self.kind in ("ints", "strs", "floats"):
            if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
                raise ValueError(f"{name} must be {self.describe()}, got {value!r}")
            return tuple(self._one(name, v) for v in value)
        return self._one(name, value)

    def _one(self, name: str, value):
        kind = self.kind.rstrip("s") if self.kind != "strs" else "str"
        try:
            if kind == "int":
                value = check_int(value, name)
            elif kind == "float":
                if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                    raise ValueError
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError
            elif kind == "bool":
                if not isinstance(value, (bool, np.bool_)):
                    raise ValueError
                value = bool(value)
            elif not isinstance(value, str):
                raise ValueError
        except ValueError:
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}") from None
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum) \
                or (self.choices is not None and value not in self.choices):
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")
        return value

    def describe(self) -> str:
        """``"an integer >= 1, or None"`` and the like."""
        noun = _KINDS[self.kind]
        if self.choices is not None:
            text = f"one of {list(self.choices)}" if self.kind in ("int", "str", "float") else \
                f"{noun} from {list(self.choices)}"
        else:
            bounds = [f">= {self.minimum:g}" if self.minimum is not None else "",
                      f"<= {self.maximum:g}" if self.maximum is not None else ""]
            text = " ".join([noun] + [b for b in bounds if b]).replace("= 0 <", "= 0 and <")
        return text + (", or None (the preset's value)" if self.optional else "")


_KINDS = {"int": "an integer", "float": "a number", "str": "a name", "bool": "True or False",
          "ints": "a non-empty list of integers", "floats": "a non-empty list of numbers",
          "strs": "a non-empty list of names"}


def check_parameters(values: Mapping[str, Any], accepted: Mapping[str, Parameter], *,
                     where: str = "parameters") -> dict[str, Any]:
    """Every value checked against its :class:`Parameter` (canonical types back); a name that
    is not accepted raises ``ValueError`` naming it and listing the accepted ones."""
    unknown = sorted(set(values) - set(accepted))
    if unknown:
        raise ValueError(f"unknown {where} {unknown}; accepted: {sorted(accepted)}")
    return {name: accepted[name].check(name, value) for name, value in values.items()}
