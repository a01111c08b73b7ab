"""Findings and limitations: the end of every report, generated from what the report computed.

Three lists of sentences:

- :func:`answer`: the answer a report opens with: how the study's claims came out, each with the
  effect that carries its verdict and its 95% interval;
- :func:`differences`: each place where this report's result differs from the study's, and
  whether the difference is one of method (the study's own method on our weights agrees with the
  study) or of result (it does not); and the study's published numbers beside the study's method
  on our study-seed run and ours over seeds;
- :func:`limitations`: what the report cannot say (stand-in data, one network per configuration,
  evaluation mode, the number of seeds and pairs, probes computed for the study seed only,
  claims left pending), and one run's measurement error against the spread over seeds.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from . import tables
from .tables import HEADLINE_DECIDED
from ..core.escaping import literal
from ..pipeline.params import DataSource, ReportParams, is_stand_in
from ..probes import REGISTRY, ProbeResults
from ..verdicts import claims as claims_mod
from ..verdicts import stats


ANSWER_PARTS = 2  # comparisons the answer quotes for a decided claim, 1 for an open one (the claims table: all)


def _quoted(claim: claims_mod.Claim) -> str:
    """The claim's text in quotes, params text kept literal, without its closing full stop."""
    return f"“{literal(claim.text.rstrip().rstrip('.'))}”"


def _carried(claim: claims_mod.Claim, shown: int) -> str:
    """What carries a claim's verdict, briefly: its first ``shown`` deciding comparisons."""
    parts = claim.deciding()
    text = "; ".join(literal(p.brief()) for p in parts[:shown])
    return text + (f"; {len(parts) - shown} more in the claims table" if len(parts) > shown else "")


def answer(verdicts: Sequence[claims_mod.Claim], seeds: str, whose: str = "the study's") -> tuple[str, list[str]]:
    """The answer a study report opens with: a sentence saying how many of ``whose`` claims (the
    study's; an experiment of the suite's own tests the field's) this report's ``seeds`` (in words,
    e.g. "8 seeds each") decide and how, and one Markdown list item per claim it decides or leaves
    open: a decided claim with its verdict and the effects that carry it, with their 95% intervals
    (``Comparison.brief``); an inconclusive one with its closest effect; then those the design or
    the evidence leaves undecidable or pending, by name only (the claims table gives every
    comparison). ``("", [])`` without claims."""
    if not verdicts:
        return "", []
    counts = claims_mod.counts(list(verdicts))
    listing = ", ".join(f"{counts[v]} {v}" for v in (*claims_mod.VERDICTS, claims_mod.DEPENDS) if counts.get(v))
    decided = [c for c in verdicts if c.headline in HEADLINE_DECIDED]
    lead = (f"This report's seeds ({seeds}) decide {len(decided)} of {whose} {len(verdicts)} claims ({listing}; "
            f"{claims_mod.CORRECTION}-corrected over {sum(len(c.parts) for c in verdicts)} comparisons).")
    items = [f"{_quoted(c)} is **{claims_mod.verdict_words(c)}**: {_carried(c, ANSWER_PARTS)}." for c in decided]
    items += [f"{_quoted(c)} is **{claims_mod.INCONCLUSIVE}**; closest: {_carried(c, 1)}."
              for c in verdicts if c.headline == claims_mod.INCONCLUSIVE]
    for verdict, why in ((claims_mod.UNDECIDABLE, "a group has fewer than 3 independent units, or no outcome could decide it"),
                         (claims_mod.PENDING, "no check, or no evidence for one")):
        named = [c for c in verdicts if c.headline == verdict]
        if named:
            items.append(f"**{verdict[:1].upper() + verdict[1:]}** ({why}): " + "; ".join(_quoted(c) for c in named) + ".")
    return lead, items


def differences(params: ReportParams, verdicts: Sequence[claims_mod.Claim], probes: ProbeResults | None
                ) -> list[str]:
    """Where this report's result differs from the study's claim, and why: a change of method
    (the study's own method on our weights decides otherwise, and which change flips it) or a
    result; then the study's published numbers of the measures whose home declares them
    (``PUBLISHED``: λmax, SAM sharpness) beside the study's method on our study-seed run and ours
    over seeds."""
    out = []
    for c in verdicts:
        if c.verdict in (claims_mod.SUPPORTED, claims_mod.PENDING):
            continue
        found = {claims_mod.CONTRADICTED: "contradicted by", claims_mod.MIXED: "only partly borne out by"}.get(
            c.verdict, "not established by")
        if c.study_verdict is not None and c.study_verdict != c.verdict:
            why = (f"the study's method on our weights gives {c.study_verdict}, so the change of method decides it: "
                   f"{c.study_change}; neither verdict alone says the study is wrong")
        elif c.study_verdict is not None:
            why = (f"the study's method on our weights ({c.study_change}) gives {c.study_verdict} too, so the method "
                   "does not explain it")
        else:
            why = "this check has no variant that uses the study's method"
        out.append(f"The study claims “{literal(c.text)}”; it is {found} this report's seeds ({c.verdict}): {why}.")
    if probes is not None:
        for probe in REGISTRY.values():  # the measures whose home sets a published number beside ours
            beside = getattr(importlib.import_module(probe.report), "PUBLISHED", None) if probe.report else None
            if beside is not None:
                out += _published_beside_ours(params, probes.frames.get(probe.name), beside)
    return out


