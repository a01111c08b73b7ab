"""Hessian-vector products, eigenvalues, trace and density against a dense Hessian (float64)."""
import gc

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from landscape.geometry.curvature import (QuadraticModel, condition_number, hutchinson_trace, lanczos, power_iteration,
                                          seed_power_iteration, smallest_ritz_value, spectral_density, top_eigenpair)
from landscape.geometry.operators import GRAPH_PEAK_FACTOR, GGNOperator, HessianOperator, loss_and_gradient
from landscape.learning.evaluation import evaluate, model_mode



def tiny_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 5), nn.Tanh(), nn.Linear(5, 3)).double()


def tiny_convnet() -> nn.Module:
    """Conv + BatchNorm (non-trivial running statistics) + dropout, 75 parameters."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.Tanh(), nn.AvgPool2d(2),
                        nn.Dropout(0.5), nn.Flatten(), nn.Linear(12, 3)).double()
    with torch.no_grad():
        bn = net[1]
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    net.train()  # probes must choose their own mode
    return net


def tiny_data(n: int = 50, seed: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 4, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


def dense_hessian(model: nn.Module, data, mode: str = "eval", chunk_size: int | None = None) -> torch.Tensor:
    """∇² of the mean cross-entropy as a function of the flat parameter vector (autograd.functional)."""
    names = [n for n, p in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    x, y = data
    chunk_size = chunk_size or len(y)

    def loss(flat):
        params = {n: t.view(s) for n, t, s in zip(names, torch.split(flat, [s.numel() for s in shapes]), shapes)}
        params.update({n: b.clone() for n, b in model.named_buffers()})
        total = 0
        with model_mode(model, mode):
            for start in range(0, len(y), chunk_size):
                logits = functional_call(model, params, (x[start:start + chunk_size],))
                total = total + F.cross_entropy(logits, y[start:start + chunk_size], reduction="sum")
        return total / len(y)

    return torch.autograd.functional.hessian(loss, theta)


def rel_err(a, b) -> float:
    return float(torch.as_tensor(a - b).norm() / torch.as_tensor(b).norm())


def state_bits(model: nn.Module) -> dict:
    return {k: v.detach().clone().contiguous().view(torch.uint8) if v.is_floating_point() else v.clone()
            for k, v in model.state_dict().items()}


def assert_unchanged(model: nn.Module, before: dict) -> None:
    after = state_bits(model)
    assert before.keys() == after.keys()
    for k in before:
        assert torch.equal(before[k], after[k]), f"{k} changed"
    assert all(p.grad is None for p in model.parameters())


@pytest.fixture(params=["mlp", "conv_bn"])
def net_and_data(request):
    return (tiny_mlp() if request.param == "mlp" else tiny_convnet()), tiny_data()


def test_hvp_equals_dense_hessian_times_v(net_and_data):
    model, data = net_and_data
    before = state_bits(model)
    h = dense_hessian(model, data)
    v = torch.randn(h.shape[0], generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    # one chunk (graph cached by default) and sizes that do not divide n, with and without caching
    for chunk_size, cache in ((50, None), (50, False), (7, None), (13, None), (13, True)):
        op = HessianOperator(model, data, chunk_size=chunk_size, cache_graphs=cache)
        assert rel_err(op.matvec(v), h @ v) <= 1e-6
        assert rel_err(op.matvec(2 * v), 2 * (h @ v)) <= 1e-6  # a cached graph is reused correctly
        assert op.num_products == 2 and op.dim == h.shape[0] and op.dtype == torch.float64
    assert_unchanged(model, before)
    assert model.training  # flags restored


def test_hvp_train_mode_uses_batch_statistics_per_chunk():
    model, data = tiny_convnet(), tiny_data()
    before = state_bits(model)
    v = torch.randn(75, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    for chunk_size, cache in ((50, None), (13, False), (13, True)):
        h = dense_hessian(model, data, mode="train", chunk_size=chunk_size)
        op = HessianOperator(model, data, mode="train", chunk_size=chunk_size, cache_graphs=cache)
        assert rel_err(op.matvec(v), h @ v) <= 1e-6
        assert rel_err(op.matvec(v), h @ v) <= 1e-6
    assert rel_err(dense_hessian(model, data, mode="train"), dense_hessian(model, data, mode="eval")) > 1e-3
    assert_unchanged(model, before)


def test_a_memory_budget_cuts_eval_chunks_but_never_train_mode_batches(net_and_data):
    model, data = net_and_data
    h = dense_hessian(model, data)
    v = torch.randn(h.shape[0], generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    roomy = HessianOperator(model, data, chunk_size=50)
    assert roomy.chunk_size == 50 and roomy.cache_graphs  # the whole set fits: one cached chunk
    per_sample = GRAPH_PEAK_FACTOR * roomy._graph_bytes_per_sample()
    assert per_sample > 0
    tight = HessianOperator(model, data, chunk_size=50, memory_mb=10.5 * per_sample / 2**20)
    assert tight.chunk_size == 10 and not tight.cache_graphs
    assert rel_err(tight.matvec(v), h @ v) <= 1e-6  # eval mode: only the order of the sums changes
    fixed = HessianOperator(tiny_convnet(), tiny_data(), mode="train", chunk_size=13, memory_mb=1e-6)
    assert fixed.chunk_size == 13  # train mode: the chunks are BatchNorm's batches, part of the function


def test_hvp_equals_finite_difference_of_gradients(net_and_data):
    model, data = net_and_data
    op = HessianOperator(model, data, chunk_size=20)
    v = torch.randn(op.dim, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    v /= v.norm()
    eps = 1e-4
    _, g_plus = loss_and_gradient(model, data, theta=op.theta + eps * v)
    _, g_minus = loss_and_gradient(model, data, theta=op.theta - eps * v)
    assert rel_err(op.matvec(v), (g_plus - g_minus) / (2 * eps)) < 1e-5


def test_gradient_and_loss_match_autograd_and_evaluate(net_and_data):
    model, data = net_and_data
    loss, grad = loss_and_gradient(model, data, chunk_size=13)
    assert loss == pytest.approx(evaluate(model, data).loss, rel=1e-12)
    with model_mode(model, "eval"):
        reference = F.cross_entropy(model(data[0]), data[1])
        ref_grad = torch.autograd.grad(reference, list(model.parameters()))
    assert rel_err(grad, torch.cat([g.reshape(-1) for g in ref_grad])) < 1e-10


def live_tensors() -> int:
    gc.collect()
    return sum(type(o) in (torch.Tensor, nn.Parameter) for o in gc.get_objects())


def test_no_memory_growth_over_many_products():
    model, data = tiny_convnet(), tiny_data()
    for chunk_size, cache in ((50, None), (13, False), (13, True)):
        op = HessianOperator(model, data, chunk_size=chunk_size, cache_graphs=cache)
        v = torch.ones(op.dim, dtype=torch.float64)
        op.matvec(v)
        count = live_tensors()
        for _ in range(30):
            op.matvec(v)
        assert live_tensors() <= count


def test_eigenvalues_match_numpy_eigh(net_and_data):
    model, data = net_and_data
    before = state_bits(model)
    exact = np.linalg.eigh(dense_hessian(model, data).numpy())[0]  # ascending
    op = HessianOperator(model, data)
    top = lanczos(op, k=3, which="LA", tol=1e-10)
    np.testing.assert_allclose(top.eigenvalues, exact[::-1][:3], rtol=1e-3)
    assert np.all(top.residuals < 1e-6)
    bottom = lanczos(op, k=1, which="SA", tol=1e-10)
    np.testing.assert_allclose(bottom.eigenvalues, exact[:1], rtol=1e-3)
    by_magnitude = exact[np.argsort(-np.abs(exact))]
    power = power_iteration(op, k=3, max_iter=3000, tol=1e-10)
    np.testing.assert_allclose(power.eigenvalues, by_magnitude[:3], rtol=1e-3)
    for result in (top, bottom, power):  # eigenvectors are unit and satisfy H v = λ v
        h = dense_hessian(model, data)
        for lam, vec, res in zip(result.eigenvalues, result.eigenvectors, result.residuals):
            assert float(vec.norm()) == pytest.approx(1.0, abs=1e-8)
            assert float((h @ vec - lam * vec).norm() / abs(lam)) == pytest.approx(res, rel=1e-3, abs=1e-9)
    assert power.num_products <= 3 * 3000 and top.num_products > 3
    assert_unchanged(model, before)


def dense_ggn(model: nn.Module, data, mode: str = "eval", chunk_size: int | None = None) -> torch.Tensor:
    """(1/n) Σᵢ Jᵢᵀ (diag pᵢ − pᵢpᵢᵀ) Jᵢ from the dense Jacobian of the logits (autograd.functional),
    BatchNorm in ``mode`` per chunk of ``chunk_size``."""
    names = [n for n, p in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    x, y = data
    chunk_size = chunk_size or len(y)
    total = torch.zeros(theta.numel(), theta.numel(), dtype=torch.float64)
    for start in range(0, len(y), chunk_size):
        def logits(flat, xs=x[start:start + chunk_size]):
            params = {n: t.view(s) for n, t, s in zip(names, torch.split(flat, [s.numel() for s in shapes]), shapes)}
            params.update({n: b.clone() for n, b in model.named_buffers()})
            with model_mode(model, mode):
                return functional_call(model, params, (xs,))

        jacobian = torch.autograd.functional.jacobian(logits, theta)  # (chunk, classes, dim)
        probs = torch.softmax(logits(theta), dim=1)
        for j, p in zip(jacobian, probs):
            total += j.T @ (torch.diag(p) - torch.outer(p, p)) @ j
    return total / len(y)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_ggn_products_equal_the_dense_gauss_newton_matrix(net_and_data, mode):
    model, data = net_and_data
    before = state_bits(model)
    for chunk_size in (50, 13):
        g = dense_ggn(model, data, mode, chunk_size)
        v = torch.randn(g.shape[0], generator=torch.Generator().manual_seed(4), dtype=torch.float64)
        op = GGNOperator(model, data, mode=mode, chunk_size=chunk_size)
        assert rel_err(op.matvec(v), g @ v) <= 1e-6
        assert op.num_products == 1 and op.name == "ggn"
    assert np.linalg.eigvalsh(g.numpy()).min() > -1e-10  # positive semi-definite
    assert_unchanged(model, before)


def test_ggn_equals_the_hessian_for_a_model_linear_in_its_parameters():
    torch.manual_seed(5)
    model, data = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double(), tiny_data()
    v = torch.randn(51, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    assert rel_err(GGNOperator(model, data).matvec(v), HessianOperator(model, data).matvec(v)) <= 1e-10
    ones = torch.ones(103, dtype=torch.float64)
    assert rel_err(GGNOperator(tiny_mlp(), data).matvec(ones),
                   HessianOperator(tiny_mlp(), data).matvec(ones)) > 1e-3  # through tanh they differ


def test_every_solver_takes_the_ggn(net_and_data):
    model, data = net_and_data
    g = dense_ggn(model, data)
    exact = np.linalg.eigh(g.numpy())[0]
    op = GGNOperator(model, data)
    np.testing.assert_allclose(lanczos(op, k=2, which="LA", tol=1e-10).eigenvalues, exact[::-1][:2], rtol=1e-6)
    assert top_eigenpair(op, tol=1e-8, max_steps=80).eigenvalues[0] == pytest.approx(exact[-1], rel=1e-6)
    assert power_iteration(op, k=1, max_iter=3000, tol=1e-9).eigenvalues[0] == pytest.approx(exact[-1], rel=1e-4)
    assert smallest_ritz_value(op, 10) >= exact[0] - 1e-10
    estimate = hutchinson_trace(op, num_samples=400, seed=0)
    assert abs(estimate.trace - float(torch.trace(g))) < 4 * estimate.stderr
    density = spectral_density(op, num_runs=1, num_steps=min(op.dim, 120))
    assert density.nodes[0].max() == pytest.approx(exact[-1], rel=1e-6)


def test_condition_number_undefined_with_negative_curvature():
    model, data = tiny_mlp(), tiny_data()
    exact = np.linalg.eigh(dense_hessian(model, data).numpy())[0]
    assert exact[0] < 0  # a net at initialization has negative curvature
    op = HessianOperator(model, data)
    cond = condition_number(lanczos(op, which="LA", tol=1e-10), lanczos(op, which="SA", tol=1e-10))
    assert cond.value is None and cond.status == "undefined: negative curvature present"
    assert cond.lambda_min == pytest.approx(exact[0], rel=1e-3)
    assert cond.value is None


def quadratic(eigenvalues, seed: int = 0, start=None) -> tuple[QuadraticModel, tuple]:
    """½ θᵀ A θ with A = Q diag(eigenvalues) Qᵀ, Q a seeded random rotation; data: 8 samples labelled 0."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigenvalues), len(eigenvalues), generator=g, dtype=torch.float64))
    a = q @ torch.diag(torch.as_tensor(eigenvalues, dtype=torch.float64)) @ q.T
    model = QuadraticModel((a + a.T) / 2, start=start)
    return model, (torch.zeros(8, 1, 1, 1, dtype=torch.float64), torch.zeros(8, dtype=torch.int64))


