"""Claim checks on crafted histories and probe frames of several seeds, where the answer is known:
a difference inside its confidence interval is inconclusive, outside it supported or
contradicted, and a tie in one sub-comparison makes a combined check inconclusive."""
import numpy as np
import pandas as pd
import pytest

from landscape import claims
from landscape.params import ParamsError, load_params

S, C, I, P = claims.SUPPORTED, claims.CONTRADICTED, claims.INCONCLUSIVE, claims.PENDING


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


def test_combine_is_a_conjunction_that_never_drops_a_tie():
    assert claims.combine([S, S]) == S
    assert claims.combine([S, I]) == I  # the tie counts
    assert claims.combine([S, C]) == C and claims.combine([I, C]) == C
    assert claims.combine([]) == I


def test_a_claim_of_several_comparisons_marks_each_and_names_the_one_that_decides():
    verdict, evidence = claims.conclude([(S, "a (x; y) 1 [0.5, 2]"), (C, "b -1 [-2, -0.5]"), (I, "c 0 [-1, 1]")],
                                        suffix="; n = 5 seeds")
    assert verdict == C and evidence == (f"a (x; y) 1 [0.5, 2]{claims.MARK}{S}; b -1 [-2, -0.5]{claims.MARK}{C}; "
                                         f"c 0 [-1, 1]{claims.MARK}{I}; n = 5 seeds")
    assert claims.clauses(evidence)[0] == f"a (x; y) 1 [0.5, 2]{claims.MARK}{S}"
    assert claims.deciding(evidence, C) == ("b -1 [-2, -0.5]", 3)
    assert claims.deciding(evidence, I) == ("c 0 [-1, 1]", 3)
    assert claims.conclude([(I, "one comparison")]) == (I, "one comparison")  # no mark on a single one
    assert claims.deciding("one comparison; detail", I) == ("one comparison", 1)


def test_a_difference_inside_its_interval_is_inconclusive_outside_it_decided():
    clear = history({"B": [0.91, 0.915, 0.92, 0.912, 0.918], "A": [0.86, 0.865, 0.87, 0.862, 0.868]},
                    gaps={"B": [0.0, 0.002, -0.001, 0.001, 0.0], "A": [0.03, 0.032, 0.029, 0.031, 0.03]})
    verdict, evidence = claims.generalizes_better(clear, "B", "A")
    assert verdict == S and "Welch" in evidence and "n = 5, 5" in evidence
    assert claims.generalizes_better(clear, "A", "B")[0] == C
    noisy = history({"B": [0.90, 0.86, 0.92, 0.85, 0.91], "A": [0.87, 0.91, 0.86, 0.90, 0.88]},
                    gaps={"B": [0.0] * 5, "A": [0.03] * 5})
    assert claims.generalizes_better(noisy, "B", "A")[0] == I  # accuracy overlaps: the gap alone cannot decide
    one_seed = history({"B": [0.95], "A": [0.80]}, gaps={"B": [0.0], "A": [0.1]})
    verdict, evidence = claims.generalizes_better(one_seed, "B", "A")
    assert verdict == I and "no interval" in evidence


def test_convergence_compares_epoch_one_and_epochs_to_reach_over_seeds():
    finals = {"B": [0.90, 0.905, 0.91], "A": [0.88, 0.885, 0.89]}
    fast = history(finals, first={"B": [0.87, 0.872, 0.874], "A": [0.80, 0.802, 0.804]}, epochs=4)
    assert claims.converges_faster(fast, "B", "A")[0] == S
    assert claims.converges_faster(fast, "A", "B")[0] == C
    single = history(finals, first={"B": [0.87, 0.872, 0.874], "A": [0.80, 0.802, 0.804]}, epochs=1)
    verdict, evidence = claims.converges_faster(single, "B", "A")
    assert verdict == S and "epochs to reach" not in evidence


def test_an_order_of_three_groups_needs_every_pair():
    hess = per_seed("lambda_max", {"cnn": [30, 33, 36, 31, 35], "res": [15, 17, 19, 16, 18], "mlp": [4, 4.2, 3.9, 4.1, 4]},
                    method="lanczos")
    verdict, evidence = claims.lambda_max_order(hess, ["cnn", "res", "mlp"])
    assert verdict == S and evidence.count("ratio") == 3
    tie = hess.copy()
    tie.loc[tie["config"] == "res", "lambda_max"] = [25, 40, 28, 39, 30]  # overlaps cnn
    assert claims.lambda_max_order(tie, ["cnn", "res", "mlp"])[0] == I
    assert claims.lambda_max_order(hess, ["mlp", "cnn", "res"])[0] == C


