"""Terms the report sections share, in plain words for a student (a measure's own term lives in
its home, ``probes.<name>.report``): each section declares the ones it uses and the rendered page
lists them under its title, linked to the section (``Report.term``).

:func:`catalogue` is every term a page can declare, each with the words that show it is used
(``TRIGGERS``; by default the term's own name): a page whose text uses one of those words must
list the term in its guide (``layout.unexplained``, checked on every render)."""
from __future__ import annotations

import importlib
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
    "modes": ("evaluation mode", "the network as it is used at test time (eval mode: no dropout, BatchNorm with its "
              "running averages), as opposed to train mode, the network as the optimizer sees it; every number says "
              "which it was measured in"),
    "probe_set": ("probe set", "the fixed sample of training (and test) images, drawn class by class with a fixed "
                  "seed, on which a probe measures a trained network: every run of a report is measured on the same "
                  "images"),
    "claims": ("verdict", "each part of a claim (a direction, a size) is a comparison decided by the 95% interval of "
               "its effect against a declared threshold: supported, contradicted, or inconclusive when the interval "
               "straddles it; undecidable with these seeds when too few seeds (or seed pairs) can decide it at all. "
               "A claim whose parts disagree is mixed; verdicts are corrected for making several decisions at once "
               "(Holm)"),
    "welch": ("Welch interval", "the 95% interval of the difference of two groups' means (or of their logarithms) "
              "that does not assume the two groups vary equally"),
    "tau": ("Kendall τ", "a rank correlation between −1 and 1: the share of model pairs a measure orders the same way "
            "as the generalization gap minus the share it orders the other way"),
    "granulated": ("granulated τ (ψ, Ψ)", "τ computed only among models that differ in one factor (seed, BatchNorm, "
                   "skip connections or architecture family) and averaged, so a measure gets no credit for telling "
                   "datasets or studies apart (Jiang et al. 2020)"),
    "granulated_grid": ("granulated τ (ψ, Ψ)", "τ computed only among models that differ in one hyperparameter, every "
                        "other one and the seed fixed (ψ: its mean over such groups), and averaged over the "
                        "hyperparameters (Ψ), so a measure gets no credit for tracking a hyperparameter that also "
                        "changes the gap (Jiang et al. 2020)"),
    "bootstrap": ("bootstrap interval", "the statistic recomputed on many resamples of its units (models, groups or "
                  "configurations), drawn with replacement; the middle 95% of those values is its 95% interval"),
    "bh": ("Benjamini–Hochberg", "a correction for deciding many correlations at once: it keeps the expected share "
           "of false findings among those declared at 5%"),
    "cmi": ("conditional mutual information (CMI)", "for every pair of models, does the measure order them as the gap "
            "does, once the hyperparameters in a conditioning set are known? 1: it always does; 0: it tells nothing "
            "beyond those hyperparameters. A measure's score is its worst over the conditioning sets of up to two "
            "hyperparameters (Jiang et al. 2020)"),
    "agreement": ("sign agreement", "for two settings that differ in one hyperparameter, how often the measure and "
                  "the gap move the same way over the pairs of their seeds, from −1 (always opposite) to 1 (always "
                  "together); its distribution and worst case over such settings is Dziugaite et al.'s (2020) robust "
                  "view"),
    "stopping": ("common stopping point", "every model is trained until its cross-entropy over the whole training set "
                 "falls to the same value, so that no measure can rank models by how far their training went (Jiang "
                 "et al. 2020 stop at 0.01)"),
    "threshold": ("stability threshold 2(1 + β)/η", "the largest curvature for which a gradient step of size η (with "
                  "heavy-ball momentum β: 2(1+β)/η, else 2/η) does not grow along that direction on a quadratic; "
                  "gradient descent on a network whose λmax exceeds it oscillates or leaves its basin along the top "
                  "eigenvector"),
    "edge": ("edge of stability", "Cohen et al. (2021): under full-batch gradient descent λmax rises during training "
             "(progressive sharpening) until it reaches the stability threshold, then hovers at or just above it while "
             "the loss keeps falling, non-monotonically"),
    "lanczos": ("Lanczos", "an iterative method that finds the largest (or smallest) eigenvalues of the Hessian from "
                "Hessian-vector products alone, without ever forming the matrix; it stops when its residual is small"),
    "ritz": ("Ritz value (λ̃min)", "an eigenvalue estimate after a few Lanczos steps; the smallest one, λ̃min, is never "
             "below the Hessian's true smallest eigenvalue, so a negative λ̃min proves negative curvature"),
    "hutchinson": ("Hutchinson trace", "tr(H), the sum of the Hessian's eigenvalues, estimated as the mean of vᵀHv "
                   "over random vectors v of ±1 entries"),
    "prediction": ("leave-one-configuration-out", "each configuration's runs are predicted by a model fitted on the "
                   "other configurations only, so a prediction never sees its own configuration"),
    "auc": ("AUC", "the chance that a run that failed gets a higher predicted risk than one that did not (0.5: no "
            "better than chance, 1: every failure ranked first)"),
}

