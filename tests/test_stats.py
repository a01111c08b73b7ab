"""landscape.verdicts.stats against scipy, on edge cases, and by simulation with known answers (coverage).

Every random draw comes from a seeded generator, so each test is deterministic. The coverage
bounds leave about 3 standard errors of Monte Carlo noise on each side of the true coverage of
the right method, and exclude the coverage of a plausible wrong one (noted at each test).
"""
import math
import gc
import warnings

import numpy as np
import pytest
import scipy.stats

from landscape.verdicts import stats
from landscape.verdicts.stats import Interval


def covers(interval: Interval, truth: float) -> bool:
    return interval.low < truth < interval.high


def tau_or_zero(x, y):
    """scipy's τ-b with kendall_tau's convention for a constant resample (0.0)."""
    tau = scipy.stats.kendalltau(x, y).statistic
    return 0.0 if math.isnan(tau) else tau


@pytest.fixture(autouse=True)
def warnings_are_errors():
    """The functions must not warn on the inputs tested here (e.g. constant groups). Objects that
    earlier tests left to the garbage collector (the ZeroMQ sockets of in-process notebook
    kernels) are collected first, and a ResourceWarning stays a warning: the collector may close
    one during a test here, which says nothing about these functions."""
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("default", ResourceWarning)
        yield


# --- Interval ---------------------------------------------------------------------------------

def test_interval_side_with_threshold():
    i = Interval(0.5, 0.2, 0.8, 5, 0.95, "t")
    assert (i.side(), i.side(0.1), i.side(0.2), i.side(0.5), i.side(0.8), i.side(0.9)) == (1, 1, 0, 0, 0, -1)
    assert i.defined and i.half_width == pytest.approx(0.3)


def test_interval_text():
    assert Interval(0.12345, 0.1, 0.14567, 5, 0.95, "t").text() == "0.123 [0.1, 0.146]"
    assert Interval(0.12345, 0.1, 0.14567, 5, 0.95, "t").text(2) == "0.12 [0.1, 0.15]"
    undefined = Interval(0.12345, math.nan, math.nan, 1, 0.95, "t")
    assert undefined.text() == "0.123 [n = 1: no interval]"
    assert not undefined.defined and math.isnan(undefined.half_width) and undefined.side(-10) == 0
    assert Interval(1.0, math.nan, math.nan, (1, 4), 0.95, "Welch").text() == "1 [n = 1, 4: no interval]"


# --- mean_ci, sampling_error ------------------------------------------------------------------

def test_mean_ci_matches_scipy_t_interval():
    rng = np.random.default_rng(0)
    for n, level in [(3, 0.95), (5, 0.95), (8, 0.9), (30, 0.99)]:
        x = rng.normal(3.0, 2.0, n)
        ci = stats.mean_ci(x, level)
        low, high = scipy.stats.t.interval(level, n - 1, loc=x.mean(), scale=scipy.stats.sem(x))
        assert (ci.estimate, ci.low, ci.high) == pytest.approx((x.mean(), low, high), rel=1e-12)
        assert (ci.n, ci.level, ci.method) == (n, level, "t")


def test_mean_ci_edge_cases():
    one = stats.mean_ci([2.5])
    assert one.estimate == 2.5 and not one.defined and one.side() == 0
    assert "no interval" in one.text() and one.n == 1
    empty = stats.mean_ci([])
    assert math.isnan(empty.estimate) and not empty.defined and empty.n == 0
    assert math.isnan(stats.mean_ci([math.nan]).estimate)
    flat = stats.mean_ci([0.3, 0.3, 0.3])  # no variation observed: exact
    assert (flat.low, flat.estimate, flat.high) == (0.3, 0.3, 0.3) and flat.side() == 1 and flat.side(0.3) == 0
    assert stats.mean_ci([1.0, math.nan, 3.0]) == stats.mean_ci([1.0, 3.0])
    assert stats.mean_ci([1.0, math.nan, 3.0]).n == 2


