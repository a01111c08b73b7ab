"""How the slice and surface probes report (their reporting half; see the package docstring):
their terms, the slices' figure, each study-seed run's surfaces, the loss-range table and
sentence, and the two sections, which a notebook names as ``sections.measure(report, "slice1d")``
and ``sections.measure(report, "surface2d")`` (the ``loss_range`` frame is shown in the second)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...geometry import surfaces
from ...pipeline import estimate
from ...reporting import pages, plotting, tables
from ...verdicts import stats

if TYPE_CHECKING:
    from ...pipeline.params import ReportParams
    from ...reporting.sections import ReportContext

TERM = ("filter normalization", "a random direction in weight space rescaled so that each filter's part has the norm "
        "of that filter's weights (Li et al. 2018); slices along such directions compare networks of different scale")
SURFACE_TERM = ("loss surface", "the loss over a plane through the trained weights spanned by two random directions; "
                "α = β = 0 is the trained network")
DIRECTION_LABELS = {"filter": "filter-normalized direction", "random": "unnormalized N(0, I) direction",
                    "unit": "unit-norm direction over all weights"}


def loss_range_table(params: ReportParams, surface: pd.DataFrame, ranges: pd.DataFrame | None = None) -> pd.DataFrame:
    """Loss over the 2-D grid per configuration, split and direction kind (nats): min, max, L(θ)
    and max − min of the study-seed run (the one drawn), max − min over every seed probed
    (``tables.positive_cell``, and how many: from ``ranges``, the ``loss_range`` probe's coarse grid on every
    seed, else from the surfaces themselves), and the study's published [min, max]
    (``reference.<split>_loss_range``) on the rows of the study's direction kind (its unit-norm
    directions)."""
    ranges = surfaces.loss_ranges(surface) if ranges is None else ranges
    rows = []
    for config in tables.configs_in(params, surface):
        for (kind, split), r in surface[surface["config"] == config].groupby(["direction", "split"], sort=False):
            ref = (tables.for_config(params, tables.reference(params, f"{split}_loss_range"), config)
                   if kind != "filter" else None)
            mine = r[r["run"] == tables.study_run(params, config)]
            centre = mine[(mine["alpha"] == 0) & (mine["beta"] == 0)]["loss"]
            spreads = tables.loss_spreads(ranges, config, kind, split)
            rows.append({"model": params.config(config).label, "split": split, "direction": kind,
                         "min": mine["loss"].min(), "max": mine["loss"].max(),
                         "L(θ)": float(centre.iloc[0]) if len(centre) else np.nan,
                         "max − min": mine["loss"].max() - mine["loss"].min(),
                         f"max − min, {tables.POSITIVE_SEEDS}": tables.positive_cell(spreads), "seeds": len(spreads),
                         "study min": np.nan if ref is None else ref[0], "study max": np.nan if ref is None else ref[1]})
    return pd.DataFrame(rows)


def loss_range_sentence(params: ReportParams, surface: pd.DataFrame, ranges: pd.DataFrame | None = None) -> str:
    """The train-loss spread over the grid per configuration and direction kind: the study seed's,
    and over seeds (``ranges`` as in :func:`loss_range_table`) where more than one was probed."""
    ranges = surfaces.loss_ranges(surface) if ranges is None else ranges
    parts = []
    for config in tables.configs_in(params, surface):
        train = surface[(surface["config"] == config) & (surface["split"] == "train")]
        for kind, r in train.groupby("direction", sort=False):
            spreads = tables.loss_spreads(ranges, config, kind, "train")
            mine = r[r["run"] == tables.study_run(params, config)]["loss"]
            parts.append(f"{params.config(config).label} ({kind}) {stats.number_text(mine.max() - mine.min(), 4)}"
                         + (f" (over {len(spreads)} seeds {tables.positive_cell(spreads)})"
                            if len(spreads) > 1 else ""))
    text = "Spread of the train loss over the grid (max − min, nats) of the study seed: " + "; ".join(parts) + "."
    if "unit" in set(surface["direction"]):
        text += (" A unit-norm direction spread over every weight moves each by about 1/√n, so its spread measures "
                 "how far the grid reaches, not the landscape; filter-normalized directions move each filter by "
                 "its own norm.")
    return text


def slices_figure(frame: pd.DataFrame, y: str = "loss", labels: Mapping[str, str] | None = None) -> Figure:
    """1-D slices L(θ + α d): one panel per direction kind (filter-normalized; the study's kind
    when present, ``DIRECTION_LABELS``), a colour per configuration (mean over seeds, each seed
    along its own random direction, with the 95% CI band), train solid and test dashed; each
    panel titled by its direction kind (and split, when there are panels per split)."""
    kinds = list(dict.fromkeys(frame["direction"]))
    configs, colors, names = plotting.config_styles(frame, labels)
    many = len(configs) > 2  # more than 4 curves a panel: train and test get panels of their own
    groups = [(kind, (split,)) for kind in kinds for split in dict.fromkeys(frame["split"])] if many else \
        [(kind, tuple(dict.fromkeys(frame["split"]))) for kind in kinds]
    fig, axes = plotting.panels(len(groups), ncols=len(groups) // len(kinds) if many else len(groups))  # kinds abreast
    for ax, (kind, splits) in zip(axes, groups):
        for config in configs:
            for split in splits:
                r = frame[(frame["config"] == config) & (frame["direction"] == kind) & (frame["split"] == split)]
                plotting.mean_band(ax, r, "alpha", y, colors[config], plotting.SPLIT_STYLES.get(split, "-"),
                                   names[config] if many else f"{names[config]} · {split}")
        ax.axvline(0.0, color="0.5", linewidth=0.8, linestyle=":")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))  # two panels side by side: keep the α ticks apart
        ax.set_title(DIRECTION_LABELS.get(kind, kind) + (f" · {splits[0]}" if many else ""), fontsize="medium")
        ax.set_xlabel("α")
        ax.set_ylabel(plotting.METRIC_LABELS.get(y, y))
        plotting.fit_scale([ax], plotting.axis_data(ax, "y"))
    fig.tight_layout()
    plotting.legend_below(fig, axes[0], ncol=len(configs) if many else 2)
    return fig


def end_rises(frame: pd.DataFrame, split: str = "train") -> pd.DataFrame:
    """Per direction kind and configuration of a ``slice1d`` frame, the mean over seeds of the
    ``split`` loss rise at the ends of the α range over L(θ): (L(α_min) + L(α_max)) / 2 − L(0),
    nats. Columns direction, config, rise."""
    rows = []
    for (kind, config), part in frame[frame["split"] == split].groupby(["direction", "config"], sort=False):
        per_seed = []
        for _, run in part.groupby("run", sort=False):
            ends = run[run["alpha"].isin([run["alpha"].min(), run["alpha"].max()])]["loss"].mean()
            per_seed.append(ends - run.loc[run["alpha"].abs().idxmin(), "loss"])
        rows.append({"direction": kind, "config": config, "rise": float(np.mean(per_seed))})
    return pd.DataFrame(rows, columns=["direction", "config", "rise"])


def order_sentence(frame: pd.DataFrame, labels: Mapping[str, str]) -> str | None:
    """Whether the direction kinds of a ``slice1d`` frame order its configurations alike by their
    train-loss rise at the ends of the α range (:func:`end_rises`), in words; None with a single
    kind or configuration."""
    found = end_rises(frame)
    kinds = list(dict.fromkeys(found["direction"]))
    if len(kinds) < 2 or found["config"].nunique() < 2:
        return None
    orders = {kind: found[found["direction"] == kind].sort_values("rise") for kind in kinds}
    words = "; ".join(f"along {DIRECTION_LABELS.get(kind, kind)}s " + " < ".join(
        f"{labels.get(r.config, r.config)} ({stats.number_text(r.rise, 3)})" for r in rows.itertuples())
                      for kind, rows in orders.items())
    same = len({tuple(rows["config"]) for rows in orders.values()}) == 1
    return ("Ordered from the flattest to the sharpest by the mean train-loss rise at the ends of the α range (nats): "
            + words + (". The direction kinds agree on the order." if same else
                       ". The direction kinds order the configurations differently: a direction that is not "
                       "filter-normalized moves every weight by about the same amount whatever its size (Li et al.'s "
                       "reason for normalizing), so its order reflects the networks' weight scales as well as their "
                       "landscapes."))


def rises(frame: pd.DataFrame, value: str = "loss") -> pd.DataFrame:
    """``frame`` (a ``surface2d`` frame) with ``rise``: ``value`` minus its value at the grid point
    nearest θ (α = β = 0) of the same run, direction kind and split."""
    centre = (frame["alpha"].abs() + frame["beta"].abs())
    at = frame.assign(_centre=centre).sort_values("_centre").groupby(["run", "direction", "split"], sort=False)[value]
    base = at.first().rename("_base")
    return frame.join(base, on=["run", "direction", "split"]).assign(rise=lambda f: f[value] - f["_base"]).drop(
        columns="_base")


def rise_scale(frame: pd.DataFrame, direction: str) -> plotting.ColourScale:
    """The colour scale every surface of ``frame`` along ``direction`` shares: the range of the
    loss rise over L(θ) (:func:`rises`) over all its runs and splits, nats. Where the surfaces'
    highest rises span more than ``plotting.LOG_SCALE_RATIO`` (a network that did not learn can
    rise by 10⁵ nats where a trained one rises by 10), symmetric-log, linear within the smallest
    probe-set noise (:func:`centre_noise`; without one, a tenth of the lowest highest rise)."""
    found = rises(frame[frame["direction"] == direction])
    low, high = float(found["rise"].min()), float(found["rise"].max())
    tops = found.groupby(["run", "split"])["rise"].max().to_numpy(float)
    noise = [n for _, rows in found.groupby(["run", "split"]) if (n := centre_noise(rows)) is not None and n > 0]
    floor = min(noise) if noise else (tops[tops > 0].min() / 10 if (tops > 0).any() else None)
    if floor is None or high / max(float(tops.min()), floor) <= plotting.LOG_SCALE_RATIO:
        return plotting.ColourScale(low, high)
    return plotting.ColourScale(low, high, linear_within=floor)


def centre_noise(rows: pd.DataFrame) -> float | None:
    """The probe-set noise of one surface (``rows``: one run, direction kind and split): the
    standard error of the mean loss at the grid point nearest θ (nats), None where the frame was
    computed before it recorded one (no ``loss_se``)."""
    if "loss_se" not in rows.columns:
        return None
    found = rows.loc[(rows["alpha"].abs() + rows["beta"].abs()).idxmin(), "loss_se"]
    return float(found) if np.isfinite(found) else None


def surfaces_of(frame: pd.DataFrame, run_id: str, direction: str = "filter",
                scale: plotting.ColourScale | None = None) -> Figure:
    """The 2-D surface of one run along one direction kind, a panel per split, coloured by the
    loss rise over L(θ) (:func:`rises`) on the colour ``scale`` (default: this run's own linear
    range), which the report's surfaces along that kind share (:func:`rise_scale`); contours
    only beyond each panel's probe-set noise (:func:`centre_noise`, ``plotting.contour_levels``)."""
    rows = rises(frame[(frame["run"] == run_id) & (frame["direction"] == direction)])
    splits = list(dict.fromkeys(rows["split"]))
    mats = [rows[rows["split"] == s].pivot(index="alpha", columns="beta", values="rise") for s in splits]
    return plotting.surface(mats[0].index.to_numpy(), mats[0].columns.to_numpy(), [m.to_numpy() for m in mats],
                            titles=[f"{rows['label'].iloc[0]} · {s}" for s in splits], label="loss − L(θ) (nats)",
                            limits=scale, noise=[centre_noise(rows[rows["split"] == s]) for s in splits])


