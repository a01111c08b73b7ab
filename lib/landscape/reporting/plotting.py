"""Figure helpers for the reports (matplotlib + seaborn), one function per kind of figure.

Every helper takes tidy data (a pandas DataFrame with one row per point, or arrays for a
surface), draws on a new figure and returns it; it never shows or saves anything
(``sink.Report.figure`` does both). Colours are fixed per configuration (``run_colors``), so a
configuration has the same colour in every figure of a report. Conventions used across the helpers:

- frames are tidy, one row per run (``run``, ``config``, ``seed``) and point; a figure draws
  each configuration as the mean over its seeds with a 95% confidence band over seeds
  (``stats.mean_ci``), or its seeds as dots; ``labels`` maps configuration id -> label;
- history frames (``tables.history_frame``) have the columns ``epoch`` and the metrics
  ``train_loss``, ``train_acc``, ``eval_train_loss``, ``eval_train_acc``, ``test_loss``,
  ``test_acc``, ``gap``, ``eval_gap``, ...;
- train series are solid lines, test series dashed;
- text uses unicode (σ, λ, α), never TeX, so nothing needs a TeX install or a math renderer.
"""
from __future__ import annotations

import re
import textwrap
from typing import Any, Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.collections
import matplotlib.colors
import matplotlib.patches
import matplotlib.text
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ..verdicts import stats

PALETTE = "tab10"
SPLIT_STYLES = {"train": "-", "test": "--", "eval_train": ":"}
SPLIT_NAMES = {"train": "train (running, train mode)", "eval_train": "train (eval mode)", "test": "val"}
METRIC_LABELS = {
    "loss": "cross-entropy loss (nats)",
    "acc": "accuracy",
    "gap": "generalization gap (train acc − test acc)",
    "eval_gap": "generalization gap (train acc − test acc)",
    "lr": "learning rate",
    "grad_norm": "mean mini-batch gradient norm",
}
# The values a metric can take: a band (a t interval over few seeds can reach past them) is
# clipped to these, so the axis keeps to what the runs could have shown.
METRIC_DOMAINS = {"loss": (0.0, np.inf), "acc": (0.0, 1.0), "accuracy": (0.0, 1.0)}
ANY_VALUE = (-np.inf, np.inf)
PANEL_WIDTH, PANEL_HEIGHT = 4.6, 3.4  # inches per panel; figures are embedded at their natural size
SMALL_PANEL = (3.6, 2.9)  # inches per panel in rows of three (``panels``)
MULTIPLE_PANEL = (2.2, 2.0)  # inches per panel in rows of four or more: they print as wide as the page, text legible
LOG_SCALE_RATIO = 50  # positive values spanning more than this get a log axis (or colour scale)
MAX_LINEAR_DECADES = 3  # what a linear axis may span (checked on every figure: ``linear_axis_spans``)
MIN_ACCURACY_SPAN = 0.1  # accuracy axes show at least 10 points, so noise of a few tenths is not drawn as structure
TICK_CHARS_PER_FIGURE = 84  # characters of tick label per bar chart, shared by its groups of bars
BAR_GROUP_WIDTH = 1.2  # inches per group of bars at least, so wrapped labels keep a gap between them


def apply_style() -> None:
    """The report look: seaborn's white grid, a readable font size, no TeX and no mathtext (labels
    come from params: a ``$`` in one is a dollar sign; the figures write math in unicode). SVG ids
    are hashed with a fixed salt, so a figure drawn again from the same numbers is the same file."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.9)
    plt.rcParams.update({"text.usetex": False, "text.parse_math": False, "svg.fonttype": "path", "figure.dpi": 100,
                         "axes.titleweight": "bold", "legend.frameon": False, "svg.hashsalt": "landscape"})


def plain_math(label: str) -> str:
    """A tick label of matplotlib's log formatters ("$\\mathdefault{10^{-3}}$",
    "$\\mathdefault{2\\times10^{-1}}$") in unicode ("10⁻³", "2×10⁻¹"): mathtext is off in the
    report's figures (:func:`apply_style`), so it would show as typed."""
    if not (label.startswith("$") and label.endswith("$")):
        return label
    text = re.sub(r"\\mathdefault\{(.*)\}", r"\1", label[1:-1])
    text = re.sub(r"\^\{([^}]*)\}", lambda m: m.group(1).translate(stats.SUPERSCRIPTS), text)
    return text.replace("\\times", "×").replace("\\cdot", "·").replace("{", "").replace("}", "")


class PlainLogFormatter(matplotlib.ticker.Formatter):
    """The axis's own log formatter (which ticks it labels, and how), its labels in unicode."""

    def __init__(self, inner: matplotlib.ticker.Formatter):
        self.inner = inner

    def set_axis(self, axis) -> None:
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def set_locs(self, locs) -> None:
        self.inner.set_locs(locs)

    def __call__(self, x: float, pos: int | None = None) -> str:
        return plain_math(self.inner(x, pos))


def plain_log_ticks(fig: Figure) -> None:
    """Give every log-scaled axis of ``fig`` (colour bars too) tick labels in unicode
    (:func:`plain_math`); the sink calls it on every figure before saving it."""
    for axis in (axis for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) if axis.get_scale() == "log"):
        for get, put in ((axis.get_major_formatter, axis.set_major_formatter),
                         (axis.get_minor_formatter, axis.set_minor_formatter)):
            if not isinstance(get(), PlainLogFormatter):
                put(PlainLogFormatter(get()))


