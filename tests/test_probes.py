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
    assert result.skipped.set_index("run").loc["B", "reason"].startswith("diverged")
    assert result.barriers is None and "A–B" in set(result.skipped["run"])
    assert result.unavailable["interpolation"].startswith("no pair of completed runs (run B diverged")


def test_random_direction_adds_the_studys_unnormalized_slice(sets):
    params = load_params("mlp_cnn_rescnn_mnist", "smoke", {"probes": {"hessian": None, "interpolation": None}})
    result = probes.run_probes(params, {"mlp_1": tiny_run(1)}, sets=sets)
    assert set(result.slice1d["direction"]) == {"filter", "random"}
    assert result.flatness.loc[0, "num_draws"] == 2 and result.flatness.loc[0, "mean"] >= 0


def cacheable(sets):
    return probes.ProbeSets(sets.train, sets.test, sets.train_full, sets.mode, sets.chunk_size,
                            identity={"data": "tiny", "eval_set": {"train_size": 40}})


def test_probe_cache_returns_the_computed_frames_and_keys_on_run_and_settings(sets, tmp_path, monkeypatch):
    params = load_params("seed_connectivity", "smoke", NO_HEAVY)
    runs = {"A": tiny_run(1), "B": tiny_run(2)}
    first = probes.run_probes(params, runs, sets=cacheable(sets), cache=tmp_path)
    assert first.sets["cache"] == {"loaded": 0, "computed": 5}  # noise, slice1d per run, one pair
    calls = []
    monkeypatch.setattr(probes.sharpness, "noise_robustness", lambda *a, **k: calls.append(1))
    second = probes.run_probes(params, runs, sets=cacheable(sets), cache=tmp_path)
    assert second.sets["cache"] == {"loaded": 5, "computed": 0} and not calls
    for name in ("noise", "slice1d", "interpolation", "barriers"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))
    other = {"A": tiny_run(3), "B": tiny_run(2)}
    other["A"].key = "k3"  # another trained run: its probes are computed, B's noise and slice are loaded
    monkeypatch.undo()
    third = probes.run_probes(params, other, sets=cacheable(sets), cache=tmp_path)
    assert third.sets["cache"] == {"loaded": 2, "computed": 3}
    wider = load_params("seed_connectivity", "smoke", {**NO_HEAVY, "probes": {**NO_HEAVY["probes"],
                                                                               "noise": {"draws": 3}}})
    assert probes.run_probes(wider, runs, sets=cacheable(sets), cache=tmp_path).sets["cache"]["computed"] == 2
    hand_built = probes.run_probes(params, runs, sets=sets, cache=tmp_path)  # no identity: never cached
    assert hand_built.sets["cache"] == {"loaded": 0, "computed": 5}


def test_sharpness_and_gradient_probes_match_the_direct_calls(sets):
    params = load_params("batchnorm", "smoke", {"probes": {"hessian": None, "slice1d": None, "interpolation": None,
                                                           "gradient": {}}})
    run = tiny_run(1)
    result = probes.run_probes(params, {"A1": run}, sets=sets)
    sam = result.sharpness.set_index("kind")
    direct = probes.sharpness.epsilon_sharpness(run.model, sets.train, params.probes.sharpness.rho,
                                                steps=params.probes.sharpness.ascent_steps, chunk_size=16)
    assert sam.loc["sam", "sharpness"] == direct.sharpness and sam.loc["sam", "first_order"] == direct.first_order
    assert sam.loc["sam", "sharpness"] >= sam.loc["sam", "first_order"] > 0
    assert sam.loc["asam", "rho"] == params.probes.sharpness.adaptive_rho
    grads = result.gradient.set_index("split")
    assert grads.loc["test", "grad_norm"] == probes.sharpness.gradient_norm(run.model, sets.test, chunk_size=16).norm
    assert grads.loc["train", "n"] == len(sets.train)


def test_unit_direction_adds_the_studys_unit_norm_surface(sets):
    params = load_params("resnet20_ablation", "smoke", {"probes": {"hessian": None, "gradient": None}})
    result = probes.run_probes(params, {"skipTrue_bnTrue": tiny_run(1)}, sets=sets)
    surface = result.surface2d
    assert set(surface["direction"]) == {"filter", "unit"} and set(surface["split"]) == {"train", "test"}
    assert len(surface) == 2 * 2 * params.probes.surface2d.points ** 2
    unit, filt = (surface[(surface["direction"] == k) & (surface["split"] == "train")]["loss"] for k in ("unit", "filter"))
    assert unit.max() - unit.min() < filt.max() - filt.min()  # a unit step over all weights moves the loss less


def test_a_probe_that_raises_is_recorded_and_the_others_go_on(sets, monkeypatch):
    params = load_params("seed_connectivity", "smoke", NO_HEAVY)

    def boom(*args, **kwargs):
        raise ValueError("cannot orthogonalize")

    monkeypatch.setattr(probes.sharpness, "noise_robustness", boom)
    result = probes.run_probes(params, {"A": tiny_run(1), "B": tiny_run(2)}, sets=sets)
    assert result.noise is None and set(result.slice1d["run"]) == {"A", "B"} and result.barriers is not None
    assert result.unavailable["noise"] == ("run A: noise failed: ValueError: cannot orthogonalize; "
                                           "run B: noise failed: ValueError: cannot orthogonalize")
    assert list(result.skipped.columns) == ["run", "reason"] and len(result.skipped) == 2
