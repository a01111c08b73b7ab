from dataclasses import replace

import pytest
import torch

from landscape.pipeline import driver
from landscape.core import store
from landscape.learning import training
from landscape.learning.training import DataSpec, RunSpec, TrainConfig
from landscape.core.runtime import DeviceError, make_deterministic, select_device

SMALL = DataSpec("fashion_mnist", "unit", train_subset=600, test_subset=200)


def spec(model="mlp", epochs=3, lr=0.05, data=SMALL, seed=0, **options):
    options = options or ({"hidden": [32]} if model == "mlp" else {})
    return RunSpec.make(data, model, TrainConfig(epochs=epochs, batch_size=64, lr=lr, train_probe=(100, 0)), seed,
                        **options)


def strip_time(history):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in history]


def train(spec, cache):
    """One run through the pipeline's cache (local engine)."""
    return driver.train_runs({"run": spec}, cache=cache)["run"]


def weights_equal(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state.values(), b.state.values()))


def test_train_is_pure_and_hands_out_a_checkpoint_per_epoch(tmp_path):
    checkpoints = []
    result = training.train(spec(epochs=2), on_checkpoint=checkpoints.append)
    assert [len(c["history"]) for c in checkpoints] == [1, 2] and result["trained_epochs"] == 2
    assert set(checkpoints[0]) == set(store.CHECKPOINT_KEYS) and not list(tmp_path.iterdir())
    resumed = training.train(spec(epochs=2), resume=checkpoints[0])
    assert resumed["trained_epochs"] == 1 and strip_time(resumed["history"]) == strip_time(result["history"])
    assert all(torch.equal(x, y) for x, y in zip(resumed["model"].values(), result["model"].values()))


def test_snapshots_change_no_number_and_a_resumed_run_keeps_them():
    plain = training.train(spec(epochs=2))
    checkpoints = []
    kept = training.train(spec(epochs=2), snapshots=(0.0, 0.5), on_checkpoint=checkpoints.append)
    assert strip_time(kept["history"]) == strip_time(plain["history"])
    assert all(torch.equal(kept["model"][k], v) for k, v in plain["model"].items())
    steps = 10  # 600 images in batches of 64
    assert [(p["epoch"], p["step"]) for p in kept["snapshots"]] == [(0.0, 0), (0.5, 5), (1.0, steps), (2.0, 2 * steps)]
    train_ds, _ = training.load_splits(SMALL)
    init = training.build_run_model(spec(epochs=2), tuple(train_ds.images.shape[1:]), train_ds.num_classes)
    for name, value in init.state_dict().items():
        assert torch.equal(kept["snapshots"][0]["model"][name], value)  # the initialization
        assert torch.equal(kept["snapshots"][2]["model"][name], checkpoints[0]["model"][name])  # end of epoch 1
        assert torch.equal(kept["snapshots"][3]["model"][name], kept["model"][name])  # the trained weights
    assert not torch.equal(kept["snapshots"][1]["model"]["1.weight"], kept["snapshots"][0]["model"]["1.weight"])
    resumed = training.train(spec(epochs=2), resume=checkpoints[0], snapshots=(0.0, 0.5))
    assert [p["step"] for p in resumed["snapshots"]] == [0, 5, steps, 2 * steps]
    assert all(torch.equal(resumed["snapshots"][3]["model"][k], v) for k, v in kept["model"].items())
    with pytest.raises(ValueError, match="kept none"):
        training.train(spec(epochs=2), resume={**checkpoints[0], "snapshot_fractions": []}, snapshots=(0.0, 0.5))
    with pytest.raises(ValueError, match="kept none"):
        training.train(spec(epochs=2), resume={k: v for k, v in checkpoints[0].items()
                                               if k not in ("snapshots", "snapshot_fractions")}, snapshots=(0.0,))