def run_colors(run_ids: Sequence[str]) -> dict[str, tuple]:
    """A fixed colour per run id, in the order given (the params file's run order)."""
    colors = sns.color_palette(PALETTE, n_colors=max(len(run_ids), 1))
    return {run_id: colors[i % len(colors)] for i, run_id in enumerate(run_ids)}


def runs_in(df: pd.DataFrame) -> list[str]:
    """The run ids of a frame, in order."""
    return list(dict.fromkeys(df["run"]))


def run_labels(df: pd.DataFrame) -> dict[str, str]:
    """Run id -> its label (the id where a frame has no labels)."""
    if "label" not in df:
        return {r: r for r in runs_in(df)}
    return dict(zip(df["run"], df["label"]))


def config_styles(df: pd.DataFrame, labels: Mapping[str, str] | None) -> tuple[list[str], dict, dict]:
    """The configurations of ``df`` in order, their colours and labels."""
    configs = list(dict.fromkeys(df["config"]))
    return configs, run_colors(configs), {c: (labels or {}).get(c, c) for c in configs}


def over_seeds(rows: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Per value of ``x``: the mean of ``y`` over the rows (one per seed or pair) and its 95% t
    interval (NaN with one row): columns x, mean, low, high, n."""
    out = []
    for value, group in rows.groupby(x, sort=True):
        found = stats.mean_ci(group[y])
        out.append({x: value, "mean": found.estimate, "low": found.low, "high": found.high, "n": found.n})
    return pd.DataFrame(out, columns=[x, "mean", "low", "high", "n"])


def mean_band(ax, rows: pd.DataFrame, x: str, y: str, color, style: str = "-", label: str | None = None,
               marker: str | None = "o", domain: tuple[float, float] = ANY_VALUE) -> None:
    """The mean of ``y`` over seeds against ``x`` with its 95% CI band, clipped to ``domain``
    (the values ``y`` can take)."""
    found = over_seeds(rows, x, y)
    ax.plot(found[x], found["mean"], style, marker=marker, markersize=3, color=color, label=label)
    ax.fill_between(found[x], found["low"].clip(*domain), found["high"].clip(*domain), color=color, alpha=0.18,
                    linewidth=0)


def positive_span(values: Sequence[float] | np.ndarray) -> float:
    """max / min of the finite ``values`` when all are positive (what a log scale can show), else 0."""
    shown = np.asarray(values, dtype=float)
    shown = shown[np.isfinite(shown)]
    return float(shown.max() / shown.min()) if len(shown) and shown.min() > 0 else 0.0


def wants_log(values: Sequence[float] | np.ndarray) -> bool:
    """Whether ``values`` are positive and span more than LOG_SCALE_RATIO, so that a linear axis
    would flatten all but the largest."""
    return positive_span(values) > LOG_SCALE_RATIO


def fit_scale(axes: Sequence, values: Sequence[float] | np.ndarray, axis: str = "y") -> None:
    """Give ``axes`` (which show ``values``) a log scale where :func:`wants_log`."""
    if wants_log(values):
        for ax in axes:
            getattr(ax, f"set_{axis}scale")("log")


def axis_data(ax, axis: str) -> np.ndarray:
    """Every finite value ``ax`` draws on ``axis`` (lines, bands, markers, bars)."""
    index = 0 if axis == "x" else 1
    parts = [np.asarray(line.get_xydata(), dtype=float)[:, index] for line in ax.get_lines()
             if line.get_transform() == ax.transData]  # not reference lines drawn in axes units (axvline)
    for collection in ax.collections:
        if isinstance(collection, matplotlib.collections.PolyCollection):  # bands
            parts += [np.asarray(path.vertices, dtype=float)[:, index] for path in collection.get_paths()]
        elif isinstance(collection, matplotlib.collections.PathCollection):  # markers
            parts.append(np.asarray(collection.get_offsets(), dtype=float).reshape(-1, 2)[:, index])
    parts += [np.array([patch.get_y() + patch.get_height()]) if axis == "y" else np.array([patch.get_x()])
              for patch in ax.patches if isinstance(patch, matplotlib.patches.Rectangle)]
    values = np.concatenate(parts) if parts else np.array([])
    return values[np.isfinite(values)]


def linear_axis_spans(fig: Figure) -> list[str]:
    """The axes of ``fig`` that draw positive data spanning more than MAX_LINEAR_DECADES decades on
    a linear scale (the smallest values then sit flat on the axis), as "panel i: y spans d decades"."""
    found = []
    for i, ax in enumerate(fig.axes):
        for axis in ("x", "y"):
            if getattr(ax, f"get_{axis}scale")() != "linear":
                continue
            span = positive_span(axis_data(ax, axis))
            if span and np.log10(span) > MAX_LINEAR_DECADES:
                found.append(f"panel {i + 1}: {axis} spans {np.log10(span):.1f} decades")
    return found


def smallest_text_pt(fig: Figure) -> float:
    """Size in points of the smallest text drawn in ``fig`` at its natural size (tick labels,
    legends, titles; text of hidden panels is not drawn); infinity when it has none."""
    sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text)
             if t.get_visible() and t.get_text().strip() and (t.axes is None or t.axes.get_visible())]
    return min(sizes, default=float("inf"))


def _seeds_note(df: pd.DataFrame) -> str:
    n = df.groupby("config")["seed"].nunique() if "seed" in df else pd.Series(dtype=int)
    return "" if n.empty else f" (n = {n.min()}–{n.max()} seeds)" if n.min() != n.max() else f" (n = {n.min()} seeds)"


def panels(n: int, ncols: int | None = None) -> tuple[Figure, np.ndarray]:
    """``n`` panels, ``ncols`` (default: at most 2) to a row; three to a row are SMALL_PANEL
    each, four or more MULTIPLE_PANEL, so the row prints as wide as the page with its text legible."""
    apply_style()
    ncols = ncols or min(n, 2)
    nrows = -(-n // ncols)
    width, height = MULTIPLE_PANEL if ncols >= 4 else SMALL_PANEL if ncols == 3 else (PANEL_WIDTH, PANEL_HEIGHT)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
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
                    splits: Sequence[str] = ("train", "eval_train", "test"),
                    labels: Mapping[str, str] | None = None) -> Figure:
    """One panel per metric (``loss``, ``acc``) over epochs: a colour per configuration (mean over
    seeds, 95% CI band clipped to ``METRIC_DOMAINS``), train running mean solid, train in eval mode
    dotted, val dashed. From ``SMALL_MULTIPLES_FROM`` configurations on, a panel per configuration
    and metric instead (:func:`_curves_per_config`)."""
    configs, colors, names = config_styles(history, labels)
    if len(configs) >= SMALL_MULTIPLES_FROM:
        return _curves_per_config(history, configs, colors, names, metrics, splits)
    fig, axes = panels(len(metrics))
    for ax, metric in zip(axes, metrics):
        for config in configs:
            _split_bands(ax, history[history["config"] == config], metric, splits, colors[config], f"{names[config]} · ")
        ax.set_xlabel("epoch")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        _integer_epochs(ax, history["epoch"].unique().tolist())
    fig.tight_layout()
    legend_below(fig, axes[0], ncol=len(splits))
    return fig


def _split_bands(ax, rows: pd.DataFrame, metric: str, splits: Sequence[str], color: Any, prefix: str = "") -> None:
    """One configuration's ``metric`` over epochs on ``ax``, a mean band per split that has it (its
    line style, labelled ``prefix`` + the split's name)."""
    for split in splits:
        column = f"{split}_{metric}"
        if column in rows and rows[column].notna().any():
            mean_band(ax, rows, "epoch", column, color, SPLIT_STYLES[split], prefix + SPLIT_NAMES[split],
                      domain=METRIC_DOMAINS.get(metric, ANY_VALUE))


SMALL_MULTIPLES_FROM = 4  # configurations from which each gets its own panels (4 × 3 lines in one panel: unreadable)


def _curves_per_config(history: pd.DataFrame, configs: Sequence[str], colors: Mapping[str, Any],
                       names: Mapping[str, str], metrics: Sequence[str], splits: Sequence[str]) -> Figure:
    """Learning curves as small multiples: a row per metric, a panel per configuration titled with
    its name, the splits as line styles (one legend), and one y range per row so the panels compare."""
    fig, axes = panels(len(metrics) * len(configs), ncols=len(configs))
    for row, metric in enumerate(metrics):
        row_axes = list(axes[row * len(configs):(row + 1) * len(configs)])
        for ax, config in zip(row_axes, configs):
            _split_bands(ax, history[history["config"] == config], metric, splits, colors[config])
            ax.set_title(names[config], fontsize="small")
            ax.set_xlabel("epoch")
            _integer_epochs(ax, history["epoch"].unique().tolist())
        row_axes[0].set_ylabel(METRIC_LABELS.get(metric, metric))
        low = min(ax.get_ylim()[0] for ax in row_axes)
        high = max(ax.get_ylim()[1] for ax in row_axes)
        for ax in row_axes:
            ax.set_ylim(low, high)
    fig.tight_layout()
    legend_below(fig, axes[0], ncol=len(splits))
    return fig


def legend_below(fig: Figure, ax=None, ncol: int = 2, handles: Sequence | None = None) -> None:
    """One legend for the figure, under the panels (saved with bbox_inches="tight"), of ``ax``'s
    lines or of ``handles``, in at most ``ncol`` columns and in fewer when that is wider than the
    panels (a wider legend would widen the saved figure, and shrink it in print)."""
    handles, labels = (ax.get_legend_handles_labels() if handles is None
                       else (list(handles), [h.get_label() for h in handles]))
    renderer = fig.canvas.get_renderer()
    for columns in range(max(ncol, 1), 0, -1):
        legend = fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=columns,
                            fontsize="small")
        if columns == 1 or legend.get_window_extent(renderer).width <= fig.bbox.width:
            return
        legend.remove()


