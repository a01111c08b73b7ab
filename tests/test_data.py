import hashlib
import pickle

import numpy as np
import pytest
import torch

from landscape.learning import data

# sha256 (first 16 hex digits) of the raw uint8 pixels and labels as read from the packages
KNOWN = {
    ("fashion_mnist", "train"): ("2e487a6c89124f78", "e3245b63f7c40d1c"),
    ("fashion_mnist", "test"): ("c867c93ff9536059", "d51d859896c55775"),
    ("mnist", "train"): ("741c988805d008ac", "e474323ac02fc156"),
    ("mnist", "test"): ("6d87418db22cc802", "2fd8de6bdb8d1178"),
}
MNIST_COUNTS = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}


@pytest.mark.parametrize("name,split", sorted(KNOWN))
def test_offline_datasets_sizes_counts_checksums(name, split):
    images, labels = data.load_raw(name, split)
    n = 60000 if split == "train" else 10000
    assert images.shape == (n, 1, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (n,)
    counts = np.bincount(labels, minlength=10).tolist()
    assert counts == ([n // 10] * 10 if name == "fashion_mnist" else MNIST_COUNTS[split])
    digest = (hashlib.sha256(images.tobytes()).hexdigest()[:16], hashlib.sha256(labels.tobytes()).hexdigest()[:16])
    assert digest == KNOWN[(name, split)]


def test_normalizations_are_described_by_the_inputs_they_give():
    assert data.describe_normalization("unit") == "unit: pixels scaled to [0, 1], not standardized"
    assert "inputs in [-1, 1]" in data.describe_normalization("half")
    assert "inputs in [-0.42, 2.82]" in data.describe_normalization("mnist")
    assert data.describe_normalization("cifar10").count("[") == 4  # three channels' ranges, one per channel


def test_normalizations_are_applied_once():
    unit = data.load_dataset("fashion_mnist", "test", "unit")
    half = data.load_dataset("fashion_mnist", "test", "half")
    assert unit.images.dtype == torch.float32 and unit.images.shape == (10000, 1, 28, 28)
    assert float(unit.images.min()) == 0.0 and float(unit.images.max()) == 1.0
    assert torch.allclose(half.images, unit.images * 2 - 1, atol=1e-6)


def test_pad_and_repeat_channels_for_a_cifar_shaped_stand_in():
    ds = data.load_dataset("fashion_mnist", "test", "half", pad_to=32, channels=3)
    assert ds.images.shape == (10000, 3, 32, 32)
    assert torch.all(ds.images[:, :, :2, :] == -1.0)  # black border, normalized
    assert torch.equal(ds.images[:, 0], ds.images[:, 2])


def _write_cifar_fixture(folder, n_per_batch=20, seed=0):
    """Files in torchvision's CIFAR-10 pickle-batch format, with known content."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        pixels = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n_per_batch)]
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"data": pixels, b"labels": labels,
                         b"filenames": [b"x.png"] * n_per_batch}, f)
        written[name] = (pixels, labels)
    return written


def test_cifar10_loader_reads_the_real_pickle_format(tmp_path):
    written = _write_cifar_fixture(tmp_path / "cifar-10-batches-py")
    train = data.load_dataset("cifar10", "train", "cifar10", root=tmp_path)
    test = data.load_dataset("cifar10", "test", "cifar10", root=tmp_path)
    assert train.images.shape == (100, 3, 32, 32) and test.images.shape == (20, 3, 32, 32)
    pixels, labels = written["test_batch"]
    assert test.labels.tolist() == labels
    # the first image's green channel, row 0, undone from normalization
    mean, std = data.NORMALIZATIONS["cifar10"]
    restored = (test.images[0, 1, 0] * std[1] + mean[1]) * 255
    assert torch.allclose(restored, torch.tensor(pixels[0, 1024:1056], dtype=torch.float32), atol=1e-3)
    raw_train, _ = data.load_raw("cifar10", "train", root=tmp_path)
    assert np.array_equal(raw_train[20:40].reshape(20, -1), written["data_batch_2"][0])


def test_missing_datasets_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.setattr(data, "DEFAULT_DATA_DIR", tmp_path / "nothing")
    with pytest.raises(data.DatasetNotFoundError, match="cifar-10-batches-py.*LANDSCAPE_DATA"):
        data.load_raw("cifar10", "train", root=tmp_path)
    monkeypatch.setitem(data._PACKAGE_DIRS, "mnist", [tmp_path / "nowhere"])
    with pytest.raises(data.DatasetNotFoundError, match="make data"):
        data.load_raw("mnist", "test")
    with pytest.raises(ValueError, match="allowed"):
        data.load_raw("imagenet", "train")


def test_data_root_env_is_searched_first(tmp_path, monkeypatch):
    _write_cifar_fixture(tmp_path / "cifar-10-batches-py")
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    assert data.load_raw("cifar10", "test")[0].shape == (20, 3, 32, 32)


def test_stratified_subset_is_balanced_and_deterministic():
    labels = torch.arange(1000) % 10
    a = data.stratified_indices(labels, 105, seed=3)
    assert torch.equal(a, data.stratified_indices(labels, 105, seed=3))
    assert not torch.equal(a, data.stratified_indices(labels, 105, seed=4))
    assert torch.bincount(labels[a]).tolist() == [11] * 5 + [10] * 5
    assert a.unique().numel() == 105


def test_batches_cover_every_index_once():
    batches = data.batch_indices(1003, 100, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert [b.numel() for b in batches] == [100] * 10 + [3]
    assert torch.equal(torch.sort(torch.cat(batches)).values, torch.arange(1003))


def test_crop_flip_augmentation_matches_a_per_sample_reference():
    images = torch.randn(16, 3, 8, 8)
    fill = torch.tensor([-1.0, -2.0, -3.0])
    out = data.augment_crop_flip(images, torch.Generator().manual_seed(5), padding=2, fill=fill)
    g = torch.Generator().manual_seed(5)  # replay the same draws
    dy = torch.randint(0, 5, (16,), generator=g)
    dx = torch.randint(0, 5, (16,), generator=g)
    flip = torch.rand(16, generator=g) < 0.5
    for i in range(16):  # torchvision order: crop the padded image, then flip the crop
        padded = fill.view(3, 1, 1).expand(3, 12, 12).clone()
        padded[:, 2:10, 2:10] = images[i]
        expected = padded[:, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8]
        assert torch.equal(out[i], expected.flip(-1) if flip[i] else expected), i


def test_a_subset_chosen_on_the_raw_images_has_the_numbers_of_the_converted_split():
    whole = data.load_dataset("fashion_mnist", "test", "half", pad_to=32, channels=3)
    chosen = data.stratified_indices(whole.labels, 300, 7, whole.num_classes)
    subset = data.load_dataset("fashion_mnist", "test", "half", pad_to=32, channels=3, subset=(300, 7))
    assert torch.equal(subset.images, whole.images[chosen]) and torch.equal(subset.labels, whole.labels[chosen])
    assert len(data.load_dataset("fashion_mnist", "test", "unit", subset=(10**6, 0))) == len(whole)  # n ≥ size: all
