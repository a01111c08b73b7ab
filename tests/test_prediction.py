"""Out-of-sample prediction of training difficulty (``analysis.prediction``): the
leave-one-configuration-out split never leaks, the fits agree with statsmodels, AUC with its
definition, and the cluster bootstrap covers at its nominal rate where the truth is known."""
import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from landscape.analysis import prediction


def test_leave_one_configuration_out_never_puts_a_configuration_on_both_sides():
    configs = np.random.default_rng(0).choice(list("abcdefg"), size=40)
    tested = []
    for train, test in prediction.loco_folds(configs):
        assert len(set(configs[test])) == 1
        assert not set(configs[train]) & set(configs[test])
        assert len(train) + len(test) == len(configs)
        tested += list(test)
    assert sorted(tested) == list(range(len(configs)))


@pytest.mark.parametrize("outcome", ["failed", "log_steps"])
def test_a_configurations_own_outcomes_never_change_its_predictions(outcome):
    """Changing every outcome of one configuration moves no prediction of that configuration."""
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"study": "s", "config": np.repeat([f"c{i}" for i in range(8)], 3),
                          "x": rng.normal(size=24), "z": rng.normal(size=24)})
    table[outcome] = (table["x"] + rng.normal(size=24) > 0).astype(float) if outcome == "failed" else table["x"]
    before = prediction.held_out(table, ["x", "z"], outcome)
    changed = table.copy()
    mine = changed["config"] == "c3"
    changed.loc[mine, outcome] = 1 - changed.loc[mine, outcome] if outcome == "failed" else 100.0
    after = prediction.held_out(changed, ["x", "z"], outcome)
    assert np.allclose(before[mine], after[mine])
    assert not np.allclose(before[~mine], after[~mine])  # the others did learn from it


def test_the_fits_at_no_ridge_are_statsmodels_logit_and_least_squares():
    rng = np.random.default_rng(2)
    x = sm.add_constant(rng.normal(size=(200, 3)))
    y = (x @ [0.3, 1.0, -2.0, 0.5] + rng.logistic(size=200) > 0).astype(float)
    assert np.allclose(prediction.fit_logistic(x, y, ridge=0.0), sm.Logit(y, x).fit(disp=0).params, atol=1e-6)
    z = x @ [1.0, 2.0, 0.0, -1.0] + rng.normal(size=200)
    assert np.allclose(prediction.fit_linear(x, z, ridge=0.0), sm.OLS(z, x).fit().params)
    shrunk = prediction.fit_logistic(x, y, ridge=50.0)
    assert np.linalg.norm(shrunk[1:]) < np.linalg.norm(prediction.fit_logistic(x, y, ridge=0.0)[1:])


def test_auc_is_the_share_of_positive_negative_pairs_ordered_ties_half():
    rng = np.random.default_rng(3)
    score, label = rng.integers(0, 5, 30).astype(float), rng.random(30) < 0.4
    pairs = [1.0 if p > n else 0.5 if p == n else 0.0
             for p, n in itertools.product(score[label], score[~label])]
    assert prediction.auc(score, label) == pytest.approx(np.mean(pairs))
    assert np.isnan(prediction.auc(score, np.zeros(30, bool)))


def test_scores_of_a_signal_that_is_the_outcome_beat_a_baseline_of_noise():
    rng = np.random.default_rng(4)
    n = 60
    table = pd.DataFrame({"study": "s", "config": np.repeat([f"c{i}" for i in range(20)], 3),
                          "signal": rng.normal(size=n), "noise": rng.normal(size=n)})
    table["failed"] = (table["signal"] > 0.8).astype(float)
    table["log_steps"] = table["signal"] + 0.1 * rng.normal(size=n)
    table["test_error"] = np.nan
    found = prediction.scores(table, early=["signal"], baseline=["noise"]).set_index("outcome")
    assert found.at["failed", "early"] > 0.9 and found.at["log_steps", "early"] > 0.8
    assert found.at["log_steps", "difference_low"] > 0
    assert found.at["test_error", "runs"] == 0


@pytest.mark.slow
def test_the_cluster_bootstrap_covers_a_known_mean_at_its_nominal_rate():
    """24 configurations of 3 runs with a shared configuration effect (the design's size): the 95%
    interval of the mean covers the true mean 0 in 93–97% of 600 simulated designs."""
    rng = np.random.default_rng(5)
    clusters = np.repeat(np.arange(24), 3)
    covered = 0
    for rep in range(600):
        y = np.repeat(rng.normal(size=24), 3) + rng.normal(size=72)
        found = prediction.cluster_bootstrap(clusters, lambda i: float(y[i].mean()), resamples=499, seed=rep)
        covered += found.low <= 0 <= found.high
    assert 0.93 <= covered / 600 <= 0.97
