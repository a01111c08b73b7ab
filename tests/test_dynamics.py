"""Sharpness along training and the prediction of optimization difficulty, on constructed runs:
the stability threshold against PyTorch's own SGD, thresholds that follow the schedule, the
difficulty outcomes, and answers that say "no" when the intervals do not decide."""
import copy
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from landscape.analysis import dynamics, prediction, synthesis
from landscape.pipeline.params import load_params
from landscape.learning.training import TrainConfig
from landscape.verdicts import rankings

CORRELATION_COLUMNS = ["measure", "target", "subset", "kind", "scope", "estimate", "low", "high", "n", "p"]
NO_EFFECTS = pd.DataFrame(columns=["factor", "measure", "ratio", "low", "high", "groups"])


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_the_stability_threshold_is_where_torch_sgd_stops_converging_on_a_quadratic(momentum, nesterov):
    lr = 0.1
    threshold = dynamics.stability_threshold(lr, momentum, nesterov)

    def final_size(curvature: float) -> float:
        x = torch.ones(1, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([x], lr=lr, momentum=momentum, nesterov=nesterov)
        for _ in range(300):
            opt.zero_grad()
            (0.5 * curvature * x ** 2).sum().backward()
            opt.step()
        return float(x.detach().abs())

    assert final_size(0.97 * threshold) < 1e-3
    assert final_size(1.03 * threshold) > 1e3


def traced_study(report: str, lambdas: dict[str, list[float]], history_lr: list[float], accs: dict[str, list[float]],
                 diverged: tuple[str, ...] = ()):
    """(params, results) of a study whose runs (config A, seeds 0..) have the trajectory ``lambdas``
    at epochs 0, 0.5, 1, 2, ... and per-epoch test accuracies ``accs``."""
    params = load_params(report, "smoke")
    config = params.runs[0]
    cfg = TrainConfig(epochs=len(history_lr), batch_size=32, lr=history_lr[0], momentum=0.9)
    runs, rows = {}, []
    for seed, (run_id, values) in enumerate(lambdas.items()):
        gone = run_id in diverged
        history = [] if gone else [{"epoch": e + 1, "lr": lr, "test_acc": a} for e, (lr, a)
                                   in enumerate(zip(history_lr, accs[run_id]))]
        runs[run_id] = SimpleNamespace(spec=SimpleNamespace(train=cfg), history=history, config=config.id, seed=seed,
                                       status="diverged" if gone else "completed", outcome="diverged" if gone else "completed",
                                       final=history[-1] if history else {}, epochs=len(history))
        epochs = [0.0, 0.5] + [float(e) for e in range(1, len(values) - 1)]
        for epoch, value in zip(epochs, values):
            rows.append({"run": run_id, "label": f"{config.label}, seed {seed}", "config": config.id, "seed": seed,
                         "epoch": epoch, "step": int(epoch * 10), "lambda_max": value, "residual": 1e-4,
                         "num_hvps": 5, "loss": 1.0, "grad_norm": value / 10, "status": "ok", "mode": "train", "n": 8,
                         "replayed": False, "matches_result": True})
    results = SimpleNamespace(runs=runs, probes=SimpleNamespace(trajectory=pd.DataFrame(rows)),
                              data=SimpleNamespace(train_size=320, num_classes=10))
    return params, results


def test_thresholds_follow_the_schedule_and_the_summary_counts_points_above():
    study = traced_study("batchnorm", {"r0": [10, 20, 30, 300], "r1": [10, 15, 25, 100]}, [0.1, 0.01],
                         {"r0": [0.8, 0.9], "r1": [0.8, 0.9]})
    table = dynamics.trajectory_table([study])
    r0 = table[table["run"] == "r0"]
    assert list(r0["lr"]) == [0.1, 0.1, 0.1, 0.01]  # epoch 2's points use epoch 2's rate
    assert list(r0["threshold"]) == pytest.approx([38, 38, 38, 380])
    assert list(r0["ratio"]) == pytest.approx([10 / 38, 20 / 38, 30 / 38, 300 / 380])
    assert set(table["config_label"]) == {study[0].runs[0].label}
    summary = dynamics.trajectory_summary(table).iloc[0]
    assert (summary["points"], summary["above"], summary["sharpened"]) == (8, 0, 2)
    assert summary["lambda_epoch1"] == pytest.approx(27.5) and summary["max_ratio"] == pytest.approx(300 / 380)
    text = dynamics.trajectory_observation(table)
    assert text.startswith("0 of 8 measured points (0%) of 2 runs lie above") and "in 2 of 2 runs" in text
    # the same run ids in another study are other runs
    other = traced_study("mlp_vs_cnn_fmnist", {"r0": [10, 5, 4, 3], "r1": [10, 15, 25, 100]}, [0.1, 0.01],
                         {"r0": [0.8, 0.9], "r1": [0.8, 0.9]})
    both = dynamics.trajectory_table([study, other])
    assert "of 4 runs lie above" in dynamics.trajectory_observation(both)
    assert "in 3 of 4 runs" in dynamics.trajectory_observation(both)
    assert len(dynamics.study_outcomes(both, [study, other])) == 4


def test_difficulty_outcomes_count_steps_to_the_target_and_the_signals_come_from_the_first_points():
    lambdas = {f"r{i}": [5.0, 6.0, 10.0 + i, 12.0] for i in range(6)}
    lambdas["gone"] = [50.0, float("nan")]
    accs = {f"r{i}": [0.5 + 0.05 * (5 - i) if i < 5 else 0.1, 0.9 - 0.02 * i] for i in range(6)}
    study = traced_study("batchnorm", lambdas, [0.1, 0.1], accs, diverged=("gone",))
    table = dynamics.trajectory_table([study])
    table.loc[table["lambda_max"].isna(), "status"] = "not finite"
    outcomes = dynamics.study_outcomes(table, [study]).set_index("run")
    # r0..r4 reach 95% of the median final accuracy at epoch 2, r5 never (2 epochs + 1); 10 steps an epoch
    assert list(outcomes["steps"].iloc[:6]) == [20, 20, 20, 20, 20, 30]
    assert outcomes.at["gone", "outcome"] == "diverged" and np.isnan(outcomes.at["gone", "test_error"])
    found = prediction.signals(table, outcomes.reset_index()).set_index("run")
    threshold = 2 * 1.9 / 0.1
    assert found.at["r2", "log_ratio_init"] == pytest.approx(np.log(5.0 / threshold))
    assert found.at["r2", "log_ratio_early"] == pytest.approx(np.log(6.0 / threshold))  # epoch 0.5, step 5
    assert found.at["r2", "log_grad_init"] == pytest.approx(np.log(0.5))
    assert found.at["gone", "failed"] == 1 and np.isnan(found.at["gone", "log_steps"])
    assert found.at["r5", "log_steps"] == pytest.approx(np.log(30)) and found.at["r5", "test_error"] == pytest.approx(0.2)


def test_the_prediction_answer_reads_the_intervals_and_says_when_nothing_can_be_scored():
    found = pd.DataFrame([
        {"outcome": "failed", "score": "AUC", "runs": 30, "configs": 10, "positives": 0, "early": np.nan,
         "early_low": np.nan, "early_high": np.nan, "baseline": np.nan, "baseline_low": np.nan,
         "baseline_high": np.nan, "difference": np.nan, "difference_low": np.nan, "difference_high": np.nan},
        {"outcome": "log_steps", "score": "Kendall τ", "runs": 30, "configs": 10, "positives": None, "early": 0.6,
         "early_low": 0.4, "early_high": 0.8, "baseline": 0.5, "baseline_low": 0.2, "baseline_high": 0.7,
         "difference": 0.1, "difference_low": -0.1, "difference_high": 0.3},
        {"outcome": "test_error", "score": "Kendall τ", "runs": 2, "configs": 1, "positives": None, "early": np.nan,
         "early_low": np.nan, "early_high": np.nan, "baseline": np.nan, "baseline_low": np.nan,
         "baseline_high": np.nan, "difference": np.nan, "difference_low": np.nan, "difference_high": np.nan}])
    answer = synthesis.answers(pd.DataFrame(columns=CORRELATION_COLUMNS), NO_EFFECTS, pd.DataFrame(), found)[3]
    assert answer.text.startswith("Out of sample (each configuration predicted by models fitted on the others), the "
                                  "first points of training predict 1 of the 1 scored outcome better than chance: "
                                  "steps to the target.")
    assert "they do neither better nor worse: every 95% interval of the difference includes 0" in answer.text
    assert "not predicted" not in answer.text  # one outcome is predicted better than chance
    cells = answer.table.set_index("outcome")["early signals [95% CI]"]
    assert cells.to_dict() == {"failure (diverged or ended at chance)": "no run failed",
                               "steps to the target": "+0.60 [+0.40, +0.80]", "final test error": "not scored"}
    assert answer.evidence == ("prediction",)


def test_trait_effects_are_the_geometric_mean_ratio_within_groups():
    rows = []
    for replicate in range(5):
        for bn in (False, True):
            rows.append({"study": "s", "family": "cnn", "batchnorm": bn, "skip": False, "dropout": False,
                         "replicate": replicate, "lambda_max": (2.0 if bn else 1.0) * (replicate + 1)})
    effects = synthesis.trait_effects(pd.DataFrame(rows), measures=["lambda_max"]).iloc[0]
    assert (effects["factor"], effects["groups"]) == ("batchnorm", 5)
    assert effects["ratio"] == pytest.approx(2.0) and effects["low"] == pytest.approx(2.0)


def undecided_evidence():
    """(correlations, study, trajectory): every measure's τ and Ψ with the gap +0.1, no interval
    excluding 0; one traced study of two runs, 2 of 6 points above the threshold."""
    correlations = pd.DataFrame([{"measure": m, "target": "eval_gap", "subset": "all", "kind": kind, "scope": "all",
                                  "estimate": 0.1, "low": -0.2 if kind == "overall" else np.nan,
                                  "high": 0.4 if kind == "overall" else np.nan, "n": 20,
                                  "p": 0.5 if kind == "overall" else np.nan}
                                 for m in synthesis.MEASURES for kind in ("overall", "granulated")])
    study = traced_study("batchnorm", {"r0": [10, 20, 30], "r1": [10, 40, 50]}, [0.1], {"r0": [0.8], "r1": [0.8]})
    return correlations, study, dynamics.trajectory_table([study])


def test_the_answers_say_no_support_when_no_interval_decides():
    correlations, study, trajectory = undecided_evidence()
    found = synthesis.answers(correlations, NO_EFFECTS, trajectory,
                              prediction.scores(prediction.signals(trajectory,
                                                                   dynamics.study_outcomes(trajectory, [study]))))
    assert [a.question for a in found] == list(synthesis.QUESTIONS)
    q1, q2, q3, q4 = found
    assert q1.text.startswith("SGD kept λmax at or below the stability threshold 2(1+β)/η at 67% of the 6 points")
    assert "0 of the 3 flatness measures' overall τ" in q1.text and "did not generalize measurably better" in q1.text
    assert list(q1.table["measure"]) == ["λmax", "ASAM sharpness", "noise accuracy drop"]
    assert q1.table.iloc[0]["studies' τ [95% CI]"] == "+0.10 [-0.20, +0.40]"  # not decided: no (BH)
    assert q1.evidence == ("trajectories", "measures")
    assert q2.text.startswith("No group of models") and q2.table.empty
    assert q3.text.startswith("Across the studies' pooled models, 0 of 8 measures' overall τ")
    assert "None of the 3 outcomes could be scored" in q4.text
    for answer in found:  # every answer is short: at most four sentences
        assert answer.text.count(". ") + 1 <= 4


def test_a_decided_flatness_tau_is_named_with_its_direction():
    correlations, _, trajectory = undecided_evidence()
    lam = (correlations["measure"] == "lambda_max") & (correlations["kind"] == "overall")
    correlations.loc[lam, ["estimate", "low", "high", "p"]] = [-0.4, -0.6, -0.2, 1e-6]  # sharper, smaller gap
    q1 = synthesis.answers(correlations, NO_EFFECTS, trajectory, pd.DataFrame())[0]
    assert "1 of the 3 flatness measures' overall τ with the gap excludes 0 after Benjamini–Hochberg (λmax: " \
           "sharper, smaller gap)." in q1.text
    assert q1.table.set_index("measure").at["λmax", "studies' τ [95% CI]"] == "-0.40 [-0.60, -0.20] (BH)"


def test_the_architecture_answer_gives_ratios_to_three_digits_and_says_when_they_do_not_decide():
    effects = pd.DataFrame([{"factor": "batchnorm", "measure": "lambda_max", "ratio": 354.48, "low": 6.6012,
                             "high": 6078.54, "groups": 6},
                            {"factor": "skip", "measure": "asam", "ratio": 1.5612, "low": 0.7514, "high": 5.3123,
                             "groups": 6},
                            {"factor": "skip", "measure": "slice_curvature", "ratio": 0.7648, "low": np.nan,
                             "high": np.nan, "groups": 2}])
    empty = pd.DataFrame()
    answer = synthesis.answers(pd.DataFrame(columns=CORRELATION_COLUMNS), effects, empty, empty)[1]
    assert answer.text.startswith("Of 3 ratios of a measure with the trait switched on to the same models without "
                                  "it, 1 has a 95% interval that excludes 1: switching BatchNorm on multiplies λmax "
                                  "by 354 [6.6, 6079].")
    assert f"1 of them rests on fewer than {rankings.MIN_GROUPS} groups and decides nothing" in answer.text
    assert list(answer.table["ratio on / off [95% CI]"]) == ["354 [6.6, 6079]", "1.56 [0.751, 5.31]",
                                                            "0.765 (no interval)"]


def grid_summary(psi: dict) -> pd.DataFrame:
    """A designed grid's statistics summary: per measure Ψ with its interval (``psi``: measure ->
    (estimate, low, high)) and a CMI score."""
    return pd.DataFrame([{"measure": m, "psi": e, "psi_low": lo, "psi_high": hi, "cmi": 0.1 * i, "cmi_given": "lr"}
                         for i, (m, (e, lo, hi)) in enumerate(psi.items())])


def test_with_a_designed_grid_the_answers_lead_with_it_and_its_flatness_verdict_reads_every_direction():
    correlations, study, trajectory = undecided_evidence()
    supports = grid_summary({"lambda_max": (0.3, 0.1, 0.5), "asam": (0.1, -0.1, 0.3), "path_norm": (0.5, 0.3, 0.7)})
    q1, _, q3, _ = synthesis.answers(correlations, NO_EFFECTS, trajectory, pd.DataFrame(), supports, 48)
    assert ("Among models trained to one train cross-entropy (48 in the designed grid), sharper by λmax goes with a "
            "larger gap within groups, as the flat-minimum explanation predicts") in q1.text
    assert q1.text.index("designed grid") < q1.text.index("Across the studies' pooled models")
    assert q1.table.iloc[0]["grid Ψ [95% CI]"] == "+0.30 [+0.10, +0.50]"
    assert q1.evidence == ("trajectories", "grid", "measures")
    assert q3.text.startswith("Among the designed grid's 48 models, trained to one train cross-entropy, the granulated "
                              "Ψ with the gap excludes 0 for 2 of 3 measures (λmax and path norm); the largest CMI "
                              "score is path norm's (0.200, given lr).")
    assert list(q3.table["measure"])[:2] == ["λmax", "path norm"] and len(q3.table) <= synthesis.ANSWER_ROWS
    mixed = grid_summary({"lambda_max": (0.3, 0.1, 0.5), "noise_drop": (-0.3, -0.5, -0.1)})
    assert "disagree" in synthesis.flat_verdict(mixed) and "(mixed)" in synthesis.flat_verdict(mixed)
    against = grid_summary({"asam": (-0.3, -0.5, -0.1)})
    assert "against the flat-minimum explanation" in synthesis.flat_verdict(against)
    none = grid_summary({"asam": (0.1, -0.1, 0.3)})
    assert "no flatness measure's Ψ interval excludes 0 (of 1)" in synthesis.flat_verdict(none)


def test_the_warm_started_lambda_max_along_a_descent_trajectory_is_the_dense_hessians():
    """The trajectory probe along full-batch gradient descent of a tiny float64 net: every point's
    λmax is the largest eigenvalue of the dense Hessian of the loss over the same images, and the
    loss is the one the model gives there."""
    from landscape import probes
    from landscape.geometry import directions
    from landscape.learning.data import ImageDataset

    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 1, 4, 4, generator=g, dtype=torch.float64)
    train = ImageDataset("tiny", "train", x, torch.arange(40) % 10)
    sets = probes.base.ProbeSets(train, train, train, "eval", 16)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 6), torch.nn.Tanh(), torch.nn.Linear(6, 10)).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    snapshots = []
    for step in range(6):
        snapshots.append(probes.base.Snapshot(float(step), step, copy.deepcopy(model)))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), train.labels).backward()
        opt.step()
    cfg = probes.trajectory.TrajectoryParams(early=[0.0], samples=40, tol=1e-8, max_steps=80)
    found = probes.trajectory.trajectory(snapshots, sets, cfg)
    assert list(found["step"]) == list(range(6)) and set(found["status"]) == {"ok"}
    for snap, (_, row) in zip(snapshots, found.iterrows()):
        net = snap.model

        def loss(flat, net=net):
            out = torch.func.functional_call(net, directions.to_dict(flat, net), (x,))
            return torch.nn.functional.cross_entropy(out, train.labels)

        theta = directions.parameter_vector(net)
        dense = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, theta))
        assert row["lambda_max"] == pytest.approx(float(dense[-1]), rel=1e-6)
        assert row["loss"] == pytest.approx(float(loss(theta)), rel=1e-9)
    assert found["lambda_max"].iloc[-1] != pytest.approx(found["lambda_max"].iloc[0], rel=1e-3)  # the curvature moved


