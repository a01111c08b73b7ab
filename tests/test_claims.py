"""Claim checks on crafted histories and probe frames of several seeds, where the answer is known:
a difference inside its confidence interval is inconclusive, outside it supported or
contradicted; a reversed direction is contradicted (or, beside a supported part, mixed), never
supported; parts that disagree are mixed; too few seeds are undecidable before training."""
import math

import numpy as np
import pandas as pd
import pytest

from dataclasses import replace

from landscape.verdicts import claims, stats, thresholds
from landscape.verdicts.claims import deciding
from landscape.probes.flatness import checks as flatness_checks
from landscape.probes.hessian import checks as hessian_checks
from landscape.probes.interpolation import checks as interpolation_checks
from landscape.probes.noise import checks as noise_checks
from landscape.probes.sharpness import checks as sharpness_checks
from landscape.probes.slices import checks as slices_checks
from landscape.pipeline.params import ParamsError, load_params

S, C, I, P = claims.SUPPORTED, claims.CONTRADICTED, claims.INCONCLUSIVE, claims.PENDING
M, U = claims.MIXED, claims.UNDECIDABLE
CTX = claims.Context()


def verdict(parts):
    """The claim verdict of a check's comparisons (raw: no multiplicity correction)."""
    return claims.combine([p.raw for p in parts])


def history(finals, gaps=None, first=None, epochs=2):
    """Per configuration and seed: final val accuracy ``finals[c][i]``, eval-mode gap, and the
    epoch-1 val accuracy (default: final − 0.05); epochs in between interpolate linearly."""
    rows = []
    for config, accs in finals.items():
        for seed, acc in enumerate(accs):
            start = (first or {}).get(config, [a - 0.05 for a in accs])[seed]
            for epoch in range(1, epochs + 1):
                value = start + (acc - start) * (epoch - 1) / max(epochs - 1, 1)
                gap = (gaps or {}).get(config, [0.0] * len(accs))[seed]
                rows.append({"run": f"{config}_s{seed}", "config": config, "seed": seed, "epoch": epoch,
                             "test_acc": value, "test_loss": 1.0 - value, "train_loss": 0.1, "train_acc": value + gap,
                             "eval_train_acc": value + gap, "gap": gap, "eval_gap": gap})
    return pd.DataFrame(rows)


def status(configs, diverged=(), seeds=3):
    return pd.DataFrame([{"run": f"{c}_s{s}", "config": c, "seed": s,
                          "status": "diverged" if (c, s) in diverged or c in diverged else "completed",
                          "epochs": 20, "diverged_epoch": 10 if (c, s) in diverged or c in diverged else None}
                         for c in configs for s in range(seeds)]).astype({"diverged_epoch": "Int64"})


def per_seed(column, values, **fixed):
    return pd.DataFrame([{"run": f"{c}_s{s}", "config": c, "seed": s, column: v, **fixed}
                         for c, vs in values.items() for s, v in enumerate(vs)])



def test_parts_combine_into_one_verdict_and_disagreeing_parts_are_mixed():
    assert claims.combine([S, S]) == S
    assert claims.combine([S, I]) == I  # a tie is never dropped
    assert claims.combine([S, C]) == M and claims.combine([S, C, I]) == M
    assert claims.combine([I, C]) == C and claims.combine([C, U]) == C
    assert claims.combine([S, U]) == U and claims.combine([I, U]) == U
    assert claims.combine([]) == I


def test_a_difference_inside_its_interval_is_inconclusive_outside_it_decided():
    clear = history({"B": [0.91, 0.915, 0.92, 0.912, 0.918], "A": [0.86, 0.865, 0.87, 0.862, 0.868]},
                    gaps={"B": [0.0, 0.002, -0.001, 0.001, 0.0], "A": [0.03, 0.032, 0.029, 0.031, 0.03]})
    parts = claims.generalizes_better(CTX, clear, "B", "A")
    assert verdict(parts) == S and [p.effect for p in parts] == ["difference", "difference"]
    assert [g.n for g in parts[0].groups] == [5, 5] and "Welch" in parts[0].text()
    assert verdict(claims.generalizes_better(CTX, clear, "A", "B")) == C
    noisy = history({"B": [0.90, 0.86, 0.92, 0.85, 0.91], "A": [0.87, 0.91, 0.86, 0.90, 0.88]},
                    gaps={"B": [0.0] * 5, "A": [0.03] * 5})
    assert [p.raw for p in claims.generalizes_better(CTX, noisy, "B", "A")] == [I, S]
    assert verdict(claims.generalizes_better(CTX, noisy, "B", "A")) == I