def test_mean_ci_coverage_is_nominal():
    """Normal n = 5: the t interval covers 95%; a z interval (1.96 · s/√n) would cover ~0.88."""
    rng = np.random.default_rng(2)
    draws = rng.normal(1.0, 2.0, (4000, 5))
    coverage = np.mean([covers(stats.mean_ci(d), 1.0) for d in draws])
    assert 0.935 <= coverage <= 0.965


# --- difference -------------------------------------------------------------------------------

def welch_by_hand(a, b, level=0.95):
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = scipy.stats.t.ppf((1 + level) / 2, df) * math.sqrt(va + vb)
    d = a.mean() - b.mean()
    return d - half, d + half


def test_difference_matches_scipy_and_hand_welch():
    rng = np.random.default_rng(3)
    for na, nb, level in [(3, 3, 0.95), (5, 8, 0.95), (3, 7, 0.9)]:
        a, b = rng.normal(1.0, 3.0, na), rng.normal(0.0, 0.5, nb)
        d = stats.difference(a, b, level)
        ref = scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(level)
        assert (d.low, d.high) == pytest.approx((ref.low, ref.high), rel=1e-12)
        assert (d.low, d.high) == pytest.approx(welch_by_hand(a, b, level), rel=1e-10)
        assert d.estimate == pytest.approx(a.mean() - b.mean()) and d.n == (na, nb) and d.method == "Welch"


def test_difference_edge_cases():
    assert not stats.difference([1.0], [2.0, 3.0]).defined
    assert stats.difference([1.0], [2.0, 3.0]).n == (1, 2)
    assert stats.difference([1.0, math.nan], [2.0, 3.0]).text() == "-1.5 [n = 1, 2: no interval]"
    assert not stats.difference([1.0, 2.0], [5.0, 6.0, 7.0]).defined  # two seeds decide nothing
    exact = stats.difference([2.0, 2.0, 2.0], [1.5, 1.5, 1.5])
    assert (exact.low, exact.estimate, exact.high) == (0.5, 0.5, 0.5) and exact.side() == 1
    assert exact.p_value(0.5) == 1.0 and exact.p_value(0.0) == 0.0
    assert stats.difference([1.0, 1.0, 1.0], [1.0, 1.0, 1.0]).side() == 0
    # One constant group: still Welch (df = n − 1 of the other group), finite and without a warning.
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0]
    one_flat = stats.difference(a, b)
    assert (one_flat.low, one_flat.high) == pytest.approx(welch_by_hand(a, b))
    half = scipy.stats.t.ppf(0.975, 3) * np.std(a, ddof=1) / 2
    assert (one_flat.low, one_flat.high) == pytest.approx((0.5 - half, 0.5 + half))


def test_difference_coverage_with_unequal_variances_and_sizes():
    """n = 5 (σ = 3) vs n = 8 (σ = 1): Welch covers ~0.945; the pooled-variance t ~0.88."""
    rng = np.random.default_rng(4)
    a, b = rng.normal(0.0, 3.0, (2000, 5)), rng.normal(0.0, 1.0, (2000, 8))
    coverage = np.mean([covers(stats.difference(x, y), 0.0) for x, y in zip(a, b)])
    assert 0.93 <= coverage <= 0.97


def test_difference_is_a_decision():
    rng = np.random.default_rng(5)
    better, worse = rng.normal(0.90, 0.01, 5), rng.normal(0.80, 0.01, 5)
    assert stats.difference(better, worse).side() == 1
    assert stats.difference(worse, better).side() == -1
    noisy = stats.difference(rng.normal(0.81, 0.05, 4), rng.normal(0.80, 0.05, 4))
    assert noisy.defined and noisy.side() == 0


# --- contrast ---------------------------------------------------------------------------------

def test_contrast_with_two_groups_is_the_difference():
    rng = np.random.default_rng(6)
    a, b = rng.normal(0.0, 2.0, 4), rng.normal(1.0, 0.3, 7)
    c, d = stats.contrast([a, b], [1, -1], 0.9), stats.difference(a, b, 0.9)
    assert (c.estimate, c.low, c.high) == pytest.approx((d.estimate, d.low, d.high), rel=1e-10)
    assert c.n == d.n == (4, 7)