def test_quadratic_model_has_exact_loss_and_hessian():
    spectrum = np.linspace(0.5, 4.0, 10)
    start = torch.linspace(-1, 1, 10, dtype=torch.float64)
    model, data = quadratic(spectrum, start=start)
    assert evaluate(model, data).loss == pytest.approx(np.log(2) + 0.5 * float(start @ model.a @ start), rel=1e-12)
    assert rel_err(dense_hessian(model, data), model.a) < 1e-10


def test_condition_number_defined_for_positive_spectrum():
    spectrum = np.linspace(0.5, 4.0, 30)
    model, data = quadratic(spectrum)
    op = HessianOperator(model, data)
    top, bottom = lanczos(op, which="LA", tol=1e-10), lanczos(op, which="SA", tol=1e-10)
    cond = condition_number(top, bottom)
    assert cond.status == "defined" and cond.value == pytest.approx(8.0, rel=1e-6)


def test_top_eigenpair_stops_on_its_residual_and_a_warm_start_saves_products():
    spectrum = np.concatenate([np.linspace(-0.5, 2.0, 37), [3.0, 3.5, 5.0]])
    model, data = quadratic(spectrum, seed=4)
    op = HessianOperator(model, data)
    exact = model.a.numpy()
    for tol in (1e-2, 1e-4, 1e-8):
        cold = top_eigenpair(op, tol=tol, seed=1)
        v, lam = cold.eigenvectors[0].double(), float(cold.eigenvalues[0])
        true_residual = float((model.a @ v - lam * v).norm()) / lam  # the recurrence's β_m |s_m| is exact
        assert cold.residuals[0] == pytest.approx(true_residual, rel=1e-6, abs=1e-12)
        assert cold.residuals[0] <= tol
        assert lam == pytest.approx(5.0, rel=tol ** 2 * 5 / 1.5 + 1e-12)  # error ≲ tol²·λ²/gap
        assert float(v.norm()) == pytest.approx(1.0, rel=1e-10)
    # from the eigenvector of a nearby matrix, a few products do what a cold start needs many for
    nudged = exact + 0.05 * np.diag(np.linspace(0, 1, 40))
    nearby = torch.from_numpy(np.linalg.eigh(nudged)[1][:, -1])
    warm = top_eigenpair(op, tol=1e-4, start=nearby)
    cold = top_eigenpair(op, tol=1e-4, seed=1)
    assert warm.eigenvalues[0] == pytest.approx(5.0, rel=1e-6)
    assert warm.num_products <= cold.num_products / 2
    capped = top_eigenpair(op, tol=1e-12, max_steps=3, seed=1)
    assert capped.num_products == 3 and capped.residuals[0] > 1e-12  # the cap holds; the residual says so


