"""The study's claims, each with a verdict computed from this report's seeds.

A claim is listed in the params file under ``reference.claims`` either as plain text (not
checked yet: verdict *pending*) or as a mapping that names the check that decides it; its
arguments name configurations (``runs`` entries), each trained with several seeds::

    - text: "Model B converges faster than Model A."
      check: converges_faster
      args: {faster: B, slower: A}

``parse`` validates that list up front (an unknown check, argument, threshold or configuration
is a ParamsError naming it; ``params.load_params`` calls it), :func:`design` says before any
training which claims the seeds cannot decide, and :func:`evaluate` runs every check whose
evidence is available and returns :class:`Claim` records.

Evidence is structured. A check returns the :class:`Comparison` records its claim's text calls
for, one per stated direction or size: what is compared, the groups with their sizes and
summaries, the effect with its 95% interval and the scale it is on, the claimed side of a declared
threshold (``landscape.verdicts.thresholds``), the method, the p-value of the test the interval inverts,
and the comparison's verdict before and after the multiplicity correction. Text is written from
these records only at the edge (the claims table, findings, the index headline); nothing reads
prose back.

Rules (:data:`RULE`, printed in every report):

- a comparison is *supported* when its interval lies wholly on the claimed side of its threshold,
  *contradicted* when wholly on the other side, else *inconclusive*; *undecidable* when a group
  has fewer than ``stats.MIN_UNITS`` independent units (a barrier: fewer than
  :data:`MIN_PAIRS` disjoint pairs) or when no outcome of its units could decide it (a share of 3
  seeds can never lie above one half at 95%);
- a claim's parts combine: *supported* when all are, *mixed* when some are supported and some
  contradicted, *contradicted* when some are and none is supported, *undecidable* when a part is
  and none is contradicted, else *inconclusive*;
- a report's comparisons are one family: decisions use Holm's correction (:data:`CORRECTION`),
  and both the raw and the adjusted verdicts are kept;
- positive quantities (λ, sharpness, barriers, flatness, relative changes) are compared on the log
  scale (geometric means and their ratio);
- a seed that diverged or failed is left out of checks that do not score divergence (the claim
  says so); checks that score it say how;
- where a check can also be decided with the study's own method (its one-mini-batch power
  iteration, SAM's single first-order step, unnormalized random slices, relative weight noise,
  BN statistics interpolated), the claim carries that verdict too, with what changes between the
  methods (:class:`StudyMethod`).
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import stats
from . import thresholds as thresholds_mod
from ..core.errors import ParamsError
from ..learning.training import outcome
from .thresholds import Threshold

if TYPE_CHECKING:  # params are read here, never built: no import of the pipeline at run time
    from ..pipeline.params import ReportParams

SUPPORTED, CONTRADICTED, MIXED = "supported", "contradicted", "mixed"
INCONCLUSIVE, UNDECIDABLE, PENDING = "inconclusive", "undecidable with these seeds", "pending"
VERDICTS = (SUPPORTED, CONTRADICTED, MIXED, INCONCLUSIVE, UNDECIDABLE, PENDING)
DECIDED = (SUPPORTED, CONTRADICTED)
DEPENDS = "depends on the method"
ABOVE, BELOW, WITHIN = "above", "below", "within"
OURS, STUDY = "ours", "study's"
MIN_PAIRS = 4  # disjoint seed pairs a barrier claim needs (a barrier's pairs share no endpoint)
MIN_TAU_UNITS = 5  # below 5 seeds no ordering reaches p < 0.05 in Kendall's exact test (2/4! > 0.05)
CORRECTION = "Holm"
CORRECTION_WHY = ("Holm's step-down correction over every comparison of the report's claims (family-wise error "
                  "at 5% under any dependence between them): each verdict is a statement about a published claim, "
                  "and a report with one false verdict among its five is wrong, so the chance of any false decision "
                  "is what is controlled; Holm is never less powerful than Bonferroni. Comparisons by the study's "
                  "method form a second family, corrected the same way.")
RULE = ("A comparison is supported when the 95% interval of its effect lies wholly on the claimed side of its "
        "threshold (no effect, or a declared size), contradicted when wholly on the other side, inconclusive "
        "otherwise, and undecidable with these seeds when a group has fewer than 3 independent units (a barrier: "
        "4 disjoint pairs) or no outcome could decide it. A claim is supported when all its parts are, mixed when "
        "some are supported and some contradicted, contradicted when some are and none is supported. Decisions are "
        f"corrected for multiplicity ({CORRECTION}); positive quantities are compared on the log scale.")


# ============================================================================ records

@dataclass(frozen=True)
class Group:
    """One side of a comparison: its name, independent units and summary (mean or geometric
    mean with its 95% interval)."""

    name: str
    n: int
    summary: stats.Interval


@dataclass(frozen=True)
class Comparison:
    """One stated direction or size of a claim, decided from its interval.

    ``interval`` is the effect (a difference, a ratio, a share, ...) on ``scale``; ``claimed`` says
    on which side of ``bounds`` the claim puts it (``within``: between two bounds);
    ``threshold`` names the declared threshold behind ``bounds`` (None: no effect, 0 or a ratio of
    1). ``p`` is the two-sided p-value of the decision's test (nan: nothing to test, e.g. an
    undecidable comparison or a measurement of two named networks); ``adjusted`` and
    ``p_adjusted`` are set by the multiplicity correction."""

    quantity: str
    groups: tuple[Group, ...]
    unit: str
    effect: str
    interval: stats.Interval
    claimed: str
    bounds: tuple[float, ...]
    threshold: str | None = None
    scale: str = "linear"
    method: str = OURS
    raw: str = INCONCLUSIVE
    p: float = math.nan
    adjusted: str | None = None
    p_adjusted: float | None = None
    why: str = ""  # why undecidable, or how divergence was scored

    @property
    def verdict(self) -> str:
        """The verdict after the multiplicity correction (before it: the raw one)."""
        return self.raw if self.adjusted is None else self.adjusted

    def text(self) -> str:
        """The comparison in one clause, from its fields."""
        digits = 3 if self.scale == "log" else 4
        bound = (" and ".join(stats.number_text(b) for b in self.bounds) if self.claimed == WITHIN
                 else stats.number_text(self.bounds[0], digits))
        where = f"'{self.threshold}'" if self.threshold else "no effect"
        if self.unit == "networks":  # one value each: no interval to show
            sides = " vs ".join(f"{g.name} {stats.number_text(g.summary.estimate, digits)}" for g in self.groups)
            effect = f"{self.effect} {stats.number_text(self.interval.estimate, digits)} (measured)"
        else:
            sides = " vs ".join(f"{g.name} {_value(g.summary, digits)} (n = {g.n})" for g in self.groups)
            effect = (f"{self.effect} {self.interval.text(digits)} ({self.interval.method}, 95%)"
                      if self.interval.defined else f"{self.effect} {_value(self.interval, digits)} (no interval)")
        text = f"{self.quantity}: {sides}; {effect}; claimed {self.claimed} {bound} ({where}) → {self.raw}"
        if self.adjusted is not None and self.adjusted != self.raw:
            text += f", {self.adjusted} after {CORRECTION} (adjusted p {stats.number_text(self.p_adjusted, 2)})"
        return text + (f" [{self.why}]" if self.why else "")

    def record(self) -> dict:
        """The comparison as plain data (for metrics.json)."""
        def interval(i: stats.Interval) -> dict:
            return {"estimate": _finite(i.estimate), "low": _finite(i.low), "high": _finite(i.high),
                    "n": list(i.n) if isinstance(i.n, tuple) else i.n, "method": i.method}
        return {"quantity": self.quantity, "unit": self.unit, "effect": self.effect, "scale": self.scale,
                "groups": [{"name": g.name, "n": g.n, "summary": interval(g.summary)} for g in self.groups],
                "interval": interval(self.interval), "claimed": self.claimed, "bounds": list(self.bounds),
                "threshold": self.threshold, "method": self.method, "verdict_raw": self.raw,
                "p": _finite(self.p), "verdict_adjusted": self.adjusted, "p_adjusted": _finite(self.p_adjusted),
                "note": self.why}


def _value(interval: stats.Interval, digits: int) -> str:
    """An interval's text, or only its estimate when it has no interval (its n is shown beside)."""
    return interval.text(digits) if interval.defined else stats.number_text(interval.estimate, digits)


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True)
class StudyMethod:
    """The arguments that decide a claim by the study's method, and what they change."""

    args: dict
    change: str


