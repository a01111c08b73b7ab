"""The report's tables as pandas DataFrames: the setup (from the params), the training results of
all runs, and the study's published numbers set beside ours.

Conventions: a *history frame* (``history_frame``) is tidy, one row per (run, epoch), with the
columns of ``training`` history rows plus ``run`` (run id) and ``label``. The study's
"validation" numbers are on the test split, as ours are (``test_loss``/``test_acc``); tables name
them "val" as the study does. In comparison tables the column groups are ``study`` (the
published number, from ``params.reference``), ``run`` (ours) and ``Δ`` (run − study). A missing
number is NaN (rendered "—"); nothing is ever filled in.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..analysis import prediction as prediction_mod
from ..learning.data import DATASETS, describe_normalization
from ..pipeline.driver import DataSummary, RunRecord
from ..pipeline.params import DataSource, ReportParams, is_stand_in
from ..probes.base import NOT_COMPUTED
from ..verdicts import stats
from ..verdicts import thresholds as thresholds_mod

#: history column -> the study's name for it
METRIC_NAMES = {"train_loss": "train loss", "train_acc": "train acc", "test_loss": "val loss", "test_acc": "val acc"}
#: order of the numbers in ``reference.first_epochs`` rows after the epoch
FIRST_EPOCH_COLUMNS = ("train_loss", "train_acc", "test_loss", "test_acc")
STUDY, RUN, SEEDS = "study", "run", "seeds: mean ± 95% CI"
POSITIVE_SEEDS = "seeds: geometric mean [95% CI]"  # the column of a positive quantity (:func:`positive_cell`)
NO_EPOCH = "No run completed an epoch (the runs table says where each one diverged), so there are no final numbers."


def reference(params: ReportParams, key: str, default: Any = None) -> Any:
    """``params.reference.<key>`` (the study's published numbers are free-form), or ``default``."""
    return (params.reference.model_extra or {}).get(key, default)


# ---------------------------------------------------------------------------- training

def history_frame(runs: Mapping[str, RunRecord]) -> pd.DataFrame:
    """All runs' per-epoch histories in one tidy frame (see module docstring)."""
    frames = [pd.DataFrame(run.history).assign(run=run_id, label=run.label, config=run.config, seed=run.seed)
              for run_id, run in runs.items() if run.history]
    if not frames:
        return pd.DataFrame(columns=["run", "label", "config", "seed", "epoch", *FIRST_EPOCH_COLUMNS, "gap", "eval_gap"])
    df = pd.concat(frames, ignore_index=True)
    first = ["run", "label", "config", "seed", "epoch"]
    return df[first + [c for c in df.columns if c not in first]]


def final_rows(history: pd.DataFrame) -> pd.DataFrame:
    """The last completed epoch of each run, indexed by run id (params order kept)."""
    order = list(dict.fromkeys(history["run"]))
    return history.sort_values("epoch").groupby("run").tail(1).set_index("run").loc[order]


def run_status(runs: Mapping[str, RunRecord], num_classes: int = 10,
               tolerance: float = thresholds_mod.SUITE["chance_accuracy"].value) -> pd.DataFrame:
    """One row per run: run, label, status (completed / diverged / failed), outcome (the status,
    or "did not learn" for a completed run whose final val accuracy lies within ``tolerance``, the
    report's 'chance_accuracy' threshold, of 1/num_classes), epochs (completed), diverged_epoch, trained_epochs (by
    this execution; 0 when loaded from the cache), time_s (summed epoch wall time), error (why a
    failed run failed), and the optimizer it trained with: batch_size, lr (initial), momentum, nesterov."""
    def outcome(run: RunRecord) -> str:
        final = run.final
        at_chance = (run.status == "completed" and bool(final)
                     and thresholds_mod.at_chance(final["test_acc"], num_classes, tolerance))
        return thresholds_mod.DID_NOT_LEARN if at_chance else run.status

    return pd.DataFrame([{"run": run_id, "label": run.label, "config": run.config, "seed": run.seed,
                          "status": run.status, "outcome": outcome(run), "epochs": run.epochs,
                          "diverged_epoch": run.diverged_epoch, "trained_epochs": run.trained_epochs,
                          "time_s": float(sum(r["time_s"] for r in run.history)), "error": run.error,
                          "batch_size": run.spec.train.batch_size, "lr": run.spec.train.lr,
                          "momentum": run.spec.train.momentum, "nesterov": run.spec.train.nesterov}
                         for run_id, run in runs.items()],
                        columns=["run", "label", "config", "seed", "status", "outcome", "epochs", "diverged_epoch",
                                 "trained_epochs", "time_s", "error", "batch_size", "lr", "momentum", "nesterov"]).astype({"diverged_epoch": "Int64"})


def runs_table(status: pd.DataFrame) -> pd.DataFrame:
    """``run_status`` for display: where divergence happened and the run's training wall time; the
    reason of a failed run, when one failed (what this render trained is in the reproducibility
    appendix: :func:`provenance_sentence`)."""
    shown = status.drop(columns=["trained_epochs", "status", "batch_size", "lr", "momentum", "nesterov"]).assign(
        time_s=status["time_s"].round().astype(int))  # whole seconds
    shown = shown if shown["error"].notna().any() else shown.drop(columns="error")
    return shown.rename(columns={"label": "model", "outcome": "status", "diverged_epoch": "diverged at epoch",
                                 "time_s": "wall time (s)",
                                 "error": "why it failed"})


def provenance_sentence(status: pd.DataFrame, probe=None) -> str:
    """What this render computed and what it read from the caches: runs (and epochs) trained now,
    probe results computed now (``probe``: ``probes.ProbeResults``)."""
    trained = status[status["trained_epochs"] > 0]
    text = (f"This render read all {len(status)} runs from the training cache" if trained.empty else
            f"This render trained {len(trained)} of {len(status)} runs ({int(trained['trained_epochs'].sum())} epochs)"
            + (" and read the others from the training cache" if len(trained) < len(status) else ""))
    cache = (probe.sets.get("cache", {}) if probe is not None else {})
    if cache:
        text += (f"; it computed {cache.get('computed', 0)} probe results and read {cache.get('loaded', 0)} from the "
                 "probe cache")
    return text + "."


# ---------------------------------------------------------------------------- setup

def data_table(params: ReportParams, data: DataSource, summary: DataSummary) -> pd.DataFrame:
    """What the runs were trained and evaluated on."""
    rows = [("dataset", data.name + (f" (stand-in for {params.data.name})" if is_stand_in(data) else "")),
            ("training images", f"{summary.train_size:,}" + (f" (stratified subset, seed {data.subset_seed})"
                                                             if data.train_subset else "")),
            ("test images", f"{summary.test_size:,}" + (" (stratified subset)" if data.test_subset else "")),
            ("input shape (C, H, W)", str(tuple(summary.input_shape))),
            ("normalization", describe_normalization(data.normalization)),
            ("classes", str(DATASETS[data.name][3]))]
    if is_stand_in(data):
        rows.append(("why a stand-in", data.reason))
    return pd.DataFrame(rows, columns=["item", "value"])


def models_table(params: ReportParams, parameters: Mapping[str, int]) -> pd.DataFrame:
    """One row per configuration: id, label, zoo model, options, seeds (the study's first),
    trainable parameter count (``parameters``: run id -> count, ``pipeline.describe``) and, when
    some configuration changes the report's training, its changes."""
    rows = []
    for config, reps in params.replicates_of.items():
        run = params.config(config)
        options = ", ".join(f"{k}={v}" for k, v in run.options.items()) or "—"
        rows.append({"configuration": config, "label": run.label, "model": run.model, "options": options,
                     "seeds": ", ".join(str(r.seed) for r in reps), "parameters": parameters[reps[0].id]})
        if any(r.training for r in params.runs):
            rows[-1]["training"] = ", ".join(f"{k}={v}" for k, v in run.training.items()) or "as below"
    return pd.DataFrame(rows)


def design_models_table(params: ReportParams, parameters: Mapping[str, int]) -> pd.DataFrame:
    """A designed grid's models, one row per distinct set of model options (the training factors
    do not change a model): options, trainable parameter count, and how many configurations use it."""
    rows: dict[str, dict] = {}
    for config, reps in params.replicates_of.items():
        run = params.config(config)
        options = ", ".join(f"{k}={v}" for k, v in run.options.items()) or "—"
        row = rows.setdefault(f"{run.model} {options}", {"model": run.model, "options": options,
                                                        "parameters": parameters[reps[0].id], "configurations": 0})
        row["configurations"] += 1
    return pd.DataFrame(list(rows.values()))


def runs_sentence(status: pd.DataFrame) -> str:
    """The runs table in one sentence, for a report with too many runs to list: how many ended each
    way, the epochs completed (range and median) and the summed training wall time."""
    ended = "; ".join(f"{n} {outcome}" for outcome, n in status["outcome"].value_counts().items())
    epochs = status["epochs"]
    return (f"{len(status)} runs: {ended}; epochs completed from {int(epochs.min())} to {int(epochs.max())} (median "
            f"{epochs.median():g}); {status['time_s'].sum():,.0f} s of training wall time in all. Every run's row is "
            "in runs.csv beside this page.")


def training_table(params: ReportParams) -> pd.DataFrame:
    """The optimizer and schedule shared by all runs (a configuration's own changes to it are in
    the models table)."""
    t = params.training
    schedule = {"constant": "constant", "cosine": f"cosine to 0 over {t.epochs} epochs",
                "step": f"step: × {t.gamma} every {t.step_size} epochs"}[t.schedule]
    rows = [("optimizer", "SGD" + (" (Nesterov)" if t.nesterov else "") + f", momentum {t.momentum}"),
            ("learning rate", f"{t.lr:g}, schedule {schedule}"), ("batch size", str(t.batch_size)),
            ("epochs", str(t.epochs) if t.stop_train_loss is None else
             f"until the whole training split's cross-entropy is at most {t.stop_train_loss:g}, at most {t.epochs}"),
            ("weight decay", f"{t.weight_decay:g}"),
            ("augmentation", "random crop (pad 4) + horizontal flip" if t.augment else "none"),
            ("loss", "cross-entropy")]
    return pd.DataFrame(rows, columns=["item", "value"])


# ---------------------------------------------------------------------------- over seeds
# A configuration's number is the mean over its seeds with a 95% t interval (``stats.mean_ci``),
# shown as "mean ± half-width"; where the study published a number, the run that matches its
# setup (the configuration's first, study seed) is set beside it.

def ci_cell(values: Sequence[float]) -> str:
    """"mean ± 95% CI half-width" over seeds, to the half-width's precision
    (``stats.estimate_text``); "mean (n = 2: no interval)" with fewer than ``stats.MIN_UNITS``
    seeds (or pairs), "—" with none."""
    found = stats.mean_ci(values)
    if found.n == 0:
        return "—"
    if not found.defined:
        return f"{stats.number_text(found.estimate)} (n = {found.n}{': no interval' if found.n > 1 else ''})"
    return stats.estimate_text(found.estimate, found.half_width)


#: how a table or sentence names what :func:`positive_cell` shows
POSITIVE_WORDS = "geometric mean over seeds [95% CI] (mean ± 95% CI where a seed's value is not positive)"


def positive_cell(values: Sequence[float]) -> str:
    """A positive quantity over seeds (λ, a trace, sharpness, a ratio, a gradient norm, a spread):
    the geometric mean with the t interval on logs mapped back, "g [low, high]" to 3 significant
    digits (``stats.geometric_ci``; never below 0, however far apart the seeds); "g (n = 2: no
    interval)" with fewer than ``stats.MIN_UNITS``, "—" with none. Where a seed's value is not
    positive (a trace or λ of a non-convex point), the quantity is not positive there:
    :func:`ci_cell`; where one is exactly 0 (an error barrier), the mean with the range of the
    values (:func:`ci_cell` with fewer than 3)."""
    found = pd.Series(values, dtype=float).dropna()
    if found.empty or (found < 0).any():
        return ci_cell(found)
    if (found == 0).any():  # non-negative with zeros (an error barrier of 0): no log scale, no interval below 0
        if len(found) < stats.MIN_UNITS:
            return ci_cell(found)
        return (f"{stats.number_text(found.mean(), 3)} (range {stats.number_text(found.min(), 3)}–"
                f"{stats.number_text(found.max(), 3)}, n = {len(found)})")
    interval = stats.geometric_ci(found)
    if interval.defined:
        return interval.text(3)
    return f"{stats.number_text(interval.estimate)} (n = {interval.n}{': no interval' if interval.n > 1 else ''})"


def ascent_words(tol: float, max_steps: int) -> str:
    """How an ε-sharpness ascent stops, in words."""
    return f"projected ascent until a step changes the value by at most {tol:g} relative (at most {max_steps} steps)"


def ascent_cell(steps: Sequence[int], converged: Sequence[bool]) -> str:
    """The ascent steps taken, as a range over runs, and how many stopped at the cap."""
    steps = np.asarray(steps, dtype=float)
    taken = ~np.isnan(steps)  # runs that were not probed have NaN in both
    steps, capped = steps[taken], sum(not bool(c) for c in np.asarray(converged, dtype=object)[taken])
    if not len(steps):
        return "—"
    low, high = int(steps.min()), int(steps.max())
    return (f"{low}" if low == high else f"{low}–{high}") + (f" ({capped} at the cap)" if capped else "")


def configs_in(params: ReportParams, frame: pd.DataFrame) -> list[str]:
    """The configurations present in ``frame``, in params order."""
    present = set(frame["config"]) if "config" in frame else set()
    return [c for c in params.replicates_of if c in present]


def config_labels(params: ReportParams) -> dict[str, str]:
    return {r.id: r.label for r in params.runs}


def study_run(params: ReportParams, config: str) -> str:
    """The run id of a configuration's study seed (its first)."""
    return params.replicates_of[config][0].id


def _seed_column(params: ReportParams, config: str) -> str:
    return f"seed {params.replicates_of[config][0].seed}"


def first_epochs_table(params: ReportParams, history: pd.DataFrame, config: str,
                       reference_rows: Sequence[Sequence[float]] | None, n: int = 5) -> pd.DataFrame:
    """The first ``n`` epochs of one configuration: train/val loss and accuracy, per metric the
    study's row (``[epoch, train loss, train acc, val loss, val acc]``), the study-seed run and
    the mean ± 95% CI over seeds. Epochs not reached show "—"."""
    rows = history[history["config"] == config]
    seed_rows = rows[rows["run"] == study_run(params, config)].set_index("epoch")
    theirs = {int(r[0]): dict(zip(FIRST_EPOCH_COLUMNS, r[1:])) for r in (reference_rows or [])}
    epochs = sorted(set(theirs) | set(rows["epoch"]))[:n]
    out = []
    for epoch in epochs:
        row = {("epoch", ""): epoch}
        at = rows[rows["epoch"] == epoch]
        for col in FIRST_EPOCH_COLUMNS:
            name = METRIC_NAMES[col]
            if reference_rows:
                row[(name, STUDY)] = theirs.get(epoch, {}).get(col, np.nan)
                row[(name, _seed_column(params, config))] = seed_rows[col].get(epoch, np.nan)
            row[(name, SEEDS)] = ci_cell(at[col])
        out.append(row)
    df = pd.DataFrame(out)
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df


def epochs_table(params: ReportParams, history: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The first ``n`` epochs of every configuration, mean ± 95% CI over seeds (when the study
    published none)."""
    out = []
    for config in configs_in(params, history):
        rows = history[(history["config"] == config) & (history["epoch"] <= n)]
        for epoch, at in rows.groupby("epoch"):
            out.append({"model": config_labels(params)[config], "epoch": int(epoch), "seeds": at["seed"].nunique(),
                        **{METRIC_NAMES[c]: ci_cell(at[c]) for c in FIRST_EPOCH_COLUMNS}})
    return pd.DataFrame(out)


def final_epoch_table(params: ReportParams, history: pd.DataFrame,
                      reference_final: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """The last completed epoch per configuration: train/val loss and accuracy, mean ± 95% CI
    over seeds, with the study's final-epoch numbers and the study-seed run beside them where
    the study published them."""
    finals = final_rows(history)
    out = []
    for config in configs_in(params, finals):
        rows = finals[finals["config"] == config]
        theirs = _final_reference(params, reference_final, config)
        row = {("model", ""): config_labels(params)[config], ("seeds", ""): len(rows),
               ("epochs", ""): ", ".join(str(e) for e in sorted(set(rows["epoch"].astype(int))))}
        for col in FIRST_EPOCH_COLUMNS:
            name = METRIC_NAMES[col]
            if reference_final is not None:
                row[(name, STUDY)] = np.nan if theirs.get(col) is None else float(theirs[col])
                mine = rows[rows.index == study_run(params, config)][col]
                row[(name, "study seed")] = float(mine.iloc[0]) if len(mine) else np.nan
            row[(name, SEEDS)] = ci_cell(rows[col])
        out.append(row)
    df = pd.DataFrame(out)
    if len(df):
        df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df


def _final_reference(params: ReportParams, reference_final: Mapping | None, config: str) -> dict:
    """The study's final-epoch numbers for a configuration (keyed by it or its study-seed run)."""
    return dict(for_config(params, reference_final, config) or {})


def gap_table(params: ReportParams, history: pd.DataFrame, reference_gap: Mapping[str, float] | None = None
              ) -> pd.DataFrame:
    """The final generalization gap per configuration, mean ± 95% CI over seeds, two ways: the
    studies' (running-mean train accuracy over the last epoch − val accuracy; the study's
    published gap beside it) and in evaluation mode (train probe set accuracy − val accuracy,
    both on the final weights), with the eval-mode train accuracy and loss."""
    finals = final_rows(history)
    out = []
    for config in configs_in(params, finals):
        rows = finals[finals["config"] == config]
        published_gap = for_config(params, reference_gap, config)
        row = {"model": config_labels(params)[config], "seeds": len(rows)}
        if reference_gap is not None:
            row["gap, study"] = np.nan if published_gap is None else float(published_gap)
        row.update({"gap (running train acc)": ci_cell(rows["gap"]), "gap (eval mode)": ci_cell(rows["eval_gap"]),
                    "train acc (eval mode)": ci_cell(rows["eval_train_acc"]),
                    "train loss (eval mode)": ci_cell(rows["eval_train_loss"])})
        out.append(row)
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------- sentences
# Prose that states a result is built here from the numbers, never typed into a notebook.

def _with_reference(text: str, published: float | None) -> str:
    return text if published is None else f"{text} (study {stats.number_text(published)})"


def first_epoch_sentence(params: ReportParams, history: pd.DataFrame,
                         reference_rows: Mapping[str, Sequence] | None = None) -> str:
    """Val accuracy of every configuration after its first epoch (mean ± 95% CI over seeds), with
    the study's where published."""
    parts = []
    first = history[history["epoch"] == 1]
    for config in configs_in(params, first):
        published = None
        for ref in (reference_rows or {}).get(config, []):
            if int(ref[0]) == 1:
                published = float(ref[1 + FIRST_EPOCH_COLUMNS.index("test_acc")])
        cell = ci_cell(first[first["config"] == config]["test_acc"])
        parts.append(f"{config_labels(params)[config]} {_with_reference(cell, published)}")
    return ("After the first epoch, val accuracy (mean ± 95% CI over seeds) is " + "; ".join(parts) + "."
            if parts else "")


def final_sentence(params: ReportParams, history: pd.DataFrame,
                   reference_final: Mapping[str, Mapping[str, float]] | None = None) -> str:
    """Final val accuracy and loss of every configuration over seeds, best first."""
    finals = final_rows(history)
    if finals.empty:
        return NO_EPOCH
    means = finals.groupby("config")["test_acc"].mean().sort_values(ascending=False)
    parts = []
    for config in means.index:
        rows = finals[finals["config"] == config]
        published = _final_reference(params, reference_final, config).get("test_acc")
        parts.append(f"{config_labels(params)[config]} val acc "
                     f"{_with_reference(ci_cell(rows['test_acc']), None if published is None else float(published))}, "
                     f"val loss {ci_cell(rows['test_loss'])}")
    return "At the last epoch (mean ± 95% CI over seeds, highest val accuracy first): " + "; ".join(parts) + "."


MODE_WORDS = {"training": ("BatchNorm normalizes with batch statistics", "dropout on"),  # a training step
              "train": ("BatchNorm normalizes with batch statistics", "dropout off"),  # probes' train mode
              "eval": ("BatchNorm running statistics", "dropout off")}


def mode_words(params: ReportParams, mode: str) -> str:
    """What ``mode`` (``MODE_WORDS``: a training step, or the probes' "train" or "eval" mode) does
    to the report's models, in words: BatchNorm's statistics and dropout, for the layers some
    model has ("" when none has either, so every mode is the same)."""
    found = [run.traits for run in params.runs]
    words = MODE_WORDS[mode]
    return ", ".join(w for w, has in zip(words, (any(t.batchnorm for t in found), any(t.dropout for t in found))) if has)


def gap_sentence(params: ReportParams, history: pd.DataFrame, reference_gap: Mapping[str, float] | None = None) -> str:
    """Final generalization gap per configuration both ways, and the study's where published."""
    finals = final_rows(history)
    parts = []
    for config in configs_in(params, finals):
        rows = finals[finals["config"] == config]
        published_gap = for_config(params, reference_gap, config)
        parts.append(f"{config_labels(params)[config]} {ci_cell(rows['eval_gap'])} in eval mode, "
                     f"{ci_cell(rows['gap'])} with the running train accuracy"
                     + ("" if published_gap is None else f" (study {stats.number_text(published_gap, signed=True)})"))
    train_mode = mode_words(params, "training")
    return ("Final generalization gap (train acc − val acc, mean ± 95% CI over seeds): " + "; ".join(parts) + ". "
            "The running train accuracy averages over an epoch of changing weights in train mode"
            + (f" ({train_mode})" if train_mode else "") + "; "
            "the eval-mode gap measures both accuracies on the final weights." if parts else NO_EPOCH)


# decided verdicts quote their claims in full (a cut text can lose the direction it states); the
# others are counted
HEADLINE_DECIDED = ("supported", "contradicted", "mixed", "depends on the method")
HEADLINE_OPEN = ("inconclusive", "undecidable with these seeds", "pending")


def seeds_words(history: pd.DataFrame) -> str:
    """How many seeds per configuration completed an epoch, in words: "8 seeds each", "3–5 seeds"."""
    count = final_rows(history).groupby("config")["test_acc"].count()
    if count.empty:
        return "no seeds"
    return f"{int(count.min())}–{int(count.max())} seeds" if count.nunique() > 1 else f"{int(count.iloc[0])} seeds each"


def headline(params: ReportParams, history: pd.DataFrame, verdicts: Sequence | None = None) -> str:
    """The report's answer in one line: the claims its seeds decide (supported, contradicted,
    mixed, or decided otherwise by the study's method), each by its whole text, then how many stay
    inconclusive, undecidable or pending, and the seeds behind it; without claims, the final val
    accuracy per configuration (mean over seeds), best first."""
    finals = final_rows(history)
    if finals.empty:
        return "no run completed an epoch"
    means = finals.groupby("config")["test_acc"].agg(["mean", "count"]).sort_values("mean", ascending=False)
    seeds = seeds_words(history)
    if not verdicts:
        labels = config_labels(params)
        shown = [f"{labels[c]} {stats.number_text(r['mean'])}" for c, r in means.head(3).iterrows()]
        return f"val acc over seeds: {'; '.join(shown)}" + ("; …" if len(means) > 3 else "") + f" ({seeds})"
    by_verdict: dict[str, list[str]] = {}
    for v in verdicts:
        by_verdict.setdefault(v.headline, []).append(v.text)
    decided = [f"{verdict}: " + "; ".join(f"“{t}”" for t in by_verdict[verdict])
               for verdict in HEADLINE_DECIDED if verdict in by_verdict]
    open_ = [f"{len(by_verdict[verdict])} {verdict}" for verdict in HEADLINE_OPEN if verdict in by_verdict]
    if not decided:
        return f"no claim decided by {seeds.replace(' each', ' per configuration')}: " + ", ".join(open_)
    return ". ".join(decided) + (f". {', '.join(open_)}" if open_ else "") + f" ({seeds})"


# ---------------------------------------------------------------------------- probes
# Frames from ``landscape.probes``; the study's numbers from ``params.reference``.

def for_config(params: ReportParams, values: Mapping | None, name: str) -> Any:
    """The study's entry in ``values`` (a ``reference`` mapping) for ``name``, a configuration id
    or a run id, or None.

    The reference is keyed by configuration (the study's model, e.g. ``B``), by the study's name
    for it (``reference.reference_keys``), or by run id (``A_s1``) where the study names a seed.
    A configuration gets the entry of its study-seed run; a run gets its configuration's entry
    only if it is that configuration's study-seed run (the run that matches the study's setup)."""
    if not isinstance(values, Mapping):
        return None
    keys = reference(params, "reference_keys") or {}
    replicates = params.replicates_of
    if name in replicates:
        candidates = [name, keys.get(name), replicates[name][0].id]
    else:
        rep = next((r for r in params.replicas if r.id == name), None)
        candidates = [name] + ([rep.config, keys.get(rep.config)] if rep is not None and rep.study_seed else [])
    return next((values[c] for c in candidates if c is not None and c in values), None)


def published(params: ReportParams, key: str, name: str) -> float | None:
    """The study's number ``reference.<key>`` for ``name`` (see :func:`for_config`)."""
    value = for_config(params, reference(params, key), name)
    return None if value is None else float(value)


RATIO_LABEL = "λmax/|λmin|"


def curvature_ratio_cell(ours: pd.DataFrame) -> str:
    """λmax/|λmin| over the seeds whose λmin was computed (:func:`positive_cell`), "≤" where λmin is only
    bounded (a Ritz value above λmin: the ratio is then an upper bound), and in how many of them
    λmin < 0 (where the condition number λmax/λmin is undefined). "—" without any λmin."""
    measured = ours[(ours["lambda_min_kind"] != NOT_COMPUTED) & ours["lambda_min"].notna()]
    if not len(measured):
        return "—"
    ratios = measured["lambda_max"] / measured["lambda_min"].abs()
    bound = "≤ " if (measured["lambda_min_kind"] == "upper bound").any() else ""
    negative = int((measured["lambda_min"] < 0).sum())
    return f"{bound}{positive_cell(ratios)} (λmin < 0 in {negative} of {len(measured)})"


def probes_sentence(probe) -> str:
    """The probe sets and which runs were not probed and why (``probe``: ``probes.ProbeResults``)."""
    sets = probe.sets
    text = (f"Probe sets: {sets['train']} train and {sets['test']} test images (stratified, seed {sets['seed']}), "
            f"evaluated in {sets['mode']} mode.")
    if probe.skipped is not None and not probe.skipped.empty:
        text += " Not probed: " + "; ".join(f"{r['run']} ({r['reason']})" for _, r in probe.skipped.iterrows()) + "."
    return text


def batchnorm_caveat(params: ReportParams, frame: pd.DataFrame, measure: str) -> str:
    """The BatchNorm rescaling caveat for ``measure`` (e.g. "λmax") when a configuration of
    ``frame`` has BatchNorm; "" otherwise. Weights feeding a BatchNorm layer can be scaled by any
    c > 0 without changing the function, and the curvature along them scales by 1/c²."""
    normed = [params.config(c).label for c in configs_in(params, frame) if params.config(c).traits.batchnorm]
    if not normed:
        return ""
    return (f"With BatchNorm ({'; '.join(normed)}), the weights feeding each BatchNorm layer can be scaled by any "
            f"c > 0 without changing what the network computes, and the curvature along them scales by 1/c²: {measure} "
            "of these models measures the weights' scale as well as the minimum, so it compares with another model's "
            "only with that caveat. Measures taken relative to the weights' scale (along directions, with noise or in a "
            "ball scaled to each filter's or tensor's norm) are not affected.")


def loss_spreads(ranges: pd.DataFrame, config: str, kind: str, split: str) -> pd.Series:
    """The loss range (max − min over a grid) of each seed of ``config`` (index: seed) from a
    ``loss_range`` frame or a surface reduced by ``surfaces.loss_ranges``."""
    rows = ranges[(ranges["config"] == config) & (ranges["direction"] == kind) & (ranges["split"] == split)]
    return rows.set_index("seed")["range"]


def prediction_table(found: pd.DataFrame) -> pd.DataFrame:
    """``prediction.scores`` for display: per outcome its score, runs, configurations, failed
    runs, and the early signals', the baseline's and their difference's ``estimate [low, high]``."""
    def text(row: pd.Series, name: str) -> str:
        interval = stats.Interval(row.get(name, math.nan), row.get(f"{name}_low", math.nan),
                                  row.get(f"{name}_high", math.nan), 0, stats.LEVEL, "")
        if not row["runs"] or pd.isna(interval.estimate):
            return "—"
        return interval.text(2) if interval.defined else f"{interval.estimate:+.2f} (no interval)"
    return pd.DataFrame({
        "outcome (score)": [f"{prediction_mod.OUTCOMES[r['outcome']]} ({r.get('score', '—')})" for _, r in found.iterrows()],
        "runs": found["runs"], "configurations": found["configs"],
        "failed runs": [int(p) if pd.notna(p) else "" for p in found.get("positives", pd.Series([None] * len(found)))],
        **{words: [text(r, name) for _, r in found.iterrows()]
           for name, words in (("early", "early signals"), ("baseline", "η and batch only"),
                               ("difference", "early − baseline"))}})
