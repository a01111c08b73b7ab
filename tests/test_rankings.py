"""Jiang et al.'s conditional mutual information and Dziugaite et al.'s robust sign agreement on
constructed grids whose answers are known: a measure equal to the gap, one that only tracks the
learning rate, one that is noise, and the mutual information against scipy's G statistic."""
import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from landscape.verdicts import rankings

FACTORS = ["lr", "depth", "width"]


def grid(seeds: int = 3, noise: float = 0.002, seed: int = 0) -> pd.DataFrame:
    """Every combination of three two-level factors, ``seeds`` seeds each; the gap grows with
    depth (most), the learning rate and the width, plus seed noise. ``gap`` itself, its negative,
    the learning rate alone and pure noise are the measures."""
    rng = np.random.default_rng(seed)
    rows = []
    for lr, depth, width in itertools.product([0.01, 0.1], [2, 4], [8, 16]):
        for s in range(seeds):
            gap = 0.05 * (depth == 4) + 0.02 * (lr == 0.1) + 0.01 * (width == 16) + noise * rng.standard_normal()
            rows.append({"lr": lr, "depth": depth, "width": width, "seed": s, "gap": gap})
    models = pd.DataFrame(rows)
    return models.assign(same=models["gap"], opposite=-models["gap"], lr_only=models["lr"],
                         noise=rng.standard_normal(len(models)))


def test_the_mutual_information_matches_scipys_g_statistic_with_and_without_conditioning():
    models = grid()
    pairs = rankings.sign_pairs(models, "noise", "gap", FACTORS)
    assert len(pairs) == len(models) * (len(models) - 1)

    def mi(part: pd.DataFrame) -> float:
        table = pd.crosstab(part["v_measure"], part["v_target"]).to_numpy()
        if min(table.shape) < 2:
            return 0.0
        g = scipy.stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")[0]
        return g / (2 * table.sum())  # G = 2 N I (nats)

    table = rankings.conditional_mi(models, "noise", "gap", FACTORS).set_index("conditioning")
    h = scipy.stats.entropy(pairs["v_target"].value_counts().to_numpy())
    assert table.at["—", "cmi"] == pytest.approx(mi(pairs) / h, rel=1e-9)
    by = ["lr_1", "lr_2"]
    expected = sum(len(p) / len(pairs) * mi(p) for _, p in pairs.groupby(by))
    entropy = sum(len(p) / len(pairs) * scipy.stats.entropy(p["v_target"].value_counts().to_numpy())
                  for _, p in pairs.groupby(by))
    assert table.at["lr", "cmi"] == pytest.approx(expected / entropy, rel=1e-9)
    assert list(table.index) == ["—", "lr", "depth", "width", "lr + depth", "lr + width", "depth + width"]


def test_the_gap_itself_scores_one_and_a_learning_rate_proxy_scores_zero_once_conditioned():
    models = grid()
    same, where = rankings.cmi_score(rankings.conditional_mi(models, "same", "gap", FACTORS))
    assert same == pytest.approx(1.0)
    opposite, _ = rankings.cmi_score(rankings.conditional_mi(models, "opposite", "gap", FACTORS))
    assert opposite == pytest.approx(1.0)  # information has no direction: the sign agreement gives it
    table = rankings.conditional_mi(models, "lr_only", "gap", FACTORS).set_index("conditioning")
    assert table.at["—", "cmi"] > 0.05  # unconditioned, the learning rate does inform the gap's order
    score, where = rankings.cmi_score(table.reset_index())
    assert score == pytest.approx(0.0, abs=1e-12) and "lr" in where
    noise, _ = rankings.cmi_score(rankings.conditional_mi(models, "noise", "gap", FACTORS))
    assert noise < 0.05