@dataclass(frozen=True)
class Claim:
    """A claim with its comparisons by our method and, where the check has one, by the study's."""

    text: str
    check: str | None = None
    parts: tuple[Comparison, ...] = ()
    study_parts: tuple[Comparison, ...] = ()
    study_change: str | None = None
    pending: str | None = None  # why there is no verdict: no check, or evidence missing
    left_out: tuple[str, ...] = ()  # seeds left out, and why
    design: str | None = None  # why these seeds cannot decide the claim (known before training)

    @property
    def verdict(self) -> str:
        return PENDING if self.pending is not None else combine([p.verdict for p in self.parts])

    @property
    def raw_verdict(self) -> str:
        """The verdict before the multiplicity correction."""
        return PENDING if self.pending is not None else combine([p.raw for p in self.parts])

    @property
    def study_verdict(self) -> str | None:
        return combine([p.verdict for p in self.study_parts]) if self.study_parts else None

    @property
    def headline(self) -> str:
        """The verdict, or "depends on the method" when the study's method decides otherwise."""
        if self.study_verdict is not None and self.study_verdict != self.verdict:
            return DEPENDS
        return self.verdict

    def deciding(self) -> list[Comparison]:
        """The parts that carry the verdict: for mixed, the supported and contradicted ones; else
        those whose verdict is the claim's (all of them when it is supported)."""
        wanted = DECIDED if self.verdict == MIXED else (self.verdict,)
        return [p for p in self.parts if p.verdict in wanted] or list(self.parts)

    def evidence(self) -> str:
        """Every part's clause, then the seeds left out; or why it is pending."""
        if self.pending is not None:
            return self.pending
        text = "; ".join(p.text() for p in self.parts)
        return text + (f"; left out: {'; '.join(self.left_out)}" if self.left_out else "")

    def study_evidence(self) -> str | None:
        return "; ".join(p.text() for p in self.study_parts) if self.study_parts else None

    def record(self) -> dict:
        """The claim as plain data (for metrics.json)."""
        return {"text": self.text, "check": self.check, "verdict": self.headline, "ours": self.verdict,
                "ours_raw": self.raw_verdict, "study_method": self.study_verdict, "study_change": self.study_change,
                "pending": self.pending, "design": self.design, "left_out": list(self.left_out),
                "comparisons": [p.record() for p in self.parts],
                "study_comparisons": [p.record() for p in self.study_parts]}