def test_power_iteration_stops_on_its_residual_where_close_eigenvalues_fool_the_change_of_lambda():
    spectrum = np.concatenate([np.linspace(0.0, 0.5, 38), [0.97, 1.0]])  # gap 3%
    model, data = quadratic(spectrum, seed=2)
    op = HessianOperator(model, data)
    for tol in (1e-3, 1e-4):  # below the relative gap: a residual above it cannot tell 0.97 from 1
        found = power_iteration(op, k=1, max_iter=5000, tol=tol, seed=0)
        v, lam = found.eigenvectors[0].double(), float(found.eigenvalues[0])
        assert found.residuals[0] == pytest.approx(float((model.a @ v - lam * v).norm()) / lam, rel=1e-6)
        assert found.residuals[0] <= tol
        assert lam == pytest.approx(1.0, rel=tol ** 2 / 0.03 + 1e-12)  # error ≲ tol²·λ²/gap
    # the change-of-λ rule (PyHessian's) stops about 1% below λmax here at tol 1e-3
    steps = power_iteration(op, k=1, max_iter=5000, tol=1e-3, seed=0).num_products
    values = [float(power_iteration(op, k=1, max_iter=m, tol=None, seed=0).eigenvalues[0]) for m in range(2, steps)]
    stop = next(i for i in range(1, len(values)) if abs(values[i] - values[i - 1]) <= 1e-3 * abs(values[i]))
    assert 1.0 - values[stop] > 2e-3