def test_the_study_method_verdict_is_kept_and_the_headline_says_when_it_differs():
    params = load_params("batchnorm", "smoke")
    hess = pd.concat([per_seed("lambda_max", {"A": [40, 42, 41], "B": [20, 21, 22]}, method="lanczos"),
                      per_seed("lambda_max", {"A": [20, 30, 25], "B": [24, 26, 22]}, method="study")])
    found = {c.check: c for c in claims.evaluate(params, {"hessian": hess})}["lambda_max_order"]
    assert (found.verdict, found.study_verdict, found.headline) == (S, I, claims.DEPENDS)
    assert claims.table([found])["verdict"].iloc[0] == claims.DEPENDS


def test_divergence_is_a_proportion_over_seeds():
    verdict, evidence = claims.diverges(status(["x"], diverged=("x",), seeds=6), ["x"])
    assert verdict == S and "6 of 6" in evidence and "Clopper" in evidence
    assert claims.diverges(status(["x"], diverged=("x",), seeds=5), ["x"])[0] == I  # 5 of 5 cannot exclude 1/2
    assert claims.diverges(status(["x"], seeds=6), ["x"])[0] == C


def test_chance_level_needs_the_whole_interval_at_chance():
    ln10 = float(np.log(10))
    at_chance = history({"x": [0.1, 0.1001, 0.0999]}).assign(test_loss=ln10)
    assert claims.does_not_learn(at_chance, ["x"])[0] == S
    learned = history({"x": [0.62, 0.64, 0.6]})
    assert claims.does_not_learn(learned, ["x"])[0] == C
    unsure = history({"x": [0.1, 0.3, 0.1]}).assign(test_loss=ln10)
    assert claims.does_not_learn(unsure, ["x"])[0] == I


SKIP = [["TT", "TF"], ["FT", "FF"]]
BN = [["TT", "FT"], ["TF", "FF"]]


def test_main_effects_are_a_contrast_and_say_when_divergence_scoring_decides():
    accs = {"TT": [0.85, 0.86, 0.855], "TF": [0.5, 0.5, 0.5], "FT": [0.84, 0.845, 0.85], "FF": [0.1, 0.1, 0.1]}
    hist = history(accs)
    runs = status(list(accs), diverged=("TF",))
    verdict, evidence = claims.main_effect_larger(hist, runs, larger=BN, smaller=SKIP)
    assert verdict == S and "3 diverged seeds scored as chance" in evidence
    assert "cannot be formed" in evidence  # every TF seed diverged
    assert claims.main_effect_larger(hist, runs, larger=SKIP, smaller=BN)[0] == C
    some = status(list(accs), diverged=(("TF", 0),))  # one seed of TF diverged, two reached 0.5
    verdict, evidence = claims.main_effect_larger(hist, some, larger=BN, smaller=SKIP)
    assert "leaving them out instead gives" in evidence


def test_noise_checks_use_each_seeds_mean_over_draws():
    def noise(drops, base=0.9, loss_rise=0.0):
        rows = []
        for config, values in drops.items():
            for seed, drop in enumerate(values):
                for sigma, d in ((0.0, 0.0), (0.05, drop / 2), (0.1, drop)):
                    rows += [{"run": f"{config}_s{seed}", "config": config, "seed": seed, "scale": "absolute",
                              "sigma": sigma, "metric": "accuracy", "mean": base - d},
                             {"run": f"{config}_s{seed}", "config": config, "seed": seed, "scale": "absolute",
                              "sigma": sigma, "metric": "loss", "mean": 0.3 + loss_rise * sigma}]
        return pd.DataFrame(rows)

    frame = noise({"B": [0.01, 0.012, 0.011], "A": [0.2, 0.22, 0.21]})
    assert claims.more_noise_robust(frame, "B", "A")[0] == S
    assert claims.more_noise_robust(frame, "A", "B")[0] == C
    assert claims.more_noise_robust(noise({"B": [0.01, 0.3, 0.1], "A": [0.2, 0.02, 0.15]}), "B", "A")[0] == I
    collapse = noise({"x": [0.5, 0.52, 0.51]}).assign(sigma=lambda f: f["sigma"].replace(0.05, 0.01))
    assert claims.noise_thresholds(collapse, ["x"], small=[0.01], large=0.1)[0] == S
    assert claims.noise_thresholds(noise({"x": [0.05, 0.06, 0.05]}).assign(
        sigma=lambda f: f["sigma"].replace(0.05, 0.01)), ["x"], small=[0.01], large=0.1)[0] == C