def combine(verdicts: Sequence[str]) -> str:
    """A claim's verdict from its parts' (see the module docstring); no part is ever dropped."""
    found = set(verdicts)
    if not found:
        return INCONCLUSIVE
    if SUPPORTED in found and CONTRADICTED in found:
        return MIXED
    if CONTRADICTED in found:
        return CONTRADICTED
    if found == {SUPPORTED}:
        return SUPPORTED
    return UNDECIDABLE if UNDECIDABLE in found else INCONCLUSIVE


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


def _positive(values: Sequence[float]) -> bool:
    arr = np.asarray(values, float)
    arr = arr[~np.isnan(arr)]
    return bool(len(arr)) and bool((arr > 0).all())


def summary(values: Sequence[float], positive: bool = False) -> stats.Interval:
    """A group's summary: the geometric mean (positive quantities) or the mean, with its interval."""
    return stats.geometric_ci(values) if positive and _positive(values) else stats.mean_ci(values)


def _n(values: Sequence[float]) -> int:
    return int(np.sum(~np.isnan(np.asarray(values, float))))


def two_groups(ctx: Context, quantity: str, a: str, b: str, values_a: Sequence[float], values_b: Sequence[float],
               positive: bool = False, claimed: str = ABOVE, unit: str = "seeds", min_units: int = stats.MIN_UNITS
               ) -> Comparison:
    """"a's values exceed b's": a Welch difference of means, or for a positive quantity the ratio
    of geometric means (Welch on logs, claimed above 1)."""
    log = positive and _positive(values_a) and _positive(values_b)
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
    log = positive and _positive(values)
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


def _group(value: Any) -> list[str]:
    return [str(v) for v in _flatten(value)]


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, pd.DataFrame) and value.empty)


def _finals(history: pd.DataFrame, config: str) -> pd.DataFrame:
    """The last completed epoch of each seed of ``config``."""
    rows = history[history["config"] == config]
    if rows.empty:
        raise MissingEvidence(f"no completed epoch for configuration {config!r}")
    return rows.sort_values("epoch").groupby("run", sort=False).tail(1).sort_values("seed")


def _per_seed(frame: pd.DataFrame, config: str, column: str, what: str, **where: Any) -> np.ndarray:
    rows = frame[frame["config"] == config]
    for key, value in where.items():
        rows = rows[rows[key] == value]
    if rows.empty:
        raise MissingEvidence(f"no {what} for configuration {config!r}")
    return rows.sort_values("seed")[column].to_numpy(float)


def _epochs_to_reach(rows: pd.DataFrame, threshold: float, column: str = "test_acc") -> int | None:
    hit = rows[rows[column] >= threshold]
    return int(hit["epoch"].iloc[0]) if len(hit) else None


# ============================================================================ history checks

def converges_faster(ctx: Context, history: pd.DataFrame, faster: str, slower: str) -> list[Comparison]:
    """``faster`` converges faster than ``slower``: higher val (test) accuracy after epoch 1, and
    (with more than one epoch) fewer epochs to reach the lower of the two configurations' mean
    final val accuracies (a seed that never reaches it counts as one epoch past the last)."""
    first = {c: _per_seed(history, c, "test_acc", "epoch 1", epoch=1) for c in (faster, slower)}
    parts = [two_groups(ctx, "epoch-1 val acc", faster, slower, first[faster], first[slower])]
    epochs = int(history["epoch"].max())
    if epochs > 1:
        threshold = min(float(_finals(history, c)["test_acc"].mean()) for c in (faster, slower))
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
    fb, fw = _finals(history, better), _finals(history, worse)
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
    for config in _group(diverged):
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
    for config in _group(runs):
        finals = _finals(history, config)
        parts.append(one_group(ctx, "final val acc", config, finals["test_acc"].to_numpy(float), WITHIN,
                               [chance - acc_tol, chance + acc_tol], "chance_accuracy"))
        parts.append(one_group(ctx, "final val loss (nats)", config, finals["test_loss"].to_numpy(float), WITHIN,
                               [uniform - loss_tol, uniform + loss_tol], "chance_loss"))
    return parts


def _scored(history: pd.DataFrame, runs: pd.DataFrame, config: str, chance: float | None) -> list[float]:
    """Final val accuracy per seed of ``config``; a diverged seed scores ``chance`` (or is left
    out when ``chance`` is None)."""
    rows = _status_rows(runs, config)
    finals = _finals(history, config).set_index("run") if (history["config"] == config).any() else pd.DataFrame()
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
    configs = list(dict.fromkeys(_group([larger, smaller])))
    weights = dict.fromkeys(configs, 0.0)
    for sign, (with_, without) in ((1.0, larger), (-1.0, smaller)):
        for side, factor in ((_group(with_), 1.0), (_group(without), -1.0)):
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


# ============================================================================ probe checks
# Evidence frames come from ``landscape.probes`` (see ``ProbeResults.evidence``), one row per
# run (``config``, ``seed``) or pair of runs.

def _noise_means(noise: pd.DataFrame, config: str, metric: str, scale: str = "absolute") -> pd.DataFrame:
    """seed x σ: the mean over draws of ``metric`` under ``scale`` weight noise."""
    rows = noise[(noise["config"] == config) & (noise["metric"] == metric) & (noise["scale"] == scale)]
    if rows.empty:
        raise MissingEvidence(f"no {scale} weight-noise {metric} for configuration {config!r}")
    return rows.pivot_table(index="seed", columns="sigma", values="mean").sort_index()