def metric_over_epochs(history: pd.DataFrame, columns: Sequence[str] = ("eval_gap", "gap"), ylabel: str | None = None,
                       labels: Mapping[str, str] | None = None, zero_line: bool = True,
                       reference: Mapping[str, float] | None = None) -> Figure:
    """``columns`` over epochs (e.g. the generalization gap in eval mode, solid, and the studies'
    running-mean gap, dashed), mean over seeds with a 95% CI band per configuration.
    ``reference`` (configuration id -> value, e.g. the study's final-epoch number) is drawn as a
    dotted horizontal line in the configuration's colour."""
    configs, colors, names = config_styles(history, labels)
    fig, (ax,) = panels(1, 1)
    fig.set_size_inches(PANEL_WIDTH * 1.4, PANEL_HEIGHT)
    styles = ["-", "--", ":"]
    for config in configs:
        rows = history[history["config"] == config]
        for style, column in zip(styles, columns):
            if column in rows and rows[column].notna().any():
                suffix = f" · {COLUMN_NAMES.get(column, column)}" if len(columns) > 1 else ""
                mean_band(ax, rows, "epoch", column, colors[config], style, names[config] + suffix)
        if reference and reference.get(config) is not None:
            ax.axhline(reference[config], linestyle=":", linewidth=1.6, color=colors[config],
                       label=f"{names[config]} · study, final epoch")
    if zero_line:
        ax.axhline(0.0, color="0.3", linewidth=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel or METRIC_LABELS.get(columns[0], columns[0]))
    _integer_epochs(ax, history["epoch"].unique().tolist())
    fig.tight_layout()
    legend_below(fig, ax, ncol=2)
    return fig


