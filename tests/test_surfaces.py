"""1-D slices and 2-D surfaces against a quadratic, and restoring the model bit for bit."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from landscape.geometry.curvature import QuadraticModel
from landscape.geometry.directions import plane_directions, random_direction, to_dict
from landscape.learning.evaluation import evaluate
from landscape.geometry.surfaces import evaluate_grid, slice_1d, surface_2d
from probe_fixtures import assert_unchanged, bn_net, net_splits, state_bits


def quadratic(n: int = 6):
    g = torch.Generator().manual_seed(0)
    m = torch.randn(n, n, generator=g, dtype=torch.float64)
    a = m @ m.T / n + torch.eye(n, dtype=torch.float64)
    center = torch.linspace(-1, 1, n, dtype=torch.float64)
    return QuadraticModel(a, center=center), (torch.zeros(5, 1, 1, 1, dtype=torch.float64),
                                              torch.zeros(5, dtype=torch.int64))


def test_slice_of_a_quadratic_is_half_alpha_squared_curvature():
    model, data = quadratic()
    d = random_direction(model, seed=2)
    alphas = np.linspace(-2, 2, 9)
    frame = slice_1d(model, {"train": data}, d, alphas)
    expected = math.log(2) + 0.5 * alphas ** 2 * float(d @ model.a @ d)
    np.testing.assert_allclose(frame.loss.to_numpy(), expected, rtol=1e-12)
    assert list(frame.columns) == ["alpha", "split", "loss", "loss_se", "accuracy", "mode", "n"]
    np.testing.assert_array_equal(frame.alpha.to_numpy(), alphas)
    assert (frame["mode"] == "eval").all() and (frame.n == 5).all()


def test_surface_of_a_quadratic():
    model, data = quadratic()
    before = state_bits(model)
    d1, d2 = random_direction(model, 3), random_direction(model, 4)
    alphas, betas = np.linspace(-1, 1, 5), np.linspace(-0.5, 1.5, 3)
    frame = surface_2d(model, {"test": data}, d1, d2, alphas, betas)
    assert len(frame) == 15 and list(frame.columns[:2]) == ["alpha", "beta"]
    for row in frame.itertuples():
        delta = row.alpha * d1 + row.beta * d2
        assert row.loss == pytest.approx(math.log(2) + 0.5 * float(delta @ model.a @ delta), rel=1e-12)
    grid = frame.pivot(index="beta", columns="alpha", values="loss")
    assert grid.shape == (3, 5)
    assert_unchanged(model, before)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_surface_on_a_network_matches_functional_evaluation_and_restores_bitwise(mode):
    model, splits = bn_net(), net_splits()
    model.train()
    before = state_bits(model)
    d1, d2 = plane_directions(model, seed=0)
    frame = surface_2d(model, splits, d1, d2, [-0.5, 0.0, 0.5], [0.0, 1.0], mode=mode, chunk_size=16)
    assert len(frame) == 12 and set(frame.split) == {"train", "test"} and (frame["mode"] == mode).all()
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    for row in frame.itertuples():
        expected = evaluate(model, splits[row.split], chunk_size=16, mode=mode,
                            params=to_dict(theta + row.alpha * d1 + row.beta * d2, model))
        assert row.loss == pytest.approx(expected.loss, rel=1e-12) and row.accuracy == expected.accuracy
        assert row.loss_se == pytest.approx(expected.loss_sd / row.n ** 0.5, rel=1e-9) and row.loss_se > 0
    origin = frame[(frame.alpha == 0) & (frame.beta == 0)].set_index("split")
    for split, data in splits.items():  # the grid point (0, 0) is θ itself: exactly evaluate()
        assert origin.loc[split, "loss"] == evaluate(model, data, chunk_size=16, mode=mode).loss
    assert_unchanged(model, before)
    assert model.training


def test_grid_restores_the_model_after_an_error():
    model, splits = bn_net(), net_splits()
    before = state_bits(model)
    bad = {"train": splits["train"], "broken": (torch.zeros(3, 1, 5, 5, dtype=torch.float64), torch.zeros(3).long())}
    with pytest.raises(RuntimeError):
        slice_1d(model, bad, random_direction(model, 0), [0.5, 1.0])
    assert_unchanged(model, before)


def test_seeded_surfaces_are_identical_and_bad_arguments_raise():
    model, splits = bn_net(), net_splits()
    run = lambda: surface_2d(model, splits, *plane_directions(model, seed=1), [0, 1], [0, 1])
    pd.testing.assert_frame_equal(run(), run())
    d = random_direction(model, 0)
    with pytest.raises(ValueError, match="splits"):
        slice_1d(model, splits["train"], d, [0.0])
    with pytest.raises(ValueError, match="flat vectors"):
        slice_1d(model, splits, d[:-1], [0.0])
    with pytest.raises(ValueError, match="direction"):
        evaluate_grid(model, splits, [d], np.zeros((2, 2)), ["alpha", "beta"])