def more_noise_robust(ctx: Context, noise: pd.DataFrame, robust: str, fragile: str, scale: str = "absolute"
                      ) -> list[Comparison]:
    """``robust`` loses less accuracy than ``fragile`` under ``scale`` weight noise (ours:
    absolute σ; the study's: σ relative to each weight): per seed the accuracy drop from σ = 0,
    averaged over the σ > 0 of the grid (mean over draws), compared between the configurations
    (Welch)."""
    drops = {}
    for c in (robust, fragile):
        acc = _noise_means(noise, c, "accuracy", scale)
        if 0.0 not in acc.columns or not (acc.columns > 0).any():
            raise MissingEvidence("the noise probe needs σ = 0 and at least one σ > 0")
        drops[c] = acc.rsub(acc[0.0], axis=0).loc[:, acc.columns > 0].mean(axis=1).to_numpy(float)
    return [two_groups(ctx, f"accuracy drop from σ = 0, mean over the σ > 0 of the grid ({scale} noise)", fragile,
                       robust, drops[fragile], drops[robust])]


def _slice_rises(frame: pd.DataFrame, config: str, direction: str, split: str = "train") -> np.ndarray:
    rows = frame[(frame["config"] == config) & (frame["direction"] == direction) & (frame["split"] == split)]
    if rows.empty:
        raise MissingEvidence(f"no {direction} slice for configuration {config!r}")
    rises = []
    for _, seed_rows in rows.groupby("seed"):
        centre = seed_rows.loc[seed_rows["alpha"].abs().idxmin(), "loss"]
        rises.append(float((seed_rows[seed_rows["alpha"] != 0]["loss"] - centre).mean()))
    return np.asarray(rises)


def steeper_slice(ctx: Context, slice1d: pd.DataFrame, steeper: str, flatter: str, direction: str = "filter"
                  ) -> list[Comparison]:
    """``steeper``'s 1D slice rises more than ``flatter``'s: per seed the mean over the α grid of
    L(θ + α d) − L(θ) on the train probe set along one ``direction`` kind (ours: filter-normalized;
    the study's: an unnormalized random direction). A rise can be negative: a difference of means."""
    return [two_groups(ctx, f"mean loss rise along the {direction} direction (nats)", steeper, flatter,
                       _slice_rises(slice1d, steeper, direction), _slice_rises(slice1d, flatter, direction))]


def _order(ctx: Context, name: str, values: Callable[[str], np.ndarray], order: list) -> list[Comparison]:
    """Every earlier group of ``order`` above every later one (ratios of geometric means)."""
    groups = [_group(g) for g in order]
    pooled = {"/".join(g): np.concatenate([values(c) for c in g]) for g in groups}
    names = list(pooled)
    return [two_groups(ctx, name, names[i], names[j], pooled[names[i]], pooled[names[j]], positive=True)
            for i in range(len(names)) for j in range(i + 1, len(names))]


def lambda_max_order(ctx: Context, hessian: pd.DataFrame, order: list, method: str = "lanczos") -> list[Comparison]:
    """The configurations of ``order`` (ids, or lists pooled as one group) have descending top
    Hessian eigenvalues: ours by Lanczos on the train probe set, the study's (``method:
    study``) by power iteration on one mini-batch."""
    what = "λmax (Lanczos, train probe set)" if method == "lanczos" else "λmax (study's method: one mini-batch)"
    return _order(ctx, what, lambda c: _per_seed(hessian, c, "lambda_max", f"{method} λmax", method=method), order)


def sharpness_order(ctx: Context, sharpness: pd.DataFrame, order: list, kind: str = "sam",
                    column: str = "sharpness") -> list[Comparison]:
    """The configurations of ``order`` have descending ε-sharpness of ``kind`` (``sam`` or
    ``asam``): ours after the projected ascent, the study's (``column: first_order``) at SAM's
    single first-order step (train probe set)."""
    what = f"{kind.upper()} sharpness ({'projected ascent' if column == 'sharpness' else 'first-order step'}, nats)"
    return _order(ctx, what, lambda c: _per_seed(sharpness, c, column, f"{kind} sharpness", kind=kind), order)


def well_conditioned(ctx: Context, hessian: pd.DataFrame, runs: list) -> list[Comparison]:
    """Each configuration is well-conditioned in most seeds: the share of seeds whose Hessian on
    the train probe set is positive definite with λmax/λmin ≤ 'well_conditioned' lies above
    'more_often' (exact 95% interval). Negative curvature (the condition number is then
    undefined) or a larger ratio counts against; a seed whose smallest eigenvalue did not
    converge is left out."""
    limit = ctx.value("well_conditioned")
    parts = []
    for config in _group(runs):
        rows = hessian[(hessian["config"] == config) & (hessian["method"] == "lanczos")]
        if rows.empty:
            raise MissingEvidence(f"no Hessian for configuration {config!r}")
        known = rows[rows["condition_number"].notna() | rows["lambda_min"].notna()]
        good = int((known["condition_number"] <= limit).sum())
        parts.append(share(ctx, f"share of seeds with 0 < κ ≤ {limit:g}", config, good, len(known)))
    return parts


def least_flat(ctx: Context, flatness: pd.DataFrame, least: list, others: list) -> list[Comparison]:
    """The configurations of ``least`` have a larger flatness |ΔL| (the study's: mean over noise
    draws) than each group of ``others`` (ratio of geometric means)."""
    def values(group: list[str]) -> np.ndarray:
        return np.concatenate([_per_seed(flatness, c, "mean", "flatness") for c in group])

    top = _group(least)
    return [two_groups(ctx, "|ΔL| under weight noise (nats)", "/".join(top), "/".join(group), values(top),
                       values(group), positive=True) for group in [_group(g) for g in others]]


