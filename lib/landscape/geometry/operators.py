"""The curvature of the loss over a fixed evaluation set as linear operators, in the style of
curvlinops: one base (:class:`CurvatureOperator`: the parameters and buffers it was built at,
the memory bound on chunks, the chunked product divided by n, a scipy view, the product count),
the Hessian (:class:`HessianOperator`) and the generalized Gauss-Newton matrix
(:class:`GGNOperator`); and the loss with its gradient (:func:`loss_and_gradient`). The solvers
that take any of them are in ``curvature``.

Conventions: L(θ) is the mean cross-entropy in nats over all n samples of the set (per-chunk
sums divided by n, as in ``evaluation.evaluate``); H = ∇²L(θ) and G at the parameters the
operator was built at. Vectors are flat tensors over the trainable parameters (``directions``).
Every operator records the ``mode`` ("eval": BatchNorm running statistics; "train": BatchNorm
statistics of each chunk, see ``evaluation``) and the number n of samples.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse.linalg
import torch
import torch.nn.functional as F

from ..core import progress
from ..learning.data import ImageDataset
from ..learning.evaluation import EVAL_MODES, Batch, as_batch, chunks, forward, model_device, model_mode
from .directions import parameter_vector, to_dict


def _check_data(data: ImageDataset | Batch, chunk_size: int) -> int:
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    n = int(as_batch(data)[1].shape[0])
    if n == 0:
        raise ValueError("the evaluation set is empty")
    return n


def loss_and_gradient(model: torch.nn.Module, data: ImageDataset | Batch, mode: str = "eval",
                      chunk_size: int = 1000, theta: torch.Tensor | None = None) -> tuple[float, torch.Tensor]:
    """(L, ∇L) over all of ``data`` at ``theta`` (flat; default: the model's parameters).

    The model is used functionally and never modified. L in nats, ∇L a flat vector.
    """
    n = _check_data(data, chunk_size)
    point = (parameter_vector(model) if theta is None else theta.detach().clone()).requires_grad_(True)
    params = to_dict(point, model)
    total = torch.zeros((), dtype=torch.float64)
    grad = torch.zeros_like(point)
    with model_mode(model, mode):
        for x, y in chunks(data, chunk_size, model_device(model)):
            loss = F.cross_entropy(forward(model, x, params), y, reduction="sum")
            grad += torch.autograd.grad(loss, point)[0]
            total += loss.detach().double().cpu()
    progress.tick()
    return float(total) / n, grad / n


HVP_MEMORY_MB = 512  # what one product's gradient graphs may take (estimated); changes numbers: see PROBE_VERSION
GRAPH_PEAK_FACTOR = 2.0  # peak of a product / tensors autograd saves for it (1.4-1.8 measured on the zoo's nets)
PROBE_SAMPLES = 4  # samples per small batch when measuring the graph's bytes per sample


class CurvatureOperator:
    """v ↦ C v for a symmetric curvature matrix C of L(θ) over ``data`` (see module docstring):
    the base of :class:`HessianOperator` and :class:`GGNOperator`, so every solver here
    (``lanczos``, ``power_iteration``, ``top_eigenpair``, ``smallest_ritz_value``,
    ``hutchinson_trace``, ``spectral_density``, ``directional_curvature``) takes any of them.

    A subclass gives ``_chunk_product(x, y, v)``, the product of the summed per-sample curvature
    of one chunk with v; ``matvec`` adds the chunks and divides by n, so the product is exact to
    float rounding for any ``chunk_size``. θ and the buffers (BatchNorm running statistics) are
    copies taken at construction and the model is only called functionally: it is never modified
    (nor are its ``.grad`` fields), and later changes to it do not affect the operator.

    Memory: a product holds the gradient graph of one chunk (about GRAPH_PEAK_FACTOR times the
    tensors autograd saves, measured per sample on two small batches). In ``eval`` mode, where
    chunking only changes the order of the sums, chunks are cut to at most ``chunk_size``
    samples and at most what fits in ``memory_mb``; in ``train`` mode the chunks are the
    BatchNorm batches, so ``chunk_size`` is used as given.

    Attributes: ``name`` (of the matrix), ``dim`` (number of parameters), ``dtype``, ``device``,
    ``n``, ``mode``, ``chunk_size`` (samples per product chunk, after the memory bound),
    ``num_products`` (products computed so far).
    """

    name = "curvature"

    def __init__(self, model: torch.nn.Module, data: ImageDataset | Batch, mode: str = "eval",
                 chunk_size: int = 1000, memory_mb: float = HVP_MEMORY_MB):
        self.n = _check_data(data, chunk_size)
        if mode not in EVAL_MODES:
            raise ValueError(f"unknown mode {mode!r}; allowed: {list(EVAL_MODES)}")
        self.model, self.data, self.mode = model, data, mode
        self.theta = parameter_vector(model)
        self._buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
        self.dim, self.dtype, self.device = self.theta.numel(), self.theta.dtype, self.theta.device
        self.num_products = 0
        self.bytes_per_sample = GRAPH_PEAK_FACTOR * self._graph_bytes_per_sample()
        self.memory_bytes = memory_mb * 2**20
        fits = max(1, int(self.memory_bytes // self.bytes_per_sample)) if self.bytes_per_sample > 0 else chunk_size
        self.chunk_size = min(chunk_size, fits) if mode == "eval" else chunk_size

    def _graph_bytes_per_sample(self) -> float:
        """Bytes autograd saves per sample for the gradient graph: the slope between batches of
        PROBE_SAMPLES and 2 × PROBE_SAMPLES (what does not grow with the batch, such as the
        weights, cancels)."""
        images, labels = as_batch(self.data)
        k = min(PROBE_SAMPLES, max(1, int(labels.shape[0]) // 2))
        if 2 * k > labels.shape[0] or self.mode != "eval":
            return 0.0  # too few samples to tell (or train mode, whose chunks are fixed): no bound
        saved = []
        for size in (k, 2 * k):
            storages: dict[int, int] = {}

            def pack(t: torch.Tensor) -> torch.Tensor:
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
                return t

            x, y = images[:size].to(self.device), labels[:size].to(self.device)
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), model_mode(self.model, self.mode):
                self._gradient_graph(x, y)
            saved.append(sum(storages.values()))
        return max(0.0, (saved[1] - saved[0]) / k)

    def _logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(point, logits): a fresh leaf copy of θ and the logits of ``x`` at it, with fresh buffer
        copies (train-mode BatchNorm writes to them, which must not touch saved graphs)."""
        point = self.theta.clone().requires_grad_(True)
        state = {**{name: b.clone() for name, b in self._buffers.items()}, **to_dict(point, self.model)}
        return point, forward(self.model, x, state)

    def _gradient_graph(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(point, ∇ of the chunk's summed loss at point), with its graph kept for a second backward."""
        point, logits = self._logits(x)
        loss = F.cross_entropy(logits, y, reduction="sum")
        return point, torch.autograd.grad(loss, point, create_graph=True)[0]

    def _chunk_product(self, x: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _product(self, v: torch.Tensor) -> torch.Tensor:
        """Σ over chunks of ``_chunk_product`` (in ``mode``)."""
        result = torch.zeros_like(self.theta)
        with model_mode(self.model, self.mode):
            for x, y in chunks(self.data, self.chunk_size, self.device):
                result += self._chunk_product(x, y, v)
        return result

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """C v for a flat vector ``v`` (any float dtype/device; the result has the operator's)."""
        if v.shape != (self.dim,):
            raise ValueError(f"expected a flat vector of {self.dim} entries, got shape {tuple(v.shape)}")
        v = v.detach().to(self.device, self.dtype)
        self.num_products += 1
        progress.tick()
        return self._product(v) / self.n

    def release(self) -> None:
        """Free what the operator keeps between products (nothing, unless a subclass caches)."""

    def as_linear_operator(self) -> scipy.sparse.linalg.LinearOperator:
        """The operator for scipy, in float64 (vectors are cast to the model's dtype for each product)."""
        def matvec(x: np.ndarray) -> np.ndarray:
            cv = self.matvec(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1)))
            return cv.detach().to("cpu", torch.float64).numpy()

        return scipy.sparse.linalg.LinearOperator((self.dim, self.dim), matvec=matvec, dtype=np.float64)


class HessianOperator(CurvatureOperator):
    """v ↦ H v for H = ∇²L(θ): per-chunk Hessian-vector products by double backward.

    cache_graphs: keep each chunk's gradient graph and reuse it in every product (saves the
    forward and first backward, ~25-35% of a product) at the cost of holding all graphs in
    memory until ``release()``. Default (None): cache when the whole set fits in one chunk and
    its graph in ``memory_mb``. The cache never grows after the first product; without it
    nothing outlives a call.
    """

    name = "hessian"

    def __init__(self, model: torch.nn.Module, data: ImageDataset | Batch, mode: str = "eval",
                 chunk_size: int = 1000, cache_graphs: bool | None = None, memory_mb: float = HVP_MEMORY_MB):
        super().__init__(model, data, mode, chunk_size, memory_mb)
        whole = self.n <= self.chunk_size and self.n * self.bytes_per_sample <= self.memory_bytes
        self.cache_graphs = whole if cache_graphs is None else cache_graphs
        self._graphs: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # per chunk: (point, gradient)

    def _chunk_product(self, x: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        point, grad = self._gradient_graph(x, y)
        return torch.autograd.grad(grad, point, grad_outputs=v)[0]

    def _product(self, v: torch.Tensor) -> torch.Tensor:
        if not self.cache_graphs:
            return super()._product(v)
        if self._graphs is None:
            with model_mode(self.model, self.mode):
                self._graphs = [self._gradient_graph(x, y) for x, y in chunks(self.data, self.chunk_size, self.device)]
        result = torch.zeros_like(self.theta)
        for point, grad in self._graphs:
            result += torch.autograd.grad(grad, point, grad_outputs=v, retain_graph=True)[0]
        return result

    def release(self) -> None:
        """Free the cached gradient graphs (they are rebuilt on the next product if needed)."""
        self._graphs = None


class GGNOperator(CurvatureOperator):
    """v ↦ G v for the generalized Gauss-Newton matrix G = (1/n) Σᵢ Jᵢᵀ Sᵢ Jᵢ: Jᵢ the Jacobian
    of sample i's logits by θ, Sᵢ = diag(pᵢ) − pᵢpᵢᵀ the Hessian of the cross-entropy by the
    logits (pᵢ the softmax). G is positive semi-definite, does not depend on the labels, and for
    softmax cross-entropy equals the Fisher information of the model's predictive distribution
    (Martens 2020, §9.2); it is the Hessian without the term of the logits' own curvature, so the
    two are equal for a model linear in θ. A product is J v by the double-vjp trick (reverse mode
    only, so BatchNorm in train mode works as in a training step), then Jᵀ (S J v)."""

    name = "ggn"

    def _chunk_product(self, x: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        point, logits = self._logits(x)
        probs = torch.softmax(logits.detach(), dim=1)
        dummy = torch.zeros_like(logits, requires_grad=True)
        (transposed,) = torch.autograd.grad(logits, point, dummy, create_graph=True)  # Jᵀ u, linear in u
        (jv,) = torch.autograd.grad(transposed, dummy, v, retain_graph=True)  # J v
        s_jv = probs * jv - probs * (probs * jv).sum(dim=1, keepdim=True)
        return torch.autograd.grad(logits, point, s_jv)[0]
