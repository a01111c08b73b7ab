"""Tiny float64 networks and data shared by the probe tests."""
import torch

from landscape.learning.models import build_model


def bn_net(seed: int = 0) -> torch.nn.Module:
    """Study 000's Model B on 1x8x8 inputs, 3 classes, float64, with non-trivial BN running statistics."""
    torch.manual_seed(seed)
    model = build_model("cnn_bn_dropout", (1, 8, 8), num_classes=3).double()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return model


def net_data(n: int = 60, generator: torch.Generator | None = None):
    """(images (n, 1, 8, 8) float64, labels (n,) in 0..2), seeded."""
    g = generator or torch.Generator().manual_seed(1)
    return torch.randn(n, 1, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


def net_splits():
    """{"train": 40 samples, "test": 30 samples} drawn from one seeded generator."""
    g = torch.Generator().manual_seed(1)
    return {"train": net_data(40, g), "test": net_data(30, g)}


def state_bits(model):
    """The model's state as raw bytes, for bit-for-bit comparisons."""
    return {k: v.detach().clone().contiguous().view(torch.uint8) if v.is_floating_point() else v.clone()
            for k, v in model.state_dict().items()}


def assert_unchanged(model, before):
    """The state is bitwise ``before`` and no gradient was left on the parameters."""
    for k, v in state_bits(model).items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())
