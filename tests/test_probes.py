"""landscape.probes on tiny data: deterministic frames, diverged runs skipped, probes the params
do not ask for left out."""
import pandas as pd
import pytest
import torch

from landscape import probes
from landscape.data import ImageDataset
from landscape.params import load_params
from landscape.training import TrainedRun

NO_HEAVY = {"probes": {"hessian": None, "surface2d": None}}


def tiny_run(seed, status="completed"):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 10))
    model.eval()
    history = [{"epoch": 1, "test_acc": 0.5, "gap": 0.0, "time_s": 0.1}] if status == "completed" else []
    return TrainedRun(None, model, history, status, None if status == "completed" else 1, 0, f"k{seed}")


@pytest.fixture
def sets():
    g = torch.Generator().manual_seed(0)
    make = lambda n, split: ImageDataset("tiny", split, torch.randn(n, 1, 4, 4, generator=g),
                                         torch.arange(n) % 10)
    train, test = make(40, "train"), make(30, "test")
    return probes.ProbeSets(train, test, train, "eval", 16)


def test_two_calls_give_identical_frames(sets):
    params = load_params("seed_connectivity", "smoke", NO_HEAVY)
    runs = {"A": tiny_run(1), "B": tiny_run(2)}
    first, second = probes.run_probes(params, runs, sets=sets), probes.run_probes(params, runs, sets=sets)
    for name in ("noise", "slice1d", "interpolation", "barriers"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))
    assert first.hessian is None and first.surface2d is None
    assert set(first.noise["mode"]) == {"eval"} and set(first.slice1d["split"]) == {"train", "test"}
    assert set(first.noise["scale"]) == {"absolute", "relative"}
    assert len(first.barriers) == 2  # train and test


def test_diverged_runs_are_skipped_with_a_reason(sets):
    params = load_params("seed_connectivity", "smoke", NO_HEAVY)
    runs = {"A": tiny_run(1), "B": tiny_run(2, status="diverged")}
    result = probes.run_probes(params, runs, sets=sets)
    assert set(result.noise["run"]) == {"A"} and set(result.slice1d["run"]) == {"A"}
    assert "status diverged" in result.skipped.set_index("run").loc["B", "reason"]
    assert result.barriers.empty and "A–B" in set(result.skipped["run"])


def test_random_direction_adds_the_studys_unnormalized_slice(sets):
    params = load_params("mlp_cnn_rescnn_mnist", "smoke", {"probes": {"hessian": None, "interpolation": None}})
    result = probes.run_probes(params, {"mlp_1": tiny_run(1)}, sets=sets)
    assert set(result.slice1d["direction"]) == {"filter", "random"}
    assert result.flatness.loc[0, "num_draws"] == 2 and result.flatness.loc[0, "mean"] >= 0
