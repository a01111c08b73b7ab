"""Deciding one comparison: the :class:`Context` (thresholds, method), :func:`compare` and its
shapes (two groups, one group, a share, two named networks, an order of groups), reading
evidence per configuration, and the :class:`Check` record by which a check is registered (the
training-history checks in ``checks``, a measure's in its home, ``probes.<name>.checks``).
"""
from __future__ import annotations

import math
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import stats
from .. import thresholds as thresholds_mod
from ..thresholds import Threshold
from .records import (ABOVE, Comparison, CONTRADICTED, Group, INCONCLUSIVE, OURS, StudyMethod, SUPPORTED,
                      UNDECIDABLE, WITHIN)

# ============================================================================ deciding one comparison

@dataclass(frozen=True)
class Context:
    """What a check decides with: the report's thresholds and whose method it applies."""

    thresholds: Mapping[str, Threshold] = field(default_factory=lambda: dict(thresholds_mod.SUITE))
    method: str = OURS

    def value(self, name: str) -> float:
        return self.thresholds[name].value


def _one_sided(interval: stats.Interval, bound: float, above: bool) -> float:
    """One-sided p-value of "the quantity is not above (``above``) or not below ``bound``", from
    the two-sided test the interval inverts."""
    p = interval.p_value(bound)
    return p / 2 if (interval.estimate > bound) == above else 1 - p / 2


def _side_verdict(interval: stats.Interval, claimed: str, bounds: Sequence[float]) -> tuple[str, float]:
    """Verdict of ``interval`` against ``bounds`` on the ``claimed`` side, with the p-value of
    that decision (p < 0.05 exactly when the interval decides it). ``within`` is two one-sided
    tests at 2.5%, as the two-sided 95% interval inside both bounds; its p is twice the larger."""
    if not interval.defined:
        return INCONCLUSIVE, math.nan
    if claimed != WITHIN:
        side, wanted = interval.side(bounds[0]), 1 if claimed == ABOVE else -1
        return (INCONCLUSIVE if side == 0 else SUPPORTED if side == wanted else CONTRADICTED,
                interval.p_value(bounds[0]))
    low, high = bounds
    inside = min(1.0, 2 * max(_one_sided(interval, low, True), _one_sided(interval, high, False)))
    if low <= interval.low and interval.high <= high:
        return SUPPORTED, inside
    if interval.low > high or interval.high < low:
        return CONTRADICTED, interval.p_value(high if interval.low > high else low)
    return INCONCLUSIVE, min(inside, interval.p_value(low), interval.p_value(high))


def compare(ctx: Context, quantity: str, groups: Sequence[Group], unit: str, effect: str,
            interval: stats.Interval, claimed: str, bounds: Sequence[float], threshold: str | None = None,
            scale: str = "linear", min_units: int = stats.MIN_UNITS, why: str = "") -> Comparison:
    """A comparison decided from ``interval``: undecidable when a group has fewer than
    ``min_units`` units, else by :func:`_side_verdict`."""
    small = [g for g in groups if g.n < min_units]
    if small:
        verdict, p = UNDECIDABLE, math.nan
        why = "; ".join(filter(None, [why, f"fewer than {min_units} {unit} in "
                                      + ", ".join(f"{g.name} ({g.n})" for g in small)]))
    else:
        verdict, p = _side_verdict(interval, claimed, bounds)
    return Comparison(quantity, tuple(groups), unit, effect, interval, claimed, tuple(float(b) for b in bounds),
                      threshold, scale, ctx.method, verdict, p, why=why)


def all_positive(values: Sequence[float]) -> bool:
    arr = np.asarray(values, float)
    arr = arr[~np.isnan(arr)]
    return bool(len(arr)) and bool((arr > 0).all())


def summary(values: Sequence[float], positive: bool = False) -> stats.Interval:
    """A group's summary: the geometric mean (positive quantities) or the mean, with its interval."""
    return stats.geometric_ci(values) if positive and all_positive(values) else stats.mean_ci(values)


def _n(values: Sequence[float]) -> int:
    return int(np.sum(~np.isnan(np.asarray(values, float))))


def two_groups(ctx: Context, quantity: str, a: str, b: str, values_a: Sequence[float], values_b: Sequence[float],
               positive: bool = False, claimed: str = ABOVE, unit: str = "seeds", min_units: int = stats.MIN_UNITS
               ) -> Comparison:
    """"a's values exceed b's": a Welch difference of means, or for a positive quantity the ratio
    of geometric means (Welch on logs, claimed above 1)."""
    log = positive and all_positive(values_a) and all_positive(values_b)
    groups = (Group(a, _n(values_a), summary(values_a, log)), Group(b, _n(values_b), summary(values_b, log)))
    if log:
        return compare(ctx, quantity, groups, unit, "ratio", stats.ratio(values_a, values_b), claimed, [1.0],
                       scale="log", min_units=min_units)
    return compare(ctx, quantity, groups, unit, "difference", stats.difference(values_a, values_b), claimed, [0.0],
                   min_units=min_units)


def one_group(ctx: Context, quantity: str, name: str, values: Sequence[float], claimed: str, bounds: Sequence[float],
              threshold: str, positive: bool = False, unit: str = "seeds", min_units: int = stats.MIN_UNITS,
              why: str = "") -> Comparison:
    """A group's location against a declared threshold (geometric mean for positive quantities)."""
    found = summary(values, positive)
    log = positive and all_positive(values)
    return compare(ctx, quantity, [Group(name, _n(values), found)], unit, "geometric mean" if log else "mean", found,
                   claimed, bounds, threshold, "log" if log else "linear", min_units, why)


