"""Vectors in parameter space: the flat convention, directions for slices and surfaces, and
writing a displaced point θ + δ into a model.

Convention (used by every probe in this package): a *parameter vector* (a point θ, a
direction d, a perturbation δ, an eigenvector) is a flat 1-D tensor over the model's
trainable parameters (``requires_grad``) in ``named_parameters()`` order, with the
parameters' dtype and device. Buffers (BatchNorm running statistics) are never part of it.
``to_dict`` / ``to_vector`` convert to and from ``{name: tensor}``; ``unflatten`` gives
per-tensor views that share memory with the flat vector.

Normalizations (Li et al. 2018, "Visualizing the loss landscape of neural nets"):
- ``"filter"``: for each parameter tensor with dim > 1, each filter (slice along dim 0:
  a conv output channel, a row of a linear weight) is rescaled to the norm of the matching
  filter of θ;
- ``"layer"``: each parameter tensor with dim > 1 is rescaled to the norm of θ's tensor;
- ``"unit"``: the whole vector rescaled to Euclidean norm 1 over all parameters, 1-D ones
  included (study 004's "random orthonormal vectors"; at α = 1 each of n parameters moves by
  about 1/√n, so the picture depends on the parameter count and not on the weights' scale);
- ``None``: left as drawn.
1-D parameters under ``"filter"`` and ``"layer"`` (biases, BatchNorm weight and bias) follow ``ignore_1d``: ``"zero"`` sets
them to 0 (Li et al.'s ``ignore="biasbn"``), ``"keep"`` copies θ's values into the direction
(Li et al.'s behaviour without ``biasbn``).
"""
from __future__ import annotations

from typing import Mapping, Protocol, Sequence

import numpy as np
import torch

DIRECTION_NORMALIZATIONS = ("filter", "layer", "unit", None)
IGNORE_1D = ("zero", "keep")


