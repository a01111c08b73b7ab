"""The cache on disk: the one place that writes and reads cached files.

Layout under the cache root (``--cache``, else ``$LANDSCAPE_CACHE``, else ``./cache``):
``<training key>/result.pt`` and ``checkpoint.pt`` (torch tensors and plain numbers),
``<training key>/snapshots.pt`` (the weights along the run's trajectory, when a probe asked for
them: ``training`` module docstring), ``<training key>/spec.json`` and ``history.json`` (for
people; never read back), and ``probes/<probe key>.json`` (probe result frames).

Every cached file is written by :mod:`landscape.core.files` (atomically, never through a link; a
write that fails is a one-line StorageError naming the folder) and starts with a header line
that holds the SHA-256 and length of the payload after it. A file is read only through
:func:`load`, which verifies the header before decoding anything. A file that fails (truncated,
zeroed, edited, written by an older version, not ours) is moved aside to ``<name>.corrupt``
(left in place where the folder is read-only), named in one warning line on stderr, and treated
as missing, so its content is recomputed. Nothing in the cache is unpickled: tensors are read
with ``torch.load(weights_only=True)`` (tensors, numbers, strings and containers of them,
nothing else) and probe frames are JSON. :class:`Cache` names the files of the two caches (a
run's result and checkpoint by training key; a probe's frames by probe key); only the pipeline's
driver writes them (``landscape.pipeline.driver``), and :func:`content_key` makes the keys.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch

from . import files
from .paths import REPO_ROOT

CACHE_ENV = "LANDSCAPE_CACHE"
DEFAULT_CACHE_DIR = REPO_ROOT / "cache"
HEADER_PREFIX = b"landscape-cache 1 sha256="
MAX_HEADER = 128  # bytes; a longer first line is not our header
QUARANTINE_SUFFIX = ".corrupt"


class CorruptCacheFile(Exception):
    """A cached file failed verification or decoding (the message says how)."""


def cache_dir(path: str | Path | None = None) -> Path:
    """The cache root: ``path``, else ``$LANDSCAPE_CACHE``, else ``./cache`` of the repository."""
    return Path(path or os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)


# ---------------------------------------------------------------------------- writing

def _header(payload: bytes) -> bytes:
    return HEADER_PREFIX + hashlib.sha256(payload).hexdigest().encode() + b" bytes=" + str(len(payload)).encode() + b"\n"


def write_verified(payload: bytes, path: Path) -> None:
    """Write ``payload`` behind a checksum header, atomically."""
    files.write_bytes(_header(payload) + payload, path)


def save_tensors(obj: Any, path: Path) -> None:
    """Cache ``obj`` (tensors, numbers, strings, and lists, tuples and dicts of them)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_verified(buffer.getvalue(), path)


def save_frames(value: pd.DataFrame | tuple[pd.DataFrame, ...], path: Path) -> None:
    """Cache a frame or a tuple of frames as JSON (exact: floats are written with repr)."""
    frames = value if isinstance(value, tuple) else (value,)
    document = {"tuple": isinstance(value, tuple), "frames": [_frame_to_json(f) for f in frames]}
    write_verified(json.dumps(document, allow_nan=True).encode("utf-8"), path)


# ---------------------------------------------------------------------------- reading

def read_verified(path: Path) -> bytes:
    """The payload of a cached file after checking its header; CorruptCacheFile otherwise."""
    data = Path(path).read_bytes()
    newline = data.find(b"\n", 0, MAX_HEADER)
    if not data.startswith(HEADER_PREFIX) or newline < 0:
        raise CorruptCacheFile("no checksum header (not written by this version of the suite)")
    match = re.fullmatch(rb"([0-9a-f]{64}) bytes=(\d+)", data[len(HEADER_PREFIX):newline])
    if match is None:
        raise CorruptCacheFile("malformed checksum header")
    payload = data[newline + 1:]
    if len(payload) != int(match.group(2)):
        raise CorruptCacheFile(f"truncated or extended: {len(payload)} bytes, header says {int(match.group(2))}")
    if hashlib.sha256(payload).hexdigest().encode() != match.group(1):
        raise CorruptCacheFile("checksum mismatch")
    return payload