COLUMN_NAMES = {"eval_gap": "eval mode", "gap": "running train acc"}  # legend suffixes; captions say whose method


CONTOUR_NOISE = 2.0  # a panel gets contours only where its values vary by more than this many times its noise


def contour_levels(low: float, high: float, z: np.ndarray, levels: int, log: bool = False,
                   noise: float | None = None) -> list[float]:
    """The contour levels of one panel ``z`` on the colour scale [low, high]: ``levels`` evenly
    (``log``: geometrically) spaced steps, those strictly inside z's range. With ``noise`` (the
    panel's noise, in z's units: for a loss surface the standard error of the probe-set mean
    loss), none unless z varies by more than CONTOUR_NOISE × noise, and the linear steps at
    least ``noise`` apart: closer contours would separate values that another probe set of the
    same size could order the other way."""
    z_low, z_high = float(np.nanmin(z)), float(np.nanmax(z))
    if min(z.shape) < 2 or not high > low:
        return []
    if noise is not None and np.isfinite(noise) and z_high - z_low <= CONTOUR_NOISE * noise:
        return []
    if noise is not None and np.isfinite(noise) and noise > 0 and not log:
        levels = max(2, min(levels, int((high - low) / noise) + 1))
    steps = np.geomspace(low, high, levels) if log else np.linspace(low, high, levels)
    return [float(v) for v in steps[1:-1] if z_low < v < z_high]