def test_smallest_ritz_value_bounds_lambda_min_from_above():
    spectrum = np.concatenate([[-0.8, -0.05], np.linspace(0.1, 5.0, 38)])
    model, data = quadratic(spectrum, seed=3)
    op = HessianOperator(model, data)
    bounds = [smallest_ritz_value(op, steps, seed=1) for steps in (2, 5, 10, 40)]
    assert all(b >= spectrum.min() - 1e-10 for b in bounds)  # a Rayleigh quotient: never below λmin
    assert bounds[-1] == pytest.approx(-0.8, abs=1e-8)  # the whole space: exact
    assert bounds[2] < 0  # an isolated negative eigenvalue shows up within a few steps
    assert list(bounds) == sorted(bounds, reverse=True)  # nested Krylov spaces: the bound only tightens
    positive, _ = quadratic(np.linspace(0.5, 4.0, 30))
    assert smallest_ritz_value(HessianOperator(positive, data), 10) >= 0.5 - 1e-10


def test_hutchinson_trace(net_and_data):
    model, data = net_and_data
    before = state_bits(model)
    h = dense_hessian(model, data)
    op = HessianOperator(model, data)
    estimate = hutchinson_trace(op, num_samples=400, seed=0)
    spectral_density(op, num_runs=1, num_steps=5)
    assert_unchanged(model, before)
    assert abs(estimate.trace - float(torch.trace(h))) < 4 * estimate.stderr
    # the standard error matches the Rademacher variance 2 Σ_{i≠j} H_ij² (to sampling error)
    off_diagonal = float((h ** 2).sum() - (torch.diagonal(h) ** 2).sum())
    assert estimate.stderr == pytest.approx(np.sqrt(2 * off_diagonal / 400), rel=0.25)
    assert estimate.num_products == 400