def test_contrast_of_four_groups_matches_an_independent_computation():
    """The interaction-style contrast (A + B)/2 − (C + D)/2, via the variance of the estimator."""
    rng = np.random.default_rng(7)
    groups = [rng.normal(m, s, n) for m, s, n in [(1, 1, 3), (2, 0.5, 5), (0, 2, 4), (1, 0.1, 8)]]
    w = [0.5, 0.5, -0.5, -0.5]
    c = stats.contrast(groups, w)
    estimate = (groups[0].mean() + groups[1].mean() - groups[2].mean() - groups[3].mean()) / 2
    se2 = [np.var(g, ddof=1) / len(g) / 4 for g in groups]  # var(w_i · mean_i), w_i² = 1/4
    df = sum(se2) ** 2 / sum(v**2 / (len(g) - 1) for v, g in zip(se2, groups))
    low, high = scipy.stats.t.interval(0.95, df, loc=estimate, scale=math.sqrt(sum(se2)))
    assert (c.estimate, c.low, c.high) == pytest.approx((estimate, low, high), rel=1e-10)
    assert c.n == (3, 5, 4, 8) and c.method == "Welch"


def test_contrast_edge_cases():
    assert not stats.contrast([[1.0, 2.0, 3.0], [3.0], [1.0, 2.0, 3.0]], [1, -1, 0]).defined
    assert not stats.contrast([[1.0, 2.0, 3.0], [3.0, 4.0]], [1, -1]).defined  # a group of two
    exact = stats.contrast([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]], [0.5, -0.5])
    assert (exact.low, exact.estimate, exact.high) == (-0.5, -0.5, -0.5) and exact.side() == -1
    with pytest.raises(ValueError, match="2 groups but 3 weights"):
        stats.contrast([[1.0, 2.0], [1.0, 2.0]], [1, -1, 0])


def test_contrast_coverage_over_four_groups():
    """n = (5, 6, 5, 8), σ = (2, .5, .5, .5): Welch–Satterthwaite covers ~0.945; the t with
    N − k = 20 df ~0.917 and a z interval ~0.90."""
    rng = np.random.default_rng(8)
    design = [(1.0, 2.0, 5), (2.0, 0.5, 6), (0.0, 0.5, 5), (-1.0, 0.5, 8)]
    w = [0.5, 0.5, -0.5, -0.5]
    truth = sum(wi * m for wi, (m, _, _) in zip(w, design))
    draws = [rng.normal(m, s, (3000, n)) for m, s, n in design]  # one array per group
    coverage = np.mean([covers(stats.contrast(groups, w), truth) for groups in zip(*draws)])
    assert 0.93 <= coverage <= 0.97


# --- bootstrap_ci -----------------------------------------------------------------------------

def test_bootstrap_ci_matches_scipy_bootstrap():
    x = np.random.default_rng(9).normal(size=12)
    for statistic in (np.median, np.mean):
        ci = stats.bootstrap_ci(x, statistic, 0.9, resamples=999, seed=3)
        ref = scipy.stats.bootstrap((x,), statistic, n_resamples=999, confidence_level=0.9, method="BCa",
                                    rng=np.random.default_rng(3)).confidence_interval
        assert (ci.low, ci.high) == (ref.low, ref.high)
        assert ci.estimate == statistic(x) and ci.method == "bootstrap (BCa)" and ci.n == 12
    assert stats.bootstrap_ci(x, np.mean, seed=3) == stats.bootstrap_ci(x, np.mean, seed=3)
    assert stats.bootstrap_ci(x, np.mean, seed=3) != stats.bootstrap_ci(x, np.mean, seed=4)