def test_seed_to_seed_claims_use_spread_and_rank_correlation():
    lam = np.array([13.0, 15.6, 11.0, 18.0, 14.0, 16.5, 12.0, 17.0])
    hess = per_seed("lambda_max", {"cnn": lam}, method="lanczos")
    verdict, evidence = claims.lambda_max_spread(hess, ["cnn"])
    assert verdict == S and "seeds 0, 1" in evidence
    flat = per_seed("lambda_max", {"cnn": 13 + 0.001 * np.arange(8)}, method="lanczos")
    assert claims.lambda_max_spread(flat, ["cnn"])[0] == C
    assert claims.lambda_max_spread(hess[hess["seed"] < 3], ["cnn"])[0] == I  # too few seeds for a bootstrap
    acc = 0.95 - 0.002 * lam  # flatter seeds generalize better, exactly
    hist = history({"cnn": list(acc)})
    verdict, evidence = claims.flatter_generalizes_better(hess, hist, ["cnn"])
    assert verdict == S and "Kendall τ" in evidence
    shuffled = history({"cnn": list(acc[[3, 0, 6, 1, 5, 2, 7, 4]])})
    assert claims.flatter_generalizes_better(hess, shuffled, ["cnn"])[0] == I


def test_barriers_are_averaged_over_seed_pairs():
    def barriers(values, bn="interpolate"):
        return pd.DataFrame([{"pair": f"{c}{i}", "config": c, "split": split, "bn": bn, "loss_barrier": v}
                             for c, vs in values.items() for i, v in enumerate(vs) for split in ("train", "test")])

    high = barriers({"cnn": [1.2, 1.3, 1.25, 1.28]})
    assert claims.loss_barrier(high, ["cnn"], min_barrier=0.5)[0] == S
    assert claims.loss_barrier(barriers({"cnn": [0.01, 0.02, 0.015]}), ["cnn"], min_barrier=0.5)[0] == C
    assert claims.loss_barrier(barriers({"cnn": [1.2]}), ["cnn"], min_barrier=0.5)[0] == I  # one pair
    three = barriers({"mlp": [0.2, 0.21, 0.22], "cnn": [0.5, 0.52, 0.51], "res": [0.4, 0.41, 0.42]})
    assert claims.loss_barrier(three, ["mlp", "cnn", "res"], smallest="mlp")[0] == S
    assert claims.loss_barrier(three, ["mlp", "cnn", "res"], smallest="cnn")[0] == C


def test_failed_and_diverged_seeds_are_left_out_and_named():
    params = load_params("batchnorm", "smoke")
    hist = history({"A": [0.91, 0.915], "B": [0.86, 0.865]}, gaps={"A": [0.0, 0.0], "B": [0.03, 0.03]})
    runs = status(["A", "B"], diverged=(("B", 1),), seeds=2)
    found = {c.check: c for c in claims.evaluate(params, {"history": hist, "runs": runs})}
    better = found["generalizes_better"]
    assert better.verdict == I and better.evidence.endswith("; left out: run B_s1 diverged at epoch 10")
    assert "left out" not in claims.deciding(better.evidence, I)[0]  # a clause of its own, never the deciding one
    assert found["lambda_max_order"].verdict == P  # no Hessian in this evidence
    gone = status(["A", "B"], diverged=("B",), seeds=2)
    assert {c.check: c for c in claims.evaluate(params, {"history": hist[hist["config"] == "A"], "runs": gone})}[
        "generalizes_better"].verdict == P


def test_claim_arguments_name_configurations_and_are_checked():
    params = load_params("resnet20_ablation", "smoke")
    specs = claims.parse(params)
    assert {s.check for s in specs} >= {"diverges", "does_not_learn", "main_effect_larger", "lambda_max_order",
                                        "well_conditioned"}
    entry = {"text": "t", "check": "lambda_max_order", "args": {"order": ["skipTrue_bnTrue"], "tolerance": 0.1}}
    with pytest.raises(ParamsError, match=r"takes \['order'\] \(and optionally \['method'\]\)"):
        claims.parse(load_params("resnet20_ablation", "smoke", {"reference": {"claims": [entry]}}))
    entry = {"text": "t", "check": "lambda_max_order", "args": {"order": ["skipTrue_bnTrue_s0"]}}
    with pytest.raises(ParamsError, match="unknown configuration 'skipTrue_bnTrue_s0'"):
        claims.parse(load_params("resnet20_ablation", "smoke", {"reference": {"claims": [entry]}}))


def test_well_conditioned_is_the_share_of_seeds():
    hess = pd.DataFrame([{"run": f"x_s{s}", "config": "x", "seed": s, "method": "lanczos", "lambda_max": 4.0,
                          "lambda_min": lmin, "condition_number": 4.0 / lmin if lmin > 0 else np.nan}
                         for s, lmin in enumerate([1.0, 1.1, 0.9, 1.2, 1.0, 1.05])])  # 6 of 6 excludes 1/2
    assert claims.well_conditioned(hess, ["x"])[0] == S
    assert claims.well_conditioned(hess, ["x"], max_condition=2)[0] == C
    saddle = hess.assign(lambda_min=-0.3, condition_number=np.nan)
    verdict, evidence = claims.well_conditioned(saddle, ["x"])
    assert verdict == C and "λmin < 0" in evidence
