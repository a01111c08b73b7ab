"""Loss and accuracy of a model over a fixed evaluation set.

Conventions: loss is the mean cross-entropy in nats over all n samples (chunk sums divided
by n, so the chunk size never changes the number); accuracy is a fraction in [0, 1].

Modes, recorded with every number because BatchNorm nets differ between them:
- ``"eval"``  (default): BatchNorm uses its running statistics, dropout is off.
- ``"train"``: BatchNorm normalizes each chunk with that chunk's own statistics (so the
  number depends on the chunk size); dropout is still off, so the loss is deterministic.
  Running statistics are never modified by an evaluation.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Mapping

import torch
import torch.nn.functional as F
from torch.func import functional_call

from ..core.runtime import accumulator_dtype
from .data import ImageDataset

EVAL_MODES = ("eval", "train")
Batch = tuple[torch.Tensor, torch.Tensor]
Splits = Mapping[str, ImageDataset | Batch]  # split name -> its data ("train", "test")


@dataclass(frozen=True)
class Evaluation:
    loss: float  # mean cross-entropy (nats)
    accuracy: float  # fraction correct
    n: int  # samples evaluated
    mode: str  # "eval" or "train", see module docstring
    loss_sd: float = math.nan  # standard deviation of the per-sample cross-entropy (nats)


def _is_batchnorm(module: torch.nn.Module) -> bool:
    return isinstance(module, torch.nn.modules.batchnorm._BatchNorm)


def has_batchnorm(model: torch.nn.Module) -> bool:
    return any(_is_batchnorm(m) for m in model.modules())


@contextmanager
def model_mode(model: torch.nn.Module, mode: str) -> Iterator[torch.nn.Module]:
    """Put ``model`` in an evaluation mode (see module docstring); restore flags and buffers after."""
    if mode not in EVAL_MODES:
        raise ValueError(f"unknown mode {mode!r}; allowed: {list(EVAL_MODES)}")
    flags = {m: m.training for m in model.modules()}
    saved = {name: b.detach().clone() for name, b in model.named_buffers()} if mode == "train" else {}
    momenta = {}
    try:
        model.eval()
        if mode == "train":
            for m in model.modules():
                if _is_batchnorm(m):
                    m.train()
                    momenta[m] = m.momentum
                    m.momentum = 0.0  # batch statistics are used; running ones stay put
        yield model
    finally:
        for m, momentum in momenta.items():
            m.momentum = momentum
        with torch.no_grad():
            buffers = dict(model.named_buffers())
            for name, value in saved.items():
                buffers[name].copy_(value)
        for m, flag in flags.items():
            m.train(flag)


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def as_batch(data: ImageDataset | Batch) -> Batch:
    """(images, labels) of a dataset or of a pair of tensors."""
    if isinstance(data, ImageDataset):
        return data.images, data.labels
    images, labels = data
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels


def forward(model: torch.nn.Module, images: torch.Tensor,
            params: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Logits of ``model`` on ``images``, with ``params`` (name -> tensor, a subset of the model's
    parameters and buffers; any other name is an error) substituted if given."""
    if params is None:
        return model(images)
    known = dict(model.named_parameters()).keys() | dict(model.named_buffers()).keys()
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"params has names the model does not have: {unknown[:5]}")
    return functional_call(model, dict(params), (images,), strict=False)


def chunks(data: ImageDataset | Batch, chunk_size: int, device: torch.device) -> Iterator[Batch]:
    """Consecutive (images, labels) chunks of ``data`` on ``device``."""
    images, labels = as_batch(data)
    for start in range(0, labels.shape[0], chunk_size):
        yield (images[start:start + chunk_size].to(device, non_blocking=True),
               labels[start:start + chunk_size].to(device, non_blocking=True))


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: ImageDataset | Batch, chunk_size: int = 1000, mode: str = "eval",
             params: Mapping[str, torch.Tensor] | None = None) -> Evaluation:
    """Mean loss, its per-sample standard deviation and accuracy of ``model`` (or of ``params``
    loaded into it) over all of ``data``."""
    device = model_device(model)
    total_loss = torch.zeros((), dtype=accumulator_dtype(device), device=device)
    total_square = torch.zeros((), dtype=accumulator_dtype(device), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    n = 0
    with model_mode(model, mode):
        for x, y in chunks(data, chunk_size, device):
            logits = forward(model, x, params)
            total_loss += F.cross_entropy(logits, y, reduction="sum").to(total_loss.dtype)
            losses = F.cross_entropy(logits, y, reduction="none").to(total_square.dtype)
            total_square += (losses * losses).sum()
            correct += (logits.argmax(dim=1) == y).sum()
            n += y.shape[0]
    if n == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    mean = float(total_loss) / n
    spread = math.sqrt(max(float(total_square) / n - mean * mean, 0.0) * n / (n - 1)) if n > 1 else math.nan
    return Evaluation(loss=mean, accuracy=int(correct) / n, n=n, mode=mode, loss_sd=spread)
