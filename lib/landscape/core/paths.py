"""Where the repository is: the one home of its root (from which the default folders for data,
params, notebooks, caches and outputs are found) and of ``lib/``, the folder the package is
imported from (kernels and workers get it on their path)."""
from __future__ import annotations

from pathlib import Path

LIB_DIR = Path(__file__).resolve().parents[2]  # lib/landscape/core/paths.py -> lib/, where `import landscape` finds it
REPO_ROOT = LIB_DIR.parent
