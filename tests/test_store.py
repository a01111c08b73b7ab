"""The cache store: checksummed atomic files, exact round trips, and every kind of bad file
(truncated, zeroed, garbage, edited, an old pickle) named, moved aside and recomputed without
ever being unpickled; the same for the training and probe caches and CIFAR-10's batches."""
import os
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from landscape.learning import data
from landscape.pipeline import driver, engines
from landscape.core import store
from landscape.learning.training import DataSpec, RunSpec, TrainConfig

from test_pipeline import tiny_params  # noqa: E402  (the tiny report of the pipeline tests)
from test_training import interrupt_after_checkpoint  # noqa: E402


def train(spec, cache):
    return driver.train_runs({"run": spec}, cache=cache)["run"]


class Payload:
    """Unpickling this runs a command that leaves a marker file: proof that code was executed."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def crafted_pickle(marker) -> bytes:
    return pickle.dumps({"model": Payload(marker)})


def corruptions(path, marker):
    """name -> bytes that replace a good cache file."""
    good = path.read_bytes()
    edited = bytearray(good)
    edited[-5] ^= 0xFF
    return {"truncated": good[: len(good) // 2], "zeroed": bytes(len(good)), "garbage": os.urandom(300),
            "edited": bytes(edited), "old pickle": crafted_pickle(marker), "empty": b"",
            "pickle behind a good header": store._header(crafted_pickle(marker)) + crafted_pickle(marker)}


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail the test if anything calls pickle (the standard unpickler) while loading."""
    def refuse(*args, **kwargs):
        raise AssertionError("the cache must never be unpickled")

    class RefusingUnpickler(pickle.Unpickler):
        load = refuse

    for name in ("load", "loads"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", RefusingUnpickler)
    monkeypatch.setattr(pd, "read_pickle", refuse)


def test_frames_round_trip_exactly_with_their_dtypes(tmp_path):
    frame = pd.DataFrame({"run": ["A", "B"], "lambda_max": [1 / 3, np.nan], "eigenvalues": [(1 / 3, 0.1), ()],
                          "n": [4096, 12], "flag": [True, False], "loss": [np.inf, 1e-300],
                          "label": pd.Series(["x", None], dtype="str")})
    store.save_frames((frame, frame.iloc[:0].reset_index(drop=True)), tmp_path / "f.json")
    loaded, empty = store.load_frames(tmp_path / "f.json")
    pd.testing.assert_frame_equal(loaded, frame, check_exact=True)
    assert loaded.loc[0, "eigenvalues"] == (1 / 3, 0.1) and isinstance(loaded.loc[1, "eigenvalues"], tuple)
    assert list(empty.columns) == list(frame.columns) and empty.empty
    store.save_tensors({"w": torch.arange(3.0), "history": [{"loss": 0.1}]}, tmp_path / "t.pt")
    loaded = store.load_tensors(tmp_path / "t.pt", required=("w", "history"))
    assert torch.equal(loaded["w"], torch.arange(3.0)) and loaded["history"] == [{"loss": 0.1}]


@pytest.mark.parametrize("kind", ["truncated", "zeroed", "garbage", "edited", "old pickle", "empty",
                                  "pickle behind a good header"])
def test_a_bad_file_is_named_moved_aside_and_reads_as_missing(kind, tmp_path, capsys, no_unpickling):
    path = tmp_path / "result.pt"
    store.save_tensors({"w": torch.ones(50)}, path)
    marker = tmp_path / "executed"
    path.write_bytes(corruptions(path, marker)[kind])
    assert store.load_tensors(path) is None
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "recomputing" in lines[0]
    assert "weights_only" not in lines[0], "never quote torch's advice to load a file unsafely"
    assert not path.exists() and (tmp_path / "result.pt.corrupt").exists()
    assert not marker.exists()


def test_a_file_missing_required_keys_counts_as_unreadable(tmp_path, capsys):
    store.save_tensors({"model": {}}, tmp_path / "result.pt")
    assert store.load_tensors(tmp_path / "result.pt", required=("model", "history")) is None
    assert "missing ['history']" in capsys.readouterr().err


def test_writes_are_atomic_and_leave_no_temporary_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "a.json"
    store.write_verified(b"old", target)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(store.os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.write_verified(b"new", target)
    assert store.read_verified(target) == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def tiny_spec(**train):
    cfg = TrainConfig(**{"epochs": 2, "batch_size": 128, "lr": 0.05, **train})
    return RunSpec.make(DataSpec("fashion_mnist", "unit", train_subset=600, test_subset=200), "mlp", cfg, 0,
                        hidden=[32])


@pytest.mark.parametrize("file", ["result.pt", "checkpoint.pt"])
def test_a_corrupt_training_file_is_recomputed_with_the_same_numbers(file, tmp_path, capsys, no_unpickling,
                                                                      monkeypatch):
    reference = train(tiny_spec(), cache=tmp_path / "ref")
    cache = tmp_path / "run"
    if file == "result.pt":
        train(tiny_spec(), cache=cache)
    else:  # an interrupted run leaves its checkpoint
        with monkeypatch.context() as patch:
            interrupt_after_checkpoint(patch, 1)
            with pytest.raises(KeyboardInterrupt):
                train(tiny_spec(), cache=cache)
    path = cache / reference.key / file
    marker = tmp_path / "executed"
    path.write_bytes(crafted_pickle(marker))
    again = train(tiny_spec(), cache=cache)
    assert again.trained_epochs == 2 and again.history[-1]["test_loss"] == reference.history[-1]["test_loss"]
    assert f"cache file {path} is unreadable" in capsys.readouterr().err
    assert not marker.exists() and (path.parent / f"{file}.corrupt").exists()


def test_a_crafted_pickle_in_the_probe_cache_is_rejected_and_recomputed(tmp_path, capsys, no_unpickling):
    local = engines.settings("local", threads=1)
    first = driver.run(tiny_params(), config=local, cache=tmp_path)
    cached = sorted((tmp_path / "probes").glob("*.json"))
    assert len(cached) == first.probes.sets["cache"]["computed"] == 5
    marker = tmp_path / "executed"
    for path in cached:
        path.write_bytes(crafted_pickle(marker))
    second = driver.run(tiny_params(), config=local, cache=tmp_path)
    assert second.probes.sets["cache"] == {"loaded": 0, "computed": 5} and not marker.exists()
    assert capsys.readouterr().err.count("is unreadable") == 5
    for name in ("noise", "slice1d", "interpolation", "barriers"):
        pd.testing.assert_frame_equal(getattr(first.probes, name), getattr(second.probes, name), check_exact=True)


def test_cifar_batches_are_read_without_running_code(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "executed"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps({b"data": Payload(marker), b"labels": [0]}))
    with pytest.raises(data.DatasetError, match=r"cifar-10-batches-py: unreadable test split .*refused to load posix"):
        data.load_raw("cifar10", "test", root=tmp_path)
    assert not marker.exists()
