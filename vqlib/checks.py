"""Argument checks shared by every vqlib function: fail at once, naming the parameter and what is allowed."""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """An int (not bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer in {_range_text(low, high)}, got {value}")
    return value


def check_float(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    strict_low: bool = False,
) -> float:
    """A finite real number in [low, high] (or (low, high] when strict_low)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    bad_low = low is not None and (value <= low if strict_low else value < low)
    if not math.isfinite(value) or bad_low or (high is not None and value > high):
        bracket = "(" if strict_low else "["
        raise ValueError(f"{name} must be a finite number in {_range_text(low, high, bracket)}, got {value}")
    return value


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """One of a fixed set of strings."""
    allowed = sorted(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def check_finite(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """A tensor with no NaN or infinity."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(tensor).__name__}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must hold only finite values (found NaN or inf)")
    return tensor


def resolve_device(device: str) -> torch.device:
    """'cpu', 'cuda' or 'auto' (CUDA when present, else CPU)."""
    check_choice("device", device, ["auto", "cpu", "cuda"])
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA device is available; use 'cpu' or 'auto'")
    return torch.device(device)


def _range_text(low: Any, high: Any, bracket: str = "[") -> str:
    lo = "-inf" if low is None else low
    hi = "inf" if high is None else high
    return f"{bracket}{lo}, {hi}]"
