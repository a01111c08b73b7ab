"""Report sections: one function per topic, so a notebook names its sections and adds prose.

A notebook starts with :func:`begin` (params validated, claim checks parsed, data resolved, the
output sink opened) and then calls the sections it wants, in its order: :func:`setup`,
:func:`training` (trains and probes through the pipeline), :func:`curves`, :func:`final_epoch`,
:func:`gap`, :func:`probes`, a probe's section by its name (:func:`measure`: each probe's own
``report`` module makes it), :func:`claims`, :func:`findings`, :func:`answer` (made last, shown
first) and :func:`reproducibility`
(study 004's own tables are in ``ablation``). Every table, figure and caption is made from what
was computed; the study's numbers come only from ``params.reference``. A probe section whose
probe was not computed says why, the same way in every section (``pages.pending``).
"""
from __future__ import annotations

import importlib

from pathlib import Path
from types import SimpleNamespace
from dataclasses import dataclass, field
from typing import Any, Mapping

import pandas as pd

from . import findings as findings_mod
from . import dynamics as dynamics_report, plotting, tables
from ..analysis import dynamics, grid as grid_mod, prediction as prediction_mod, synthesis as synthesis_mod
from ..verdicts import rankings
from ..core.errors import ParamsError
from ..core.escaping import literal
from ..pipeline import driver
from ..core import store
from ..pipeline.engines import EngineSettings, settings as engine_settings
from ..pipeline.params import DataSource, ReportParams, SynthesisParams, is_stand_in, load_params
from ..probes import REGISTRY
from ..verdicts import claims as claims_mod
from ..verdicts import thresholds as thresholds_mod
from . import export, pages
from .sink import Report
from .terms import explain, used_in


@dataclass
class ReportContext:
    """What the sections of one report share: params, data, the output sink, how its jobs run
    (``engine``: always the local engine in the notebook's kernel, with its threads and device;
    ``cache``: the cache root), and (after :func:`training`) the pipeline's results with the
    history and status frames."""

    params: ReportParams
    data: DataSource
    sink: Report
    engine: EngineSettings
    cache: Path
    results: driver.Results | None = None
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    status: pd.DataFrame = field(default_factory=pd.DataFrame)
    verdicts: list = field(default_factory=list)  # claims_mod.Claim, after :func:`claims`
    ranked: grid_mod.RankStatistics | None = None  # a designed grid's statistics, after ``grid.rankings``

    def reference(self, key: str, default: Any = None) -> Any:
        return tables.reference(self.params, key, default)

    def published(self, key: str) -> dict[str, float | None]:
        """The study's number ``reference.<key>`` for every configuration (None where unpublished)."""
        return {r.id: tables.published(self.params, key, r.id) for r in self.params.runs}

    @property
    def labels(self) -> dict[str, str]:
        """Configuration id -> label."""
        return tables.config_labels(self.params)

    def frame(self, probe: str, term: tuple[str, str], *shared: str) -> pd.DataFrame | None:
        """How a measure's section opens: the frame of ``probe`` with the section's terms declared
        (its own ``term``, then the shared ``terms.TERMS`` named in ``shared``), or None after
        saying in the report why it was not computed."""
        found = getattr(self.results.probes, probe)
        if found is None:
            pages.pending(self.sink, self.params, f"probes.{probe}", REGISTRY[probe].measures, self.results.probes)
        else:
            self.sink.term(*term)
            explain(self, *shared)
        return found


def _run_config(device: str, cache: str | None, threads: int | None) -> tuple[EngineSettings, Path]:
    """The notebook's run configuration, from its parameters (a render passes the command line's):
    the local engine with ``threads`` on ``device``, and the cache root (``None``: $LANDSCAPE_CACHE,
    else ``cache/`` of the repository); a bad value stops here in one line."""
    return engine_settings("local", threads=threads, device=device), store.Cache(cache).root


