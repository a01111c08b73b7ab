"""The claim checks that read the ε-sharpness frame (``sharpness``): each returns the comparison
records its claim's text calls for (one per stated direction or size). ``CHECKS`` registers them
under the name a params file gives (``Probe.checks`` names this module; ``claims.registry``
collects it)."""
from __future__ import annotations

import pandas as pd

from ...verdicts.claims.deciding import Check, Context, ordered, per_seed
from ...verdicts.claims.records import Comparison, StudyMethod


def sharpness_order(ctx: Context, sharpness: pd.DataFrame, order: list, kind: str = "sam",
                    column: str = "sharpness") -> list[Comparison]:
    """The configurations of ``order`` have descending ε-sharpness of ``kind`` (``sam`` or
    ``asam``): ours after the projected ascent, the study's (``column: first_order``) at SAM's
    single first-order step (train probe set)."""
    what = f"{kind.upper()} sharpness ({'projected ascent' if column == 'sharpness' else 'first-order step'}, nats)"
    return ordered(ctx, what, lambda c: per_seed(sharpness, c, column, f"{kind} sharpness", kind=kind), order)


CHECKS = {
    "sharpness_order": Check(sharpness_order, "sharpness", ("order",), study_method=StudyMethod(
        {"column": "first_order"}, "SAM's single first-order step (the study's) instead of the projected ascent "
        "(ours)"), choices={"kind": ("sam", "asam"), "column": ("sharpness", "first_order")}),
}