def surface_view(frame: pd.DataFrame, run_ids: list[str], scale: plotting.ColourScale,
                 split: str = "train") -> tuple[Figure, dict, list[str]] | None:
    """The 3-D view of the ``split`` surfaces of ``run_ids`` along filter-normalized directions
    (``plotting.surface_3d``, and its interactive spec), their rise over L(θ) on ``scale``, with
    the panels' labels; None when no such surface was computed."""
    rows = rises(frame[(frame["direction"] == "filter") & (frame["split"] == split)])
    drawn = [r for r in dict.fromkeys(run_ids) if r in set(rows["run"])]
    if not drawn:
        return None
    mats = [rows[rows["run"] == r].pivot(index="alpha", columns="beta", values="rise") for r in drawn]
    labels = [str(rows[rows["run"] == r]["label"].iloc[0]) for r in drawn]
    alphas, betas = mats[0].index.to_numpy(), mats[0].columns.to_numpy()
    values = [m.to_numpy() for m in mats]
    label = "loss − L(θ) (nats)"
    return (plotting.surface_3d(alphas, betas, values, labels, scale),
            plotting.surface_3d_spec(alphas, betas, values, scale, label), labels)


def noise_words(frame: pd.DataFrame) -> str:
    """What the surfaces' contours leave out, in words: the range of the probe-set noise over the
    drawn surfaces, or that the frame does not record it."""
    if "loss_se" not in frame.columns or not frame["loss_se"].notna().any():
        return "contours at every step of the colour scale (these surfaces do not record their probe-set noise)"
    noise = [centre_noise(r) for _, r in frame.groupby(["run", "direction", "split"], sort=False)]
    noise = [n for n in noise if n is not None]
    return (f"contours only where a panel varies by more than {plotting.CONTOUR_NOISE:g}× its probe-set noise, never "
            f"closer than it (the standard error of L(θ): {stats.number_text(min(noise), 2)} to "
            f"{stats.number_text(max(noise), 2)} nats)")