def test_bootstrap_ci_falls_back_to_percentile_when_bca_is_degenerate():
    x = np.array([0.0, 0.0, 0.0, 0.0, 1.0])  # every jackknife median is 0: BCa is nan
    ci = stats.bootstrap_ci(x, resamples=999)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bca = scipy.stats.bootstrap((x,), np.median, n_resamples=999, rng=np.random.default_rng(0))
    assert math.isnan(bca.confidence_interval.low)
    ref = scipy.stats.bootstrap((x,), np.median, n_resamples=999, method="percentile",
                                rng=np.random.default_rng(0)).confidence_interval
    assert ci.method == "bootstrap (percentile)" and (ci.low, ci.high) == (ref.low, ref.high) == (0.0, 1.0)


def test_bootstrap_ci_edge_cases():
    assert not stats.bootstrap_ci([1.0]).defined and stats.bootstrap_ci([1.0, math.nan]).n == 1
    flat = stats.bootstrap_ci([2.0, 2.0, 2.0, math.nan])
    assert (flat.low, flat.estimate, flat.high, flat.n) == (2.0, 2.0, 2.0, 3)


def test_bootstrap_ci_coverage():
    """Normal n = 30, fast settings: BCa of the mean covers ~0.93, of the median ~0.94."""
    rng = np.random.default_rng(10)
    draws = rng.normal(0.0, 1.0, (300, 30))
    for statistic in (np.mean, np.median):
        coverage = np.mean([covers(stats.bootstrap_ci(d, statistic, resamples=999, seed=i), 0.0)
                            for i, d in enumerate(draws)])
        assert 0.88 <= coverage <= 0.98


# --- kendall_tau ------------------------------------------------------------------------------

def test_kendall_tau_matches_scipy():
    rng = np.random.default_rng(11)
    for n in (3, 4, 7, 15):
        x, y = rng.integers(0, 3, n).astype(float), rng.integers(0, 4, n).astype(float)  # with ties
        x[0], x[1] = 0.0, 1.0  # not constant
        y[0], y[1] = 0.0, 1.0
        tau = stats.kendall_tau(x, y, 0.9, resamples=199, seed=2)
        assert tau.estimate == pytest.approx(scipy.stats.kendalltau(x, y).statistic)
        # The interval is scipy's paired percentile bootstrap of scipy's τ-b (constant resample: 0).
        ref = scipy.stats.bootstrap((x, y), tau_or_zero, paired=True, vectorized=False, n_resamples=199,
                                    confidence_level=0.9, method="percentile",
                                    rng=np.random.default_rng(2)).confidence_interval
        assert (tau.low, tau.high) == pytest.approx((ref.low, ref.high), abs=1e-12)
        assert tau.n == n and tau.method == "Kendall τ, paired bootstrap"


def test_kendall_tau_edge_cases():
    assert not stats.kendall_tau([1.0, 2.0], [2.0, 1.0]).defined
    assert stats.kendall_tau([1.0, 2.0, 3.0, math.nan], [1.0, math.nan, 3.0, 4.0]).n == 2
    constant = stats.kendall_tau([1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0])
    assert math.isnan(constant.estimate) and not constant.defined
    # Few pairs: many resamples are constant (τ = 0); the interval stays defined.
    assert stats.kendall_tau([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]).defined
    monotone = stats.kendall_tau(np.arange(8.0), np.arange(8.0) ** 2, resamples=999)
    assert monotone.estimate == pytest.approx(1.0) and (monotone.low, monotone.high) == (1.0, 1.0)
    assert monotone.side() == 1
    with pytest.raises(ValueError, match="differ in length"):
        stats.kendall_tau([1.0, 2.0, 3.0], [1.0, 2.0])


def test_kendall_tau_coverage():
    """Bivariate normal ρ = 0.6, n = 30: true τ = (2/π) arcsin ρ ≈ 0.41 (ρ itself is far outside)."""
    rng = np.random.default_rng(12)
    rho = 0.6
    truth = 2 / np.pi * np.arcsin(rho)
    draws = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], (300, 30))
    coverage = np.mean([covers(stats.kendall_tau(d[:, 0], d[:, 1], resamples=999, seed=i), truth)
                        for i, d in enumerate(draws)])
    assert 0.88 <= coverage <= 0.99