def begin(params_file: str, profile: str, overrides: Mapping | None, output_dir: str | None, device: str,
          cache: str | None, threads: int | None, notebook: str) -> ReportContext:
    """Validate the params and their claim checks (a mistake stops here, naming the key) and the
    run configuration (device, cache, threads), find the data (the study's, or its declared
    stand-in), open the output sink, and write the title, the question and the banners of a
    non-default profile or overridden params."""
    params = load_params(params_file, profile, dict(overrides or {}))
    engine, cache_root = _run_config(device, cache, threads)
    data = params.resolve_data()
    sink = pages.open_sink(params, output_dir, notebook, device)
    pages.opening(sink, params, overrides)
    return ReportContext(params, data, sink, engine, cache_root)


def measure(report: ReportContext, name: str) -> None:
    """The section of probe ``name``, made by its own reporting module (``Probe.report``, whose
    ``SECTIONS`` maps the probes it reports to their sections): a notebook names it, and nothing
    here knows the probe."""
    importlib.import_module(REGISTRY[name].report).SECTIONS[name](report)


def measure_terms(report: ReportContext | SynthesisContext, *names: str) -> None:
    """Declare the terms of probes ``names`` (each its reporting module's ``TERM``) in a section
    that shows their measures without being their section (the synthesis)."""
    for name in names:
        report.sink.term(*importlib.import_module(REGISTRY[name].report).TERM)


# ============================================================================ setup and training

def setup(report: ReportContext) -> None:
    """The data, the models with their parameter counts, the training configuration and the
    assumptions; a banner when the data is a stand-in."""
    params, data, sink = report.params, report.data, report.sink
    if is_stand_in(data):
        sink.index_facts(stand_in=f"{data.name} stands in for {params.data.name}")
        sink.banner(f"Stand-in dataset: {data.name} replaces {params.data.name}.", f"{data.reason} The study's "
                    f"numbers in the reference columns were measured on {params.data.name}: they are not like-for-like "
                    "with this run, and differences to them say nothing about the study by themselves. What does "
                    "compare: qualitative outcomes (a run diverging, a network stuck at chance) and orderings of the "
                    "configurations; what does not: accuracies, losses and curvature values, since the data and the "
                    "regime reached (how far the training loss falls) differ.")
    summary, counts = driver.describe(params, data)
    sink.table(tables.data_table(params, data, summary), "setup-data", "Data.")
    if params.design is None:
        sink.table(tables.models_table(params, counts), "setup-models",
                   "Models: one configuration per row, the seeds it is trained with (the first is the study's, or the "
                   "run set beside the study's numbers) and the number of trainable parameters.")
    else:
        sink.table(tables.design_models_table(params, counts), "setup-models",
                   "Models: one row per combination of the design's model options, its trainable parameters and "
                   "the configurations (with the training factors) that use it.")
    sink.table(tables.training_table(params), "setup-training",
               "Training configuration, the same for every run." if not any(r.training for r in params.runs) else
               "Training configuration: each configuration's changes to it are "
               + ("in the models table." if params.design is None else "its levels of the design's training factors."))
    if params.assumptions:
        sink.bullets([literal(a) for a in params.assumptions],
                     "Where the study leaves a detail open, this report assumes:")
    if claims_mod.parse(params):
        sink.table(thresholds_mod.table(thresholds_mod.resolve(params)), "setup-thresholds",
                   "Thresholds the claim checks decide against, declared once for every report (a params file may "
                   "override one only with a stated reason, shown here).")
        sink.markdown(f"Multiplicity: {claims_mod.CORRECTION_WHY}")


def training(report: ReportContext) -> None:
    """Train every run and run every probe the params ask for (through the caches, on the engine
    of the report's run configuration), then the runs table; the history goes to ``history.csv``."""
    params = report.params
    report.results = driver.run(params, report.data, report.engine, report.cache)
    report.history = tables.history_frame(report.results.runs)
    report.status = tables.run_status(report.results.runs, tables.DATASETS[report.data.name][3],
                                      thresholds_mod.resolve(params)["chance_accuracy"].value)
    report.sink.save_csv(report.history, "history")
    report.sink.record("history", report.history)
    report.sink.record("status", report.status)
    report.sink.index_facts(training_s=float(report.status["time_s"].sum()))
    explain(report, "seeds", "modes", "probe_set", *(["batchnorm"] if any(r.traits.batchnorm for r in params.runs) else []))
    if params.design is None:
        report.sink.table(tables.runs_table(report.status), "runs",
                          "Runs, one per configuration and seed: status, epochs completed and training wall time.",
                          appendix=True)
    else:  # a grid's runs are too many to list on a page
        report.sink.save_csv(tables.runs_table(report.status), "runs")
        report.sink.markdown(tables.runs_sentence(report.status))


