"""The training-history claim checks: each reads the history or the runs' outcomes and returns the
:class:`Comparison` records its claim's text calls for (one per stated direction or size);
``CHECKS`` registers them. A measure's checks live in its home (``probes.<name>.checks``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import stats
from .records import ABOVE, Comparison, Group, UNDECIDABLE, WITHIN
from .deciding import (Check, compare, Context, _epochs_to_reach, final_epochs, config_group, MissingEvidence,
                       one_group, per_seed, share, two_groups)

# ============================================================================ history checks

def converges_faster(ctx: Context, history: pd.DataFrame, faster: str, slower: str) -> list[Comparison]:
    """``faster`` converges faster than ``slower``: higher val (test) accuracy after epoch 1, and
    (with more than one epoch) fewer epochs to reach the lower of the two configurations' mean
    final val accuracies (a seed that never reaches it counts as one epoch past the last)."""
    first = {c: per_seed(history, c, "test_acc", "epoch 1", epoch=1) for c in (faster, slower)}
    parts = [two_groups(ctx, "epoch-1 val acc", faster, slower, first[faster], first[slower])]
    epochs = int(history["epoch"].max())
    if epochs > 1:
        threshold = min(float(final_epochs(history, c)["test_acc"].mean()) for c in (faster, slower))
        reach = {}
        for c in (faster, slower):
            seeds = history[history["config"] == c].sort_values("epoch").groupby("seed")
            reach[c] = [e if e is not None else epochs + 1 for e in
                        (_epochs_to_reach(rows, threshold) for _, rows in seeds)]
        parts.append(two_groups(ctx, f"epochs to reach val acc {stats.number_text(threshold)} (the lower mean final "
                                "one)", slower, faster, reach[slower], reach[faster]))
    return parts


def generalizes_better(ctx: Context, history: pd.DataFrame, better: str, worse: str) -> list[Comparison]:
    """``better`` generalizes better than ``worse``: a higher final val (test) accuracy and a
    smaller final generalization gap, measured in evaluation mode (train probe set accuracy −
    val accuracy, both on the final weights). Two parts: they can disagree (mixed)."""
    fb, fw = final_epochs(history, better), final_epochs(history, worse)
    parts = []
    for what, column, a, b, va, vb in (("final val acc", "test_acc", better, worse, fb, fw),
                                       ("final eval-mode gap", "eval_gap", worse, better, fw, fb)):
        if va[column].isna().all() or vb[column].isna().all():
            raise MissingEvidence(f"no {what}")
        parts.append(two_groups(ctx, what, a, b, va[column].to_numpy(float), vb[column].to_numpy(float)))
    return parts


def _status_rows(runs: pd.DataFrame, config: str) -> pd.DataFrame:
    rows = runs[runs["config"] == config]
    if rows.empty:
        raise MissingEvidence(f"configuration {config!r} was not trained")
    return rows


def diverges(ctx: Context, runs: pd.DataFrame, diverged: list) -> list[Comparison]:
    """The configurations of ``diverged`` diverge (a non-finite loss stops them) in most seeds:
    the share of seeds that diverged, with its exact 95% interval, above 'more_often'."""
    parts = []
    for config in config_group(diverged):
        rows = _status_rows(runs, config)
        rows = rows[rows["status"] != "failed"]
        parts.append(share(ctx, "share of seeds that diverged", config, int((rows["status"] == "diverged").sum()),
                           len(rows)))
    return parts


def does_not_learn(ctx: Context, history: pd.DataFrame, runs: list, num_classes: int = 10) -> list[Comparison]:
    """Each configuration ends at chance: the 95% interval over seeds of the final val (test)
    accuracy lies within 'chance_accuracy' of 1/num_classes and that of the val loss within
    'chance_loss' nats of ln(num_classes) (a uniform prediction); an interval wholly outside
    contradicts it."""
    chance, uniform = 1.0 / num_classes, float(np.log(num_classes))
    acc_tol, loss_tol = ctx.value("chance_accuracy"), ctx.value("chance_loss")
    parts = []
    for config in config_group(runs):
        finals = final_epochs(history, config)
        parts.append(one_group(ctx, "final val acc", config, finals["test_acc"].to_numpy(float), WITHIN,
                               [chance - acc_tol, chance + acc_tol], "chance_accuracy"))
        parts.append(one_group(ctx, "final val loss (nats)", config, finals["test_loss"].to_numpy(float), WITHIN,
                               [uniform - loss_tol, uniform + loss_tol], "chance_loss"))
    return parts


def _scored(history: pd.DataFrame, runs: pd.DataFrame, config: str, chance: float | None) -> list[float]:
    """Final val accuracy per seed of ``config``; a diverged seed scores ``chance`` (or is left
    out when ``chance`` is None)."""
    rows = _status_rows(runs, config)
    finals = final_epochs(history, config).set_index("run") if (history["config"] == config).any() else pd.DataFrame()
    values = []
    for _, row in rows.sort_values("seed").iterrows():
        if row["status"] == "diverged" and chance is not None:
            values.append(chance)
        elif row["status"] == "completed" and row["run"] in finals.index:
            values.append(float(finals.loc[row["run"], "test_acc"]))
    return values


def main_effect_larger(ctx: Context, history: pd.DataFrame, runs: pd.DataFrame, larger: list, smaller: list,
                       num_classes: int = 10) -> list[Comparison]:
    """In a factorial ablation, removing factor ``larger`` costs more final val accuracy than
    removing factor ``smaller``. Each factor is [[configurations with it], [the same without
    it]]; its main effect is mean(with) − mean(without) of the configuration means, and the
    claim is decided by the Welch interval of the difference of the two main effects (a linear
    contrast of configuration means). A diverged seed scores chance (1/num_classes): a network
    that cannot be trained is as useless as one that does not learn; the comparison says whether
    the verdict rests on that choice."""
    chance = 1.0 / num_classes
    configs = list(dict.fromkeys(config_group([larger, smaller])))
    weights = dict.fromkeys(configs, 0.0)
    for sign, (with_, without) in ((1.0, larger), (-1.0, smaller)):
        for side, factor in ((config_group(with_), 1.0), (config_group(without), -1.0)):
            for c in side:
                weights[c] += sign * factor / len(side)

    def decide(score: float | None, why: str = "") -> Comparison:
        scored = {c: _scored(history, runs, c, score) for c in configs}
        found = stats.contrast([scored[c] for c in configs], [weights[c] for c in configs])
        groups = [Group(c, len(v), stats.mean_ci(v)) for c, v in scored.items()]
        return compare(ctx, "final val acc: main effect of the larger-claimed factor minus the smaller-claimed one",
                       groups, "seeds", "contrast", found, ABOVE, [0.0], why=why)

    diverged = sum(int((_status_rows(runs, c)["status"] == "diverged").sum()) for c in configs)
    if not diverged:
        return [decide(chance)]
    alternative = decide(None)
    if alternative.raw == UNDECIDABLE:
        why = (f"{diverged} diverged seed(s) scored as chance ({stats.number_text(chance)}); without that choice "
               "the contrast cannot be formed")
    else:
        why = (f"{diverged} diverged seed(s) scored as chance ({stats.number_text(chance)}); leaving them out "
               f"gives {alternative.interval.text(4)}, {alternative.raw}")
    return [decide(chance, why)]


CHECKS = {
    "converges_faster": Check(converges_faster, "history", ("faster", "slower")),
    "generalizes_better": Check(generalizes_better, "history", ("better", "worse")),
    "diverges": Check(diverges, "runs", ("diverged",), scores_divergence=True, unit="share"),
    "does_not_learn": Check(does_not_learn, "history", ("runs",)),
    "main_effect_larger": Check(main_effect_larger, ("history", "runs"), ("larger", "smaller"),
                                scores_divergence=True),
}
