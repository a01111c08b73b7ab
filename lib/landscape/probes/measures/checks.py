"""The claim checks that read the ``measures`` frame (the step-size study's, with the history):
each returns the comparison records its claim's text calls for. ``CHECKS`` registers them
(``Probe.checks`` names this module; ``claims.registry`` collects it).

- :func:`flatter_in_order`: "smaller batches end flatter": per order of configurations, every
  earlier one ends sharper than every later one (ratio of geometric means over seeds).
- :func:`flatter_generalizes_at_fixed_lr`: "flatter ends generalize better at a fixed step
  size": Jiang et al.'s granulated τ of a sharpness measure with the generalization gap and with
  the test error, over groups of runs that share the step size and the seed and differ only in
  the configuration (``rankings.granulated``).
"""
from __future__ import annotations

import math

import pandas as pd

from ...verdicts import rankings, stats
from ...verdicts.claims.deciding import (Check, Context, MissingEvidence, compare, config_group, final_epochs,
                                        ordered, per_seed)
from ...verdicts.claims.records import ABOVE, Comparison, Group

POSITIVE_MEASURES = {"lambda_max": "λmax", "trace": "tr(H)", "sam": "SAM sharpness",
                     "asam": "ASAM sharpness"}  # end-point measures a check may order by, in words


def flatter_in_order(ctx: Context, measures: pd.DataFrame, orders: list, measure: str = "lambda_max"
                     ) -> list[Comparison]:
    """Within each order of ``orders`` (a list of configuration ids, or lists pooled as one group),
    every earlier configuration ends sharper than every later one by ``measure`` of the measures
    probe (ratio of geometric means over seeds)."""
    what = f"{POSITIVE_MEASURES[measure]} of the final weights (train probe set)"
    return [part for order in orders
            for part in ordered(ctx, what, lambda c: per_seed(measures, c, measure, f"measures {measure}"), order)]


def flatter_generalizes_at_fixed_lr(ctx: Context, measures: pd.DataFrame, history: pd.DataFrame, groups: list,
                                    measure: str = "lambda_max") -> list[Comparison]:
    """A sharper end goes with worse generalization when the step size is fixed: each entry of
    ``groups`` lists configurations that share the step size; the runs of one entry with one
    seed form a granulated group (they differ only in the configuration), and ψ, the mean over
    groups of the within-group Kendall τ-b of ``measure`` with the final generalization gap (eval
    mode) and with the final test error, is claimed above 0 (bootstrap interval over groups; at
    least ``rankings.MIN_GROUPS`` groups)."""
    rows = []
    for index, entry in enumerate(groups):
        for config in config_group(entry):
            finals = final_epochs(history, config).set_index("run")
            values = measures[measures["config"] == config].set_index("run")[measure]
            for run_id in finals.index.intersection(values.index):
                rows.append({"group": index, "config": config, "seed": finals.at[run_id, "seed"],
                             "measure": float(values[run_id]), "eval_gap": float(finals.at[run_id, "eval_gap"]),
                             "test_error": 1 - float(finals.at[run_id, "test_acc"])})
    if not rows:
        raise MissingEvidence(f"no measured run with a history in {groups}")
    models = pd.DataFrame(rows)
    grouping = {"within η": ("config", ["group", "seed"])}
    parts = []
    for target, words in (("eval_gap", "generalization gap"), ("test_error", "test error")):
        psi = rankings.granulated(models, "measure", target, grouping).get("within η")
        if psi is None:
            psi = stats.Interval(math.nan, math.nan, math.nan, 0, stats.LEVEL, "mean τ over groups")
        positive = models["measure"].to_numpy(float)
        summary = stats.geometric_ci(positive) if (positive > 0).all() else stats.mean_ci(positive)
        parts.append(compare(ctx, f"granulated τ of {POSITIVE_MEASURES[measure]} with the {words}, η and seed fixed",
                             [Group(f"{psi.n} groups of runs sharing η and seed", int(psi.n), summary)], "groups",
                             "ψ (mean within-group τ)", psi, ABOVE, [0.0], min_units=rankings.MIN_GROUPS))
    return parts


CHECKS = {
    "flatter_in_order": Check(flatter_in_order, "measures", ("orders",), choices={"measure": tuple(POSITIVE_MEASURES)}),
    "flatter_generalizes_at_fixed_lr": Check(flatter_generalizes_at_fixed_lr, ("measures", "history"), ("groups",),
                                             unit="pooled seeds", min_units=rankings.MIN_GROUPS,
                                             choices={"measure": tuple(POSITIVE_MEASURES)}),
}