def _curves_caption(report: ReportContext) -> str:
    t = report.params.training
    text = ("Loss and accuracy per epoch, mean over seeds with a 95% confidence band (cut at loss 0 and at "
            "accuracy 0 and 1): train as the studies report it "
            "(solid, running mean over the epoch in train mode), train in evaluation mode on the train probe set "
            "(dotted) and val (dashed, test split)")
    if t.schedule == "step":
        text += f"; the learning rate drops × {t.gamma:g} every {t.step_size} epoch{'s' if t.step_size > 1 else ''}"
    elif t.schedule == "cosine":
        text += f"; the learning rate follows a cosine from {t.lr:g} to 0 over {t.epochs} epochs"
    if report.history["config"].nunique() >= plotting.SMALL_MULTIPLES_FROM:
        text += "; a panel per configuration (its title), one y range per row"
    if (report.status["status"] == "diverged").any():
        text += ". A diverged run stops at its last finite epoch"
    return text + "."


def curves(report: ReportContext, first_epochs: bool = True) -> None:
    """The first epochs (study vs run where the study published them) and the learning curves."""
    sink, history = report.sink, report.history
    if first_epochs:
        published = report.reference("first_epochs")
        if published:
            for run in report.params.runs:
                if run.id in published:
                    sink.table(tables.first_epochs_table(report.params, history, run.id, published[run.id]),
                               f"first-epochs-{run.id.lower()}",
                               f"{run.label}: first five epochs, the study's numbers, the study-seed run and the mean "
                               "± 95% CI over seeds.")
        else:
            sink.table(tables.epochs_table(report.params, history, n=5), "first-epochs",
                       "First epochs of every configuration, mean ± 95% CI over seeds.")
        sink.markdown(tables.first_epoch_sentence(report.params, history, published))
    sink.figure(plotting.learning_curves(history, labels=report.labels), "learning-curves", _curves_caption(report))


def final_epoch(report: ReportContext) -> None:
    """The last completed epoch of every run, study vs run where the study published it."""
    published, note = report.reference("final_epoch"), report.reference("final_epoch_note")
    report.sink.table(tables.final_epoch_table(report.params, report.history, published), "final-epoch",
                      "Last completed epoch of every configuration, mean ± 95% CI over seeds"
                      + (", beside the study's numbers and the study-seed run." if published else ".")
                      + (f" {note}" if note else ""))
    report.sink.markdown(tables.final_sentence(report.params, report.history, published))
    report.sink.record("final", tables.final_rows(report.history))


def gap(report: ReportContext) -> None:
    """The generalization gap at the last epoch and over the epochs."""
    published = report.reference("gap")
    report.sink.table(tables.gap_table(report.params, report.history, published), "gap",
                      "Generalization gap at the last epoch, mean ± 95% CI over seeds: as the studies measure it "
                      "(running-mean train accuracy over the last epoch − val accuracy"
                      + ("; the study's published gap beside it" if published else "")
                      + ") and in evaluation mode (train probe set accuracy − val accuracy, on the final weights).")
    report.sink.figure(plotting.metric_over_epochs(report.history, labels=report.labels, reference=published),
                       "gap-over-epochs", "Generalization gap per epoch, mean over seeds with a 95% band: eval mode "
                       "(solid) and with the running train accuracy (dashed)"
                       + ("; dotted: the study's final-epoch gap." if published else "."))
    report.sink.markdown(tables.gap_sentence(report.params, report.history, published))


# ============================================================================ probes

def probes(report: ReportContext) -> None:
    """The probe sets and which runs were not probed, and why."""
    found = report.results.probes
    report.sink.record("probe_sets", found.sets)
    report.sink.markdown(tables.probes_sentence(found))