# --- proportion_ci ----------------------------------------------------------------------------

def test_proportion_ci_matches_binomtest():
    for k, n, level in [(3, 10, 0.95), (7, 8, 0.9), (50, 100, 0.99)]:
        ci = stats.proportion_ci(k, n, level)
        ref = scipy.stats.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
        assert (ci.estimate, ci.low, ci.high) == (k / n, ref.low, ref.high)
        assert ci.n == n and ci.method == "Clopper-Pearson"


def test_proportion_ci_extremes_and_edge_cases():
    none, every = stats.proportion_ci(0, 5), stats.proportion_ci(5, 5)
    assert none.low == 0.0 and none.high == pytest.approx(1 - 0.025 ** (1 / 5))
    assert every.high == 1.0 and every.low == pytest.approx(0.025 ** (1 / 5))  # (α/2)^(1/n)
    assert every.side(0.4) == 1 and none.side(0.6) == -1
    empty = stats.proportion_ci(0, 0)
    assert math.isnan(empty.estimate) and not empty.defined
    with pytest.raises(ValueError):
        stats.proportion_ci(6, 5)


def test_proportion_ci_coverage_is_at_least_nominal():
    """Exact over all outcomes: Clopper–Pearson covers ≥ 95% (≈ 0.989 at p = .3, n = 10); a Wald
    interval covers ≈ 0.84."""
    n, p = 10, 0.3
    coverage = sum(scipy.stats.binom.pmf(k, n, p) for k in range(n + 1)
                   if stats.proportion_ci(k, n).low <= p <= stats.proportion_ci(k, n).high)
    assert coverage >= 0.95


def test_an_interval_on_logs_maps_to_a_positive_geometric_mean_interval():
    values = np.array([0.5, 4.0, 60.0])
    on_logs = stats.mean_ci(np.log(values))
    geometric = on_logs.exp()
    assert geometric.estimate == pytest.approx(scipy.stats.gmean(values))
    assert (geometric.low, geometric.high) == pytest.approx((np.exp(on_logs.low), np.exp(on_logs.high)))
    assert 0 < geometric.low < geometric.estimate < geometric.high and stats.mean_ci(values).low < 0


@pytest.mark.parametrize("x, text", [(13.0, "13"), (0.05, "0.05"), (1170.0082, "1170"), (-0.0, "0"), (-4e-6, "-4×10⁻⁶"),
                                     (125.63, "125.6"), (0.042274, "0.04227"), (12345.6, "12,346"), (3e7, "3×10⁷"),
                                     (-3.14159, "-3.142"), (math.nan, "—"), (2 / 3, "0.6667")])
def test_numbers_are_shown_to_four_significant_digits_without_false_zeros(x, text):
    assert stats.number_text(x) == text


def test_signed_numbers_and_estimates_shown_to_their_uncertainty():
    assert (stats.number_text(0.5, signed=True), stats.number_text(-0.5, signed=True)) == ("+0.5", "-0.5")
    assert stats.number_text(0.00001, digits=4, signed=True) == "+1×10⁻⁵" and stats.number_text(0.0, signed=True) == "0"
    assert stats.estimate_text(125.63, 12.4) == "126 ± 12"
    assert stats.estimate_text(0.04227, 0.00123) == "0.0423 ± 0.0012"
    assert stats.estimate_text(-0.00001, 0.0012) == "0.0000 ± 0.0012"  # never "-0.0000"
    assert stats.estimate_text(-6e-15, 7.1e-14) == "-6×10⁻¹⁵ ± 7.1×10⁻¹⁴"  # not fifteen decimals
    assert stats.estimate_text(0.8742, 1.04e-5) == "0.8742 ± 1×10⁻⁵"
    assert stats.estimate_text(57.18, math.nan) == "57.18" and stats.estimate_text(5.0, 0.0) == "5 ± 0"