def test_history_rows_hold_every_per_epoch_quantity(cache):
    run = train(spec(), cache=cache)
    assert run.status == "completed" and run.trained_epochs == 3 and len(run.history) == 3
    assert run.parameters == sum(p.numel() for p in training.trained_model(spec(), run.state).parameters())
    row = run.final
    assert set(row) == {"epoch", "lr", "train_loss", "train_acc", "eval_train_loss", "eval_train_acc", "test_loss",
                        "test_acc", "gap", "eval_gap", "grad_norm", "time_s"}
    assert row["gap"] == pytest.approx(row["train_acc"] - row["test_acc"])
    assert run.history[0]["train_loss"] > run.history[-1]["train_loss"]  # it learns
    assert row["test_acc"] > 0.5


def test_same_spec_gives_identical_histories_and_weights(tmp_path):
    a = train(spec(model="cnn_bn_dropout", epochs=2), cache=tmp_path / "a")
    b = train(spec(model="cnn_bn_dropout", epochs=2), cache=tmp_path / "b")
    assert strip_time(a.history) == strip_time(b.history)
    for (name, x), y in zip(a.state.items(), b.state.values()):
        assert torch.equal(x, y), name
    c = train(spec(model="cnn_bn_dropout", epochs=2, seed=1), cache=tmp_path / "c")
    assert strip_time(c.history) != strip_time(a.history)


def test_second_run_loads_from_the_cache_and_trains_nothing(cache):
    first = train(spec(), cache=cache)
    second = train(spec(), cache=cache)
    assert second.trained_epochs == 0 and second.history == first.history
    assert weights_equal(first, second)
    assert spec().key() != spec(lr=0.02).key() != spec(data=DataSpec("fashion_mnist", "half", train_subset=600, test_subset=200)).key()


def interrupt_after_checkpoint(monkeypatch, epoch):
    """Ctrl-C right after the checkpoint of ``epoch`` is written."""
    save = store.Cache.save_checkpoint

    def save_then_interrupt(self, key, checkpoint):
        save(self, key, checkpoint)
        if len(checkpoint["history"]) == epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(store.Cache, "save_checkpoint", save_then_interrupt)