def test_the_edge_table_finds_the_first_step_at_the_threshold_and_the_level_after_it():
    """Constructed full-batch trajectories: a run that rises to its threshold and hovers, one that
    never reaches it, and one whose λmax could not be measured after a point."""
    def run(run_id, seed, ratios, status=None):
        status = status or ["ok"] * len(ratios)
        return pd.DataFrame({"config": "c", "config_label": "GD: lr 0.1", "run": run_id, "seed": seed,
                             "outcome": "completed", "step": [20 * i for i in range(len(ratios))],
                             "lambda_max": [20.0 * r for r in ratios], "threshold": 20.0, "ratio": ratios, "lr": 0.1,
                             "momentum": 0.0, "loss": [1.0 / (i + 1) for i in range(len(ratios))], "status": status})
    table = pd.concat([run("a", 0, [0.3, 0.6, 0.95, 1.2, 1.0, 0.9]),
                       run("b", 1, [0.3, 0.5, 0.7, 0.8]),
                       run("c", 2, [0.5, 0.92, 1.4, np.nan], ["ok", "ok", "ok", "not finite"])], ignore_index=True)
    edges = dynamics.edge_table(table).set_index("run")
    assert edges.at["a", "first_step"] == 40 and edges.at["a", "ratio_after"] == pytest.approx(1.0)
    assert edges.at["a", "points_after"] == 3 and edges.at["a", "max_ratio"] == pytest.approx(1.2)
    assert np.isnan(edges.at["b", "first_step"]) and np.isnan(edges.at["b", "ratio_after"])
    assert edges.at["c", "first_step"] == 20 and edges.at["c", "ratio_after"] == pytest.approx(1.4)
    assert edges.at["c", "last_step"] == 40 and edges.at["c", "lambda_last"] == pytest.approx(28.0)
    summary = dynamics.edge_summary(edges.reset_index()).iloc[0]
    assert (summary["runs"], summary["reached"], summary["first_step"]) == (3, 2, 30)
    assert (summary["ratio_low"], summary["ratio_high"]) == (pytest.approx(1.0), pytest.approx(1.4))