# ============================================================================ verdicts

def claims(report: ReportContext) -> None:
    """Every claim of the study with its verdict and evidence, and the report's headline."""
    verdicts = claims_mod.judge(report.params, report.results.probes.evidence(report.history, report.status))
    report.verdicts = verdicts
    explain(report, "claims")
    data, study_data = report.data, report.params.data.name
    pages.claims_table(report.sink, verdicts, caption=None if not is_stand_in(data) else (
        f"The study's claims and what this report's seeds show, on {data.name} standing in for {study_data}: a "
        f"verdict says what holds on the stand-in, and a number the study measured on {study_data} is no evidence "
        f"here. {claims_mod.RULE}"))
    report.sink.markdown(claims_mod.summary_sentence(verdicts))
    report.sink.headline(tables.headline(report.params, report.history, verdicts))


def answer(report: ReportContext) -> None:
    """The answer the rendered page opens with (``export.arrange`` moves it under the title, with
    the figure the params name in ``answer_figure``): how this report's seeds decide the study's
    claims, each with the effect that carries it (after :func:`claims`)."""
    pages.answer_opens(report.sink, report.params)
    lead, items = findings_mod.answer(report.verdicts, tables.seeds_words(report.history),
                                      "the study's" if report.params.design is None else "the field's")
    explain(report, *used_in(lead, *items))  # the words of the evidence it quotes (e.g. "Kendall τ")
    report.sink.bullets(items, lead)
    report.sink.markdown("[The claims table](#table-claims) gives every comparison with its groups, threshold and "
                         "verdict; the sections below are the evidence.")


def findings(report: ReportContext) -> None:
    """Where this report differs from the study and why, and what it cannot say (after
    :func:`claims`; the verdicts themselves open the page, :func:`answer`)."""
    sink, params = report.sink, report.params
    differences = findings_mod.differences(params, report.verdicts, report.results.probes)
    if differences:
        sink.bullets(differences, "Where this report differs from the study, and whether method or result explains it:")
    sink.bullets(findings_mod.limitations(params, report.data, report.status, report.history,
                                          report.results.data.test_size, report.results.probes, report.verdicts),
                 "What this report cannot say:")


def reproducibility(report: ReportContext) -> None:
    """How to re-run the report, the cache keys of its runs, and what this render computed."""
    pages.appendix(report.sink, report.params,
                          {run_id: run.key for run_id, run in report.results.runs.items()},
                          tables.provenance_sentence(report.status, report.results.probes))


# ============================================================================ the synthesis across studies

@dataclass
class SynthesisContext:
    """What the sections of a synthesis report share: its params, each study's work (runs and
    the shared probes), the output sink, and (after :func:`synthesis_models`) each study's
    results, the models table, every rank correlation (``synthesis.correlations``), the
    trajectories (``dynamics.trajectory_table``) and the out-of-sample prediction scores (``prediction.scores``)."""

    params: SynthesisParams
    work: list[driver.Work]
    sink: Report
    engine: EngineSettings
    cache: Path
    results: list[driver.Results] = field(default_factory=list)
    models: pd.DataFrame = field(default_factory=pd.DataFrame)
    correlations: pd.DataFrame = field(default_factory=pd.DataFrame)
    effects: pd.DataFrame = field(default_factory=pd.DataFrame)
    trajectory: pd.DataFrame = field(default_factory=pd.DataFrame)
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)
    grid_work: driver.Work | None = None  # the designed grid's runs and probes, when the params name one
    dynamics_work: driver.Work | None = None  # the optimizer study's runs and probes, when the params name one
    dynamics: tuple[ReportParams, driver.Results] | None = None  # its params and results
    grid: grid_mod.RankStatistics | None = None  # its statistics over the models that reached its stopping point
    grid_models: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def studies(self) -> list[tuple[ReportParams, driver.Results]]:
        """(params, results) of each study, once :func:`synthesis_models` has run them."""
        return [(w.params, r) for w, r in zip(self.work, self.results)]


