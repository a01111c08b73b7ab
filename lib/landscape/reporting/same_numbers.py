"""Did a change alter any published number? ``python -m landscape.reporting.same_numbers OLD NEW``.

OLD and NEW are output folders (``outputs/`` or one rendered with ``--output-dir``) holding
``<report>/metrics.json``. Every report present in either is compared value by value, leaving
out only wall times (keys in ``WALL_TIME``) and what the render itself did rather than found
(``RENDER_PROVENANCE``: how many probe results it computed or read from the cache, the epochs it
trained), so that a render from the caches compares with one that filled them. A restructure of
the code must give identical numbers, verdicts and texts. Prints one line per difference (its
report and JSON path, both values) and exits 1 if there is any, 0 if none.
"""
from __future__ import annotations

import fnmatch
import json
import math
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

WALL_TIME = frozenset({"time_s", "seconds", "wall_s"})  # measured, not computed: they differ run to run
RENDER_PROVENANCE = ("/probe_sets/cache/*", "/status/*/trained_epochs")  # JSON paths (fnmatch patterns)
METRICS_FILE = "metrics.json"


def json_differences(old: Any, new: Any, path: str = "") -> Iterator[str]:
    """Each place where the JSON values ``old`` and ``new`` differ, as ``path: old != new``
    (NaN equals NaN; keys in WALL_TIME are skipped at any depth, paths in RENDER_PROVENANCE
    wherever they match)."""
    if any(fnmatch.fnmatchcase(path, pattern) for pattern in RENDER_PROVENANCE):
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted((set(old) | set(new)) - WALL_TIME, key=str):
            if key not in old or key not in new:
                yield f"{path}/{key}: {'absent' if key not in old else 'present'} != " \
                      f"{'absent' if key not in new else 'present'}"
            else:
                yield from json_differences(old[key], new[key], f"{path}/{key}")
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            yield f"{path}: {len(old)} items != {len(new)} items"
        for i, (a, b) in enumerate(zip(old, new)):
            yield from json_differences(a, b, f"{path}/{i}")
    elif isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new):
        return
    elif type(old) is not type(new) or old != new:
        yield f"{path}: {old!r} != {new!r}"


def compare_outputs(old_dir: Path, new_dir: Path) -> list[str]:
    """Every difference between the reports' metrics in ``old_dir`` and ``new_dir``, each line
    prefixed with the report's name; a report missing from one side is one line."""
    found = []
    names = sorted({p.parent.name for d in (old_dir, new_dir) for p in Path(d).glob(f"*/{METRICS_FILE}")})
    for name in names:
        old_file, new_file = Path(old_dir) / name / METRICS_FILE, Path(new_dir) / name / METRICS_FILE
        if not (old_file.is_file() and new_file.is_file()):
            found.append(f"{name}: metrics only in {old_file.parent if old_file.is_file() else new_file.parent}")
            continue
        old, new = (json.loads(f.read_text(encoding="utf-8")) for f in (old_file, new_file))
        found += [f"{name}{line}" for line in json_differences(old, new)]
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or not all(Path(a).is_dir() for a in args):
        print("error: usage: python -m landscape.reporting.same_numbers OLD_OUTPUTS NEW_OUTPUTS (two folders)", file=sys.stderr)
        return 2
    found = compare_outputs(Path(args[0]), Path(args[1]))
    reports = len({p.parent.name for p in Path(args[1]).glob(f"*/{METRICS_FILE}")})
    for line in found:
        print(line)
    print(f"{len(found)} differences in the metrics of {reports} reports", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