class ColourScale:
    """The colour (and 3-D height) scale that several surfaces share: [low, high] in the values'
    units, linear, or, with ``linear_within``, symmetric-log: linear within ±linear_within and
    logarithmic beyond, for surfaces whose heights span decades (a linear scale would draw all but
    the highest flat). ``height`` is the value as drawn on that scale (the 3-D views' z)."""

    def __init__(self, low: float, high: float, linear_within: float | None = None):
        self.low, self.high, self.linear_within = float(low), float(high), linear_within

    def norm(self) -> matplotlib.colors.Normalize:
        """The colour map's norm: linear, or :meth:`height` (the 3-D views' own transform)."""
        if self.linear_within is None:
            return matplotlib.colors.Normalize(self.low, self.high)
        return matplotlib.colors.FuncNorm((self.height, self.value), vmin=self.low, vmax=self.high)

    def height(self, z: np.ndarray | float) -> np.ndarray:
        """``z`` on this scale: itself, or sign(z)·log10(1 + |z|/linear_within)."""
        z = np.asarray(z, dtype=float)
        return z if self.linear_within is None else np.sign(z) * np.log10(1 + np.abs(z) / self.linear_within)

    def value(self, height: np.ndarray | float) -> np.ndarray:
        """The inverse of :meth:`height`."""
        h = np.asarray(height, dtype=float)
        return h if self.linear_within is None else np.sign(h) * self.linear_within * (10.0 ** np.abs(h) - 1)

    def ticks(self) -> tuple[list[float], list[str]]:
        """Values and labels of the symmetric-log scale's ticks: 0 and powers of ten in (0, high]
        above linear_within, every other or third decade where there are more than six (none on a
        linear scale, which keeps its own)."""
        if self.linear_within is None:
            return [], []
        exponents = list(range(int(np.ceil(np.log10(self.linear_within))),
                               int(np.floor(np.log10(max(self.high, self.linear_within)))) + 1))
        step = -(-len(exponents) // 6)
        values = [0.0] + [10.0 ** k for k in exponents[::-1][::step][::-1]]
        return values, [stats.number_text(v, 2) for v in values]

    def contour_levels(self, z: np.ndarray, levels: int, noise: float | None = None) -> list[float]:
        """:func:`contour_levels` of one panel ``z`` on this scale; symmetric-log: geometric steps from
        linear_within (at least the noise) to high."""
        if self.linear_within is None:
            return contour_levels(self.low, self.high, z, levels, noise=noise)
        return contour_levels(max(self.linear_within, noise or 0.0), self.high, z, levels, log=True, noise=noise)

    def words(self, unit: str) -> str:
        """The scale in words, in ``unit``, for a caption."""
        span = f"{stats.number_text(self.low, 3)} to {stats.number_text(self.high, 3)} {unit}"
        if self.linear_within is None:
            return span
        return f"{span}, symmetric-log: linear within ±{stats.number_text(self.linear_within, 2)} {unit}"


def surface(alphas: Sequence[float], betas: Sequence[float], values: np.ndarray | Sequence[np.ndarray],
            titles: Sequence[str] | None = None, label: str = "loss", levels: int = 10, log: bool = False,
            shared_scale: bool = True, limits: ColourScale | tuple[float, float] | None = None,
            noise: Sequence[float | None] | None = None) -> Figure:
    """2-D heatmaps with contour lines of ``values[i, j]`` = f(alphas[i], betas[j]), one panel per
    array in ``values`` (several surfaces side by side share one colour scale unless
    ``shared_scale`` is false; ``limits``: the scale, a :class:`ColourScale` or (low, high), shared
    with surfaces drawn elsewhere, so a plane that barely varies looks flat and has no contour).
    ``log``: a logarithmic colour scale and log-spaced contours (the values must be > 0), labelled
    in the values' own units; every other contour is labelled. ``noise``: per panel, its noise
    (:func:`contour_levels`), or None."""
    arrays = [np.asarray(values, dtype=float)] if np.ndim(values) == 2 else [np.asarray(v, dtype=float) for v in values]
    fig, axes = panels(len(arrays), ncols=min(len(arrays), 3))
    A, B = np.meshgrid(np.asarray(alphas, dtype=float), np.asarray(betas, dtype=float), indexing="ij")
    whole = limits if limits is not None else (min(float(np.nanmin(a)) for a in arrays),
                                               max(float(np.nanmax(a)) for a in arrays))
    for i, (ax, z) in enumerate(zip(axes, arrays)):
        scale = whole if shared_scale or limits is not None else (float(np.nanmin(z)), float(np.nanmax(z)))
        scale = scale if isinstance(scale, ColourScale) else ColourScale(*scale)
        norm = matplotlib.colors.LogNorm(scale.low, scale.high) if log else scale.norm()
        mesh = ax.pcolormesh(A, B, z, shading="nearest", cmap="viridis", norm=norm, rasterized=True)
        panel_noise = noise[i] if noise is not None else None
        inside = (contour_levels(scale.low, scale.high, z, levels, True, panel_noise) if log
                  else scale.contour_levels(z, levels, panel_noise))
        if inside:  # a plane within one step of the shared scale, or within its noise, has no contour to draw
            contours = ax.contour(A, B, z, levels=inside, colors="white", linewidths=0.6)
            ax.clabel(contours, contours.levels[::2], fontsize=7, inline=True,
                      fmt=lambda v: stats.number_text(v, digits=3))
        ax.plot([0], [0], marker="+", color="red", markersize=10)
        ax.set_xlabel("α")
        ax.set_ylabel("β")
        ax.grid(False)
        if titles:
            ax.set_title(titles[i], fontsize="medium")
        logarithmic = log or scale.linear_within is not None
        bar = fig.colorbar(mesh, ax=ax, label=f"{label} (log scale)" if log else f"{label} · symlog"
                           if logarithmic else label)  # short: a label longer than the bar makes the figure taller
        if scale.linear_within is not None and not log:
            values, words = scale.ticks()
            bar.set_ticks(values, labels=words)
        if not logarithmic:
            bar.formatter.set_useOffset(False)  # near-constant surfaces: full values, no "1e-6 + 2.3026" offset
            bar.update_ticks()
    fig.tight_layout()
    return fig


def surface_3d(alphas: Sequence[float], betas: Sequence[float], values: Sequence[np.ndarray],
               titles: Sequence[str], scale: ColourScale) -> Figure:
    """Li et al.'s picture: each array of ``values`` (``values[i, j]`` = f(alphas[i], betas[j]))
    as a 3-D surface, a panel per array side by side (titles wrapped), on one height and colour
    ``scale`` (symmetric-log: the height is :meth:`ColourScale.height`, ticked in the values'
    units); the caption says what the height is."""
    from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers the 3d projection)

    apply_style()
    n = len(values)
    width, height = MULTIPLE_PANEL if n >= 4 else SMALL_PANEL if n == 3 else (PANEL_WIDTH, PANEL_HEIGHT)
    fig = plt.figure(figsize=(width * n, height * 1.1))
    A, B = np.meshgrid(np.asarray(alphas, dtype=float), np.asarray(betas, dtype=float), indexing="ij")
    low, high = (float(scale.height(scale.low)), float(scale.height(scale.high)))
    norm = matplotlib.colors.Normalize(low, high)
    tick_values, tick_text = scale.ticks()
    for i, (z, title) in enumerate(zip(values, titles)):
        ax = fig.add_subplot(1, n, i + 1, projection="3d")
        ax.plot_surface(A, B, scale.height(z), cmap="viridis", norm=norm, linewidth=0, antialiased=True,
                        rcount=len(A), ccount=A.shape[1])
        ax.set_zlim(low, high)
        if tick_values:
            ax.set_zticks(scale.height(tick_values), tick_text, fontsize="x-small")
        ax.view_init(elev=30, azim=-60)
        ax.set_xlabel("α")
        ax.set_ylabel("β")
        ax.set_title(textwrap.fill(title, 24 if n >= 3 else 40), fontsize="small")
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.05, top=0.88, wspace=0.15)
    return fig


