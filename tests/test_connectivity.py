"""Linear interpolation between two models: exact endpoints, BatchNorm options, barriers."""
import copy

import numpy as np
import pandas as pd
import pytest
import torch

from landscape.geometry.connectivity import barrier, interpolate
from landscape.learning.evaluation import evaluate
from landscape.learning.models import build_model
from probe_fixtures import assert_unchanged, bn_net, net_splits, state_bits


def test_endpoints_reproduce_each_model_exactly():
    a, b, data = bn_net(0), bn_net(1), net_splits()
    before_a, before_b = state_bits(a), state_bits(b)
    frame, barriers = interpolate(a, b, data, alphas=np.linspace(0, 1, 5), chunk_size=16)
    assert list(frame.columns) == ["alpha", "split", "loss", "accuracy", "error", "bn", "mode", "n"]
    for split, d in data.items():
        rows = frame[frame.split == split].set_index("alpha")
        for alpha, model in ((0.0, a), (1.0, b)):
            expected = evaluate(model, d, chunk_size=16)
            assert rows.loc[alpha, "loss"] == expected.loss  # exactly, not approximately
            assert rows.loc[alpha, "accuracy"] == expected.accuracy
        assert barriers[split].loss_endpoints == (rows.loc[0.0, "loss"], rows.loc[1.0, "loss"])
    for model, before in ((a, before_a), (b, before_b)):
        assert_unchanged(model, before)


def test_midpoint_interpolates_weights_and_running_statistics():
    a, b, data = bn_net(0), bn_net(1), net_splits()
    frame, _ = interpolate(a, b, data, alphas=[0.0, 0.25, 1.0])
    mid = copy.deepcopy(a)
    mid.load_state_dict({k: (0.75 * v + 0.25 * b.state_dict()[k]) if v.is_floating_point() else v
                         for k, v in a.state_dict().items()})
    row = frame[(frame.alpha == 0.25) & (frame.split == "test")].iloc[0]
    assert row.loss == pytest.approx(evaluate(mid, data["test"]).loss, rel=1e-12)


def bn_input_statistics(model, data, chunk_size):
    """Per BatchNorm layer: the average over chunks of the batch mean and unbiased variance of its input,
    with earlier BatchNorm layers normalizing by batch statistics (train mode, dropout off)."""
    probe = copy.deepcopy(model).eval()
    layers = [m for m in probe.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    stats = {m: [] for m in layers}
    for m in layers:
        m.train()
        m.register_forward_hook(lambda m, inp, out: stats[m].append(
            (inp[0].mean(dim=(0, 2, 3)), inp[0].var(dim=(0, 2, 3), unbiased=True))))
    with torch.no_grad():
        for s in range(0, len(data[0]), chunk_size):
            probe(data[0][s:s + chunk_size])
    return [(torch.stack([s[0] for s in stats[m]]).mean(0), torch.stack([s[1] for s in stats[m]]).mean(0))
            for m in layers]


def test_recompute_batchnorm_uses_the_cumulative_average_of_the_bn_data():
    a, b, data = bn_net(0), bn_net(1), net_splits()
    bn_data = data["train"]
    frame, _ = interpolate(a, b, {"test": data["test"]}, alphas=[0.0, 0.5, 1.0], bn="recompute", bn_data=bn_data,
                           chunk_size=16)  # 40 samples: chunks of 16, 16, 8
    for alpha in (0.0, 0.5):
        expected = copy.deepcopy(a)
        expected.load_state_dict({k: torch.lerp(v, b.state_dict()[k], alpha) if v.is_floating_point() else v
                                  for k, v in a.state_dict().items()})
        layers = [m for m in expected.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        stats = bn_input_statistics(expected, bn_data, 16)
        with torch.no_grad():
            for m, (mean, var) in zip(layers, stats):
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
        row = frame[frame.alpha == alpha].iloc[0]
        assert row.loss == pytest.approx(evaluate(expected, data["test"], chunk_size=16).loss, rel=1e-10)
        assert row.bn == "recompute"
    assert frame[frame.alpha == 0.0].loss.iloc[0] != evaluate(a, data["test"]).loss  # statistics were recomputed


def test_barrier_of_a_known_curve():
    alpha = np.linspace(0, 1, 5)
    loss = np.array([1.0, 2.5, 3.0, 2.0, 2.0])  # line from 1 to 2: excess 0, 1.25, 1.5, 0.25, 0
    accuracy = np.array([0.9, 0.5, 0.6, 0.8, 0.8])  # error 0.1..0.2: excess 0, .375, .25, 0, 0
    frame = pd.DataFrame({"alpha": alpha, "split": "test", "loss": loss, "accuracy": accuracy,
                          "error": 1 - accuracy, "bn": "interpolate", "mode": "eval", "n": 10})
    result = barrier(frame, "test")
    assert result.loss_barrier == pytest.approx(1.5) and result.loss_alpha == 0.5
    assert result.error_barrier == pytest.approx(0.375) and result.error_alpha == 0.25
    assert result.n == 10
    with pytest.raises(ValueError, match="include 0 and 1"):
        barrier(frame[frame.alpha < 1], "test")
    with pytest.raises(ValueError, match="no rows"):
        barrier(frame, "train")


def test_identical_models_have_no_barrier_and_bad_arguments_raise():
    a, data = bn_net(0), net_splits()
    frame, barriers = interpolate(a, copy.deepcopy(a), data, alphas=[0, 0.5, 1])
    assert barriers["test"].loss_barrier == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="bn_data"):
        interpolate(a, a, data, bn="recompute")
    with pytest.raises(ValueError, match="bn option"):
        interpolate(a, a, data, bn="reset")
    with pytest.raises(ValueError, match="differ"):
        interpolate(a, build_model("mlp", (1, 8, 8)).double(), data)
