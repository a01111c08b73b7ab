"""Complexity measures of a trained network that Jiang et al. (2020, "Fantastic generalization
measures") and Dziugaite et al. (2020, "In search of robust measures of generalization") found
to track generalization best: the output margin, norms of the weights (spectral and Frobenius,
their product and their "sum"), the path norm, and the magnitude-aware PAC-Bayes flatness.

Conventions: the weights are those of the network with every BatchNorm layer (eval mode: its
running statistics) folded into the convolution or linear layer before it (:func:`fold_batchnorm`:
same function, bit for bit up to rounding), so a rescaling that BatchNorm makes free does not
change a norm. A layer's weight is a matrix: a convolution's (out, in, kh, kw) kernel is read as
(out, in·kh·kw), the approximation of Jiang et al. (the exact spectral norm of a convolution
operator is larger). Biases are left out of the norms, as there. Norms enter squared, and the
product and "sum" of d layers' squared norms on the log scale: ``log_prod`` = Σ log ‖W‖²,
``log_sum`` = log d + (1/d) Σ log ‖W‖² (the log of d times their geometric mean, which bounds
the sum from below). Jiang et al.'s correction for the sample size m (a fixed monotone map for a
fixed m) is left out: every model here is measured on probe sets of the same size, and a rank
statistic does not see it. The model is never modified.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..core import progress
from ..learning.data import ImageDataset
from ..learning.evaluation import Batch, chunks, evaluate, forward, model_device, model_mode
from .directions import ParameterShift, parameter_vector

MARGIN_QUANTILE = 0.1  # Jiang et al.: the 10th percentile of the margins over the set, robust to a few outliers
LAYERS = (nn.Conv2d, nn.Linear)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode in which each BatchNorm layer that directly follows a
    convolution or linear layer (in registration order, with no other leaf module between them;
    a module's functional activations cannot be seen, so its layers must be registered in the
    order they run, as the zoo's are) is folded into it: W ← s·W, b ← s·(b − μ)
    + β with s = γ/√(σ² + ε) per channel, and the BatchNorm left as the identity (γ = 1, β = 0,
    μ = 0, σ² = 1 − ε). Raises ValueError for a BatchNorm with nothing to fold into."""
    folded = copy.deepcopy(model).eval()
    previous = None
    with torch.no_grad():
        for module in folded.modules():
            if isinstance(module, LAYERS):
                previous = module
            elif isinstance(module, NORMS):
                if previous is None or previous.weight.shape[0] != module.num_features:
                    raise ValueError(f"a BatchNorm of {module.num_features} channels follows no layer it can fold into")
                scale = module.weight / torch.sqrt(module.running_var + module.eps)
                if previous.bias is None:
                    previous.bias = nn.Parameter(torch.zeros_like(module.bias))
                previous.bias.copy_(scale * (previous.bias - module.running_mean) + module.bias)
                previous.weight.mul_(scale.reshape(-1, *([1] * (previous.weight.dim() - 1))))
                module.weight.fill_(1.0)
                module.bias.fill_(0.0)
                module.running_mean.fill_(0.0)
                module.running_var.fill_(1.0 - module.eps)
                previous = None
            elif not list(module.children()) and not isinstance(module, nn.Identity):
                previous = None  # an activation, pooling or dropout between them: nothing to fold into
    return folded


def weight_matrices(model: nn.Module) -> list[torch.Tensor]:
    """The weight of every convolution and linear layer of ``model`` as a (out, rest) matrix,
    in registration order (fold BatchNorm first: :func:`fold_batchnorm`)."""
    found = [m.weight.detach().reshape(m.weight.shape[0], -1) for m in model.modules() if isinstance(m, LAYERS)]
    if not found:
        raise ValueError("the model has no convolution or linear layer")
    return found


@torch.no_grad()
def output_margins(model: nn.Module, data: ImageDataset | Batch, mode: str = "eval", chunk_size: int = 1000
                   ) -> np.ndarray:
    """Per sample, the correct class's logit minus the largest other logit (negative where the
    sample is misclassified), shape (n,)."""
    out = []
    with model_mode(model, mode):
        for x, y in chunks(data, chunk_size, model_device(model)):
            logits = forward(model, x).double()
            correct = logits.gather(1, y[:, None]).squeeze(1)
            others = logits.scatter(1, y[:, None], -math.inf).amax(dim=1)
            out.append((correct - others).cpu().numpy())
    return np.concatenate(out)


def margin_quantile(margins: np.ndarray, quantile: float = MARGIN_QUANTILE) -> float:
    """The k-th smallest margin with k = max(1, ⌊quantile·n⌋) (Jiang et al.'s robust margin)."""
    values = np.sort(np.asarray(margins, dtype=float))
    return float(values[max(1, int(quantile * len(values))) - 1])