def begin_synthesis(params_file: str, profile: str, overrides: Mapping | None, output_dir: str | None, device: str,
                    cache: str | None, threads: int | None, notebook: str) -> SynthesisContext:
    """Validate the synthesis's params and every study's (a mistake stops here, naming the file
    and key) and the run configuration, find every study's data, open the output sink and write
    the title and question."""
    params = load_params(params_file, profile, dict(overrides or {}))
    if not isinstance(params, SynthesisParams):
        raise ParamsError(f"{params_file}: not a synthesis (a synthesis's params list `studies`)")
    engine, cache_root = _run_config(device, cache, threads)
    work = driver.work_of(params)
    grid_work = next((w for w in work if w.params.report == params.grid), None)
    dynamics_work = next((w for w in work if w.params.report == params.dynamics), None)
    sink = pages.open_sink(params, output_dir, notebook, device)
    pages.opening(sink, params, overrides)
    return SynthesisContext(params, [w for w in work if w is not grid_work and w is not dynamics_work], sink, engine,
                            cache_root, grid_work=grid_work, dynamics_work=dynamics_work)


def synthesis_setup(report: SynthesisContext) -> None:
    """The studies whose runs are compared, and the shared measures with their settings."""
    sink = report.sink
    measure_terms(report, "hessian", "slice1d", "sharpness", "noise", "gradient")
    explain(report, "modes", "probe_set", "positive", "lanczos", "ritz", "hutchinson")
    stand_ins = [w for w in report.work if is_stand_in(w.data)]
    if stand_ins:
        sink.index_facts(stand_in="; ".join(f"{w.params.report}: {w.data.name} stands in for {w.params.data.name}"
                                            for w in stand_ins))
    for w in stand_ins:
        sink.banner(f"Stand-in dataset in {w.params.report}: {w.data.name} replaces {w.params.data.name}.",
                    "Its models are compared here as trained, on the stand-in.")
    sink.table(pd.DataFrame([{"study": w.params.report, "source": w.params.study, "dataset": w.data.name,
                              "configurations": ", ".join(r.label for r in w.params.runs),
                              "seeds each": ", ".join(sorted({str(len(reps)) for reps in w.params.replicates_of.values()})),
                              "epochs": w.params.training.epochs} for w in report.work]),
               "studies", "The study reports whose trained runs are compared, as each trains them (same profile).")
    sets = report.params.eval_set
    sink.table(measures_table(synthesis_mod.MEASURES, measure_settings(report.params.measures)), "measures",
               f"The measures, each taken on a stratified probe set of {sets.train_size} training images of the "
               f"model's own study (seed {sets.seed}, {sets.mode} mode), with the same settings for every model.")


def measure_settings(cfg: Any) -> dict[str, str]:
    """How each measure of the ``measures`` probe is computed at its settings ``cfg``, in words."""
    return {"lambda_max": f"Lanczos, tolerance {cfg.tol:g}",
            "trace": f"Hutchinson, {cfg.trace_samples} Rademacher vectors",
            "lambda_ratio": f"λ̃min: the smallest Ritz value of {cfg.ritz_steps} Lanczos steps (≥ λmin)",
            "slice_curvature": f"mean over {cfg.slice_directions} filter-normalized directions",
            "sam": f"radius ρ = {cfg.rho:g}, {tables.ascent_words(cfg.ascent_tol, cfg.max_ascent_steps)}",
            "asam": f"radius ρ = {cfg.adaptive_rho:g}, {tables.ascent_words(cfg.ascent_tol, cfg.max_ascent_steps)}",
            "noise_drop": f"relative noise σ = {cfg.noise_sigma:g} per tensor, {cfg.noise_draws} draws",
            "grad_norm": "full probe-set gradient"}


def measures_table(measures: Mapping[str, Any], settings: Mapping[str, str]) -> pd.DataFrame:
    """One row per measure (``measures``: name -> ``probes.base.Scalar``): its label, what it is,
    its ``settings`` in words and whether BatchNorm's rescalings leave it unchanged."""
    return pd.DataFrame([{"measure": m.label, "what it is": m.meaning, "settings": settings[name],
                          "invariant to BN rescaling": "yes" if m.invariant else "no"}
                         for name, m in measures.items()])