def test_higher_accuracy_with_a_larger_gap_is_mixed_not_contradicted():
    """003's case: BN's val accuracy is higher but so is its gap."""
    hist = history({"A": [0.91, 0.912, 0.915, 0.913, 0.911], "B": [0.89, 0.892, 0.894, 0.891, 0.893]},
                   gaps={"A": [0.05, 0.052, 0.049, 0.051, 0.05], "B": [0.02, 0.021, 0.019, 0.02, 0.022]})
    parts = claims.generalizes_better(CTX, hist, "A", "B")
    assert [p.raw for p in parts] == [S, C] and verdict(parts) == M


def test_two_seeds_decide_nothing_they_are_undecidable():
    one_seed = history({"B": [0.95, 0.96], "A": [0.80, 0.81]}, gaps={"B": [0.0, 0.0], "A": [0.1, 0.1]})
    parts = claims.generalizes_better(CTX, one_seed, "B", "A")
    assert verdict(parts) == U and "fewer than 3 seeds" in parts[0].why and math.isnan(parts[0].p)


def test_convergence_compares_epoch_one_and_epochs_to_reach_over_seeds():
    finals = {"B": [0.90, 0.905, 0.91], "A": [0.88, 0.885, 0.89]}
    fast = history(finals, first={"B": [0.87, 0.872, 0.874], "A": [0.80, 0.802, 0.804]}, epochs=4)
    assert verdict(claims.converges_faster(CTX, fast, "B", "A")) == S
    assert verdict(claims.converges_faster(CTX, fast, "A", "B")) == C
    single = history(finals, first={"B": [0.87, 0.872, 0.874], "A": [0.80, 0.802, 0.804]}, epochs=1)
    parts = claims.converges_faster(CTX, single, "B", "A")
    assert verdict(parts) == S and len(parts) == 1


def test_an_order_of_three_groups_compares_every_pair_on_the_log_scale():
    hess = per_seed("lambda_max", {"cnn": [30, 33, 36, 31, 35], "res": [15, 17, 19, 16, 18], "mlp": [4, 4.2, 3.9, 4.1, 4]},
                    method="lanczos")
    parts = hessian_checks.lambda_max_order(CTX, hess, ["cnn", "res", "mlp"])
    assert verdict(parts) == S and len(parts) == 3 and {p.effect for p in parts} == {"ratio"}
    assert all(p.scale == "log" and p.bounds == (1.0,) and p.interval.low > 0 for p in parts)
    tie = hess.copy()
    tie.loc[tie["config"] == "res", "lambda_max"] = [25, 40, 28, 39, 30]  # overlaps cnn
    assert verdict(hessian_checks.lambda_max_order(CTX, tie, ["cnn", "res", "mlp"])) == I
    assert verdict(hessian_checks.lambda_max_order(CTX, hess, ["mlp", "cnn", "res"])) in (C, M)
    assert verdict(hessian_checks.lambda_max_order(CTX, hess, ["res", "cnn"])) == C


def test_the_study_method_verdict_is_kept_and_the_headline_says_when_and_why_it_differs():
    params = load_params("batchnorm", "smoke")
    hess = pd.concat([per_seed("lambda_max", {"A": [40, 42, 41], "B": [20, 21, 22]}, method="lanczos"),
                      per_seed("lambda_max", {"A": [20, 30, 25], "B": [24, 26, 22]}, method="study")])
    found = {c.check: c for c in claims.judge(params, {"hessian": hess})}["lambda_max_order"]
    assert (found.verdict, found.study_verdict, found.headline) == (S, I, claims.DEPENDS)
    assert "one mini-batch" in found.study_change and all(p.method == claims.STUDY for p in found.study_parts)
    assert claims.table([found])["verdict"].iloc[0] == claims.DEPENDS


