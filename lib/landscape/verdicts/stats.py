"""Confidence intervals for comparing groups of training seeds (typically 2–8 values a group).

Conventions:

- Every function returns an :class:`Interval`: the estimate, a two-sided interval at ``level``
  (default :data:`LEVEL` = 0.95), the sample size(s) behind it and a short label of the method.
- ``nan`` values are dropped before anything is computed (for paired data, the pairs with a
  ``nan`` in either member); ``n`` counts what is left.
- Fewer than :data:`MIN_UNITS` (3) independent units in a group (seeds, disjoint pairs) give an
  *undefined* interval: ``low`` and ``high`` are ``nan``, :meth:`Interval.side` is 0 and
  :meth:`Interval.text` says so. With two units a t interval has one degree of freedom and is
  too wide to mean anything (its 97.5% quantile is 12.7), and it decides nothing.
- Every interval carries the test it inverts: :meth:`Interval.p_value` is the two-sided p-value
  of "the estimate equals ``null``", consistent with the interval (p < 1 − level exactly when
  the interval excludes ``null``), for the multiplicity corrections :func:`holm` and :func:`bh`.
- Positive quantities (eigenvalues, traces, sharpness, ratios, spreads) are summarised on the log
  scale: :func:`geometric_ci`, :func:`ratio`, :func:`log_sd_ci`; their intervals never reach 0.
- Data without any spread (every seed gives the same number) gives the *exact* interval
  ``low == high == estimate``: no variation was observed, so the sign of the estimate decides.
- Intervals come from scipy wherever scipy computes them: Student-t (``scipy.stats.t``), Welch
  (``scipy.stats.ttest_ind``), bootstrap (``scipy.stats.bootstrap``), Clopper–Pearson
  (``scipy.stats.binomtest``). The Welch–Satterthwaite interval of a linear contrast of several
  group means, which scipy lacks, is computed here with the t quantile from ``scipy.stats.t``.
- Bootstrap intervals are deterministic for a given ``seed``.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike

LEVEL = 0.95
MIN_UNITS = 3  # fewest independent units (seeds, pairs) in a group for an interval


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval."""

    estimate: float
    low: float  # nan when undefined (e.g. one value)
    high: float
    n: int | tuple[int, ...]  # sample size(s) behind it
    level: float
    method: str  # short human label, e.g. "t", "Welch", "bootstrap (BCa)"
    test: Callable[[float], float] | None = field(default=None, compare=False, repr=False)  # null -> p

    def p_value(self, null: float = 0.0) -> float:
        """Two-sided p-value of "the quantity equals ``null``" by the test this interval inverts;
        nan when undefined or when the method has no test."""
        if not self.defined or self.test is None:
            return math.nan
        return float(min(1.0, max(0.0, self.test(float(null)))))

    @property
    def defined(self) -> bool:
        """True when both bounds are finite."""
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def half_width(self) -> float:
        """(high − low) / 2; nan when the interval is undefined."""
        return (self.high - self.low) / 2 if self.defined else math.nan

    def side(self, threshold: float = 0.0) -> int:
        """+1 if the whole interval lies above ``threshold``, −1 if below, 0 otherwise or undefined."""
        if not self.defined:
            return 0
        if self.low > threshold:
            return 1
        if self.high < threshold:
            return -1
        return 0

    @staticmethod
    def of_row(row: Mapping) -> "Interval":
        """The interval of a table row with ``estimate``, ``low`` and ``high`` (and ``n`` if any)."""
        return Interval(float(row["estimate"]), float(row["low"]), float(row["high"]), row.get("n", 0), LEVEL, "")

    def exp(self) -> "Interval":
        """The interval mapped through exp: from one on logs, a geometric mean (or a ratio of
        them) with its interval, positive by construction."""
        inner = self.test
        test = None if inner is None else (lambda null: inner(math.log(null)) if null > 0 else 0.0)
        return Interval(math.exp(self.estimate), math.exp(self.low), math.exp(self.high), self.n, self.level,
                        f"{self.method} on logs", test)

    def text(self, digits: int = 3) -> str:
        """``"0.123 [0.100, 0.146]"``, or ``"0.123 [n = 1: no interval]"`` when undefined."""
        if not self.defined:
            n = ", ".join(map(str, self.n)) if isinstance(self.n, tuple) else str(self.n)
            return f"{number_text(self.estimate, digits)} [n = {n}: no interval]"
        # thousands grouped by a thin space: "[0.08, 41 407]", never "[0.08, 41,407]"
        low, high = (number_text(x, digits).replace(",", "\u2009") for x in (self.low, self.high))
        return f"{number_text(self.estimate, digits).replace(',', chr(0x2009))} [{low}, {high}]"


SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def listed(items) -> str:
    """Words joined as prose: "a", "a and b", "a, b and c"; "" for none."""
    items = list(items)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def number_text(x: float, digits: int = 4, signed: bool = False) -> str:
    """``x`` to ``digits`` significant digits in plain notation (as m×10ⁿ below 1e-3 and from
    1e6 on), trailing zeros dropped (13.0 → "13", 0.0500 → "0.05"), thousands separated from
    10,000 on, never "−0"; "—" for nan. ``signed``: a "+" on positive values (differences)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    x = float(x)
    if math.isinf(x):
        return ("+" if signed and x > 0 else "") + ("∞" if x > 0 else "−∞")
    magnitude = abs(x)
    if magnitude != 0 and not 1e-3 <= magnitude < 1e6:
        text = f"{x:.{digits - 1}e}"
        mantissa, exponent = text.split("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        text = f"{mantissa}×10{str(int(exponent)).translate(SUPERSCRIPTS)}"  # never broken across lines
    else:
        decimals = max(0, digits - 1 - math.floor(math.log10(magnitude))) if magnitude else 0
        text = f"{x:,.{decimals}f}" if magnitude >= 1e4 else f"{x:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    if text.lstrip("-").strip("0.,") == "":  # rounded to zero
        text = "0"
    return ("+" + text) if signed and not text.startswith("-") and text != "0" else text


def estimate_text(estimate: float, half_width: float) -> str:
    """"estimate ± half-width" with the half-width to 2 significant digits and the estimate to
    the same decimal place (125.63 ± 12.4 → "126 ± 12", 0.04227 ± 0.00123 → "0.0423 ± 0.0012");
    below 1e-3 the half-width is written m×10ⁿ beside the estimate's 4 significant digits
    (-6e-15 ± 7.1e-14 → "-6×10⁻¹⁵ ± 7.1×10⁻¹⁴", not fifteen decimals); without a finite
    half-width, the estimate to 4 significant digits."""
    if not math.isfinite(half_width):
        return number_text(estimate)
    if half_width == 0:
        return f"{number_text(estimate)} ± 0"
    if half_width < 1e-3:
        return f"{number_text(estimate)} ± {number_text(half_width, 2)}"
    decimals = max(0, 1 - math.floor(math.log10(abs(half_width))))
    rounded = f"{estimate:.{decimals}f}"
    if rounded.lstrip("-").strip("0.") == "":
        rounded = rounded.lstrip("-")
    return f"{rounded} ± {half_width:.{decimals}f}"


def _clean(values: ArrayLike) -> np.ndarray:
    """The values as a flat float array without nans."""
    x = np.asarray(values, dtype=float).ravel()
    return x[~np.isnan(x)]


def _constant(x: np.ndarray) -> bool:
    """True when every value is the same (x non-empty)."""
    return bool(np.all(x == x[0]))


def _exact_test(estimate: float) -> Callable[[float], float]:
    """The test of an exact interval (no variation observed): only ``estimate`` itself is kept."""
    return lambda null: 1.0 if null == estimate else 0.0


def _t_test(estimate: float, se: float, df: float) -> Callable[[float], float]:
    """Two-sided Student-t test of "the quantity equals null" for an estimate with standard error
    ``se`` on ``df`` degrees of freedom."""
    return lambda null: float(2 * scipy.stats.t.sf(abs(estimate - null) / se, df))


def mean_ci(values: ArrayLike, level: float = LEVEL) -> Interval:
    """The mean with its Student-t interval (n − 1 degrees of freedom); n = number of values."""
    x = _clean(values)
    n = len(x)
    mean = float(np.mean(x)) if n else math.nan
    if n < MIN_UNITS:
        return Interval(mean, math.nan, math.nan, n, level, "t")
    if _constant(x):
        return Interval(mean, mean, mean, n, level, "t", _exact_test(mean))
    se = float(scipy.stats.sem(x))
    low, high = scipy.stats.t.interval(level, df=n - 1, loc=mean, scale=se)
    return Interval(mean, float(low), float(high), n, level, "t", _t_test(mean, se, n - 1))


def _positive(x: np.ndarray, name: str) -> np.ndarray:
    if (x <= 0).any():
        raise ValueError(f"{name}: the values must be positive, got {float(x.min()):g}")
    return x


def geometric_ci(values: ArrayLike, level: float = LEVEL) -> Interval:
    """The geometric mean of positive ``values`` with the Student-t interval of the mean of their
    logs, mapped back through exp (:meth:`Interval.exp`): positive by construction and, for
    log-normal values, an exact interval for their median. For a positive quantity that spreads
    over seeds by factors (λ, traces, sharpness, ratios, barriers). A value ≤ 0 is a ValueError:
    such data is not of a positive quantity."""
    return mean_ci(np.log(_positive(_clean(values), "geometric_ci")), level).exp()


def ratio(a: ArrayLike, b: ArrayLike, level: float = LEVEL) -> Interval:
    """geomean(a) / geomean(b) of positive values with the Welch interval of the difference of
    mean logs mapped back through exp; n = (len(a), len(b)). A value ≤ 0 is a ValueError."""
    return difference(np.log(_positive(_clean(a), "ratio")), np.log(_positive(_clean(b), "ratio")), level).exp()


def log_sd_ci(values: ArrayLike, level: float = LEVEL) -> Interval:
    """The standard deviation of log(values) over positive ``values`` (about the relative spread,
    the coefficient of variation, when it is small) with the exact chi-square interval of a normal
    standard deviation: (n − 1) s² / σ² ~ χ²(n − 1), equal tails. Exact for log-normal values;
    positive by construction. A value ≤ 0 is a ValueError."""
    logs = np.log(_positive(_clean(values), "log_sd_ci"))
    n = len(logs)
    sd = float(np.std(logs, ddof=1)) if n > 1 else math.nan
    if n < MIN_UNITS:
        return Interval(sd, math.nan, math.nan, n, level, "chi-square")
    if sd == 0:
        return Interval(0.0, 0.0, 0.0, n, level, "chi-square", _exact_test(0.0))
    df, alpha = n - 1, 1 - level
    low = sd * math.sqrt(df / scipy.stats.chi2.ppf(1 - alpha / 2, df))
    high = sd * math.sqrt(df / scipy.stats.chi2.ppf(alpha / 2, df))

    def test(null: float) -> float:
        if null <= 0:
            return 0.0
        statistic = df * sd**2 / null**2
        return 2 * min(scipy.stats.chi2.cdf(statistic, df), scipy.stats.chi2.sf(statistic, df))

    return Interval(sd, low, high, n, level, "chi-square", test)


def difference(a: ArrayLike, b: ArrayLike, level: float = LEVEL) -> Interval:
    """mean(a) − mean(b) with the Welch (unequal variances) interval; n = (len(a), len(b))."""
    x, y = _clean(a), _clean(b)
    n = (len(x), len(y))
    estimate = float(np.mean(x) - np.mean(y)) if min(n) else math.nan
    if min(n) < MIN_UNITS:
        return Interval(estimate, math.nan, math.nan, n, level, "Welch")
    if _constant(x) and _constant(y):
        return Interval(estimate, estimate, estimate, n, level, "Welch", _exact_test(estimate))
    with warnings.catch_warnings():
        if _constant(x) or _constant(y):
            # scipy warns of precision loss for exactly constant data, whose variance is exactly 0.
            warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        result = scipy.stats.ttest_ind(x, y, equal_var=False)
        ci = result.confidence_interval(level)
    se = float((estimate - ci.low) / scipy.stats.t.ppf((1 + level) / 2, result.df))
    return Interval(estimate, float(ci.low), float(ci.high), n, level, "Welch", _t_test(estimate, se, float(result.df)))


def contrast(groups: Sequence[ArrayLike], weights: Sequence[float], level: float = LEVEL) -> Interval:
    """Σ w_i · mean(group_i) with the Welch–Satterthwaite t interval; n = the group sizes.

    var = Σ w_i² s_i² / n_i and df = var² / Σ (w_i² s_i² / n_i)² / (n_i − 1). With weights
    (1, −1) this is :func:`difference`.
    """
    if len(groups) != len(weights):
        raise ValueError(f"{len(groups)} groups but {len(weights)} weights")
    xs = [_clean(g) for g in groups]
    n = tuple(len(x) for x in xs)
    w = np.asarray(weights, dtype=float)
    estimate = float(sum(wi * np.mean(x) for wi, x in zip(w, xs))) if min(n, default=0) else math.nan
    if min(n, default=0) < MIN_UNITS:
        return Interval(estimate, math.nan, math.nan, n, level, "Welch")
    terms = np.array([wi**2 * np.var(x, ddof=1) / len(x) for wi, x in zip(w, xs)])
    var = float(terms.sum())
    if var == 0:
        return Interval(estimate, estimate, estimate, n, level, "Welch", _exact_test(estimate))
    df = var**2 / float(np.sum(terms**2 / (np.array(n) - 1)))
    half = float(scipy.stats.t.ppf((1 + level) / 2, df)) * math.sqrt(var)
    return Interval(estimate, estimate - half, estimate + half, n, level, "Welch",
                    _t_test(estimate, math.sqrt(var), df))


def bootstrap_ci(values: ArrayLike, statistic: Callable[..., float] = np.median, level: float = LEVEL,
                 resamples: int = 9999, seed: int = 0) -> Interval:
    """``statistic(values)`` with a BCa bootstrap interval (``scipy.stats.bootstrap``).

    Falls back to the percentile interval of the same resamples when BCa is degenerate (nan).
    ``statistic`` is called as scipy calls it (with ``axis=-1`` if it accepts ``axis``).
    Fewer than 2 values: undefined; all values equal: exact.
    """
    x = _clean(values)
    n = len(x)
    estimate = float(statistic(x)) if n else math.nan
    if n < 2:
        return Interval(estimate, math.nan, math.nan, n, level, "bootstrap")
    if _constant(x):
        return Interval(estimate, estimate, estimate, n, level, "bootstrap")
    with warnings.catch_warnings():
        # A degenerate BCa interval comes back nan (with these warnings): then the fallback.
        warnings.filterwarnings("ignore", category=scipy.stats.DegenerateDataWarning)
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="scipy.stats._resampling")
        result = scipy.stats.bootstrap((x,), statistic, n_resamples=resamples, confidence_level=level,
                                       method="BCa", rng=np.random.default_rng(seed))
    method = "bootstrap (BCa)"
    ci = result.confidence_interval
    if not (np.isfinite(ci.low) and np.isfinite(ci.high)):
        result = scipy.stats.bootstrap((x,), statistic, n_resamples=0, confidence_level=level,
                                       method="percentile", bootstrap_result=result)
        method, ci = "bootstrap (percentile)", result.confidence_interval
    return Interval(estimate, float(ci.low), float(ci.high), n, level, method)


def mean_of_means_ci(samples: Sequence[ArrayLike], level: float = LEVEL, resamples: int = 9999, seed: int = 0
                     ) -> Interval:
    """The mean over ``samples`` of each sample's mean (e.g. Ψ, the mean over factors of the mean
    τ over each factor's groups), with a stratified percentile bootstrap interval: each sample is
    resampled on its own (``scipy.stats.bootstrap`` with several samples), so every resample keeps
    each sample's size. n = the samples' sizes. A sample with fewer than 2 values: undefined."""
    xs = [_clean(x) for x in samples]
    sizes = tuple(len(x) for x in xs)
    estimate = float(np.mean([x.mean() for x in xs])) if xs and min(sizes) else math.nan
    if not xs or min(sizes) < 2:
        return Interval(estimate, math.nan, math.nan, sizes, level, "stratified bootstrap")
    if all(_constant(x) for x in xs):
        return Interval(estimate, estimate, estimate, sizes, level, "stratified bootstrap")

    def statistic(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean([r.mean(axis=axis) for r in resampled], axis=0)

    result = scipy.stats.bootstrap(tuple(xs), statistic, n_resamples=resamples, confidence_level=level,
                                   method="percentile", rng=np.random.default_rng(seed))
    ci = result.confidence_interval
    return Interval(estimate, float(ci.low), float(ci.high), sizes, level, "stratified bootstrap (percentile)")


def _tau_b_of_resamples(x: np.ndarray, y: np.ndarray) -> Callable[..., np.ndarray]:
    """A vectorized statistic: Kendall's τ-b of (x, y) resampled at the given pair indices.

    τ-b = Σ sign(Δx)·sign(Δy) / sqrt(Σ sign(Δx)² · Σ sign(Δy)²) over all pairs of the resample,
    as in ``scipy.stats.kendalltau``. A resample is a multiset of the original pairs, so with c
    the counts of each original pair every sum is c·S·c for an n × n matrix S of the original
    data: O(n²) memory, for tens to hundreds of pairs. τ-b is undefined (0 / 0) when x or y is
    constant in the resample; then no pair is concordant or discordant, and τ-b is taken as 0.0.
    """
    n = len(x)
    sx, sy = np.sign(x[:, None] - x[None, :]), np.sign(y[:, None] - y[None, :])
    matrices = np.stack([sx * sy, sx * sx, sy * sy])  # concordance; pairs untied in x; in y

    def tau_b(index: np.ndarray, axis: int = -1) -> np.ndarray:
        index = np.moveaxis(index, axis, -1)
        rows = index.reshape(-1, n)
        flat = rows + n * np.arange(len(rows))[:, None]
        counts = np.bincount(flat.ravel(), minlength=rows.size).reshape(rows.shape).astype(float)
        numerator, untied_x, untied_y = np.sum((counts @ matrices) * counts, axis=-1)
        denominator = np.sqrt(untied_x * untied_y)
        tau = np.divide(numerator, denominator, out=np.zeros(len(rows)), where=denominator > 0)
        return tau.reshape(index.shape[:-1])

    return tau_b


def kendall_tau(x: ArrayLike, y: ArrayLike, level: float = LEVEL, resamples: int = 9999,
                seed: int = 0) -> Interval:
    """Kendall's τ-b (``scipy.stats.kendalltau``) with a paired percentile bootstrap interval.

    Pairs with a nan are dropped; n = the number of pairs. Fewer than 3 pairs, or a constant x or
    y (τ undefined, estimate nan): undefined. The bootstrap resamples pairs (as
    ``scipy.stats.bootstrap(..., paired=True)`` does). A resample in which x or y is constant
    has no concordant or discordant pair and counts as τ = 0.0, so such resamples (likely only
    for very few pairs) pull the interval toward no association rather than making it nan.
    """
    xa, ya = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if xa.shape != ya.shape:
        raise ValueError(f"x and y differ in length: {len(xa)} and {len(ya)}")
    keep = ~(np.isnan(xa) | np.isnan(ya))
    xa, ya = xa[keep], ya[keep]
    n = len(xa)
    method = "Kendall τ, paired bootstrap"
    estimate = float(scipy.stats.kendalltau(xa, ya).statistic) if n >= 2 else math.nan
    if n < 3 or not math.isfinite(estimate):
        return Interval(estimate, math.nan, math.nan, n, level, method)
    result = scipy.stats.bootstrap((np.arange(n),), _tau_b_of_resamples(xa, ya), vectorized=True,
                                   n_resamples=resamples, batch=max(1, 10**6 // n), confidence_level=level,
                                   method="percentile", rng=np.random.default_rng(seed))
    ci = result.confidence_interval
    return Interval(estimate, float(ci.low), float(ci.high), n, level, method,
                    _percentile_test(result.bootstrap_distribution))


def _percentile_test(distribution: np.ndarray) -> Callable[[float], float]:
    """The test a percentile bootstrap interval inverts: twice the smaller share of resamples on
    either side of the null value."""
    resampled = np.sort(np.asarray(distribution, float))
    return lambda null: 2 * min(np.searchsorted(resampled, null, "right"),
                                len(resampled) - np.searchsorted(resampled, null, "left")) / len(resampled)


def proportion_ci(successes: int, n: int, level: float = LEVEL) -> Interval:
    """successes / n with the exact Clopper–Pearson interval; n == 0: estimate nan, undefined."""
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level, "Clopper-Pearson")
    ci = scipy.stats.binomtest(successes, n).proportion_ci(confidence_level=level, method="exact")

    def test(null: float) -> float:  # the two one-sided exact tests that Clopper–Pearson inverts
        return 2 * min(scipy.stats.binom.cdf(successes, n, null), scipy.stats.binom.sf(successes - 1, n, null))

    return Interval(successes / n, float(ci.low), float(ci.high), n, level, "Clopper-Pearson", test)


def best_share_interval(n: int, level: float = LEVEL) -> Interval:
    """The Clopper–Pearson interval of the most extreme outcome, n of n: the highest lower bound
    any result of ``n`` units can reach, so a share claimed above a threshold at or over its low
    end can never be decided with ``n`` units (checked before training)."""
    return proportion_ci(n, n, level)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control under any dependence);
    nan entries are not part of the family and stay nan."""
    p = np.asarray(p_values, float)
    out = np.full(p.shape, np.nan)
    keep = np.flatnonzero(~np.isnan(p))
    m = len(keep)
    order = keep[np.argsort(p[keep], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        out[index] = running
    return out


def significant(p_values: Sequence[float], level: float = LEVEL) -> np.ndarray:
    """Which p-values (raw, or adjusted by :func:`holm` / :func:`bh`) lie below 1 − ``level``; a
    nan (no test) never does."""
    return np.nan_to_num(np.asarray(p_values, float), nan=1.0) < 1 - level


def bh(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (false discovery rate under independence or positive
    dependence); nan entries are not part of the family and stay nan."""
    p = np.asarray(p_values, float)
    out = np.full(p.shape, np.nan)
    keep = np.flatnonzero(~np.isnan(p))
    m = len(keep)
    order = keep[np.argsort(p[keep], kind="stable")[::-1]]
    running = 1.0
    for position, index in enumerate(order):
        rank = m - position
        running = min(running, p[index] * m / rank)
        out[index] = running
    return out
