"""Figure helpers for the reports (matplotlib + seaborn), one function per kind of figure.

Every helper takes tidy data (a pandas DataFrame with one row per point, or arrays for a
surface), draws on a new figure and returns it; it never shows or saves anything
(``sink.Report.figure`` does both). Colours are fixed per run id (``run_colors``), so a run
has the same colour in every figure of a report. Conventions used across the helpers:

- history frames (``tables.history_frame``) have columns ``run``, ``label``, ``epoch`` and the
  metrics ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc``, ``gap``, ...;
- train series are solid lines, test series dashed;
- text uses unicode (σ, λ, α), never TeX, so nothing needs a TeX install or a math renderer.
"""
from __future__ import annotations

import textwrap
from typing import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

PALETTE = "tab10"
SPLIT_STYLES = {"train": "-", "test": "--"}
METRIC_LABELS = {
    "loss": "cross-entropy loss (nats)",
    "acc": "accuracy",
    "gap": "generalization gap (train acc − test acc)",
    "lr": "learning rate",
    "grad_norm": "mean mini-batch gradient norm",
}
PANEL_WIDTH, PANEL_HEIGHT = 4.6, 3.4  # inches per panel; figures are embedded at their natural size
LOG_SCALE_RATIO = 50  # bar charts whose positive values span more than this use a log axis
TICK_CHARS_PER_FIGURE = 84  # characters of tick label per bar chart, shared by its groups of bars
BAR_GROUP_WIDTH = 1.2  # inches per group of bars at least, so wrapped labels keep a gap between them