@torch.no_grad()
def path_norm(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """The ℓ2 path norm: the sum over the network's paths from an input (or a bias) to an output
    of the product of the squared weights on the path, computed as the output sum of the network
    with every parameter squared on an all-ones input (exact for a ReLU network of linear and
    convolution layers; with max pooling, the paths through the pooled maxima of that input).
    Fold BatchNorm first (:func:`fold_batchnorm`)."""
    squared = copy.deepcopy(model).eval()
    for p in squared.parameters():
        p.pow_(2)
    ones = torch.ones((1, *input_shape), dtype=next(squared.parameters()).dtype, device=model_device(squared))
    return float(squared(ones).double().sum())


@dataclass(frozen=True)
class SigmaSearch:
    """The largest noise scale σ whose accuracy drop meets the target, by bisection: ``sigma``,
    the ``drop`` measured there, the ``steps`` taken and whether the drop is within the
    tolerance of the target (``converged``; else the last midpoint of ``depth`` halvings)."""

    sigma: float
    drop: float
    steps: int
    converged: bool


def bisect_sigma(drop_at: Callable[[float], float], target: float = 0.1, tolerance: float = 0.01,
                 low: float = 0.0, high: float = 2.0, depth: int = 15) -> SigmaSearch:
    """Bisection on [low, high] for the σ at which ``drop_at(σ)`` (an accuracy drop that grows
    with σ) equals ``target`` within ``tolerance`` (Jiang et al.'s search: at most ``depth``
    halvings; a larger drop moves the upper end down)."""
    sigma = drop = math.nan
    for step in range(1, depth + 1):
        sigma = (low + high) / 2
        drop = float(drop_at(sigma))
        if abs(drop - target) < tolerance:
            return SigmaSearch(sigma, drop, step, True)
        if drop > target:
            high = sigma
        else:
            low = sigma
    return SigmaSearch(sigma, drop, depth, False)


def magnitude_aware_sigma(model: nn.Module, data: ImageDataset | Batch, target: float = 0.1, tolerance: float = 0.01,
                          draws: int = 10, epsilon: float = 1e-3, depth: int = 15, seed: int = 0, mode: str = "eval",
                          chunk_size: int = 1000) -> SigmaSearch:
    """The magnitude-aware PAC-Bayes noise scale σ' (Jiang et al. §C.2): the largest σ' for which
    noise δᵢ ~ N(0, σ'²θᵢ² + ε²) on every trainable parameter lowers the mean accuracy on ``data``
    over ``draws`` draws by ``target`` (:func:`bisect_sigma`). The draws use the same standard
    normal vectors at every σ' (common random numbers, from ``seed``), so the drop is a smooth
    function of σ' and the search is deterministic. Its flatness measure is 1/σ'²."""
    theta = parameter_vector(model)
    generator = torch.Generator().manual_seed(seed)
    normals = [torch.randn(theta.numel(), generator=generator, dtype=theta.dtype).to(theta.device)
               for _ in range(draws)]
    base = evaluate(model, data, chunk_size, mode).accuracy

    def drop_at(sigma: float) -> float:
        std = torch.sqrt((sigma * theta) ** 2 + epsilon ** 2)
        accuracies = []
        with ParameterShift(model) as shift:
            for z in normals:
                shift.set_combination([1.0], [z * std])
                accuracies.append(evaluate(model, data, chunk_size, mode).accuracy)
                progress.tick()
        return base - float(np.mean(accuracies))

    with progress.task("PAC-Bayes σ search", draws * depth, "draw"):
        return bisect_sigma(drop_at, target, tolerance, depth=depth)


def norm_measures(model: nn.Module, data: ImageDataset | Batch, input_shape: tuple[int, ...], mode: str = "eval",
                  chunk_size: int = 1000) -> dict[str, float]:
    """The norm and margin measures of ``model`` (BatchNorm folded) on ``data``: ``margin`` (the
    10th-percentile output margin, :func:`margin_quantile`), ``inverse_margin`` = 1/margin²,
    ``log_prod_spec`` and ``log_sum_spec`` of the squared spectral norms, ``log_prod_fro`` and
    ``log_sum_fro`` of the squared Frobenius norms (module docstring), ``path_norm``, and the
    number of weight ``layers``. A margin ≤ 0 (more than a tenth of the set misclassified) gives
    an inverse margin of NaN: it is not a measure of a network that fits its data."""
    folded = fold_batchnorm(model)
    matrices = [w.double() for w in weight_matrices(folded)]
    spectral = np.array([float(torch.linalg.matrix_norm(w, ord=2)) ** 2 for w in matrices])
    frobenius = np.array([float(torch.linalg.matrix_norm(w, ord="fro")) ** 2 for w in matrices])
    layers = len(matrices)
    margin = margin_quantile(output_margins(model, data, mode, chunk_size))
    return {"margin": margin, "inverse_margin": 1 / margin ** 2 if margin > 0 else math.nan,
            "log_prod_spec": float(np.log(spectral).sum()),
            "log_sum_spec": math.log(layers) + float(np.log(spectral).mean()),
            "log_prod_fro": float(np.log(frobenius).sum()),
            "log_sum_fro": math.log(layers) + float(np.log(frobenius).mean()),
            "path_norm": path_norm(folded, input_shape), "layers": layers}