def test_sign_agreement_over_environments_and_its_robust_summary():
    models = grid()
    same = rankings.sign_agreement(models, "same", "gap", FACTORS)
    assert len(same) == 3 * 4  # per factor, one environment per setting of the two others
    assert (same["agreement"] == 1.0).all() and not same["noise"].any()
    assert (rankings.sign_agreement(models, "opposite", "gap", FACTORS)["agreement"] == -1.0).all()
    proxy = rankings.sign_agreement(models, "lr_only", "gap", FACTORS)
    assert (proxy[proxy["factor"] == "lr"]["agreement"] == 1.0).all()  # varying lr: it does predict
    assert (proxy[proxy["factor"] != "lr"]["agreement"] == 0.0).all()  # elsewhere it is tied: no prediction
    summary = rankings.robust_summary(proxy).set_index("factor")
    assert summary.at["all", "worst"] == 0.0 and summary.at["lr", "worst"] == 1.0
    assert summary.at["all", "environments"] == 12 and summary.at["all", "positive"] == pytest.approx(4 / 12)
    seed_effect = np.array([0.003, -0.001, 0.002])  # each seed's own offset, the same in every configuration
    flat = grid().assign(gap=lambda m: 0.01 * m["depth"] + seed_effect[m["seed"]])  # only depth moves the gap
    noisy = rankings.sign_agreement(flat, "noise", "gap", FACTORS)
    assert noisy[noisy["factor"] == "depth"]["noise"].eq(False).all()
    assert noisy[noisy["factor"] != "depth"]["noise"].all()  # no gap difference to predict: left out
    assert rankings.robust_summary(noisy).set_index("factor").at["all", "environments"] == 4


def test_granulated_psi_fixes_every_other_factor_and_the_seed():
    models = grid()
    groupings = {f: (f, [*(g for g in FACTORS if g != f), "seed"]) for f in FACTORS}
    same = rankings.granulated(models, "same", "gap", groupings)
    # groups of two models of one seed that differ in one factor: 4 settings of the others x 3 seeds
    assert {f: same[f].n for f in FACTORS} == {f: 12 for f in FACTORS}
    assert all(same[f].estimate == 1.0 for f in FACTORS) and same["all"].estimate == 1.0
    proxy = rankings.granulated(models, "lr_only", "gap", groupings)
    assert proxy["lr"].estimate == 1.0 and proxy["depth"].estimate == 0.0 and proxy["width"].estimate == 0.0
    assert proxy["all"].estimate == pytest.approx(1 / 3)
    assert (proxy["all"].low, proxy["all"].high) == (pytest.approx(1 / 3), pytest.approx(1 / 3))  # every τ fixed
    noisy = rankings.granulated(models, "noise", "gap", groupings)["all"]
    assert noisy.low < noisy.estimate < noisy.high and noisy.n == 3
    expected = np.mean([scipy.stats.kendalltau(g["noise"], g["gap"]).statistic
                        for g in rankings.groups_where(models, groupings["depth"])])
    assert rankings.granulated(models, "noise", "gap", groupings)["depth"].estimate == pytest.approx(expected)


def test_the_grids_statistics_rank_the_gap_first_and_the_proxy_last_and_decide_with_bh():
    from landscape.analysis import grid as grid_mod

    models = grid()
    found = grid_mod.rank_statistics(models, FACTORS, ["noise", "lr_only", "same"], target="gap")
    summary = found.summary.set_index("measure")
    assert list(found.summary["measure"]) == ["same", "noise", "lr_only"]  # ordered by the CMI score
    assert summary.at["same", "cmi"] == pytest.approx(1.0) and summary.at["lr_only", "cmi"] == pytest.approx(0.0)
    assert summary.at["same", "tau"] == 1.0 and summary.at["same", "tau_decided"]
    assert not summary.at["noise", "tau_decided"]
    assert summary.at["same", "robust_worst"] == 1.0 and summary.at["lr_only", "robust_worst"] == 0.0
    overall = found.taus[found.taus["kind"] == "overall"]
    from statsmodels.stats.multitest import multipletests
    assert list(overall["decided"]) == list(multipletests(overall["p"], method="fdr_bh")[0])
    assert set(found.cmi["measure"]) == {"noise", "lr_only", "same"} and len(found.cmi) == 3 * 7
