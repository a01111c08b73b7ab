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
from .models import count_parameters
from .params import DataSource, ReportParams, is_stand_in
from .training import TrainedRun, build_run_model, load_splits, train

#: history column -> the study's name for it
METRIC_NAMES = {"train_loss": "train loss", "train_acc": "train acc", "test_loss": "val loss", "test_acc": "val acc"}
#: order of the numbers in ``reference.first_epochs`` rows after the epoch
FIRST_EPOCH_COLUMNS = ("train_loss", "train_acc", "test_loss", "test_acc")
STUDY, RUN, DELTA = "study", "run", "Δ"


def reference(params: ReportParams, key: str, default: Any = None) -> Any:
    """``params.reference.<key>`` (the study's published numbers are free-form), or ``default``."""
    return (params.reference.model_extra or {}).get(key, default)


# ---------------------------------------------------------------------------- training

def train_runs(params: ReportParams, data: DataSource | None = None, device: str = "auto",
               cache: str | None = None, progress: bool = False) -> dict[str, TrainedRun]:
    """Train (or load from the cache) every run of ``params``, in the params file's order."""
    return {run_id: train(spec, cache=cache, device=device, progress=progress)
            for run_id, spec in params.run_specs(data).items()}


def history_frame(params: ReportParams, runs: Mapping[str, TrainedRun]) -> pd.DataFrame:
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


def runs_table(params: ReportParams, runs: Mapping[str, TrainedRun]) -> pd.DataFrame:
    """One row per run: status, epochs completed, where divergence happened, whether it was
    trained now or loaded from the cache, and the summed wall time of its epochs."""
    labels = {r.id: r.label for r in params.runs}
    rows = []
    for run_id, run in runs.items():
        rows.append({"run": run_id, "model": labels[run_id], "status": run.status,
                     "epochs": len(run.history), "diverged at epoch": run.diverged_epoch,
                     "trained now": run.trained_epochs,
                     "wall time (s)": float(sum(r["time_s"] for r in run.history))})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- setup

def data_table(params: ReportParams, data: DataSource) -> pd.DataFrame:
    """What the runs were trained and evaluated on."""
    train_ds, test_ds = load_splits(data.spec())
    mean, std = NORMALIZATIONS[data.normalization]
    rows = [("dataset", data.name + (f" (stand-in for {params.data.name})" if is_stand_in(data) else "")),
            ("training images", f"{len(train_ds):,}" + (f" (stratified subset, seed {data.subset_seed})"
                                                         if data.train_subset else "")),
            ("test images", f"{len(test_ds):,}" + (" (stratified subset)" if data.test_subset else "")),
            ("input shape (C, H, W)", str(tuple(train_ds.images.shape[1:]))),
            ("normalization", f"{data.normalization} (per-channel mean {', '.join(map(str, mean))}, "
                              f"std {', '.join(map(str, std))})"),
            ("classes", str(DATASETS[data.name][3]))]
    if is_stand_in(data):
        rows.append(("why a stand-in", data.reason))
    return pd.DataFrame(rows, columns=["item", "value"])


def models_table(params: ReportParams, data: DataSource) -> pd.DataFrame:
    """One row per run: id, label, zoo model, options, seed and parameter count."""
    train_ds, _ = load_splits(data.spec())
    shape = tuple(train_ds.images.shape[1:])
    rows = []
    for run_id, spec in params.run_specs(data).items():
        run = next(r for r in params.runs if r.id == run_id)
        model = build_run_model(spec, shape, train_ds.num_classes)
        options = ", ".join(f"{k}={v}" for k, v in run.options.items()) or "—"
        rows.append({"run": run_id, "label": run.label, "model": run.model, "options": options,
                     "seed": run.seed, "parameters": count_parameters(model)})
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


def first_epochs_table(history: pd.DataFrame, run_id: str, reference_rows: Sequence[Sequence[float]] | None,
                       n: int = 5) -> pd.DataFrame:
    """The first ``n`` epochs of one run: train/val loss and accuracy, with the study's rows
    (``[epoch, train loss, train acc, val loss, val acc]``) and the difference beside ours when
    given. Epochs the run did not reach show "—" for the run."""
    ours = history[history["run"] == run_id].set_index("epoch")
    theirs = {int(r[0]): dict(zip(FIRST_EPOCH_COLUMNS, r[1:])) for r in (reference_rows or [])}
    epochs = sorted(set(theirs) | set(ours.index))[:n] if theirs else sorted(ours.index)[:n]
    rows = []
    for epoch in epochs:
        mine = ours.loc[epoch].to_dict() if epoch in ours.index else {}
        row = {("epoch", ""): epoch}
        row.update(_comparison(mine, theirs.get(epoch, {}) if reference_rows else None, FIRST_EPOCH_COLUMNS))
        rows.append(row)
    df = pd.DataFrame(rows)
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df


def final_epoch_table(history: pd.DataFrame, reference_final: Mapping[str, Mapping[str, float]] | None = None
                      ) -> pd.DataFrame:
    """Last completed epoch per run (train/val loss and accuracy) with the study's final-epoch
    numbers beside ours for the runs the reference names."""
    finals = final_rows(history)
    rows = []
    for run_id, mine in finals.iterrows():
        row = {("model", ""): mine["label"], ("epochs", RUN): int(mine["epoch"])}
        theirs = None if reference_final is None else (reference_final.get(run_id) or {})
        row.update(_comparison(mine.to_dict(), theirs, FIRST_EPOCH_COLUMNS))
        rows.append(row)
    df = pd.DataFrame(rows)
    if reference_final is None:  # our numbers only: one header row
        df.columns = [name for name, _ in df.columns]
        return df
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df


