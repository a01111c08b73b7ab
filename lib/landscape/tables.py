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

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .data import DATASETS, NORMALIZATIONS
from .params import DataSource, ReportParams, is_stand_in
from .pipeline import DataSummary, RunRecord

#: history column -> the study's name for it
METRIC_NAMES = {"train_loss": "train loss", "train_acc": "train acc", "test_loss": "val loss", "test_acc": "val acc"}
#: order of the numbers in ``reference.first_epochs`` rows after the epoch
FIRST_EPOCH_COLUMNS = ("train_loss", "train_acc", "test_loss", "test_acc")
STUDY, RUN, DELTA = "study", "run", "Δ"
NO_EPOCH = "No run completed an epoch (the runs table says where each one diverged), so there are no final numbers."


def reference(params: ReportParams, key: str, default: Any = None) -> Any:
    """``params.reference.<key>`` (the study's published numbers are free-form), or ``default``."""
    return (params.reference.model_extra or {}).get(key, default)


# ---------------------------------------------------------------------------- training

def history_frame(params: ReportParams, runs: Mapping[str, RunRecord]) -> pd.DataFrame:
    """All runs' per-epoch histories in one tidy frame (see module docstring)."""
    labels = {r.id: r.label for r in params.runs}
    frames = [pd.DataFrame(run.history).assign(run=run_id, label=labels[run_id])
              for run_id, run in runs.items() if run.history]
    if not frames:
        return pd.DataFrame(columns=["run", "label", "epoch", *FIRST_EPOCH_COLUMNS, "gap"])
    df = pd.concat(frames, ignore_index=True)
    first = ["run", "label", "epoch"]
    return df[first + [c for c in df.columns if c not in first]]


def final_rows(history: pd.DataFrame) -> pd.DataFrame:
    """The last completed epoch of each run, indexed by run id (params order kept)."""
    order = list(dict.fromkeys(history["run"]))
    return history.sort_values("epoch").groupby("run").tail(1).set_index("run").loc[order]


def run_status(params: ReportParams, runs: Mapping[str, RunRecord]) -> pd.DataFrame:
    """One row per run: run, label, status (completed / diverged / failed), epochs (completed),
    diverged_epoch, trained_epochs (by this execution; 0 when loaded from the cache), time_s
    (summed epoch wall time), error (why a failed run failed)."""
    labels = {r.id: r.label for r in params.runs}
    return pd.DataFrame([{"run": run_id, "label": labels[run_id], "status": run.status, "epochs": len(run.history),
                          "diverged_epoch": run.diverged_epoch, "trained_epochs": run.trained_epochs,
                          "time_s": float(sum(r["time_s"] for r in run.history)), "error": run.error}
                         for run_id, run in runs.items()],
                        columns=["run", "label", "status", "epochs", "diverged_epoch", "trained_epochs", "time_s",
                                 "error"]).astype({"diverged_epoch": "Int64"})


def runs_table(status: pd.DataFrame) -> pd.DataFrame:
    """``run_status`` for display: where divergence happened, whether the run was trained now or
    loaded from the cache, and its wall time; the reason of a failed run, when one failed."""
    shown = status if status["error"].notna().any() else status.drop(columns="error")
    return shown.rename(columns={"label": "model", "diverged_epoch": "diverged at epoch",
                                 "trained_epochs": "trained now", "time_s": "wall time (s)", "error": "why it failed"})


# ---------------------------------------------------------------------------- setup

def data_table(params: ReportParams, data: DataSource, summary: DataSummary) -> pd.DataFrame:
    """What the runs were trained and evaluated on."""
    mean, std = NORMALIZATIONS[data.normalization]
    rows = [("dataset", data.name + (f" (stand-in for {params.data.name})" if is_stand_in(data) else "")),
            ("training images", f"{summary.train_size:,}" + (f" (stratified subset, seed {data.subset_seed})"
                                                             if data.train_subset else "")),
            ("test images", f"{summary.test_size:,}" + (" (stratified subset)" if data.test_subset else "")),
            ("input shape (C, H, W)", str(tuple(summary.input_shape))),
            ("normalization", f"{data.normalization} (per-channel mean {', '.join(map(str, mean))}, "
                              f"std {', '.join(map(str, std))})"),
            ("classes", str(DATASETS[data.name][3]))]
    if is_stand_in(data):
        rows.append(("why a stand-in", data.reason))
    return pd.DataFrame(rows, columns=["item", "value"])


def models_table(params: ReportParams, parameters: Mapping[str, int]) -> pd.DataFrame:
    """One row per run: id, label, zoo model, options, seed and trainable parameter count
    (``parameters``: run id -> count, ``pipeline.describe``)."""
    rows = []
    for run in params.runs:
        options = ", ".join(f"{k}={v}" for k, v in run.options.items()) or "—"
        rows.append({"run": run.id, "label": run.label, "model": run.model, "options": options,
                     "seed": run.seed, "parameters": parameters[run.id]})
    return pd.DataFrame(rows)


