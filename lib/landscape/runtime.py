"""Device selection, seeding and determinism.

Conventions: a *device string* is ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
``"auto"`` picks CUDA, then MPS, then CPU; the environment variable ``LANDSCAPE_DEVICE``
overrides ``"auto"``.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

DEVICE_ENV = "LANDSCAPE_DEVICE"


def select_device(preference: str = "auto") -> torch.device:
    """Return the torch device for ``preference`` (see module docstring)."""
    if preference == "auto":
        preference = os.environ.get(DEVICE_ENV, "auto")
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {preference!r}; use auto, cpu, cuda, cuda:N or mps")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {preference!r} requested but CUDA is not available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"device {preference!r} requested but MPS is not available")
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator seeded with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def make_deterministic() -> None:
    """Ask torch for deterministic kernels (same numbers for the same inputs on one machine)."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def accumulator_dtype(device: torch.device) -> torch.dtype:
    """float64 for running sums of losses, except on MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64