def test_interrupted_run_resumes_from_its_last_epoch_and_matches(tmp_path, monkeypatch):
    reference = train(spec(model="cnn_bn_dropout"), cache=tmp_path / "ref")
    with monkeypatch.context() as patch:
        interrupt_after_checkpoint(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            train(spec(model="cnn_bn_dropout"), cache=tmp_path / "run")
    assert (tmp_path / "run" / reference.key / "checkpoint.pt").exists()
    resumed = train(spec(model="cnn_bn_dropout"), cache=tmp_path / "run")
    assert resumed.trained_epochs == 1
    assert strip_time(resumed.history) == strip_time(reference.history)
    assert weights_equal(resumed, reference)
    assert not (tmp_path / "run" / reference.key / "checkpoint.pt").exists()


def test_diverging_run_is_marked_not_raised(cache):
    stand_in = DataSpec("fashion_mnist", "half", pad_to=32, channels=3, train_subset=256, test_subset=64)
    run = train(spec(model="resnet20", epochs=2, lr=0.1, data=stand_in, skip=True, batchnorm=False),
                cache=cache)
    assert run.status == "diverged" and run.diverged_epoch == 1 and run.history == []
    again = train(spec(model="resnet20", epochs=2, lr=0.1, data=stand_in, skip=True, batchnorm=False),
                  cache=cache)
    assert again.status == "diverged" and again.trained_epochs == 0


def test_results_are_checksummed_and_load_with_weights_only(cache):
    run = train(spec(epochs=1), cache=cache)
    saved = store.decode_tensors(store.read_verified(cache / run.key / "result.pt"))  # torch.load(weights_only=True)
    assert set(saved) == set(store.RESULT_KEYS)
    assert saved["status"] == "completed" and len(saved["history"]) == 1


def test_device_selection_and_override(monkeypatch):
    assert select_device("cpu").type == "cpu"
    monkeypatch.setenv("LANDSCAPE_DEVICE", "cpu")
    assert select_device("auto").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            select_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        select_device("tpu")


def test_jobs_compute_in_full_float32_on_cuda_as_on_the_cpu():
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # what a user's code may set
    make_deterministic()
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32


def test_each_epoch_measures_the_train_probe_set_in_eval_mode():
    from landscape.learning.evaluation import evaluate
    from landscape.probes.base import EvalSetParams, SetsSpec, build_sets

    result = training.train(spec(model="cnn_bn_dropout", epochs=1))
    row = result["history"][-1]
    model = training.trained_model(spec(model="cnn_bn_dropout", epochs=1), result["model"])
    probe_set = build_sets(SetsSpec(SMALL, EvalSetParams(train_size=100, test_size=50))).train  # the same images
    found = evaluate(model, probe_set)
    assert row["eval_train_loss"] == pytest.approx(found.loss, rel=1e-6)
    assert row["eval_train_acc"] == found.accuracy and row["eval_gap"] == pytest.approx(found.accuracy - row["test_acc"])
    assert row["eval_train_acc"] != row["train_acc"]  # dropout and BN in train mode vs eval mode


def test_a_common_stopping_point_ends_training_at_the_first_epoch_that_reaches_it():
    """With ``stop_train_loss`` each epoch records the cross-entropy of the whole training split and
    training stops at the first one at most the target (``epochs`` caps it); a resumed run that had
    stopped trains no further; without it, a run's key is the one it had before the field existed."""
    assert spec().key() == "6cd62c5d8c78f54e"  # computed before stop_train_loss existed
    stopping = replace(spec(epochs=8), train=replace(spec().train, epochs=8, stop_train_loss=0.9))
    assert stopping.key() != spec(epochs=8).key()
    checkpoints = []
    result = training.train(stopping, "cpu", on_checkpoint=checkpoints.append)
    losses = [row["full_train_loss"] for row in result["history"]]
    assert losses[-1] <= 0.9 < min(losses[:-1]) and len(losses) < 8
    assert training.reached_stop(stopping.train, result["history"][-1]) and result["status"] == "completed"
    again = training.train(stopping, "cpu", resume=checkpoints[-1])
    assert again["trained_epochs"] == 0 and len(again["history"]) == len(losses)
    capped = replace(spec(epochs=2), train=replace(spec().train, epochs=2, stop_train_loss=1e-6))
    missed = training.train(capped, "cpu")["history"]
    assert len(missed) == 2 and not training.reached_stop(capped.train, missed[-1])
    assert "full_train_loss" not in training.train(spec(epochs=1), "cpu")["history"][0]


def test_a_run_that_records_every_few_steps_matches_one_that_records_every_epoch():
    """Full-batch gradient descent: ``record_steps`` keeps a history row, a checkpoint and a
    snapshot only every ceil(record_steps / steps per epoch) epochs and at the last; the numbers of
    a recorded epoch are those of a run that records every epoch, a resumed run goes on from its
    last record to the same weights, ``max_steps`` ends training with the epoch that reaches it,
    and neither field changes the key of a run without it."""
    full_batch = replace(spec(), train=replace(spec().train, batch_size=600, epochs=50, lr=0.1))  # 1 step per epoch
    every = training.train(replace(full_batch, train=replace(full_batch.train, epochs=7)), "cpu")
    sparse = replace(full_batch, train=replace(full_batch.train, record_steps=3, max_steps=7))
    assert sparse.key() != full_batch.key() and full_batch.key() == replace(full_batch, train=replace(
        full_batch.train, record_steps=None, max_steps=None)).key()
    checkpoints = []
    result = training.train(sparse, "cpu", snapshots=(0.0,), on_checkpoint=checkpoints.append)
    assert [row["epoch"] for row in result["history"]] == [3, 6, 7] and result["trained_epochs"] == 7
    assert strip_time(result["history"]) == [strip_time([r])[0] for r in every["history"] if r["epoch"] in (3, 6, 7)]
    assert [p["step"] for p in result["snapshots"]] == [0, 3, 6, 7] and len(checkpoints) == 3
    resumed = training.train(sparse, "cpu", snapshots=(0.0,), resume=checkpoints[0])
    assert resumed["trained_epochs"] == 4 and strip_time(resumed["history"]) == strip_time(result["history"])
    assert all(torch.equal(resumed["model"][k], v) for k, v in result["model"].items())
    batches = replace(spec(), train=replace(spec().train, epochs=50, max_steps=25, record_steps=15))  # 10 steps an epoch
    assert [row["epoch"] for row in training.train(batches, "cpu")["history"]] == [2, 3]