def test_divergence_is_a_share_of_seeds_and_three_seeds_cannot_decide_it():
    parts = claims.diverges(CTX, status(["x"], diverged=("x",), seeds=6), ["x"])
    assert verdict(parts) == S and parts[0].interval.method == "Clopper-Pearson" and parts[0].groups[0].n == 6
    three = claims.diverges(CTX, status(["x"], diverged=("x",), seeds=3), ["x"])
    assert verdict(three) == U and "it takes 6 seeds" in three[0].why  # 3 of 3 can never exclude 1/2
    assert deciding._seeds_needed(0.9) == "it takes 36 seeds" and stats.best_share_interval(36).low > 0.9
    assert verdict(claims.diverges(CTX, status(["x"], seeds=6), ["x"])) == C


def test_a_design_that_cannot_decide_says_so_before_training():
    params = load_params("resnet20_ablation", "full")
    reasons = {spec.check: claims.design(params, spec) for spec in claims.parse(params)}
    assert "cannot lie above 0.5" in reasons["diverges"] and "cannot lie above 0.5" in reasons["well_conditioned"]
    assert reasons["main_effect_larger"] is None and reasons["lambda_max_order"] is None
    two_pairs = load_params("batchnorm", "full", {"replicates": 5})
    barrier = next(s for s in claims.parse(two_pairs) if s.check == "loss_barrier")
    assert claims.design(two_pairs, barrier) == "fewer than 4 disjoint seed pairs in A (2)"
    assert claims.design(load_params("batchnorm", "full"), barrier) is None  # 8 seeds: 4 pairs


def test_chance_level_needs_the_whole_interval_within_the_declared_tolerance():
    ln10 = float(np.log(10))
    at_chance = history({"x": [0.1, 0.1001, 0.0999]}).assign(test_loss=ln10)
    assert verdict(claims.does_not_learn(CTX, at_chance, ["x"])) == S
    learned = history({"x": [0.62, 0.64, 0.6]})
    assert verdict(claims.does_not_learn(CTX, learned, ["x"])) == C
    unsure = history({"x": [0.1, 0.3, 0.1]}).assign(test_loss=ln10)
    assert verdict(claims.does_not_learn(CTX, unsure, ["x"])) == I


SKIP = [["TT", "TF"], ["FT", "FF"]]
BN = [["TT", "FT"], ["TF", "FF"]]


def test_main_effects_are_a_contrast_and_say_when_divergence_scoring_decides():
    accs = {"TT": [0.85, 0.86, 0.855], "TF": [0.5, 0.5, 0.5], "FT": [0.84, 0.845, 0.85], "FF": [0.1, 0.1, 0.1]}
    hist = history(accs)
    runs = status(list(accs), diverged=("TF",))
    parts = claims.main_effect_larger(CTX, hist, runs, larger=BN, smaller=SKIP)
    assert verdict(parts) == S and "3 diverged seed(s) scored as chance" in parts[0].why
    assert "cannot be formed" in parts[0].why  # every TF seed diverged
    assert verdict(claims.main_effect_larger(CTX, hist, runs, larger=SKIP, smaller=BN)) == C


def noise(drops, base=0.9, loss_change=None, sigmas=(0.0, 0.05, 0.1)):
    """Noise rows: per seed the accuracy drop at the largest σ (half of it at the middle one) and
    the relative loss change per σ (default: none)."""
    rows = []
    for config, values in drops.items():
        for seed, drop in enumerate(values):
            for sigma in sigmas:
                d = drop * sigma / max(sigmas)
                change = (loss_change or {}).get(sigma, 0.0) * (1 + 0.05 * seed)
                for scale in ("absolute", "relative"):
                    rows += [{"run": f"{config}_s{seed}", "config": config, "seed": seed, "scale": scale,
                              "sigma": sigma, "metric": "accuracy", "mean": base - (d if scale == "absolute" else 0)},
                             {"run": f"{config}_s{seed}", "config": config, "seed": seed, "scale": scale,
                              "sigma": sigma, "metric": "loss", "mean": 0.3 * (1 + change)}]
    return pd.DataFrame(rows)


