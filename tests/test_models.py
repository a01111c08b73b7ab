import pytest
import torch

from landscape.learning.models import MODELS, Traits, build_model, count_parameters, model_options, traits

RESNET20_COUNTS = {  # 004, appendix A.3
    (True, True): 272_474,
    (True, False): 270_906,
    (False, True): 269_722,
    (False, False): 268_346,
}


@pytest.mark.parametrize("skip,batchnorm", sorted(RESNET20_COUNTS))
def test_resnet20_parameter_counts_match_the_study(skip, batchnorm):
    model = build_model("resnet20", (3, 32, 32), skip=skip, batchnorm=batchnorm)
    assert count_parameters(model) == RESNET20_COUNTS[(skip, batchnorm)]
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("name,options,expected", [
    ("mlp", {"hidden": (256, 128)}, 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10),
    ("mlp", {"hidden": (256,)}, 784 * 256 + 256 + 256 * 10 + 10),
    ("cnn_small", {}, (16 * 9 + 16) + (32 * 16 * 9 + 32) + (32 * 14 * 14 * 128 + 128) + (128 * 10 + 10)),
    ("cnn_two16", {"residual": False}, (16 * 9 + 16) + (16 * 16 * 9 + 16) + (16 * 14 * 14 * 10 + 10)),
    ("cnn_two16", {"residual": True}, (16 * 9 + 16) + (16 * 16 * 9 + 16) + (16 + 16) + (16 * 14 * 14 * 10 + 10)),
    ("cnn_bn_dropout", {}, (32 * 9 + 32) + 64 + (64 * 32 * 9 + 64) + 128 + (64 * 7 * 7 * 128 + 128) + 1290),
    ("cnn_3264", {"batchnorm": True}, (32 * 9 + 32) + 64 + (64 * 32 * 9 + 64) + 128 + (64 * 14 * 14 * 128 + 128) + 1290),
    ("cnn_3264", {"batchnorm": False}, (32 * 9 + 32) + (64 * 32 * 9 + 64) + (64 * 14 * 14 * 128 + 128) + 1290),
])
def test_study_models_have_the_described_layers(name, options, expected):
    model = build_model(name, (1, 28, 28), **options)
    assert count_parameters(model) == expected
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_every_zoo_model_builds_and_rejects_unknown_options():
    for name in MODELS:
        shape = (3, 32, 32) if name == "resnet20" else (1, 28, 28)
        assert build_model(name, shape)(torch.zeros(1, *shape)).shape == (1, 10)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['depth'\]; allowed: \['batchnorm', 'skip', 'width'\]"):
        build_model("resnet20", (3, 32, 32), depth=56)
    with pytest.raises(ValueError, match="allowed"):
        model_options("vgg16")


def test_a_narrower_resnet20_has_the_same_layers_at_half_the_channels():
    narrow, full = build_model("resnet20", (1, 28, 28), width=8), build_model("resnet20", (1, 28, 28))
    assert [type(m) for m in narrow.modules()] == [type(m) for m in full.modules()]
    assert [m.out_channels for m in narrow.modules() if isinstance(m, torch.nn.Conv2d)] == \
        [c // 2 for m in full.modules() if isinstance(m, torch.nn.Conv2d) for c in [m.out_channels]]
    assert narrow(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="width 4: at least 8"):
        build_model("resnet20", (1, 28, 28), width=4)


@pytest.mark.parametrize("width, depth, batchnorm, dropout", [(8, 1, False, 0.0), (16, 3, True, 0.5)])
def test_the_grid_family_has_the_layers_its_hyperparameters_name(width, depth, batchnorm, dropout):
    model = build_model("cnn_grid", (1, 28, 28), width=width, depth=depth, batchnorm=batchnorm, dropout=dropout)
    convs = (9 + 1) * width + (depth - 1) * (9 * width + 1) * width
    side = 28 >> depth  # each block halves the map
    assert count_parameters(model) == convs + depth * 2 * width * batchnorm + width * side * side * 10 + 10
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert traits("cnn_grid", width=width, depth=depth, batchnorm=batchnorm, dropout=dropout) == \
        Traits("CNN", batchnorm, False, dropout > 0)
    with pytest.raises(ValueError, match="depth 5: from 1 to 4"):
        build_model("cnn_grid", (1, 28, 28), depth=5)
    assert traits("cnn_grid", depth=4).family == "CNN"  # read off a module built at 32×32


def test_switches_remove_the_layers_they_name():
    plain = build_model("resnet20", (3, 32, 32), skip=False, batchnorm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    assert all(not b.skip for b in plain.blocks)
