"""The records of a claim's evidence and the words written from them at the edge: the verdicts and
rules, :class:`Group`, :class:`Comparison`, :class:`StudyMethod`, :class:`Claim`, how parts combine,
and the claims table, counts and sentences.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from .. import stats

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
        "otherwise, and undecidable with these seeds when a group has fewer than 3 independent units (4 disjoint "
        "seed pairs for a quantity measured between two networks) or no outcome could decide it. A claim is supported when all its parts are, mixed when "
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

    def brief(self) -> str:
        """The comparison's effect in a few words, for the answer that opens a report: what is
        compared and the effect with its 95% interval (:meth:`text` gives the rest)."""
        digits = 3 if self.scale == "log" else 4
        names = " vs ".join(g.name for g in self.groups)
        value = (stats.number_text(self.interval.estimate, digits) + " (measured)" if self.unit == "networks"
                 else _value(self.interval, digits))
        return f"{self.quantity}{f', {names}' if names else ''}: {self.effect} {value}"

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