def flatter_generalizes_better(ctx: Context, hessian: pd.DataFrame, history: pd.DataFrame, runs: list
                               ) -> list[Comparison]:
    """Across the seeds of the configurations of ``runs``, a lower λmax (Lanczos) goes with a
    higher final val accuracy: Kendall's τ between the two is negative, with a paired-bootstrap
    95% interval (at least :data:`MIN_TAU_UNITS` seeds)."""
    lams, accs = [], []
    for config in _group(runs):
        lam = hessian[(hessian["config"] == config) & (hessian["method"] == "lanczos")].set_index("run")["lambda_max"]
        finals = _finals(history, config).set_index("run")["test_acc"]
        both = lam.index.intersection(finals.index)
        lams += list(lam[both])
        accs += list(finals[both])
    found = stats.kendall_tau(lams, accs)
    group = Group("/".join(_group(runs)), len(lams), summary(lams, positive=True))
    return [compare(ctx, "λmax (Lanczos) against final val acc over seeds", [group], "seeds", "Kendall τ", found,
                    BELOW, [0.0], min_units=MIN_TAU_UNITS)]


def lambda_max_spread(ctx: Context, hessian: pd.DataFrame, runs: list, flatter: str | None = None,
                      method: str = "lanczos") -> list[Comparison]:
    """Seeds of one configuration land in minima of different sharpness: the spread of λmax over
    seeds (SD of log λmax, chi-square interval) lies above 'different'. With ``flatter``
    (``first`` or ``second``), the claim also names which of the study's two networks is flatter:
    that part compares the configuration's first two seeds (the study's pair) as a measurement of
    two networks (:func:`measured`)."""
    config = _group(runs)[0]
    rows = hessian[(hessian["config"] == config) & (hessian["method"] == method)].sort_values("seed")
    if rows.empty:
        raise MissingEvidence(f"no {method} λmax for configuration {config!r}")
    values = rows["lambda_max"].to_numpy(float)
    what = "λmax (Lanczos)" if method == "lanczos" else "λmax (study's method)"
    positive = _positive(values)
    spread = (stats.log_sd_ci(values) if positive else
              stats.Interval(math.nan, math.nan, math.nan, len(values), stats.LEVEL, "chi-square"))
    parts = [compare(ctx, f"spread of {what} over seeds", [Group(config, len(values), summary(values, True))],
                     "seeds", "SD of log λmax", spread, ABOVE, [ctx.value("different")], "different", "log",
                     why="" if positive else "λmax ≤ 0 in a seed (a point that curves down): no spread on logs")]
    if flatter is not None:
        if len(values) < 2:
            raise MissingEvidence(f"the study's pair needs two seeds of {config!r}")
        seeds = rows["seed"].tolist()
        first, second = f"{config} seed {seeds[0]}", f"{config} seed {seeds[1]}"
        parts.append(measured(ctx, f"{what} of the study's pair", first, second, values[0], values[1],
                              BELOW if flatter == "first" else ABOVE))
    return parts


BARRIER_FLOOR = 1e-3  # nats: a barrier at or below 0 is taken as this on the log scale


def loss_barrier(ctx: Context, barriers: pd.DataFrame, configs: list, size: str = "barrier",
                 smallest: str | None = None, bn: str = "recompute") -> list[Comparison]:
    """Every configuration's minima are separated by a loss barrier of at least the ``size``
    threshold ('barrier' or 'high_barrier'): on each split the geometric mean over its disjoint
    seed pairs (at least :data:`MIN_PAIRS`; a barrier ≤ 0 counts as :data:`BARRIER_FLOOR`) lies
    above it, its interval on logs. With ``smallest``, that configuration's barrier is also below
    every other one's (ratio of geometric means). BatchNorm statistics are recomputed at each
    point of the path (ours; the study interpolated them: ``bn: interpolate``); a network without
    BatchNorm has one path."""
    parts, by_config = [], {}
    for config in _group(configs):
        rows = barriers[barriers["config"] == config]
        if rows.empty:
            raise MissingEvidence(f"no barrier for configuration {config!r}")
        treatment = bn if bn in set(rows["bn"]) else "interpolate"
        rows = rows.assign(loss_barrier=rows["loss_barrier"].clip(lower=BARRIER_FLOOR))
        rows = rows[rows["bn"] == treatment]
        by_config[config] = rows
        for split, split_rows in rows.groupby("split", sort=False):
            parts.append(one_group(ctx, f"{split} loss barrier (BN {treatment}; nats)", config,
                                   split_rows["loss_barrier"].to_numpy(float), ABOVE, [ctx.value(size)], size,
                                   positive=True, unit="disjoint pairs", min_units=MIN_PAIRS))
    if smallest is not None:
        if smallest not in by_config:
            raise MissingEvidence(f"configuration {smallest!r} is not among the configurations")
        mine = by_config[smallest]
        for other, rows in by_config.items():
            if other == smallest:
                continue
            for split in dict.fromkeys(mine["split"]):
                parts.append(two_groups(ctx, f"{split} loss barrier (nats)", other, smallest,
                                        rows[rows["split"] == split]["loss_barrier"].to_numpy(float),
                                        mine[mine["split"] == split]["loss_barrier"].to_numpy(float), positive=True,
                                        unit="disjoint pairs", min_units=MIN_PAIRS))
    return parts