def decode_tensors(payload: bytes) -> Any:
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)


def decode_frames(payload: bytes) -> pd.DataFrame | tuple[pd.DataFrame, ...]:
    document = json.loads(payload.decode("utf-8"))
    frames = tuple(_frame_from_json(f) for f in document["frames"])
    return frames if document["tuple"] else frames[0]


def load(path: Path, decode: Callable[[bytes], Any]) -> Any | None:
    """``decode`` of the verified payload of ``path``; None when the file is missing, or when it
    fails verification or decoding (then it is moved aside, where the folder allows, with one
    warning line)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return decode(read_verified(path))
    except Exception as exc:  # noqa: BLE001 - any failure to read a cache file means "recompute it"
        reason = _unreadable_reason(exc)
    try:
        moved = f"moved to {quarantine(path).name}"
    except OSError as exc:
        moved = f"left in place ({exc.strerror or type(exc).__name__})"
    print(f"warning: cache file {path} is unreadable ({reason}); {moved}, recomputing", file=sys.stderr)
    return None


def _unreadable_reason(exc: Exception) -> str:
    """Why a cache file could not be read, in one short line of ours (a refused unpickling is
    named as such, never with torch's advice to load it unsafely)."""
    if isinstance(exc, pickle.UnpicklingError) or "weights_only" in str(exc):
        return "it holds objects other than tensors and numbers, which are never unpickled"
    text = " ".join(str(exc).split())
    return text[:200] if text else type(exc).__name__


def quarantine(path: Path) -> Path:
    """Move a bad cache file aside (``<name>.corrupt``, replacing an older one); its new path."""
    aside = path.with_name(path.name + QUARANTINE_SUFFIX)
    os.replace(path, aside)
    return aside


def load_tensors(path: Path, required: tuple[str, ...] = ()) -> Any | None:
    """A mapping cached by :func:`save_tensors`; a file without every ``required`` key counts as
    unreadable."""
    def decode(payload: bytes) -> Any:
        found = decode_tensors(payload)
        missing = [k for k in required if not isinstance(found, dict) or k not in found]
        if missing:
            raise CorruptCacheFile(f"missing {missing}")
        return found

    return load(path, decode)


def load_frames(path: Path) -> pd.DataFrame | tuple[pd.DataFrame, ...] | None:
    return load(path, decode_frames)


# ---------------------------------------------------------------------------- the two caches

RESULT_FILE, CHECKPOINT_FILE = "result.pt", "checkpoint.pt"
RESULT_KEYS = ("model", "history", "status", "diverged_epoch")  # of result.pt
CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "rng", "history")  # of checkpoint.pt
SNAPSHOTS_FILE = "snapshots.pt"
SNAPSHOT_KEYS = ("fractions", "points", "replayed", "matches_result")  # of snapshots.pt


