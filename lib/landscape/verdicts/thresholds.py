"""The practical-significance thresholds every claim check decides against, declared once.

A verdict needs a size as well as a sign: "a barrier" is a rise of at least so many nats, "barely
changes" is a change below so much. Each threshold is declared here with its unit and the reason
for its value, shared by every report and printed once in each report's method section
(:func:`table`). A params file may override one under ``reference.thresholds`` only with a stated
reason, which the report prints beside the suite's value::

    reference:
      thresholds:
        barrier: {value: 0.2, reason: "the study calls 0.2 nats the smallest barrier it reads"}

:func:`resolve` validates such overrides (a ParamsError names the problem) and returns the
thresholds a report decides with.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Mapping

import pandas as pd

from ..core.errors import ParamsError

if TYPE_CHECKING:  # params are read here, never built: no import of the pipeline at run time
    from ..pipeline.params import ReportParams


@dataclass(frozen=True)
class Threshold:
    """A declared threshold: its value, unit, what it decides and why it has this value;
    ``override`` is the params file's reason when the report overrides the suite's value."""

    name: str
    value: float
    unit: str
    decides: str
    reason: str
    below: float | None = None  # the value must stay below this (a share or an accuracy: 1)
    override: str | None = None
    suite_value: float | None = None  # the suite's value, when overridden

    @property
    def source(self) -> str:
        return "suite" if self.override is None else "params (overridden)"


SUITE: dict[str, Threshold] = {t.name: t for t in (
    Threshold("barrier", 0.1, "nats above the straight line", "a loss barrier between two minima",
              "At a rise of 0.1 nats the true class's mean predicted probability on the path falls about 10% "
              "(e^−0.1 ≈ 0.90) below the endpoints'; smaller rises are within a few probe-set sampling errors "
              "of a mean loss (about 0.01–0.03 nats at the probe sizes used) and do not separate two minima."),
    Threshold("high_barrier", 0.5, "nats above the straight line", "a high loss barrier",
              "At 0.5 nats the true class's probability falls by about 40% (e^−0.5 ≈ 0.61) at the path's "
              "worst point: a barrier no reader would call low."),
    Threshold("barely_changes", 0.1, "relative change of the test loss, |L(σ) − L(0)| / L(0)",
              "weight noise that barely changes the loss",
              "A tenth of the loss is the smallest change a reader of a loss curve would notice; the studies' "
              "own 'barely' changes are a few percent."),
    Threshold("slight", 0.05, "test-accuracy drop (fraction of images)", "noise that degrades accuracy slightly",
              "Five points keeps a 90%-accurate model's error within 1.5 times its noise-free error (10% → 15%); "
              "a larger loss is a degradation a reader of the study would not call slight.", below=1.0),
    Threshold("collapses", 0.3, "test-accuracy drop (fraction of images)", "noise that collapses accuracy",
              "Losing 30 points takes a 90%-accurate 10-class model more than a third of the way to chance; "
              "the study's own collapse at σ = 0.1 lost about 50 points, a 'slight degradation' loses a few.",
              below=1.0),
    Threshold("different", 0.05, "spread of λmax over seeds (SD of log λmax, about the relative spread)",
              "minima of different sharpness",
              "A 5% spread is 50 times the Lanczos stopping tolerance (0.1% relative), so a larger spread is a "
              "property of the minima, not of the solver. The same 5% decides whether two named networks' λmax "
              "differ (a ratio beyond 1.05 either way)."),
    Threshold("well_conditioned", 10.0, "condition number λmax/λmin (positive-definite Hessian)",
              "a well-conditioned minimum",
              "At κ = 10 gradient descent at its best step contracts the error by (κ − 1)/(κ + 1) ≈ 0.82 per "
              "step; beyond it convergence slows in proportion to κ, the usual meaning of ill-conditioned."),
    Threshold("more_often", 0.5, "share of seeds", "'more often than not' (a share of seeds)",
              "A configuration 'diverges' or 'is well-conditioned' when it does so in most seeds: the share's "
              "exact 95% interval lies above one half.", below=1.0),
    Threshold("edge_band", 0.25, "λmax / 2(1+β)/η within 1/(1 + this) and 1 + this",
              "λmax at the stability threshold (the edge of stability)",
              "Cohen et al. (2021) describe λmax under full-batch gradient descent as hovering at or just above "
              "2/η once it gets there, oscillating as the loss falls; a point is measured between oscillations, so "
              "'at the threshold' needs a band. A quarter either way (on the log scale) admits that hovering and "
              "still separates it from a run that stops sharpening at three quarters of the threshold or "
              "overshoots it by more than a quarter, which is not 'at' it."),
    Threshold("chance_accuracy", 0.02, "accuracy within chance ± this", "a network that did not learn",
              "Two points is the 95% sampling error of one accuracy near 10% on about 900 test images "
              "(1.96·√(0.1·0.9/900) ≈ 0.02): closer to chance than that, a run is indistinguishable from "
              "guessing.", below=1.0),
    Threshold("chance_loss", 0.02, "nats within ln(classes) ± this", "a loss at a uniform prediction",
              "The loss of a uniform prediction is ln(classes) exactly; 0.02 nats keeps it as tight as the "
              "accuracy tolerance above (a 2% change in the predicted probability)."),
)}


DID_NOT_LEARN = "did not learn"  # the outcome of a completed run that ends at chance (:func:`at_chance`)


def at_chance(test_accuracy: float, num_classes: int, tolerance: float | None = None) -> bool:
    """Whether a final test accuracy lies within 'chance_accuracy' (or ``tolerance``) of
    1/num_classes: the network did not learn."""
    limit = SUITE["chance_accuracy"].value if tolerance is None else tolerance
    return abs(test_accuracy - 1 / num_classes) <= limit


def resolve(params: ReportParams) -> dict[str, Threshold]:
    """The thresholds ``params`` decides with: the suite's, with ``reference.thresholds``
    overrides applied (each needs a finite positive ``value`` and a non-empty ``reason``)."""
    raw = (params.reference.model_extra or {}).get("thresholds") or {}
    if not isinstance(raw, Mapping):
        raise ParamsError("reference.thresholds: expected a mapping of threshold name -> {value, reason}")
    out = dict(SUITE)
    for name, entry in raw.items():
        where = f"reference.thresholds.{name}"
        if name not in SUITE:
            raise ParamsError(f"{where}: unknown threshold; declared: {sorted(SUITE)}")
        if not isinstance(entry, Mapping) or set(entry) != {"value", "reason"}:
            raise ParamsError(f"{where}: expected {{value, reason}}: an override needs a stated reason")
        value, reason = entry["value"], entry["reason"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ParamsError(f"{where}.value: expected a finite positive number")
        if SUITE[name].below is not None and value >= SUITE[name].below:
            raise ParamsError(f"{where}.value: expected a number below {SUITE[name].below:g} ({SUITE[name].unit})")
        if not isinstance(reason, str) or not reason.strip():
            raise ParamsError(f"{where}.reason: expected the reason for the override, as text")
        out[name] = replace(SUITE[name], value=float(value), override=reason.strip(), suite_value=SUITE[name].value)
    return out


def table(thresholds: Mapping[str, Threshold]) -> pd.DataFrame:
    """One row per threshold: its name with what it decides, value, unit, and why it has this
    value (for an override: the params file's reason and the suite's value)."""
    rows = []
    for name, t in thresholds.items():
        why = t.reason if t.override is None else (f"Overridden by this report's params (the suite's value is "
                                                   f"{t.suite_value:g}): {t.override}")
        rows.append({"threshold": f"{name}: {t.decides}", "value": f"{t.value:g}", "unit": t.unit, "why": why})
    return pd.DataFrame(rows, columns=["threshold", "value", "unit", "why"])
