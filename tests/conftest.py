"""Shared fixtures. The package is importable from lib/ (make setup installs a .pth file; this
also works from a bare checkout)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))


@pytest.fixture
def cache(tmp_path):
    """A fresh training cache directory."""
    return tmp_path / "cache"