def noise_thresholds(ctx: Context, noise: pd.DataFrame, runs: list, small: list = (0.01, 0.02),
                     medium: list = (), large: float = 0.1) -> list[Comparison]:
    """Absolute weight noise: at every σ in ``small`` the relative change of the mean test loss,
    |L(σ) − L(0)| / L(0), stays below 'barely_changes'; at every σ in ``medium`` it degrades
    slightly (the relative change lies above 'barely_changes' and the accuracy drop below
    'slight'); at σ = ``large`` the accuracy drop lies above 'collapses'. Relative changes are
    positive: geometric means over seeds."""
    barely, slight, collapse = ctx.value("barely_changes"), ctx.value("slight"), ctx.value("collapses")
    parts = []
    for config in _group(runs):
        loss, acc = _noise_means(noise, config, "loss"), _noise_means(noise, config, "accuracy")
        for sigma in [0.0, *map(float, small), *map(float, medium), float(large)]:
            if sigma not in loss.columns:
                raise MissingEvidence(f"σ {sigma:g} was not measured")

        def change(sigma: float) -> np.ndarray:
            return ((loss[sigma] - loss[0.0]).abs() / loss[0.0]).to_numpy(float)

        def drop(sigma: float) -> np.ndarray:
            return (acc[0.0] - acc[sigma]).to_numpy(float)

        for sigma in map(float, small):
            parts.append(one_group(ctx, f"σ {sigma:g}: relative test-loss change", config, change(sigma), BELOW,
                                   [barely], "barely_changes", positive=True))
        for sigma in map(float, medium):
            parts.append(one_group(ctx, f"σ {sigma:g}: relative test-loss change", config, change(sigma), ABOVE,
                                   [barely], "barely_changes", positive=True))
            parts.append(one_group(ctx, f"σ {sigma:g}: test-accuracy drop", config, drop(sigma), BELOW, [slight],
                                   "slight"))
        parts.append(one_group(ctx, f"σ {float(large):g}: test-accuracy drop", config, drop(float(large)), ABOVE,
                               [collapse], "collapses"))
    return parts


# ============================================================================ the registry

@dataclass(frozen=True)
class Check:
    function: Callable[..., list[Comparison]]
    needs: str | tuple[str, ...]  # key(s) of the evidence mapping handed to ``evaluate``, in argument order
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


CHECKS: dict[str, Check] = {
    "converges_faster": Check(converges_faster, "history", ("faster", "slower")),
    "generalizes_better": Check(generalizes_better, "history", ("better", "worse")),
    "diverges": Check(diverges, "runs", ("diverged",), scores_divergence=True, unit="share"),
    "does_not_learn": Check(does_not_learn, "history", ("runs",)),
    "main_effect_larger": Check(main_effect_larger, ("history", "runs"), ("larger", "smaller"),
                                scores_divergence=True),
    "more_noise_robust": Check(more_noise_robust, "noise", ("robust", "fragile"), study_method=StudyMethod(
        {"scale": "relative"},
        "weight noise relative to each weight's size (the study's) instead of absolute σ (ours)"),
        choices={"scale": ("absolute", "relative")}),
    "steeper_slice": Check(steeper_slice, "slice1d", ("steeper", "flatter"), study_method=StudyMethod(
        {"direction": "random"}, "an unnormalized random direction (the study's) instead of a filter-normalized one "
        "(ours)"), choices={"direction": ("filter", "random")}),
    "lambda_max_order": Check(lambda_max_order, "hessian", ("order",), study_method=StudyMethod(
        {"method": "study"}, "power iteration on one mini-batch (the study's) instead of Lanczos on the train probe "
        "set (ours)"), choices={"method": ("lanczos", "study")}),
    "lambda_max_spread": Check(lambda_max_spread, "hessian", ("runs",), study_method=StudyMethod(
        {"method": "study"}, "power iteration on one mini-batch (the study's) instead of Lanczos on the train probe "
        "set (ours)"), choices={"method": ("lanczos", "study"), "flatter": ("first", "second")}),
    "sharpness_order": Check(sharpness_order, "sharpness", ("order",), study_method=StudyMethod(
        {"column": "first_order"}, "SAM's single first-order step (the study's) instead of the projected ascent "
        "(ours)"), choices={"kind": ("sam", "asam"), "column": ("sharpness", "first_order")}),
    "well_conditioned": Check(well_conditioned, "hessian", ("runs",), unit="share"),
    "least_flat": Check(least_flat, "flatness", ("least", "others")),
    "flatter_generalizes_better": Check(flatter_generalizes_better, ("hessian", "history"), ("runs",),
                                        unit="pooled seeds", min_units=MIN_TAU_UNITS),
    "loss_barrier": Check(loss_barrier, "barriers", ("configs",), study_method=StudyMethod(
        {"bn": "interpolate"}, "BatchNorm statistics interpolated along the path (the study's) instead of recomputed "
        "at each point (ours)"), unit="pairs", min_units=MIN_PAIRS,
        choices={"size": ("barrier", "high_barrier"), "bn": ("recompute", "interpolate")}),
    "noise_thresholds": Check(noise_thresholds, "noise", ("runs",)),
}


@dataclass(frozen=True)
class ClaimSpec:
    """One entry of ``reference.claims``: the text and, if checked, the check and its arguments."""

    text: str
    check: str | None = None
    args: dict = field(default_factory=dict)


