"""The registry of checks (:func:`registry`), validating a params file's claims (:func:`parse`),
undecidability before training (:func:`design`), and running every check with the multiplicity
correction (:func:`judge`, :func:`adjust`).
"""
from __future__ import annotations

import functools
import importlib
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import pandas as pd

from .. import stats
from .. import thresholds as thresholds_mod
from ...core.errors import ParamsError
from ...learning.training import outcome
from .records import Claim, Comparison, DECIDED, INCONCLUSIVE, STUDY
from .deciding import Check, Context, _empty, _flatten, MissingEvidence
from . import checks as history_checks

if TYPE_CHECKING:  # params are read here, never built: no import of the pipeline at run time
    from ...pipeline.params import ReportParams

# ============================================================================ the registry

@functools.cache
def registry() -> dict[str, Check]:
    """Every check by the name a params file gives it: the training-history checks of ``checks``
    and those of each measure's home (``Probe.checks``: ``probes.<name>.checks``, next to the
    probe whose frame they read), loaded on first use because those modules import this package."""
    from ...probes import REGISTRY

    found = dict(history_checks.CHECKS)
    for module in dict.fromkeys(p.checks for p in REGISTRY.values() if p.checks):
        found.update(importlib.import_module(module).CHECKS)
    return found


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
        if not isinstance(name, str) or name not in registry():
            raise ParamsError(f"{where}.check: unknown check {name!r}; allowed: {sorted(registry())}")
        if not isinstance(args, dict):
            raise ParamsError(f"{where}.args: expected a mapping of argument -> value")
        check = registry()[name]
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
    check, ctx = registry()[spec.check], ctx or Context(thresholds_mod.resolve(params))
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


def _same_evidence(ours: Sequence[Comparison], study: Sequence[Comparison]) -> bool:
    """Whether the study's method computed what ours did (e.g. BatchNorm statistics along a path
    between networks without BatchNorm): the same groups, effects and bounds, part by part; it
    then is no second method."""
    def evidence(c: Comparison) -> str:
        return repr((c.groups, c.effect, c.interval, c.claimed, c.bounds))
    return len(ours) == len(study) and all(evidence(a) == evidence(b) for a, b in zip(ours, study))


def judge(params: ReportParams, evidence: Mapping[str, Any]) -> list[Claim]:
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
        check = registry()[spec.check]
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
            study_parts = [] if study_pending or _same_evidence(parts, study_parts) else study_parts
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
