"""Writing files: the one place that creates files in the cache and the output folders.

Every file is written atomically: its bytes go to a temporary file created exclusively
(``O_CREAT | O_EXCL | O_NOFOLLOW``, through :func:`tempfile.mkstemp`) beside it, named
``.<name>.<random>.tmp<pid>``, which is then renamed over the target. So a reader sees the old
file or the whole new one, a link planted in a shared folder under any name is never written
through (the rename replaces a link at the target itself, it does not follow it), and a folder
that is itself a link is refused. A write that fails (disk full, read-only folder, no
permission) removes its temporary file and raises :class:`StorageError`, a one-line user error
naming the folder and the cause. Temporary files left by a killed process are removed by
:func:`sweep_temporary`.
"""
from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path

from .errors import UserError

_TEMPORARY = re.compile(r"\.tmp(\d+)$")
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read back: files get the modes a plain open() would give them


class StorageError(UserError, OSError):
    """A file could not be written (or a folder made, or a file moved): the message names the
    folder and the cause."""


def storage_error(path: Path, exc: OSError, doing: str = "write") -> StorageError:
    """A :class:`StorageError` for ``exc``, raised while doing ``doing`` to ``path``."""
    cause = exc.strerror or errno.errorcode.get(exc.errno or 0) or type(exc).__name__
    return StorageError(f"cannot {doing} {path}: {cause}")


def make_folder(folder: Path) -> Path:
    """``folder`` and its parents, created where missing; a StorageError where that fails or where
    ``folder`` is a link."""
    folder = Path(folder)
    if folder.is_symlink():
        raise StorageError(f"cannot write in {folder}: it is a link, and files are never written through links")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(folder, exc, "create the folder") from None
    return folder


def write_bytes(data: bytes, path: Path) -> None:
    """Write ``data`` to ``path`` atomically, never through a link (see module docstring)."""
    path = Path(path)
    folder = make_folder(path.parent)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=f".tmp{os.getpid()}")
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o666 & ~_UMASK)
            handle.write(data)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise storage_error(folder, exc) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def write_text(text: str, path: Path) -> None:
    write_bytes(text.encode("utf-8"), path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _folders(root: Path, depth: int):
    if root.is_dir() and not root.is_symlink():
        yield root
        if depth > 0:
            for child in root.iterdir():
                yield from _folders(child, depth - 1)


def sweep_temporary(*roots: Path, depth: int = 2) -> list[Path]:
    """Remove temporary files (``*.tmp<pid>``, see :func:`write_bytes`) whose process is gone, in
    each root and ``depth`` levels of folders below it; the removed paths."""
    removed = []
    for folder in (f for root in roots for f in _folders(Path(root), depth)):
        for path in folder.iterdir():
            match = _TEMPORARY.search(path.name)
            if match and (path.is_file() or path.is_symlink()) and not _alive(int(match.group(1))):
                try:
                    path.unlink(missing_ok=True)
                except OSError:  # a read-only folder: nothing of ours can be in it
                    continue
                removed.append(path)
    return removed
