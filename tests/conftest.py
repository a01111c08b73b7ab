"""Shared fixtures. The package is importable from lib/ (make setup installs a .pth file; this
also works from a bare checkout)."""
import sys
from pathlib import Path

import pytest
import torch

# The probe tests use tiny float64 models, for which one thread is fastest; it also keeps the
# suite from competing with itself for the cores. This is process-wide, so it is set once here.
torch.set_num_threads(1)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))


@pytest.fixture
def cache(tmp_path):
    """A fresh training cache directory."""
    return tmp_path / "cache"