def surface_3d_spec(alphas: Sequence[float], betas: Sequence[float], values: Sequence[np.ndarray],
                    scale: ColourScale, label: str = "loss") -> dict:
    """The plotly spec of :func:`surface_3d`'s panels (``reporting.interactive``): one scene each,
    side by side, the same scale (symmetric-log: heights and ticks as :func:`surface_3d` draws
    them, the hover giving the value itself); numbers and axis words only (the caption names the
    panels)."""
    n = len(values)
    data, layout = [], {"height": 440, "margin": {"l": 0, "r": 0, "t": 10, "b": 0}, "showlegend": False}
    low, high = float(scale.height(scale.low)), float(scale.height(scale.high))
    tick_values, tick_text = scale.ticks()
    tick_at = scale.height(tick_values).tolist()
    for i, z in enumerate(values):
        scene = "scene" if i == 0 else f"scene{i + 1}"
        trace = {"type": "surface", "x": [float(b) for b in betas], "y": [float(a) for a in alphas],
                 "z": scale.height(z).tolist(), "scene": scene, "colorscale": "Viridis",
                 "cmin": low, "cmax": high, "showscale": i == n - 1}
        zaxis = {"title": {"text": label}, "range": [low, high]}
        if tick_at:
            trace.update(customdata=np.asarray(z, dtype=float).tolist(), hovertemplate="%{customdata:.4g}<extra></extra>",
                         colorbar={"tickvals": tick_at, "ticktext": tick_text})
            zaxis.update(tickvals=tick_at, ticktext=tick_text)
        data.append(trace)
        layout[scene] = {"domain": {"x": [i / n, (i + 1) / n], "y": [0, 1]},
                         "xaxis": {"title": {"text": "β"}}, "yaxis": {"title": {"text": "α"}}, "zaxis": zaxis}
    return {"data": data, "layout": layout}


# ---------------------------------------------------------------------------- probes
# Frames from ``landscape.probes``.


def at_least(axes: Sequence, span: float, lowest: float, highest: float) -> None:
    """Widen each of ``axes``' y ranges to at least ``span`` about its centre, within [lowest, highest]."""
    for ax in axes:
        low, high = ax.get_ylim()
        if high - low < span:
            centre = min(max((low + high) / 2, lowest + span / 2), highest - span / 2)
            ax.set_ylim(centre - span / 2, centre + span / 2)