def test_noise_robustness_compares_drops_and_the_study_method_uses_relative_noise():
    frame = noise({"B": [0.01, 0.012, 0.011], "A": [0.2, 0.22, 0.21]})
    assert verdict(noise_checks.more_noise_robust(CTX, frame, "B", "A")) == S
    assert verdict(noise_checks.more_noise_robust(CTX, frame, "A", "B")) == C
    assert verdict(noise_checks.more_noise_robust(CTX, noise({"B": [0.01, 0.3, 0.1], "A": [0.2, 0.02, 0.15]}), "B", "A")) == I
    relative = noise_checks.more_noise_robust(CTX, frame, "B", "A", scale="relative")
    assert verdict(relative) == I and "relative noise" in relative[0].quantity  # no drop at all


def test_noise_thresholds_check_every_stated_size():
    kw = dict(small=[0.01], medium=[0.05], large=0.1)
    sigmas = (0.0, 0.01, 0.05, 0.1)
    study_like = noise({"x": [0.5, 0.52, 0.51]}, loss_change={0.01: 0.02, 0.05: 0.4, 0.1: 3.0}, sigmas=sigmas)
    study_like = study_like.assign(mean=study_like["mean"].where(~((study_like["metric"] == "accuracy")
                                                                    & (study_like["sigma"] == 0.05)), 0.88))
    # 0.9 → 0.88 at σ 0.05: two points, slight
    parts = noise_checks.noise_thresholds(CTX, study_like, ["x"], **kw)
    assert [p.raw for p in parts] == [S, S, S, S] and parts[0].threshold == "barely_changes"
    assert parts[0].scale == "log" and parts[0].interval.low > 0  # a relative change is positive
    no_change_at_medium = noise({"x": [0.5, 0.52, 0.51]}, loss_change={0.01: 0.02, 0.05: 0.02, 0.1: 3.0},
                                sigmas=sigmas)
    assert verdict(noise_checks.noise_thresholds(CTX, no_change_at_medium, ["x"], **kw)) == M  # "slight degradation" fails
    no_collapse = noise({"x": [0.05, 0.06, 0.05]}, loss_change={0.01: 0.02, 0.05: 0.4, 0.1: 0.5}, sigmas=sigmas)
    assert noise_checks.noise_thresholds(CTX, no_collapse, ["x"], **kw)[-1].raw == C
    twelve_points = noise({"x": [0.24, 0.25, 0.245]}, loss_change={0.01: 0.02, 0.05: 0.4, 0.1: 3.0}, sigmas=sigmas)
    parts = noise_checks.noise_thresholds(CTX, twelve_points, ["x"], **kw)  # 001's σ 0.05: 12 points is no slight drop
    assert parts[2].threshold == "slight" and parts[2].raw == C and verdict(parts) == M


def test_a_reversed_pair_with_a_real_spread_is_mixed_never_supported():
    """001's case: seeds spread, but the study's pair is ordered the other way round."""
    lam = np.array([24.0, 20.1, 11.0, 18.0, 14.0, 16.5, 12.0, 17.0])  # seed 0 (A) sharper than seed 1 (B)
    hess = per_seed("lambda_max", {"cnn": lam}, method="lanczos")
    parts = hessian_checks.lambda_max_spread(CTX, hess, ["cnn"], flatter="first")
    assert [p.raw for p in parts] == [S, C] and verdict(parts) == M
    assert parts[1].unit == "networks" and math.isnan(parts[1].p)  # a measurement, not a test
    assert verdict(hessian_checks.lambda_max_spread(CTX, hess, ["cnn"], flatter="second")) == S
    flat = per_seed("lambda_max", {"cnn": 13 + 0.001 * np.arange(8)}, method="lanczos")
    assert verdict(hessian_checks.lambda_max_spread(CTX, flat, ["cnn"])) == C
    assert verdict(hessian_checks.lambda_max_spread(CTX, hess[hess["seed"] < 2], ["cnn"])) == U


