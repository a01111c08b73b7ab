"""The cross-study synthesis: every trained model of the study reports in one table, and how
closely each geometric measure tracks generalization.

The models table (:func:`model_table`) has one row per trained run: its study (report name, and
``source``: the source study's number), configuration, architecture traits (``models.traits``: family, BatchNorm, skip, dropout),
dataset, seed and replicate index (0 for a configuration's first seed), outcome, the final
test error and evaluation-mode generalization gap (``eval_gap``: train probe set accuracy −
test accuracy, same weights, same mode), and the measures of ``probes.measures`` with the
columns of ``PROCEDURE`` (NaN for a run that was not probed, e.g. a diverged one).

Rank correlations are Kendall's τ-b of a measure against a generalization target (``TARGETS``),
signed so that τ > 0 means "larger measure, worse generalization":

- overall and within each study: ``stats.kendall_tau`` (paired bootstrap 95% CI);
- granulated (Jiang et al. 2020, "Fantastic generalization measures"): for each factor of
  ``FACTORS``, the models are grouped so that only that factor varies within a group (every
  other trait, the study and, except for the seed factor, the replicate index fixed), ψ and Ψ
  as ``rankings.granulated`` computes them. A measure that only tracks the dataset or the study
  is constant within every group and gets ψ = 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from . import grid as grid_mod, prediction
from ..verdicts import rankings
from ..pipeline.params import DataSource, ReportParams
from ..probes import measures as measures_probe
from ..probes.base import Scalar
from ..verdicts import stats, thresholds


MEASURES: dict[str, Scalar] = measures_probe.SCALARS  # what is correlated: each measure's home's scalar summary
TARGETS = {"eval_gap": "generalization gap", "test_error": "test error"}
TRAITS = ("family", "batchnorm", "skip", "dropout")
FACTORS = {"seed": "seed only", "batchnorm": "BatchNorm on/off", "skip": "skip on/off",
           "family": "architecture family"}


PROCEDURE = ("negative_curvature", "sam_steps", "asam_steps", "sam_converged", "asam_converged")  # measures columns kept


def model_table(studies: Sequence[tuple[ReportParams, DataSource, object]]) -> pd.DataFrame:
    """One row per trained run of every study (``(params, data, pipeline.Results)`` each, the
    results holding the ``measures`` probe); see the module docstring for the columns."""
    rows = []
    for params, data, results in studies:
        reps = {rep.id: rep for rep in params.replicas}
        order = {rep.id: i for reps_ in params.replicates_of.values() for i, rep in enumerate(reps_)}
        found = results.probes.measures if results.probes is not None else None
        measured = found.set_index("run") if found is not None else pd.DataFrame()
        for run_id, run in results.runs.items():
            config = params.config(reps[run_id].config)
            final = run.final
            learned = not (run.status == "completed" and final and
                           thresholds.at_chance(final["test_acc"], results.data.num_classes))
            row = {"study": params.report, "source": params.study.split("_")[0], "config": config.id, "run": run_id, "label": config.label,
                   **config.traits.__dict__, "dataset": data.name,
                   "seed": run.seed, "replicate": order[run_id], "outcome": run.outcome if learned else thresholds.DID_NOT_LEARN,
                   "test_error": 1 - final["test_acc"] if final and run.status == "completed" else math.nan,
                   "eval_gap": final.get("eval_gap", math.nan) if final and run.status == "completed" else math.nan}
            for name in [*MEASURES, *PROCEDURE]:
                row[name] = measured.at[run_id, name] if run_id in measured.index else math.nan
            rows.append(row)
    return pd.DataFrame(rows)


def learned(models: pd.DataFrame) -> pd.DataFrame:
    """The models that completed training and learned (``outcome`` "completed"): the ones a
    generalization measure is compared on; a network that diverged, failed or ended at chance
    ("did not learn") has no gap worth explaining, and pairing it with one that learned would
    make an effect of not learning."""
    return models[models["outcome"] == "completed"]


def grouping(factor: str) -> rankings.Grouping:
    """How ``factor`` of ``FACTORS`` groups the models (module docstring): the column that varies
    (the replicate index for the seed) and the columns held fixed."""
    if factor not in FACTORS:
        raise ValueError(f"unknown factor {factor!r}; allowed: {list(FACTORS)}")
    varying = "replicate" if factor == "seed" else factor
    fixed = ["study", *TRAITS] + ([] if factor == "seed" else ["replicate"])
    return varying, [c for c in fixed if c != varying]


def groups(models: pd.DataFrame, factor: str) -> list[pd.DataFrame]:
    """The groups of ``models`` in which only ``factor`` varies (module docstring): every group
    with at least two values of the factor."""
    return rankings.groups_where(models, grouping(factor))


def granulated_tau(models: pd.DataFrame, measure: str, target: str, level: float = stats.LEVEL
                   ) -> dict[str, stats.Interval]:
    """ψ per factor of ``FACTORS`` and Ψ (``"all"``), as ``rankings.granulated`` computes them."""
    return rankings.granulated(models, measure, target, {f: grouping(f) for f in FACTORS}, level)


def correlations(models: pd.DataFrame, measures: Sequence[str] = tuple(MEASURES),
                 targets: Sequence[str] = tuple(TARGETS), level: float = stats.LEVEL) -> pd.DataFrame:
    """Every τ of every measure with every target, tidy: columns measure, target, subset ("all"
    models, or "no BatchNorm" for measures that are not invariant to BatchNorm's rescalings),
    kind ("overall", "study", "granulated"), scope (the study, or the factor; "all" for the
    overall τ and for Ψ), estimate, low, high, n, p (of τ = 0 by the test the interval inverts;
    nan for ψ and Ψ)."""
    rows = []
    for measure in measures:
        subsets = {"all": models}
        if not MEASURES[measure].invariant:
            subsets["no BatchNorm"] = models[~models["batchnorm"].astype(bool)]
        for target in targets:
            for subset, frame in subsets.items():
                def add(kind: str, scope: str, found: stats.Interval) -> None:
                    rows.append({"measure": measure, "target": target, "subset": subset, "kind": kind, "scope": scope,
                                 "estimate": found.estimate, "low": found.low, "high": found.high, "n": found.n,
                                 "p": found.p_value(0.0)})

                add("overall", "all", stats.kendall_tau(frame[measure], frame[target], level=level))
                for study, part in frame.groupby("study", sort=False):
                    add("study", study, stats.kendall_tau(part[measure], part[target], level=level))
                for factor, found in granulated_tau(frame, measure, target, level).items():
                    add("granulated", factor, found)
    return pd.DataFrame(rows, columns=["measure", "target", "subset", "kind", "scope", "estimate", "low", "high", "n",
                                       "p"])


FDR_WHY = ("Benjamini–Hochberg over the family of τ one question reads (false discovery rate 5%): the synthesis "
           "screens many measures for the ones that track generalization, so the share of false findings among "
           "those it reports is what is controlled; the τ of related measures on the same models are positively "
           "dependent, under which the correction holds.")


def decided(rows: pd.DataFrame) -> pd.Series:
    """Which τ of ``rows`` (one family) exclude 0 after Benjamini–Hochberg (``stats.bh``) over
    their p-values; a row without a p-value decides nothing."""
    return pd.Series(stats.significant(stats.bh(rows["p"].to_numpy(float))), index=rows.index, dtype=bool)


# ============================================================================ what the report shows

def tau_cell(row: pd.Series) -> str:
    """"τ [low, high] (n)", or "τ (n)" without an interval, "—" without an estimate."""
    if not np.isfinite(row["estimate"]):
        return "—"
    n = row["n"]
    if np.isfinite(row["low"]) and np.isfinite(row["high"]):
        return f"{row['estimate']:+.2f} [{row['low']:+.2f}, {row['high']:+.2f}] ({n})"
    return f"{row['estimate']:+.2f} ({n})"


def models_display(models: pd.DataFrame) -> pd.DataFrame:
    """The models table as printed: identity, traits, outcome and generalization."""
    shown = models[["source", "label", "seed", "family", "batchnorm", "skip", "dropout", "dataset", "outcome",
                    "test_error", "eval_gap"]].copy()
    for trait in ("batchnorm", "skip", "dropout"):
        shown[trait] = shown[trait].map({True: "yes", False: "no"})
    return shown.rename(columns={"source": "study", "label": "configuration", "batchnorm": "BN",
                                 "test_error": "test error", "eval_gap": "gap (eval)"})


def measures_display(models: pd.DataFrame) -> pd.DataFrame:
    """The measures of every model as printed (— where a run was not probed)."""
    shown = models[["source", "config", "seed", *MEASURES, "negative_curvature"]].copy()
    shown["negative_curvature"] = shown["negative_curvature"].map({True: "yes", False: "no"}).fillna("—")
    return shown.rename(columns={"source": "study", "config": "configuration", "negative_curvature": "λmin < 0",
                                 **{m: MEASURES[m].label for m in MEASURES}})


def tau_display(table: pd.DataFrame, target: str) -> pd.DataFrame:
    """Per measure (rows) and subset: overall τ, granulated Ψ and ψ per factor, each
    "τ [95% CI] (n)"; n counts models (overall) or groups (ψ) or factors (Ψ)."""
    rows = []
    part = table[(table["target"] == target) & (table["kind"] != "study")]
    for (measure, subset), found in part.groupby(["measure", "subset"], sort=False):
        cells = {"measure": MEASURES[measure].label, "models": subset}
        for _, row in found.iterrows():
            name = "overall τ" if row["kind"] == "overall" else ("Ψ (granulated)" if row["scope"] == "all"
                                                              else f"ψ {FACTORS[row['scope']]}")
            cells[name] = tau_cell(row)
        rows.append(cells)
    columns = ["measure", "models", "overall τ", "Ψ (granulated)", *[f"ψ {label}" for label in FACTORS.values()]]
    return pd.DataFrame(rows).reindex(columns=columns).fillna("—")


def study_tau_display(table: pd.DataFrame, target: str) -> pd.DataFrame:
    """τ of each measure (rows) with ``target`` within each study (columns), all models."""
    part = table[(table["target"] == target) & (table["kind"] == "study") & (table["subset"] == "all")]
    shown = part.assign(cell=part.apply(tau_cell, axis=1), measure=part["measure"].map(lambda m: MEASURES[m].label))
    return shown.pivot(index="measure", columns="scope", values="cell").reindex(
        [MEASURES[m].label for m in dict.fromkeys(part["measure"])]).reset_index()


def ranking_rows(table: pd.DataFrame, target: str) -> pd.DataFrame:
    """The rows of the ranking figure: per measure, the overall τ and the granulated Ψ (all models)."""
    part = table[(table["target"] == target) & (table["subset"] == "all") & (table["scope"] == "all")]
    return part.assign(estimate_kind=part["kind"].map({"overall": "overall τ", "granulated": "granulated Ψ"}))


def tau_headline(table: pd.DataFrame, target: str = "eval_gap") -> str:
    """One line for the index: the measure with the largest granulated Ψ with ``target`` (all
    models), and how many measures' overall τ exclude 0 after Benjamini–Hochberg (:func:`decided`)."""
    part = table[(table["target"] == target) & (table["subset"] == "all") & (table["scope"] == "all")]
    psi = part[part["kind"] == "granulated"].dropna(subset=["estimate"])
    overall = part[part["kind"] == "overall"]
    count = int(decided(overall).sum())
    if psi.empty:
        return f"no measure could be compared within groups; {count} of {len(overall)} overall τ exclude 0 (BH)"
    best = psi.loc[psi["estimate"].idxmax()]
    return (f"{TARGETS[target]}: largest granulated Ψ {MEASURES[best['measure']].label} ({best['estimate']:+.2f}); "
            f"overall τ excludes 0 for {count} of {len(overall)} measures (BH)")


# ============================================================================ architecture and the answers

EFFECT_FACTORS = {"batchnorm": "BatchNorm", "skip": "skip connections"}


def trait_effects(models: pd.DataFrame, measures: Sequence[str] = tuple(MEASURES), level: float = stats.LEVEL
                  ) -> pd.DataFrame:
    """How switching a trait on changes each measure: over the groups where only that trait
    varies (:func:`groups`), the geometric mean of measure(on) / measure(off), with a bootstrap
    CI over groups (rankings.MIN_GROUPS on). Measures with a value ≤ 0 in a group are left out of it.
    Columns: factor, measure, ratio, low, high, groups."""
    rows = []
    for factor in EFFECT_FACTORS:
        for measure in measures:
            logs = []
            for g in groups(models, factor):
                on = g.loc[g[factor].astype(bool), measure].to_numpy(float)
                off = g.loc[~g[factor].astype(bool), measure].to_numpy(float)
                if len(on) and len(off) and np.all(on > 0) and np.all(off > 0):
                    logs.append(float(np.log(on).mean() - np.log(off).mean()))
            if not logs:
                continue
            found = (stats.bootstrap_ci(logs, np.mean, level=level) if len(logs) >= rankings.MIN_GROUPS
                     else stats.Interval(float(np.mean(logs)), math.nan, math.nan, len(logs), level, "mean")).exp()
            rows.append({"factor": factor, "measure": measure, "ratio": found.estimate, "low": found.low,
                         "high": found.high, "groups": len(logs)})
    return pd.DataFrame(rows, columns=["factor", "measure", "ratio", "low", "high", "groups"])


def effect_groups(models: pd.DataFrame) -> pd.DataFrame:
    """The groups behind :func:`trait_effects`, one row each: factor, study, replicate, off and on
    (the runs without and with the trait, their configuration labels joined by "; ")."""
    rows = []
    for factor in EFFECT_FACTORS:
        for g in groups(models, factor):
            switched = g[factor].astype(bool)
            rows.append({"factor": factor, "study": g["source"].iloc[0], "replicate": int(g["replicate"].iloc[0]),
                         "off": "; ".join(f"{r.label} (seed {r.seed})" for r in g[~switched].itertuples()),
                         "on": "; ".join(f"{r.label} (seed {r.seed})" for r in g[switched].itertuples())})
    return pd.DataFrame(rows, columns=["factor", "study", "replicate", "off", "on"])


def effect_interval(row: pd.Series) -> stats.Interval:
    """A :func:`trait_effects` row's ratio with its interval (over ``groups`` groups)."""
    return stats.Interval(float(row["ratio"]), float(row["low"]), float(row["high"]), int(row["groups"]), stats.LEVEL,
                          "bootstrap on logs")


def interval_text(estimate: float, low: float, high: float) -> str:
    """A τ with its interval to two signed decimals, ``"+0.12 [-0.05, +0.30]"``."""
    if not np.isfinite(low):
        return f"{estimate:+.2f} (no interval)"
    return f"{estimate:+.2f} [{low:+.2f}, {high:+.2f}]"


QUESTIONS = ("Why does SGD find minima that generalize?",
             "How does architecture shape the landscape?",
             "Which geometric properties correlate with generalization?",
             "Can optimization difficulty be predicted?")

# The synthesis notebook's section headings an answer links to as its evidence (tests check the notebook has them).
SECTIONS = {"measures": "Which measures track generalization", "architecture": "How architecture changes the measures",
            "trajectories": "Sharpness during training",
            "prediction": "Can early training predict optimization difficulty?", "grid": "The designed grid"}

FLATNESS = ("lambda_max", "asam", "noise_drop", "pacbayes_flatness")  # what the flat-minimum account reads
ANSWER_ROWS = 6  # at most this many measures in the third answer's table; the τ and rankings tables hold them all


@dataclass
class Answer:
    """One question answered: ``text`` (two to four generated sentences), ``table`` (the compact
    table of the numbers they rest on, as printed), the ``caption`` of that table and
    ``evidence`` (keys of ``SECTIONS``: the sections that hold the full evidence)."""

    question: str
    text: str
    table: pd.DataFrame
    caption: str
    evidence: tuple[str, ...]

    def record(self) -> dict:
        return {"question": self.question, "answer": self.text, "evidence": [SECTIONS[k] for k in self.evidence],
                "table": self.table.to_dict(orient="records")}


def _label(measure: str) -> str:
    found = grid_mod.MEASURES.get(measure) or MEASURES.get(measure)
    return found.label if found is not None else measure


def _psi_sides(rows: pd.DataFrame, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """The labels of the measures ``names`` whose Ψ interval lies above 0, and below 0 (``rows``:
    a grid's statistics summary indexed by measure)."""
    return ([grid_mod.MEASURES[m].label for m in names if rows.at[m, "psi_low"] > 0],
            [grid_mod.MEASURES[m].label for m in names if rows.at[m, "psi_high"] < 0])


def flat_verdict(grid: pd.DataFrame) -> str:
    """What the designed grid says of the flat-minimum account (``grid``: its statistics summary),
    as a clause: the flatness measures whose Ψ interval lies above 0 (flatter, smaller gap within
    groups) or below 0, or neither."""
    rows = grid.set_index("measure")
    names = [m for m in FLATNESS if m in rows.index]
    above, below = _psi_sides(rows, names)
    if above and below:
        return (f"the flatness measures disagree: {stats.listed(above)} go with a larger gap within groups, "
                f"{stats.listed(below)} with a smaller one (mixed)")
    if above:
        return (f"sharper by {stats.listed(above)} goes with a larger gap within groups, as the flat-minimum "
                f"explanation predicts; {len(names) - len(above)} of the {len(names)} flatness measures do not decide")
    if below:
        return (f"sharper by {stats.listed(below)} goes with a smaller gap within groups, against the flat-minimum "
                "explanation")
    return (f"no flatness measure's Ψ interval excludes 0 (of {len(names)}): the flat-minimum explanation gets no "
            "support there")


class _Evidence:
    """The numbers the answers read, looked up by measure: the studies' overall τ with the gap
    (BH-decided over the measures) and granulated Ψ, and the designed grid's Ψ, τ and CMI score."""

    def __init__(self, correlations: pd.DataFrame, grid: pd.DataFrame | None):
        gap = correlations[(correlations["target"] == "eval_gap") & (correlations["subset"] == "all")
                           & (correlations["scope"] == "all")]
        overall = gap[gap["kind"] == "overall"]
        self.overall = overall.assign(decided=decided(overall)).set_index("measure")
        self.psi = gap[gap["kind"] == "granulated"].set_index("measure")["estimate"].dropna()
        self.grid = grid.set_index("measure") if grid is not None and len(grid) else None

    def studies_tau(self, measure: str) -> str:
        if measure not in self.overall.index:
            return "—"
        row = self.overall.loc[measure]
        return interval_text(row["estimate"], row["low"], row["high"]) + (" (BH)" if row["decided"] else "")

    def studies_psi(self, measure: str) -> str:
        return f"{self.psi[measure]:+.2f}" if measure in self.psi.index else "—"

    def grid_psi(self, measure: str) -> str:
        if self.grid is None or measure not in self.grid.index:
            return "—"
        return interval_text(*self.grid.loc[measure, ["psi", "psi_low", "psi_high"]])

    def grid_cmi(self, measure: str) -> str:
        if self.grid is None or measure not in self.grid.index or not np.isfinite(self.grid.at[measure, "cmi"]):
            return "—"
        return f"{self.grid.at[measure, 'cmi']:.3f}"

    def table(self, measures: Sequence[str], cmi: bool = False) -> pd.DataFrame:
        """One row per measure: the grid's Ψ (and CMI score), the studies' overall τ and Ψ."""
        columns = {"measure": [_label(m) for m in measures]}
        if self.grid is not None:
            columns["grid Ψ [95% CI]"] = [self.grid_psi(m) for m in measures]
            if cmi:
                columns["grid CMI"] = [self.grid_cmi(m) for m in measures]
        columns["studies' τ [95% CI]"] = [self.studies_tau(m) for m in measures]
        columns["studies' Ψ"] = [self.studies_psi(m) for m in measures]
        return pd.DataFrame(columns)


TABLE_SIGNS = ("Signed so that > 0 means a larger measure goes with a larger generalization gap; (BH): the interval "
               "excludes 0 after Benjamini–Hochberg over the studies' measures. Ψ: granulated τ within groups of models "
               "that differ in one factor; the grid's intervals are not corrected for the number of measures.")


def _sgd_answer(evidence: _Evidence, trajectory: pd.DataFrame, grid_models: int) -> Answer:
    ok = trajectory[trajectory["status"] == "ok"] if not trajectory.empty else trajectory
    sentences = [f"SGD kept λmax at or below the stability threshold 2(1+β)/η at {float((ok['ratio'] <= 1).mean()):.0%} "
                 f"of the {len(ok)} points measured along training." if len(ok) else
                 "No training trajectory was measured."]
    names = [m for m in FLATNESS if m in evidence.overall.index or (evidence.grid is not None
                                                                     and m in evidence.grid.index)]
    if evidence.grid is not None:
        sentences.append(f"Among models trained to one train cross-entropy ({grid_models} in the designed grid), "
                         f"{flat_verdict(evidence.grid.reset_index())}.")
    shown = [m for m in names if m in evidence.overall.index]
    supported = [f"{_label(m)}: sharper, {'larger' if evidence.overall.at[m, 'estimate'] > 0 else 'smaller'} gap"
                 for m in shown if evidence.overall.at[m, "decided"]]
    sentences.append(f"Across the studies' pooled models, {len(supported)} of the {len(shown)} flatness measures' "
                     "overall τ with the gap excludes 0 after Benjamini–Hochberg"
                     + (f" ({'; '.join(supported)})." if supported else
                        ": there the flatter minima did not generalize measurably better."))
    return Answer(QUESTIONS[0], " ".join(sentences), evidence.table(names),
                  "The flatness measures with the generalization gap. " + TABLE_SIGNS,
                  ("trajectories", "grid", "measures") if evidence.grid is not None else ("trajectories", "measures"))


ARCHITECTURE_MEASURES = ("lambda_max", "slice_curvature", "asam")  # the second answer's ratios


def _architecture_answer(effects: pd.DataFrame) -> Answer:
    shown = effects[effects["measure"].isin(ARCHITECTURE_MEASURES)]
    rows, decided_words, undefined = [], [], 0
    for _, row in shown.iterrows():
        ratio = effect_interval(row)
        rows.append({"switched on": EFFECT_FACTORS[row["factor"]], "measure": _label(row["measure"]),
                     "ratio on / off [95% CI]": ratio.text(3) if ratio.defined else
                     f"{stats.number_text(ratio.estimate, 3)} (no interval)", "groups": ratio.n})
        undefined += not ratio.defined
        if ratio.side(1.0):
            decided_words.append(f"switching {EFFECT_FACTORS[row['factor']]} on multiplies {_label(row['measure'])} "
                                 f"by {ratio.text(3)}")
    table = pd.DataFrame(rows, columns=["switched on", "measure", "ratio on / off [95% CI]", "groups"])
    if shown.empty:
        return Answer(QUESTIONS[1], "No group of models differs only in BatchNorm or in skip connections.", table, "",
                      ("architecture",))
    sentences = [f"Of {len(shown)} ratios of a measure with the trait switched on to the same models without it, "
                 f"{len(decided_words)} {'has' if len(decided_words) == 1 else 'have'} a 95% interval that excludes 1"
                 + (f": {'; '.join(decided_words)}." if decided_words else ".")]
    if undefined:
        sentences.append(f"{undefined} of them {'rests' if undefined == 1 else 'rest'} on fewer than "
                         f"{rankings.MIN_GROUPS} groups and {'decides' if undefined == 1 else 'decide'} nothing.")
    sentences.append("λmax changes under BatchNorm's rescalings, so its BatchNorm ratio says as much about the "
                     "parametrization as about the landscape; the slice curvature and ASAM do not.")
    return Answer(QUESTIONS[1], " ".join(sentences), table,
                  "Geometric mean over groups of models that differ only in the trait of measure(on) / measure(off), "
                  f"with a bootstrap 95% interval over groups ({rankings.MIN_GROUPS} groups or more).", ("architecture",))


def _measures_answer(evidence: _Evidence, grid_models: int) -> Answer:
    sentences, picked = [], []
    grid = evidence.grid
    if grid is not None:
        names = list(grid.index)
        above, below = _psi_sides(grid, names)
        cmi = grid["cmi"].dropna()
        sentences.append(f"Among the designed grid's {grid_models} models, trained to one train cross-entropy, the "
                         f"granulated Ψ with the gap excludes 0 for {len(above) + len(below)} of {len(names)} measures"
                         + (f" ({stats.listed(above + below)})" if above or below else "")
                         + (f"; the largest CMI score is {_label(cmi.idxmax())}'s ({cmi.max():.3f}, given "
                            f"{grid.at[cmi.idxmax(), 'cmi_given']})" if len(cmi) else "") + ".")
        picked = [m for m in names if grid.at[m, "psi_low"] > 0 or grid.at[m, "psi_high"] < 0]
        picked += [cmi.idxmax()] if len(cmi) and cmi.idxmax() not in picked else []
    overall = evidence.overall
    supported = [m for m in overall.index if overall.at[m, "decided"]]
    text = (f"Across the studies' pooled models, {len(supported)} of {len(overall)} measures' overall τ with the gap "
            "excludes 0 after Benjamini–Hochberg")
    if len(evidence.psi):
        best = evidence.psi.idxmax()
        text += (f"; within groups that differ in one factor, the largest Ψ is {_label(best)}'s "
                 f"({evidence.psi[best]:+.2f})")
        picked += [m for m in supported + [best] if m not in picked]
    else:
        picked += [m for m in supported if m not in picked]
    sentences.append(text + ".")
    shown = picked[:ANSWER_ROWS]
    left = len(set(overall.index) | set(grid.index if grid is not None else [])) - len(shown)
    caption = ("The measures that decide somewhere (an interval excluding 0, the largest CMI score, the largest Ψ)"
               + (f"; the other {left} are in the tables of their sections" if left > 0 else "") + ". " + TABLE_SIGNS)
    return Answer(QUESTIONS[2], " ".join(sentences), evidence.table(shown, cmi=True), caption,
                  ("grid", "measures") if grid is not None else ("measures",))


def _prediction_answer(predicted: pd.DataFrame) -> Answer:
    rows = []
    for found in prediction.judged(predicted):
        early, diff = found["early"], found["difference"]
        rows.append({"outcome": found["words"], "score": found["score"],
                     "early signals [95% CI]": found["state"] if early is None else
                     interval_text(early.estimate, early.low, early.high),
                     "early − baseline [95% CI]": "—" if diff is None else interval_text(diff.estimate, diff.low,
                                                                                          diff.high),
                     "runs (configurations)": f"{found['runs']} ({found['configs']})" if found["runs"] else "0"})
    table = pd.DataFrame(rows, columns=["outcome", "score", "early signals [95% CI]", "early − baseline [95% CI]",
                                        "runs (configurations)"])
    caption = ("Scores of the held-out predictions (AUC for failure, chance 0.5; Kendall τ otherwise, chance 0); "
               "95% intervals by a cluster bootstrap over configurations." if len(table) else "")
    return Answer(QUESTIONS[3], prediction.summary(predicted), table, caption, ("prediction",))


def answers(correlations: pd.DataFrame, effects: pd.DataFrame, trajectory: pd.DataFrame,
            predicted: pd.DataFrame, grid: pd.DataFrame | None = None, grid_models: int = 0) -> list[Answer]:
    """The four questions of the studies (``QUESTIONS``), each answered in a few generated
    sentences with a compact table from this report's numbers (granulated Ψ and overall τ with
    the gap, the effects of BatchNorm and skip connections, the trajectories against the stability
    threshold, the out-of-sample prediction scores: ``prediction.scores``), saying what no
    interval decides. With a designed grid (``grid``: its statistics summary over
    ``grid_models`` models), the first and third answers lead with it: its models differ in one
    hyperparameter at a time at a common stopping point, which the studies' pooled models do not."""
    evidence = _Evidence(correlations, grid)
    return [_sgd_answer(evidence, trajectory, grid_models), _architecture_answer(effects),
            _measures_answer(evidence, grid_models), _prediction_answer(predicted)]
