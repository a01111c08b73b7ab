"""The complexity measures of Jiang et al. and Dziugaite et al. against answers known by hand:
BatchNorm folding leaves the function unchanged, margins of a linear map, the path norm as a sum
over enumerated paths, norms against numpy's SVD, and the σ search on functions whose root is
known."""
import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from landscape.geometry import complexity
from landscape.learning.data import ImageDataset
from landscape.learning.models import build_model


def randomize_batchnorm(model: nn.Module, seed: int) -> nn.Module:
    """Give every BatchNorm layer statistics and an affine map far from the identity."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g))
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 3 + 0.1)
                m.weight.copy_(torch.randn(m.num_features, generator=g))
                m.bias.copy_(torch.randn(m.num_features, generator=g))
    return model.eval()


@pytest.mark.parametrize("name, options, shape", [("cnn_bn_dropout", {}, (1, 8, 8)),
                                                  ("cnn_3264", {"batchnorm": True}, (1, 8, 8)),
                                                  ("resnet20", {"width": 8}, (3, 8, 8))])
def test_folding_batchnorm_keeps_the_function_and_leaves_identity_layers(name, options, shape):
    torch.manual_seed(0)
    model = randomize_batchnorm(build_model(name, shape, **options).double(), 1)
    x = torch.randn(5, *shape, dtype=torch.float64)
    before = [p.clone() for p in model.parameters()]
    folded = complexity.fold_batchnorm(model)
    torch.testing.assert_close(folded(x), model(x), rtol=1e-9, atol=1e-9)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the model is not modified
    for m in folded.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any()
    with pytest.raises(ValueError, match="follows no layer"):
        complexity.fold_batchnorm(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2)))


def test_margins_of_a_linear_map_and_their_tenth_percentile():
    layer = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    x = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0], [1.0, -2.0]])
    y = torch.tensor([0, 2, 2, 1])
    # logits: [2, 0, 2], [0, 3, 3], [1, 1, 2], [1, -2, -1]
    margins = complexity.output_margins(layer, (x, y), chunk_size=3)
    np.testing.assert_allclose(margins, [0.0, 0.0, 1.0, -3.0])
    assert complexity.margin_quantile(np.arange(1.0, 21.0)) == 2.0  # k = 2 of 20
    assert complexity.margin_quantile([5.0, -1.0, 3.0]) == -1.0  # fewer than 10 values: the smallest


def test_the_path_norm_is_the_sum_over_paths_of_squared_weight_products():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    w1, b1, w2, b2 = (p.detach().numpy() for p in net.parameters())
    paths = sum((w1[j, i] * w2[k, j]) ** 2 for i, j, k in itertools.product(range(3), range(4), range(2)))
    paths += sum((b1[j] * w2[k, j]) ** 2 for j, k in itertools.product(range(4), range(2))) + (b2 ** 2).sum()
    assert complexity.path_norm(net, (3,)) == pytest.approx(paths, rel=1e-12)
    assert torch.equal(next(net.parameters()), torch.from_numpy(w1))  # squared on a copy


def test_norm_measures_agree_with_numpy_and_do_not_see_a_batchnorm_rescaling():
    torch.manual_seed(4)
    model = randomize_batchnorm(build_model("cnn_3264", (1, 6, 6), batchnorm=True).double(), 5)
    x = torch.randn(30, 1, 6, 6, dtype=torch.float64)
    data = ImageDataset("tiny", "train", x, model(x).argmax(dim=1))  # labels it fits: every margin ≥ 0
    found = complexity.norm_measures(model, data, (1, 6, 6), chunk_size=7)
    matrices = [w.numpy() for w in complexity.weight_matrices(complexity.fold_batchnorm(model))]
    spectral = [np.linalg.svd(w, compute_uv=False)[0] ** 2 for w in matrices]
    frobenius = [(w ** 2).sum() for w in matrices]
    assert found["layers"] == 4 and matrices[0].shape == (32, 9)
    assert found["log_prod_spec"] == pytest.approx(np.log(spectral).sum(), rel=1e-10)
    assert found["log_sum_spec"] == pytest.approx(math.log(4) + np.log(spectral).mean(), rel=1e-10)
    assert found["log_prod_fro"] == pytest.approx(np.log(frobenius).sum(), rel=1e-10)
    assert found["log_sum_fro"] <= math.log(sum(frobenius)) + 1e-12  # the geometric mean bounds the sum
    margin = complexity.margin_quantile(complexity.output_margins(model, data, chunk_size=7))
    assert found["margin"] == margin > 0 and found["inverse_margin"] == pytest.approx(1 / margin ** 2)
    wrong = ImageDataset("tiny", "train", x, (data.labels + 1) % 10)  # every sample misclassified
    assert math.isnan(complexity.norm_measures(model, wrong, (1, 6, 6))["inverse_margin"])
    with torch.no_grad():  # scaling the weights before a BatchNorm layer changes nothing that is measured
        model[0].weight.mul_(7.0)
        model[0].bias.mul_(7.0)
        model[1].running_mean.mul_(7.0)
        model[1].running_var.mul_(49.0)
    again = complexity.norm_measures(model, data, (1, 6, 6), chunk_size=7)
    for key in ("log_prod_spec", "log_prod_fro", "path_norm", "margin"):
        assert again[key] == pytest.approx(found[key], rel=1e-4, abs=1e-5), key  # up to BatchNorm's ε


def test_the_sigma_search_finds_a_known_root_and_says_when_it_does_not():
    found = complexity.bisect_sigma(lambda s: s ** 2 / 4, target=0.1, tolerance=1e-4, depth=40)
    assert found.converged and found.sigma == pytest.approx(math.sqrt(0.4), abs=1e-3)
    assert abs(found.drop - 0.1) < 1e-4 and found.steps < 40
    flat = complexity.bisect_sigma(lambda s: 0.0, depth=10)  # nothing ever drops: σ runs to the top of the range
    assert not flat.converged and flat.steps == 10 and flat.sigma == pytest.approx(2.0, abs=2 ** -9)


def test_the_magnitude_aware_sigma_is_deterministic_and_meets_its_target():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10)).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 1, 4, 4, generator=g)
    data = (x, model(x).argmax(dim=1).detach())  # labels the model fits: accuracy 1 at θ
    kwargs = {"target": 0.1, "tolerance": 0.02, "draws": 4, "depth": 12, "seed": 3, "chunk_size": 64}
    found = complexity.magnitude_aware_sigma(model, data, **kwargs)
    assert found == complexity.magnitude_aware_sigma(model, data, **kwargs)
    assert found.converged and abs(found.drop - 0.1) < 0.02 and 0 < found.sigma < 2
    flatter = complexity.magnitude_aware_sigma(model, data, **{**kwargs, "target": 0.3})
    assert flatter.sigma > found.sigma  # a larger drop takes more noise