def synthesis_models(report: SynthesisContext) -> None:
    """Every study's runs (read from the caches, or trained as the study trains them) and the
    shared measures on each, then the models table and every rank correlation."""
    grid = [report.grid_work] if report.grid_work is not None else []
    own = [report.dynamics_work] if report.dynamics_work is not None else []
    found = driver.run_many(report.work + grid + own, report.engine, report.cache)
    report.results = found[:len(report.work)]
    if own:
        report.dynamics = (report.dynamics_work.params, found[-1])
    if grid:
        grid_params, grid_result = report.grid_work.params, found[len(report.work)]
        report.grid_models = grid_mod.model_table(grid_params, grid_result, grid_result.data.num_classes)
        compared = grid_mod.compared(report.grid_models)
        report.grid = grid_mod.rank_statistics(compared, grid_mod.factors_of(grid_params)) if len(compared) >= 3 else None
    report.models = synthesis_mod.model_table([(w.params, w.data, r) for w, r in zip(report.work, report.results)])
    report.sink.index_facts(training_s=float(sum(row["time_s"] for r in report.results for run in r.runs.values()
                                                 for row in run.history)))
    report.correlations = synthesis_mod.correlations(synthesis_mod.learned(report.models))
    report.sink.save_csv(report.models, "models")
    report.sink.record("models", report.models)
    report.sink.record("correlations", report.correlations)
    apart = len(report.models) - len(synthesis_mod.learned(report.models))
    report.sink.table(synthesis_mod.models_display(report.models), "models",
                      "Every trained model: its architecture traits, outcome, final test error and evaluation-mode "
                      "generalization gap (train probe set accuracy − test accuracy, same weights). Every correlation "
                      "and effect below is over the models that learned: "
                      + (f"{apart} of {len(report.models)}, whose outcome is not 'completed', are left out."
                         if apart else f"all {len(report.models)} did."), appendix=True)
    report.sink.table(synthesis_mod.measures_display(report.models), "model-measures",
                      "Every measure of every model (— where a run was not probed: it diverged or failed); λmin < 0: "
                      "the smallest Ritz value proves negative curvature.", appendix=True)
    models = report.models
    report.sink.markdown("ε-sharpness ascent steps taken: SAM " + tables.ascent_cell(models["sam_steps"],
                                                                                   models["sam_converged"])
                         + ", ASAM " + tables.ascent_cell(models["asam_steps"], models["asam_converged"]) + ".")


def synthesis_correlations(report: SynthesisContext) -> None:
    """Kendall τ of every measure with each generalization target (the gap first, then the test
    error): overall, granulated, per study, and the ranking; the headline from the gap's."""
    report.sink.markdown("Which τ exclude 0 is decided after a multiplicity correction. " + synthesis_mod.FDR_WHY)
    report.sink.record("multiplicity", {"correction": "Benjamini–Hochberg", "why": synthesis_mod.FDR_WHY})
    for target in synthesis_mod.TARGETS:
        _correlations_with(report, target)


def _correlations_with(report: SynthesisContext, target: str) -> None:
    sink, name = report.sink, synthesis_mod.TARGETS[target]
    explain(report, "tau", "granulated", "bootstrap", "bh")
    sink.table(synthesis_mod.tau_display(report.correlations, target), f"tau-{target.replace('_', '-')}",
               f"Kendall τ of each measure with the {name} (τ > 0: a larger measure goes with a larger {name}), with "
               "its 95% bootstrap CI and n: over all models; granulated (ψ: mean τ over the groups in which only that "
               "factor varies, CI over groups, n groups; Ψ: the mean of the ψ, n factors). Measures that BatchNorm's "
               "rescalings can change are also given over the models without BatchNorm.")
    sink.figure(plotting.tau_ranking(synthesis_mod.ranking_rows(report.correlations, target),
                                     {m: v.label for m, v in synthesis_mod.MEASURES.items()}),
                f"tau-ranking-{target.replace('_', '-')}",
                f"The measures ranked by their overall Kendall τ with the {name} (95% CI), and their granulated Ψ.")
    sink.table(synthesis_mod.study_tau_display(report.correlations, target), f"tau-studies-{target.replace('_', '-')}",
               f"Kendall τ of each measure with the {name} within each study, 95% bootstrap CI (n models).")
    if target == "eval_gap":
        sink.headline(synthesis_mod.tau_headline(report.correlations, target))