def training_table(params: ReportParams) -> pd.DataFrame:
    """The optimizer and schedule shared by all runs."""
    t = params.training
    schedule = {"constant": "constant", "cosine": f"cosine to 0 over {t.epochs} epochs",
                "step": f"step: × {t.gamma} every {t.step_size} epochs"}[t.schedule]
    rows = [("optimizer", "SGD" + (" (Nesterov)" if t.nesterov else "") + f", momentum {t.momentum}"),
            ("learning rate", f"{t.lr:g}, schedule {schedule}"), ("batch size", str(t.batch_size)),
            ("epochs", str(t.epochs)), ("weight decay", f"{t.weight_decay:g}"),
            ("augmentation", "random crop (pad 4) + horizontal flip" if t.augment else "none"),
            ("loss", "cross-entropy")]
    return pd.DataFrame(rows, columns=["item", "value"])


# ---------------------------------------------------------------------------- study vs run

def _comparison(ours: Mapping[str, float], theirs: Mapping[str, float] | None, columns: Sequence[str]) -> dict:
    """Flat {(metric, study|run|Δ): value} for one row."""
    row = {}
    for col in columns:
        name = METRIC_NAMES.get(col, col)
        mine = ours.get(col, np.nan)
        mine = np.nan if mine is None else float(mine)
        if theirs is None:
            row[(name, RUN)] = mine
            continue
        published = theirs.get(col)
        published = np.nan if published is None else float(published)
        row[(name, STUDY)], row[(name, RUN)], row[(name, DELTA)] = published, mine, mine - published
    return row


def _frame(rows: list[dict], template: dict) -> pd.DataFrame:
    """Rows keyed by (group, column) as a frame with two header rows, in the order of
    ``template``'s keys; the header stays when there are no rows (no run completed an epoch)."""
    columns = list(template)
    return pd.DataFrame([[r.get(c, np.nan) for c in columns] for r in rows], columns=pd.MultiIndex.from_tuples(columns))


def first_epochs_table(history: pd.DataFrame, run_id: str, reference_rows: Sequence[Sequence[float]] | None,
                       n: int = 5) -> pd.DataFrame:
    """The first ``n`` epochs of one run: train/val loss and accuracy, with the study's rows
    (``[epoch, train loss, train acc, val loss, val acc]``) and the difference beside ours when
    given. Epochs the run did not reach show "—" for the run."""
    ours = history[history["run"] == run_id].set_index("epoch")
    theirs = {int(r[0]): dict(zip(FIRST_EPOCH_COLUMNS, r[1:])) for r in (reference_rows or [])}
    epochs = sorted(set(theirs) | set(ours.index))[:n] if theirs else sorted(ours.index)[:n]
    def row(epoch: int) -> dict:
        mine = ours.loc[epoch].to_dict() if epoch in ours.index else {}
        return {("epoch", ""): epoch,
                **_comparison(mine, theirs.get(epoch, {}) if reference_rows else None, FIRST_EPOCH_COLUMNS)}

    return _frame([row(epoch) for epoch in epochs], row(0))


def final_epoch_table(history: pd.DataFrame, reference_final: Mapping[str, Mapping[str, float]] | None = None
                      ) -> pd.DataFrame:
    """Last completed epoch per run (train/val loss and accuracy) with the study's final-epoch
    numbers beside ours for the runs the reference names."""
    def row(run_id: str, mine: Mapping) -> dict:
        theirs = None if reference_final is None else (reference_final.get(run_id) or {})
        return {("model", ""): mine.get("label", ""), ("epochs", RUN): int(mine.get("epoch", 0)),
                **_comparison(mine, theirs, FIRST_EPOCH_COLUMNS)}

    df = _frame([row(run_id, mine.to_dict()) for run_id, mine in final_rows(history).iterrows()], row("", {}))
    if reference_final is None:  # our numbers only: one header row
        df.columns = [name for name, _ in df.columns]
    return df