def parse(params: ReportParams) -> list[ClaimSpec]:
    """``reference.claims`` as ClaimSpecs; a malformed entry (or ``reference.thresholds``
    override) is a ParamsError naming it."""
    thresholds_mod.resolve(params)
    raw = (params.reference.model_extra or {}).get("claims") or []
    if not isinstance(raw, list):
        raise ParamsError("reference.claims: expected a list of claims")
    config_ids = [r.id for r in params.runs]
    specs = []
    for i, entry in enumerate(raw):
        where = f"reference.claims.{i}"
        if isinstance(entry, str):
            specs.append(ClaimSpec(entry))
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            raise ParamsError(f"{where}: expected a string or a mapping with 'text' (and 'check', 'args')")
        unknown = sorted(set(entry) - {"text", "check", "args"})
        if unknown:
            raise ParamsError(f"{where}: unknown key(s) {unknown}; allowed keys: ['args', 'check', 'text']")
        name, args = entry.get("check"), entry.get("args") or {}
        if name is None:
            specs.append(ClaimSpec(entry["text"]))
            continue
        if not isinstance(name, str) or name not in CHECKS:
            raise ParamsError(f"{where}.check: unknown check {name!r}; allowed: {sorted(CHECKS)}")
        if not isinstance(args, dict):
            raise ParamsError(f"{where}.args: expected a mapping of argument -> value")
        check = CHECKS[name]
        optional = sorted(set(check.arguments) - set(check.run_args))
        if set(args) - set(check.arguments) or set(check.run_args) - set(args):
            raise ParamsError(f"{where}.args: check {name!r} takes {sorted(check.run_args)} (and optionally "
                              f"{optional}); got {sorted(map(str, args))}")
        for key in check.run_args:
            for config in _flatten(args[key]):
                if config not in config_ids:
                    raise ParamsError(f"{where}.args.{key}: unknown configuration {config!r}; runs are {config_ids}")
        for key, allowed in check.choices.items():
            if key in args and args[key] not in allowed:
                raise ParamsError(f"{where}.args.{key}: expected one of {list(allowed)}; got {args[key]!r}")
        specs.append(ClaimSpec(entry["text"], name, dict(args)))
    return specs


def _configs(check: Check, args: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(c for key in check.run_args for c in _flatten(args[key])))


def design(params: ReportParams, spec: ClaimSpec, ctx: Context | None = None) -> str | None:
    """Why the seeds ``params`` trains cannot decide ``spec`` at 95%, known before any training
    (None: they can, if every seed is usable)."""
    if spec.check is None:
        return None
    check, ctx = CHECKS[spec.check], ctx or Context(thresholds_mod.resolve(params))
    configs = _configs(check, spec.args)
    seeds = {c: len(params.replicates_of[c]) for c in configs}
    if check.unit == "pairs":
        pairs = {c: len(params.seed_pairs(c)) for c in configs}
        short = {c: n for c, n in pairs.items() if n < check.min_units}
        return (f"fewer than {check.min_units} disjoint seed pairs in "
                + ", ".join(f"{c} ({n})" for c, n in short.items())
                if short else None)
    if check.unit == "share":
        bound = ctx.value("more_often")
        short = {c: n for c, n in seeds.items() if stats.best_share_interval(n).low <= bound}
        return (f"a share of {', '.join(f'{n} seeds ({c})' for c, n in short.items())} cannot lie above {bound:g} at "
                f"95% even if every seed agrees (n of n: Clopper–Pearson lower bound "
                f"{stats.best_share_interval(min(short.values())).low:.2f})" if short else None)
    if check.unit == "pooled seeds":
        total = sum(seeds.values())
        return f"{total} seeds in all, fewer than {check.min_units}" if total < check.min_units else None
    short = {c: n for c, n in seeds.items() if n < check.min_units}
    return (f"fewer than {check.min_units} seeds in " + ", ".join(f"{c} ({n})" for c, n in short.items())
            if short else None)


def _decide(check: Check, ctx: Context, frames: Mapping[str, Any], args: Mapping[str, Any]
            ) -> tuple[list[Comparison], str | None]:
    try:
        return check.function(ctx, *[frames[k] for k in check.keys], **args), None
    except MissingEvidence as exc:
        return [], str(exc)


def evaluate(params: ReportParams, evidence: Mapping[str, Any]) -> list[Claim]:
    """Every claim of ``params`` with its verdict; ``evidence`` maps what checks need (e.g.
    ``{"history": history_frame, "runs": status_frame}``); a check whose evidence is missing
    stays pending. Decisions are corrected for multiplicity (:func:`adjust`)."""
    ctx = Context(thresholds_mod.resolve(params))
    claims = []
    for spec in parse(params):
        reason = design(params, spec, ctx)
        if spec.check is None:
            claims.append(Claim(spec.text, pending="no check implemented yet"))
            continue
        check = CHECKS[spec.check]
        left_out, frames = _usable(evidence, _configs(check, spec.args), check.scores_divergence)
        missing = [k for k in check.keys if _empty(frames.get(k))]
        if missing:
            why = (f"needs {', '.join(missing)}, which this report did not compute" if not left_out
                   else f"pending because {'; '.join(left_out)}")
            claims.append(Claim(spec.text, spec.check, pending=why, design=reason))
            continue
        parts, pending = _decide(check, ctx, frames, spec.args)
        study_parts: list[Comparison] = []
        if check.study_method is not None and pending is None:
            study_parts, study_pending = _decide(check, replace(ctx, method=STUDY), frames,
                                                 {**spec.args, **check.study_method.args})
            study_parts = [] if study_pending else study_parts
        claims.append(Claim(spec.text, spec.check, tuple(parts), tuple(study_parts),
                            check.study_method.change if study_parts else None, pending, tuple(left_out), reason))
    return adjust(claims)