# --- positive quantities on the log scale -------------------------------------------------------

@pytest.mark.parametrize("n", [3, 4, 5, 8])
def test_geometric_ci_covers_the_log_normal_median_at_the_seed_counts_used(n):
    """λ, sharpness and barriers over 3–8 seeds or 4 pairs: the t interval on logs covers the
    median of log-normal values at the nominal rate, and never reaches 0."""
    rng = np.random.default_rng(20 + n)
    draws = rng.lognormal(np.log(20.0), 0.8, (3000, n))
    found = [stats.geometric_ci(d) for d in draws]
    assert 0.93 <= np.mean([covers(f, 20.0) for f in found]) <= 0.97
    assert min(f.low for f in found) > 0


def test_a_skewed_positive_quantity_gets_a_positive_interval_where_mean_and_t_would_not():
    values = [12.0, 40.0, 480.0]  # a λmax spread over seeds like 004's
    assert stats.mean_ci(values).low < 0  # the arithmetic t interval reaches below 0
    found = stats.geometric_ci(values)
    assert found.low > 0 and found.estimate == pytest.approx(np.exp(np.mean(np.log(values))))
    with pytest.raises(ValueError, match="must be positive"):
        stats.geometric_ci([1.0, 0.0, 2.0])
    assert not stats.geometric_ci([3.0, 4.0]).defined  # two seeds: no interval


def test_ratio_covers_the_ratio_of_medians_with_unequal_spreads():
    rng = np.random.default_rng(31)
    a, b = rng.lognormal(np.log(6.0), 1.0, (3000, 5)), rng.lognormal(np.log(2.0), 0.3, (3000, 8))
    found = [stats.ratio(x, y) for x, y in zip(a, b)]
    assert 0.93 <= np.mean([covers(f, 3.0) for f in found]) <= 0.97
    assert min(f.low for f in found) > 0


@pytest.mark.parametrize("n", [3, 8])
def test_log_sd_ci_covers_the_spread_of_log_normal_values(n):
    rng = np.random.default_rng(40 + n)
    draws = rng.lognormal(np.log(15.0), 0.12, (4000, n))
    found = [stats.log_sd_ci(d) for d in draws]
    assert 0.93 <= np.mean([covers(f, 0.12) for f in found]) <= 0.97
    assert min(f.low for f in found) > 0
    x = draws[0]
    df = n - 1
    s = np.std(np.log(x), ddof=1)
    assert (found[0].low, found[0].high) == pytest.approx(
        (s * np.sqrt(df / scipy.stats.chi2.ppf(0.975, df)), s * np.sqrt(df / scipy.stats.chi2.ppf(0.025, df))))


def test_clopper_pearson_never_covers_less_than_nominal_at_the_seed_counts_used():
    """Exact intervals are conservative by construction (coverage ≥ 95% for every p): the
    coverage is computed exactly over all outcomes, not simulated."""
    for n in (3, 6, 8):
        intervals = [stats.proportion_ci(k, n) for k in range(n + 1)]
        for p in np.linspace(0.01, 0.99, 99):
            coverage = sum(scipy.stats.binom.pmf(k, n, p) for k, i in enumerate(intervals) if i.low <= p <= i.high)
            assert coverage >= 0.95 - 1e-9
    assert stats.best_share_interval(5).low < 0.5 < stats.best_share_interval(6).low


def test_kendall_tau_covers_at_eight_seeds():
    """001's design: 8 seeds, τ between λmax and accuracy (bivariate normal, τ = 2/π·asin ρ)."""
    rng = np.random.default_rng(50)
    for rho in (0.0, -0.5):
        tau = 2 / np.pi * np.arcsin(rho)
        hits = []
        for r in range(1000):
            x = rng.normal(size=8)
            y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=8)
            hits.append(covers(stats.kendall_tau(x, y, resamples=999, seed=r), tau))
        assert 0.93 <= np.mean(hits) <= 0.97


# --- p-values consistent with the intervals, and the multiplicity corrections ---------------------