def trainable_parameters(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """(name, parameter) for every parameter with ``requires_grad``, in ``named_parameters()`` order."""
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("the model has no trainable parameters")
    return named


def flatten(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate tensors into one flat vector (a copy)."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(vector: torch.Tensor, model: torch.nn.Module) -> list[torch.Tensor]:
    """Views of ``vector`` shaped like the model's trainable parameters (shares memory)."""
    shapes = [p.shape for _, p in trainable_parameters(model)]
    sizes = [int(np.prod(s)) for s in shapes]
    if vector.dim() != 1 or vector.numel() != sum(sizes):
        raise ValueError(f"expected a flat vector of {sum(sizes)} entries, got shape {tuple(vector.shape)}")
    return [part.view(shape) for part, shape in zip(torch.split(vector, sizes), shapes)]


def to_dict(vector: torch.Tensor, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``{name: tensor}`` views of a flat vector (for ``evaluation.forward(params=...)``)."""
    names = [name for name, _ in trainable_parameters(model)]
    return dict(zip(names, unflatten(vector, model)))


def to_vector(tensors: Mapping[str, torch.Tensor], model: torch.nn.Module) -> torch.Tensor:
    """Flat vector of a ``{name: tensor}`` mapping with exactly the model's trainable parameter names."""
    named = trainable_parameters(model)
    missing = [n for n, _ in named if n not in tensors]
    extra = sorted(set(tensors) - {n for n, _ in named})
    if missing or extra:
        raise ValueError(f"direction names do not match the model: missing {missing}, unexpected {extra}")
    for name, p in named:
        if tensors[name].shape != p.shape:
            raise ValueError(f"{name}: shape {tuple(tensors[name].shape)} != parameter shape {tuple(p.shape)}")
    return flatten([tensors[name] for name, _ in named])


def parameter_vector(model: torch.nn.Module) -> torch.Tensor:
    """θ: a detached copy of the trainable parameters as a flat vector."""
    return flatten([p.detach() for _, p in trainable_parameters(model)]).clone()


def random_direction(model: torch.nn.Module, seed: int) -> torch.Tensor:
    """d ~ N(0, I) over the trainable parameters, drawn on the CPU from ``seed`` (device independent)."""
    theta = parameter_vector(model)
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(theta.numel(), generator=generator, dtype=theta.dtype).to(theta.device)


def normalize_direction(direction: torch.Tensor, model: torch.nn.Module, normalization: str | None = "filter",
              ignore_1d: str = "zero") -> torch.Tensor:
    """A copy of ``direction`` rescaled against θ (see module docstring for the options)."""
    if normalization not in DIRECTION_NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; allowed: {list(DIRECTION_NORMALIZATIONS)}")
    if ignore_1d not in IGNORE_1D:
        raise ValueError(f"unknown ignore_1d {ignore_1d!r}; allowed: {list(IGNORE_1D)}")
    result = direction.detach().clone()
    if normalization is None:
        return result
    if normalization == "unit":
        return result / result.norm()
    for d, (_, w) in zip(unflatten(result, model), trainable_parameters(model)):
        w = w.detach()
        if d.dim() <= 1:
            if ignore_1d == "zero":
                d.zero_()
            else:
                d.copy_(w)
        elif normalization == "filter":
            d.mul_(_scale(w.flatten(1).norm(dim=1), d.flatten(1).norm(dim=1)).view(-1, *[1] * (d.dim() - 1)))
        else:
            d.mul_(_scale(w.norm(), d.norm()))
    return result


def _scale(target: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """target / current, with 0 where current is 0 (a zero filter stays zero)."""
    return torch.where(current > 0, target / torch.where(current > 0, current, 1), 0)


def orthogonalize(direction: torch.Tensor, against: Sequence[torch.Tensor], keep_norm: bool = True) -> torch.Tensor:
    """Gram-Schmidt in flat space: ``direction`` minus its projections on the ``against`` vectors
    (taken in order, each orthogonalized against the previous ones). With ``keep_norm`` the
    result is rescaled to the norm of ``direction``; per-filter norms then deviate from θ's by
    about the cosine between the directions (~1/sqrt(dim) for random ones)."""
    basis: list[torch.Tensor] = []
    for a in against:
        residual = _remove_projections(a, basis)
        if residual.norm() <= _DEPENDENT * a.norm():
            raise ValueError("cannot orthogonalize against a zero (or linearly dependent) vector")
        basis.append(residual / residual.norm())
    result = _remove_projections(direction.detach(), basis)
    if result.norm() <= _DEPENDENT * direction.norm():
        raise ValueError("the direction lies in the span of the vectors it is orthogonalized against")
    return result * (direction.norm() / result.norm()) if keep_norm else result


_DEPENDENT = 1e-10  # relative norm left after projection below which vectors count as dependent


def _remove_projections(vector: torch.Tensor, orthonormal: Sequence[torch.Tensor]) -> torch.Tensor:
    for b in orthonormal:
        vector = vector - (vector @ b) * b
    return vector


def normalized_direction(model: torch.nn.Module, seed: int, normalization: str | None = "filter",
                         ignore_1d: str = "zero") -> torch.Tensor:
    """A random Gaussian direction, normalized (Li et al.'s filter normalization by default)."""
    return normalize_direction(random_direction(model, seed), model, normalization, ignore_1d)


def plane_directions(model: torch.nn.Module, seed: int, normalization: str | None = "filter",
                     ignore_1d: str = "zero", orthogonal: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Two normalized random directions (seeds ``seed`` and ``seed + 1``) for a 2-D surface;
    with ``orthogonal`` the second is Gram-Schmidt orthogonalized against the first (norm kept)."""
    d1 = normalized_direction(model, seed, normalization, ignore_1d)
    d2 = normalized_direction(model, seed + 1, normalization, ignore_1d)
    return d1, orthogonalize(d2, [d1]) if orthogonal else d2


class _HasEigenvectors(Protocol):
    eigenvectors: torch.Tensor


def hessian_directions(eigen: _HasEigenvectors, k: int = 2) -> list[torch.Tensor]:
    """The first ``k`` eigenvectors of a ``curvature`` eigen-result as unit directions, with a
    deterministic sign (the entry of largest magnitude is positive)."""
    vectors = eigen.eigenvectors
    if not 1 <= k <= vectors.shape[0]:
        raise ValueError(f"k={k} but the result holds {vectors.shape[0]} eigenvectors")
    result = []
    for v in vectors[:k]:
        v = v / v.norm()
        result.append(v * torch.sign(v[v.abs().argmax()]))
    return result


class ParameterShift:
    """Write θ + δ into a model's trainable parameters in place; restore θ bitwise on exit.

    Use as a context manager::

        with ParameterShift(model) as shift:
            shift.set(alpha * d1 + beta * d2)   # model now holds θ + δ
            ...                                 # evaluate
        # model holds θ again, bit for bit

    θ is the parameters at construction. ``set_combination`` forms θ + Σ c_i d_i directly in
    the parameter storage (no temporary vector of the model's size).
    """

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self._params = [p for _, p in trainable_parameters(model)]
        self._theta = [p.detach().clone() for p in self._params]

    def __enter__(self) -> "ParameterShift":
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    @torch.no_grad()
    def set(self, delta: torch.Tensor) -> None:
        """Parameters := θ + δ (δ a flat vector)."""
        self.set_combination([1.0], [delta])

    @torch.no_grad()
    def set_combination(self, coefficients: Sequence[float], directions: Sequence[torch.Tensor]) -> None:
        """Parameters := θ + Σ_i coefficients[i] · directions[i] (flat vectors)."""
        if len(coefficients) != len(directions):
            raise ValueError(f"{len(coefficients)} coefficients for {len(directions)} directions")
        parts = [unflatten(d, self.model) for d in directions]
        for i, (p, theta) in enumerate(zip(self._params, self._theta)):
            p.copy_(theta)
            for c, part in zip(coefficients, parts):
                if c != 0:
                    p.add_(part[i], alpha=float(c))

    @torch.no_grad()
    def restore(self) -> None:
        """Parameters := θ exactly."""
        for p, theta in zip(self._params, self._theta):
            p.copy_(theta)