class Cache:
    """The training cache (one folder per training key) and the probe cache (``probes/``) under
    one root (see module docstring). Only the pipeline's driver writes here. A root inside the
    repository but outside its ``cache/`` is a StorageError: cached runs never land among the
    sources."""

    def __init__(self, root: str | Path | None = None):
        self.root = cache_dir(root).resolve()  # a link in the given root is followed once, here
        inside = REPO_ROOT.resolve()
        if self.root.is_relative_to(inside) and not self.root.is_relative_to(DEFAULT_CACHE_DIR.resolve()):
            raise files.StorageError(f"cannot use {self.root} as the cache: inside the repository the cache is "
                                     f"{DEFAULT_CACHE_DIR} or a folder in it (elsewhere, any folder)")
        self.probes = self.root / "probes"

    def check_writable(self) -> None:
        """A StorageError unless a file can be created in the cache root (asked before computing
        anything, so a read-only or full cache stops a command at once)."""
        files.make_folder(self.root)
        try:
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=".writable.", suffix=f".tmp{os.getpid()}")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise files.storage_error(self.root, exc, "write in the cache folder") from None

    # ------------------------------------------------------------------ training runs
    def run_dir(self, key: str) -> Path:
        return self.root / key

    def run_result(self, key: str) -> dict | None:
        """A finished run (RESULT_KEYS), or None."""
        return load_tensors(self.run_dir(key) / RESULT_FILE, RESULT_KEYS)

    def checkpoint(self, key: str) -> dict | None:
        """The last epoch of an unfinished run (CHECKPOINT_KEYS), or None."""
        return load_tensors(self.run_dir(key) / CHECKPOINT_FILE, CHECKPOINT_KEYS)

    def has_checkpoint(self, key: str) -> bool:
        """Whether an unfinished run left a checkpoint (not read: a plan only counts them)."""
        return (self.run_dir(key) / CHECKPOINT_FILE).is_file()

    def save_checkpoint(self, key: str, checkpoint: dict) -> None:
        save_tensors(checkpoint, self.run_dir(key) / CHECKPOINT_FILE)

    def discard_checkpoint(self, key: str) -> None:
        (self.run_dir(key) / CHECKPOINT_FILE).unlink(missing_ok=True)

    def snapshots(self, key: str, fractions: tuple[float, ...]) -> dict | None:
        """The run's snapshots (SNAPSHOT_KEYS: the epoch-1 ``fractions`` they were kept at; ``points``,
        the snapshots in order; ``replayed``, whether they come from training the run again after it
        was cached; ``matches_result``, whether that replay ended at the cached weights bit for bit),
        or None when there are none kept at ``fractions``."""
        found = load_tensors(self.run_dir(key) / SNAPSHOTS_FILE, SNAPSHOT_KEYS)
        return found if found is not None and tuple(found["fractions"]) == tuple(fractions) else None

    def save_snapshots(self, key: str, snapshots: dict) -> None:
        save_tensors(snapshots, self.run_dir(key) / SNAPSHOTS_FILE)

    def save_run(self, key: str, result: dict, spec: dict) -> None:
        """Store a finished run (and, for people, its spec and history as JSON); its checkpoint
        is removed."""
        folder = self.run_dir(key)
        save_tensors({k: result[k] for k in RESULT_KEYS}, folder / RESULT_FILE)
        files.write_text(json.dumps({"key": key, "spec": spec}, indent=2), folder / "spec.json")
        files.write_text(json.dumps({k: result[k] for k in ("status", "diverged_epoch", "history")}, indent=2),
                          folder / "history.json")
        self.discard_checkpoint(key)

    # ------------------------------------------------------------------ probe results
    def probe_path(self, key: str) -> Path:
        return self.probes / f"{key}.json"

    def probe_result(self, key: str) -> pd.DataFrame | tuple[pd.DataFrame, ...] | None:
        return load_frames(self.probe_path(key))

    def save_probe(self, key: str, frames: pd.DataFrame | tuple[pd.DataFrame, ...]) -> None:
        save_frames(frames, self.probe_path(key))


def content_key(payload: Any, length: int) -> str:
    """A short SHA-256 of ``payload`` as sorted JSON: the cache key of whatever it describes."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:length]


# ---------------------------------------------------------------------------- frames as JSON

def _frame_to_json(df: pd.DataFrame) -> dict:
    if not (isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1):
        raise TypeError("only frames with a default RangeIndex are cached")
    columns = [str(c) for c in df.columns]
    if len(set(columns)) != len(columns) or list(df.columns) != columns:
        raise TypeError("only frames with unique string column names are cached")
    tuple_columns = [c for c in columns if df[c].dtype == object and any(isinstance(v, tuple) for v in df[c])]
    return {"columns": columns, "dtypes": [str(df[c].dtype) for c in columns], "tuple_columns": tuple_columns,
            "rows": len(df), "data": [df[c].tolist() for c in columns]}


def _frame_from_json(doc: dict) -> pd.DataFrame:
    data = {}
    for name, dtype, values in zip(doc["columns"], doc["dtypes"], doc["data"], strict=True):
        if name in doc["tuple_columns"]:
            values = [tuple(v) if isinstance(v, list) else v for v in values]
        data[name] = pd.Series(values, dtype=dtype, index=pd.RangeIndex(doc["rows"]))
    return pd.DataFrame(data, index=pd.RangeIndex(doc["rows"]), columns=doc["columns"])