def gap_table(history: pd.DataFrame, reference_gap: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Final-epoch generalization gap (train acc − val acc) per run, with the largest and
    smallest gap over all epochs, and the study's gap beside ours where given."""
    finals = final_rows(history)
    extremes = history.groupby("run")["gap"].agg(["min", "max"])
    rows = []
    for run_id, mine in finals.iterrows():
        row = {("model", ""): mine["label"], ("epochs", RUN): int(mine["epoch"])}
        theirs = None if reference_gap is None else {"gap": (reference_gap or {}).get(run_id)}
        row.update(_comparison({"gap": mine["gap"]}, theirs, ["gap"]))
        row[("gap over epochs", "min")] = float(extremes.loc[run_id, "min"])
        row[("gap over epochs", "max")] = float(extremes.loc[run_id, "max"])
        rows.append(row)
    df = pd.DataFrame(rows)
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df


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
        return ""
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
    return "Final generalization gap (train acc − val acc): " + "; ".join(parts) + "." if parts else ""


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


def noise_accuracy_table(params: ReportParams, noise: pd.DataFrame, key: str = "noise_accuracy") -> pd.DataFrame:
    """The study's Table 5: accuracy per σ (absolute noise, mean over draws on the test probe set),
    study vs run vs Δ per run, with the run's 95% CI half-width."""
    acc = noise[(noise["metric"] == "accuracy") & (noise["scale"] == "absolute")]
    ref = reference(params, key) or {}
    labels = {r.id: r.label for r in params.runs}
    rows = []
    for sigma in sorted(acc["sigma"].unique()):
        row = {("σ", ""): float(sigma)}
        for run_id in dict.fromkeys(acc["run"]):
            mine = acc[(acc["run"] == run_id) & (acc["sigma"] == sigma)].iloc[0]
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


def flatness_table(flatness: pd.DataFrame) -> pd.DataFrame:
    out = flatness[["label", "sigma", "mean", "ci_low", "ci_high", "num_draws", "base_loss", "mode", "n"]]
    return out.rename(columns={"label": "model", "sigma": "σ", "mean": "|ΔL| mean", "ci_low": "95% CI low",
                               "ci_high": "95% CI high", "num_draws": "draws", "base_loss": "L(θ)"})


def hessian_table(params: ReportParams, hessian: pd.DataFrame) -> pd.DataFrame:
    """Per run: λmax by Lanczos on the fixed train set (ours) and by the study's method (power
    iteration on one mini-batch), the study's published λmax, λmin, condition number (or why it
    is undefined) and the Hutchinson trace ± stderr."""
    rows = []
    for run_id in dict.fromkeys(hessian["run"]):
        ours = hessian[(hessian["run"] == run_id) & (hessian["method"] == "lanczos")].iloc[0]
        study = hessian[(hessian["run"] == run_id) & (hessian["method"] == "study")]
        ref = published(params, "lambda_max", run_id)
        rows.append({"model": ours["label"], "λmax (Lanczos)": ours["lambda_max"],
                     "λmax (study method)": float(study["lambda_max"].iloc[0]) if len(study) else np.nan,
                     "λmax (study, published)": np.nan if ref is None else ref,
                     "λmin (Lanczos)": ours["lambda_min"],
                     "condition number": (f"{ours['condition_number']:.4g}" if pd.notna(ours["condition_number"])
                                          else ours["condition_status"]),
                     "trace": ours["trace"], "trace ± stderr": ours["trace_stderr"],
                     "n (ours / study)": f"{int(ours['n'])} / {int(study['n'].iloc[0]) if len(study) else '—'}",
                     "mode (ours / study)": f"{ours['mode']} / {study['mode'].iloc[0] if len(study) else '—'}"})
    return pd.DataFrame(rows)


def barrier_table(barriers: pd.DataFrame) -> pd.DataFrame:
    out = barriers[["pair", "split", "bn", "loss_a", "loss_b", "max_loss", "loss_barrier", "loss_alpha",
                    "error_barrier", "mode", "n"]]
    return out.rename(columns={"loss_a": "L(A)", "loss_b": "L(B)", "max_loss": "max L on path",
                               "loss_barrier": "loss barrier", "loss_alpha": "at α", "error_barrier": "error barrier"})


def skipped_sentence(skipped: pd.DataFrame) -> str:
    if skipped is None or skipped.empty:
        return ""
    return "Not probed: " + "; ".join(f"{r['run']} ({r['reason']})" for _, r in skipped.iterrows()) + "."


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
            text += f", {float(study['lambda_max'].iloc[0]):.4g} by the study's method (× {ratio:.2f})"
        ref = published(params, "lambda_max", run_id)
        if ref is not None:
            text += f", study published {ref:g}"
        parts.append(text)
    return ("Top Hessian eigenvalue: " + "; ".join(parts) + ". The ratio shows how much of a difference to the "
            "study comes from the method (one mini-batch, a fixed number of power steps) rather than the minimum.")


def barrier_sentence(barriers: pd.DataFrame) -> str:
    parts = [f"{r['pair']} {r['split']} ({r['bn']}): {r['loss_barrier']:.4f} nats at α {r['loss_alpha']:.2f}, "
             f"max loss {r['max_loss']:.4f}" for _, r in barriers.iterrows()]
    return "Loss barrier above the straight line between the endpoints: " + "; ".join(parts) + "." if parts else ""
