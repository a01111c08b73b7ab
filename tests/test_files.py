"""Writing files (``landscape.core.files``): atomic, created exclusively, never through a link; a full
or read-only disk is one line naming the folder, with nothing half-written left behind; and the
same for the cache (a read-only cache stops a command before anything is computed)."""
import contextlib
import os
import subprocess
import sys

import pytest

from landscape import cli
from landscape.core import files, store

REPORT = "mlp_vs_cnn_fmnist"


@contextlib.contextmanager
def small_disk(path, size="64k", read_only=False):
    """A tmpfs of ``size`` mounted at ``path`` (read-only with ``read_only``, after it is filled by
    the caller through the yielded writable view); skipped where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small disk here ({done.stderr.decode().strip()[:100]})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def remount_read_only(path):
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def test_a_write_replaces_the_file_atomically_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a" / "b.json"
    files.write_text("old", target)
    files.write_text("new", target)
    assert target.read_text() == "new" and sorted(p.name for p in target.parent.iterdir()) == ["b.json"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~files._UMASK)  # as open() would make it


def test_links_planted_in_a_shared_folder_are_never_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    shared = tmp_path / "shared"
    shared.mkdir()
    # a link at the target and at every name the old temporary-file scheme used
    (shared / "result.pt").symlink_to(victim)
    for pid in (os.getpid(), os.getpid() + 1):
        (shared / f"result.pt.tmp{pid}").symlink_to(victim)
    files.write_bytes(b"payload", shared / "result.pt")
    assert victim.read_text() == "precious"
    assert not (shared / "result.pt").is_symlink() and (shared / "result.pt").read_bytes() == b"payload"
    store.write_verified(b"payload", shared / "result.pt")  # the cache writes through the same function
    assert victim.read_text() == "precious"


def test_a_folder_that_is_a_link_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "abc").symlink_to(elsewhere)
    with pytest.raises(files.StorageError, match=r"cannot write in .*/cache/abc: it is a link"):
        files.write_bytes(b"x", tmp_path / "cache" / "abc" / "result.pt")
    assert list(elsewhere.iterdir()) == []


def test_a_full_disk_is_one_line_naming_the_folder_and_leaves_nothing_half_written(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        files.write_bytes(b"old", disk / "kept.bin")
        with pytest.raises(files.StorageError) as info:
            files.write_bytes(b"x" * 200_000, disk / "kept.bin")
        assert str(info.value) == f"cannot write {disk}: No space left on device"
        assert sorted(p.name for p in disk.iterdir()) == ["kept.bin"] and (disk / "kept.bin").read_bytes() == b"old"


def test_a_read_only_folder_is_one_line(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        remount_read_only(disk)
        with pytest.raises(files.StorageError, match=r"cannot write .*/disk: Read-only file system"):
            files.write_text("x", disk / "a.json")
        with pytest.raises(files.StorageError, match=r"cannot create the folder .*/disk/sub: Read-only file system"):
            files.write_text("x", disk / "sub" / "a.json")


def test_sweep_removes_temporary_files_of_dead_processes_only(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp_path / "k").mkdir()
    stale, live = tmp_path / "k" / f".result.pt.x1.tmp{dead}", tmp_path / "k" / f".result.pt.x2.tmp{os.getpid()}"
    stale.write_bytes(b"x")
    live.write_bytes(b"x")
    assert files.sweep_temporary(tmp_path) == [stale]
    assert live.exists()


# ---------------------------------------------------------------------------- the cache on such disks

def train_args(cache):
    return ["train", REPORT, "--profile", "smoke", "--cache", str(cache), "--set", "training.epochs=1",
            "--set", "data.train_subset=200", "--set", "data.test_subset=100"]


def test_a_read_only_cache_missing_a_run_stops_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_PROGRESS", "lines")
    with small_disk(tmp_path / "cache") as cache:
        remount_read_only(cache)
        assert cli.main(train_args(cache)) == 2
        captured = capsys.readouterr()
        assert captured.err.strip().splitlines() == [f"error: cannot write in the cache folder {cache}: "
                                                     "Read-only file system"]
        assert "epoch" not in captured.out + captured.err, "nothing may be trained"


def test_a_corrupt_file_in_a_read_only_cache_is_named_and_left_in_place(tmp_path, capsys):
    with small_disk(tmp_path / "cache") as cache:
        (cache / "k").mkdir()
        (cache / "k" / "result.pt").write_bytes(b"garbage")
        remount_read_only(cache)
        assert store.Cache(cache).run_result("k") is None
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"warning: cache file {cache}/k/result.pt is unreadable (")
        assert err[0].endswith("left in place (Read-only file system), recomputing")


def test_a_full_cache_stops_with_one_line_naming_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_PROGRESS", "off")
    with small_disk(tmp_path / "cache", size="16k") as cache:
        assert cli.main(train_args(cache)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: cannot write {cache}/") \
            and err[0].endswith(": No space left on device"), err
        assert not [p for p in cache.rglob("*") if ".tmp" in p.name], "no temporary file is left"


def test_a_read_only_output_folder_stops_a_report_before_it_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_CACHE", str(tmp_path / "cache"))
    with small_disk(tmp_path / "outputs") as outputs:
        remount_read_only(outputs)
        assert cli.main(["report", REPORT, "--profile", "smoke", "--output-dir", str(outputs)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"error: cannot create the folder {outputs}/{REPORT}: Read-only file system"], err
    assert not (tmp_path / "cache").exists(), "nothing may be computed"


@pytest.mark.parametrize("inside", [".", "cpu", "outputs/cache", "lib"])
def test_a_cache_inside_the_repository_but_outside_cache_is_refused_before_training(inside, capsys, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_PROGRESS", "off")
    root = store.REPO_ROOT / inside
    before = sorted(p.name for p in store.REPO_ROOT.iterdir())
    assert cli.main(train_args(root)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: cannot use {root.resolve()} as the cache: inside the repository the cache is "
                   f"{store.DEFAULT_CACHE_DIR} or a folder in it (elsewhere, any folder)"]
    assert sorted(p.name for p in store.REPO_ROOT.iterdir()) == before


def test_the_repository_cache_and_folders_in_it_are_accepted(tmp_path):
    assert store.Cache(store.DEFAULT_CACHE_DIR / "scratch").root == (store.DEFAULT_CACHE_DIR / "scratch").resolve()
    assert store.Cache(tmp_path).root == tmp_path.resolve()