def seed_dots(rows: pd.DataFrame, value: str, estimate: str, published: Mapping[str, float | None] | None,
              ylabel: str, labels: Mapping[str, str] | None = None) -> Figure:
    """Per configuration and estimate kind (column ``estimate``): each seed as a dot, the mean as
    a bar-wide line with its 95% CI as an error bar; the study's published value per
    configuration (``published``) as a star. Values that :func:`wants_log` get a logarithmic
    axis and, as the centre, the geometric mean with the t interval on logs (an arithmetic
    interval would reach below zero, off a log axis); :func:`seed_centre_words` says which."""
    apply_style()
    log = wants_log(rows[value].to_numpy(float))
    configs, _, names = config_styles(rows, labels)
    kinds = list(dict.fromkeys(rows[estimate]))
    fig, ax = plt.subplots(figsize=(max(PANEL_WIDTH * 1.4, BAR_GROUP_WIDTH * len(configs) + 1.0), PANEL_HEIGHT))
    colors = dict(zip(kinds + ["study, published"], sns.color_palette(PALETTE, n_colors=len(kinds) + 1)))
    width = 0.8 / (len(kinds) + 1)
    for i, config in enumerate(configs):
        for j, kind in enumerate(kinds):
            values = rows[(rows["config"] == config) & (rows[estimate] == kind)][value].to_numpy(float)
            if not len(values):
                continue
            x = i + (j - len(kinds) / 2) * width
            jitter = np.linspace(-width * 0.25, width * 0.25, len(values)) if len(values) > 1 else np.zeros(1)
            ax.plot(x + jitter, values, "o", color=colors[kind], alpha=0.75, markersize=4,
                    label=kind if i == 0 else None)
            found = stats.geometric_ci(values) if log else stats.mean_ci(values)
            ax.hlines(found.estimate, x - width * 0.4, x + width * 0.4, color=colors[kind], linewidth=2)
            if found.defined:
                ax.errorbar(x, found.estimate, yerr=[[found.estimate - found.low], [found.high - found.estimate]],
                            color=colors[kind], capsize=4, linewidth=1)
        ref = (published or {}).get(config)
        if ref is not None:
            ax.plot(i + (len(kinds) / 2) * width, ref, "*", color=colors["study, published"], markersize=11,
                    label="study, published" if "study, published" not in ax.get_legend_handles_labels()[1] else None)
    wrap = max(8, TICK_CHARS_PER_FIGURE // len(configs))
    ticks = [textwrap.fill(names[c], wrap) for c in configs]
    ax.set_xticks(np.arange(len(configs)), ticks, fontsize="small" if any("\n" in t for t in ticks) else None)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    fig.tight_layout()
    legend_below(fig, ax, ncol=len(kinds) + 1)
    return fig


def seed_centre_words(fig: Figure) -> str:
    """What a :func:`seed_dots` figure draws as each group's centre, for its caption."""
    if fig.axes[0].get_yscale() == "log":
        return "the geometric mean as a line with its 95% CI (t interval on logs; log axis)"
    return "the mean as a line with its 95% CI"


FAMILY_MARKERS = {"MLP": "s", "CNN": "o", "ResNet": "^"}


def measure_scatter(models: pd.DataFrame, measures: Mapping[str, str], target: str, target_label: str) -> Figure:
    """One panel per measure (``measures``: column -> label): every model as a point, the measure
    against ``target``, coloured by study and shaped by architecture family. A measure that
    :func:`wants_log` gets a logarithmic axis."""
    fig, axes = panels(len(measures), ncols=min(len(measures), 4))  # rows of 4: short enough to share a page
    studies = list(dict.fromkeys(models["study"]))
    colors = run_colors(studies)
    for ax, (measure, label) in zip(axes, measures.items()):
        for (study, family), rows in models.groupby(["study", "family"], sort=False):
            ax.plot(rows[measure], rows[target], FAMILY_MARKERS.get(family, "D"), color=colors[study], alpha=0.75,
                    markersize=5, linestyle="none")
        fit_scale([ax], models[measure].to_numpy(float), axis="x")
        ax.set_xlabel(label)
        ax.set_ylabel(target_label)
    handles = [matplotlib.lines.Line2D([], [], color=colors[s], marker="o", linestyle="none", label=s) for s in studies]
    handles += [matplotlib.lines.Line2D([], [], color="0.4", marker=FAMILY_MARKERS.get(f, "D"), linestyle="none", label=f)
                for f in dict.fromkeys(models["family"])]
    fig.tight_layout()
    legend_below(fig, ncol=5, handles=handles)
    return fig


def tau_ranking(rows: pd.DataFrame, labels: Mapping[str, str],
                xlabel: str = "Kendall τ with the generalization target (95% CI)") -> Figure:
    """Measures ranked by the first estimate kind of ``rows`` (one row per measure and estimate,
    with columns measure, estimate_kind, estimate, low, high; every kind in [−1, 1]): each kind as
    a point with its 95% CI where it has one; the dotted line is 0."""
    apply_style()
    order = (rows[rows["estimate_kind"] == rows["estimate_kind"].iloc[0]].sort_values("estimate")["measure"].tolist()
             if len(rows) else [])
    kinds = list(dict.fromkeys(rows["estimate_kind"]))
    colors = dict(zip(kinds, sns.color_palette(PALETTE, n_colors=max(len(kinds), 1))))
    fig, ax = plt.subplots(figsize=(PANEL_WIDTH * 1.6, 0.38 * max(len(order), 2) + 1.1))
    step = 0.6 / max(len(kinds), 1)
    for j, kind in enumerate(kinds):
        part = rows[rows["estimate_kind"] == kind].set_index("measure")
        for i, measure in enumerate(order):
            if measure not in part.index:
                continue
            row = part.loc[measure]
            y = i + (j - (len(kinds) - 1) / 2) * step
            if np.isfinite(row["low"]) and np.isfinite(row["high"]):
                ax.hlines(y, row["low"], row["high"], color=colors[kind], linewidth=1.5)
            ax.plot(row["estimate"], y, "o", color=colors[kind], label=kind if i == 0 else None)
    ax.axvline(0, color="0.3", linestyle=":", linewidth=1)
    ax.set_yticks(np.arange(len(order)), [labels.get(m, m) for m in order])
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    legend_below(fig, ax, ncol=max(len(kinds), 1))
    return fig


def trajectories(trajectory: pd.DataFrame) -> Figure:
    """λmax along training (top row, log scale shared by the configurations) and the loss there
    (bottom row; log scale when it spans more than LOG_SCALE_RATIO), one column per configuration
    of one study (``dynamics.trajectory_table`` rows), one line per run; the dashed step line is
    the stability threshold 2(1+β)/η of the learning rate in force (the schedule). Points where
    λmax could not be measured (weights not finite) are left out."""
    apply_style()
    configs = list(dict.fromkeys(trajectory["config"]))
    fig, axes = plt.subplots(2, len(configs), figsize=(max(PANEL_WIDTH, 2.6 * len(configs)), PANEL_HEIGHT * 1.3),
                             squeeze=False, sharex="col", gridspec_kw={"height_ratios": [3, 2]})
    for ax in axes[0, 1:]:
        ax.sharey(axes[0, 0])
    for column, config in enumerate(configs):
        rows = trajectory[trajectory["config"] == config]
        top, bottom = axes[0, column], axes[1, column]
        colors = run_colors(list(dict.fromkeys(rows["run"])))
        for run_id, points in rows.groupby("run", sort=False):
            measured = points[points["status"] != "not finite"]
            top.plot(measured["epoch"], measured["lambda_max"], "-o", markersize=2.5, linewidth=1, color=colors[run_id])
            bottom.plot(measured["epoch"], measured["loss"], "-", linewidth=1, color=colors[run_id])
        edges = rows.drop_duplicates("epoch").sort_values("epoch")
        top.step(edges["epoch"], edges["threshold"], where="pre", color="0.15", linestyle="--", linewidth=1.2,
                 label="2(1+β)/η")
        top.set_yscale("log")
        losses = rows["loss"].to_numpy(float)
        losses = losses[np.isfinite(losses) & (losses > 0)]
        if len(losses) and losses.max() / losses.min() > LOG_SCALE_RATIO:
            bottom.set_yscale("log")
        top.set_title(rows["config_label"].iloc[0], fontsize=9)
        bottom.set_xlabel("epoch")
        if column == 0:
            top.set_ylabel("λmax (train probe subset)")
            bottom.set_ylabel("loss (nats)")
            top.legend(loc="best", fontsize=9)
    fig.tight_layout()
    return fig


def edge_of_stability(trajectory: pd.DataFrame) -> Figure:
    """Cohen et al.'s (2021) Figure 1 for full-batch runs (``dynamics.trajectory_table`` rows with a
    ``panel`` column): one column per panel (a model and momentum), the train loss on top and λmax
    below against the optimizer step; one colour per learning rate η (every seed a line of it), and
    each η's threshold 2(1+β)/η a dashed line of its colour. λmax and the loss on log axes (the
    thresholds span the 8-fold range of η). Points whose weights were not finite are left out."""
    apply_style()
    panels = list(dict.fromkeys(trajectory["panel"]))
    rates = sorted(trajectory["lr"].unique())
    colors = dict(zip(rates, sns.color_palette("viridis", n_colors=max(len(rates), 1))))
    fig, axes = plt.subplots(2, len(panels), figsize=(max(PANEL_WIDTH, 2.4 * len(panels)), PANEL_HEIGHT * 1.5),
                             squeeze=False, sharex="col", gridspec_kw={"height_ratios": [2, 3]})
    for column, panel in enumerate(panels):
        rows = trajectory[trajectory["panel"] == panel]
        loss_ax, lam_ax = axes[0, column], axes[1, column]
        for (lr, _), points in rows.groupby(["lr", "run"], sort=True):
            measured = points[points["status"] != "not finite"].sort_values("step")
            loss_ax.plot(measured["step"], measured["loss"], "-", linewidth=1, color=colors[lr])
            lam_ax.plot(measured["step"], measured["lambda_max"], "-", linewidth=1, color=colors[lr])
        for lr, part in rows.groupby("lr", sort=True):
            lam_ax.axhline(part["threshold"].iloc[0], color=colors[lr], linestyle="--", linewidth=1)
        loss_ax.set_yscale("log")
        lam_ax.set_yscale("log")
        loss_ax.set_title(panel, fontsize=9)
        lam_ax.set_xlabel("step")
        if column == 0:
            loss_ax.set_ylabel("train loss (nats)")
            lam_ax.set_ylabel("λmax (whole train subset)")
    handles = [plt.Line2D([], [], color=colors[lr], label=f"η = {lr:g}") for lr in rates]
    handles.append(plt.Line2D([], [], color="0.3", linestyle="--", label="2(1+β)/η"))
    fig.tight_layout()
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5), bbox_to_anchor=(0.5, -0.04),
               frameon=False)
    return fig


