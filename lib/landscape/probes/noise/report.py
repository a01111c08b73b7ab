"""How the weight-noise probe reports (its reporting half; see the package docstring): its term,
its tables (the study's numbers beside ours; every scale and σ), its figure, its sentences (the
accuracy it keeps; which reading of the study's noise scale agrees with the study) and its
section, which a notebook names as ``sections.measure(report, "noise")``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...reporting import pages, plotting, tables
from ...verdicts import stats

if TYPE_CHECKING:
    from ...pipeline.params import ReportParams
    from ...reporting.sections import ReportContext

KEY = "noise"
CALLED = "Weight noise"  # what the other reports' links call this section
TERM = ("weight noise σ", "Gaussian noise added to every weight: absolute σ is its standard deviation, relative σ its "
        "size as a fraction of each weight tensor's norm; a flat minimum keeps its accuracy")


def reference_table(params: ReportParams, noise: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """``metric`` ("accuracy" or "loss") per σ under absolute weight noise (mean over draws on
    the test probe set), per configuration the study's number (``reference.noise_<metric>``,
    keyed by configuration or study-seed run), the study-seed run and the mean ± 95% CI over
    seeds, and beside it the mean ± 95% CI under relative noise of the same σ (the other reading of
    a "noise scale"); the study's Table 5 in study 000."""
    measured = noise[(noise["metric"] == metric) & (noise["scale"] == "absolute")]
    relative = noise[(noise["metric"] == metric) & (noise["scale"] == "relative")]
    ref = tables.reference(params, f"noise_{metric}") or {}
    labels = tables.config_labels(params)
    rows = []
    for sigma in sorted(measured["sigma"].unique()):
        row = {("σ", ""): float(sigma)}
        for config in tables.configs_in(params, measured):
            at = measured[(measured["config"] == config) & (measured["sigma"] == sigma)]
            theirs = {float(k): v for k, v in (tables.for_config(params, ref, config) or {}).items()}
            seed = at[at["run"] == tables.study_run(params, config)]["mean"]
            row[(labels[config], tables.STUDY)] = float(theirs.get(float(sigma), np.nan))
            row[(labels[config], "study seed")] = float(seed.iloc[0]) if len(seed) else np.nan
            row[(labels[config], tables.SEEDS)] = tables.ci_cell(at["mean"])
            if len(relative):
                row[(labels[config], f"relative σ, {tables.SEEDS}")] = tables.ci_cell(
                    relative[(relative["config"] == config) & (relative["sigma"] == sigma)]["mean"])
        rows.append(row)
    df = pd.DataFrame(rows)
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df


def table(params: ReportParams, noise: pd.DataFrame) -> pd.DataFrame:
    """Loss and accuracy under weight noise per configuration, scale and σ: each seed's mean over
    draws, then the mean ± 95% CI over seeds."""
    out = []
    for config in tables.configs_in(params, noise):
        mine = noise[noise["config"] == config]
        for (scale, sigma), at in mine.groupby(["scale", "sigma"], sort=False):
            loss, acc = at[at["metric"] == "loss"], at[at["metric"] == "accuracy"]
            out.append({"model": tables.config_labels(params)[config], "noise": scale, "σ": sigma, "seeds": at["seed"].nunique(),
                        "loss": tables.ci_cell(loss["mean"]), "accuracy": tables.ci_cell(acc["mean"]),
                        "draws per seed": int(at["num_draws"].iloc[0]), "mode": at["mode"].iloc[0]})
    return pd.DataFrame(out)


def sentence(params: ReportParams, noise: pd.DataFrame) -> str:
    """Accuracy at σ = 0 and at the largest σ (absolute noise) per configuration, over seeds."""
    acc = noise[(noise["metric"] == "accuracy") & (noise["scale"] == "absolute")]
    parts = []
    for config in tables.configs_in(params, acc):
        rows = acc[acc["config"] == config]
        low, high = rows["sigma"].min(), rows["sigma"].max()
        parts.append(f"{tables.config_labels(params)[config]} {tables.ci_cell(rows[rows['sigma'] == low]['mean'])} at σ {low:g} → "
                     f"{tables.ci_cell(rows[rows['sigma'] == high]['mean'])} at σ {high:g}")
    return ("Test probe-set accuracy under absolute weight noise (mean ± 95% CI over seeds): " + "; ".join(parts) + "."
            if parts else "")


STUDY_CHANGE_RESOLUTION = 1.0  # points: how finely a published change of accuracy is read (its subset is unstated)