def share(ctx: Context, quantity: str, name: str, successes: int, n: int) -> Comparison:
    """"In most seeds": the share with its exact interval above the declared share; undecidable
    when even n of n could not lie above it (:func:`stats.best_share_interval`)."""
    bound = ctx.value("more_often")
    found = stats.proportion_ci(successes, n)
    group = Group(name, n, found)
    if n == 0 or stats.best_share_interval(n).low <= bound:
        return Comparison(quantity, (group,), "seeds", "share", found, ABOVE, (bound,), "more_often", "linear",
                          ctx.method, UNDECIDABLE, why=f"even {n} of {n} could not lie above {bound:g}: "
                          f"{_seeds_needed(bound)}")
    return compare(ctx, quantity, [group], "seeds", "share", found, ABOVE, [bound], "more_often")


def _seeds_needed(bound: float) -> str:
    """How many seeds a share needs before n of n lies above ``bound`` (Clopper–Pearson: the
    lower bound of n of n is ((1 − LEVEL)/2)^(1/n))."""
    if bound >= 1:
        return "no number of seeds can"
    fewest = max(1, math.floor(math.log((1 - stats.LEVEL) / 2) / math.log(bound)) + 1) if bound > 0 else 1
    while stats.best_share_interval(fewest).low <= bound:  # the closed form, checked against scipy
        fewest += 1
    return f"it takes {fewest} seeds"


def measured(ctx: Context, quantity: str, a: str, b: str, value_a: float, value_b: float, claimed: str) -> Comparison:
    """Two named networks' values (one each: a measurement, not a sample of seeds): their ratio
    decided against the declared 'different' size, beyond 1 ± it on the claimed side. Not a test,
    so not part of the multiplicity family."""
    d = ctx.value("different")
    groups = tuple(Group(name, 1, stats.Interval(v, v, v, 1, stats.LEVEL, "measured")) for name, v in
                   ((a, value_a), (b, value_b)))
    if not (value_a > 0 and value_b > 0):
        found = stats.Interval(math.nan, math.nan, math.nan, (1, 1), stats.LEVEL, "one network each, measured")
        return Comparison(quantity, groups, "networks", "ratio", found, claimed, (1.0,), "different", "log",
                          ctx.method, INCONCLUSIVE, why="a value ≤ 0: no ratio of two positive numbers")
    ratio = value_a / value_b
    found = stats.Interval(ratio, ratio, ratio, (1, 1), stats.LEVEL, "one network each, measured")
    low, high = 1 / (1 + d), 1 + d
    beyond = 1 if ratio > high else -1 if ratio < low else 0
    wanted = 1 if claimed == ABOVE else -1
    verdict = INCONCLUSIVE if beyond == 0 else SUPPORTED if beyond == wanted else CONTRADICTED
    return Comparison(quantity, groups, "networks", "ratio", found, claimed, (high if claimed == ABOVE else low,),
                      "different", "log", ctx.method, verdict,
                      why="a measurement of two named networks, not a comparison of configurations; this suite's "
                          "seed numbers do not reproduce the study's networks")


# ============================================================================ evidence by configuration

class MissingEvidence(ValueError):
    """The frame lacks a number the check needs (the claim stays pending)."""


def _flatten(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flatten(v)]
    return [value]


def config_group(value: Any) -> list[str]:
    return [str(v) for v in _flatten(value)]


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, pd.DataFrame) and value.empty)


def final_epochs(history: pd.DataFrame, config: str) -> pd.DataFrame:
    """The last completed epoch of each seed of ``config``."""
    rows = history[history["config"] == config]
    if rows.empty:
        raise MissingEvidence(f"no completed epoch for configuration {config!r}")
    return rows.sort_values("epoch").groupby("run", sort=False).tail(1).sort_values("seed")


def per_seed(frame: pd.DataFrame, config: str, column: str, what: str, **where: Any) -> np.ndarray:
    rows = frame[frame["config"] == config]
    for key, value in where.items():
        rows = rows[rows[key] == value]
    if rows.empty:
        raise MissingEvidence(f"no {what} for configuration {config!r}")
    return rows.sort_values("seed")[column].to_numpy(float)


def _epochs_to_reach(rows: pd.DataFrame, threshold: float, column: str = "test_acc") -> int | None:
    hit = rows[rows[column] >= threshold]
    return int(hit["epoch"].iloc[0]) if len(hit) else None


def ordered(ctx: Context, name: str, values: Callable[[str], np.ndarray], order: list) -> list[Comparison]:
    """Every earlier group of ``order`` above every later one (ratios of geometric means)."""
    groups = [config_group(g) for g in order]
    pooled = {"/".join(g): np.concatenate([values(c) for c in g]) for g in groups}
    names = list(pooled)
    return [two_groups(ctx, name, names[i], names[j], pooled[names[i]], pooled[names[j]], positive=True)
            for i in range(len(names)) for j in range(i + 1, len(names))]


@dataclass(frozen=True)
class Check:
    function: Callable[..., list[Comparison]]
    needs: str | tuple[str, ...]  # key(s) of the evidence mapping handed to ``judge``, in argument order
    run_args: tuple[str, ...]  # arguments that name configurations (an id, or lists / lists of lists of them)
    scores_divergence: bool = False  # the check judges diverged runs itself (else they are left out)
    study_method: StudyMethod | None = None  # the arguments that decide the claim by the study's method
    unit: str = "seeds"  # what :func:`design` counts per configuration: seeds, pooled seeds, pairs or share
    min_units: int = stats.MIN_UNITS
    choices: dict = field(default_factory=dict)  # argument -> the values it may take

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.needs,) if isinstance(self.needs, str) else tuple(self.needs)

    @property
    def arguments(self) -> list[str]:
        """Every argument a params entry may give: the function's parameters after the evidence."""
        return list(inspect.signature(self.function).parameters)[1 + len(self.keys):]