def test_flatter_generalizes_better_is_a_rank_correlation_over_at_least_five_seeds():
    lam = np.array([13.0, 15.6, 11.0, 18.0, 14.0, 16.5, 12.0, 17.0])
    hess = per_seed("lambda_max", {"cnn": lam}, method="lanczos")
    acc = 0.95 - 0.002 * lam  # flatter seeds generalize better, exactly
    parts = hessian_checks.flatter_generalizes_better(CTX, hess, history({"cnn": list(acc)}), ["cnn"])
    assert verdict(parts) == S and parts[0].effect == "Kendall τ"
    assert verdict(hessian_checks.flatter_generalizes_better(CTX, hess, history({"cnn": list(0.9 + 0.002 * lam)}), ["cnn"])) == C
    shuffled = history({"cnn": list(acc[[3, 0, 6, 1, 5, 2, 7, 4]])})
    assert verdict(hessian_checks.flatter_generalizes_better(CTX, hess, shuffled, ["cnn"])) == I
    four = hess[hess["seed"] < 4]
    assert verdict(hessian_checks.flatter_generalizes_better(CTX, four, history({"cnn": list(acc[:4])}), ["cnn"])) == U


def barriers(values, bn="interpolate"):
    return pd.DataFrame([{"pair": f"{c}{i}", "config": c, "split": split, "bn": bn, "loss_barrier": v}
                         for c, vs in values.items() for i, v in enumerate(vs) for split in ("train", "test")])


def test_barriers_need_four_disjoint_pairs_and_stay_positive():
    high = barriers({"cnn": [1.2, 1.3, 1.25, 1.28]})
    parts = interpolation_checks.loss_barrier(CTX, high, ["cnn"], size="high_barrier")
    assert verdict(parts) == S and parts[0].bounds == (0.5,) and parts[0].threshold == "high_barrier"
    assert parts[0].unit == "disjoint pairs" and parts[0].interval.low > 0
    assert verdict(interpolation_checks.loss_barrier(CTX, barriers({"cnn": [0.01, 0.02, 0.015, 0.0]}), ["cnn"])) == C
    assert verdict(interpolation_checks.loss_barrier(CTX, barriers({"cnn": [1.2, 1.3, 1.25]}), ["cnn"])) == U  # 3 pairs
    four = barriers({"mlp": [0.2, 0.21, 0.22, 0.2], "cnn": [0.5, 0.52, 0.51, 0.5], "res": [0.4, 0.41, 0.42, 0.4]})
    assert verdict(interpolation_checks.loss_barrier(CTX, four, ["mlp", "cnn", "res"], smallest="mlp")) == S
    assert verdict(interpolation_checks.loss_barrier(CTX, four, ["mlp", "cnn", "res"], smallest="cnn")) == M


def test_a_barriers_quantity_names_the_batchnorm_treatment_only_where_there_is_a_choice():
    no_bn = interpolation_checks.loss_barrier(CTX, barriers({"cnn": [1.2, 1.3, 1.25, 1.28]}), ["cnn"])
    assert [p.quantity for p in no_bn] == ["train loss barrier (nats)", "test loss barrier (nats)"]
    both = pd.concat([barriers({"A": [1.2, 1.3, 1.25, 1.28]}, bn) for bn in ("interpolate", "recompute")])
    assert interpolation_checks.loss_barrier(CTX, both, ["A"])[0].quantity == "train loss barrier (BN recompute; nats)"
    studys = interpolation_checks.loss_barrier(CTX, both, ["A"], bn="interpolate")
    assert studys[0].quantity == "train loss barrier (BN interpolate; nats)"


def test_well_conditioned_is_the_share_of_seeds():
    hess = pd.DataFrame([{"run": f"x_s{s}", "config": "x", "seed": s, "method": "lanczos", "lambda_max": 4.0,
                          "lambda_min": lmin, "condition_number": 4.0 / lmin if lmin > 0 else np.nan}
                         for s, lmin in enumerate([1.0, 1.1, 0.9, 1.2, 1.0, 1.05])])  # 6 of 6 excludes 1/2
    assert verdict(hessian_checks.well_conditioned(CTX, hess, ["x"])) == S
    strict = claims.Context({**thresholds.SUITE,
                             "well_conditioned": replace(thresholds.SUITE["well_conditioned"], value=2.0)})
    assert verdict(hessian_checks.well_conditioned(strict, hess, ["x"])) == C
    saddle = hess.assign(lambda_min=-0.3, condition_number=np.nan)
    assert verdict(hessian_checks.well_conditioned(CTX, saddle, ["x"])) == C


