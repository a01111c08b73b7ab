"""How the interpolation probe reports (its reporting half; see the package docstring): its
term, its figure (the loss on the path), its barrier table and sentence, and its section, which a
notebook names as ``sections.measure(report, "interpolation")``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...reporting import pages, plotting, tables

if TYPE_CHECKING:
    from ...pipeline.params import ReportParams
    from ...reporting.sections import ReportContext

KEY = "interpolation"
CALLED = "Barriers between minima"  # what the other reports' links call this section
TERM = ("barrier", "the highest loss on the straight line between two trained networks above the average of the two "
        "ends; near 0, the two minima are connected by a path of low loss")


NO_BATCHNORM = "—"  # a network without BatchNorm has one path, with nothing to interpolate or recompute


def _treatment(params: ReportParams, config: str, bn: str) -> str:
    """How the path treats BatchNorm statistics, in the table's words: ``bn`` for a configuration
    with BatchNorm, ``NO_BATCHNORM`` for one without."""
    return bn if params.config(config).traits.batchnorm else NO_BATCHNORM


def table(params: ReportParams, barriers: pd.DataFrame, published_max_loss: float | None = None) -> pd.DataFrame:
    """Per configuration, split and BatchNorm treatment, over its disjoint seed pairs: endpoint
    losses and the largest loss on the path (mean ± 95% CI) and the loss and error barriers
    (positive: ``tables.positive_cell``); the study's largest loss on the path (one number, as study 001 gives it) beside ours."""
    out = []
    for config in tables.configs_in(params, barriers):
        for (split, bn), at in barriers[barriers["config"] == config].groupby(["split", "bn"], sort=False):
            row = {"model": tables.config_labels(params)[config], "split": split, "BN": _treatment(params, config, bn),
                   "pairs": len(at),
                   "endpoint loss": tables.ci_cell(pd.concat([at["loss_a"], at["loss_b"]])),
                   "max L on path": tables.ci_cell(at["max_loss"])}
            if published_max_loss is not None:
                row["max L, study"] = float(published_max_loss)
            row.update({"loss barrier": tables.positive_cell(at["loss_barrier"]),
                        "error barrier": tables.positive_cell(at["error_barrier"]),
                        "n": int(at["n"].iloc[0])})
            out.append(row)
    return pd.DataFrame(out)


def sentence(params: ReportParams, barriers: pd.DataFrame, published_max_loss: float | None = None) -> str:
    """The loss barrier per configuration, split and BatchNorm treatment over its seed pairs."""
    parts = []
    for config in tables.configs_in(params, barriers):
        for (split, bn), at in barriers[barriers["config"] == config].groupby(["split", "bn"], sort=False):
            treatment = _treatment(params, config, bn)
            parts.append(f"{tables.config_labels(params)[config]} {split}"
                         + (f" (BN {treatment})" if treatment != NO_BATCHNORM else "") + ": "
                         f"{tables.positive_cell(at['loss_barrier'])} nats over {len(at)} pair{'s' if len(at) > 1 else ''}")
    text = ("Loss barrier above the straight line between the endpoints, geometric mean [95% CI] over disjoint seed "
            "pairs (fewer than 3 pairs: no interval): " + "; ".join(parts))
    if published_max_loss is not None:
        text += f". The study's largest loss on its path: {published_max_loss:g}"
    return text + "." if parts else ""


def figure(path: pd.DataFrame, y: str = "loss", reference_max: float | None = None,
           labels: Mapping[str, str] | None = None) -> Figure:
    """Loss (or accuracy) along θ(α) = (1 − α) θ_A + α θ_B: one panel per configuration, the mean
    over its seed pairs with the 95% CI band (cut at the metric's domain; none with fewer than 3
    pairs), train solid and test dashed, recomputed BatchNorm
    statistics dotted; ``reference_max`` (the study's largest loss on the path) as a grey dotted
    line."""
    configs, _, names = plotting.config_styles(path, labels)
    fig, axes = plotting.panels(len(configs), ncols=min(len(configs), 3))
    colors = plotting.run_colors(["train", "test"])
    for ax, config in zip(axes, configs):
        rows = path[path["config"] == config]
        for (split, bn), r in rows.groupby(["split", "bn"], sort=False):
            style = ":" if bn == "recompute" else plotting.SPLIT_STYLES.get(split, "-")
            plotting.mean_band(ax, r, "alpha", y, colors[split], style,
                               f"{split} · BN {bn}" if path["bn"].nunique() > 1 else split,
                               domain=plotting.METRIC_DOMAINS.get(y, plotting.ANY_VALUE))
        if reference_max is not None and y == "loss":
            ax.axhline(reference_max, color="0.4", linestyle=":", linewidth=1, label="study: max loss on path")
        pairs = rows["pair"].nunique()
        ax.set_title(f"{names[config]} ({pairs} pair{'s' if pairs > 1 else ''})", fontsize="medium")
        ax.set_xlabel("α (0: first run, 1: second)")
        ax.set_ylabel(plotting.METRIC_LABELS.get(y, y))
    shown = axes[:len(configs)]
    for ax in shown[1:]:  # one y scale: a barrier's height compares across configurations
        ax.sharey(shown[0])
    plotting.fit_scale(shown, np.concatenate([plotting.axis_data(ax, "y") for ax in shown]))
    fig.tight_layout()
    plotting.legend_below(fig, axes[0], ncol=3)
    return fig


def section(report: ReportContext) -> None:
    """The loss on the straight line between two trained minima, and the barrier."""
    sink = report.sink
    path = report.frame(KEY, TERM)
    if path is None:
        return
    barriers = report.results.probes.barriers
    max_loss, note = report.reference("interpolation_max_loss"), report.reference("barriers")
    bn = set(path["bn"])
    sink.figure(figure(path, reference_max=max_loss, labels=report.labels), "interpolation",
                "Loss on the straight line between two trained minima (disjoint pairs of seeds), mean over pairs with a "
                "95% band, train (solid) and test (dashed) probe sets"
                + ("; BatchNorm statistics interpolated, or recomputed at each α (dotted)." if "recompute" in bn else "."))
    sink.table(table(report.params, barriers, max_loss), "barriers",
               "Loss barrier: largest excess over the straight line between the endpoint losses (nats), and the error "
               "barrier over disjoint seed pairs: losses as mean ± 95% CI, barriers (positive) as geometric mean [95% CI]; "
               "fewer than 3 pairs give no interval" + ("; the study's largest loss on the path beside ours." if max_loss
                                                           else ".")
               + (f" The study, which published no barrier numbers: {note}." if note else ""))
    sink.markdown(sentence(report.params, barriers, max_loss))
    sink.record("barriers", barriers)
    pages.see_also(sink, report.params, KEY, CALLED)


SECTIONS = {KEY: section}