# The words that show a term is used, where they are not the term's name (module docstring).
TRIGGERS = {
    "geometric mean [95% CI]": ("geometric mean",),
    "mean ± 95% CI": ("± ",),
    "BatchNorm statistics": ("running statistics", "running averages"),
    "evaluation mode": ("eval mode", "evaluation mode", "train mode"),
    "verdict": ("verdict", "Holm"),
    "Welch interval": ("Welch",),
    "Kendall τ": ("Kendall",),
    "granulated τ (ψ, Ψ)": ("granulated", "Ψ"),
    "bootstrap interval": ("bootstrap",),
    "Benjamini–Hochberg": ("Benjamini",),
    "conditional mutual information (CMI)": ("CMI",),
    "stability threshold 2(1 + β)/η": ("stability threshold",),
    "Lanczos": ("Lanczos",),
    "Ritz value (λ̃min)": ("Ritz", "λ̃min"),
    "Hutchinson trace": ("Hutchinson",),
    "leave-one-configuration-out": ("leave-one-configuration-out", "leave one configuration out"),
    "ε-sharpness": ("SAM",),
    "norm and margin measures": ("spectral norm", "path norm", "Frobenius", "output margin", "PAC-Bayes"),
    "Gauss-Newton curvature G": ("Gauss-Newton",),
    "filter normalization": ("filter-normalized", "filter normalization"),
    "Hessian spectrum": ("spectral density",),
    "weight noise σ": ("relative σ", "absolute σ", "relative noise", "absolute noise", "relative weight noise"),
}


def used_in(*texts: str) -> list[str]:
    """The ``TERMS`` keys whose words (``TRIGGERS``) appear in ``texts``: what a generated text
    needs explained, such as the Answer's sentences, which quote their comparisons' effects and
    interval methods ("Kendall τ", "paired bootstrap")."""
    return [key for key, (name, _) in TERMS.items()
            if any(word in text for text in texts for word in TRIGGERS.get(name, (name,)))]


def explain(report: Any, *keys: str) -> None:
    """Declare the ``TERMS`` a section uses (shown in the page's "How to read this report")."""
    for key in keys:
        report.sink.term(*TERMS[key])


def catalogue() -> list[tuple[str, str, tuple[str, ...]]]:
    """Every term a page can declare, once: (name, meaning, the words that show it is used): the
    shared ``TERMS`` and every measure home's (``TERM``, ``SURFACE_TERM``)."""
    from ..probes import REGISTRY

    found = {name: meaning for name, meaning in TERMS.values()}
    for probe in REGISTRY.values():
        if probe.report:
            home = importlib.import_module(probe.report)
            for attr in ("TERM", "SURFACE_TERM"):
                if hasattr(home, attr):
                    name, meaning = getattr(home, attr)
                    found.setdefault(name, meaning)
    return [(name, meaning, TRIGGERS.get(name, (name,))) for name, meaning in found.items()]