def test_failed_and_diverged_seeds_are_left_out_and_named():
    params = load_params("batchnorm", "smoke")
    hist = history({"A": [0.91, 0.915, 0.913], "B": [0.86, 0.865, 0.862]}, gaps={"A": [0.0] * 3, "B": [0.03] * 3})
    runs = status(["A", "B"], diverged=(("B", 1),), seeds=3)
    found = {c.check: c for c in claims.judge(params, {"history": hist, "runs": runs})}
    better = found["generalizes_better"]
    assert better.left_out == ("run B_s1 diverged at epoch 10",) and better.verdict == U  # B has 2 usable seeds
    assert better.evidence().endswith("; left out: run B_s1 diverged at epoch 10")
    assert found["lambda_max_order"].verdict == P  # no Hessian in this evidence
    gone = status(["A", "B"], diverged=("B",), seeds=3)
    assert {c.check: c for c in claims.judge(params, {"history": hist[hist["config"] == "A"], "runs": gone})}[
        "generalizes_better"].verdict == P


def test_holm_turns_a_marginal_decision_inconclusive_and_keeps_both_verdicts():
    params = load_params("batchnorm", "full")
    marginal = history({"A": [0.900, 0.905, 0.910, 0.902, 0.908], "B": [0.893, 0.899, 0.904, 0.897, 0.901]},
                       first={"A": [0.80, 0.81, 0.79, 0.805, 0.80], "B": [0.70, 0.71, 0.69, 0.705, 0.70]},
                       gaps={"A": [0.01, 0.011, 0.012, 0.01, 0.011], "B": [0.03, 0.031, 0.032, 0.03, 0.031]})
    found = {c.check: c for c in claims.judge(params, {"history": marginal})}
    parts = [p for c in found.values() for p in c.parts]
    ps = [p.p for p in parts if not math.isnan(p.p)]
    assert [p.p_adjusted for p in parts if p.p_adjusted is not None] == pytest.approx(list(stats.holm(ps)))
    demoted = [p for p in parts if p.raw in claims.DECIDED and p.adjusted == I]
    assert demoted and all(0.05 > p.p and p.p_adjusted >= 0.05 for p in demoted)
    claim = next(c for c in found.values() if any(p in demoted for p in c.parts))
    assert claim.raw_verdict != claim.verdict and "uncorrected" in claims.table([claim])["ours / study's method"][0]
    record = claim.record()
    assert record["ours_raw"] == claim.raw_verdict and record["comparisons"][0]["p_adjusted"] is not None


def test_claim_arguments_and_thresholds_are_checked_when_params_load():
    params = load_params("resnet20_ablation", "smoke")
    specs = claims.parse(params)
    assert {s.check for s in specs} >= {"diverges", "does_not_learn", "main_effect_larger", "lambda_max_order",
                                        "well_conditioned"}
    entry = {"text": "t", "check": "lambda_max_order", "args": {"order": ["skipTrue_bnTrue"], "tolerance": 0.1}}
    with pytest.raises(ParamsError, match=r"takes \['order'\] \(and optionally \['method'\]\)"):
        load_params("resnet20_ablation", "smoke", {"reference": {"claims": [entry]}})
    entry = {"text": "t", "check": "lambda_max_order", "args": {"order": ["skipTrue_bnTrue_s0"]}}
    with pytest.raises(ParamsError, match="unknown configuration 'skipTrue_bnTrue_s0'"):
        load_params("resnet20_ablation", "smoke", {"reference": {"claims": [entry]}})
    entry = {"text": "t", "check": "loss_barrier", "args": {"configs": ["A"], "size": "huge"}}
    with pytest.raises(ParamsError, match=r"args.size: expected one of \['barrier', 'high_barrier'\]"):
        load_params("batchnorm", "smoke", {"reference": {"claims": [entry]}})
    with pytest.raises(ParamsError, match="needs a stated reason"):
        load_params("batchnorm", "smoke", {"reference": {"thresholds": {"barrier": {"value": 0.3}}}})
    with pytest.raises(ParamsError, match=r"more_often.value: expected a number below 1 \(share of seeds\)"):
        load_params("batchnorm", "smoke", {"reference": {"thresholds": {"more_often": {"value": 1.0, "reason": "x"}}}})
    with pytest.raises(ParamsError, match="unknown threshold"):
        load_params("batchnorm", "smoke", {"reference": {"thresholds": {"huge": {"value": 0.3, "reason": "x"}}}})
    overridden = load_params("batchnorm", "smoke", {"reference": {"thresholds": {
        "barrier": {"value": 0.3, "reason": "the study reads 0.3 nats as its smallest barrier"}}}})
    t = thresholds.resolve(overridden)["barrier"]
    assert (t.value, t.suite_value, t.source) == (0.3, 0.1, "params (overridden)")
    shown = thresholds.table(thresholds.resolve(overridden))
    assert "the study reads 0.3 nats" in shown.set_index("threshold").loc["barrier: a loss barrier between two minima",
                                                                          "why"]


