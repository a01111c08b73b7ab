"""The designed grid's own pages (``analysis.grid``): the design (:func:`design`), which models
reached the common stopping point and which were left out, with why (:func:`outcomes`), every
measure's rank statistics with the gap and the figure that ranks them (:func:`rankings`), and the
answer the page opens with (:func:`answer`); its notebook calls them by name after
``sections.training``."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..analysis import grid, synthesis
from ..verdicts import rankings as rankings_mod
from ..core import escaping
from . import pages, plotting, sections
from ..probes.complexity import report as complexity_report
from .terms import explain

if TYPE_CHECKING:
    from .sections import ReportContext, SynthesisContext

def _models(report: ReportContext) -> pd.DataFrame:
    return grid.model_table(report.params, report.results, report.results.data.num_classes)


def design(report: ReportContext) -> None:
    """The design table (factor, what it sets, levels) and the stopping point."""
    d, t = report.params.design, report.params.training
    rows = [{"factor": name, "sets": f"model option {f.option}" if f.option is not None else f"training {f.training}",
             "levels": ", ".join(str(v) for v in f.levels)} for name, f in d.factors.items()]
    configs = len(d.levels_of())
    explain(report, "stopping")
    report.sink.table(pd.DataFrame(rows), "design",
                      f"The design: every combination of the factors' levels ({configs} configurations of "
                      f"{d.model}), each trained with {len(d.seeds)} seed{'s' if len(d.seeds) > 1 else ''} "
                      f"({configs * len(d.seeds)} models); the options every model shares: "
                      + (", ".join(f"{k} {v}" for k, v in d.options.items()) or "none") + ".")
    stop = t.stop_train_loss
    report.sink.markdown(
        f"Every model trains until its cross-entropy over the whole training set, measured in evaluation mode after "
        f"each epoch, is at most {stop:g} nats, for at most {t.epochs} epochs; a model that has not reached it by "
        "then is left out of every comparison below, as is one that diverged or ended at chance."
        if stop is not None else "No common stopping point is set: every model trains for the same number of epochs, "
        "so a measure may rank the models by how far their training went.")


def outcomes(report: ReportContext) -> None:
    """How many models reached the stopping point, the ones left out and why, and per factor
    level the models compared, their median epochs and mean gap."""
    models, factors = _models(report), grid.factors_of(report.params)
    stop = report.params.training.stop_train_loss
    counted = grid.counts(models)
    report.sink.markdown(f"{counted[grid.REACHED]} of {len(models)} models reached the stopping point and are "
                         "compared below" + ("" if counted[grid.REACHED] == len(models) else "; " + ", ".join(
                             f"{n} {state}" for state, n in counted.items() if state != grid.REACHED)) + ".")
    report.sink.record("grid_counts", counted)
    out = grid.left_out(models, stop if stop is not None else float("nan"))
    if len(out):
        report.sink.table(out.drop(columns=["run", "stop"]).rename(columns={"label": "model",
                                                                              "final_train_loss": "final train CE"}),
                          "left-out", "The models left out of every comparison, with why.")
    compared = grid.compared(models)
    report.sink.table(grid.level_summary(models, compared, factors), "levels",
                      "Per factor and level: the models that reached the stopping point (of those trained), their "
                      "median epochs to it and their mean generalization gap (train probe-set accuracy − test "
                      "accuracy, evaluation mode) with its 95% t interval over the models.")
    report.sink.save_csv(models, "models")
    report.sink.record("grid_models", models)


def measures(report: ReportContext) -> None:
    """The measures with their settings (the same for every model), and the range of each over the
    compared models."""
    params = report.params
    sets = params.probes.eval_set
    sections.measure_terms(report, "hessian", "slice1d", "sharpness", "complexity", "noise", "gradient")
    explain(report, "lanczos", "ritz", "hutchinson")
    report.sink.table(sections.measures_table(grid.MEASURES, {
        **sections.measure_settings(params.probes.measures), **complexity_report.settings_words(params.probes.complexity)}),
        "measures", f"The measures, each taken on the same stratified probe set of {sets.train_size} training images "
        f"(seed {sets.seed}, {sets.mode} mode) with the same settings for every model.")
    compared = grid.compared(_models(report))
    rows = [{"measure": m.label, "models": int(compared[name].notna().sum()),
             **dict(zip(("min", "median", "max"), (compared[name].quantile(q) for q in (0, 0.5, 1))))}
            for name, m in grid.MEASURES.items()]
    report.sink.table(pd.DataFrame(rows), "measure-range",
                      "The range of each measure over the models that reached the stopping point (models: how many "
                      "have a value; the inverse margin has none where more than a tenth of the probe set is "
                      "misclassified).")


def _tau_display(stats_: grid.RankStatistics, factors: list[str]) -> pd.DataFrame:
    """Per measure: overall τ [CI] (n) with whether it excludes 0 after BH, Ψ, ψ per factor [CI] (n)."""
    rows = []
    for measure, found in stats_.taus.groupby("measure", sort=False):
        cells = {"measure": grid.MEASURES[measure].label}
        for _, row in found.iterrows():
            if row["kind"] == "overall":
                cells["overall τ"] = synthesis.tau_cell(row)
                cells["excludes 0 (BH)"] = "yes" if row["decided"] else "no"
            elif row["scope"] == "all":
                cells["Ψ"] = synthesis.tau_cell(row)
            else:
                cells[f"ψ {row['scope']}"] = synthesis.tau_cell(row)
        rows.append(cells)
    columns = ["measure", "overall τ", "excludes 0 (BH)", "Ψ", *[f"ψ {f}" for f in factors]]
    return pd.DataFrame(rows).reindex(columns=columns).fillna("—")


def _robust_display(stats_: grid.RankStatistics) -> pd.DataFrame:
    """Per measure: the CMI score and the conditioning set that gives it, the unconditioned CMI, and
    the sign agreement over the environments that are not noise."""
    unconditioned = stats_.cmi[stats_.cmi["conditioning"] == "—"].set_index("measure")["cmi"]
    s = stats_.summary
    return pd.DataFrame({
        "measure": s["measure"].map(lambda m: grid.MEASURES[m].label),
        "CMI score (min)": s["cmi"].map(lambda v: f"{v:.3f}" if np.isfinite(v) else "—"),
        "given": s["cmi_given"],
        "CMI, nothing given": s["measure"].map(lambda m: f"{unconditioned.get(m, np.nan):.3f}"),
        "environments": s["robust_environments"],
        "agree > 0": s["robust_positive"].map(lambda v: f"{v:.0%}" if np.isfinite(v) else "—"),
        "median agreement": s["robust_median"].map(lambda v: f"{v:+.2f}" if np.isfinite(v) else "—"),
        "worst": s["robust_worst"].map(lambda v: f"{v:+.2f}" if np.isfinite(v) else "—")})


def _ranking_rows(stats_: grid.RankStatistics) -> pd.DataFrame:
    """The ranking figure's rows: per measure, the CMI score (first: it orders the measures), Ψ and
    the overall τ with their intervals."""
    s = stats_.summary
    nan = np.full(len(s), np.nan)
    parts = [pd.DataFrame({"measure": s["measure"], "estimate_kind": "CMI score (min over conditioning)",
                           "estimate": s["cmi"], "low": nan, "high": nan}),
             pd.DataFrame({"measure": s["measure"], "estimate_kind": "granulated Ψ (95% CI)", "estimate": s["psi"],
                           "low": s["psi_low"], "high": s["psi_high"]}),
             pd.DataFrame({"measure": s["measure"], "estimate_kind": "overall τ (95% CI)", "estimate": s["tau"],
                           "low": s["tau_low"], "high": s["tau_high"]})]
    return pd.concat(parts, ignore_index=True)


def rankings(report: ReportContext) -> None:
    """Every measure's overall τ, granulated ψ and Ψ, CMI score and robust sign agreement with the
    gap over the compared models, the ranking figure, and the headline."""
    models, factors = _models(report), grid.factors_of(report.params)
    compared = grid.compared(models)
    sink = report.sink
    if len(compared) < 3:
        sink.markdown(f"{len(compared)} models reached the stopping point: too few to rank any measure (at least 3).")
        sink.headline(f"{len(compared)} of {len(models)} models reached the stopping point: nothing ranked")
        return
    found = grid.rank_statistics(compared, factors)
    report.ranked = found
    explain(report, "tau", "granulated_grid", "cmi", "agreement", "bootstrap", "bh", "welch")
    sink.markdown("Which overall τ exclude 0 is decided after a multiplicity correction. " + grid.FDR_WHY)
    sink.table(_tau_display(found, factors), "grid-tau",
               f"Kendall τ of each measure with the generalization gap over the {len(compared)} compared models "
               "(τ > 0: a larger measure goes with a larger gap), 95% paired bootstrap CI (n models); granulated ψ per "
               "factor: the mean τ over the groups of models equal in every other factor and the seed (CI over groups "
               f"from {rankings_mod.MIN_GROUPS} groups on; n groups); Ψ: the mean of the ψ (n factors), with a "
               "stratified bootstrap CI (each factor's groups resampled on their own).")
    sink.table(_robust_display(found), "grid-robust",
               "The conditioned statistics, measures ordered by their CMI score: Jiang et al.'s conditional mutual "
               f"information between the measure's and the gap's order of each pair of models, given up to "
               f"{rankings_mod.MAX_CONDITIONING} hyperparameters (the score is the minimum over the sets; 'given' "
               "names the set that gives it; information has no direction: a measure that orders the models "
               "against the gap scores as high, so read the direction from τ and the agreement), and beside it with "
               "nothing given; Dziugaite et al.'s sign agreement "
               "over the environments (two configurations that differ in one factor) whose gap difference is "
               "distinguishable from seed noise (95% Welch interval over their seeds excludes 0): how many, the share "
               "that agree, the median and the worst.")
    sink.figure(plotting.tau_ranking(_ranking_rows(found), {m: v.label for m, v in grid.MEASURES.items()},
                                     "statistic of the measure with the gap (τ: 95% CI)"),
                "grid-ranking",
                "The measures ranked by their CMI score (the conditioned statistic: 0 when the measure's order tells "
                "nothing about the gap's beyond two hyperparameters), with the granulated Ψ and the overall τ beside "
                "it (95% CIs).")
    sink.save_csv(found.cmi, "cmi")
    sink.save_csv(found.environments, "environments")
    sink.record("grid_statistics", {"taus": found.taus, "summary": found.summary, "robust": found.robust,
                                    "multiplicity": {"correction": "Benjamini–Hochberg", "why": grid.FDR_WHY}})
    best = found.summary.dropna(subset=["cmi"])
    decided = int(found.summary["tau_decided"].sum())
    sink.headline((f"largest CMI score {grid.MEASURES[best.iloc[0]['measure']].label} ({best.iloc[0]['cmi']:.3f}, "
                   f"given {best.iloc[0]['cmi_given']}); " if len(best) else "no CMI score defined; ")
                  + f"overall τ with the gap excludes 0 for {decided} of {len(found.summary)} measures (BH), "
                  f"{len(compared)} models compared")


def answer(report: ReportContext) -> None:
    """The answer the grid's page opens with (made last, after :func:`rankings`; ``export.arrange``
    moves it under the title with the params' ``answer_figure``): how many models are compared,
    which overall τ with the gap exclude 0, and what survives conditioning on the hyperparameters
    (the largest CMI score and granulated Ψ)."""
    pages.answer_opens(report.sink, report.params)
    models = _models(report)
    compared, found = grid.compared(models), report.ranked
    if found is None:
        report.sink.markdown(f"{len(compared)} of {len(models)} models reached the stopping point: too few to rank "
                             "any measure (at least 3), so this report answers nothing.")
        return
    s = found.summary

    def label(measure: str) -> str:
        return grid.MEASURES[measure].label

    decided = s[s["tau_decided"]].sort_values("tau", key=abs, ascending=False)
    taus = "; ".join(f"{label(r.measure)} {synthesis.interval_text(r.tau, r.tau_low, r.tau_high)}"
                     for r in decided.itertuples())
    count = f"{len(decided)} of the {len(s)} measures" if len(decided) else f"none of the {len(s)} measures"
    text = [f"{len(compared)} of {len(models)} models reached the common stopping point, and every statistic is "
            f"over them. Over all of them, the Kendall τ with the gap excludes 0 after Benjamini–Hochberg for {count}"
            + (f": {taus}." if taus else ".")]
    cmi, psi = s.dropna(subset=["cmi"]), s.dropna(subset=["psi"])
    conditioned = []
    if len(cmi):
        top = cmi.iloc[0]
        conditioned.append(f"the largest CMI score is that of {label(top['measure'])} ({top['cmi']:.3f}, given "
                           f"{top['cmi_given']})")
    if len(psi):
        top = psi.loc[psi["psi"].abs().idxmax()]
        side = "excludes 0" if top["psi_low"] > 0 or top["psi_high"] < 0 else "includes 0"
        conditioned.append(f"the granulated Ψ farthest from 0 is that of {label(top['measure'])}, "
                           f"{synthesis.interval_text(top['psi'], top['psi_low'], top['psi_high'])}, whose 95% interval "
                           f"{side} (not corrected for picking it among {len(psi)})")
    if conditioned:
        text.append("Once the hyperparameters are known, " + " and ".join(conditioned) + ".")
    report.sink.markdown(" ".join(text) + " [The statistics table](#table-grid-tau) gives every measure; the sections "
                         "below are the evidence.")


def in_synthesis(report: SynthesisContext) -> None:
    """The designed grid's conditioned statistics, which the synthesis's answers lead with: per
    measure its CMI score, Ψ and overall τ with the gap and the worst sign agreement, ordered by
    the CMI score; or why there are none."""
    name = report.params.grid
    if name is None:
        report.sink.markdown("No designed grid is named in this report's params: the answers below rest on the studies' "
                             "pooled models alone.")
        return
    link = f"[{escaping.literal(name)}]({report.sink.report_link(name)})"
    compared = len(grid.compared(report.grid_models))
    if report.grid is None:
        report.sink.markdown(f"The designed grid ({link}) has {compared} models that reached its stopping point: too "
                             "few to rank any measure (at least 3).")
        return
    s = report.grid.summary
    sections.measure_terms(report, "complexity")
    explain(report, "cmi", "agreement")
    report.sink.markdown(f"The designed grid ({link}, its own report) trains one architecture family on one dataset, "
                         "varying one hyperparameter at a time, every model to the same train cross-entropy: its "
                         "statistics condition on the hyperparameters, which the studies' pooled models cannot.")
    rows = pd.DataFrame({
        "measure": s["measure"].map(lambda m: grid.MEASURES[m].label),
        "CMI score (given)": [f"{c:.3f} ({g})" if np.isfinite(c) else "—" for c, g in zip(s["cmi"], s["cmi_given"])],
        "Ψ [95% CI]": [synthesis.interval_text(e, lo, hi) for e, lo, hi in zip(s["psi"], s["psi_low"], s["psi_high"])],
        "overall τ [95% CI]": [synthesis.interval_text(e, lo, hi) for e, lo, hi in zip(s["tau"], s["tau_low"],
                                                                                         s["tau_high"])],
        "worst sign agreement (environments)": [f"{w:+.2f} ({n})" if np.isfinite(w) else f"— ({n})"
                                                for w, n in zip(s["robust_worst"], s["robust_environments"])]})
    report.sink.table(rows, "grid", f"The designed grid's statistics of each measure with the gap over its {compared} "
                      "models that reached the stopping point, ordered by the CMI score (its report gives every "
                      "factor's ψ and the environments).")
    report.sink.record("grid", {"report": name, "models": compared, "summary": s})