def synthesis_scatter(report: SynthesisContext, target: str = "eval_gap") -> None:
    """Every measure against ``target``, one panel each."""
    report.sink.figure(plotting.measure_scatter(report.models, {m: v.label for m, v in synthesis_mod.MEASURES.items()},
                                                target, synthesis_mod.TARGETS[target]),
                       f"scatter-{target.replace('_', '-')}",
                       f"Each measure against the {synthesis_mod.TARGETS[target]}, one point per model, coloured by "
                       "study and shaped by architecture family.")


def synthesis_architecture(report: SynthesisContext) -> None:
    """How switching BatchNorm or skip connections on changes each measure, within groups."""
    report.effects = synthesis_mod.trait_effects(synthesis_mod.learned(report.models))
    report.sink.record("trait_effects", report.effects)
    shown = report.effects.assign(
        factor=report.effects["factor"].map(synthesis_mod.EFFECT_FACTORS),
        measure=report.effects["measure"].map(lambda m: synthesis_mod.MEASURES[m].label),
        ratio=[synthesis_mod.effect_interval(row).text(3) for _, row in report.effects.iterrows()]
    ).drop(columns=["low", "high"])
    report.sink.table(shown.rename(columns={"factor": "switched on", "ratio": "on / off [95% CI]"}), "trait-effects",
                      "How each measure changes when BatchNorm or skip connections are switched on: the geometric mean "
                      "over groups of models that differ only in that trait (same study, other traits and replicate) "
                      "of measure(on) / measure(off), bootstrap 95% CI over groups from "
                      f"{rankings.MIN_GROUPS} groups on.")
    pairs = synthesis_mod.effect_groups(synthesis_mod.learned(report.models))
    report.sink.table(pairs.assign(factor=pairs["factor"].map(synthesis_mod.EFFECT_FACTORS)).rename(
        columns={"factor": "switched on", "off": "without it", "on": "with it"}), "trait-effect-groups",
        "The groups behind the ratios above, one per row: models of one study and seed rank that differ only in "
        "the trait, every one of them trained to completion and learned (a network that did not learn is in none); "
        "a measure with a value ≤ 0 in a group leaves that group out of its ratio (the groups column above).")


def synthesis_trajectories(report: SynthesisContext) -> None:
    """λmax along training against the stability threshold, per traced study, and what it shows."""
    report.trajectory = dynamics.trajectory_table(report.studies)
    cfg = report.params.trajectory
    if report.trajectory.empty:
        reasons = sorted({why for r in report.results if r.probes is not None
                          and (why := r.probes.unavailable.get("trajectory"))})
        pages.pending(report.sink, report.params, "trajectory", "sharpness during training",
                      SimpleNamespace(unavailable={"trajectory": "; ".join(reasons)}) if reasons else None)
        return
    measure_terms(report, "hessian")
    explain(report, "threshold")
    report.sink.save_csv(report.trajectory, "trajectory")
    report.sink.record("trajectory", report.trajectory)
    report.sink.markdown(
        f"Each figure below follows the runs of one study: λmax on {cfg.samples} training images in {cfg.mode} mode, "
        f"at the initialization, after {', '.join(f'{f:g}' for f in cfg.early if f > 0)} of epoch 1 and at the end "
        f"of every epoch. Each λmax is found by Lanczos started from the previous point's eigenvector and stopped "
        f"at residual ≤ {cfg.tol:g}·λ (at most {cfg.max_steps} products).")
    for study, rows in report.trajectory.groupby("study", sort=False):
        report.sink.figure(plotting.trajectories(rows), f"trajectory-{study.replace('_', '-')}",
                           f"{study}: λmax along training (top, log scale; one line per seed) against the stability "
                           "threshold 2(1+β)/η of the learning rate in force (dashed); below, the loss on the same "
                           "images.")
    summary = dynamics.trajectory_summary(report.trajectory)
    report.sink.table(summary.drop(columns=["study", "config"]).rename(columns={
        "source": "study", "label": "configuration", "above": "points above threshold", "max_ratio": "max λmax/threshold",
        "lambda_init": "λmax init (median)", "lambda_epoch1": "λmax epoch 1 (median)", "lambda_last": "λmax last (median)",
        "sharpened": "runs ending sharper", "threshold_first": "2(1+β)/η at start"}), "trajectory-summary",
        "Per configuration: measured points, how many lie above the stability threshold, the largest λmax/threshold, "
        "the median over seeds of λmax at the initialization, after epoch 1 and at the last point, and the runs whose "
        "last λmax exceeds their first.")
    replays = report.trajectory.drop_duplicates(["study", "run"])
    if replays["replayed"].any():
        same = int(replays.loc[replays["replayed"], "matches_result"].sum())
        report.sink.markdown(f"{int(replays['replayed'].sum())} runs were trained again to keep their snapshots; "
                             f"{same} of them ended at the cached weights bit for bit.")
    report.sink.markdown(dynamics.trajectory_observation(report.trajectory))