def test_hutchinson_is_exact_for_a_diagonal_hessian():
    model, data = quadratic(np.arange(1.0, 21.0))
    with torch.no_grad():
        model.a.copy_(torch.diag(torch.arange(1.0, 21.0, dtype=torch.float64)))
    estimate = hutchinson_trace(HessianOperator(model, data), num_samples=5)
    assert estimate.trace == pytest.approx(210.0, rel=1e-12) and estimate.stderr < 1e-10


def test_spectral_density_puts_mass_on_the_eigenvalues():
    clusters = [1.0, 5.0, 10.0]
    spectrum = np.concatenate([c + np.linspace(-0.05, 0.05, 20) for c in clusters])  # 60 eigenvalues
    model, data = quadratic(spectrum)
    density = spectral_density(HessianOperator(model, data), num_runs=8, num_steps=40, seed=0)
    for c in clusters:
        assert density.mass_between(c - 0.5, c + 0.5) == pytest.approx(1 / 3, abs=0.1)
    assert sum(density.mass_between(c - 0.5, c + 0.5) for c in clusters) == pytest.approx(1.0, abs=1e-9)
    assert np.trapezoid(density.density, density.grid) == pytest.approx(1.0, abs=1e-3)
    peaks = density.grid[np.argsort(density.density)[::-1]]
    assert min(abs(peaks[0] - c) for c in clusters) < 0.2
    # SLQ trace estimate dim · Σ w θ and the extreme Ritz values
    trace = np.mean([60 * (w * x).sum() for x, w in zip(density.nodes, density.weights)])
    assert trace == pytest.approx(spectrum.sum(), rel=0.1)
    assert max(x.max() for x in density.nodes) == pytest.approx(spectrum.max(), rel=1e-6)