def test_every_interval_p_value_is_below_five_percent_exactly_when_the_interval_excludes_the_null():
    rng = np.random.default_rng(60)
    for _ in range(200):
        a, b = rng.lognormal(0.0, 0.5, 5), rng.lognormal(0.3, 0.5, 6)
        null = float(rng.uniform(-0.5, 1.5))
        positive_null = float(np.exp(rng.uniform(-1, 1)))
        cases = [(stats.mean_ci(a), null), (stats.difference(a, b), null - 0.5),
                 (stats.contrast([a, b, a], [1.0, -0.5, -0.5]), null - 0.5),
                 (stats.geometric_ci(a), positive_null), (stats.ratio(a, b), positive_null),
                 (stats.log_sd_ci(a), positive_null / 2), (stats.proportion_ci(int(rng.integers(0, 7)), 6), null / 1.5 % 1),
                 (stats.kendall_tau(a, b[:5], resamples=999), null - 0.5)]
        for interval, value in cases:
            p = interval.p_value(value)
            excluded = interval.side(value) != 0
            if abs(p - 0.05) > 1e-3:  # away from the boundary, where quantiles and tail sums meet
                assert (p < 0.05) == excluded, (interval, value, p)


def test_holm_and_bh_match_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(70)
    for m in (1, 2, 5, 13, 28):
        p = rng.uniform(0, 0.2, m) ** 2
        p[rng.integers(0, m)] = p[0]  # a tie
        for ours, method in ((stats.holm, "holm"), (stats.bh, "fdr_bh")):
            reject, adjusted, _, _ = multitest.multipletests(p, alpha=0.05, method=method)
            assert ours(p) == pytest.approx(adjusted, rel=1e-12)
            assert list(ours(p) < 0.05) == list(reject)
    with_nan = np.array([0.01, np.nan, 0.04, 0.03])
    expected = multitest.multipletests(with_nan[~np.isnan(with_nan)], method="holm")[1]
    found = stats.holm(with_nan)
    assert np.isnan(found[1]) and list(found[[0, 2, 3]]) == pytest.approx(list(expected))


# --- mean of means (Ψ) ------------------------------------------------------------------------

def test_mean_of_means_ci_against_its_definition_and_edge_cases():
    found = stats.mean_of_means_ci([[1.0, 0.0, -1.0, 1.0], [0.0, 0.0, 1.0, 1.0, 1.0]])
    assert found.estimate == pytest.approx((0.25 + 0.6) / 2) and found.n == (4, 5)
    assert found.low < found.estimate < found.high and -1 <= found.low and found.high <= 1
    assert not stats.mean_of_means_ci([[1.0, 0.0], [1.0]]).defined  # a sample of one: no interval
    flat = stats.mean_of_means_ci([[1.0, 1.0], [0.0, 0.0, 0.0]])
    assert (flat.low, flat.estimate, flat.high) == (0.5, 0.5, 0.5)


def test_mean_of_means_ci_coverage_is_nominal_at_the_grids_size():
    """Five factors, 48 groups each (the grid: 16 settings of the other factors x 3 seeds), each
    group's τ in {-1, 0, 1} with a factor's own probabilities: the stratified percentile
    bootstrap covers the true Ψ about 95% of the time (a bootstrap that pooled the factors'
    groups would ignore the strata; with equal sizes it covers about as often, so the bound
    guards the level, not that choice)."""
    rng = np.random.default_rng(5)
    probabilities = [(0.2, 0.3, 0.5), (0.4, 0.2, 0.4), (0.1, 0.6, 0.3), (0.5, 0.1, 0.4), (0.3, 0.3, 0.4)]
    truth = np.mean([p[2] - p[0] for p in probabilities])
    hits = []
    for _ in range(400):
        samples = [rng.choice([-1.0, 0.0, 1.0], size=48, p=p) for p in probabilities]
        hits.append(covers(stats.mean_of_means_ci(samples, resamples=1999), truth))
    assert 0.92 <= np.mean(hits) <= 0.975