def attribution_sentence(params: ReportParams, noise: pd.DataFrame) -> str:
    """Which reading of the study's noise scale its published accuracies agree with: per
    configuration with published accuracies at the smallest and largest σ, the study's change
    in accuracy between them (points) against ours under absolute and under relative noise (per
    seed, mean ± 95% CI); a reading agrees when the study's change lies in our interval widened
    by ``STUDY_CHANGE_RESOLUTION`` on each side. "" without published accuracies."""
    ref = tables.reference(params, "noise_accuracy")
    acc = noise[noise["metric"] == "accuracy"]
    parts, agrees = [], {"absolute": [], "relative": []}
    low, high = (float(acc["sigma"].min()), float(acc["sigma"].max())) if len(acc) else (0.0, 0.0)
    for config in tables.configs_in(params, acc):
        theirs = {float(k): float(v) for k, v in (tables.for_config(params, ref, config) or {}).items()}
        if low not in theirs or high not in theirs or low == high:
            continue
        change = 100 * (theirs[high] - theirs[low])
        ours = []
        for scale in agrees:
            rows = acc[(acc["config"] == config) & (acc["scale"] == scale)].pivot_table(
                index="seed", columns="sigma", values="mean")
            if low not in rows or high not in rows:
                continue
            found = stats.mean_ci(100 * (rows[high] - rows[low]))
            agrees[scale].append(found.defined and found.low - STUDY_CHANGE_RESOLUTION <= change
                                 <= found.high + STUDY_CHANGE_RESOLUTION)
            ours.append(f"{tables.ci_cell(100 * (rows[high] - rows[low]))} under {scale} noise")
        parts.append(f"{tables.config_labels(params)[config]}: study {stats.number_text(change, signed=True)}, ours "
                     + " and ".join(ours))
    if not parts:
        return ""
    verdict = {scale: bool(found) and all(found) for scale, found in agrees.items()}
    if verdict["absolute"] and verdict["relative"]:
        why = "Both readings of the noise scale agree with the study's numbers: these seeds cannot tell which it used."
    elif verdict["absolute"]:
        why = "The study's numbers agree with ours under absolute noise, the reading its words suggest."
    elif verdict["relative"]:
        why = ("Only relative noise (each tensor's noise norm σ times its weight norm) agrees with the study's "
               "numbers: its noise scale may have been relative, which it does not say.")
    else:
        why = ("Neither reading of the noise scale agrees with the study's numbers, so the difference is not one of "
               "scale; the suite cannot attribute it further.")
    return (f"Change in test accuracy from σ = {low:g} to σ = {high:g}, in points (mean ± 95% CI over seeds): "
            + "; ".join(parts) + ". " + why + f" (A reading agrees when the study's change lies within our interval "
            f"widened by {STUDY_CHANGE_RESOLUTION:g} point, the precision to which a published change on an unstated "
            "validation subset can be read.)")


def figure(noise: pd.DataFrame, metric: str = "accuracy", reference: Mapping | None = None,
                     labels: Mapping[str, str] | None = None) -> Figure:
    """``metric`` against σ, one panel per noise scale (absolute: the study's; relative: σ as
    noise-to-weight norm ratio): per configuration the mean over seeds of each seed's mean over
    noise draws, with the 95% CI band over seeds (clipped to ``METRIC_DOMAINS``); the study's
    numbers per σ (``reference[config or run][σ]``, absolute scale) as open markers."""
    rows = noise[noise["metric"] == metric]
    scales = list(dict.fromkeys(rows["scale"]))
    configs, colors, names = plotting.config_styles(rows, labels)
    fig, axes = plotting.panels(len(scales))
    for ax, scale in zip(axes, scales):
        for config in configs:
            plotting.mean_band(ax, rows[(rows["config"] == config) & (rows["scale"] == scale)], "sigma", "mean",
                       colors[config], "-", names[config], domain=plotting.METRIC_DOMAINS.get(metric, plotting.ANY_VALUE))
            ref = (reference or {}).get(config) if scale == "absolute" else None
            if ref:
                xs = sorted(float(k) for k in ref)
                ax.plot(xs, [ref[k] if k in ref else ref[str(k)] for k in xs], "s", mfc="none", color=colors[config],
                        label=f"{names[config]} · study")
        ax.set_xlabel(f"σ ({scale} noise)")
        ax.set_ylabel(plotting.METRIC_LABELS.get(metric, metric))
    shown = axes[:len(scales)]
    if metric == "accuracy":
        plotting.at_least(shown, plotting.MIN_ACCURACY_SPAN, 0.0, 1.0)
    else:
        plotting.fit_scale(shown, rows[["ci_low", "ci_high", "mean"]].to_numpy(float).ravel())
    fig.tight_layout()
    plotting.legend_below(fig, axes[0], ncol=2)
    return fig


def section(report: ReportContext) -> None:
    """Loss and accuracy under weight noise, study vs run where the study published numbers."""
    sink, frame = report.sink, report.frame(KEY, TERM)
    if frame is None:
        return
    for metric in ("accuracy", "loss"):
        if report.reference(f"noise_{metric}"):
            sink.table(reference_table(report.params, frame, metric), f"noise-study-{metric}",
                       f"Test {metric} under absolute Gaussian weight noise per σ: the study's number where it gives "
                       "one, the study-seed run and the mean ± 95% CI over seeds (each seed: mean over draws); last, "
                       "the mean ± 95% CI under relative noise of the same σ, the other reading of a noise scale.")
    sink.table(table(report.params, frame), "noise", "Loss and accuracy under weight noise, absolute σ "
               "(the study's) and relative σ (noise-to-weight norm ratio per tensor): each seed's mean over draws, "
               "mean ± 95% CI over seeds.")
    published = {c: v for c in report.labels
                 if (v := tables.for_config(report.params, report.reference("noise_accuracy"), c))}
    sink.figure(figure(frame, "accuracy", published, labels=report.labels), "noise-accuracy",
                "Accuracy under weight noise: mean over seeds with a 95% CI band cut at 0 and 1 (each seed: mean over "
                "draws)"
                + ("; squares: the study's published accuracies." if published else "."))
    sink.markdown(sentence(report.params, frame))
    if attribution := attribution_sentence(report.params, frame):
        sink.markdown(attribution)
    sink.record(KEY, frame)
    pages.see_also(sink, report.params, KEY, CALLED)


SECTIONS = {KEY: section}
