"""Shared fixtures. The package is importable from lib/ (make setup installs a .pth file; this
also works from a bare checkout)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# The probe tests use tiny float64 models, for which one thread is fastest; it also keeps the
# suite from competing with itself for the cores. This is process-wide, so it is set once here.
torch.set_num_threads(1)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))


SMOKE_FIXTURES = {"smoke_pass", "smoke_cache", "rendered"}  # a test that uses one renders reports


def pytest_collection_modifyitems(items):
    """Mark ``slow`` every test that uses the smoke pass (``SMOKE_FIXTURES``); the other slow
    tests carry the mark themselves."""
    for item in items:
        if SMOKE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def cache(tmp_path):
    """A fresh training cache directory."""
    return tmp_path / "cache"


REPO = Path(__file__).resolve().parents[1]


def git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO,
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="session")
def smoke_cache(tmp_path_factory):
    """The training and probe cache of the smoke pass (filled by ``smoke_pass``)."""
    return tmp_path_factory.mktemp("smoke_cache")


@pytest.fixture(scope="session")
def smoke_pass(smoke_cache):
    """``make reports PROFILE=smoke``, the README's quick pass (every report's jobs as one graph,
    then the notebooks from the caches), once for the session with a fresh cache (``smoke_cache``):
    (output root, git status before, git status after)."""
    before = git_status()
    env = {**os.environ, "LANDSCAPE_CACHE": str(smoke_cache)}
    done = subprocess.run(["make", "-s", "reports", "PROFILE=smoke"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return REPO / "outputs" / "_smoke", before, git_status()