def adjust(claims: Sequence[Claim]) -> list[Claim]:
    """The claims with every comparison's verdict corrected by :data:`CORRECTION` within its
    family (our method's comparisons; the study method's): a decided comparison stays decided
    only when its adjusted p-value is below 1 − LEVEL. A comparison without a test (undecidable,
    a measurement) keeps its raw verdict."""
    out = list(claims)
    for attribute in ("parts", "study_parts"):
        flat = [(i, j) for i, c in enumerate(out) for j in range(len(getattr(c, attribute)))]
        adjusted = stats.holm([getattr(out[i], attribute)[j].p for i, j in flat])
        updated = {i: list(getattr(out[i], attribute)) for i, _ in flat}
        for (i, j), q in zip(flat, adjusted):
            part = updated[i][j]
            if math.isnan(q):
                updated[i][j] = replace(part, adjusted=part.raw, p_adjusted=None)
            else:
                keep = part.raw not in DECIDED or q < 1 - stats.LEVEL
                updated[i][j] = replace(part, adjusted=part.raw if keep else INCONCLUSIVE, p_adjusted=float(q))
        for i, parts in updated.items():
            out[i] = replace(out[i], **{attribute: tuple(parts)})
    return out


def _usable(evidence: Mapping[str, Any], configs: list[str], scores_divergence: bool) -> tuple[list[str], dict]:
    """The evidence with the seeds of ``configs`` that cannot be scored left out of every frame
    (failed seeds always; diverged seeds unless the check scores divergence), and why each was
    left out ("run X diverged at epoch N")."""
    runs = evidence.get("runs")
    if _empty(runs):
        return [], dict(evidence)
    stopping = ("failed",) if scores_divergence else ("failed", "diverged")
    rows = runs[runs["config"].isin(configs) & runs["status"].isin(stopping)]
    reasons = []
    for _, row in rows.iterrows():
        if row["status"] == "failed":
            reasons.append(f"run {row['run']} failed ({row.get('error') or 'no reason recorded'})")
        else:
            epoch = row["diverged_epoch"]
            reasons.append(f"run {row['run']} {outcome(row['status'], None if pd.isna(epoch) else int(epoch))}")
    gone = set(rows["run"])
    frames = {}
    for key, frame in evidence.items():
        if key == "runs" or not isinstance(frame, pd.DataFrame) or not gone:
            frames[key] = frame
        elif "run" in frame.columns:
            frames[key] = frame[~frame["run"].isin(gone)]
        elif "run_a" in frame.columns:
            frames[key] = frame[~(frame["run_a"].isin(gone) | frame["run_b"].isin(gone))]
        else:
            frames[key] = frame
    return reasons, frames


# ============================================================================ text at the edge

def counts(claims: list[Claim]) -> dict[str, int]:
    """Number of claims per headline verdict (every verdict present, zeros included)."""
    found = {v: sum(c.headline == v for c in claims) for v in VERDICTS}
    depends = sum(c.headline == DEPENDS for c in claims)
    return {**found, DEPENDS: depends} if depends else found


def verdict_words(claim: Claim) -> str:
    """The claim's verdict as a reader should see it: by both methods when they differ."""
    if claim.headline == DEPENDS:
        return f"{claim.verdict} by our method, {claim.study_verdict} by the study's"
    return claim.headline


def table(claims: list[Claim]) -> pd.DataFrame:
    """One row per claim: the text, the headline verdict, the verdicts by our method (raw, before
    the correction, where it differs) and the study's, and the evidence from the records."""
    rows = []
    for c in claims:
        evidence = c.evidence()
        if c.design:
            evidence = f"Undecidable by design: {c.design}. " + evidence
        if c.study_parts:
            evidence += f" — by the study's method ({c.study_change}): {c.study_verdict}. {c.study_evidence()}"
        ours = c.verdict + (f" (uncorrected: {c.raw_verdict})" if c.raw_verdict != c.verdict else "")
        rows.append({"claim (study)": c.text, "verdict": c.headline,
                     "ours / study's method": ours + (f" / {c.study_verdict}" if c.study_verdict else ""),
                     "evidence (this report's seeds)": evidence})
    return pd.DataFrame(rows, columns=["claim (study)", "verdict", "ours / study's method",
                                       "evidence (this report's seeds)"])


def summary_sentence(claims: list[Claim]) -> str:
    """How many claims were checked and how they came out, in one sentence."""
    c = counts(claims)
    checked = len(claims) - c[PENDING]
    shown = [f"{c[v]} {v}" for v in (SUPPORTED, CONTRADICTED, MIXED, INCONCLUSIVE, UNDECIDABLE) if c[v]]
    text = (f"Of the study's {len(claims)} claims, {checked} can be checked against this report's seeds: "
            + (", ".join(shown) if shown else "none decided")
            + (f", {c[DEPENDS]} where the verdict depends on the method (ours vs the study's)"
               if c.get(DEPENDS) else "")
            + ".")
    if c[PENDING]:
        text += (f" {c[PENDING]} stay pending; the evidence column says why (a configuration without a usable seed, "
                 "a number this report does not compute, or no check yet).")
    return text + (f" Verdicts are corrected for multiplicity ({CORRECTION}: {len(claims)} claims, one family); with "
                   "few seeds an interval is wide and the verdict inconclusive.")
