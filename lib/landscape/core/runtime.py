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

from .errors import UserError

DEVICE_ENV = "LANDSCAPE_DEVICE"
DEVICES = "auto, cpu, cuda, cuda:N or mps"


class DeviceError(UserError, ValueError):
    """A device that is not a device string, or not present on this machine."""


def select_device(preference: str = "auto") -> torch.device:
    """Return the torch device for ``preference`` (see module docstring)."""
    if preference == "auto":
        preference = os.environ.get(DEVICE_ENV) or "auto"
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind, _, index = preference.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (index and (kind != "cuda" or not index.isdigit())):
        raise DeviceError(f"unknown device {preference!r}; allowed: {DEVICES}")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {preference!r}: CUDA is not available on this machine; allowed here: auto, cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(f"device {preference!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {preference!r}: MPS is not available on this machine; allowed here: auto, cpu")
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator seeded with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def make_deterministic() -> None:
    """Ask torch for deterministic kernels (same numbers for the same inputs on one machine) in
    full float32 on CUDA, as on the CPU: by default cuDNN may compute convolutions in TF32, whose
    10-bit mantissa (float32 has 23) changes probe values beyond float32 rounding."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def accumulator_dtype(device: torch.device) -> torch.dtype:
    """float64 for running sums of losses, except on MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64