def sharpness_grid(ends: pd.DataFrame) -> Figure:
    """Where SGD ends (``reporting.dynamics.sgd_ends`` rows of completed runs): the last traced λmax
    against η (left, a line per batch size) and against the batch size (right, a line per η), log
    axes; each run a point, the lines through each cell's geometric mean; the dashed line is 2/η."""
    apply_style()
    done = ends[(ends["outcome"] == "completed") & (ends["lambda_last"] > 0)]
    fig, (by_rate, by_batch) = plt.subplots(1, 2, figsize=(PANEL_WIDTH * 1.6, PANEL_HEIGHT))
    for ax, x, line in ((by_rate, "lr", "batch_size"), (by_batch, "batch_size", "lr")):
        keys = sorted(done[line].unique())
        colors = dict(zip(keys, sns.color_palette("viridis", n_colors=max(len(keys), 1))))
        for key, part in done.groupby(line, sort=True):
            ax.plot(part[x], part["lambda_last"], "o", markersize=3, alpha=0.6, color=colors[key])
            means = part.groupby(x)["lambda_last"].apply(lambda v: float(np.exp(np.log(v).mean())))
            name = "batch" if line == "batch_size" else "η"
            ax.plot(means.index, means.to_numpy(), "-", color=colors[key], label=f"{name} {key:g}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(fontsize=8, loc="best")
        ax.set_ylabel("last λmax")
    rates = np.array(sorted(done["lr"].unique()), dtype=float)
    if len(rates):
        by_rate.plot(rates, 2 / rates, "--", color="0.3", linewidth=1)
    by_rate.set_xlabel("learning rate η")
    by_batch.set_xlabel("batch size")
    fig.tight_layout()
    return fig