def gap_table(history: pd.DataFrame, reference_gap: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Final-epoch generalization gap (train acc − val acc) per run, with the largest and
    smallest gap over all epochs, and the study's gap beside ours where given."""
    extremes = history.groupby("run")["gap"].agg(["min", "max"])

    def row(run_id: str, mine: Mapping) -> dict:
        theirs = None if reference_gap is None else {"gap": (reference_gap or {}).get(run_id)}
        return {("model", ""): mine.get("label", ""), ("epochs", RUN): int(mine.get("epoch", 0)),
                **_comparison({"gap": mine.get("gap")}, theirs, ["gap"]),
                ("gap over epochs", "min"): float(extremes["min"].get(run_id, np.nan)),
                ("gap over epochs", "max"): float(extremes["max"].get(run_id, np.nan))}

    return _frame([row(run_id, mine.to_dict()) for run_id, mine in final_rows(history).iterrows()], row("", {}))


def epochs_table(history: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The first ``n`` epochs of every run in one long table (when the study published none)."""
    rows = history[history["epoch"] <= n].sort_values(["run", "epoch"], key=_params_order(history))
    out = rows[["label", "epoch", *FIRST_EPOCH_COLUMNS]].rename(columns={"label": "model", **METRIC_NAMES})
    return out.reset_index(drop=True)


def _params_order(history: pd.DataFrame):
    order = {r: i for i, r in enumerate(dict.fromkeys(history["run"]))}
    return lambda col: col.map(order) if col.name == "run" else col


# ---------------------------------------------------------------------------- sentences
# Prose that states a result is built here from the numbers, never typed into a notebook.

def _with_reference(value: float, published: float | None) -> str:
    if published is None:
        return f"{value:.4f}"
    return f"{value:.4f} (study {published:.4f}, Δ {value - published:+.4f})"


def first_epoch_sentence(history: pd.DataFrame, reference_rows: Mapping[str, Sequence] | None = None) -> str:
    """Val accuracy of every run after its first epoch, with the study's where published."""
    parts = []
    for run_id, rows in history[history["epoch"] == 1].set_index("run").iterrows():
        published = None
        for ref in (reference_rows or {}).get(run_id, []):
            if int(ref[0]) == 1:
                published = float(ref[1 + FIRST_EPOCH_COLUMNS.index("test_acc")])
        parts.append(f"{rows['label']} {_with_reference(float(rows['test_acc']), published)}")
    return "After the first epoch, val accuracy is " + "; ".join(parts) + "." if parts else ""


def final_sentence(history: pd.DataFrame, reference_final: Mapping[str, Mapping[str, float]] | None = None) -> str:
    """Which run ends with the highest val accuracy and the lowest val loss, with the numbers."""
    finals = final_rows(history)
    if finals.empty:
        return NO_EPOCH
    best_acc, best_loss = finals["test_acc"].idxmax(), finals["test_loss"].idxmin()
    ref = reference_final or {}

    def published(run_id: str, key: str) -> float | None:
        value = (ref.get(run_id) or {}).get(key)
        return None if value is None else float(value)

    epochs = sorted(set(int(e) for e in finals["epoch"]))
    when = f"after {epochs[0]} epoch{'s' if epochs[0] != 1 else ''}" if len(epochs) == 1 else "at each run's last epoch"
    text = (f"Highest final val accuracy ({when}): {finals.loc[best_acc, 'label']} with "
            f"{_with_reference(float(finals.loc[best_acc, 'test_acc']), published(best_acc, 'test_acc'))}. "
            f"Lowest final val loss: {finals.loc[best_loss, 'label']} with "
            f"{_with_reference(float(finals.loc[best_loss, 'test_loss']), published(best_loss, 'test_loss'))}.")
    others = [f"{row['label']} {row['test_acc']:.4f}" for run_id, row in finals.iterrows() if run_id != best_acc]
    if others:
        text += " Final val accuracy of the other runs: " + "; ".join(others) + "."
    return text


def gap_sentence(history: pd.DataFrame, reference_gap: Mapping[str, float] | None = None) -> str:
    """Final generalization gap per run, its sign, and the study's gap where published."""
    finals = final_rows(history)
    parts = []
    for run_id, row in finals.iterrows():
        published = (reference_gap or {}).get(run_id)
        gap = float(row["gap"])
        ref = "" if published is None else f", study {published:+.4f}"
        parts.append(f"{row['label']} {gap:+.4f} ({'train above val' if gap > 0 else 'val above train'}{ref})")
    return "Final generalization gap (train acc − val acc): " + "; ".join(parts) + "." if parts else NO_EPOCH


def headline(history: pd.DataFrame, verdicts: Sequence | None = None) -> str:
    """The report's one-line result: the best final val accuracy against the others, and the
    claim verdict counts."""
    finals = final_rows(history)
    if finals.empty:
        return "no run completed an epoch"
    ranked = finals.sort_values("test_acc", ascending=False)
    best = ranked.iloc[0]
    text = f"best val acc {best['label']} {best['test_acc']:.4f}"
    if len(ranked) == 2:
        text += f" (vs {ranked.iloc[1]['label']} {ranked.iloc[1]['test_acc']:.4f})"
    elif len(ranked) > 2:
        text += f" (next {ranked.iloc[1]['label']} {ranked.iloc[1]['test_acc']:.4f}, lowest " \
                f"{ranked.iloc[-1]['label']} {ranked.iloc[-1]['test_acc']:.4f}; {len(ranked)} runs)"
    epochs = sorted(set(int(e) for e in finals["epoch"]))
    if len(epochs) == 1:
        text += f" after {epochs[0]} epoch{'s' if epochs[0] != 1 else ''}"
    if verdicts:
        counts: dict[str, int] = {}
        for v in verdicts:
            counts[v.verdict] = counts.get(v.verdict, 0) + 1
        text += "; claims: " + ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
    return text


# ---------------------------------------------------------------------------- probes
# Frames from ``landscape.probes``; the study's numbers from ``params.reference``.

def published(params: ReportParams, key: str, run_id: str) -> float | None:
    """The study's number ``reference.<key>`` for a run: keyed by run id, or by the run's entry in
    ``reference.reference_keys`` (e.g. an architecture name when the study had one model per
    architecture and this report trains several seeds)."""
    values = reference(params, key) or {}
    if not isinstance(values, Mapping):
        return None
    value = values.get(run_id, values.get((reference(params, "reference_keys") or {}).get(run_id)))
    return None if value is None else float(value)


def noise_reference_table(params: ReportParams, noise: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """``metric`` ("accuracy" or "loss") per σ under absolute weight noise (mean over draws on
    the test probe set), study (``reference.noise_<metric>``: run → σ → value) vs run vs Δ per
    run, with the run's 95% CI half-width; the study's Table 5 in study 000."""
    measured = noise[(noise["metric"] == metric) & (noise["scale"] == "absolute")]
    ref = reference(params, f"noise_{metric}") or {}
    labels = {r.id: r.label for r in params.runs}
    rows = []
    for sigma in sorted(measured["sigma"].unique()):
        row = {("σ", ""): float(sigma)}
        for run_id in dict.fromkeys(measured["run"]):
            mine = measured[(measured["run"] == run_id) & (measured["sigma"] == sigma)].iloc[0]
            theirs = {float(k): v for k, v in (ref.get(run_id) or {}).items()}
            study = theirs.get(float(sigma), np.nan)
            row[(labels[run_id], STUDY)] = float(study)
            row[(labels[run_id], RUN)] = float(mine["mean"])
            row[(labels[run_id], DELTA)] = float(mine["mean"]) - float(study)
            row[(labels[run_id], "± CI")] = (float(mine["ci_high"]) - float(mine["ci_low"])) / 2
        rows.append(row)
    df = pd.DataFrame(rows)
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df


def noise_table(noise: pd.DataFrame) -> pd.DataFrame:
    """Loss and accuracy under weight noise per run, scale and σ: mean ± 95% CI over draws."""
    wide = noise[noise["metric"].isin(["loss", "accuracy"])].pivot_table(
        index=["label", "scale", "sigma", "mode", "n", "num_draws"], columns="metric",
        values=["mean", "ci_low", "ci_high"], sort=False)
    out = pd.DataFrame({
        "model": wide.index.get_level_values("label"), "noise": wide.index.get_level_values("scale"),
        "σ": wide.index.get_level_values("sigma"), "loss": wide[("mean", "loss")].to_numpy(),
        "loss ± CI": ((wide[("ci_high", "loss")] - wide[("ci_low", "loss")]) / 2).to_numpy(),
        "accuracy": wide[("mean", "accuracy")].to_numpy(),
        "accuracy ± CI": ((wide[("ci_high", "accuracy")] - wide[("ci_low", "accuracy")]) / 2).to_numpy(),
        "draws": wide.index.get_level_values("num_draws").astype(int), "mode": wide.index.get_level_values("mode")})
    return out


def flatness_table(params: ReportParams, flatness: pd.DataFrame) -> pd.DataFrame:
    """The study's flatness |ΔL| per run and σ (mean, 95% CI over draws) and, when the study
    published only an order (``reference.flatness_order``, least flat first, by the names of
    ``reference.reference_keys``), each architecture's rank there and in this run (1 = least
    flat; this run ranks architectures by their mean |ΔL| over seeds)."""
    out = flatness[["label", "sigma", "mean", "ci_low", "ci_high", "num_draws", "base_loss", "mode", "n"]]
    out = out.rename(columns={"label": "model", "sigma": "σ", "mean": "|ΔL| mean", "ci_low": "95% CI low",
                              "ci_high": "95% CI high", "num_draws": "draws", "base_loss": "L(θ)"})
    order = reference(params, "flatness_order")
    if not order:
        return out
    keys = reference(params, "reference_keys") or {}
    group = flatness["run"].map(lambda run_id: keys.get(run_id, run_id))
    means = flatness.assign(group=group).groupby(["sigma", "group"])["mean"].mean()
    ranks = means.groupby(level="sigma").rank(ascending=False, method="min")
    return out.assign(**{"rank (study)": [order.index(g) + 1 if g in order else np.nan for g in group],
                         "rank (run)": [int(ranks[(s, g)]) for s, g in zip(flatness["sigma"], group)]})


def _lambda_min(row: pd.Series) -> str:
    """λmin as measured: "≤ x" when only the Ritz bound was needed (negative curvature proven)."""
    if pd.isna(row["lambda_min"]):
        return row.get("lambda_min_kind", "not converged")
    return ("≤ " if row.get("lambda_min_kind") == "upper bound" else "") + f"{row['lambda_min']:.4g}"


def _condition(row: pd.Series) -> str:
    """The condition number λmax/λmin as measured, or why it is undefined."""
    return f"{row['condition_number']:.4g}" if pd.notna(row["condition_number"]) else row["condition_status"]


def hessian_table(params: ReportParams, hessian: pd.DataFrame) -> pd.DataFrame:
    """Per run: λmax by Lanczos on the fixed train set (ours) and by the study's method (power
    iteration on one mini-batch), the study's published λmax, λmin (or its upper bound), the
    condition number (or why it is undefined), the study's published one where given, and the
    Hutchinson trace ± stderr."""
    rows = []
    for run_id in dict.fromkeys(hessian["run"]):
        ours = hessian[(hessian["run"] == run_id) & (hessian["method"] == "lanczos")].iloc[0]
        study = hessian[(hessian["run"] == run_id) & (hessian["method"] == "study")]
        ref = published(params, "lambda_max", run_id)
        rows.append({"model": ours["label"], "λmax (Lanczos)": ours["lambda_max"],
                     "λmax (study method)": float(study["lambda_max"].iloc[0]) if len(study) else np.nan,
                     "λmax (study, published)": np.nan if ref is None else ref,
                     "λmin (Lanczos)": _lambda_min(ours),
                     "condition number": _condition(ours),
                     **({"condition number (study, published)": published(params, "condition_number", run_id)}
                        if reference(params, "condition_number") else {}),
                     "trace": ours["trace"], "trace ± stderr": ours["trace_stderr"],
                     "n (ours / study)": f"{int(ours['n'])} / {int(study['n'].iloc[0]) if len(study) else '—'}",
                     "mode (ours / study)": f"{ours['mode']} / {study['mode'].iloc[0] if len(study) else '—'}"})
    return pd.DataFrame(rows)


def barrier_table(barriers: pd.DataFrame, published_max_loss: float | None = None) -> pd.DataFrame:
    """Per pair, split and BatchNorm treatment: endpoint losses, the largest loss on the path and
    the loss barrier (nats), with the study's largest loss on the path (one number for every
    row, as study 001 gives it) and the difference beside ours when published."""
    out = barriers[["pair", "split", "bn", "loss_a", "loss_b", "max_loss", "loss_barrier", "loss_alpha",
                    "error_barrier", "mode", "n"]]
    out = out.rename(columns={"loss_a": "L(A)", "loss_b": "L(B)", "max_loss": "max L on path",
                              "loss_barrier": "loss barrier", "loss_alpha": "at α", "error_barrier": "error barrier"})
    if published_max_loss is None:
        return out
    at = out.columns.get_loc("max L on path") + 1
    out.insert(at, "max L, study", float(published_max_loss))
    out.insert(at + 1, "max L, Δ", out["max L on path"] - float(published_max_loss))
    return out


def probes_sentence(probe) -> str:
    """The probe sets, what came from the probe cache, and which runs were not probed and why
    (``probe``: ``probes.ProbeResults``)."""
    sets, cache = probe.sets, probe.sets.get("cache", {})
    text = (f"Probe sets: {sets['train']} train and {sets['test']} test images (stratified, seed {sets['seed']}), "
            f"mode `{sets['mode']}`. Probe results: {cache.get('computed', 0)} computed by this execution, "
            f"{cache.get('loaded', 0)} loaded from the probe cache.")
    if probe.skipped is not None and not probe.skipped.empty:
        text += " Not probed: " + "; ".join(f"{r['run']} ({r['reason']})" for _, r in probe.skipped.iterrows()) + "."
    return text


def noise_sentence(noise: pd.DataFrame) -> str:
    """Accuracy at σ = 0 and at the largest σ (absolute noise) per run."""
    acc = noise[(noise["metric"] == "accuracy") & (noise["scale"] == "absolute")]
    parts = []
    for label, rows in acc.groupby("label", sort=False):
        rows = rows.sort_values("sigma")
        first, last = rows.iloc[0], rows.iloc[-1]
        parts.append(f"{label} {first['mean']:.4f} at σ {first['sigma']:g} → {last['mean']:.4f} "
                     f"(95% CI {last['ci_low']:.4f}–{last['ci_high']:.4f}) at σ {last['sigma']:g}")
    return "Test probe-set accuracy under absolute weight noise: " + "; ".join(parts) + "." if parts else ""


def hessian_sentence(params: ReportParams, hessian: pd.DataFrame) -> str:
    parts = []
    for run_id in dict.fromkeys(hessian["run"]):
        ours = hessian[(hessian["run"] == run_id) & (hessian["method"] == "lanczos")].iloc[0]
        study = hessian[(hessian["run"] == run_id) & (hessian["method"] == "study")]
        text = f"{ours['label']} λmax {ours['lambda_max']:.4g} (Lanczos)"
        if len(study):
            ratio = float(study["lambda_max"].iloc[0]) / ours["lambda_max"] if ours["lambda_max"] else np.nan
            text += f", {float(study['lambda_max'].iloc[0]):.4g} by the study's method (× {ratio:.3g})"
        ref = published(params, "lambda_max", run_id)
        if ref is not None:
            text += f", study published {ref:g}"
        parts.append(text)
    return ("Top Hessian eigenvalue: " + "; ".join(parts) + ". The ratio shows how much of a difference to the "
            "study comes from the method (one mini-batch, a fixed number of power steps) rather than the minimum.")


def barrier_sentence(barriers: pd.DataFrame, published_max_loss: float | None = None) -> str:
    parts = [f"{r['pair']} {r['split']} ({r['bn']}): {r['loss_barrier']:.4f} nats at α {r['loss_alpha']:.2f}, "
             f"max loss {_with_reference(float(r['max_loss']), published_max_loss)}" for _, r in barriers.iterrows()]
    return "Loss barrier above the straight line between the endpoints: " + "; ".join(parts) + "." if parts else ""


def sharpness_table(params: ReportParams, sharpness: pd.DataFrame) -> pd.DataFrame:
    """Per run: SAM ε-sharpness after the projected ascent and at SAM's single first-order step,
    the study's published value (``reference.sam_sharpness``), ASAM, L(θ), n and mode."""
    rows = []
    for run_id in dict.fromkeys(sharpness["run"]):
        mine = sharpness[sharpness["run"] == run_id].set_index("kind")
        sam = mine.loc["sam"]
        ref = published(params, "sam_sharpness", run_id)
        row = {"model": sam["label"], "ρ (SAM)": sam["rho"], "SAM, ascent (ours)": sam["sharpness"],
               "SAM, first-order step": sam["first_order"], "SAM (study, published)": np.nan if ref is None else ref}
        if "asam" in mine.index:
            row.update({"ρ (ASAM)": mine.loc["asam", "rho"], "ASAM, ascent": mine.loc["asam", "sharpness"]})
        row.update({"L(θ)": sam["base_loss"], "ascent steps": int(sam["steps"]), "n": int(sam["n"]), "mode": sam["mode"]})
        rows.append(row)
    return pd.DataFrame(rows)


def sharpness_sentence(params: ReportParams, sharpness: pd.DataFrame) -> str:
    sam = sharpness[sharpness["kind"] == "sam"]
    parts = []
    for _, r in sam.iterrows():
        ref = published(params, "sam_sharpness", r["run"])
        parts.append(f"{r['label']} {r['sharpness']:.4g} nats (first-order step {r['first_order']:.4g}"
                     + (f"; study {ref:g}" if ref is not None else "") + ")")
    if not parts:
        return ""
    ratio = sam["sharpness"].max() / sam["sharpness"].min() if sam["sharpness"].min() > 0 else np.nan
    return (f"SAM sharpness at ρ = {sam['rho'].iloc[0]:g} on the train probe set: " + "; ".join(parts)
            + f". The sharpest run is × {ratio:.2f} the flattest. SAM's ball is Euclidean, so a network whose "
            "weights are small (as BatchNorm permits: its output does not change when a layer's weights are "
            "rescaled) is sharper in it for the same function; ASAM's adaptive ball removes that scale.")


def density_table(density: pd.DataFrame) -> pd.DataFrame:
    """Per run: where the density of Hessian eigenvalues lives (the grid's range, which spans the
    quadrature nodes ± 5σ), the estimated fraction clearly below 0 (``probes.density``), the
    broadening σ, the Lanczos runs and steps, the Hessian-vector products, mode and n."""
    rows = []
    for run_id, r in density.groupby("run", sort=False):
        first = r.iloc[0]
        rows.append({"model": first["label"], "λ from": r["eigenvalue"].min(), "λ to": r["eigenvalue"].max(),
                     "fraction < −1% |λ|max": first["negative_mass"], "σ": first["sigma"], "runs": int(first["runs"]),
                     "steps": int(first["steps"]), "HVPs": int(first["num_hvps"]), "mode": first["mode"],
                     "n": int(first["n"])})
    return pd.DataFrame(rows)


def density_sentence(density: pd.DataFrame) -> str:
    """The estimated share of negative eigenvalues per run, and the run whose spectrum reaches
    furthest."""
    table = density_table(density)
    parts = [f"{r['model']} {r['fraction < −1% |λ|max']:.3f}" for _, r in table.iterrows()]
    widest = table.loc[table["λ to"].idxmax()]
    return ("Estimated fraction of Hessian eigenvalues clearly below zero (below −1% of the largest |λ|; stochastic "
            "Lanczos quadrature, no broadening): "
            + "; ".join(parts) + f". The spectrum reaches furthest for {widest['model']} (up to about "
            f"{widest['λ to']:.4g}, the largest quadrature node plus 5σ). A few Lanczos runs resolve the outliers and "
            "the overall shape, not individual eigenvalues in the bulk.")


# ---------------------------------------------------------------------------- ablation (study 004)

#: ablation table metric -> the ``params.reference`` key holding the study's number per run
ABLATION_REFERENCE = {"parameters": "parameters", "test_acc": "test_acc", "train_loss": "final_train_loss",
                      "test_loss": "final_test_loss", "gap": "generalization_gap"}
ABLATION_NAMES = {"parameters": "parameters", "test_acc": "val acc", "train_loss": "final train loss",
                  "test_loss": "final val loss", "gap": "gap (train − val acc)"}


def _options(params: ReportParams, run_id: str) -> dict:
    return next(r for r in params.runs if r.id == run_id).options


def _yes(flag: Any) -> str:
    return "✓" if flag else "—"


def _completed_finals(status: pd.DataFrame, history: pd.DataFrame) -> dict[str, dict]:
    """{run id: its last epoch's numbers} for every run of ``status``; {} for a run that did not
    complete (a diverged run's weights are not finite, so it has no final numbers)."""
    finals = final_rows(history) if len(history) else pd.DataFrame()
    return {r["run"]: finals.loc[r["run"]].to_dict() if r["status"] == "completed" and r["run"] in finals.index
            else {} for _, r in status.iterrows()}


def _outcome(row: pd.Series) -> str:
    if row["status"] == "diverged":
        return f"diverged at epoch {int(row['diverged_epoch'])}"
    return f"{row['status']}, {int(row['epochs'])} epochs"


def _study_outcome(params: ReportParams, run_id: str) -> str:
    """The study's outcome for a run: diverged at the epoch in ``reference.diverged``, completed
    when it published a final accuracy, else "—"."""
    diverged_at = published(params, "diverged", run_id)
    if diverged_at is not None:
        return f"diverged at epoch {int(diverged_at)}"
    return "completed" if published(params, "test_acc", run_id) is not None else "—"


def ablation_table(params: ReportParams, status: pd.DataFrame, history: pd.DataFrame, models: pd.DataFrame,
                   metrics: Sequence[str] = tuple(ABLATION_NAMES), outcome: bool = True) -> pd.DataFrame:
    """Per configuration (study 004, section 4): skip, BN, the outcome (study, run) unless
    ``outcome`` is False, and each of ``metrics`` (keys of ABLATION_NAMES: parameters, final val
    accuracy, final train and val loss, gap) study vs run (Δ = run − study). ``models`` is
    ``models_table`` (parameter counts). A printed page holds about a dozen columns, so a report
    shows the metrics in two tables."""
    counts = models.set_index("run")["parameters"]
    finals = _completed_finals(status, history)
    rows = []
    for _, s in status.iterrows():
        options = _options(params, s["run"])
        mine = {"parameters": counts[s["run"]], **finals[s["run"]]}
        theirs = {metric: published(params, key, s["run"]) for metric, key in ABLATION_REFERENCE.items()}
        row = {("configuration", ""): s["label"], ("skip", ""): _yes(options.get("skip")),
               ("BN", ""): _yes(options.get("batchnorm"))}
        if outcome:
            row.update({("outcome", STUDY): _study_outcome(params, s["run"]), ("outcome", RUN): _outcome(s)})
        for metric in metrics:
            name = ABLATION_NAMES[metric]
            compared = _comparison(mine, theirs, [metric])
            row.update({(name, part): value for (_, part), value in compared.items()})
        rows.append(row)
    df = pd.DataFrame(rows)
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    counts_columns = [c for c in df.columns if c[0] == ABLATION_NAMES["parameters"]]
    return df.astype({c: "Int64" for c in counts_columns})  # parameter counts are integers


def ablation_sentence(status: pd.DataFrame, history: pd.DataFrame) -> str:
    parts, finals = [], _completed_finals(status, history)
    for _, s in status.iterrows():
        final = finals[s["run"]]
        parts.append(f"{s['label']} {final['test_acc']:.4f}" if final else f"{s['label']} {_outcome(s)}")
    return "Final val accuracy: " + "; ".join(parts) + "."


def loss_range_table(params: ReportParams, surface: pd.DataFrame) -> pd.DataFrame:
    """Loss over the 2-D grid per run, split and direction kind: min, max, max − min and std, with
    the study's published [min, max] (``reference.<split>_loss_range``) on the rows of the
    study's direction kind (its unit-norm directions) for comparison."""
    rows = []
    for (run_id, kind, split), r in surface.groupby(["run", "direction", "split"], sort=False):
        ref = (reference(params, f"{split}_loss_range") or {}).get(run_id) if kind != "filter" else None
        rows.append({"model": r["label"].iloc[0], "split": split, "direction": kind,
                     "min": r["loss"].min(), "max": r["loss"].max(), "max − min": r["loss"].max() - r["loss"].min(),
                     "std": r["loss"].std(ddof=0), "L(θ)": float(r[(r["alpha"] == 0) & (r["beta"] == 0)]["loss"].iloc[0])
                     if ((r["alpha"] == 0) & (r["beta"] == 0)).any() else np.nan,
                     "study min": np.nan if ref is None else ref[0], "study max": np.nan if ref is None else ref[1]})
    return pd.DataFrame(rows)


def loss_range_sentence(surface: pd.DataFrame) -> str:
    parts = []
    for (label, kind), r in surface[surface["split"] == "train"].groupby(["label", "direction"], sort=False):
        parts.append(f"{label} ({kind}) {r['loss'].max() - r['loss'].min():.4g}")
    text = "Spread of the train loss over the grid (max − min, nats): " + "; ".join(parts) + "."
    if "unit" in set(surface["direction"]):
        text += (" A unit-norm direction spread over every weight moves each by about 1/√n, so its spread measures "
                 "how far the grid reaches, not the landscape; filter-normalized directions move each filter by "
                 "its own norm.")
    return text


def gradient_table(params: ReportParams, gradient: pd.DataFrame) -> pd.DataFrame:
    """‖∇L(θ)‖₂ per run on the train and test probe sets, with the study's published value."""
    rows = []
    for run_id, r in gradient.groupby("run", sort=False):
        by_split = r.set_index("split")
        ref = published(params, "grad_norm", run_id)
        rows.append({"model": r["label"].iloc[0], "‖∇L‖ train": by_split.loc["train", "grad_norm"],
                     "‖∇L‖ test": by_split.loc["test", "grad_norm"], "study, published": np.nan if ref is None else ref,
                     "L train": by_split.loc["train", "loss"], "L test": by_split.loc["test", "loss"],
                     "n (train / test)": f"{int(by_split.loc['train', 'n'])} / {int(by_split.loc['test', 'n'])}",
                     "mode": by_split.loc["train", "mode"]})
    return pd.DataFrame(rows)


def ablation_summary_table(params: ReportParams, status: pd.DataFrame, history: pd.DataFrame,
                           hessian: pd.DataFrame | None, surface: pd.DataFrame | None) -> pd.DataFrame:
    """The study's summary tables (sections 5.2, 5.3 and 6.3) in one: per configuration val
    accuracy, λmax, condition number and train-loss spread over the grid, study vs run."""
    rows, finals = [], _completed_finals(status, history)
    for _, s in status.iterrows():
        run_id = s["run"]
        options = _options(params, run_id)
        final = finals[run_id]
        ours = hessian[(hessian["run"] == run_id) & (hessian["method"] == "lanczos")] if hessian is not None else []
        spread = np.nan
        if surface is not None and run_id in set(surface["run"]):
            r = surface[(surface["run"] == run_id) & (surface["split"] == "train") & (surface["direction"] != "filter")]
            spread = r["loss"].max() - r["loss"].min() if len(r) else np.nan
        ref_range = (reference(params, "train_loss_range") or {}).get(run_id)
        cond = published(params, "condition_number", run_id)
        lam = published(params, "lambda_max", run_id)
        acc = published(params, "test_acc", run_id)
        rows.append({
            ("configuration", ""): s["label"], ("skip", ""): _yes(options.get("skip")),
            ("BN", ""): _yes(options.get("batchnorm")),
            ("val acc", STUDY): np.nan if acc is None else acc, ("val acc", RUN): final.get("test_acc", np.nan),
            ("λmax", STUDY): np.nan if lam is None else lam,
            ("λmax", RUN): float(ours["lambda_max"].iloc[0]) if len(ours) else np.nan,
            ("condition number", STUDY): "—" if cond is None else f"{cond:g}",
            ("condition number", RUN): _condition(ours.iloc[0]) if len(ours) else "not probed",
            ("train loss spread", STUDY): np.nan if ref_range is None else ref_range[1] - ref_range[0],
            ("train loss spread", RUN): spread,
            ("outcome", RUN): _outcome(s)})
    df = pd.DataFrame(rows)
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df