def apply_style() -> None:
    """The report look: seaborn's white grid, a readable font size, no TeX."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.9)
    plt.rcParams.update({"text.usetex": False, "svg.fonttype": "path", "figure.dpi": 100,
                         "axes.titleweight": "bold", "legend.frameon": False})


def run_colors(run_ids: Sequence[str]) -> dict[str, tuple]:
    """A fixed colour per run id, in the order given (the params file's run order)."""
    colors = sns.color_palette(PALETTE, n_colors=max(len(run_ids), 1))
    return {run_id: colors[i % len(colors)] for i, run_id in enumerate(run_ids)}


def _runs_in(df: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(df["run"]))


def _labels(df: pd.DataFrame) -> dict[str, str]:
    if "label" not in df:
        return {r: r for r in _runs_in(df)}
    return dict(zip(df["run"], df["label"]))


def _panels(n: int, ncols: int | None = None) -> tuple[Figure, np.ndarray]:
    apply_style()
    ncols = ncols or min(n, 2)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(PANEL_WIDTH * ncols, PANEL_HEIGHT * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat[:n]


def _integer_epochs(ax, epochs: Sequence[int] | None = None) -> None:
    """Whole-number epoch ticks (every epoch when there are few, so one epoch is not 0.95..1.05)."""
    if epochs is not None and len(epochs) <= 12:
        ax.set_xticks(sorted(epochs))
        if len(epochs) == 1:
            ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    else:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def learning_curves(history: pd.DataFrame, metrics: Sequence[str] = ("loss", "acc"),
                    splits: Sequence[str] = ("train", "test"), runs: Sequence[str] | None = None) -> Figure:
    """One panel per metric (``loss``, ``acc``) over epochs: a colour per run, train solid and
    test dashed. ``history`` is a tidy history frame; ``runs`` selects and orders runs."""
    runs = list(runs or _runs_in(history))
    colors, labels = run_colors(runs), _labels(history)
    fig, axes = _panels(len(metrics))
    for ax, metric in zip(axes, metrics):
        for run_id in runs:
            rows = history[history["run"] == run_id].sort_values("epoch")
            for split in splits:
                column = f"{split}_{metric}"
                ax.plot(rows["epoch"], rows[column], SPLIT_STYLES[split], color=colors[run_id], marker="o",
                        markersize=3, label=f"{labels[run_id]} · {split}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        _integer_epochs(ax, history["epoch"].unique().tolist())
    fig.tight_layout()
    _legend_below(fig, axes[0], ncol=len(splits))
    return fig


def _legend_below(fig: Figure, ax, ncol: int = 2) -> None:
    """One legend for the figure, under the panels (saved with bbox_inches="tight")."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol, fontsize="small")


def metric_over_epochs(history: pd.DataFrame, column: str = "gap", ylabel: str | None = None,
                       runs: Sequence[str] | None = None, zero_line: bool = True,
                       reference: Mapping[str, float] | None = None) -> Figure:
    """One line per run of ``column`` over epochs (e.g. the generalization gap). ``reference``
    (run id -> value, e.g. the study's final-epoch number) is drawn as a dotted horizontal line in
    the run's colour."""
    runs = list(runs or _runs_in(history))
    colors, labels = run_colors(runs), _labels(history)
    fig, (ax,) = _panels(1, 1)
    fig.set_size_inches(PANEL_WIDTH * 1.4, PANEL_HEIGHT)
    for run_id in runs:
        rows = history[history["run"] == run_id].sort_values("epoch")
        ax.plot(rows["epoch"], rows[column], "-o", color=colors[run_id], markersize=3, label=labels[run_id])
        if reference and reference.get(run_id) is not None:
            ax.axhline(reference[run_id], linestyle=":", linewidth=1.6, color=colors[run_id],
                       label=f"{labels[run_id]} · study, final epoch")
    if zero_line:
        ax.axhline(0.0, color="0.3", linewidth=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel or METRIC_LABELS.get(column, column))
    _integer_epochs(ax, history["epoch"].unique().tolist())
    fig.tight_layout()
    _legend_below(fig, ax, ncol=2)
    return fig


def bars_with_errors(df: pd.DataFrame, x: str, y: str, err: str | None = None, hue: str | None = None,
                     ylabel: str | None = None, xlabel: str | None = None) -> Figure:
    """Bar chart of ``y`` per ``x`` (grouped by ``hue``), with symmetric error bars from column
    ``err`` (e.g. a standard deviation over seeds or draws). Without ``err``, when ``df`` has
    several rows per bar, bars show their mean and error bars one standard deviation. Positive
    values spanning more than LOG_SCALE_RATIO get a logarithmic axis."""
    apply_style()
    keys = [x] + ([hue] if hue else [])
    if err is None:
        grouped = df.groupby(keys, sort=False)[y]
        data = grouped.mean().rename(y).to_frame()
        data["_err"] = grouped.std(ddof=1).fillna(0.0) if grouped.size().max() > 1 else np.nan
        data = data.reset_index()
        err = "_err"
    else:
        data = df
    xs = list(dict.fromkeys(data[x]))
    hues = list(dict.fromkeys(data[hue])) if hue else [None]
    fig, ax = plt.subplots(figsize=(max(PANEL_WIDTH * 1.4, BAR_GROUP_WIDTH * len(xs) + 1.0), PANEL_HEIGHT))
    width = 0.8 / len(hues)
    colors = sns.color_palette(PALETTE, n_colors=len(hues))
    for j, h in enumerate(hues):
        part = data if h is None else data[data[hue] == h]
        part = part.set_index(x).reindex(xs)
        positions = np.arange(len(xs)) + (j - (len(hues) - 1) / 2) * width
        errors = part[err].to_numpy(dtype=float)
        ax.bar(positions, part[y].to_numpy(dtype=float), width=width * 0.95, color=colors[j],
               yerr=None if np.all(np.isnan(errors)) else np.nan_to_num(errors), capsize=4,
               label=None if h is None else str(h))
    # Tick labels wrap at word boundaries to the width of one group of bars, a size smaller, so
    # long run labels ("CNN (16, 16), seed 1") never run into each other.
    wrap = max(8, TICK_CHARS_PER_FIGURE // len(xs))
    ticks = [textwrap.fill(str(v), wrap) for v in xs]
    ax.set_xticks(np.arange(len(xs)), ticks,
                  fontsize="small" if any("\n" in t for t in ticks) else None)
    ax.set_xlabel(x if xlabel is None else xlabel)
    ax.set_ylabel(ylabel or y)
    values = data[y].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if len(values) and values.min() > 0 and values.max() / values.min() > LOG_SCALE_RATIO:
        ax.set_yscale("log")  # bars spanning orders of magnitude: every one stays readable
    fig.tight_layout()
    if hue:
        _legend_below(fig, ax, ncol=len(hues))
    return fig


def curve_family(df: pd.DataFrame, x: str, y: str, group: str = "run", band: str | None = None,
                 xlabel: str | None = None, ylabel: str | None = None, logy: bool = False,
                 labels: Mapping[str, str] | None = None, mark_x: float | None = 0.0) -> Figure:
    """One curve of ``y`` against ``x`` per value of ``group`` (e.g. 1-D loss slices per run, or
    accuracy against noise scale σ); ``band`` names a column of ± half-widths drawn as a shaded
    band. ``mark_x`` draws a thin vertical line (α = 0: the trained weights)."""
    apply_style()
    fig, ax = plt.subplots(figsize=(PANEL_WIDTH * 1.4, PANEL_HEIGHT))
    groups = list(dict.fromkeys(df[group]))
    colors = run_colors(groups)
    for g in groups:
        rows = df[df[group] == g].sort_values(x)
        name = (labels or {}).get(g, rows["label"].iloc[0] if "label" in rows else str(g))
        ax.plot(rows[x], rows[y], "-o", markersize=3, color=colors[g], label=name)
        if band:
            ax.fill_between(rows[x], rows[y] - rows[band], rows[y] + rows[band], color=colors[g], alpha=0.2)
    if mark_x is not None:
        ax.axvline(mark_x, color="0.5", linewidth=0.8, linestyle=":")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def surface(alphas: Sequence[float], betas: Sequence[float], values: np.ndarray | Sequence[np.ndarray],
            titles: Sequence[str] | None = None, label: str = "loss", levels: int = 12, log: bool = False,
            shared_scale: bool = True) -> Figure:
    """2-D heatmaps with contour lines of ``values[i, j]`` = f(alphas[i], betas[j]), one panel per
    array in ``values`` (several surfaces side by side share one colour scale unless
    ``shared_scale`` is false). ``log`` colours by log10 of the values (which must be > 0)."""
    arrays = [np.asarray(values, dtype=float)] if np.ndim(values) == 2 else [np.asarray(v, dtype=float) for v in values]
    shown = [np.log10(a) for a in arrays] if log else arrays
    vmin = min(float(np.nanmin(a)) for a in shown) if shared_scale else None
    vmax = max(float(np.nanmax(a)) for a in shown) if shared_scale else None
    fig, axes = _panels(len(arrays), ncols=min(len(arrays), 3))
    A, B = np.meshgrid(np.asarray(alphas, dtype=float), np.asarray(betas, dtype=float), indexing="ij")
    for i, (ax, z) in enumerate(zip(axes, shown)):
        mesh = ax.pcolormesh(A, B, z, shading="nearest", cmap="viridis", vmin=vmin, vmax=vmax, rasterized=True)
        if min(z.shape) >= 2 and np.nanmax(z) > np.nanmin(z):
            contours = ax.contour(A, B, z, levels=levels, colors="white", linewidths=0.6)
            spread = float(np.nanmax(z) - np.nanmin(z))
            digits = max(2, int(np.ceil(-np.log10(spread))) + 1)  # labels that tell the levels apart
            ax.clabel(contours, fontsize=6, fmt=f"%.{digits}f")
        ax.plot([0], [0], marker="+", color="red", markersize=10)
        ax.set_xlabel("α")
        ax.set_ylabel("β")
        ax.grid(False)
        if titles:
            ax.set_title(titles[i], fontsize="medium")
        bar = fig.colorbar(mesh, ax=ax, label=f"log10 {label}" if log else label)
        bar.formatter.set_useOffset(False)  # near-constant surfaces: full values, no "1e-6 + 2.3026" offset
        bar.update_ticks()
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- probes
# Frames from ``landscape.probes``.

def noise_robustness(noise: pd.DataFrame, metric: str = "accuracy", reference: Mapping | None = None) -> Figure:
    """Mean ``metric`` over noise draws against σ with its 95% CI band, one panel per noise scale
    (absolute: the study's; relative: σ as noise-to-weight norm ratio), a colour per run; the
    study's numbers per σ (``reference[run][σ]``, absolute scale) as open markers."""
    rows = noise[noise["metric"] == metric]
    scales = list(dict.fromkeys(rows["scale"]))
    runs = _runs_in(rows)
    colors, labels = run_colors(runs), _labels(rows)
    fig, axes = _panels(len(scales))
    for ax, scale in zip(axes, scales):
        for run_id in runs:
            r = rows[(rows["run"] == run_id) & (rows["scale"] == scale)].sort_values("sigma")
            ax.plot(r["sigma"], r["mean"], "-o", markersize=3, color=colors[run_id], label=labels[run_id])
            ax.fill_between(r["sigma"], r["ci_low"], r["ci_high"], color=colors[run_id], alpha=0.2)
            ref = (reference or {}).get(run_id) if scale == "absolute" else None
            if ref:
                xs = sorted(float(k) for k in ref)
                ax.plot(xs, [ref[k] if k in ref else ref[str(k)] for k in xs], "s", mfc="none", color=colors[run_id],
                        label=f"{labels[run_id]} · study")
        ax.set_xlabel(f"σ ({scale} noise)")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    fig.tight_layout()
    _legend_below(fig, axes[0], ncol=2)
    return fig


DIRECTION_LABELS = {"filter": "filter-normalized direction", "random": "unnormalized N(0, I) direction",
                    "unit": "unit-norm direction over all weights"}


def slices(frame: pd.DataFrame, y: str = "loss") -> Figure:
    """1-D slices L(θ + α d): one panel per direction kind (filter-normalized; the study's kind
    when present, ``DIRECTION_LABELS``), a colour per run, train solid and test dashed."""
    kinds = list(dict.fromkeys(frame["direction"]))
    runs = _runs_in(frame)
    colors, labels = run_colors(runs), _labels(frame)
    fig, axes = _panels(len(kinds))
    for ax, kind in zip(axes, kinds):
        for run_id in runs:
            for split in dict.fromkeys(frame["split"]):
                r = frame[(frame["run"] == run_id) & (frame["direction"] == kind) & (frame["split"] == split)]
                r = r.sort_values("alpha")
                ax.plot(r["alpha"], r[y], SPLIT_STYLES.get(split, "-"), marker="o", markersize=3,
                        color=colors[run_id], label=f"{labels[run_id]} · {split}")
        ax.axvline(0.0, color="0.5", linewidth=0.8, linestyle=":")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))  # two panels side by side: keep the α ticks apart
        ax.set_xlabel(f"α ({DIRECTION_LABELS.get(kind, kind)})")
        ax.set_ylabel(METRIC_LABELS.get(y, y))
    fig.tight_layout()
    _legend_below(fig, axes[0], ncol=2)
    return fig


def interpolation(path: pd.DataFrame, y: str = "loss", reference_max: float | None = None) -> Figure:
    """Loss (or accuracy) along θ(α) = (1 − α) θ_A + α θ_B: one panel per pair, train solid and
    test dashed, recomputed BatchNorm statistics dotted; ``reference_max`` (the study's largest
    loss on the path) as a grey dotted line."""
    pairs = list(dict.fromkeys(path["pair"]))
    fig, axes = _panels(len(pairs), ncols=min(len(pairs), 3))
    colors = run_colors(["train", "test"])
    for ax, pair in zip(axes, pairs):
        for (split, bn), r in path[path["pair"] == pair].groupby(["split", "bn"], sort=False):
            r = r.sort_values("alpha")
            style = ":" if bn == "recompute" else SPLIT_STYLES.get(split, "-")
            ax.plot(r["alpha"], r[y], style, marker="o", markersize=3, color=colors[split], label=f"{split} · BN {bn}"
                    if path["bn"].nunique() > 1 else split)
        if reference_max is not None and y == "loss":
            ax.axhline(reference_max, color="0.4", linestyle=":", linewidth=1, label="study: max loss on path")
        ax.set_title(pair, fontsize="medium")
        ax.set_xlabel("α (0: first run, 1: second)")
        ax.set_ylabel(METRIC_LABELS.get(y, y))
    fig.tight_layout()
    _legend_below(fig, axes[0], ncol=3)
    return fig


def surfaces_of(frame: pd.DataFrame, run_id: str, value: str = "loss", direction: str = "filter") -> Figure:
    """The 2-D surface of one run along one direction kind, a panel per split (own colour scale
    per panel: train and test losses differ by more than the structure within either)."""
    rows = frame[(frame["run"] == run_id) & (frame["direction"] == direction)]
    splits = list(dict.fromkeys(rows["split"]))
    mats = [rows[rows["split"] == s].pivot(index="alpha", columns="beta", values=value) for s in splits]
    return surface(mats[0].index.to_numpy(), mats[0].columns.to_numpy(), [m.to_numpy() for m in mats],
                   titles=[f"{rows['label'].iloc[0]} · {s}" for s in splits], label=value, shared_scale=False)


def _estimate_bars(rows: list[dict], frame: pd.DataFrame, published: Mapping[str, float | None] | None,
                   ylabel: str) -> Figure:
    """Grouped bars: ``rows`` ({run: label, estimate, value}) plus the study's published value
    per run id of ``published`` (labelled from ``frame``)."""
    rows = list(rows)
    for run_id, value in (published or {}).items():
        if value is not None and run_id in set(frame["run"]):
            rows.append({"run": frame[frame["run"] == run_id]["label"].iloc[0], "estimate": "study, published",
                         "value": value})
    return bars_with_errors(pd.DataFrame(rows), "run", "value", hue="estimate", ylabel=ylabel, xlabel="")


def lambda_bars(hessian: pd.DataFrame, published: Mapping[str, float | None] | None = None) -> Figure:
    """λmax per run: Lanczos (ours), the study's method, and the study's published value."""
    rows = [{"run": r["label"], "estimate": "Lanczos (ours)" if r["method"] == "lanczos" else "study method",
             "value": r["lambda_max"]} for _, r in hessian.iterrows()]
    return _estimate_bars(rows, hessian, published, "top Hessian eigenvalue λmax")


def sharpness_bars(sharpness: pd.DataFrame, published: Mapping[str, float | None] | None = None) -> Figure:
    """SAM ε-sharpness per run: after the projected ascent (ours), at SAM's first-order step, and
    the study's published value."""
    sam = sharpness[sharpness["kind"] == "sam"]
    rows = [{"run": r["label"], "estimate": estimate, "value": r[column]} for _, r in sam.iterrows()
            for estimate, column in (("ascent (ours)", "sharpness"), ("first-order step", "first_order"))]
    return _estimate_bars(rows, sam, published, f"SAM sharpness (nats, ρ = {sam['rho'].iloc[0]:g})")


def spectral_density(density: pd.DataFrame) -> Figure:
    """The Hessian's eigenvalue density per run (``probes.density`` frame), a colour per run, on a
    log density axis (the bulk near 0 is orders of magnitude above the outliers), with λ = 0
    marked."""
    apply_style()
    fig, ax = plt.subplots(figsize=(PANEL_WIDTH * 1.4, PANEL_HEIGHT))
    runs = _runs_in(density)
    colors, labels = run_colors(runs), _labels(density)
    floor = 1e-12  # a Gaussian tail underflows to 0; the log axis needs a floor
    for run_id in runs:
        rows = density[density["run"] == run_id].sort_values("eigenvalue")
        ax.plot(rows["eigenvalue"], rows["density"].clip(lower=floor), color=colors[run_id], label=labels[run_id])
    ax.axvline(0.0, color="0.5", linewidth=0.8, linestyle=":")
    ax.set_yscale("log")
    top = float(density["density"].max())
    ax.set_ylim(max(floor, top * 1e-8), top * 2)
    ax.set_xlabel("eigenvalue λ")
    ax.set_ylabel("density")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