@dataclass(frozen=True)
class PublishedBeside:
    """How a measure's home (``PUBLISHED`` in its ``report`` module) sets the study's published
    number ``reference.<key>`` beside ours in the findings: the measure's ``name``, the column
    that tells its rows apart (``selector``), and (selector value, column) of the study's method on
    our study-seed run (``study``) and of ours over seeds (``ours``)."""

    key: str
    name: str
    selector: str
    study: tuple[str, str]
    ours: tuple[str, str]


def _published_beside_ours(params: ReportParams, frame: pd.DataFrame | None, beside: PublishedBeside) -> list[str]:
    """"<name> of <configuration>: published x; the study's method on our study-seed run y; ours
    g [low, high] over n seeds" (``tables.positive_cell``) for every configuration the study
    published ``beside.key`` for."""
    if frame is None or frame.empty:
        return []
    out, name, selector, study, ours = [], beside.name, beside.selector, beside.study, beside.ours
    for config in tables.configs_in(params, frame):
        value = tables.published(params, beside.key, config)
        if value is None:
            continue
        rows = frame[frame["config"] == config]
        seed = rows[(rows["run"] == tables.study_run(params, config)) & (rows[selector] == study[0])][study[1]]
        mine = rows[rows[selector] == ours[0]][ours[1]]
        parts = [f"published {value:g}"]
        if len(seed):
            parts.append(f"the study's method on our study-seed run {stats.number_text(float(seed.iloc[0]), 4)}")
        parts.append(f"ours {tables.positive_cell(mine)} over {len(mine)} seeds")
        out.append(f"{name} of {literal(tables.config_labels(params)[config])}: " + "; ".join(parts) + ".")
    return out


def measurement_error(params: ReportParams, history: pd.DataFrame, test_size: int) -> str:
    """Like with like: the standard deviation of one run's final val accuracy from sampling the
    test images (the binomial √(p(1 − p)/n) at the configuration's mean accuracy) beside the
    standard deviation of the final val accuracy over seeds."""
    finals = tables.final_rows(history)
    parts = []
    for config in tables.configs_in(params, finals):
        accs = finals[finals["config"] == config]["test_acc"].to_numpy(float)
        mean = float(accs.mean())
        images = float(np.sqrt(mean * (1 - mean) / test_size))
        spread = f"{np.std(accs, ddof=1):.4f}" if len(accs) > 1 else "— (one seed)"
        parts.append(f"{literal(tables.config_labels(params)[config])} {images:.4f} over images, {spread} over seeds")
    return (f"One run's final val accuracy is measured on {test_size:,} test images. Its standard deviation from "
            "sampling the images against the standard deviation over seeds: " + "; ".join(parts) + ". Where the seeds "
            "spread more than the images explain, a single run cannot stand for its configuration.") if parts else ""


def limitations(params: ReportParams, data: DataSource, status: pd.DataFrame, history: pd.DataFrame, test_size: int,
                probes: ProbeResults | None, verdicts: Sequence[claims_mod.Claim]) -> list[str]:
    """What this report cannot say, from its params, data and what was computed (``test_size``:
    the test images each run's val numbers are measured on)."""
    out = []
    if is_stand_in(data):
        out.append(f"The data is a stand-in ({data.name} for {params.data.name}): no result here says anything about "
                   f"{params.data.name} itself, and differences to the study's numbers are not like-for-like.")
    models = ", ".join(f"{literal(r.label)} ({r.model})" for r in params.runs)
    epochs = params.training.epochs
    setting = "its own optimizer setting" if any(r.training for r in params.runs) else "one optimizer setting"
    out.append(f"Each configuration is one network ({models}) trained for {epochs} epoch{'s' if epochs > 1 else ''} "
               f"with {setting}: an effect is of these networks, not of the architectural feature in general.")
    order = tables.configs_in(params, status)
    seeds = status.groupby("config")["run"].count().reindex(order)
    usable = status[status["outcome"] == "completed"].groupby("config")["run"].count().reindex(order, fill_value=0)
    counts = "; ".join(f"{literal(tables.config_labels(params)[c])} {usable[c]} of {seeds[c]}" for c in seeds.index)
    out.append(f"Seeds per configuration that completed and learned (ended above chance): {counts}. With this many "
               "seeds a 95% interval is wide, so an inconclusive verdict means the seeds cannot tell the groups apart, "
               "not that they are equal; fewer than 3 give no interval at all.")
    if len(history):
        out.append(measurement_error(params, history, test_size))
    pairs = {config: len(params.seed_pairs(config)) for config in (params.probes.interpolation.configs
                                                                   if params.probes.interpolation else [])}
    if pairs:
        labels = tables.config_labels(params)
        out.append("Barriers are averaged over disjoint seed pairs: " + "; ".join(
            f"{literal(labels[c])} {n} pair{'s' if n > 1 else ''}" for c, n in pairs.items()) + ".")
    if probes is not None:
        sets = probes.sets
        words = tables.mode_words(params, sets["mode"])
        out.append(f"Probes measure fixed probe sets of {sets['train']} train and {sets['test']} test images in "
                   f"{sets['mode']} mode" + (f" ({words})" if words else "") + "; the studies measured in other "
                   "modes and on other samples, which the study-method columns show.")
        study_only = [name for name in params.probe_targets() if getattr(params.probes, name).seeds == "study"]
        if study_only:
            out.append(f"Computed for the study seed only (a figure, not a verdict): {', '.join(study_only)}.")
    pending = [literal(c.text) for c in verdicts if c.verdict == claims_mod.PENDING]
    if pending:
        out.append("Not checked here: " + "; ".join(f"“{t}”" for t in pending) + " (the claims table says why).")
    return out