def synthesis_prediction(report: SynthesisContext) -> None:
    """Whether the first points of a run's trajectory predict how its training ends, out of sample
    (``analysis.prediction``: leave one configuration out, against a baseline of η and batch size)."""
    if report.trajectory.empty:
        report.sink.markdown("Without trajectories there is nothing to predict from.")
        return
    difficulty = prediction_mod.signals(report.trajectory, dynamics.study_outcomes(report.trajectory, report.studies))
    if report.dynamics is not None:
        params, results = report.dynamics
        status = tables.run_status(results.runs, results.data.num_classes)
        difficulty = pd.concat([difficulty, dynamics_report.difficulty(params, results, status)], ignore_index=True)
    report.predictions = prediction_mod.scores(difficulty)
    explain(report, "prediction", "auc", "bootstrap")
    report.sink.save_csv(difficulty, "difficulty")
    report.sink.record("predictions", report.predictions)
    report.sink.table(tables.prediction_table(report.predictions), "prediction",
                      "Each outcome of the traced studies' runs"
                      + (f" and of the {report.params.dynamics} study's" if report.dynamics is not None else "")
                      + " predicted leave-one-configuration-out (a configuration of a study is never used to predict "
                      "itself) from the early signals ("
                      + ", ".join(prediction_mod.EARLY.values()) + ") and from a baseline that knows only log η and "
                      "log batch size. Scores over the held-out predictions of every run: AUC for failure, Kendall "
                      f"τ for the steps to the target ({dynamics.TARGET_SHARE:.0%} of the study's median final test "
                      "accuracy; a run that never reaches it counts one epoch more than it trained"
                      + ("; the optimizer study's own train-loss target, a run that never reaches it counting its "
                         "step cap" if report.dynamics is not None else "") + ") and the final test "
                      "error; 95% intervals by a cluster bootstrap over configurations, and the same for the "
                      "difference (early − baseline). The answer to the fourth question, at the top, reads them.")


def synthesis_answers(report: SynthesisContext) -> None:
    """The four questions of the studies, each answered from this report's numbers in a few
    sentences and a compact table, with links to the sections that hold the evidence."""
    grid = report.grid.summary if report.grid is not None else None
    found = synthesis_mod.answers(report.correlations, report.effects, report.trajectory, report.predictions, grid,
                                  len(grid_mod.compared(report.grid_models)) if grid is not None else 0)
    report.sink.record("answers", [a.record() for a in found])
    pages.answer_opens(report.sink, report.params)  # the rendered page opens with them
    for number, answer in enumerate(found, 1):
        links = ", ".join(f"[{synthesis_mod.SECTIONS[key]}](#{export.heading_anchor(synthesis_mod.SECTIONS[key])})"
                          for key in answer.evidence)
        report.sink.markdown(f"**{answer.question}** {answer.text} *Evidence: {links}{'' if links.endswith('?)') else '.'}*")
        if not answer.table.empty:
            report.sink.table(answer.table, f"answer-{number}", answer.caption)