def slices_section(report: ReportContext) -> None:
    """The loss along each direction kind through the trained weights."""
    frame = report.frame("slice1d", TERM)
    if frame is None:
        return
    ranges = [f"α from {stats.number_text(rows['alpha'].min())} to {stats.number_text(rows['alpha'].max())} along "
              f"the {DIRECTION_LABELS[kind]}" for kind, rows in frame.groupby("direction", sort=False)]
    report.sink.figure(slices_figure(frame, labels=report.labels), "slice1d",
                       "Loss along L(θ + α d), mean over seeds (each along its own direction) with a 95% band, on the "
                       "train (solid) and test (dashed) probe sets; " + "; ".join(ranges) + " (panel titles).")
    order = order_sentence(frame, report.labels)
    if order:
        report.sink.markdown(order)
    report.sink.record("slice1d", frame)
    pages.see_also(report.sink, report.params, "slice1d", "1D slices")


def surfaces_section(report: ReportContext) -> None:
    """The loss on a plane through each run's weights, per direction kind, and its range."""
    sink, frame = report.sink, report.frame("surface2d", SURFACE_TERM)
    if frame is None:
        return
    if "filter" in set(frame["direction"]):
        sink.term(*TERM)
    splits = " and ".join(dict.fromkeys(frame["split"]))
    scales = {kind: rise_scale(frame, kind) for kind in dict.fromkeys(frame["direction"])}
    points = frame.groupby(["run", "direction"])["alpha"].nunique().max()  # the device may have asked for more
    cost = report.results.cost.get("surface2d", estimate.Cost(0.0, 0, 0))
    sink.markdown(f"Grid: {points} × {points} points of α and β ({cost.words()}); {noise_words(frame)}.")
    for run in report.params.runs:
        run_id = tables.study_run(report.params, run.id)
        if run_id not in set(frame["run"]):
            continue
        label = frame[frame["run"] == run_id]["label"].iloc[0]
        for kind in dict.fromkeys(frame["direction"]):
            sink.figure(surfaces_of(frame, run_id, direction=kind, scale=scales[kind]),
                        f"surface-{run.id.lower()}-{kind}",
                        f"{label} (the study seed): the loss on θ + α d₁ + β d₂ (d₁ ⊥ d₂, each a "
                        f"{DIRECTION_LABELS[kind]}), {splits} probe set{'s' if ' and ' in splits else ''}, as its "
                        "rise over L(θ) on one colour scale shared by every surface of this direction kind in this "
                        f"report ({scales[kind].words('nats')}): "
                        + ("a plane that barely rises looks flat and has no contour" if scales[kind].linear_within
                           is None else "a plane that varies within its noise has no contour") + "; + marks θ.")
    view = surface_view(frame, [tables.study_run(report.params, run.id) for run in report.params.runs],
                        scales["filter"]) if "filter" in scales else None
    if view is not None:
        fig, spec, labels = view
        sink.figure(fig, "surface-3d", "The train-loss surfaces of the study seeds along filter-normalized directions "
                    f"as 3-D surfaces (Li et al.'s picture; {'left to right: ' if len(labels) > 1 else ''}"
                    f"{'; '.join(labels)}): the height is the rise over L(θ) in nats, on the shared scale above. On "
                    "the web page the view can be turned and zoomed.", interactive=spec)
    ranges, coarse = report.results.probes.loss_range, report.params.probes.loss_range
    sink.table(loss_range_table(report.params, frame, ranges), "loss-ranges",
               "Loss over the grid per configuration, split and direction kind (nats): min, max, L(θ) and "
               "max − min of the study-seed run drawn above, and max − min over the seeds probed"
               + (f" (on the same plane, a coarser {coarse.points} × {coarse.points} grid)" if ranges is not None else "")
               + (", with the study's published range beside the rows of its direction kind."
                  if report.reference("train_loss_range") or report.reference("test_loss_range") else "."))
    sink.markdown(loss_range_sentence(report.params, frame, ranges))
    sink.record("surface2d", frame)
    if ranges is not None:
        sink.record("loss_range", ranges)
    pages.see_also(sink, report.params, "surface2d", "2D surfaces")


SECTIONS = {"slice1d": slices_section, "surface2d": surfaces_section}
