"""Terms the report sections share, in plain words for a student (a measure's own term lives in
its home, ``probes.<name>.report``): each section declares the ones it uses and the rendered page
lists them under its title, linked to the section (``Report.term``)."""
from __future__ import annotations

from typing import Any

TERMS = {
    "positive": ("geometric mean [95% CI]", "λmax, traces, sharpness, ratios, gradient norms and loss spreads are "
                 "positive and vary across seeds by factors, so over seeds they are given as the geometric mean with "
                 "the 95% interval of the mean of their logarithms, mapped back: the interval never reaches below 0, "
                 "and a number is compared with another by their ratio"),
    "seeds": ("mean ± 95% CI", "each configuration is trained with several random seeds; a number with ± is the mean "
              "over seeds and the half-width of its 95% confidence interval (fewer than 3 seeds: no interval). Two "
              "intervals that overlap do not show that two configurations are equal, and two that do not overlap are "
              "not the test: a difference is decided by the interval of the difference itself, in the claims table"),
    "batchnorm": ("BatchNorm statistics", "a BatchNorm layer normalizes with the current batch's mean and variance "
                  "while training (train mode) and with running averages at test time (eval mode); every probe number "
                  "says which mode it was computed in"),
    "claims": ("verdict", "each part of a claim (a direction, a size) is a comparison decided by the 95% interval of "
               "its effect against a declared threshold: supported, contradicted, or inconclusive when the interval "
               "straddles it; undecidable with these seeds when too few seeds (or seed pairs) can decide it at all. "
               "A claim whose parts disagree is mixed; verdicts are corrected for making several decisions at once "
               "(Holm)"),
    "tau": ("Kendall τ", "a rank correlation between −1 and 1: the share of model pairs a measure orders the same way "
            "as the generalization gap minus the share it orders the other way"),
    "granulated": ("granulated τ (ψ, Ψ)", "τ computed only among models that differ in one factor (seed, BatchNorm, "
                   "skip connections or architecture family) and averaged, so a measure gets no credit for telling "
                   "datasets or studies apart (Jiang et al. 2020)"),
    "granulated_grid": ("granulated τ (ψ, Ψ)", "τ computed only among models that differ in one hyperparameter, every "
                        "other one and the seed fixed (ψ: its mean over such groups), and averaged over the "
                        "hyperparameters (Ψ), so a measure gets no credit for tracking a hyperparameter that also "
                        "changes the gap (Jiang et al. 2020)"),
    "threshold": ("stability threshold 2(1 + β)/η", "on a quadratic, gradient descent with learning rate η and "
                  "momentum β diverges once λmax exceeds it; sharpness is drawn against it along training"),
}


def explain(report: Any, *keys: str) -> None:
    """Declare the ``TERMS`` a section uses (shown in the page's "How to read this report")."""
    for key in keys:
        report.sink.term(*TERMS[key])
