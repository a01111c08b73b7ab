"""How the density probe reports (its reporting half; see the package docstring): its term, its
figure, table and sentence, and its section, which a notebook names as
``sections.measure(report, "density")``."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.figure import Figure

from ...reporting import plotting
from ...verdicts import stats

if TYPE_CHECKING:
    from ...reporting.sections import ReportContext

KEY = "density"
TERM = ("Hessian spectrum", "the distribution of all Hessian eigenvalues, estimated by stochastic Lanczos quadrature; "
        "eigenvalues below zero mean the trained point curves down in some directions")


def figure(density: pd.DataFrame) -> Figure:
    """The Hessian's eigenvalue density per run (``probes.density`` frame), a colour per run, on a
    log density axis (the bulk near 0 is orders of magnitude above the outliers), with λ = 0
    marked."""
    plotting.apply_style()
    fig, ax = plotting.plt.subplots(figsize=(plotting.PANEL_WIDTH * 1.4, plotting.PANEL_HEIGHT))
    runs = plotting.runs_in(density)
    colors, labels = plotting.run_colors(runs), plotting.run_labels(density)
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


def table(density: pd.DataFrame) -> pd.DataFrame:
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


def sentence(density: pd.DataFrame) -> str:
    """The estimated share of negative eigenvalues per run, and the run whose spectrum reaches
    furthest."""
    shown = table(density)
    parts = [f"{r['model']} {r['fraction < −1% |λ|max']:.3f}" for _, r in shown.iterrows()]
    widest = shown.loc[shown["λ to"].idxmax()]
    return ("Estimated fraction of Hessian eigenvalues clearly below zero (below −1% of the largest |λ|; stochastic "
            "Lanczos quadrature, no broadening): "
            + "; ".join(parts) + f". The spectrum reaches furthest for {widest['model']} (up to about "
            f"{stats.number_text(widest['λ to'], 4)}, the largest quadrature node plus 5σ). A few Lanczos runs resolve the outliers and "
            "the overall shape, not individual eigenvalues in the bulk.")


def section(report: ReportContext) -> None:
    """The Hessian's eigenvalue density (stochastic Lanczos quadrature) per run: figure, table,
    sentence and numbers, or why there are none."""
    sink, frame = report.sink, report.frame(KEY, TERM, "lanczos")
    if frame is None:
        return
    first = frame.iloc[0]
    sink.figure(figure(frame), KEY,
                f"Eigenvalue density of the Hessian on the train probe set by stochastic Lanczos quadrature "
                f"({int(first['runs'])} run{'s' if first['runs'] > 1 else ''} of {int(first['steps'])} Lanczos steps, "
                "Gaussian broadening σ given in the table), log scale; the dotted line is λ = 0.")
    sink.table(table(frame), KEY,
               "Spectral density per run: the range of its support, the estimated fraction of eigenvalues below −1% of "
               "the largest |λ|, the broadening and the Hessian-vector products it took.")
    sink.markdown(sentence(frame))
    sink.record(KEY, table(frame))


SECTIONS = {KEY: section}