def test_spectral_density_on_a_network_matches_eigh():
    model, data = tiny_convnet(), tiny_data()
    exact = np.linalg.eigh(dense_hessian(model, data).numpy())[0]
    density = spectral_density(HessianOperator(model, data), num_runs=2, num_steps=75)
    for nodes in density.nodes:  # a full Lanczos run: Ritz values are the eigenvalues
        assert nodes.min() == pytest.approx(exact.min(), rel=1e-6) and nodes.max() == pytest.approx(exact.max(), rel=1e-6)


def test_seeded_results_are_identical():
    model, data = tiny_convnet(), tiny_data()
    op = HessianOperator(model, data)
    a, b = hutchinson_trace(op, 10, seed=7), hutchinson_trace(op, 10, seed=7)
    assert a == b and hutchinson_trace(op, 10, seed=8) != a
    d1, d2 = spectral_density(op, 2, 10, seed=3), spectral_density(op, 2, 10, seed=3)
    np.testing.assert_array_equal(d1.density, d2.density)
    p1, p2 = power_iteration(op, k=2, max_iter=20, seed=1), power_iteration(op, k=2, max_iter=20, seed=1)
    np.testing.assert_array_equal(p1.eigenvalues, p2.eigenvalues)
    l1, l2 = lanczos(op, k=2, seed=1), lanczos(op, k=2, seed=1)
    np.testing.assert_array_equal(l1.eigenvalues, l2.eigenvalues)


def test_seed_variant_uses_one_batch_and_fixed_iterations():
    model, data = tiny_convnet(), tiny_data(200)
    before = state_bits(model)
    result = seed_power_iteration(model, data, batch_size=32, iterations=7, mode="train", seed=0)
    assert result.num_products == 7 and result.n == 32 and result.mode == "train"
    index = torch.randperm(200, generator=torch.Generator().manual_seed(0))[:32]
    batch = (data[0][index], data[1][index])
    exact = np.linalg.eigh(dense_hessian(model, batch, mode="train").numpy())[0]
    assert abs(result.eigenvalues[0]) <= np.abs(exact).max() * (1 + 1e-9)
    assert result.method == "power-7it-1batch32"
    assert_unchanged(model, before)


def test_bad_arguments():
    model, data = tiny_mlp(), tiny_data()
    with pytest.raises(ValueError, match="mode"):
        HessianOperator(model, data, mode="test")
    op = HessianOperator(model, data)
    with pytest.raises(ValueError, match="flat vector"):
        op.matvec(torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="which"):
        lanczos(op, which="BE")
    with pytest.raises(ValueError, match="num_samples"):
        hutchinson_trace(op, num_samples=1)
