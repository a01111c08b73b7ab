"""Flat-vector convention, filter/layer normalization, orthogonalization, Hessian directions, ParameterShift."""
import numpy as np
import pytest
import torch

from landscape.geometry.curvature import lanczos
from landscape.geometry.operators import HessianOperator
from landscape.geometry.directions import (ParameterShift, hessian_directions, normalize_direction, normalized_direction,
                                           orthogonalize, parameter_vector, plane_directions, random_direction, to_dict,
                                           to_vector, trainable_parameters, unflatten)
from landscape.learning.models import build_model



def zoo_net() -> torch.nn.Module:
    """000's Model B (conv + BatchNorm + dropout + linear) on 8x8 inputs, float64."""
    torch.manual_seed(0)
    return build_model("cnn_bn_dropout", (1, 8, 8)).double()


def state_bits(model):
    return {k: v.detach().clone().contiguous().view(torch.uint8) if v.is_floating_point() else v.clone()
            for k, v in model.state_dict().items()}


def test_flat_convention_and_converters():
    model = zoo_net()
    model.get_parameter("0.bias").requires_grad_(False)  # frozen parameters are not part of vectors
    names = [n for n, _ in trainable_parameters(model)]
    assert names == [n for n, p in model.named_parameters() if n != "0.bias"]
    theta = parameter_vector(model)
    assert theta.numel() == sum(p.numel() for n, p in model.named_parameters() if n != "0.bias")
    as_dict = to_dict(theta, model)
    assert list(as_dict) == names
    for name, tensor in as_dict.items():
        assert torch.equal(tensor, model.get_parameter(name).detach())
    assert torch.equal(to_vector(as_dict, model), theta)
    views = unflatten(theta, model)
    views[0].zero_()  # views share memory with the flat vector
    assert float(theta[: views[0].numel()].abs().sum()) == 0
    with pytest.raises(ValueError, match="missing"):
        to_vector({k: v for k, v in as_dict.items() if k != names[0]}, model)
    with pytest.raises(ValueError, match="flat vector"):
        unflatten(theta[:-1], model)


@pytest.mark.parametrize("ignore_1d", ["zero", "keep"])
def test_filter_normalized_norms_equal_the_weights(ignore_1d):
    model = zoo_net()
    before = state_bits(model)
    d = normalized_direction(model, seed=3, normalization="filter", ignore_1d=ignore_1d)
    checked = 0
    for part, (name, w) in zip(unflatten(d, model), trainable_parameters(model)):
        if w.dim() > 1:  # conv (out, in, k, k) and linear (out, in): filter = slice along dim 0
            torch.testing.assert_close(part.flatten(1).norm(dim=1), w.detach().flatten(1).norm(dim=1),
                                       rtol=1e-12, atol=0)
            checked += 1
        elif ignore_1d == "zero":
            assert torch.count_nonzero(part) == 0, name
        else:
            assert torch.equal(part, w.detach()), name
    assert checked == 4
    assert torch.equal(d, normalized_direction(model, seed=3, ignore_1d=ignore_1d))  # seeded
    assert not torch.equal(d, normalized_direction(model, seed=4, ignore_1d=ignore_1d))
    for k, v in state_bits(model).items():
        assert torch.equal(v, before[k])


def test_layer_normalization_and_raw_direction():
    model = zoo_net()
    raw = random_direction(model, seed=1)
    d = normalize_direction(raw, model, normalization="layer")
    for part, (_, w) in zip(unflatten(d, model), trainable_parameters(model)):
        if w.dim() > 1:
            assert float(part.norm()) == pytest.approx(float(w.detach().norm()), rel=1e-12)
    assert torch.equal(normalize_direction(raw, model, normalization=None), raw)
    unit = normalize_direction(raw, model, normalization="unit")  # study 004: one unit vector over every parameter
    assert float(unit.norm()) == pytest.approx(1.0, rel=1e-12)
    assert torch.allclose(unit * raw.norm(), raw, rtol=1e-12, atol=0)
    d1, d2 = plane_directions(model, seed=2, normalization="unit")
    assert float(d2.norm()) == pytest.approx(1.0, rel=1e-12) and abs(float(d1 @ d2)) < 1e-12
    assert raw.dtype == torch.float64 and float(raw.std()) == pytest.approx(1.0, rel=0.05)
    with pytest.raises(ValueError, match="normalization"):
        normalize_direction(raw, model, normalization="model")
    with pytest.raises(ValueError, match="ignore_1d"):
        normalize_direction(raw, model, ignore_1d="biasbn")


def test_second_direction_is_orthogonal_to_the_first():
    model = zoo_net()
    d1, d2 = plane_directions(model, seed=5)
    assert abs(float(d1 @ d2)) <= 1e-12 * float(d1.norm() * d2.norm())
    raw2 = normalized_direction(model, seed=6)
    assert float(d2.norm()) == pytest.approx(float(raw2.norm()), rel=1e-12)  # norm kept
    # Gram-Schmidt against several vectors
    vectors = [random_direction(model, s) for s in range(3)]
    w = orthogonalize(random_direction(model, 9), vectors, keep_norm=False)
    for v in vectors:
        assert abs(float(w @ v)) <= 1e-10 * float(w.norm() * v.norm())
    with pytest.raises(ValueError, match="span"):
        orthogonalize(vectors[0], vectors)


def test_hessian_directions_are_unit_eigenvectors_with_a_fixed_sign():
    torch.manual_seed(0)
    model = build_model("mlp", (1, 3, 3), num_classes=3, hidden=(4,)).double()
    g = torch.Generator().manual_seed(0)
    data = (torch.randn(40, 1, 3, 3, generator=g, dtype=torch.float64), torch.randint(0, 3, (40,), generator=g))
    op = HessianOperator(model, data)
    eigen = lanczos(op, k=2, tol=1e-10)
    directions = hessian_directions(eigen, k=2)
    for d, lam in zip(directions, eigen.eigenvalues):
        assert float(d.norm()) == pytest.approx(1.0, abs=1e-12)
        assert float(d[d.abs().argmax()]) > 0
        assert float((op.matvec(d) - lam * d).norm()) <= 1e-6 * abs(lam)
    with pytest.raises(ValueError, match="k=3"):
        hessian_directions(eigen, k=3)


def test_parameter_shift_restores_bitwise_even_on_error():
    model = zoo_net()
    before = state_bits(model)
    theta = parameter_vector(model)
    d1, d2 = random_direction(model, 1), random_direction(model, 2)
    with pytest.raises(RuntimeError, match="boom"):
        with ParameterShift(model) as shift:
            shift.set_combination([0.3, -1.7], [d1, d2])
            torch.testing.assert_close(parameter_vector(model), theta + 0.3 * d1 - 1.7 * d2, rtol=1e-14, atol=1e-14)
            shift.set(d1)
            torch.testing.assert_close(parameter_vector(model), theta + d1, rtol=1e-14, atol=1e-14)
            raise RuntimeError("boom")
    for k, v in state_bits(model).items():
        assert torch.equal(v, before[k]), k
    assert np.all([p.requires_grad for p in model.parameters()])