def test_slices_sharpness_and_flatness_reversed_are_contradicted_never_supported():
    def slices(rises, direction="filter"):
        return pd.DataFrame([{"run": f"{c}_s{s}", "config": c, "seed": s, "direction": direction, "split": "train",
                              "alpha": a, "loss": 0.3 + r * abs(a)} for c, rs in rises.items()
                             for s, r in enumerate(rs) for a in (-1.0, -0.5, 0.0, 0.5, 1.0)])

    steep = slices({"A": [2.0, 2.2, 2.1], "B": [0.5, 0.6, 0.55]})
    assert verdict(slices_checks.steeper_slice(CTX, steep, "A", "B")) == S
    assert verdict(slices_checks.steeper_slice(CTX, steep, "B", "A")) == C
    with pytest.raises(claims.MissingEvidence, match="no random slice"):
        slices_checks.steeper_slice(CTX, steep, "A", "B", direction="random")
    sharp = per_seed("sharpness", {"A": [0.18, 0.2, 0.19], "B": [0.09, 0.08, 0.085]}, kind="sam")
    assert verdict(sharpness_checks.sharpness_order(CTX, sharp, ["A", "B"])) == S
    assert verdict(sharpness_checks.sharpness_order(CTX, sharp, ["B", "A"])) == C
    flat = per_seed("mean", {"cnn": [0.3, 0.32, 0.31], "mlp": [0.1, 0.11, 0.1], "res": [0.2, 0.21, 0.2]})
    assert verdict(flatness_checks.least_flat(CTX, flat, "cnn", ["mlp", "res"])) == S
    assert verdict(flatness_checks.least_flat(CTX, flat, "mlp", ["cnn", "res"])) == C
    assert verdict(flatness_checks.least_flat(CTX, flat, "res", ["mlp", "cnn"])) == M  # above one, below the other


# ---------------------------------------------------------------------------- the step-size study's checks

def gd_evidence(levels, lr=0.1, momentum=0.0, start=0.3):
    """Full-batch runs of configurations c0..c2, 3 seeds each, whose λmax/threshold rises from
    ``start`` to ``levels[seed]`` of 2(1+β)/η by step 60 and stays there to step 200: the raw
    trajectory frame, the history (η per recorded epoch) and the runs table."""
    threshold = 2 * (1 + momentum) / lr
    points, rows, runs = [], [], []
    for config in ("c0", "c1", "c2"):
        for seed, level in enumerate(levels):
            run = f"{config}_s{seed}"
            for step in range(0, 220, 20):
                ratio = start + (level - start) * min(step, 60) / 60
                points.append({"run": run, "config": config, "seed": seed, "epoch": float(step), "step": step,
                               "lambda_max": ratio * threshold, "loss": 1.0 / (1 + step), "status": "ok"})
            rows += [{"run": run, "config": config, "seed": seed, "epoch": e, "lr": lr} for e in range(20, 220, 20)]
            runs.append({"run": run, "config": config, "seed": seed, "status": "completed", "outcome": "completed",
                         "lr": lr, "momentum": momentum, "nesterov": False})
    return pd.DataFrame(points), pd.DataFrame(rows), pd.DataFrame(runs)


def test_the_edge_of_stability_needs_runs_to_reach_the_threshold_and_stay_in_its_band():
    """Hovering at 1.05 of 2(1+β)/η is supported; stopping at half of it contradicted; rising to
    twice it and staying there is mixed (it reached the threshold, but did not stay at it); runs
    that start at the threshold are left out, and the note says so."""
    check = claims.registry()["edge_of_stability"].function
    configs = ["c0", "c1", "c2"]
    assert verdict(check(CTX, *gd_evidence([1.05, 1.1, 1.0], momentum=0.9), configs)) == claims.SUPPORTED
    assert verdict(check(CTX, *gd_evidence([0.5, 0.55, 0.45]), configs)) == claims.CONTRADICTED
    assert verdict(check(CTX, *gd_evidence([2.0, 2.1, 1.9]), configs)) == claims.MIXED
    started = check(CTX, *gd_evidence([1.05, 1.1, 1.0], start=0.95), configs)
    assert "9 of 9 runs left out" in started[1].why and started[0].raw == claims.UNDECIDABLE
    points, history_rows, runs = gd_evidence([1.05, 1.1, 1.0])
    runs.loc[runs["config"] == "c0", "outcome"] = thresholds.DID_NOT_LEARN  # collapsed runs say nothing of the edge
    points.loc[points["config"] == "c0", "lambda_max"] = 0.1
    collapsed = check(CTX, points, history_rows, runs, configs)
    assert verdict(collapsed) == claims.SUPPORTED and "3 of 9 runs left out: they ended at chance" in collapsed[1].why


def test_an_order_of_end_sharpness_is_contradicted_when_reversed():
    check = claims.registry()["flatter_in_order"].function
    measures = per_seed("lambda_max", {"big": [10.0, 11.0, 12.0], "mid": [5.0, 5.5, 6.0], "small": [2.0, 2.2, 2.1]})
    assert verdict(check(CTX, measures, [["big", "mid", "small"]])) == claims.SUPPORTED
    found = check(CTX, measures, [["small", "mid", "big"], ["big", "mid"]])
    assert verdict(found) == claims.MIXED and [p.raw for p in found].count(claims.CONTRADICTED) == 3


def test_flatter_generalizes_at_a_fixed_step_size_is_the_granulated_tau_within_groups():
    """Within each (step size, seed) group the sharper configuration has the larger gap: ψ = 1,
    supported; the gap reversed within groups while it rises across them: contradicted."""
    check = claims.registry()["flatter_generalizes_at_fixed_lr"].function
    groups = [["a0", "b0", "c0"], ["a1", "b1", "c1"], ["a2", "b2", "c2"]]
    sharp = {f"{x}{g}": [1.0 + i + 10 * g + 0.1 * s for s in range(3)] for g in range(3) for i, x in enumerate("abc")}
    measures = per_seed("lambda_max", sharp)
    along = history({c: [0.9 - 0.01 * vals[0]] * 3 for c, vals in sharp.items()},
                    gaps={c: [0.01 * v for v in vals] for c, vals in sharp.items()})
    assert verdict(check(CTX, measures, along, groups)) == claims.SUPPORTED
    against = history({c: [0.9 + 0.01 * (vals[0] % 10)] * 3 for c, vals in sharp.items()},
                      gaps={c: [0.3 - 0.01 * (v % 10) + 0.05 * (v // 10) for v in vals] for c, vals in sharp.items()})
    assert verdict(check(CTX, measures, against, groups)) == claims.CONTRADICTED


def test_a_study_method_that_computes_what_ours_did_is_no_second_method():
    """Study 001's CNN has no BatchNorm: 'interpolated statistics' (the study's) is our path."""
    one_path = {"barriers": barriers({"cnn": [1.2, 1.3, 1.25, 1.28]})}
    found = {c.check: c for c in claims.judge(load_params("seed_connectivity", "full"), one_path)}["loss_barrier"]
    assert found.verdict == S and found.study_verdict is None and found.study_change is None
    assert [p.quantity for p in found.parts] == ["train loss barrier (nats)", "test loss barrier (nats)"]
    two_paths = {"barriers": pd.concat([barriers({"A": [1.2, 1.3, 1.25, 1.28]}, "recompute"),
                                        barriers({"A": [0.01, 0.02, 0.015, 0.01]}, "interpolate")])}
    found = {c.check: c for c in claims.judge(load_params("batchnorm", "full"), two_paths)}["loss_barrier"]
    assert (found.verdict, found.study_verdict) == (S, C) and "interpolated" in found.study_change
